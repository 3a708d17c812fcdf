// Counts to --steps with a checkpoint every few safe points; prints whether it resumed and the sum.
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

struct State {
  long step = 0;
  std::vector<long> history;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(history));
  }
};

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const long steps = argc > 1 ? std::atol(argv[1]) : 20;
  const long stop_after = argc > 2 ? std::atol(argv[2]) : steps;  // leave early, as if killed
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  mpisnap::Session snap{MPI_COMM_WORLD};
  State s;
  const bool resumed = snap.restore(s);
  while (s.step < steps && s.step < stop_after) {
    long mine = s.step * (rank + 1), sum = 0;
    MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    s.history.push_back(sum);
    ++s.step;
    snap.checkpoint_point(s);
  }
  long total = 0;
  for (long v : s.history) total += v;
  if (rank == 0) std::printf("consumer: resumed=%d step=%ld total=%ld\n", resumed ? 1 : 0, s.step, total);
  MPI_Finalize();
  return 0;
}
