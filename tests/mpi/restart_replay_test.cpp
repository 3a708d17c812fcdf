// Restart replay, in two processes (ctest runs Phase1 then Phase2 on the same directory):
//   Phase1: every sender j sends b_j (tag 2) and b'_j (tag 7) before safe point 1; rank 0 receives
//           nothing; checkpoint 1 records them all; the job then stops as if killed.
//   Phase2: resumes from checkpoint 1 and runs the code after the safe point: each sender sends
//           c_j with tag 2 again. Rank 0 must see, per sender, b_j before c_j (replayed messages
//           come before anything new on the same channel), probes must see replayed messages with
//           the right size, and a wildcard receive must get the replayed b'_j.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <set>

#include <mpisnap/mpisnap.hpp>

#include "checkpoint_inspect.hpp"
#include "storage/fs.hpp"

namespace mpisnap::testing {
namespace {

struct Step {
  std::int64_t step = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step));
  }
};

Config config() {
  Config cfg;
  const char* d = std::getenv("MPISNAP_DIR");
  cfg.directory = d ? d : "mpisnap-replay-checkpoints";
  cfg.every = 1;
  cfg.keep = 5;
  return cfg;
}

TEST(RestartReplay, Phase1) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank == 0) mpisnap::fs::remove_tree(config().directory);
  MPI_Barrier(MPI_COMM_WORLD);
  Session snap{MPI_COMM_WORLD, config()};
  Step s;
  ASSERT_FALSE(snap.restore(s));
  if (rank != 0) {
    std::int64_t b[3] = {rank, 100, 0};
    MPI_Send(b, 3, MPI_INT64_T, 0, 2, MPI_COMM_WORLD);
    std::int64_t b2[1] = {rank * 1000};
    MPI_Send(b2, 1, MPI_INT64_T, 0, 7, MPI_COMM_WORLD);
  }
  s.step = 1;
  snap.checkpoint_point(s);
  snap.flush();
  if (rank == 0) {
    const auto cps = load_committed(config().directory);
    ASSERT_EQ(cps.size(), 1u);
    EXPECT_EQ(cps[0].ranks[0].channel.size(), static_cast<std::size_t>(2 * (size - 1)));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  // The job ends here without rank 0 receiving: as if it had been killed after the commit.
}

TEST(RestartReplay, Phase2) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Session snap{MPI_COMM_WORLD, config()};
  Step s;
  ASSERT_TRUE(snap.restore(s));
  EXPECT_EQ(s.step, 1);
  EXPECT_EQ(snap.resume_info().safe_point, 1u);
  EXPECT_EQ(snap.safe_point(), 1u);
  EXPECT_EQ(snap.resume_info().messages, rank == 0 ? static_cast<std::uint64_t>(2 * (size - 1)) : 0u);
  if (rank != 0) {
    std::int64_t c[3] = {rank, 200, 0};
    MPI_Send(c, 3, MPI_INT64_T, 0, 2, MPI_COMM_WORLD);
  } else {
    for (int j = 1; j < size; ++j) {
      MPI_Status st;
      int flag = 0;
      MPI_Iprobe(j, 2, MPI_COMM_WORLD, &flag, &st);
      EXPECT_TRUE(flag) << "the replayed message is visible to MPI_Iprobe at once";
      int count = -1;
      MPI_Get_count(&st, MPI_INT64_T, &count);
      EXPECT_EQ(count, 3);
      std::int64_t got[3] = {};
      MPI_Recv(got, 3, MPI_INT64_T, j, 2, MPI_COMM_WORLD, &st);
      EXPECT_EQ(got[0], j);
      EXPECT_EQ(got[1], 100) << "the replayed message comes first";
      MPI_Recv(got, 3, MPI_INT64_T, j, 2, MPI_COMM_WORLD, &st);
      EXPECT_EQ(got[1], 200);
    }
    std::set<std::int64_t> seen;
    for (int j = 1; j < size; ++j) {
      std::int64_t v = 0;
      MPI_Status st;
      MPI_Recv(&v, 1, MPI_INT64_T, MPI_ANY_SOURCE, 7, MPI_COMM_WORLD, &st);
      EXPECT_EQ(v, st.MPI_SOURCE * 1000);
      seen.insert(v);
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(size - 1));
    int flag = 1;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    EXPECT_FALSE(flag) << "nothing is delivered twice";
  }
  s.step = 2;
  snap.checkpoint_point(s);
  snap.flush();
  if (rank == 0) {
    const auto cps = load_committed(config().directory);
    ASSERT_EQ(cps.size(), 2u);
    EXPECT_EQ(cps[1].manifest.safe_point, 2u);
    for (const auto& cp : cps) {
      const auto report = storage::check_channel_balance(cp.ranks);
      EXPECT_TRUE(report.ok()) << (report.violations.empty() ? "" : report.violations[0]);
    }
    EXPECT_TRUE(cps[1].ranks[0].channel.empty());
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace mpisnap::testing
