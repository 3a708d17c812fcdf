// The snapshot engine and the trigger agreement at up to 4,096 simulated ranks (tests/sim): what a
// rank sends, receives and holds grows with its peers, not with the job; the rounds to agree and to
// complete grow with log2 P. The table at 1,024..65,536 ranks is the benchmark's (bench_scale_sim).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "scale_sim.hpp"

namespace mpisnap::sim {
namespace {

struct Worst {
  double ours_per_peer = 0;   // our control messages (sent + received) per checkpoint and peer
  std::uint64_t peak = 0;     // protocol state, rank 0 left out (it gathers the manifest's rows)
  double peak_per_peer = 0;
  double counters_per_peer = 0;  // the runtime's per-peer message counters, every rank
};

Worst worst(const Result& r) {
  Worst w;
  for (std::size_t i = 0; i < r.ranks.size(); ++i) {
    const RankStats& s = r.ranks[i];
    const double ours = static_cast<double>(s.ours_sent.messages + s.ours_received.messages) / r.checkpoints;
    w.counters_per_peer = std::max(w.counters_per_peer, static_cast<double>(s.counter_bytes) / s.peers);
    w.ours_per_peer = std::max(w.ours_per_peer, ours / s.peers);
    if (i == 0) continue;
    w.peak = std::max(w.peak, s.peak_bytes);
    w.peak_per_peer = std::max(w.peak_per_peer, static_cast<double>(s.peak_bytes) / s.peers);
  }
  return w;
}

class ScaleSim : public ::testing::TestWithParam<Pattern> {};

TEST_P(ScaleSim, PerRankCostsFollowPeersAndRoundsFollowLogP) {
  std::vector<Worst> w;
  for (int p : {64, 512, 4096}) {
    Config c;
    c.ranks = p;
    c.pattern = GetParam();
    c.checkpoints = 3;
    const Result r = run(c);
    ASSERT_EQ(r.checkpoints, 3);
    w.push_back(worst(r));
    const double lg = std::log2(p);
    for (int k = 0; k < r.checkpoints; ++k) {
      // START down the tree (log2 P), the max-allreduce (2 log2 P), a safe point's wait (6).
      EXPECT_LE(r.agreement_rounds[k], 3 * lg + 10) << "P=" << p << " checkpoint " << k;
      // markers and their drain (a few), the marker barrier and the done gather + barrier (5 log2 P).
      EXPECT_LE(r.completion_rounds[k], 5 * lg + 12) << "P=" << p << " checkpoint " << k;
    }
    // Markers (one per peer and direction) and the agreement's tree messages: a few per peer.
    EXPECT_LE(w.back().ours_per_peer, 4.0) << "P=" << p;
  }
  // The state of a rank other than 0 does not grow with P (its peers do not).
  if (GetParam() != Pattern::RandomSparse) {
    EXPECT_LE(w[2].peak, w[0].peak * 5 / 4 + 256) << "a rank's protocol state grows with the job";
  }
  EXPECT_LE(w[2].peak_per_peer, w[1].peak_per_peer * 1.25 + 64) << "a rank's protocol state per peer grows with the job";
  // The message counters of a rank hold its peers (a few hundred bytes each at most), not the job.
  EXPECT_GT(w[0].counters_per_peer, 0.0) << "the counters are not metered";
  EXPECT_LE(w[2].counters_per_peer, w[0].counters_per_peer * 1.25 + 64) << "the message counters grow with the job";
  EXPECT_LE(w[2].counters_per_peer, 1024.0);
}

INSTANTIATE_TEST_SUITE_P(Patterns, ScaleSim,
                         ::testing::Values(Pattern::Ring, Pattern::Stencil3d, Pattern::RandomSparse),
                         [](const auto& info) { return std::string(info.param == Pattern::Ring ? "Ring" : info.param == Pattern::Stencil3d ? "Stencil3d" : "RandomSparse"); });

// A scheduler signals every rank at once: the requests for a checkpoint combine up the tree, so
// rank 0 gets a few, not one per rank, and no rank sends more than a few.
TEST(ScaleSim, EveryRankSignalledAtOnceCostsTheRootAFewRequests) {
  Config c;
  c.ranks = 4096;
  c.pattern = Pattern::Ring;
  c.checkpoints = 2;
  c.every_rank_triggers = true;
  const Result r = run(c);
  EXPECT_LE(r.requests_at_root, 2u * 2u * static_cast<unsigned>(c.checkpoints));
  std::uint64_t most = 0;
  for (const RankStats& s : r.ranks) most = std::max(most, s.ours_received.messages);
  EXPECT_LE(most, 16u * static_cast<unsigned>(c.checkpoints));
}

// Rank 0 gathers one done record per rank (the rows of the manifest it writes): the one place where
// a rank's memory grows with P, by design. Shown here so a change to it is seen.
TEST(ScaleSim, OnlyRankZeroHoldsARecordPerRank) {
  Config c;
  c.ranks = 2048;
  c.pattern = Pattern::Ring;
  const Result r = run(c);
  EXPECT_GE(r.ranks[0].peak_bytes, 2048u * 88u);
  EXPECT_LT(r.ranks[1].peak_bytes, 2048u * 8u);
}

}  // namespace
}  // namespace mpisnap::sim
