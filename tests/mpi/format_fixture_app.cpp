// format_fixture_app: the program whose checkpoints of older file formats are checked in under
// tests/fixtures/format-1.<minor>/ (written by the library of that format; see tests/fixtures/README.md).
// Its state holds the member kinds whose layout in the file has changed since 1.0 (a vector of
// structs: a group per element before 1.2; a map: groups of key/value pairs before 1.2) beside ones
// that have not (numbers, a vector, a string, an enum, a complex number, a std::array), and a ring
// keeps one message per channel in flight at every safe point. e2e.format_fixtures restores each
// fixture with today's library and runs on: the final digests must equal those of a run never
// stopped, so an old checkpoint restores state and channels exactly.
//
// Keep the state's definition as it is: the checked-in files were written from it.
#include <mpi.h>

#include <array>
#include <cinttypes>
#include <complex>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <cereal/types/array.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "common/example_util.hpp"

namespace {

enum class Mode : std::int32_t { Cold = 0, Warm = 1, Hot = 2 };

struct Body {
  std::array<double, 3> x{};
  std::int32_t id = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(x), CEREAL_NVP(id));
  }
};

struct State {
  std::int64_t step = 0;
  double energy = 0;
  std::vector<double> field;
  std::string label;
  std::map<std::string, std::int64_t> tally;
  std::vector<Body> bodies;
  Mode mode = Mode::Cold;
  std::complex<double> phase{1, 0};
  std::array<std::int32_t, 4> window{};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(energy), CEREAL_NVP(field), CEREAL_NVP(label), CEREAL_NVP(tally),
       CEREAL_NVP(bodies), CEREAL_NVP(mode), CEREAL_NVP(phase), CEREAL_NVP(window));
  }
};

void evolve(State& s, int rank, double in) {
  const double t = static_cast<double>(s.step);
  s.energy = s.energy * 0.75 + in;
  for (std::size_t i = 0; i < s.field.size(); ++i) s.field[i] = s.field[i] * 0.5 + in * static_cast<double>(i + 1) - t;
  s.field.push_back(in + t);
  s.label = "r" + std::to_string(rank) + "s" + std::to_string(s.step);
  s.tally["k" + std::to_string(s.step % 3)] += s.step + rank;
  for (Body& b : s.bodies) b.x[static_cast<std::size_t>(s.step % 3)] += in;
  s.bodies.push_back({{in, t, static_cast<double>(rank)}, static_cast<std::int32_t>(s.step)});
  s.mode = static_cast<Mode>(s.step % 3);
  s.phase = s.phase * std::complex<double>(0.6, 0.8) + std::complex<double>(in * 1e-3, 0);
  s.window[static_cast<std::size_t>(s.step % 4)] = static_cast<std::int32_t>(s.step * 7 + rank);
}

std::uint64_t digest(const State& s) {
  std::uint64_t h = example::fnv1a(&s.step, sizeof s.step);
  h = example::fnv1a(&s.energy, sizeof s.energy, h);
  h = example::fnv1a(s.field.data(), s.field.size() * sizeof(double), h);
  h = example::fnv1a(s.label.data(), s.label.size(), h);
  for (const auto& [k, n] : s.tally) {
    h = example::fnv1a(k.data(), k.size(), h);
    h = example::fnv1a(&n, sizeof n, h);
  }
  for (const Body& b : s.bodies) {
    h = example::fnv1a(b.x.data(), sizeof b.x, h);
    h = example::fnv1a(&b.id, sizeof b.id, h);
  }
  h = example::fnv1a(&s.mode, sizeof s.mode, h);
  h = example::fnv1a(&s.phase, sizeof s.phase, h);
  return example::fnv1a(s.window.data(), sizeof s.window, h);
}

}  // namespace

int run(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  example::Options opt(argc, argv);
  const std::int64_t steps = opt.get("steps", 12);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;

  mpisnap::Session snap{MPI_COMM_WORLD};
  State s;
  if (snap.restore(s) && rank == 0)
    std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (step %" PRId64 ")\n",
                snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.step);
  // The message of step k is received in step k + 1: one per channel is in flight at every safe point.
  while (s.step < steps) {
    double out = static_cast<double>(digest(s) % 1000003) * 1e-3;
    MPI_Request req;
    MPI_Isend(&out, 1, MPI_DOUBLE, right, static_cast<int>(s.step), MPI_COMM_WORLD, &req);
    double in = 0;
    if (s.step > 0)
      MPI_Recv(&in, 1, MPI_DOUBLE, left, static_cast<int>(s.step - 1), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    evolve(s, rank, in);
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
      std::printf("RESULT fixture rank %d digest %016" PRIx64 "\n", r, all[static_cast<std::size_t>(r)]);
  MPI_Finalize();
  return 0;
}

int main(int argc, char** argv) { return example::guarded_main(argc, argv, run); }
