// MPI programs that deadlock, and programs that only look stuck, for deadlock detection
// (MPISNAP_DEADLOCK; tests/e2e/deadlock.py runs each and judges the report).
//
//   head_to_head   2 ranks: each MPI_Send()s the other 4 MiB (above any eager limit), then receives
//   wrong_rank     3 ranks: 0 receives from 2, 2 from 1, 1 sends to 0 and then receives from 0
//   wildcard       3 ranks: 0 receives from MPI_ANY_SOURCE, 1 and 2 wait for 0's answer
//   ssend_ring     4 ranks: each MPI_Ssend()s to the next, then receives from the previous
//   wait_cycle     2 ranks: each MPI_Irecv()s from the other and waits for it (MPI_Wait)
//   barrier_recv   2 ranks: 0 enters MPI_Barrier before it sends; 1 receives from 0 before the barrier
//   allreduce_recv 3 ranks: 0 and 1 enter MPI_Allreduce on a communicator of all three; 2 receives from 0 first
//   waitany_cycle  2 ranks: each MPI_Irecv()s from the other twice (tags 10 and 11) and waits in MPI_Waitany
//   waitsome_fan   3 ranks: 0 waits in MPI_Waitsome on receives from 1 and 2, which receive from 0 first
//   halo_waitall   3 ranks: 0 posts MPI_Isend to 2 and MPI_Irecv from 1 and waits in MPI_Waitall; 1
//                  receives from 0 first (a tag 0 never sends); 2 takes 0's message
//   persistent     2 ranks: each starts a persistent receive from the other (MPI_Recv_init, MPI_Start)
//                  and waits for it (MPI_Wait) before it would start its persistent send
//   after_checkpoint 2 ranks: a checkpoint (checkpoint_point, every safe point one; rank 1 0.5 s late),
//                  then at once each MPI_Recv()s from the other: the receives begin while the snapshot
//                  is under way (rank 0's in the window, its channel from 1 still open)
//   after_checkpoint_waitall, after_checkpoint_waitany: the same with MPI_Irecv + MPI_Isend (to
//                  itself) + MPI_Waitall (the matching send after it) and with two MPI_Irecv + MPI_Waitany
//   -- and these finish:
//   late_sender    2 ranks: 1 sleeps 4 s, then sends; 0 waits in MPI_Recv
//   long_compute   3 ranks: 2 computes 4 s (a busy loop), then sends to 1, which then answers 0
//   late_isend     2 ranks: 0 waits in MPI_Wait on an MPI_Irecv; 1 sleeps 3 s, then MPI_Isend + MPI_Wait
//   pipeline       4 ranks: 0 sleeps 3 s, then passes a 4 MiB token down the line (each Recv, then Send)
//   slow_collective 3 ranks: 2 computes 4 s, then joins the MPI_Allreduce the others wait in; 1 then
//                  receives from 2 inside a collective of ranks 1 and 2 (MPI_Bcast on a split communicator)
//   waitany_other  3 ranks: 0 waits in MPI_Waitany on receives from 1 and 2; 1 receives from 0 first
//                  (each waits on the other), 2 computes 4 s and then sends: 0's way out
//   persistent_late 2 ranks: a persistent exchange (MPI_Startall, MPI_Waitall) 3 times, rank 1 sleeping
//                  2 s before each; the values checked
//   after_checkpoint_late 2 ranks: a checkpoint, then 0 receives from 1 while its snapshot is under
//                  way; 1 sleeps 3 s, then sends and receives 0's answer; the values checked
//   after_checkpoint_halo_late: the same with MPI_Irecv + MPI_Isend + MPI_Waitall on both
//   commit_while_blocked 2 ranks: a checkpoint, then 0 waits in MPI_Recv for 1, which answers once
//                  it sees the checkpoint committed (its manifest; 10 s at most): rank 0's part of the
//                  snapshot must move while it waits, or 0 is told it did not
// Prints "finished" on rank 0 when it ends.
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <mpisnap/mpisnap.hpp>

namespace {

void compute_for(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  volatile double x = 1;
  while (std::chrono::steady_clock::now() < end)
    for (int i = 0; i < 100000; ++i) x = x * 1.0000001 + 1e-9;
}

// Two receives from `peer` (tags 10 and 11), waited for in MPI_Waitany.
void waitany_from(int peer, MPI_Comm w) {
  MPI_Request r[2];
  int got[2];
  MPI_Irecv(&got[0], 1, MPI_INT, peer, 10, w, &r[0]);
  MPI_Irecv(&got[1], 1, MPI_INT, peer, 11, w, &r[1]);
  int index = -1;
  MPI_Waitany(2, r, &index, MPI_STATUS_IGNORE);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const std::string scenario = argc > 1 ? argv[1] : "";
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  // The scenarios around a checkpoint take it at their one safe point (every safe point is one; a
  // trigger round could decide on a later one on a loaded machine); the others use the defaults.
  mpisnap::Config cfg = mpisnap::Config::defaults();
  if (scenario.rfind("after_checkpoint", 0) == 0 || scenario == "commit_while_blocked") cfg.every = 1;
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};
  const MPI_Comm w = MPI_COMM_WORLD;
  std::vector<char> big(4 << 20, 1), in(4 << 20);
  int x = rank, y = 0;
  if (scenario == "head_to_head") {
    MPI_Send(big.data(), static_cast<int>(big.size()), MPI_CHAR, 1 - rank, 0, w);
    MPI_Recv(in.data(), static_cast<int>(in.size()), MPI_CHAR, 1 - rank, 0, w, MPI_STATUS_IGNORE);
  } else if (scenario == "wrong_rank") {
    if (rank == 0) MPI_Recv(&y, 1, MPI_INT, 2, 1, w, MPI_STATUS_IGNORE);
    if (rank == 1) {
      MPI_Send(&x, 1, MPI_INT, 0, 1, w);
      MPI_Recv(&y, 1, MPI_INT, 0, 1, w, MPI_STATUS_IGNORE);
    }
    if (rank == 2) MPI_Recv(&y, 1, MPI_INT, 1, 1, w, MPI_STATUS_IGNORE);
  } else if (scenario == "wildcard") {
    if (rank == 0) MPI_Recv(&y, 1, MPI_INT, MPI_ANY_SOURCE, 5, w, MPI_STATUS_IGNORE);
    else MPI_Recv(&y, 1, MPI_INT, 0, 6, w, MPI_STATUS_IGNORE);
  } else if (scenario == "ssend_ring") {
    MPI_Ssend(&x, 1, MPI_INT, (rank + 1) % size, 2, w);
    MPI_Recv(&y, 1, MPI_INT, (rank + size - 1) % size, 2, w, MPI_STATUS_IGNORE);
  } else if (scenario == "wait_cycle") {
    MPI_Request r;
    MPI_Irecv(&y, 1, MPI_INT, 1 - rank, 3, w, &r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
    MPI_Send(&x, 1, MPI_INT, 1 - rank, 3, w);
  } else if (scenario.rfind("after_checkpoint", 0) == 0) {
    // The waits begin while this rank's snapshot is still under way (its write, the done round).
    // (rank 1 comes to the safe point late: rank 0's receives begin in the window, its channel from
    // 1 still open; rank 1's are real receives, its snapshot not done)
    const std::string how = scenario.substr(std::strlen("after_checkpoint"));
    const bool late = how == "_late" || how == "_halo_late";
    if (rank == 1) usleep(500000);
    snap.checkpoint_point(x);
    if (late && rank == 1) sleep(3);
    if (how.empty() || how == "_late") {
      if (how.empty() || rank == 0) MPI_Recv(&y, 1, MPI_INT, 1 - rank, 4, w, MPI_STATUS_IGNORE);
      MPI_Send(&x, 1, MPI_INT, 1 - rank, 4, w);
      if (late && rank == 1) MPI_Recv(&y, 1, MPI_INT, 0, 4, w, MPI_STATUS_IGNORE);
    } else if (how == "_waitall" || how == "_halo_late") {  // a halo exchange
      MPI_Request r[2];
      MPI_Irecv(&y, 1, MPI_INT, 1 - rank, 7, w, &r[0]);
      // (deadlocked: the send to the other side goes after the wait, the one in it to this rank
      // itself - a message in flight from the other would be a way out for all the detector knows)
      MPI_Isend(&x, 1, MPI_INT, late ? 1 - rank : rank, late ? 7 : 6, w, &r[1]);
      MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
      if (!late) {
        MPI_Send(&x, 1, MPI_INT, 1 - rank, 7, w);
        MPI_Recv(&y, 1, MPI_INT, rank, 6, w, MPI_STATUS_IGNORE);
      }
    } else if (how == "_waitany") {
      waitany_from(1 - rank, w);
    }
    if (late && y != 1 - rank) {
      std::fprintf(stderr, "deadlock_app: rank %d received %d\n", rank, y);
      MPI_Abort(w, 3);
    }
  } else if (scenario == "commit_while_blocked") {
    // (rank 0 last at the safe point, so its channel from 1 is closed at once and its receive is not
    // the window's)
    if (rank == 0) usleep(500000);
    snap.checkpoint_point(x);
    if (rank == 0) {
      MPI_Recv(&y, 1, MPI_INT, 1, 13, w, MPI_STATUS_IGNORE);
      if (y != 1) {
        std::fprintf(stderr, "deadlock_app: checkpoint 1 was not committed while rank 0 waited in MPI_Recv\n");
        MPI_Abort(w, 3);
      }
    } else {
      const char* dir = std::getenv("MPISNAP_DIR");
      const std::string manifest = std::string(dir ? dir : ".") + "/ckpt-00000001/manifest.h5";
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      int committed = 0, flag = 0;
      while (!committed && std::chrono::steady_clock::now() < end) {
        MPI_Iprobe(0, 99, w, &flag, MPI_STATUS_IGNORE);  // (this rank's part of the snapshot moves)
        committed = ::access(manifest.c_str(), F_OK) == 0 ? 1 : 0;
        usleep(1000);
      }
      MPI_Send(&committed, 1, MPI_INT, 0, 13, w);
    }
  } else if (scenario == "barrier_recv") {
    if (rank == 0) {
      MPI_Barrier(w);
      MPI_Send(&x, 1, MPI_INT, 1, 8, w);
    } else {
      MPI_Recv(&y, 1, MPI_INT, 0, 8, w, MPI_STATUS_IGNORE);
    }
  } else if (scenario == "allreduce_recv") {
    if (rank == 2) MPI_Recv(&y, 1, MPI_INT, 0, 9, w, MPI_STATUS_IGNORE);
    MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_SUM, w);
    if (rank == 0) MPI_Send(&x, 1, MPI_INT, 2, 9, w);
  } else if (scenario == "waitany_cycle") {
    waitany_from(1 - rank, w);
  } else if (scenario == "waitsome_fan") {
    if (rank == 0) {
      MPI_Request r[2];
      int got[2], n = 0, which[2];
      MPI_Irecv(&got[0], 1, MPI_INT, 1, 12, w, &r[0]);
      MPI_Irecv(&got[1], 1, MPI_INT, 2, 12, w, &r[1]);
      MPI_Waitsome(2, r, &n, which, MPI_STATUSES_IGNORE);
    } else {
      MPI_Recv(&y, 1, MPI_INT, 0, 12, w, MPI_STATUS_IGNORE);
    }
  } else if (scenario == "waitany_other") {
    if (rank == 0) {
      MPI_Request r[2];
      int got[2], index = -1;
      MPI_Irecv(&got[0], 1, MPI_INT, 1, 13, w, &r[0]);
      MPI_Irecv(&got[1], 1, MPI_INT, 2, 13, w, &r[1]);
      MPI_Status st;
      MPI_Waitany(2, r, &index, &st);
      if (index != 1 || st.MPI_SOURCE != 2 || got[1] != 2) {
        std::fprintf(stderr, "deadlock_app: waitany_other: index %d from %d, value %d\n", index, st.MPI_SOURCE, got[1]);
        MPI_Abort(w, 3);
      }
      MPI_Send(&x, 1, MPI_INT, 1, 14, w);
      MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(&y, 1, MPI_INT, 0, 14, w, MPI_STATUS_IGNORE);
      MPI_Send(&x, 1, MPI_INT, 0, 13, w);
    } else {
      compute_for(4);
      MPI_Send(&x, 1, MPI_INT, 0, 13, w);
    }
  } else if (scenario == "halo_waitall") {
    if (rank == 0) {
      MPI_Request r[2];
      MPI_Isend(&x, 1, MPI_INT, 2, 20, w, &r[0]);
      MPI_Irecv(&y, 1, MPI_INT, 1, 20, w, &r[1]);
      MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(&y, 1, MPI_INT, 0, 21, w, MPI_STATUS_IGNORE);
      MPI_Send(&x, 1, MPI_INT, 0, 20, w);
    } else {
      MPI_Recv(&y, 1, MPI_INT, 0, 20, w, MPI_STATUS_IGNORE);
    }
  } else if (scenario == "persistent") {
    MPI_Request r[2];
    MPI_Recv_init(&y, 1, MPI_INT, 1 - rank, 30, w, &r[0]);
    MPI_Send_init(&x, 1, MPI_INT, 1 - rank, 31, w, &r[1]);
    MPI_Start(&r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    MPI_Start(&r[1]);
    MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
    MPI_Request_free(&r[0]);
    MPI_Request_free(&r[1]);
  } else if (scenario == "persistent_late") {
    MPI_Request r[2];
    MPI_Recv_init(&y, 1, MPI_INT, 1 - rank, 32, w, &r[0]);
    MPI_Send_init(&x, 1, MPI_INT, 1 - rank, 32, w, &r[1]);
    for (int step = 0; step < 3; ++step) {
      x = 10 * rank + step;
      if (rank == 1) sleep(2);
      MPI_Startall(2, r);
      MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
      if (y != 10 * (1 - rank) + step) {
        std::fprintf(stderr, "deadlock_app: persistent_late: step %d got %d\n", step, y);
        MPI_Abort(w, 3);
      }
    }
    MPI_Request_free(&r[0]);
    MPI_Request_free(&r[1]);
  } else if (scenario == "late_sender") {
    if (rank == 1) {
      sleep(4);
      MPI_Send(&x, 1, MPI_INT, 0, 4, w);
    } else {
      MPI_Recv(&y, 1, MPI_INT, 1, 4, w, MPI_STATUS_IGNORE);
    }
  } else if (scenario == "long_compute") {
    if (rank == 2) {
      compute_for(4);
      MPI_Send(&x, 1, MPI_INT, 1, 4, w);
    } else if (rank == 1) {
      MPI_Recv(&y, 1, MPI_INT, 2, 4, w, MPI_STATUS_IGNORE);
      MPI_Send(&x, 1, MPI_INT, 0, 4, w);
    } else {
      MPI_Recv(&y, 1, MPI_INT, 1, 4, w, MPI_STATUS_IGNORE);
    }
  } else if (scenario == "late_isend") {
    MPI_Request r;
    if (rank == 0) {
      MPI_Irecv(&y, 1, MPI_INT, 1, 4, w, &r);
    } else {
      sleep(3);
      MPI_Isend(&x, 1, MPI_INT, 0, 4, w, &r);
    }
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  } else if (scenario == "pipeline") {
    if (rank == 0) sleep(3);
    else MPI_Recv(in.data(), static_cast<int>(in.size()), MPI_CHAR, rank - 1, 7, w, MPI_STATUS_IGNORE);
    if (rank + 1 < size) MPI_Send(big.data(), static_cast<int>(big.size()), MPI_CHAR, rank + 1, 7, w);
  } else if (scenario == "slow_collective") {
    if (rank == 2) compute_for(4);
    MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_SUM, w);
    MPI_Comm pair;
    MPI_Comm_split(w, rank == 0 ? MPI_UNDEFINED : 1, rank, &pair);
    if (rank == 2) compute_for(3);
    if (pair != MPI_COMM_NULL) {
      MPI_Bcast(&x, 1, MPI_INT, 1, pair);  // (rank 2 is the communicator's rank 1)
      MPI_Comm_free(&pair);
    }
  } else {
    if (rank == 0) std::fprintf(stderr, "deadlock_app: unknown scenario '%s'\n", scenario.c_str());
    MPI_Abort(w, 2);
  }
  MPI_Barrier(w);
  if (rank == 0) std::printf("finished\n");
  MPI_Finalize();
  return 0;
}
