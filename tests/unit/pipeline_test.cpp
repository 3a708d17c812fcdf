// checkpoint::Pipeline without MPI: the engine's phases played by hand for a job of two ranks whose
// rank 1 is simulated (its done record made up), against a real checkpoint directory. A checkpoint
// is committed only when every file was written and the counts balance; a refused one leaves the
// previous checkpoint the newest, and a stop round waiting on it hears the outcome.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cereal/types/vector.hpp>
#include <mpisnap/archive.hpp>

#include "checkpoint/pipeline.hpp"
#include "storage/checkpoint_store.hpp"
#include "temp_dir.hpp"

namespace mpisnap::checkpoint {
namespace {

struct State {
  std::vector<double> v = {1, 2, 3};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(v));
  }
};

class PipelineTest : public ::testing::Test {
 protected:
  std::unique_ptr<Pipeline> make(int rank) {
    return std::make_unique<Pipeline>(std::make_unique<storage::DirectoryStore>(root_, false), rank, 2,
                                      Options{2, false, false},
                                      [this](std::uint64_t round, bool ok) { announced_.push_back({round, ok}); });
  }

  // One snapshot through every phase on rank 0; rank 1's done record is `other`.
  void snapshot(Pipeline& p, std::uint64_t seq, protocol::DoneRecord other, std::uint64_t terminate_round = 0) {
    State s;
    Snapshot& snap = p.open(seq, seq * 10, to_tree(s));
    snap.terminate_round = terminate_round;
    EXPECT_TRUE(p.awaiting_write());
    p.write();
    while (!p.written()) usleep(1000);
    const protocol::DoneRecord mine = p.done_record(/*sent_before=*/3, /*received_before=*/4);
    EXPECT_EQ(mine.failed, 0u);
    EXPECT_FALSE(p.written()) << "reported once";
    EXPECT_EQ(p.close({mine, other}), seq);
    EXPECT_EQ(p.current(), nullptr);
    p.drain();
  }

  std::vector<std::uint64_t> committed() {
    std::vector<std::uint64_t> ids;
    for (const auto& e : storage::DirectoryStore(root_, false).list())
      if (e.committed) ids.push_back(e.id);
    return ids;
  }

  testing::TempDir tmp_{"pipeline"};
  std::string root_ = tmp_.path();
  std::vector<std::pair<std::uint64_t, bool>> announced_;
};

protocol::DoneRecord balancing(std::uint64_t sent, std::uint64_t received) {
  protocol::DoneRecord d;
  d.sent_before = sent;
  d.received_before = received;
  return d;
}

TEST_F(PipelineTest, CommitsWhenEveryFileIsWrittenAndTheCountsBalance) {
  auto p = make(0);
  p->set_next_id(7);
  snapshot(*p, 1, balancing(4, 3), /*terminate_round=*/5);  // 3 + 4 sent, 4 + 3 received
  EXPECT_EQ(committed(), std::vector<std::uint64_t>{7});
  ASSERT_EQ(announced_.size(), 1u);
  EXPECT_EQ(announced_[0], std::make_pair(std::uint64_t{5}, true));
  EXPECT_EQ(p->stats().checkpoints, 1u);
  EXPECT_GT(p->stats().last_file_bytes, 0u);
}

TEST_F(PipelineTest, RefusesWhenARankCouldNotWriteItsFile) {
  auto p = make(0);
  snapshot(*p, 1, balancing(4, 3));
  protocol::DoneRecord failed = balancing(4, 3);
  failed.failed = 1;
  snapshot(*p, 2, failed, /*terminate_round=*/9);
  EXPECT_EQ(committed(), std::vector<std::uint64_t>{1}) << "the previous checkpoint stays the newest";
  ASSERT_EQ(announced_.size(), 1u);
  EXPECT_EQ(announced_[0], std::make_pair(std::uint64_t{9}, false));
}

TEST_F(PipelineTest, RefusesWhenTheCountsDoNotBalance) {
  auto p = make(0);
  snapshot(*p, 1, balancing(5, 3));  // one message sent before the cut is neither received nor recorded
  EXPECT_TRUE(committed().empty());
}

TEST_F(PipelineTest, OnlyRankZeroCommits) {
  auto p = make(1);
  snapshot(*p, 1, balancing(4, 3));
  EXPECT_TRUE(committed().empty());
  EXPECT_FALSE(p->commits_pending());
}

}  // namespace
}  // namespace mpisnap::checkpoint
