// The whole protocol (SnapshotEngine + ReplayQueue + the window's receive rules) on a fake network
// of many ranks, driven by a seeded random schedule, checked by an oracle:
//  * every snapshot's recorded channel state of rank i is exactly the set of messages sent to i
//    before their sender's snapshot and not received by i's application before i's snapshot;
//  * no orphan: nothing received before the receiver's snapshot was sent after the sender's;
//  * the application sees each (source, tag) stream in send order (non-overtaking);
//  * every message is delivered exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "channel/replay_queue.hpp"
#include "fake_network.hpp"
#include "protocol/snapshot_engine.hpp"

namespace mpisnap::testing {
namespace {

using protocol::CommId;
using protocol::WorldRank;
using Phase = protocol::SnapshotEngine::Phase;

constexpr int kAny = -1;

struct Delivery {
  std::uint64_t receive_epoch;
};

class Sim;

struct SimRank {
  SimRank(FakeNetwork& net, int r) : rank(r), port(net, r), engine(port, WorldRank{r}) {}
  int rank;
  FakePort port;
  protocol::SnapshotEngine engine;
  channel::ReplayQueue queue;
  std::uint64_t epoch = 0;                  // snapshots begun
  std::vector<std::uint64_t> sent, received;  // per peer, current epoch (one communicator: id 0)
  std::vector<RecordedMessage> log;         // the snapshot in progress
  bool written = false;
  std::map<std::uint64_t, std::set<std::uint64_t>> recorded;  // snapshot -> message ids
};

class Sim {
 public:
  Sim(int ranks, std::uint64_t seed) : net_(ranks), rng_(seed) {
    for (int r = 0; r < ranks; ++r) {
      ranks_.push_back(std::make_unique<SimRank>(net_, r));
      ranks_.back()->sent.assign(static_cast<std::size_t>(ranks), 0);
      ranks_.back()->received.assign(static_cast<std::size_t>(ranks), 0);
    }
  }

  void run(int ticks) {
    for (int t = 0; t < ticks; ++t) step(true);
    // Quiesce: no new sends; finish every snapshot and deliver every message.
    for (int guard = 0; guard < 1000000 && !quiet(); ++guard) step(false);
    ASSERT_TRUE(quiet()) << "simulation did not quiesce";
  }

  void check() const {
    std::uint64_t in_flight = 0;
    for (const auto& r : ranks_) {
      for (const auto& [s, ids] : r->recorded) {
        std::set<std::uint64_t> expected;
        for (const auto& [id, m] : messages_) {
          if (m.dest != r->rank || m.send_epoch >= s) continue;
          const auto d = deliveries_.find(id);
          if (d == deliveries_.end() || d->second.receive_epoch >= s) expected.insert(id);
        }
        EXPECT_EQ(ids, expected) << "rank " << r->rank << " snapshot " << s;
        in_flight += ids.size();
      }
    }
    for (const auto& [id, m] : messages_) {
      const auto d = deliveries_.find(id);
      ASSERT_NE(d, deliveries_.end()) << "message " << id << " never delivered";
      // No orphan: received before the receiver's snapshot k implies sent before the sender's.
      EXPECT_LE(m.send_epoch, d->second.receive_epoch) << "orphan message " << id;
    }
    EXPECT_GT(snapshots_completed_, 0u);
    in_flight_checked_ += in_flight;
  }

  std::uint64_t snapshots_completed() const { return snapshots_completed_; }
  static std::uint64_t in_flight_checked_;

 private:
  bool quiet() const {
    for (const auto& r : ranks_) {
      if (r->engine.active() || !r->queue.empty()) return false;
      for (int s = 0; s < net_.size(); ++s)
        for (int c = 0; c < 2; ++c)
          if (!const_cast<FakeNetwork&>(net_).channel(s, r->rank, c).messages.empty()) return false;
    }
    return true;
  }

  std::uint64_t max_epoch() const {
    std::uint64_t e = 0;
    for (const auto& r : ranks_) e = std::max(e, r->epoch);
    return e;
  }

  int pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }

  void step(bool may_send) {
    if (pick(3) == 0) net_.deliver_some(rng_);  // a slow network: markers and messages race
    SimRank& r = *ranks_[static_cast<std::size_t>(pick(net_.size()))];
    const int action = pick(10);
    if (may_send && action < 4) send(r);
    else if (action < 8) receive(r);
    else if (action == 8 && !r.engine.active() && (may_send || r.epoch < max_epoch())) take_snapshot(r);
    progress(r);
  }

  void send(SimRank& r) {
    FakeMessage m;
    m.id = next_id_++;
    m.source = r.rank;
    m.dest = pick(net_.size());
    m.tag = pick(3);
    m.send_epoch = r.epoch;
    net_.channel(m.source, m.dest, static_cast<int>(r.epoch % 2)).messages.push_back(m);
    ++r.sent[static_cast<std::size_t>(m.dest)];
    messages_[m.id] = m;
  }

  bool closed(SimRank& r, int source) { return r.engine.channel_closed({CommId{0}, WorldRank{source}}); }

  void deliver(SimRank& r, std::uint64_t id, int source, int tag) {
    ASSERT_EQ(deliveries_.count(id), 0u) << "message " << id << " delivered twice";
    deliveries_[id] = {r.epoch};
    auto& last = last_delivered_[{source, r.rank, tag}];
    ASSERT_LT(last, id + 1) << "non-overtaking violated on (" << source << "->" << r.rank << ", tag " << tag << ")";
    last = id + 1;
  }

  // The receive rules of channel/receive_window.cpp, on the fake network.
  void receive(SimRank& r) {
    const int source = pick(3) == 0 ? kAny : pick(net_.size());
    const int tag = pick(3) == 0 ? kAny : pick(3);
    auto it = r.queue.find(0, source, tag, [&](std::uint64_t, int s) { return closed(r, s); });
    if (it != r.queue.end()) {
      RecordedMessage m = r.queue.take(it);
      std::uint64_t id;
      std::memcpy(&id, m.bytes.data(), sizeof id);
      deliver(r, id, m.source, m.tag);
      return;
    }
    const int color = static_cast<int>(r.epoch % 2);
    std::vector<int> sources;
    if (source == kAny) {
      for (int s = 0; s < net_.size(); ++s) sources.push_back(s);
      std::shuffle(sources.begin(), sources.end(), rng_);
    } else {
      if (r.engine.draining() && !closed(r, source)) return;  // wait for the drain
      sources.push_back(source);
    }
    for (int s : sources) {
      auto& ch = net_.channel(s, r.rank, color);
      const auto end = ch.messages.begin() + static_cast<std::ptrdiff_t>(ch.visible);
      auto m = std::find_if(ch.messages.begin(), end, [&](const FakeMessage& x) { return tag == kAny || x.tag == tag; });
      if (m == end) continue;
      const FakeMessage msg = *m;
      ch.messages.erase(m);
      --ch.visible;
      ++r.received[static_cast<std::size_t>(s)];
      if (r.engine.draining() && !closed(r, s)) {
        r.queue.push_held(as_recorded(msg));  // a wildcard took it from an open channel
        continue;
      }
      deliver(r, msg.id, msg.source, msg.tag);
      return;
    }
  }

  static RecordedMessage as_recorded(const FakeMessage& m) {
    RecordedMessage rm;
    rm.comm = 0;
    rm.source = m.source;
    rm.tag = m.tag;
    rm.bytes.resize(sizeof m.id);
    std::memcpy(rm.bytes.data(), &m.id, sizeof m.id);
    return rm;
  }

  void take_snapshot(SimRank& r) {
    protocol::SnapshotEngine::SentCounts sent;
    protocol::SnapshotEngine::ReceivedCounts received;
    for (int p = 0; p < net_.size(); ++p) {
      const auto i = static_cast<std::size_t>(p);
      if (r.sent[i]) sent.push_back({WorldRank{p}, {{CommId{0}, r.sent[i]}}});
      if (r.received[i]) received.push_back({{CommId{0}, WorldRank{p}}, r.received[i]});
      r.sent[i] = r.received[i] = 0;
    }
    r.epoch += 1;
    r.log = r.queue.copy_all();
    r.written = false;
    r.engine.begin(r.epoch, sent, received);
  }

  void progress(SimRank& r) {
    r.engine.progress();
    if (r.engine.draining()) {
      const int old = static_cast<int>((r.epoch + 1) % 2);
      for (int s = 0; s < net_.size(); ++s) {
        auto& ch = net_.channel(s, r.rank, old);
        while (ch.visible > 0 && r.engine.draining()) {
          RecordedMessage m = as_recorded(ch.messages.front());
          ch.messages.pop_front();
          --ch.visible;
          r.log.push_back(m);
          r.queue.push_recorded(std::move(m));
          r.engine.on_drained({CommId{0}, WorldRank{s}});
        }
      }
    }
    if (r.engine.phase() == Phase::Closed && !r.written) {
      r.queue.release_held();
      auto& ids = r.recorded[r.epoch];
      for (const auto& m : r.log) {
        std::uint64_t id;
        std::memcpy(&id, m.bytes.data(), sizeof id);
        ASSERT_TRUE(ids.insert(id).second) << "message " << id << " recorded twice";
      }
      r.written = true;
      protocol::DoneRecord d;
      d.sent_before = r.engine.sent_before_total();
      d.received_before = r.engine.received_before_total();
      r.engine.start_done(d);
    }
    if (r.engine.phase() == Phase::Complete) {
      auto records = r.engine.finish();
      if (r.rank == 0) {
        std::uint64_t sent = 0, got = 0;
        for (const auto& d : records) {
          sent += d.sent_before;
          got += d.received_before;
        }
        EXPECT_EQ(sent, got) << "snapshot " << r.epoch;
        ++snapshots_completed_;
      }
    }
  }

  FakeNetwork net_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<SimRank>> ranks_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, FakeMessage> messages_;
  std::map<std::uint64_t, Delivery> deliveries_;
  std::map<std::tuple<int, int, int>, std::uint64_t> last_delivered_;
  std::uint64_t snapshots_completed_ = 0;
};

std::uint64_t Sim::in_flight_checked_ = 0;

class ProtocolSim : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(ProtocolSim, EveryCutIsExact) {
  const auto [ranks, seed] = GetParam();
  Sim sim(ranks, static_cast<std::uint64_t>(seed) * 7919u + static_cast<std::uint64_t>(ranks));
  sim.run(4000);
  sim.check();
}

INSTANTIATE_TEST_SUITE_P(Seeds, ProtocolSim,
                         ::testing::Combine(::testing::Values(1, 2, 3, 5, 8), ::testing::Range(0, 12)));

TEST(ProtocolSimTotals, RecordedSomethingInFlight) {
  // Run after the parameterized suites in this binary's default order: the oracle above must have
  // seen real channel state, not only empty cuts.
  Sim sim(4, 99);
  sim.run(4000);
  sim.check();
  EXPECT_GT(Sim::in_flight_checked_, 0u);
}

}  // namespace
}  // namespace mpisnap::testing
