// SnapshotEngine on crafted two- and three-rank scripts (the random simulation is in
// protocol_sim_test.cpp).
#include <gtest/gtest.h>

#include <mpisnap/error.hpp>

#include "fake_network.hpp"
#include "protocol/snapshot_engine.hpp"

namespace mpisnap::testing {
namespace {

using protocol::CommId;
using protocol::SnapshotEngine;
using protocol::WorldRank;
using Phase = SnapshotEngine::Phase;

struct Pair {
  FakeNetwork net{2};
  FakePort p0{net, 0}, p1{net, 1};
  SnapshotEngine e0{p0, WorldRank{0}}, e1{p1, WorldRank{1}};
  void deliver_markers() {
    net.marker_box(0).visible = net.marker_box(0).slots.size();
    net.marker_box(1).visible = net.marker_box(1).slots.size();
  }
};

TEST(SnapshotEngine, ChannelClosesWhenAnnouncedCountIsReached) {
  Pair p;
  // Rank 1 sent 3 messages to rank 0 on communicator 0 in epoch 0; rank 0 consumed 1 before its snapshot.
  p.e0.begin(1, {}, {{{CommId{0}, WorldRank{1}}, 1}});
  p.e1.begin(1, {{WorldRank{0}, {{CommId{0}, 3}}}}, {});
  p.deliver_markers();
  p.e0.progress();
  p.e1.progress();
  const protocol::ChannelKey ch{CommId{0}, WorldRank{1}};
  EXPECT_FALSE(p.e0.channel_closed(ch));
  p.e0.on_drained(ch);
  EXPECT_FALSE(p.e0.channel_closed(ch));
  p.e0.on_drained(ch);
  EXPECT_TRUE(p.e0.channel_closed(ch));
  p.e0.progress();
  p.e1.progress();
  EXPECT_EQ(p.e0.phase(), Phase::Closed);
  EXPECT_EQ(p.e1.phase(), Phase::Closed) << "rank 1 has no incoming channel";
  p.e0.start_done({});
  p.e1.start_done({});
  p.e0.progress();
  EXPECT_EQ(p.e0.phase(), Phase::Complete);
  p.e0.finish();
  EXPECT_EQ(p.e0.phase(), Phase::Idle);
}

// Rank 0 freed communicator 5 (its colours gone) after consuming 1 of the 3 messages rank 1 sent
// on it: the channel closes at the marker, 2 counted abandoned; communicator 0's channel, on the
// same marker, is still awaited; consuming more than announced on an abandoned one still throws.
TEST(SnapshotEngine, AbandonedCommunicatorsChannelClosesAtItsMarker) {
  Pair p;
  p.e0.set_abandoned([](CommId c) { return c == CommId{5}; });
  p.e0.begin(1, {}, {{{CommId{5}, WorldRank{1}}, 1}});
  p.e1.begin(1, {{WorldRank{0}, {{CommId{0}, 1}, {CommId{5}, 3}}}}, {});
  p.deliver_markers();
  p.e0.progress();
  p.e1.progress();
  EXPECT_TRUE(p.e0.channel_closed({CommId{5}, WorldRank{1}}));
  EXPECT_EQ(p.e0.abandoned_total(), 2u);
  const protocol::ChannelKey live{CommId{0}, WorldRank{1}};
  EXPECT_FALSE(p.e0.channel_closed(live));
  EXPECT_NE(p.e0.phase(), Phase::Closed);
  p.e0.on_drained(live);
  p.e0.progress();
  EXPECT_EQ(p.e0.phase(), Phase::Closed);
  EXPECT_EQ(p.e0.received_before_total(), 4u) << "1 before + 2 abandoned + 1 drained: the commit's count";

  Pair q;
  q.e0.set_abandoned([](CommId) { return true; });
  q.e0.begin(1, {}, {{{CommId{5}, WorldRank{1}}, 2}});
  q.e1.begin(1, {{WorldRank{0}, {{CommId{5}, 1}}}}, {});
  q.deliver_markers();
  EXPECT_THROW(q.e0.progress(), mpisnap::Error);
}

TEST(SnapshotEngine, DrainingMoreThanAnnouncedIsAViolation) {
  Pair p;
  p.e0.begin(1, {}, {});
  p.e1.begin(1, {{WorldRank{0}, {{CommId{0}, 1}}}}, {});
  p.deliver_markers();
  p.e0.progress();
  const protocol::ChannelKey ch{CommId{0}, WorldRank{1}};
  p.e0.on_drained(ch);
  EXPECT_THROW(p.e0.on_drained(ch), mpisnap::Error);
}

TEST(SnapshotEngine, SilentPeerIsClosedOnlyAfterTheMarkerBarrier) {
  Pair p;
  p.e0.begin(1, {}, {});
  const protocol::ChannelKey ch{CommId{0}, WorldRank{1}};
  p.e0.progress();
  EXPECT_FALSE(p.e0.channel_closed(ch)) << "rank 1 has not snapped: it may still send";
  p.e1.begin(1, {}, {});
  p.e0.progress();
  EXPECT_TRUE(p.e0.channel_closed(ch));
  EXPECT_EQ(p.e0.phase(), Phase::Closed);
}

TEST(SnapshotEngine, EarlyMarkerIsKeptAndAnswersTheMisplacedQuery) {
  Pair p;
  p.e1.begin(1, {{WorldRank{0}, {{CommId{4}, 2}}}}, {});
  p.deliver_markers();
  p.e0.progress();  // rank 0 has not begun snapshot 1
  EXPECT_EQ(p.e0.announced(1, {CommId{4}, WorldRank{1}}), std::optional<std::uint64_t>(2));
  EXPECT_EQ(p.e0.announced(1, {CommId{0}, WorldRank{1}}), std::optional<std::uint64_t>(0));
  EXPECT_EQ(p.e0.announced(1, {CommId{4}, WorldRank{0}}), std::nullopt);
  p.e0.begin(1, {}, {{{CommId{4}, WorldRank{1}}, 2}});
  p.e0.progress();
  p.e1.progress();
  p.e0.progress();
  EXPECT_EQ(p.e0.phase(), Phase::Closed) << "the early marker was applied at begin";
}

TEST(SnapshotEngine, NextSnapshotBeforeCompletionIsRefused) {
  Pair p;
  p.e0.begin(1, {}, {});
  EXPECT_THROW(p.e0.begin(2, {}, {}), mpisnap::Error);
}

TEST(SnapshotEngine, MarkerEncodingRoundTripsAndRejectsGarbage) {
  protocol::Marker m{7, {{CommId{0}, 3}, {CommId{12}, 1}}};
  const auto w = protocol::encode(m);
  const auto back = protocol::decode_marker(w.data(), w.size());
  EXPECT_EQ(back.seq, 7u);
  ASSERT_EQ(back.counts.size(), 2u);
  EXPECT_EQ(back.counts[1].comm, CommId{12});
  EXPECT_THROW(protocol::decode_marker(w.data(), w.size() - 1), mpisnap::Error);
}

}  // namespace
}  // namespace mpisnap::testing
