// layouts_app: a state made of every kind of member a C++ HPC code keeps (C arrays of rank 1 to 3,
// nested std::array, complex numbers, an enum, a variant, arrays and vectors of structs, maps of
// strings, numbers and structs, a string and a list of them, booleans, an optional, a 2-D block of a
// global field through mpisnap::array_view, a vector of std::array), evolved step by step from what the left neighbour sends in a ring (one
// message per step stays in flight across each safe point). The kill/restart test
// (e2e.kill_restart.layouts_app.*) kills it at random moments: the final digest of every rank's
// state must be the one of a run never killed, so every member kind survives the checkpoint exactly.
#include <mpi.h>

#include <array>
#include <cinttypes>
#include <complex>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <cereal/types/array.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "common/example_util.hpp"

namespace {

enum class Phase : std::int16_t { Solid = 1, Liquid = 2, Gas = 3 };

struct Particle {  // a plain struct: a vector of them is one table (x as 3 doubles, id, hot)
  double x[3] = {};
  std::int32_t id = 0;
  bool hot = false;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(x), CEREAL_NVP(id), CEREAL_NVP(hot));
  }
};

struct State {
  std::int64_t step = 0;
  double a[4] = {};
  double g[3][4] = {};
  std::int32_t cube[2][2][2] = {};
  std::array<std::array<double, 3>, 2> aa{};
  std::complex<double> z{1, 0};
  std::vector<std::complex<float>> zs;
  Phase phase = Phase::Solid;
  std::variant<std::int64_t, std::string> v = std::int64_t{0};
  Particle parts[2];
  std::vector<Particle> cloud;
  std::map<std::string, std::int64_t> counts;
  std::string name;
  std::optional<double> maybe;
  // This rank's 4 x 6 block of a global field of (4 * ranks) x 6, rows split over the ranks.
  static constexpr std::size_t kRows = 4, kCols = 6;
  std::size_t rank = 0, ranks = 1;
  std::vector<double> field = std::vector<double>(kRows * kCols);
  std::vector<std::array<double, 3>> points;
  std::vector<std::string> log;
  std::vector<bool> seen;
  std::unordered_map<std::int64_t, double> sparse;
  std::map<std::int32_t, Particle> by_id;
  // --scale N: N particles and N points more, each moved every step (1.3 MB at 40,000: past HDF5, raw I/O).
  std::vector<Particle> bulk;
  std::vector<std::array<double, 3>> bulk_points;

  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(a), CEREAL_NVP(g), CEREAL_NVP(cube), CEREAL_NVP(aa), CEREAL_NVP(z),
       CEREAL_NVP(zs), CEREAL_NVP(phase), CEREAL_NVP(v), CEREAL_NVP(parts), CEREAL_NVP(cloud), CEREAL_NVP(counts),
       CEREAL_NVP(name), CEREAL_NVP(maybe),
       cereal::make_nvp("field", mpisnap::array_view(field.data(), {kRows, kCols}).global({rank * kRows, 0}, {ranks * kRows, kCols})),
       CEREAL_NVP(points), CEREAL_NVP(log), CEREAL_NVP(seen), CEREAL_NVP(sparse), CEREAL_NVP(by_id), CEREAL_NVP(bulk),
       CEREAL_NVP(bulk_points));
  }
};

// One step: every member changes, driven by the step and by what the left neighbour sent.
void evolve(State& s, int rank, double in) {
  const double t = static_cast<double>(s.step);
  for (int i = 0; i < 4; ++i) s.a[i] = s.a[i] * 0.5 + in + i;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) s.g[i][j] += s.a[j] * (i + 1) - t;
  for (int i = 0; i < 8; ++i) (&s.cube[0][0][0])[i] += static_cast<std::int32_t>(s.step % 7) * (i + 1) - rank;
  for (auto& row : s.aa)
    for (double& x : row) x = x * 0.25 + in;
  s.z = s.z * std::complex<double>(0.6, 0.8) + std::complex<double>(in * 1e-3, t * 1e-3);
  s.zs.push_back({static_cast<float>(in), static_cast<float>(t)});
  if (s.zs.size() > 5) s.zs.erase(s.zs.begin());
  s.phase = static_cast<Phase>(1 + s.step % 3);
  if (s.step % 2) s.v = std::string("step-") + std::to_string(s.step);
  else s.v = static_cast<std::int64_t>(in * 1000);
  for (Particle& p : s.parts) {
    for (double& x : p.x) x += in * 1e-2 + p.id;
    p.id += 1;
  }
  s.cloud.push_back({{in, t, static_cast<double>(rank)}, static_cast<std::int32_t>(s.step), s.step % 3 == 0});
  if (s.cloud.size() > 4) s.cloud.erase(s.cloud.begin());
  s.counts[std::to_string(s.step % 5)] += s.step;
  s.name = "rank" + std::to_string(rank) + "@" + std::to_string(s.step);
  if (s.step % 3 == 0) s.maybe.reset();
  else s.maybe = in + t;
  for (std::size_t i = 0; i < s.field.size(); ++i)  // (global row r, column c) holds r * 100 + c + the step's share
    s.field[i] = static_cast<double>((s.rank * State::kRows + i / State::kCols) * 100 + i % State::kCols) + in * 1e-6;
  s.points.push_back({in, t, -in});
  if (s.points.size() > 3) s.points.erase(s.points.begin());
  s.log.push_back("step " + std::to_string(s.step) + (s.step % 2 ? " odd" : ""));
  if (s.log.size() > 4) s.log.erase(s.log.begin());
  s.seen.push_back(static_cast<std::int64_t>(in * 1000) % 2 == 0);
  if (s.seen.size() > 7) s.seen.erase(s.seen.begin());
  s.sparse[(s.step * 7919) % 101] += in;
  s.by_id[static_cast<std::int32_t>(s.step % 4)] = {{in, t, 1}, static_cast<std::int32_t>(s.step), s.step % 2 == 1};
  for (std::size_t i = 0; i < s.bulk.size(); ++i) {
    Particle& p = s.bulk[i];
    p.x[i % 3] += in * 1e-3 + static_cast<double>(p.id % 7);
    p.hot = !p.hot;
    s.bulk_points[i][s.step % 3] = p.x[0] - t;
  }
}

std::uint64_t digest(const State& s) {
  std::uint64_t h = example::fnv1a(&s.step, sizeof s.step);
  h = example::fnv1a(s.a, sizeof s.a, h);
  h = example::fnv1a(s.g, sizeof s.g, h);
  h = example::fnv1a(s.cube, sizeof s.cube, h);
  h = example::fnv1a(s.aa.data(), sizeof s.aa, h);
  h = example::fnv1a(&s.z, sizeof s.z, h);
  h = example::fnv1a(s.zs.data(), s.zs.size() * sizeof(s.zs[0]), h);
  h = example::fnv1a(&s.phase, sizeof s.phase, h);
  const std::string v = s.v.index() == 0 ? std::to_string(std::get<0>(s.v)) : "s:" + std::get<1>(s.v);
  h = example::fnv1a(v.data(), v.size(), h);
  auto particle = [&h](const Particle& p) {  // field by field: a struct's padding is not its value
    h = example::fnv1a(p.x, sizeof p.x, h);
    h = example::fnv1a(&p.id, sizeof p.id, h);
    h = example::fnv1a(&p.hot, sizeof p.hot, h);
  };
  for (const Particle& p : s.parts) particle(p);
  for (const Particle& p : s.cloud) particle(p);
  for (const auto& [k, n] : s.counts) {
    h = example::fnv1a(k.data(), k.size(), h);
    h = example::fnv1a(&n, sizeof n, h);
  }
  h = example::fnv1a(s.name.data(), s.name.size(), h);
  const double m = s.maybe.value_or(-1);
  h = example::fnv1a(&m, sizeof m, h);
  h = example::fnv1a(s.field.data(), s.field.size() * sizeof(double), h);
  h = example::fnv1a(s.points.data(), s.points.size() * sizeof(s.points[0]), h);
  for (const std::string& l : s.log) h = example::fnv1a(l.data(), l.size() + 1, h);
  for (bool b : s.seen) h = example::fnv1a(&b, 1, h);
  std::map<std::int64_t, double> sparse(s.sparse.begin(), s.sparse.end());  // (in key order: a hash map's order is not its value)
  for (const auto& [k, x] : sparse) {
    h = example::fnv1a(&k, sizeof k, h);
    h = example::fnv1a(&x, sizeof x, h);
  }
  for (const auto& [k, p] : s.by_id) {
    h = example::fnv1a(&k, sizeof k, h);
    particle(p);
  }
  for (const Particle& p : s.bulk) particle(p);
  h = example::fnv1a(s.bulk_points.data(), s.bulk_points.size() * sizeof(s.bulk_points[0]), h);
  return h;
}

}  // namespace

int run(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  example::Options opt(argc, argv);
  const std::int64_t steps = opt.get("steps", 300);
  const std::int64_t work_us = opt.get("work-us", 2000);
  const std::int64_t scale = opt.get("scale", 0);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;

  mpisnap::Session snap{MPI_COMM_WORLD};
  State s;
  s.rank = static_cast<std::size_t>(rank);
  s.ranks = static_cast<std::size_t>(size);
  for (std::int64_t i = 0; i < scale; ++i) {
    s.bulk.push_back({{0.5 * static_cast<double>(i), static_cast<double>(rank), 0}, static_cast<std::int32_t>(i), i % 2 == 0});
    s.bulk_points.push_back({static_cast<double>(i), 0, 1});
  }
  s.parts[0].id = 10 * rank;
  s.parts[1].id = 10 * rank + 1;
  if (snap.restore(s) && rank == 0)
    std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (step %" PRId64 ")\n",
                snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.step);

  // Each step sends a value derived from the whole state and receives the previous step's value
  // from the left: one message per channel in flight at every safe point.
  while (s.step < steps) {
    double out = static_cast<double>(digest(s) % 1000003) * 1e-3;
    MPI_Request req;
    MPI_Isend(&out, 1, MPI_DOUBLE, right, static_cast<int>(s.step), MPI_COMM_WORLD, &req);
    double in = 0;
    if (s.step > 0)
      MPI_Recv(&in, 1, MPI_DOUBLE, left, static_cast<int>(s.step - 1), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    evolve(s, rank, in);
    example::work(work_us);
    ++s.step;
    snap.checkpoint_point(s);
  }
  double last = 0;
  MPI_Recv(&last, 1, MPI_DOUBLE, left, static_cast<int>(steps - 1), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  std::uint64_t mine = example::fnv1a(&last, sizeof last, digest(s));
  std::vector<std::uint64_t> all(static_cast<std::size_t>(size));
  MPI_Gather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (rank == 0)
    for (int r = 0; r < size; ++r)
      std::printf("RESULT layouts rank %d digest %016" PRIx64 "\n", r, all[static_cast<std::size_t>(r)]);
  MPI_Finalize();
  return 0;
}

int main(int argc, char** argv) { return example::guarded_main(argc, argv, run); }
