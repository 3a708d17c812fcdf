// What a checkpoint costs, against baselines measured in the same run, for a state of --bytes per
// rank (a vector of doubles), --reps times each, medians:
//   memcpy     <seconds>  one memcpy of the state's bytes
//   pause      <seconds>  checkpoint_point() when it snapshots (serialize into memory + start)
//   disk_write <seconds>  write() + fsync() of the same bytes to a file in the checkpoint directory
//   ckpt_write <seconds>  the library's background write of the rank file (HDF5, checksums, fsync, rename)
//   disk_read  <seconds>  read() of that plain file, its pages dropped from the cache first
//   ckpt_read  <seconds>  reading and verifying the rank file (what a restart does), likewise
//   commit     <seconds>  rank 0: first snapshot on any rank -> manifest committed
//   markers    <count>    protocol control messages per checkpoint, summed over ranks
//   first_pause <seconds> the pause of the run's first checkpoint. The program calls restore() (a
//              fresh run: the library measures the state and maps the first snapshot's buffers on a
//              helper thread) and then computes for --lead seconds (default 2: a job's first
//              checkpoint is an interval or some steps in) before its first safe point.
//   mapped_ahead <seconds> how long that helper took
//   pause_ratio, write_ratio, read_ratio: pause / memcpy, plain write time / checkpoint write time,
//              plain read time / checkpoint read time, each taken within one repetition (the two
//              measured back to back) and then the median over repetitions: a slow moment of the
//              shared machine then weighs on both sides of a ratio alike.
// Rank 0 prints the worst over ranks (a checkpoint is as slow as its slowest rank).
// --pattern ring: each rank sends to its two neighbours between safe points (markers grow with
// the neighbours); --pattern all: to every rank.
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "bench_util.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"

namespace {

using bench::drop_cached;
using bench::max_over_ranks;
using bench::now;
using bench::read_file;
using bench::write_file;

struct State {
  std::vector<double> data;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(data));
  }
  void fill(std::size_t bytes) { data.assign(bytes / sizeof(double), 1.5); }
};

// --layout structs: the same bytes as particles (a vector of plain structs: one table).
struct Particle {
  double x = 0, y = 0, z = 0, vx = 0, vy = 0, vz = 0, mass = 1;
  std::int64_t id = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(x), CEREAL_NVP(y), CEREAL_NVP(z), CEREAL_NVP(vx), CEREAL_NVP(vy), CEREAL_NVP(vz), CEREAL_NVP(mass),
       CEREAL_NVP(id));
  }
};
struct Particles {
  std::vector<Particle> particles;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(particles));
  }
  void fill(std::size_t bytes) {
    particles.resize(bytes / sizeof(Particle));
    for (std::size_t i = 0; i < particles.size(); ++i) {
      particles[i].x = 0.5 * static_cast<double>(i);
      particles[i].id = static_cast<std::int64_t>(i);
    }
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double min_over_ranks(double x) {
  double m = 0;
  MPI_Reduce(&x, &m, 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD);
  return m;
}

// The median over repetitions of a[r] / b[r].
double median_ratio(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> q;
  for (std::size_t r = 0; r < a.size() && r < b.size(); ++r) q.push_back(a[r] / b[r]);
  return median(q);
}

template <class S>
void run(std::size_t bytes, int reps, const std::string& pattern, const char* layout, double lead) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  mpisnap::Config cfg = mpisnap::Config::defaults();
  cfg.every = 1;
  cfg.keep = 2;
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};

  S s;
  s.fill(bytes);
  snap.restore(s);  // (a fresh run: nothing to restore)
  std::vector<char> copy(bytes), src(bytes, 3);
  // The computation before the first safe point: passes over memory of the state's size, on every
  // core the ranks have (the helper that maps ahead competes with it, as with a real code).
  for (const double end = now() + lead; now() < end;) std::memcpy(copy.data(), src.data(), bytes);
  std::vector<double> t_restore;
  std::uint64_t file_bytes = 0;
  std::vector<double> t_memcpy, t_pause, t_disk_w, t_ckpt_w, t_disk_r, t_ckpt_r, t_commit, markers;
  const std::string scratch = cfg.directory + "/bench-plain-" + std::to_string(rank);
  std::uint64_t last_markers = 0;
  for (int r = 0; r < reps; ++r) {
    // Each measurement starts with no dirty pages left to write back, so the kernel's flusher
    // does not run during one measurement and not another.
    ::sync();
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    std::memcpy(copy.data(), src.data(), bytes);
    t_memcpy.push_back(now() - t0);
    // Some traffic between safe points, so the snapshot has channels to close.
    std::vector<MPI_Request> reqs;
    std::vector<int> out(static_cast<std::size_t>(size), rank), in(static_cast<std::size_t>(size));
    for (int p = 0; p < size; ++p) {
      const bool neighbour = p == (rank + 1) % size || p == (rank + size - 1) % size;
      if (p == rank || (pattern == "ring" && !neighbour)) continue;
      reqs.emplace_back();
      MPI_Isend(&out[static_cast<std::size_t>(p)], 1, MPI_INT, p, 5, MPI_COMM_WORLD, &reqs.back());
      reqs.emplace_back();
      MPI_Irecv(&in[static_cast<std::size_t>(p)], 1, MPI_INT, p, 5, MPI_COMM_WORLD, &reqs.back());
    }
    MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    ::sync();
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = now();
    snap.checkpoint_point(s);
    t_pause.push_back(now() - t0);
    snap.flush();
    const auto st = snap.stats();
    t_ckpt_w.push_back(st.last_write_seconds);
    if (rank == 0) t_commit.push_back(st.last_commit_seconds);
    std::uint64_t m = st.markers_sent - last_markers, total = 0;
    last_markers = st.markers_sent;
    MPI_Allreduce(&m, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    markers.push_back(static_cast<double>(total));

    ::sync();
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = now();
    write_file(scratch, src.data(), bytes);
    t_disk_w.push_back(now() - t0);
    // The reads start together, as a restart's do, with no rank's write or fsync still on the
    // device (one rank's cache flush in front of another's read made the reads of 2 ranks vary 3x).
    const auto all = mpisnap::storage::list_checkpoints(cfg.directory);
    const std::string rank_file = all.back().path + "/" + mpisnap::storage::rank_file_name(rank);
    drop_cached(scratch);
    drop_cached(rank_file);
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = now();
    read_file(scratch, copy.data(), bytes);
    t_disk_r.push_back(now() - t0);
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = now();
    const auto loaded = mpisnap::storage::read_rank_file(all.back().path, rank);
    t_ckpt_r.push_back(now() - t0);
    // A restart's restore: the file read as above, then deserialized into the state.
    S back;
    mpisnap::from_tree(loaded.cp.state, back);
    t_restore.push_back(now() - t0);
    // (The plain file goes only now: its unlink, with its discard on a file system mounted with
    // `discard`, would otherwise be queued on the device in front of the checkpoint's read.)
    ::unlink(scratch.c_str());
    file_bytes = loaded.info.file_bytes;
    MPI_Barrier(MPI_COMM_WORLD);
  }
  const double v[8] = {max_over_ranks(median(t_memcpy)), max_over_ranks(median(t_pause)), max_over_ranks(median(t_disk_w)),
                       max_over_ranks(median(t_ckpt_w)), max_over_ranks(median(t_disk_r)), max_over_ranks(median(t_ckpt_r)),
                       median(t_commit), median(markers)};
  const double first_pause = max_over_ranks(t_pause.front());
  const double ratios[3] = {max_over_ranks(median_ratio(t_pause, t_memcpy)), min_over_ranks(median_ratio(t_disk_w, t_ckpt_w)),
                            min_over_ranks(median_ratio(t_disk_r, t_ckpt_r))};
  const double restore_ratio = max_over_ranks(median_ratio(t_restore, t_disk_r));
  const double max_file = max_over_ranks(static_cast<double>(file_bytes));
  if (rank == 0) {
    std::printf("bytes %zu ranks %d pattern %s layout %s\n", bytes, size, pattern.c_str(), layout);
    const char* names[8] = {"memcpy", "pause", "disk_write", "ckpt_write", "disk_read", "ckpt_read", "commit", "markers"};
    for (int i = 0; i < 8; ++i) std::printf("%s %.6f\n", names[i], v[i]);
    std::printf("first_pause %.6f\n", first_pause);
    std::printf("pause_ratio %.4f\nwrite_ratio %.4f\nread_ratio %.4f\n", ratios[0], ratios[1], ratios[2]);
    std::printf("peak_bytes_held %llu\n", static_cast<unsigned long long>(snap.stats().peak_bytes_held));
    std::printf("buffer_bytes_held %llu\n", static_cast<unsigned long long>(snap.stats().buffer_bytes_held));
    std::printf("restore_ratio %.4f\n", restore_ratio);
    std::printf("mapped_ahead %.6f\n", snap.stats().mapped_ahead_seconds);
    std::printf("file_bytes %.0f\n", max_file);
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  std::size_t bytes = 1 << 20;
  int reps = 5;
  std::string pattern = "ring", layout = "doubles";
  double lead = 2.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--bytes")) bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--pattern")) pattern = argv[i + 1];
    if (!std::strcmp(argv[i], "--layout")) layout = argv[i + 1];
    if (!std::strcmp(argv[i], "--lead")) lead = std::atof(argv[i + 1]);
  }
  if (layout == "structs") run<Particles>(bytes, reps, pattern, "structs", lead);
  else run<State>(bytes, reps, pattern, "doubles", lead);
  MPI_Finalize();
  return 0;
}
