// Misuse: rank 1 passes fewer safe points than the others, so it never takes the last checkpoint.
// The others would wait forever for its part; mpisnap must stop the job with a message at
// MPI_Finalize instead.
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
  if (rank == 0) std::filesystem::remove_all(cfg.directory);  // a fresh start, whatever ran before
  MPI_Barrier(MPI_COMM_WORLD);
  cfg.every = 2;
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};
  Nothing state;
  const int safe_points = rank == 1 ? 3 : 4;
  for (int i = 0; i < safe_points; ++i) snap.checkpoint_point(state);
  std::printf("rank %d reached MPI_Finalize\n", rank);
  MPI_Finalize();
  return 0;
}
