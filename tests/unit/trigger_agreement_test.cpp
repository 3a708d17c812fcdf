// The trigger agreement on a fake network of many ranks that advance at random speeds, with
// triggers on random ranks at random moments and messages delivered late. Checks: every round that
// is not cancelled makes every rank snapshot at the same safe point; a rank never passes a safe
// point it contributed to be waiting at; the kind is the strongest one contributed; nobody waits
// forever.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>
#include <vector>

#include "protocol/trigger_agreement.hpp"

namespace mpisnap::testing {
namespace {

using protocol::AgreementMessage;
using protocol::TriggerAgreement;
using protocol::TriggerKind;

struct Net {
  explicit Net(int n) : boxes(static_cast<std::size_t>(n)) {}
  std::vector<std::deque<std::pair<bool, AgreementMessage>>> boxes;  // (arrived, message)
  std::map<int, std::vector<std::array<std::uint64_t, 3>>> reduce;     // generation -> contributions
  int size() const { return static_cast<int>(boxes.size()); }
};

class Port final : public protocol::AgreementPort {
 public:
  Port(Net& net, int rank) : net_(net), rank_(rank) {}
  void send(int to, const AgreementMessage& m) override {
    AgreementMessage copy = m;
    copy.from = rank_;
    net_.boxes[static_cast<std::size_t>(to)].push_back({false, copy});
  }
  bool poll(AgreementMessage& m) override {
    auto& box = net_.boxes[static_cast<std::size_t>(rank_)];
    if (box.empty() || !box.front().first) return false;
    m = box.front().second;
    box.pop_front();
    return true;
  }
  void start_reduce(const std::uint64_t in[3]) override {
    net_.reduce[gen_++].push_back({in[0], in[1], in[2]});
  }
  bool reduce_done(std::uint64_t out[3]) override {
    auto& v = net_.reduce[gen_ - 1];
    if (static_cast<int>(v.size()) != net_.size()) return false;
    for (int i = 0; i < 3; ++i) {
      out[i] = 0;
      for (const auto& c : v) out[i] = std::max(out[i], c[static_cast<std::size_t>(i)]);
    }
    return true;
  }

 private:
  Net& net_;
  int rank_;
  int gen_ = 0;
};

struct Rank {
  Rank(Net& net, int r) : port(net, r), agreement(port, r, net.size()) {}
  Port port;
  TriggerAgreement agreement;
  std::uint64_t safe_points = 0;
  bool waiting = false;
  std::vector<std::pair<std::uint64_t, TriggerKind>> snapshots;  // (safe point, kind)
};

void run(int n, std::uint64_t seed, int steps) {
  Net net(n);
  std::vector<std::unique_ptr<Rank>> ranks;
  for (int r = 0; r < n; ++r) ranks.push_back(std::make_unique<Rank>(net, r));
  std::mt19937_64 rng(seed);
  int triggers = 0;
  auto step = [&](bool may_trigger, std::uint64_t limit) {
    for (auto& box : net.boxes)  // some messages arrive
      for (auto& [arrived, m] : box)
        if (!arrived && rng() % 3 == 0) {
          arrived = true;
          break;
        }
    Rank& r = *ranks[rng() % ranks.size()];
    const int rank = static_cast<int>(&r - ranks[0].get() >= 0 ? 0 : 0);
    (void)rank;
    if (may_trigger && rng() % 40 == 0) {
      r.agreement.trigger(rng() % 5 == 0 ? TriggerKind::Terminate : TriggerKind::Checkpoint);
      ++triggers;
    }
    r.agreement.progress(r.safe_points);
    if (r.safe_points >= limit && !r.waiting) return;  // (one waiting at the last safe point asks again)
    if (!r.waiting) ++r.safe_points;  // passes the next safe point
    const auto d = r.agreement.at_safe_point(r.safe_points);
    r.waiting = d == TriggerAgreement::Decision::Wait;
    if (d == TriggerAgreement::Decision::Snapshot) r.snapshots.push_back({r.safe_points, r.agreement.decided_kind()});
  };
  for (int t = 0; t < steps; ++t) step(true, 1u << 30);
  // Every rank goes on to the same final safe point, then everything is delivered.
  std::uint64_t last = 0;
  for (auto& r : ranks) last = std::max(last, r->safe_points);
  last += 4;
  for (int t = 0; t < 200000; ++t) step(false, last);
  for (auto& r : ranks) {
    EXPECT_FALSE(r->waiting) << "a rank still waits for an agreement";
    EXPECT_EQ(r->safe_points, last);
  }
  for (int r = 1; r < n; ++r)
    EXPECT_EQ(ranks[static_cast<std::size_t>(r)]->snapshots, ranks[0]->snapshots) << "rank " << r << " snapshots elsewhere";
  if (triggers > 0) EXPECT_FALSE(ranks[0]->snapshots.empty()) << "triggers but no checkpoint";
}

class AgreementSim : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(AgreementSim, EveryRankSnapshotsAtTheSameSafePoints) {
  const auto [n, seed] = GetParam();
  run(n, static_cast<std::uint64_t>(seed) * 104729u + static_cast<std::uint64_t>(n), 3000);
}

INSTANTIATE_TEST_SUITE_P(Seeds, AgreementSim, ::testing::Combine(::testing::Values(1, 2, 3, 5, 8, 13, 32), ::testing::Range(0, 8)));

TEST(TriggerAgreement, FinishingRankCancelsTheRound) {
  Net net(2);
  Rank a(net, 0), b(net, 1);
  a.safe_points = 10;
  b.safe_points = 10;
  b.agreement.finishing();
  a.agreement.trigger(TriggerKind::Checkpoint);
  for (int i = 0; i < 50; ++i) {
    for (auto& box : net.boxes)
      for (auto& m : box) m.first = true;
    a.agreement.progress(a.safe_points);
    b.agreement.progress(b.safe_points);
  }
  EXPECT_EQ(a.agreement.at_safe_point(11), TriggerAgreement::Decision::Continue) << "cancelled: no snapshot";
}

TEST(TriggerAgreement, StrongestKindWins) {
  Net net(3);
  Rank r0(net, 0), r1(net, 1), r2(net, 2);
  r0.agreement.trigger(TriggerKind::Checkpoint);
  r0.agreement.progress(5);  // round 1 starts; rank 2 has a terminate trigger before it joins
  r2.agreement.trigger(TriggerKind::Terminate);
  for (int i = 0; i < 50; ++i) {
    for (auto& box : net.boxes)
      for (auto& m : box) m.first = true;
    r0.agreement.progress(5);
    r1.agreement.progress(5);
    r2.agreement.progress(5);
  }
  EXPECT_EQ(r1.agreement.at_safe_point(6), TriggerAgreement::Decision::Snapshot);
  EXPECT_EQ(r1.agreement.decided_kind(), TriggerKind::Terminate);
}

// A signal sent to every rank reaches them at different moments: a rank that gets it after joining
// the round it started (and before that round's snapshot) is answered by that round, so the job
// takes one checkpoint, not two. A stronger trigger (a stop after a checkpoint round) is not.
TEST(TriggerAgreement, ATriggerAfterJoiningIsAnsweredByTheRoundUnlessStronger) {
  for (TriggerKind late : {TriggerKind::Checkpoint, TriggerKind::Terminate}) {
    Net net(3);
    Rank r0(net, 0), r1(net, 1), r2(net, 2);
    std::uint64_t passed = 5;
    auto settle = [&] {
      for (int i = 0; i < 50; ++i) {
        for (auto& box : net.boxes)
          for (auto& m : box) m.first = true;
        r0.agreement.progress(passed);
        r1.agreement.progress(passed);
        r2.agreement.progress(passed);
      }
    };
    r0.agreement.trigger(TriggerKind::Checkpoint);
    settle();  // round 1 decided: the snapshot is at safe point 6
    r1.agreement.trigger(late);
    r2.agreement.trigger(late);
    settle();
    for (Rank* r : {&r0, &r1, &r2}) EXPECT_EQ(r->agreement.at_safe_point(6), TriggerAgreement::Decision::Snapshot);
    passed = 6;
    settle();
    const bool another = late == TriggerKind::Terminate;
    EXPECT_EQ(r0.agreement.rounds_started(), another ? 2u : 1u) << "late " << static_cast<int>(late);
    for (Rank* r : {&r0, &r1, &r2})
      EXPECT_EQ(r->agreement.at_safe_point(7),
                another ? TriggerAgreement::Decision::Snapshot : TriggerAgreement::Decision::Continue);
    if (another) EXPECT_EQ(r1.agreement.decided_kind(), TriggerKind::Terminate);
  }
}

}  // namespace
}  // namespace mpisnap::testing
