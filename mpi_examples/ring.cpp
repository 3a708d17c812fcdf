// ring: tokens circulate around the ranks with a one-step lag, so at every safe point the tokens a
// rank's left neighbour sent in this step are still in flight: every checkpoint has channel state.
//
//   step 0:   send batch A (tag 0)                 keep batch B for step 1
//   step t:   send what we hold (tag t)            receive the left neighbour's tag t-1 message
//   the end:  receive the last message; rank 0 prints every token
//
// Each hop mixes the holder's rank and the step into a token's value, so the final values prove that
// every token made every hop exactly once and in order.
#include <mpi.h>

#include <cinttypes>
#include <cstdio>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "common/example_util.hpp"

namespace {

struct State {
  std::int64_t step = 0;
  std::vector<std::uint64_t> hold;  // 3 words per token: id, value, hops

  template <class Archive>
  void serialize(Archive& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(hold));
  }
};

void hop(std::vector<std::uint64_t>& tokens, int rank, std::int64_t step) {
  for (std::size_t i = 0; i < tokens.size(); i += 3) {
    std::uint64_t mix[3] = {tokens[i + 1], static_cast<std::uint64_t>(rank), static_cast<std::uint64_t>(step)};
    tokens[i + 1] = example::fnv1a(mix, sizeof mix);
    tokens[i + 2] += 1;
  }
}

}  // namespace

int run(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  example::Options opt(argc, argv);
  const std::int64_t steps = opt.get("steps", 400);
  const std::int64_t per_batch = opt.get("tokens", 3);
  const std::int64_t work_us = opt.get("work-us", 2000);

  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  const int words = static_cast<int>(3 * per_batch);

  mpisnap::Session snap{MPI_COMM_WORLD};
  State s;
  std::vector<std::uint64_t> first;
  for (std::int64_t k = 0; k < 2 * per_batch; ++k) {
    const std::uint64_t id = static_cast<std::uint64_t>(rank * 2 * per_batch + k);
    std::vector<std::uint64_t>& into = k < per_batch ? first : s.hold;
    into.insert(into.end(), {id, id * 1000003u, 0});
  }
  if (snap.restore(s)) {
    if (rank == 0)
      std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (step %" PRId64 ")\n",
                  snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.step);
  }

  std::vector<std::uint64_t> incoming(static_cast<std::size_t>(words));
  while (s.step < steps) {
    std::vector<std::uint64_t> out = s.step == 0 ? first : s.hold;
    hop(out, rank, s.step);
    MPI_Request req;
    MPI_Isend(out.data(), words, MPI_UINT64_T, right, static_cast<int>(s.step), MPI_COMM_WORLD, &req);
    if (s.step > 0) {
      MPI_Recv(incoming.data(), words, MPI_UINT64_T, left, static_cast<int>(s.step - 1), MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      s.hold = incoming;
    }
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    example::work(work_us);
    ++s.step;
    snap.checkpoint_point(s);
  }
  MPI_Recv(incoming.data(), words, MPI_UINT64_T, left, static_cast<int>(steps - 1), MPI_COMM_WORLD, MPI_STATUS_IGNORE);

  std::vector<std::uint64_t> mine = s.hold;
  mine.insert(mine.end(), incoming.begin(), incoming.end());
  std::vector<std::uint64_t> all(rank == 0 ? mine.size() * static_cast<std::size_t>(size) : 0);
  MPI_Gather(mine.data(), static_cast<int>(mine.size()), MPI_UINT64_T, all.data(), static_cast<int>(mine.size()),
             MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    std::uint64_t digest = 0xcbf29ce484222325ULL;
    for (std::size_t i = 0; i < all.size(); i += 3) {
      std::printf("RESULT token %" PRIu64 " value %016" PRIx64 " hops %" PRIu64 "\n", all[i], all[i + 1], all[i + 2]);
      digest = example::fnv1a(&all[i], 3 * sizeof(std::uint64_t), digest);
    }
    std::printf("RESULT ring digest %016" PRIx64 "\n", digest);
  }
  MPI_Finalize();
  return 0;
}

int main(int argc, char** argv) { return example::guarded_main(argc, argv, run); }
