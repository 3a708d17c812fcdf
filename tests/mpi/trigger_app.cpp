// A small job for the trigger tests: values pass around a ring with a one-step lag (so every
// checkpoint has messages in flight), each step takes --work-us, one rank may be slower
// (--slow-rank, --slow-us), and one rank may call request_checkpoint() at one step
// (--request-rank, --request-step). It leaves its loop when should_exit() says so.
#include <mpi.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

struct State {
  std::int64_t step = 0;
  std::uint64_t value = 0;
  std::vector<std::uint64_t> history;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(value), CEREAL_NVP(history));
  }
};

static long option(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atol(argv[i + 1]);
  return fallback;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const long steps = option(argc, argv, "--steps", 200);
  const long work_us = option(argc, argv, "--work-us", 10000);
  const long slow_rank = option(argc, argv, "--slow-rank", -1);
  const long slow_us = option(argc, argv, "--slow-us", 0);
  const long request_rank = option(argc, argv, "--request-rank", -1);
  const long request_step = option(argc, argv, "--request-step", -1);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;

  mpisnap::Session snap{MPI_COMM_WORLD};
  State s;
  s.value = static_cast<std::uint64_t>(rank) * 7919u + 1;
  if (snap.restore(s) && rank == 0)
    std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (step %" PRId64 ")\n",
                snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.step);
  std::fflush(stdout);
  std::uint64_t out = 0, in = 0;
  while (s.step < steps) {
    out = s.value * 6364136223846793005ULL + static_cast<std::uint64_t>(s.step);
    MPI_Request r;
    MPI_Isend(&out, 1, MPI_UINT64_T, right, static_cast<int>(s.step), MPI_COMM_WORLD, &r);
    if (s.step > 0) {
      MPI_Recv(&in, 1, MPI_UINT64_T, left, static_cast<int>(s.step - 1), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      s.value ^= in;
      s.history.push_back(in);
    }
    MPI_Wait(&r, MPI_STATUS_IGNORE);
    long us = work_us + (rank == slow_rank ? slow_us : 0);
    if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
    if (rank == request_rank && s.step == request_step) snap.request_checkpoint();
    ++s.step;
    snap.checkpoint_point(s);
    if (snap.should_exit()) {
      if (rank == 0) std::printf("stopping at step %" PRId64 " after the stop signal's checkpoint\n", s.step);
      break;
    }
  }
  if (s.step == steps) {
    MPI_Recv(&in, 1, MPI_UINT64_T, left, static_cast<int>(steps - 1), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    s.value ^= in;
    std::vector<std::uint64_t> all(static_cast<std::size_t>(size));
    MPI_Gather(&s.value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (rank == 0)
      for (int i = 0; i < size; ++i) std::printf("RESULT rank %d value %016" PRIx64 "\n", i, all[static_cast<std::size_t>(i)]);
  }
  MPI_Finalize();
  return 0;
}
