// The whole protocol as it ships — SnapshotEngine, ReplayQueue, the ReceiveWindow with its receive
// rules, and the communicator table's counter folding (CommTable::begin_epoch) — on a fake network
// of many ranks, driven by a seeded random schedule of sends, non-blocking receives with wildcards,
// cancellations and snapshots, checked by an oracle:
//  * every snapshot's recorded channel state of rank i is exactly the set of messages sent to i
//    before their sender's snapshot and not received by i's application before i's snapshot;
//  * no orphan: nothing received before the receiver's snapshot was sent after the sender's;
//  * non-overtaking: of two receives that get messages of one (source, tag) stream, the one posted
//    first gets the older message;
//  * every message is delivered exactly once, to a receive whose pattern it matches, with a status
//    that names its sender and tag; a cancelled receive got nothing.
// The simulation's only model is the network (fake_network.hpp); the rules under test are the
// product's. Each broken variant of common/mutation.hpp, switched on in the product code, must make
// it fail (MutatedProtocol below).
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <map>
#include <random>
#include <set>

#include <mpisnap/error.hpp>

#include "channel/message_port.hpp"
#include "channel/receive_window.hpp"
#include "channel/replay_queue.hpp"
#include "common/mutation.hpp"
#include "fake_handles.hpp"
#include "fake_network.hpp"
#include "mpi/comm_table.hpp"
#include "protocol/snapshot_engine.hpp"

namespace mpisnap::testing {
namespace {

using protocol::CommId;
using protocol::WorldRank;
using Phase = protocol::SnapshotEngine::Phase;

constexpr int kTags = 3;
constexpr std::size_t kMaxReceives = 6;  // outstanding non-blocking receives per rank

// Handles: 1 the application's communicator, 2 and 3 its colors; 100+ matched messages; 1,000,000+
// requests (generalized and real).
MPI_Comm color_handle(int color) { return fake_handle<MPI_Comm>(static_cast<std::uintptr_t>(2 + color)); }

std::uint64_t payload_id(const void* bytes) {
  std::uint64_t id;
  std::memcpy(&id, bytes, sizeof id);
  return id;
}

// channel::MessagePort on the fake network, as MPI behaves for one rank: a message is visible once
// the network delivered it; a posted real receive takes the oldest visible message it matches
// before any probe can see it (settle), receives in posting order; wildcard sources are tried in a
// random order (MPI does not say which sender's message a wildcard gets).
class FakeMessagePort final : public channel::MessagePort {
 public:
  FakeMessagePort(FakeNetwork& net, int rank, std::mt19937_64& rng) : net_(net), rank_(rank), rng_(rng) {}

  bool iprobe(int source, int tag, MPI_Comm comm, MPI_Status* st) override {
    settle();
    FakeMessage* m = find(source, tag, color_of(comm), /*take=*/false);
    if (m && st != MPI_STATUS_IGNORE) fill(st, *m);
    return m != nullptr;
  }
  bool improbe(int source, int tag, MPI_Comm comm, MPI_Message* msg, MPI_Status* st) override {
    settle();
    FakeMessage* m = find(source, tag, color_of(comm), /*take=*/true);
    if (!m) return false;
    fill(st, taken_);
    *msg = fake_handle<MPI_Message>(100 + next_handle_);
    matched_[next_handle_++] = taken_;
    return true;
  }
  Bytes mrecv_bytes(MPI_Message* msg, const MPI_Status&) override {
    const FakeMessage m = take_matched(*msg);
    Bytes b(sizeof m.id);
    std::memcpy(b.data(), &m.id, sizeof m.id);
    return b;
  }
  int mrecv(void* buf, int count, MPI_Datatype, MPI_Message* msg, MPI_Status* st, MPI_Comm) override {
    const FakeMessage m = take_matched(*msg);
    EXPECT_GE(count, static_cast<int>(sizeof m.id));
    std::memcpy(buf, &m.id, sizeof m.id);
    fill(st, m);
    return MPI_SUCCESS;
  }
  void irecv(void* buf, int, MPI_Datatype, int source, int tag, MPI_Comm comm, MPI_Request* req) override {
    const std::uint64_t h = next_handle_++;
    real_.push_back({h, buf, source, tag, color_of(comm), false, {}});
    *req = fake_handle<MPI_Request>(1000000 + h);
  }
  int test(MPI_Request* req, bool* done, MPI_Status* st, MPI_Comm) override {
    settle();
    auto it = real_of(*req);
    *done = it->matched;
    if (it->matched) {
      fill(st, it->msg);
      real_.erase(it);
      *req = MPI_REQUEST_NULL;
    }
    return MPI_SUCCESS;
  }
  bool cancel(MPI_Request* req, MPI_Status* st) override {
    settle();
    auto it = real_of(*req);
    const bool matched = it->matched;
    if (matched) fill(st, it->msg);
    real_.erase(it);
    *req = MPI_REQUEST_NULL;
    ++cancels_;
    return !matched;
  }
  int deliver(const RecordedMessage& m, void* buf, int count, MPI_Datatype, MPI_Comm, MPI_Status* st) override {
    EXPECT_EQ(m.bytes.size(), sizeof(std::uint64_t));
    EXPECT_GE(count, static_cast<int>(m.bytes.size()));
    std::memcpy(buf, m.bytes.data(), m.bytes.size());
    describe(st, m.source, m.tag, m.bytes.size(), false);
    return MPI_SUCCESS;
  }
  void describe(MPI_Status* st, int source, int tag, std::size_t, bool) override {
    if (st == MPI_STATUS_IGNORE) return;
    st->MPI_SOURCE = source;
    st->MPI_TAG = tag;
  }
  MPI_Request start_request(channel::PendingRecv* p, MPI_Datatype type) override {
    p->type = type;
    last_started_ = p;
    return fake_handle<MPI_Request>(1000000 + next_handle_++);
  }
  void complete_request(channel::PendingRecv& p) override { completed_.insert(p.greq); }

  channel::PendingRecv* last_started() const { return last_started_; }
  bool completed(MPI_Request greq) const { return completed_.count(greq) != 0; }
  void forget(MPI_Request greq) { completed_.erase(greq); }
  bool has_real_receives() const { return !real_.empty(); }
  std::uint64_t cancels() const { return cancels_; }

 private:
  struct RealRecv {
    std::uint64_t handle;
    void* buf;
    int source, tag, color;
    bool matched;
    FakeMessage msg;
  };

  static int color_of(MPI_Comm c) {
    if (c == color_handle(0)) return 0;
    if (c == color_handle(1)) return 1;
    ADD_FAILURE() << "traffic on a handle that is not a color";
    return 0;
  }
  static void fill(MPI_Status* st, const FakeMessage& m) {
    if (st == MPI_STATUS_IGNORE) return;
    st->MPI_SOURCE = m.source;
    st->MPI_TAG = m.tag;
  }
  // The oldest visible message from `source` (each sender in random order for MPI_ANY_SOURCE)
  // with `tag` on `color`; with `take`, it leaves the network (into taken_).
  FakeMessage* find(int source, int tag, int color, bool take) {
    std::vector<int> sources;
    if (source == MPI_ANY_SOURCE) {
      for (int s = 0; s < net_.size(); ++s) sources.push_back(s);
      std::shuffle(sources.begin(), sources.end(), rng_);
    } else {
      sources.push_back(source);
    }
    for (int s : sources) {
      FakeNetwork::Channel& ch = net_.channel(s, rank_, color);
      const auto end = ch.messages.begin() + static_cast<std::ptrdiff_t>(ch.visible);
      auto m = std::find_if(ch.messages.begin(), end, [&](const FakeMessage& x) { return tag == MPI_ANY_TAG || x.tag == tag; });
      if (m == end) continue;
      if (!take) return &*m;
      taken_ = *m;
      ch.messages.erase(m);
      --ch.visible;
      return &taken_;
    }
    return nullptr;
  }
  // Posted real receives take their messages first, in posting order.
  void settle() {
    for (RealRecv& r : real_) {
      if (r.matched) continue;
      if (!find(r.source, r.tag, r.color, true)) continue;
      r.matched = true;
      r.msg = taken_;
      std::memcpy(r.buf, &taken_.id, sizeof taken_.id);
    }
  }
  std::list<RealRecv>::iterator real_of(MPI_Request req) {
    auto it = std::find_if(real_.begin(), real_.end(),
                           [&](const RealRecv& r) { return fake_handle<MPI_Request>(1000000 + r.handle) == req; });
    if (it == real_.end()) throw Error("fake port: unknown real receive");
    return it;
  }
  FakeMessage take_matched(MPI_Message msg) {
    for (auto it = matched_.begin(); it != matched_.end(); ++it)
      if (fake_handle<MPI_Message>(100 + it->first) == msg) {
        FakeMessage m = it->second;
        matched_.erase(it);
        return m;
      }
    throw Error("fake port: receive of a message that was not matched");
  }

  FakeNetwork& net_;
  int rank_;
  std::mt19937_64& rng_;
  FakeMessage taken_;
  std::uint64_t next_handle_ = 0;
  std::map<std::uint64_t, FakeMessage> matched_;
  std::list<RealRecv> real_;
  std::set<MPI_Request> completed_;
  std::uint64_t cancels_ = 0;
  channel::PendingRecv* last_started_ = nullptr;
};

// A non-blocking receive of the simulated application.
struct AppRecv {
  std::uint64_t seq = 0;  // posting order, over the whole run
  int source, tag;
  std::uint64_t buf = 0;
  MPI_Request handle = MPI_REQUEST_NULL;
  channel::PendingRecv* p = nullptr;  // owned by the (fake) request, freed by the application's wait
};

struct SimRank {
  SimRank(FakeNetwork& net, int r, std::mt19937_64& rng)
      : rank(r), control(net, r), engine(control, WorldRank{r}), port(net, r, rng), window(port, comms, engine, queue) {
    auto e = std::make_unique<mpi::CommEntry>();
    e->app = fake_handle<MPI_Comm>(1);
    e->color[0] = color_handle(0);
    e->color[1] = color_handle(1);
    e->current = e->color[0];
    e->id = CommId{0};
    e->size = net.size();
    e->rank = r;
    for (int w = 0; w < net.size(); ++w) e->world.push_back(w);
    comm = &comms.add(std::move(e));
  }
  int color() const { return comm->current == color_handle(0) ? 0 : 1; }

  int rank;
  FakePort control;
  protocol::SnapshotEngine engine;
  FakeMessagePort port;
  mpi::CommTable comms;
  channel::ReplayQueue queue;
  channel::ReceiveWindow window;
  mpi::CommEntry* comm = nullptr;
  std::uint64_t epoch = 0;  // snapshots begun
  std::list<AppRecv> recvs;
  std::vector<RecordedMessage> log;  // the snapshot in progress
  bool written = false;
  std::map<std::uint64_t, std::set<std::uint64_t>> recorded;  // snapshot -> message ids
};

class Sim {
 public:
  Sim(int ranks, std::uint64_t seed) : net_(ranks), rng_(seed) {
    for (int r = 0; r < ranks; ++r) ranks_.push_back(std::make_unique<SimRank>(net_, r, rng_));
  }

  void run(int ticks, int quiesce_steps = 1000000) {
    for (int t = 0; t < ticks; ++t) step(true);
    // Quiesce: no new sends; finish every snapshot and deliver every message.
    for (int guard = 0; guard < quiesce_steps && !quiet(); ++guard) step(false);
    ASSERT_TRUE(quiet()) << "simulation did not quiesce";
    for (auto& r : ranks_) cancel_all(*r);
  }

  void check() const {
    std::uint64_t in_flight = 0;
    for (const auto& r : ranks_) {
      for (const auto& [s, ids] : r->recorded) {
        std::set<std::uint64_t> expected;
        for (const auto& [id, m] : messages_) {
          if (m.dest != r->rank || m.send_epoch >= s) continue;
          const auto d = deliveries_.find(id);
          if (d == deliveries_.end() || d->second >= s) expected.insert(id);
        }
        EXPECT_EQ(ids, expected) << "rank " << r->rank << " snapshot " << s;
        in_flight += ids.size();
      }
    }
    for (const auto& [id, m] : messages_) {
      const auto d = deliveries_.find(id);
      ASSERT_NE(d, deliveries_.end()) << "message " << id << " never delivered";
      // No orphan: received before the receiver's snapshot k implies sent before the sender's.
      EXPECT_LE(m.send_epoch, d->second) << "orphan message " << id;
    }
    for (auto [stream, got] : streams_) {
      std::sort(got.begin(), got.end());
      for (std::size_t i = 1; i < got.size(); ++i)
        EXPECT_LT(got[i - 1].second, got[i].second)
            << "non-overtaking violated on (" << std::get<0>(stream) << "->" << std::get<1>(stream) << ", tag "
            << std::get<2>(stream) << "): a receive posted earlier got a newer message";
    }
    EXPECT_GT(snapshots_completed_, 0u);
    in_flight_checked_ += in_flight;
    for (const auto& r : ranks_) cancels_checked_ += r->port.cancels();
  }

  static std::uint64_t in_flight_checked_;
  static std::uint64_t cancels_checked_;

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
    const int action = pick(12);
    if (may_send && action < 4) send(r);
    else if (action < 8 && r.recvs.size() < kMaxReceives) post_receive(r, may_send);
    else if (action == 8 && !r.recvs.empty()) cancel_one(r);
    else if (action == 9 && !r.engine.active() && (may_send || r.epoch < max_epoch())) take_snapshot(r);
    progress(r);
  }

  void send(SimRank& r) {
    FakeMessage m;
    m.id = next_id_++;
    m.source = r.rank;
    m.dest = pick(net_.size());
    m.tag = pick(kTags);
    m.send_epoch = r.epoch;
    net_.channel(m.source, m.dest, r.color()).messages.push_back(m);
    r.comm->count_sent(m.dest);
    messages_[m.id] = m;
  }

  // A non-blocking receive through the window (as MPI_Irecv is while the window is open or
  // messages are held), with a wildcard source or tag one time in three (mostly wildcards while
  // quiescing, so that everything gets delivered).
  void post_receive(SimRank& r, bool may_send) {
    const int wild = may_send ? 3 : 1;
    r.recvs.emplace_back();
    AppRecv& a = r.recvs.back();
    a.seq = next_recv_++;
    a.source = pick(wild) == 0 ? MPI_ANY_SOURCE : pick(net_.size());
    a.tag = pick(wild) == 0 ? MPI_ANY_TAG : pick(kTags);
    a.handle = r.window.post_nonblocking(*r.comm, &a.buf, static_cast<int>(sizeof a.buf), MPI_BYTE, a.source, a.tag);
    a.p = r.port.last_started();  // the receive behind the request (MPI_Cancel reaches it so)
    collect(r);
  }

  void cancel_one(SimRank& r) {
    auto it = r.recvs.begin();
    std::advance(it, pick(static_cast<int>(r.recvs.size())));
    r.window.cancel(it->p);
    collect(r);
  }
  void cancel_all(SimRank& r) {
    for (AppRecv& a : r.recvs) r.window.cancel(a.p);
    collect(r);
    EXPECT_TRUE(r.recvs.empty()) << "rank " << r.rank << ": a cancelled receive did not complete";
  }

  // The application's MPI_Test on each receive: a completed one is checked and freed.
  void collect(SimRank& r) {
    for (auto it = r.recvs.begin(); it != r.recvs.end();) {
      if (!r.port.completed(it->handle)) {
        ++it;
        continue;
      }
      channel::PendingRecv* p = it->p;
      if (!p->cancelled) {
        const std::uint64_t id = it->buf;
        const auto m = messages_.find(id);
        if (m == messages_.end()) {
          ADD_FAILURE() << "rank " << r.rank << " received a message that was never sent";
        } else {
          EXPECT_EQ(m->second.dest, r.rank) << "message " << id << " delivered to the wrong rank";
          EXPECT_TRUE(it->source == MPI_ANY_SOURCE || it->source == m->second.source) << "message " << id;
          EXPECT_TRUE(it->tag == MPI_ANY_TAG || it->tag == m->second.tag) << "message " << id;
          EXPECT_EQ(p->status.MPI_SOURCE, m->second.source);
          EXPECT_EQ(p->status.MPI_TAG, m->second.tag);
          deliver(r, id, m->second.source, m->second.tag, it->seq);
        }
      }
      r.port.forget(it->handle);
      delete p;
      it = r.recvs.erase(it);
    }
  }

  void deliver(SimRank& r, std::uint64_t id, int source, int tag, std::uint64_t recv_seq) {
    ASSERT_EQ(deliveries_.count(id), 0u) << "message " << id << " delivered twice";
    deliveries_[id] = r.epoch;
    streams_[{source, r.rank, tag}].push_back({recv_seq, id});
  }

  // A safe point where a snapshot is due, as Runtime::begin_snapshot takes it. Safe points need
  // every receive completed: the application cancels what has not matched.
  void take_snapshot(SimRank& r) {
    cancel_all(r);
    r.epoch += 1;
    r.log = r.queue.copy_all();
    r.queue.release_held();
    const mpi::CommTable::EpochCounts cut = r.comms.begin_epoch(r.epoch % 2);
    r.window.set_log(&r.log);
    r.written = false;
    r.engine.begin(r.epoch, cut.sent, cut.received);
  }

  // Runtime::progress, without the storage.
  void progress(SimRank& r) {
    r.engine.progress();
    if (r.engine.draining()) r.window.drain();
    r.window.pass();
    collect(r);
    if (r.engine.phase() == Phase::Closed && !r.written) {
      r.window.set_log(nullptr);
      r.queue.release_held();
      auto& ids = r.recorded[r.epoch];
      for (const auto& m : r.log)
        EXPECT_TRUE(ids.insert(payload_id(m.bytes.data())).second) << "message recorded twice";
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
  std::map<std::uint64_t, std::uint64_t> deliveries_;  // id -> receiver's epoch at delivery
  // (source, destination, tag) -> (posting order of the receive, message id) of each delivery.
  // Non-overtaking as MPI states it: of two receives that match messages of one stream, the one
  // posted first gets the older message (completions may be seen in any order).
  std::map<std::tuple<int, int, int>, std::vector<std::pair<std::uint64_t, std::uint64_t>>> streams_;
  std::uint64_t next_recv_ = 0;
  std::uint64_t snapshots_completed_ = 0;
};

std::uint64_t Sim::in_flight_checked_ = 0;
std::uint64_t Sim::cancels_checked_ = 0;

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
  // seen real channel state and cancellations, not only empty cuts.
  Sim sim(4, 99);
  sim.run(4000);
  sim.check();
  EXPECT_GT(Sim::in_flight_checked_, 0u);
  EXPECT_GT(Sim::cancels_checked_, 0u);
}

// Each broken variant, switched on in the product code, makes the simulation fail: it counts the
// failing cases of a fixed set (a protocol violation the engine detects counts as a failure).
class MutatedProtocol : public ::testing::TestWithParam<mutation::Kind> {
 protected:
  void TearDown() override { mutation::active = mutation::Kind::None; }
};

// The failing cases of a fixed set of runs with `kind` switched on (gtest failures intercepted; a
// protocol violation the engine detects counts as a failure).
int failing_cases(mutation::Kind kind, int* cases) {
  int failing = 0;
  *cases = 0;
  for (int ranks : {3, 5}) {
    for (int seed = 0; seed < 4; ++seed) {
      ::testing::TestPartResultArray results;
      bool threw = false;
      {
        ::testing::ScopedFakeTestPartResultReporter reporter(
            ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
        mutation::active = kind;
        try {
          Sim sim(ranks, static_cast<std::uint64_t>(seed) * 7919u + static_cast<std::uint64_t>(ranks));
          sim.run(4000, /*quiesce_steps=*/5000);  // a broken rule may never quiesce
          sim.check();
        } catch (const Error&) {
          threw = true;
        }
        mutation::active = mutation::Kind::None;
      }
      ++*cases;
      if (threw || results.size() > 0) ++failing;
    }
  }
  return failing;
}

TEST_P(MutatedProtocol, FailsTheSimulation) {
  int cases = 0;
  const int failing = failing_cases(GetParam(), &cases);
  std::printf("%d of %d simulation cases fail\n", failing, cases);
  std::fflush(stdout);
  EXPECT_GT(failing, 0) << "the simulation does not notice this broken rule";
}

TEST(MutatedProtocolBaseline, TheSameCasesPassUnbroken) {
  int cases = 0;
  EXPECT_EQ(failing_cases(mutation::Kind::None, &cases), 0) << "the mutation runs fail without a mutation";
  EXPECT_EQ(cases, 8);
}

INSTANTIATE_TEST_SUITE_P(Variants, MutatedProtocol,
                         ::testing::Values(mutation::Kind::ChannelClosedOnMarker, mutation::Kind::HeldAlwaysDeliverable,
                                           mutation::Kind::RecordedAfterHeld, mutation::Kind::ReceivesUncounted,
                                           mutation::Kind::WildcardTakesOpenChannel),
                         [](const ::testing::TestParamInfo<mutation::Kind>& info) {
                           switch (info.param) {
                             case mutation::Kind::ChannelClosedOnMarker: return "ChannelClosedOnMarker";
                             case mutation::Kind::HeldAlwaysDeliverable: return "HeldAlwaysDeliverable";
                             case mutation::Kind::RecordedAfterHeld: return "RecordedAfterHeld";
                             case mutation::Kind::ReceivesUncounted: return "ReceivesUncounted";
                             case mutation::Kind::WildcardTakesOpenChannel: return "WildcardTakesOpenChannel";
                             default: return "None";
                           }
                         });

}  // namespace
}  // namespace mpisnap::testing
