// A program with a misplaced safe point: rank 1 waits for a message that rank 0 sends only after
// the safe point where it takes the checkpoint. Without the library this program runs fine; with
// checkpoints at that safe point it cannot, and mpisnap must say so (and abort) instead of hanging.
//   --announced 1: rank 0 also sent rank 1 a message before the safe point (the marker then says
//                  exactly how many to expect: the diagnosis is immediate)
//   --announced 0: nothing before it (the diagnosis follows after MPISNAP_MISPLACED_GRACE seconds)
//   --nonblocking 1: rank 1 waits with MPI_Irecv + MPI_Wait instead of MPI_Recv
#include <mpi.h>

#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <cstring>

#include <mpisnap/mpisnap.hpp>

struct Nothing {
  template <class Ar>
  void serialize(Ar&) {}
};

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  bool announced = false, nonblocking = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--announced")) announced = std::atoi(argv[i + 1]) != 0;
    if (!std::strcmp(argv[i], "--nonblocking")) nonblocking = std::atoi(argv[i + 1]) != 0;
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  mpisnap::Config cfg = mpisnap::Config::defaults();
  if (rank == 0) std::filesystem::remove_all(cfg.directory);  // a fresh start, whatever ran before
  MPI_Barrier(MPI_COMM_WORLD);
  cfg.every = 1;
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};
  Nothing state;
  int value = 42;
  if (rank == 0) {
    if (announced) MPI_Send(&value, 1, MPI_INT, 1, 0, MPI_COMM_WORLD);
    snap.checkpoint_point(state);            // the checkpoint is taken here...
    MPI_Send(&value, 1, MPI_INT, 1, 1, MPI_COMM_WORLD);  // ...and only then the message rank 1 waits for
  } else if (rank == 1) {
    if (announced) MPI_Recv(&value, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    // before its own safe point:
    if (nonblocking) {
      MPI_Request req;
      MPI_Irecv(&value, 1, MPI_INT, 0, 1, MPI_COMM_WORLD, &req);
      MPI_Wait(&req, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(&value, 1, MPI_INT, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    snap.checkpoint_point(state);
  } else {
    snap.checkpoint_point(state);
  }
  std::printf("rank %d finished\n", rank);
  MPI_Finalize();
  return 0;
}
