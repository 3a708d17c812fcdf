// bank: the lecture's distributed bank. Every rank starts with the same balance and, each step,
// sends a few random amounts to random ranks (itself included) with MPI_Isend, then takes whatever
// transfers have arrived (MPI_Iprobe on MPI_ANY_SOURCE + MPI_Recv). Money is never created or
// destroyed, so for every consistent cut
//     sum of balances in the ranks' states + sum of amounts in recorded channels == ranks * initial
// which scripts/bank_audit.py checks on every committed checkpoint.
//
// The final balances do not depend on the timing of receptions: at the end the ranks exchange how
// many transfers each sent to each, and everyone receives exactly what it is owed.
#include <mpi.h>

#include <cinttypes>
#include <cstdio>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "common/example_util.hpp"

namespace {

constexpr int kTransferTag = 7;
constexpr std::int64_t kInitial = 1000000;

struct State {
  std::int64_t step = 0;
  std::int64_t balance = kInitial;
  std::uint64_t rng = 0;
  std::int64_t received = 0;                // transfers received so far
  std::vector<std::int64_t> sent_to;        // transfers sent to each rank

  template <class Archive>
  void serialize(Archive& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(balance), CEREAL_NVP(rng), CEREAL_NVP(received), CEREAL_NVP(sent_to));
  }
};

void receive_one(State& s, int source) {
  std::int64_t msg[2];
  MPI_Recv(msg, 2, MPI_INT64_T, source, kTransferTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  s.balance += msg[0];
  s.received += 1;
}

}  // namespace

int run(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  example::Options opt(argc, argv);
  const std::int64_t steps = opt.get("steps", 400);
  const std::int64_t per_step = opt.get("transfers", 3);
  const std::int64_t seed = opt.get("seed", 1);
  const std::int64_t work_us = opt.get("work-us", 2000);

  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  mpisnap::Session snap{MPI_COMM_WORLD};
  State s;
  s.rng = static_cast<std::uint64_t>(seed) * 1000003u + static_cast<std::uint64_t>(rank);
  s.sent_to.assign(static_cast<std::size_t>(size), 0);
  if (snap.restore(s) && rank == 0)
    std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (step %" PRId64 ")\n",
                snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.step);

  std::vector<std::int64_t> outbox(static_cast<std::size_t>(2 * per_step));
  std::vector<MPI_Request> reqs(static_cast<std::size_t>(per_step));
  while (s.step < steps) {
    for (std::int64_t k = 0; k < per_step; ++k) {
      const int dest = static_cast<int>(example::next_random(s.rng) % static_cast<std::uint64_t>(size));
      const std::int64_t amount = 1 + static_cast<std::int64_t>(example::next_random(s.rng) % 100);
      std::int64_t* msg = &outbox[static_cast<std::size_t>(2 * k)];
      msg[0] = amount;
      msg[1] = s.step * 1000 + k;
      s.balance -= amount;
      s.sent_to[static_cast<std::size_t>(dest)] += 1;
      MPI_Isend(msg, 2, MPI_INT64_T, dest, kTransferTag, MPI_COMM_WORLD, &reqs[static_cast<std::size_t>(k)]);
    }
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, kTransferTag, MPI_COMM_WORLD, &flag, &st);
      if (!flag) break;
      receive_one(s, st.MPI_SOURCE);
    }
    MPI_Waitall(static_cast<int>(per_step), reqs.data(), MPI_STATUSES_IGNORE);
    example::work(work_us);
    ++s.step;
    snap.checkpoint_point(s);
  }

  // Settle: everyone learns how many transfers it is owed and takes the rest.
  std::vector<std::int64_t> owed(static_cast<std::size_t>(size));
  MPI_Alltoall(s.sent_to.data(), 1, MPI_INT64_T, owed.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
  std::int64_t expected = 0;
  for (std::int64_t n : owed) expected += n;
  while (s.received < expected) receive_one(s, MPI_ANY_SOURCE);

  std::vector<std::int64_t> balances(static_cast<std::size_t>(size));
  MPI_Gather(&s.balance, 1, MPI_INT64_T, balances.data(), 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    std::int64_t total = 0;
    for (int r = 0; r < size; ++r) {
      std::printf("RESULT balance rank %d %" PRId64 "\n", r, balances[static_cast<std::size_t>(r)]);
      total += balances[static_cast<std::size_t>(r)];
    }
    std::printf("RESULT bank total %" PRId64 " (expected %" PRId64 ")\n", total, kInitial * size);
  }
  MPI_Finalize();
  return 0;
}

int main(int argc, char** argv) { return example::guarded_main(argc, argv, run); }
