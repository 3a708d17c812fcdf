// Misuse: rank 0 takes its snapshot after a barrier, the others before it. Every rank makes the same
// collective calls, but not on the same side of the cut; a restart would leave rank 0 past a barrier
// the others still have to enter. The checkpoint must be refused at commit, naming the
// communicator and the ranks; the run itself goes on and finishes.
#include <mpi.h>

#include <cstdio>
#include <filesystem>

#include <mpisnap/mpisnap.hpp>

struct Nothing {
  template <class Ar>
  void serialize(Ar&) {}
};

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  mpisnap::Config cfg = mpisnap::Config::defaults();
  cfg.every = 1;
  if (rank == 0) std::filesystem::remove_all(cfg.directory);
  MPI_Barrier(MPI_COMM_WORLD);
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};
  Nothing state;
  if (rank == 0) {
    MPI_Barrier(MPI_COMM_WORLD);
    snap.checkpoint_point(state);
  } else {
    snap.checkpoint_point(state);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  snap.flush();
  if (rank == 0) {
    int committed = 0;
    for (const auto& d : std::filesystem::directory_iterator(cfg.directory))
      if (std::filesystem::exists(d.path() / "manifest.h5")) ++committed;
    // On stderr, after the library's refusal there: one stream keeps the order the regex expects.
    std::fprintf(stderr, "committed checkpoints: %d\n", committed);
  }
  MPI_Finalize();
  return 0;
}
