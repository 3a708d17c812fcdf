// hydro3d: a proxy of the shape checkpointing papers measure with LULESH (written for mpisnap, no
// code taken from LULESH): a 3-D hexahedral mesh split over a grid of ranks (MPI_Dims_create; a cube
// of ranks when their number is a cube), each rank a block of n x n x n cells with one layer of halo,
// a few dozen field arrays per cell, a non-blocking exchange with all 26 neighbours (faces, edges and
// corners; the domain is periodic, so every rank has 26, some of them itself or the same rank twice)
// and an MPI_Allreduce per step for the time step, as LULESH's time constraint.
//
// A step: the three exchanged fields (energy e, pressure p, artificial viscosity q) are packed per
// neighbour, sent with MPI_Isend and received with MPI_Irecv into the halo, MPI_Waitall; e diffuses
// over the 27-point neighbourhood, p over the 6 faces, q follows p; every further field relaxes
// toward the one before it; the next dt is the global minimum of a local constraint. Everything is
// deterministic, so runs that are killed and restarted end with the same checksum as one that never
// was.
//
// Options: --n cells per rank along each axis (default 24), --steps (default 200), --fields (the
// number of field arrays, default 24, at least 3), --work-us extra microseconds per step,
// --timing 1 to print a TIMING line as heat2d does (wall time of the loop, checkpoints, mean and max
// pause, Session construction to restore() returning; the slowest rank's).
// The state of a rank is every field (halo included, as 3-D datasets named like LULESH's arrays),
// the step, the simulated time and dt: at n = 48 and 24 fields about 23 MiB per rank.
#include <mpi.h>

#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "common/example_util.hpp"

namespace {

const char* const kNames[] = {"e",   "p",   "q",   "x",   "y",         "z",    "xd",   "yd",   "zd",
                              "xdd", "ydd", "zdd", "fx",  "fy",        "fz",   "ss",   "v",    "volo",
                              "delv", "vdov", "arealg", "ql", "qq", "elemMass", "nodalMass"};
constexpr std::size_t kNamed = sizeof(kNames) / sizeof(kNames[0]);

std::string field_name(std::size_t f) { return f < kNamed ? kNames[f] : "field" + std::to_string(f); }

struct State {
  std::int64_t step = 0;
  double time = 0, dt = 1e-3;
  std::vector<std::vector<double>> fields;
  std::vector<std::string> names;  // (not saved: fixed by --fields)
  std::size_t side = 0;            // (not saved: n + 2)

  template <class Archive>
  void serialize(Archive& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(time), CEREAL_NVP(dt));
    for (std::size_t f = 0; f < fields.size(); ++f)
      ar(cereal::make_nvp(names[f].c_str(), mpisnap::view(fields[f], {side, side, side})));
  }
};

// The 26 offsets (dx, dy, dz) and their tags; tag_of(-o) = 26 - tag_of(o).
struct Offset {
  int d[3];
};
std::vector<Offset> offsets() {
  std::vector<Offset> out;
  for (int dx = -1; dx <= 1; ++dx)
    for (int dy = -1; dy <= 1; ++dy)
      for (int dz = -1; dz <= 1; ++dz)
        if (dx || dy || dz) out.push_back({{dx, dy, dz}});
  return out;
}
int tag_of(const Offset& o) { return (o.d[0] + 1) * 9 + (o.d[1] + 1) * 3 + (o.d[2] + 1); }  // 0..26, 13 unused

}  // namespace

int run(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  example::Options opt(argc, argv);
  const std::int64_t n = opt.get("n", 24);
  const std::int64_t steps = opt.get("steps", 200);
  const std::int64_t nfields = opt.get("fields", 24);
  const std::int64_t work_us = opt.get("work-us", 0);
  const bool timing = opt.get("timing", 0) != 0;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (n < 2 || nfields < 3) {
    if (rank == 0) std::fprintf(stderr, "hydro3d: --n must be at least 2 and --fields at least 3\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int dims[3] = {0, 0, 0};
  MPI_Dims_create(size, 3, dims);
  const int coord[3] = {rank / (dims[1] * dims[2]), (rank / dims[2]) % dims[1], rank % dims[2]};
  auto rank_at = [&](const Offset& o) {
    int c[3];
    for (int a = 0; a < 3; ++a) c[a] = (coord[a] + o.d[a] + dims[a]) % dims[a];
    return (c[0] * dims[1] + c[1]) * dims[2] + c[2];
  };

  const auto side = static_cast<std::size_t>(n + 2);
  auto idx = [side](std::int64_t i, std::int64_t j, std::int64_t k) {
    return (static_cast<std::size_t>(i) * side + static_cast<std::size_t>(j)) * side + static_cast<std::size_t>(k);
  };

  const double session_start = MPI_Wtime();
  mpisnap::Session snap{MPI_COMM_WORLD};
  State s;
  s.side = side;
  s.fields.assign(static_cast<std::size_t>(nfields), std::vector<double>(side * side * side, 0.0));
  for (std::int64_t f = 0; f < nfields; ++f) s.names.push_back(field_name(static_cast<std::size_t>(f)));
  // A blast in the corner of rank 0's block on a quiet, slightly uneven background.
  for (std::int64_t i = 1; i <= n; ++i)
    for (std::int64_t j = 1; j <= n; ++j)
      for (std::int64_t k = 1; k <= n; ++k) {
        const std::int64_t g[3] = {coord[0] * n + i, coord[1] * n + j, coord[2] * n + k};
        std::uint64_t h = static_cast<std::uint64_t>((g[0] * 7919 + g[1]) * 104729 + g[2]);
        const double jitter = static_cast<double>(example::next_random(h) % 1000) / 1000.0;
        const std::size_t c = idx(i, j, k);
        s.fields[0][c] = rank == 0 && i == 1 && j == 1 && k == 1 ? 1.0 : 1e-3 * (1.0 + jitter);
        s.fields[1][c] = 0.4 * s.fields[0][c];
        for (std::int64_t f = 3; f < nfields; ++f) s.fields[static_cast<std::size_t>(f)][c] = 0.01 * static_cast<double>(f) + jitter;
      }
  if (snap.restore(s) && rank == 0)
    std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (step %" PRId64 ")\n",
                snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.step);
  const double restore_seconds = MPI_Wtime() - session_start;

  // Regions per offset: what is sent (the block's cells next to that face, edge or corner) and the
  // halo it fills on the receiver; per axis an index range [lo, hi].
  const std::vector<Offset> offs = offsets();
  auto range = [n](int d, bool halo, std::int64_t& lo, std::int64_t& hi) {
    if (d == 0) {
      lo = 1;
      hi = n;
    } else if (d < 0) {
      lo = hi = halo ? 0 : 1;
    } else {
      lo = hi = halo ? n + 1 : n;
    }
  };
  auto for_region = [&](const Offset& o, bool halo, auto&& fn) {
    std::int64_t lo[3], hi[3];
    for (int a = 0; a < 3; ++a) range(o.d[a], halo, lo[a], hi[a]);
    for (std::int64_t i = lo[0]; i <= hi[0]; ++i)
      for (std::int64_t j = lo[1]; j <= hi[1]; ++j)
        for (std::int64_t k = lo[2]; k <= hi[2]; ++k) fn(idx(i, j, k));
  };
  std::vector<std::vector<double>> sendbuf(offs.size()), recvbuf(offs.size());
  for (std::size_t m = 0; m < offs.size(); ++m) {
    std::size_t cells = 0;
    for_region(offs[m], false, [&](std::size_t) { ++cells; });
    sendbuf[m].resize(3 * cells);
    recvbuf[m].resize(3 * cells);
  }
  std::array<std::vector<double>, 3> next;
  for (auto& v : next) v.assign(side * side * side, 0.0);

  MPI_Barrier(MPI_COMM_WORLD);
  const double loop_start = MPI_Wtime();
  std::vector<MPI_Request> reqs(2 * offs.size());
  while (s.step < steps) {
    for (std::size_t m = 0; m < offs.size(); ++m) {
      const Offset back{{-offs[m].d[0], -offs[m].d[1], -offs[m].d[2]}};
      MPI_Irecv(recvbuf[m].data(), static_cast<int>(recvbuf[m].size()), MPI_DOUBLE, rank_at(offs[m]), tag_of(back),
                MPI_COMM_WORLD, &reqs[m]);
    }
    for (std::size_t m = 0; m < offs.size(); ++m) {
      std::size_t at = 0;
      for_region(offs[m], false, [&](std::size_t c) {
        for (int f = 0; f < 3; ++f) sendbuf[m][at++] = s.fields[static_cast<std::size_t>(f)][c];
      });
      MPI_Isend(sendbuf[m].data(), static_cast<int>(sendbuf[m].size()), MPI_DOUBLE, rank_at(offs[m]), tag_of(offs[m]),
                MPI_COMM_WORLD, &reqs[offs.size() + m]);
    }
    MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    for (std::size_t m = 0; m < offs.size(); ++m) {
      std::size_t at = 0;
      for_region(offs[m], true, [&](std::size_t c) {
        for (int f = 0; f < 3; ++f) s.fields[static_cast<std::size_t>(f)][c] = recvbuf[m][at++];
      });
    }

    const std::vector<double>& e = s.fields[0];
    const std::vector<double>& p = s.fields[1];
    const std::vector<double>& q = s.fields[2];
    const double dt = s.dt;
    double constraint = 1.0;
    for (std::int64_t i = 1; i <= n; ++i)
      for (std::int64_t j = 1; j <= n; ++j)
        for (std::int64_t k = 1; k <= n; ++k) {
          const std::size_t c = idx(i, j, k);
          double around = 0;
          for (int a = -1; a <= 1; ++a)
            for (int b = -1; b <= 1; ++b)
              for (int d = -1; d <= 1; ++d) around += e[idx(i + a, j + b, k + d)];
          around -= e[c];
          const double faces = p[idx(i - 1, j, k)] + p[idx(i + 1, j, k)] + p[idx(i, j - 1, k)] + p[idx(i, j + 1, k)] +
                               p[idx(i, j, k - 1)] + p[idx(i, j, k + 1)];
          const double e2 = e[c] + 0.5 * dt * (around - 26.0 * e[c]) + 0.01 * dt * (p[c] - q[c]);
          const double p2 = p[c] + 0.5 * dt * (faces - 6.0 * p[c]) + 0.1 * dt * (0.4 * e2 - p[c]);
          const double q2 = 0.9 * q[c] + 0.1 * std::fabs(p2 - p[c]);
          next[0][c] = e2;
          next[1][c] = p2;
          next[2][c] = q2;
          constraint = std::min(constraint, 0.02 / (1.0 + std::fabs(p2) + std::fabs(q2)));
        }
    for (int f = 0; f < 3; ++f) s.fields[static_cast<std::size_t>(f)].swap(next[static_cast<std::size_t>(f)]);
    for (std::int64_t f = 3; f < nfields; ++f) {
      std::vector<double>& mine = s.fields[static_cast<std::size_t>(f)];
      const std::vector<double>& before = s.fields[static_cast<std::size_t>(f - 1)];
      for (std::int64_t i = 1; i <= n; ++i)
        for (std::int64_t j = 1; j <= n; ++j)
          for (std::int64_t k = 1; k <= n; ++k) {
            const std::size_t c = idx(i, j, k);
            mine[c] += 0.05 * (before[c] - mine[c]);
          }
    }
    MPI_Allreduce(&constraint, &s.dt, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    s.time += dt;
    example::work(work_us);
    ++s.step;
    snap.checkpoint_point(s);
  }

  if (timing) {
    const mpisnap::CheckpointStats st = snap.stats();
    const double mean = st.checkpoints ? st.total_pause_seconds / static_cast<double>(st.checkpoints) : 0.0;
    const double mine_t[4] = {MPI_Wtime() - loop_start, mean, st.max_pause_seconds, restore_seconds};
    double worst[4] = {0, 0, 0, 0};
    MPI_Reduce(mine_t, worst, 4, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0)
      std::printf("TIMING wall %.4f checkpoints %" PRIu64 " mean_pause %.5f max_pause %.5f restore %.4f\n", worst[0],
                  st.checkpoints, worst[1], worst[2], worst[3]);
  }

  // Checksum: FNV-1a over every field of every rank (in rank order) and the total energy.
  std::uint64_t mine = 0xcbf29ce484222325ULL;
  double energy = 0;
  for (const std::vector<double>& f : s.fields) mine = example::fnv1a(f.data(), f.size() * sizeof(double), mine);
  for (std::int64_t i = 1; i <= n; ++i)
    for (std::int64_t j = 1; j <= n; ++j)
      for (std::int64_t k = 1; k <= n; ++k) energy += s.fields[0][idx(i, j, k)];
  std::vector<std::uint64_t> hashes(static_cast<std::size_t>(size));
  std::vector<double> energies(static_cast<std::size_t>(size));
  MPI_Gather(&mine, 1, MPI_UINT64_T, hashes.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  MPI_Gather(&energy, 1, MPI_DOUBLE, energies.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    double total = 0;
    for (double x : energies) total += x;
    std::printf("RESULT hydro3d n %" PRId64 " ranks %d (%dx%dx%d) fields %" PRId64 " steps %" PRId64
                " time %.17g checksum %016" PRIx64 " energy %.17g\n",
                n, size, dims[0], dims[1], dims[2], nfields, steps, s.time,
                example::fnv1a(hashes.data(), hashes.size() * sizeof(std::uint64_t)), total);
  }
  MPI_Finalize();
  return 0;
}

int main(int argc, char** argv) { return example::guarded_main(argc, argv, run); }
