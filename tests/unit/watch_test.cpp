// The watch over blocked calls (watch/), without MPI: routed messages on the side channel, the
// episode word the main thread publishes a blocking call in (the helper holds it; the main thread
// then cannot leave the call until it lets go), and the two judgements made over the side channel
// by "ranks" of this process — a receive whose source's whole cut has arrived is misplaced, one
// that still expects a message is not; two ranks blocked on each other are a deadlock.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sideband/port.hpp"
#include "sideband_links.hpp"
#include "watch/blocked_call.hpp"
#include "watch/watch.hpp"

namespace mpisnap::testing {
namespace {

using sideband::Links;
using sideband::Port;

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::unique_ptr<Port>> connect_ports(int n) {
  std::vector<Links> links = connect_all(n, 77);
  std::vector<std::unique_ptr<Port>> ports;
  for (int r = 0; r < n; ++r) ports.push_back(std::make_unique<Port>(r, std::move(links[static_cast<std::size_t>(r)])));
  return ports;
}

TEST(Sideband, TheNextHopClimbsUntilTheAddresseeIsBelow) {
  EXPECT_EQ(sideband::next_hop(0, 5), 2);   // 5 is below 2
  EXPECT_EQ(sideband::next_hop(0, 3), 1);
  EXPECT_EQ(sideband::next_hop(2, 5), 5);   // a child
  EXPECT_EQ(sideband::next_hop(5, 3), 2);   // up first
  EXPECT_EQ(sideband::next_hop(1, 2), 0);
  EXPECT_EQ(sideband::next_hop(3, 8), 8);
  EXPECT_EQ(sideband::next_hop(1, 9), 4);   // 9 -> 4 -> 1
  EXPECT_EQ(sideband::next_hop(9, 1), 4);
}

TEST(Sideband, RoutedMessagesReachEveryRankWhole) {
  constexpr int n = 7;
  auto ports = connect_ports(n);
  // Every rank to every rank (itself too), and one long message across the tree (partial reads).
  for (int from = 0; from < n; ++from)
    for (int to = 0; to < n; ++to)
      ports[static_cast<std::size_t>(from)]->route(to, 5, {static_cast<std::uint64_t>(from), static_cast<std::uint64_t>(to), 99});
  std::vector<std::uint64_t> big(200000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = i * 2654435761u;
  std::thread sender([&] { ports[6]->route(3, 6, big); });  // 6 -> 2 -> 0 -> 1 -> 3, 1.6 MB
  std::map<int, std::vector<int>> got;  // addressee -> senders
  bool big_ok = false;
  const double until = seconds() + 20;
  while (seconds() < until && (!big_ok || got.size() < n || [&] {
           for (auto& [r, v] : got)
             if (v.size() < n) return true;
           return false;
         }())) {
    for (int r = 0; r < n; ++r) {
      Port& p = *ports[static_cast<std::size_t>(r)];
      p.wait(1, -1);
      ASSERT_TRUE(p.read()) << p.failure();
      sideband::Routed m;
      while (p.poll_routed(m)) {
        if (m.kind == 6) {
          EXPECT_EQ(r, 3);
          EXPECT_EQ(m.from, 6);
          big_ok = m.words == big;
          continue;
        }
        ASSERT_EQ(m.kind, 5u);
        ASSERT_EQ(m.words.size(), 3u);
        EXPECT_EQ(m.words[0], static_cast<std::uint64_t>(m.from));
        EXPECT_EQ(m.words[1], static_cast<std::uint64_t>(r)) << "delivered to the wrong rank";
        got[r].push_back(m.from);
      }
    }
  }
  sender.join();
  EXPECT_TRUE(big_ok) << "the long message did not arrive whole";
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (auto& [r, senders] : got) {
    std::sort(senders.begin(), senders.end());
    EXPECT_EQ(senders, (std::vector<int>{0, 1, 2, 3, 4, 5, 6})) << "at rank " << r;
  }
}

TEST(BlockedCall, TheMainThreadCannotLeaveACallTheHelperHolds) {
  watch::BlockedCall b;
  EXPECT_EQ(b.inside(), 0u);
  int object = 0;
  b.publish(&object, 3, 7, watch::Call::Recv);
  const std::uint64_t e = b.inside();
  ASSERT_NE(e, 0u);
  ASSERT_TRUE(b.hold(e));
  EXPECT_EQ(b.held_call().peer, 3);
  EXPECT_EQ(b.held_call().tag, 7);
  EXPECT_EQ(b.held_call().object, &object);
  EXPECT_FALSE(b.hold(e)) << "held once";
  std::atomic<bool> left{false};
  std::thread main_thread([&] {
    b.leave();
    left = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(left.load()) << "left while the helper was reading";
  b.release();
  main_thread.join();
  EXPECT_TRUE(left.load());
  EXPECT_EQ(b.inside(), 0u);
  EXPECT_FALSE(b.hold(e)) << "an episode that ended cannot be held";
  // The next call is another episode; one left without a reader needs nobody.
  b.publish(&object, 4, 8, watch::Call::Send);
  EXPECT_NE(b.inside(), 0u);
  EXPECT_NE(b.inside(), e);
  EXPECT_FALSE(b.hold(e));
  b.leave();
  EXPECT_EQ(b.inside(), 0u);
}

// The main thread enters and leaves calls as fast as it can, each with its own description; the
// helper holds whatever episode it finds and reads the description twice, some time apart: a held
// call never changes under it (the main thread may leave meanwhile - its word moves on - but it
// does not return, so it cannot publish the next one; with leave() not waiting for the reader this
// fails within the run).
TEST(BlockedCall, AHeldCallNeverChangesUnderTheHelper) {
  watch::BlockedCall b;
  std::atomic<bool> stop{false};
  int object = 0;
  std::thread main_thread([&] {
    for (int i = 1; !stop.load(std::memory_order_relaxed); ++i) {
      b.publish(&object, i, i, watch::Call::Recv);
      // Mostly short calls; every 16th lasts tens of microseconds.
      for (volatile int k = 0, n = i % 16 ? i % 64 : 20000; k < n; k = k + 1) {
      }
      b.leave();
    }
  });
  int holds = 0, changed = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(700);
  while (std::chrono::steady_clock::now() < end) {
    const std::uint64_t e = b.inside();
    if (e == 0 || !b.hold(e)) continue;
    ++holds;
    const int peer = b.held_call().peer;
    for (volatile int k = 0; k < 2000; k = k + 1) {
    }
    if (b.held_call().peer != peer || b.held_call().tag != peer) ++changed;
    b.release();
  }
  stop = true;
  main_thread.join();
  EXPECT_GT(holds, 10) << "the helper should have caught the main thread inside calls";
  EXPECT_EQ(changed, 0) << "of " << holds << " holds";
}

// A receive publishes no kind (fast::watched_recv): every other call's leave() puts Recv back.
TEST(BlockedCall, AReceiveAfterAnyOtherCallIsDescribedAsAReceive) {
  watch::BlockedCall b;
  int object = 0;
  for (watch::Call::Kind k :
       {watch::Call::Send, watch::Call::Ssend, watch::Call::Wait, watch::Call::Probe, watch::Call::Collective}) {
    b.call().name = "MPI_Barrier";
    b.publish(&object, 1, 2, k);
    const std::uint64_t e = b.inside();
    ASSERT_TRUE(b.hold(e));
    EXPECT_EQ(b.held_call().kind, k);
    b.release();
    b.leave();
    b.publish_recv(&object, 5, 6);
    const std::uint64_t r = b.inside();
    ASSERT_TRUE(b.hold(r));
    EXPECT_EQ(b.held_call().kind, watch::Call::Recv) << "after " << k;
    EXPECT_STREQ(watch::call_name(b.held_call()), "MPI_Recv");
    EXPECT_EQ(b.held_call().peer, 5);
    b.release();
    ASSERT_TRUE(b.leave_fast());
  }
}

// A rank whose runtime the test plays: what it waits for and what it received.
class FakeReader : public watch::Reader {
 public:
  bool describe(const watch::Call& c, deadlock::Report& r) override {
    deadlock::Wait w;
    w.send = c.kind == watch::Call::Send;
    w.comm = 0;
    w.peer = c.peer;
    w.tag = c.tag;
    r.waits.push_back(w);
    r.epoch = 0;
    return true;
  }
  void sources(const watch::Call& c, std::vector<watch::Source>& out) override {
    if (c.kind == watch::Call::Recv) out.push_back({0, c.peer, c.tag, received});
    if (c.kind == watch::Call::Waitany)
      for (const auto& [peer, got] : any_of) out.push_back({0, peer, 7, got});
  }
  std::uint64_t received = 0;
  std::map<int, std::uint64_t> any_of;  // MPI_Waitany's receives: source -> messages received from it
};

struct Rank {
  watch::BlockedCall call;
  FakeReader reader;
  std::unique_ptr<watch::Watch> watch;
  std::string fatal;
  int status = 0;
};

// Runs every rank's helper part (messages, ticks) until `done` or `seconds` pass.
template <class Done>
void pump(std::vector<std::unique_ptr<Port>>& ports, std::vector<std::unique_ptr<Rank>>& ranks, double limit,
          bool round_open, Done&& done) {
  const double until = seconds() + limit;
  while (seconds() < until && !done()) {
    for (std::size_t r = 0; r < ranks.size(); ++r) {
      Port& p = *ports[r];
      p.wait(1, -1);
      ASSERT_TRUE(p.read()) << p.failure();
      sideband::Routed m;
      while (p.poll_routed(m)) ranks[r]->watch->on_message(p, m, seconds());
      ranks[r]->watch->tick(p, seconds(), round_open);
    }
  }
}

std::vector<std::unique_ptr<Rank>> make_ranks(int n, watch::Options options) {
  std::vector<std::unique_ptr<Rank>> ranks;
  for (int r = 0; r < n; ++r) {
    auto k = std::make_unique<Rank>();
    Rank* raw = k.get();
    k->watch = std::make_unique<watch::Watch>(r, k->call, k->reader, options, [raw](const std::string& text, int status, bool) {
      if (raw->fatal.empty()) {
        raw->fatal = text;
        raw->status = status;
      }
    });
    ranks.push_back(std::move(k));
  }
  return ranks;
}

// Rank 0 snapshotted (seq 1, at its safe point 5) after sending rank 1 two messages on communicator
// 0; rank 1 waits in MPI_Recv for rank 0 (tag 7), short of its own safe point.
TEST(Watch, AReceiveWhoseSourceCutHasAllArrivedIsMisplacedAndOneStillExpectingIsNot) {
  auto ports = connect_ports(3);
  auto ranks = make_ranks(3, watch::Options{});
  int comm_entry = 0;
  ranks[0]->watch->cut_taken(1, 5, {{{0, 1}, 2}, {{0, 2}, 9}});
  ranks[1]->call.publish(&comm_entry, 0, 7, watch::Call::Recv);
  // One of the two has not arrived yet: the receive may be waiting for it.
  ranks[1]->reader.received = 1;
  pump(ports, ranks, 0.6, true, [] { return false; });
  EXPECT_EQ(ranks[1]->fatal, "") << "judged misplaced while a message from before the cut was on its way";
  // Another call (another episode): now both have arrived, so this receive needs a message rank 0
  // sends only after its snapshot.
  ranks[1]->call.leave();
  ranks[1]->reader.received = 2;
  ranks[1]->call.publish(&comm_entry, 0, 7, watch::Call::Recv);
  pump(ports, ranks, 5, true, [&] { return !ranks[1]->fatal.empty(); });
  EXPECT_EQ(ranks[1]->status, 70);
  EXPECT_NE(ranks[1]->fatal.find("misplaced safe point: this rank waits for a message from rank 0 (tag 7, communicator 0) "
                                 "that rank 0 sends only after its safe point 5"),
            std::string::npos)
      << ranks[1]->fatal;
  EXPECT_EQ(ranks[0]->fatal, "");
  EXPECT_EQ(ranks[2]->fatal, "");
  ranks[1]->call.leave();
}

// Rank 1 waits in MPI_Waitany on receives from ranks 0 and 2, both of which snapshotted: one source
// all of whose pre-cut messages arrived does not make the call misplaced while the other may still
// end it; both short, it is.
TEST(Watch, AWaitanyIsMisplacedOnlyWhenEverySourceIsShort) {
  auto ports = connect_ports(3);
  auto ranks = make_ranks(3, watch::Options{});
  int requests = 0;
  ranks[0]->watch->cut_taken(1, 5, {{{0, 1}, 2}});
  ranks[2]->watch->cut_taken(1, 5, {{{0, 1}, 3}});
  ranks[1]->reader.any_of = {{0, 2}, {2, 1}};
  ranks[1]->call.publish(&requests, 2, 0, watch::Call::Waitany);
  pump(ports, ranks, 0.6, true, [] { return false; });
  EXPECT_EQ(ranks[1]->fatal, "") << "judged misplaced while rank 2's messages from before its cut were on their way";
  ranks[1]->call.leave();
  ranks[1]->reader.any_of = {{0, 2}, {2, 3}};
  ranks[1]->call.publish(&requests, 2, 0, watch::Call::Waitany);
  pump(ports, ranks, 5, true, [&] { return !ranks[1]->fatal.empty(); });
  EXPECT_EQ(ranks[1]->status, 70);
  EXPECT_NE(ranks[1]->fatal.find("misplaced safe point: this rank waits for a message from rank 0 (tag 7, communicator 0) "
                                 "that rank 0 sends only after its safe point 5, where it took the next checkpoint "
                                 "(and so does the other source this call waits on)"),
            std::string::npos)
      << ranks[1]->fatal;
  ranks[1]->call.leave();
}

TEST(Watch, NoRoundNoQuestionAndASourceNotYetAtItsSnapshotIsNoAnswer) {
  auto ports = connect_ports(2);
  auto ranks = make_ranks(2, watch::Options{});
  int comm_entry = 0;
  ranks[1]->reader.received = 5;
  ranks[1]->call.publish(&comm_entry, 0, 7, watch::Call::Recv);
  pump(ports, ranks, 0.4, false, [] { return false; });  // no round: not even asked
  EXPECT_EQ(ports[1]->messages_sent(), 0u);
  pump(ports, ranks, 0.6, true, [] { return false; });  // asked, but rank 0 took no snapshot
  EXPECT_GT(ports[1]->messages_sent(), 0u);
  EXPECT_EQ(ranks[1]->fatal, "");
  ranks[1]->call.leave();
}

TEST(Watch, TwoRanksBlockedOnEachOtherAreADeadlockAndAWaitForAComputingRankIsNot) {
  auto ports = connect_ports(3);
  watch::Options options;
  options.deadlock_after = 0.05;
  auto ranks = make_ranks(3, options);
  int comm_entry = 0;
  // Rank 0 waits for rank 2, which is computing (in no call): it may still send.
  ranks[0]->call.publish(&comm_entry, 2, 1, watch::Call::Recv);
  pump(ports, ranks, 0.4, false, [] { return false; });
  EXPECT_EQ(ranks[0]->fatal, "");
  ranks[0]->call.leave();
  // Ranks 0 and 1 wait for each other, for good.
  ranks[0]->call.publish(&comm_entry, 1, 3, watch::Call::Recv);
  ranks[1]->call.publish(&comm_entry, 0, 3, watch::Call::Recv);
  pump(ports, ranks, 5, false, [&] { return !ranks[0]->fatal.empty(); });
  EXPECT_EQ(ranks[0]->status, 72);
  EXPECT_NE(ranks[0]->fatal.find("cycle 0 -> 1 -> 0"), std::string::npos) << ranks[0]->fatal;
  EXPECT_NE(ranks[0]->fatal.find("rank 1 in MPI_Recv"), std::string::npos) << ranks[0]->fatal;
  EXPECT_EQ(ranks[1]->fatal, "") << "only rank 0 judges";
  ranks[0]->call.leave();
  ranks[1]->call.leave();
}

}  // namespace
}  // namespace mpisnap::testing
