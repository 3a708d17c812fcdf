// Restart time against a plain read of the same bytes (scripts/bench.py, section "restart").
//
//   bench_restart --write --bytes B    a job that takes one checkpoint of B bytes per rank (a vector of
//                                      doubles) and writes a plain file of the same bytes beside it
//   bench_restart --restore --bytes B  the restarted job; with every file in MPISNAP_DIR dropped from the
//                                      page cache first (posix_fadvise DONTNEED: they were fsynced), so
//                                      that both sides read from the disk as after a crash, it prints:
//     mpi_init <seconds>  MPI_Init (start-up, measured apart)
//     restart  <seconds>  Session construction + restore(): find the newest checkpoint, read and verify
//                         it, load it into the program's vector
//     plain    <seconds>  what a hand-written restart does: new double[n] and read() of the plain file
//                         into it
//     plain_mapped <seconds> read() alone, into memory already mapped (the disk's share of it)
//   --plain-first 1 measures the plain read first (bench.py alternates between runs).
// Rank 0 prints the worst over ranks (a restart is as slow as its slowest rank).
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "bench_util.hpp"

namespace {

using bench::drop_cached;
using bench::max_over_ranks;
using bench::now;

struct State {
  std::vector<double> data;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(data));
  }
};

std::string plain_path(const std::string& dir, int rank) { return dir + "/bench-plain-" + std::to_string(rank); }

void drop_cached_tree(const std::string& dir) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) drop_cached(e.path());
}

// new double[n] + read() (the allocation timed too), or, with `mapped`, read() into memory that is
// already mapped. The file is dropped from the page cache first.
double plain_read(const std::string& path, std::size_t bytes, bool mapped = false) {
  drop_cached(path);
  std::unique_ptr<double[]> v;
  if (mapped) {
    v.reset(new double[bytes / sizeof(double)]);
    std::memset(v.get(), 0, bytes);
  }
  const double t0 = now();
  if (!mapped) v.reset(new double[bytes / sizeof(double)]);
  const std::size_t done = bench::read_file(path, v.get(), bytes);
  const double t = now() - t0;
  if (done != bytes || v[bytes / sizeof(double) - 1] != 2.5) std::abort();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const double t_init = now();
  MPI_Init(&argc, &argv);
  const double mpi_init = now() - t_init;
  std::size_t bytes = 1 << 20;
  bool write = false, plain_first = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--write")) write = true;
    if (!std::strcmp(argv[i], "--bytes") && i + 1 < argc) bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--plain-first") && i + 1 < argc) plain_first = std::atoi(argv[i + 1]) != 0;
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  mpisnap::Config cfg = mpisnap::Config::defaults();
  const std::string plain = plain_path(cfg.directory, rank);
  if (write) {
    cfg.every = 1;
    mpisnap::Session snap{MPI_COMM_WORLD, cfg};
    State s;
    s.data.assign(bytes / sizeof(double), 2.5);
    snap.checkpoint_point(s);
    snap.flush();
    bench::write_file(plain, s.data.data(), bytes);
    MPI_Finalize();
    return 0;
  }
  drop_cached_tree(cfg.directory);
  MPI_Barrier(MPI_COMM_WORLD);
  double t_plain = plain_first ? plain_read(plain, bytes) : 0;
  double t_mapped = plain_first ? plain_read(plain, bytes, true) : 0;
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = now();
  State s;
  {
    mpisnap::Session snap{MPI_COMM_WORLD, cfg};
    if (!snap.restore(s)) {
      std::fprintf(stderr, "bench_restart: rank %d found no checkpoint to restore\n", rank);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    const double t_restart = now() - t0;
    if (s.data.size() != bytes / sizeof(double) || s.data.back() != 2.5) MPI_Abort(MPI_COMM_WORLD, 3);
    MPI_Barrier(MPI_COMM_WORLD);
    if (!plain_first) {
      t_plain = plain_read(plain, bytes);
      t_mapped = plain_read(plain, bytes, true);
    }
    const double v[4] = {max_over_ranks(mpi_init), max_over_ranks(t_restart), max_over_ranks(t_plain),
                         max_over_ranks(t_mapped)};
    if (rank == 0) std::printf("mpi_init %.6f\nrestart %.6f\nplain %.6f\nplain_mapped %.6f\n", v[0], v[1], v[2], v[3]);
  }
  MPI_Finalize();
  return 0;
}
