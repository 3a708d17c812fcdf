// MPI-4 point-to-point calls under a Session (built where the MPI has them: MPICH 4). Mode `counts`:
// a ring whose message crosses every safe point, sent with MPI_Send_c / MPI_Isend_c and received
// with MPI_Recv, or sent with MPI_Send and received with MPI_Recv_c / MPI_Irecv_c, checkpoints every
// 2 safe points: had a large-count form bypassed the library, the two sides would use different
// handles and the job would hang (the deadlock check ends it); it prints "mpi4 counts: ok". Mode
// `isendrecv`: a ring where each step's MPI_Isendrecv (or MPI_Isendrecv_replace, or the large-count
// forms) sends the next token and receives the one the left neighbour sent in the step before, so
// a token is in flight at every safe point (checkpoints every 2); completed by MPI_Wait,
// MPI_Test polling, MPI_Waitany or MPI_Request_get_status + MPI_Wait in turn; every status checked;
// prints "mpi4 isendrecv: ok". Mode `fromgroups`: communicators made by MPI_Comm_create_from_group
// (all ranks) and MPI_Intercomm_create_from_groups (even ranks with odd ones) carry a ring's token
// and an exchange across each safe point (checkpoints every 2): had the library not registered them,
// their first point-to-point call would stop the job; prints "mpi4 fromgroups: ok".
#include <mpi.h>

#include <cstdio>
#include <cstring>

#include <mpisnap/mpisnap.hpp>

struct Step {
  long long i = 0, sum = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(i), CEREAL_NVP(sum));
  }
};

int main(int argc, char** argv) {
  int provided = 0;  // (MPI_THREAD_MULTIPLE under MPIR_CVAR_ASYNC_PROGRESS=1: MPICH's progress thread)
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided);
  const char* mode = argc > 1 ? argv[1] : "counts";
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  mpisnap::Config cfg = mpisnap::Config::defaults();
  cfg.every = 2;
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};
  Step s;
  snap.restore(s);
  if (!std::strcmp(mode, "fromgroups")) {
    MPI_Group world_group, even, odd;
    MPI_Comm_group(MPI_COMM_WORLD, &world_group);
    MPI_Comm all, inter;
    MPI_Comm_create_from_group(world_group, "mpisnap.all", MPI_INFO_NULL, MPI_ERRORS_ARE_FATAL, &all);
    const int half = (size + 1) / 2;  // evens, then odds
    int ranges[1][3] = {{0, size - 1, 2}};
    MPI_Group_range_incl(world_group, 1, ranges, &even);
    ranges[0][0] = 1;
    MPI_Group_range_incl(world_group, 1, ranges, &odd);
    const bool is_even = rank % 2 == 0;
    MPI_Intercomm_create_from_groups(is_even ? even : odd, 0, is_even ? odd : even, 0, "mpisnap.inter", MPI_INFO_NULL,
                                     MPI_ERRORS_ARE_FATAL, &inter);
    int local = 0, remote_size = 0;
    MPI_Comm_rank(inter, &local);
    MPI_Comm_remote_size(inter, &remote_size);
    long long token = 0, got = -1;
    if (s.i == 0) MPI_Send(&token, 1, MPI_LONG_LONG, right, 5, all);
    while (s.i < 10) {
      MPI_Recv(&got, 1, MPI_LONG_LONG, left, 5, all, MPI_STATUS_IGNORE);
      if (got != (s.i == 0 ? 0 : s.i * 100 + left)) {
        std::printf("mpi4 fromgroups: rank %d step %lld got %lld\n", rank, s.i, got);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      // Over the intercommunicator: each rank of one side with the same local rank on the other.
      long long mine = s.i * 10 + rank, theirs = -1;
      if (local < remote_size)
        MPI_Sendrecv(&mine, 1, MPI_LONG_LONG, local, 6, &theirs, 1, MPI_LONG_LONG, local, 6, inter, MPI_STATUS_IGNORE);
      s.sum += got + (theirs > 0 ? theirs : 0);
      ++s.i;
      token = s.i * 100 + rank;
      MPI_Send(&token, 1, MPI_LONG_LONG, right, 5, all);  // eager: in flight at the safe point
      snap.checkpoint_point(s);
    }
    MPI_Recv(&got, 1, MPI_LONG_LONG, left, 5, all, MPI_STATUS_IGNORE);
    MPI_Comm_free(&inter);
    MPI_Comm_free(&all);
    MPI_Group_free(&even);
    MPI_Group_free(&odd);
    MPI_Group_free(&world_group);
    snap.flush();
    if (rank == 0) std::printf("mpi4 fromgroups: ok (%lld, %d per side)\n", s.sum, half);
    MPI_Finalize();
    return 0;
  }
  if (!std::strcmp(mode, "isendrecv")) {
    long long token = 0, got = -1;
    if (s.i == 0) MPI_Send(&token, 1, MPI_LONG_LONG, right, 3, MPI_COMM_WORLD);  // the first token (eager)
    while (s.i < 16) {  // (a restarted run resumes after the step its checkpoint followed)
      token = (s.i + 1) * 1000 + rank;  // what this step sends; it receives left's token of step i - 1
      MPI_Request r;
      MPI_Status st;
      long long expected = s.i == 0 ? 0 : s.i * 1000 + left;
      switch (s.i % 4) {
        case 0:
          MPI_Isendrecv(&token, 1, MPI_LONG_LONG, right, 3, &got, 1, MPI_LONG_LONG, left, 3, MPI_COMM_WORLD, &r);
          MPI_Wait(&r, &st);
          break;
        case 1: {
          got = token;  // replaced by what arrives
          MPI_Isendrecv_replace(&got, 1, MPI_LONG_LONG, right, 3, left, 3, MPI_COMM_WORLD, &r);
          int flag = 0;
          while (!flag) MPI_Test(&r, &flag, &st);
          break;
        }
        case 2: {
          MPI_Isendrecv_c(&token, 1, MPI_LONG_LONG, right, 3, &got, 1, MPI_LONG_LONG, MPI_ANY_SOURCE, MPI_ANY_TAG,
                          MPI_COMM_WORLD, &r);
          MPI_Request both[2] = {MPI_REQUEST_NULL, r};
          int index = -1;
          MPI_Waitany(2, both, &index, &st);
          if (index != 1 || both[1] != MPI_REQUEST_NULL) {
            std::printf("mpi4 isendrecv: Waitany gave index %d\n", index);
            MPI_Abort(MPI_COMM_WORLD, 1);
          }
          break;
        }
        default: {
          got = token;
          MPI_Isendrecv_replace_c(&got, 1, MPI_LONG_LONG, right, 3, left, 3, MPI_COMM_WORLD, &r);
          int flag = 0;
          while (!flag) MPI_Request_get_status(r, &flag, MPI_STATUS_IGNORE);
          MPI_Wait(&r, &st);
          if (r != MPI_REQUEST_NULL) MPI_Abort(MPI_COMM_WORLD, 1);
        }
      }
      int n = -1;
      MPI_Get_count(&st, MPI_LONG_LONG, &n);
      if (got != expected || st.MPI_SOURCE != left || st.MPI_TAG != 3 || n != 1) {
        std::printf("mpi4 isendrecv: rank %d step %lld got %lld from %d tag %d count %d, expected %lld from %d\n", rank,
                    s.i, got, st.MPI_SOURCE, st.MPI_TAG, n, expected, left);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      s.sum += got;
      ++s.i;
      snap.checkpoint_point(s);
    }
    MPI_Recv(&got, 1, MPI_LONG_LONG, left, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);  // the last token
    if (got != 16000 + left) {
      std::printf("mpi4 isendrecv: the last token is %lld, expected %d\n", got, 16000 + left);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    snap.flush();
    if (rank == 0) std::printf("mpi4 isendrecv: ok (%lld)\n", s.sum);
    MPI_Finalize();
    return 0;
  }
  long long outs[12] = {}, in = 0;  // (one buffer per send: a freed send request may still read it)
  for (; s.i < 12; ++s.i) {
    long long& out = outs[s.i];
    out = s.i * 100 + rank;
    // Each message is sent by one kind of call and received by the other (the large-count form on
    // one side, the int form, which the library surely carries, on the other): had the large-count
    // forms bypassed the library, sender and receiver would be on different handles and never meet.
    const bool large_send = s.i % 2 == 0;
    if (large_send) {
      if (s.i % 4 == 0) {
        MPI_Send_c(&out, 1, MPI_LONG_LONG, right, 7, MPI_COMM_WORLD);  // eager: in flight at the safe point
      } else {
        MPI_Request r;
        MPI_Isend_c(&out, 1, MPI_LONG_LONG, right, 7, MPI_COMM_WORLD, &r);
        MPI_Request_free(&r);
      }
    } else {
      MPI_Send(&out, 1, MPI_LONG_LONG, right, 7, MPI_COMM_WORLD);
    }
    snap.checkpoint_point(s);
    if (large_send) {
      MPI_Recv(&in, 1, MPI_LONG_LONG, left, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (s.i % 4 == 1) {
      MPI_Recv_c(&in, 1, MPI_LONG_LONG, left, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Request r;
      MPI_Irecv_c(&in, 1, MPI_LONG_LONG, left, 7, MPI_COMM_WORLD, &r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
    if (in != s.i * 100 + left) {
      std::printf("mpi4 counts: step %lld got %lld, expected %lld\n", s.i, in, s.i * 100 + left);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    s.sum += in;
  }
  snap.flush();
  if (rank == 0) std::printf("mpi4 counts: ok (%lld)\n", s.sum);
  MPI_Finalize();
  return 0;
}
