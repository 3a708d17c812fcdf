// heat2d: Jacobi iteration for the 2-D heat equation on an n x n grid of doubles, split into
// horizontal strips, with non-blocking halo exchange (MPI_Isend/MPI_Irecv + MPI_Waitall). The top
// edge is held at 1.0, the other edges at 0.0. The state of a rank is both grids of its strip
// (u and v, halos included), so at n = 2048 on 4 ranks a checkpoint holds about 64 MiB.
//
// Options: --n grid size, --iters iterations, --checkpoint-every k (overrides MPISNAP_EVERY),
//          --work-us extra microseconds per iteration, --timing 1 to print a TIMING line for the
//          benchmarks: wall time of the loop, checkpoints, mean and max pause per checkpoint, and the
//          time the checkpoints added to the iterations around them (the sum, over the iterations
//          of the second after each checkpoint, of their excess over the median of the second before),
//          and the time from the Session's construction to restore() returning, each of the slowest rank.
// Prints a checksum of the final grid: bit-identical runs print identical lines.
#include <mpi.h>

#include <cinttypes>
#include <cstdio>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "common/example_util.hpp"

namespace {

struct State {
  std::int64_t iter = 0;
  std::vector<double> u, v;  // (rows + 2) x n, row-major, halo rows first and last
  std::size_t rows2 = 0, n = 0;  // (not saved: the shape the grids have)

  // The grids as 2-D datasets ((rows + 2) x n), as heat2d_c (mpi_examples/c/heat2d.c) writes them.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(CEREAL_NVP(iter), cereal::make_nvp("u", mpisnap::view(u, {rows2, n})),
       cereal::make_nvp("v", mpisnap::view(v, {rows2, n})));
  }
};

}  // namespace

int run(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  example::Options opt(argc, argv);
  const std::int64_t n = opt.get("n", 256);
  const std::int64_t iters = opt.get("iters", 400);
  const std::int64_t work_us = opt.get("work-us", 0);
  const bool timing = opt.get("timing", 0) != 0;

  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (n < size) {
    if (rank == 0) std::fprintf(stderr, "heat2d: --n must be at least the number of ranks\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const std::int64_t row0 = n * rank / size, row1 = n * (rank + 1) / size, rows = row1 - row0;
  const int up = rank > 0 ? rank - 1 : MPI_PROC_NULL;
  const int down = rank + 1 < size ? rank + 1 : MPI_PROC_NULL;
  const auto width = static_cast<std::size_t>(n);

  mpisnap::Config config = mpisnap::Config::defaults();
  if (opt.has("checkpoint-every")) config.every = static_cast<std::uint64_t>(opt.get("checkpoint-every", 0));
  const double session_start = MPI_Wtime();
  mpisnap::Session snap{MPI_COMM_WORLD, config};

  State s;
  s.rows2 = static_cast<std::size_t>(rows + 2);
  s.n = width;
  s.u.assign(static_cast<std::size_t>(rows + 2) * width, 0.0);
  if (rank == 0)
    for (std::size_t j = 0; j < width; ++j) s.u[width + j] = 1.0;  // the hot top edge (first real row)
  s.v = s.u;
  if (snap.restore(s) && rank == 0)
    std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (iteration %" PRId64 ")\n",
                snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.iter);
  const double restore_seconds = MPI_Wtime() - session_start;  // Session construction to restore() returning

  auto at = [&](std::vector<double>& g, std::int64_t i, std::int64_t j) -> double& {
    return g[static_cast<std::size_t>(i) * width + static_cast<std::size_t>(j)];
  };
  MPI_Barrier(MPI_COMM_WORLD);
  const double loop_start = MPI_Wtime();
  std::vector<double> iter_seconds;       // --timing: each iteration's duration
  std::vector<std::size_t> checkpointed;  // --timing: the iterations that ended in a checkpoint
  double iter_start = loop_start;
  while (s.iter < iters) {
    MPI_Request reqs[4];
    MPI_Irecv(&at(s.u, 0, 0), static_cast<int>(n), MPI_DOUBLE, up, 1, MPI_COMM_WORLD, &reqs[0]);
    MPI_Irecv(&at(s.u, rows + 1, 0), static_cast<int>(n), MPI_DOUBLE, down, 0, MPI_COMM_WORLD, &reqs[1]);
    MPI_Isend(&at(s.u, 1, 0), static_cast<int>(n), MPI_DOUBLE, up, 0, MPI_COMM_WORLD, &reqs[2]);
    MPI_Isend(&at(s.u, rows, 0), static_cast<int>(n), MPI_DOUBLE, down, 1, MPI_COMM_WORLD, &reqs[3]);
    MPI_Waitall(4, reqs, MPI_STATUSES_IGNORE);
    for (std::int64_t i = 1; i <= rows; ++i) {
      const std::int64_t global = row0 + i - 1;
      for (std::int64_t j = 0; j < n; ++j) {
        if (global == 0 || global == n - 1 || j == 0 || j == n - 1) {
          at(s.v, i, j) = at(s.u, i, j);  // fixed boundary
        } else {
          at(s.v, i, j) = 0.25 * (at(s.u, i - 1, j) + at(s.u, i + 1, j) + at(s.u, i, j - 1) + at(s.u, i, j + 1));
        }
      }
    }
    s.u.swap(s.v);
    example::work(work_us);
    ++s.iter;
    const std::uint64_t before = timing ? snap.stats().checkpoints : 0;
    snap.checkpoint_point(s);
    if (timing) {
      const double now = MPI_Wtime();
      iter_seconds.push_back(now - iter_start);
      iter_start = now;
      if (snap.stats().checkpoints != before) checkpointed.push_back(iter_seconds.size() - 1);
    }
  }

  if (timing) {
    const mpisnap::CheckpointStats st = snap.stats();
    const double mean = st.checkpoints ? st.total_pause_seconds / static_cast<double>(st.checkpoints) : 0.0;
    const double mine_t[5] = {MPI_Wtime() - loop_start, mean, st.max_pause_seconds,
                              example::excess_after(iter_seconds, checkpointed, 1.0), restore_seconds};
    double worst[5] = {0, 0, 0, 0, 0};
    MPI_Reduce(mine_t, worst, 5, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0)
      std::printf("TIMING wall %.4f checkpoints %" PRIu64 " mean_pause %.5f max_pause %.5f excess %.4f restore %.4f\n",
                  worst[0], st.checkpoints, worst[1], worst[2], worst[3], worst[4]);
  }

  // Checksum: FNV-1a over the bytes of every rank's rows, combined in rank order, and the sum.
  const std::uint64_t mine = example::fnv1a(&at(s.u, 1, 0), static_cast<std::size_t>(rows) * width * sizeof(double));
  double local_sum = 0;
  for (std::int64_t i = 1; i <= rows; ++i)
    for (std::int64_t j = 0; j < n; ++j) local_sum += at(s.u, i, j);
  std::vector<std::uint64_t> hashes(static_cast<std::size_t>(size));
  std::vector<double> sums(static_cast<std::size_t>(size));
  MPI_Gather(&mine, 1, MPI_UINT64_T, hashes.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  MPI_Gather(&local_sum, 1, MPI_DOUBLE, sums.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    const std::uint64_t h = example::fnv1a(hashes.data(), hashes.size() * sizeof(std::uint64_t));
    double total = 0;
    for (double x : sums) total += x;
    std::printf("RESULT heat2d n %" PRId64 " iterations %" PRId64 " checksum %016" PRIx64 " sum %.17g\n", n, iters, h,
                total);
  }
  MPI_Finalize();
  return 0;
}

int main(int argc, char** argv) { return example::guarded_main(argc, argv, run); }
