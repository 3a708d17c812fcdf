#include "scale_sim.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>

#include "mpi/peer_counters.hpp"
#include "protocol/snapshot_engine.hpp"
#include "protocol/trigger_agreement.hpp"

namespace mpisnap::sim {

const char* name(Pattern p) {
  switch (p) {
    case Pattern::Ring: return "ring";
    case Pattern::Stencil3d: return "3-D stencil (26)";
    case Pattern::RandomSparse: return "random sparse";
  }
  return "?";
}

namespace {

using protocol::AgreementMessage;
using protocol::CommId;
using protocol::DoneRecord;
using protocol::Marker;
using protocol::SnapshotEngine;
using protocol::TriggerAgreement;
using protocol::TriggerKind;
using protocol::WorldRank;

constexpr CommId kWorld{1};

// Code of the network and of the modelled MPI runs as nobody: its memory is not the rank's.
class Nobody {
 public:
  Nobody() : saved_(meter::owner()) { meter::set_owner(-1); }
  ~Nobody() { meter::set_owner(saved_); }
  Nobody(const Nobody&) = delete;
  Nobody& operator=(const Nobody&) = delete;

 private:
  int saved_;
};

enum class Kind : std::uint8_t { Marker, MarkerAck, Agreement, CollUp, CollDown };
enum Coll : std::uint8_t { kMarkerBarrier, kDoneGather, kDoneBarrier, kAgreementReduce, kColls };

struct Msg {
  int from = 0;
  int to = 0;
  Kind kind = Kind::Marker;
  std::uint8_t coll = 0;
  std::uint64_t gen = 0;
  std::vector<std::uint64_t> words;
};

// A collective as a binary tree over the ranks (children 2r+1, 2r+2): contributions combined on
// the way up, the result sent down (not for a gather, which completes at the root).
struct CollState {
  std::uint64_t gen = 0;  // entered this many times
  bool entered = false, up_sent = false, done = false;
  int ups = 0;
  std::vector<std::uint64_t> acc;
  std::vector<Msg> early;  // ups of the next generation, from children that entered first
};

class Sim;

class ControlPort final : public protocol::ControlPort {
 public:
  ControlPort(Sim& sim, int rank) : sim_(sim), rank_(rank) {}
  void send_marker(WorldRank to, const Marker& m) override;
  bool markers_delivered() override { return unacked == 0; }
  bool poll_marker(WorldRank& from, Marker& m) override;
  void start_marker_barrier() override;
  bool marker_barrier_done() override;
  void start_done(const DoneRecord& mine) override;
  bool done_complete(std::vector<DoneRecord>& at_root) override;

  int unacked = 0;
  std::deque<std::pair<int, std::vector<std::uint64_t>>> arrived;  // (source, marker as sent)

 private:
  Sim& sim_;
  int rank_;
};

class AgreementPort final : public protocol::AgreementPort {
 public:
  AgreementPort(Sim& sim, int rank) : sim_(sim), rank_(rank) {}
  void send(int to, const AgreementMessage& m) override;
  bool poll(AgreementMessage& m) override;
  void start_reduce(const std::uint64_t in[3]) override;
  bool reduce_done(std::uint64_t out[3]) override;

  std::deque<AgreementMessage> arrived;

 private:
  Sim& sim_;
  int rank_;
};

struct SimRank {
  SimRank(Sim& sim, int r, int size) : control(sim, r), agreement_port(sim, r) {
    meter::set_owner(r);
    engine = std::make_unique<SnapshotEngine>(control, WorldRank{r});
    agreement = std::make_unique<TriggerAgreement>(agreement_port, r, size);
    meter::set_owner(counters_owner(r, size));
    counters = std::make_unique<mpi::PeerCounters>();
    meter::set_owner(-1);
  }
  // The meter's owner of rank r's message counters (metered apart from the engine and agreement).
  static int counters_owner(int r, int size) { return size + r; }
  ControlPort control;
  AgreementPort agreement_port;
  std::unique_ptr<SnapshotEngine> engine;
  std::unique_ptr<TriggerAgreement> agreement;
  // The runtime's per-peer message counters of its communicator (mpi::CommEntry::peers, as shipped):
  // the application's messages count in them and each snapshot's counts come out of them.
  std::unique_ptr<mpi::PeerCounters> counters;
  CollState coll[kColls];
  std::vector<int> out, in;  // the application's peers: sends to, receives from
  std::uint64_t safe_points = 0;
  int countdown = 0;
  bool waiting = false;        // at a safe point until the agreement is known
  bool snapshot_due = false;   // at a safe point until the previous snapshot completed
  std::vector<std::pair<int, int>> drains;  // (source, messages still in flight to drain)
  int decided_for = 0;         // checkpoints whose target this rank has known
};

class Sim {
 public:
  explicit Sim(const Config& c) : c_(c), p_(c.ranks), rng_(c.seed), begun_(static_cast<std::size_t>(c.ranks), 0) {
    if (p_ < 2) throw std::invalid_argument("scale_sim: at least 2 ranks");
    stats_.resize(static_cast<std::size_t>(p_));
    inbox_.resize(static_cast<std::size_t>(p_));
    ranks_.reserve(static_cast<std::size_t>(p_));
    for (int r = 0; r < p_; ++r) ranks_.push_back(std::make_unique<SimRank>(*this, r, p_));
    peers();
    for (int r = 0; r < p_; ++r) ranks_[static_cast<std::size_t>(r)]->countdown = 1 + static_cast<int>(rng_() % kStep);
  }

  Result run();

  // ---- the network (used by the ports)
  void send(Msg m, bool ours) {
    const std::uint64_t bytes = 8 * m.words.size();
    auto& s = stats_[static_cast<std::size_t>(m.from)];
    (ours ? s.ours_sent : s.mpi_sent).messages += 1;
    (ours ? s.ours_sent : s.mpi_sent).bytes += bytes;
    auto& d = stats_[static_cast<std::size_t>(m.to)];
    (ours ? d.ours_received : d.mpi_received).messages += 1;
    (ours ? d.ours_received : d.mpi_received).bytes += bytes;
    if (ours && m.kind == Kind::Agreement && m.to == 0 && m.words[0] == AgreementMessage::Request) ++requests_at_root_;
    next_.push_back(std::move(m));
  }
  SimRank& rank(int r) { return *ranks_[static_cast<std::size_t>(r)]; }
  int size() const { return p_; }

  void enter(int r, Coll k, std::vector<std::uint64_t> mine);
  bool coll_done(int r, Coll k) { return rank(r).coll[k].done; }

 private:
  static constexpr int kStep = 6;  // rounds of computation between safe points
  void peers();
  void deliver();
  void dispatch(int r, Msg& m);
  void coll_up(int r, Coll k);
  void coll_finish(int r, Coll k, const std::vector<std::uint64_t>& result);
  void combine(Coll k, std::vector<std::uint64_t>& acc, const std::vector<std::uint64_t>& in);
  void step(int r);
  void begin_snapshot(int r);
  int in_flight(int from, int to, std::uint64_t seq) const {
    std::uint64_t h = (static_cast<std::uint64_t>(from) * 0x9E3779B97F4A7C15ull) ^ (static_cast<std::uint64_t>(to) << 21) ^ (seq * 0xBF58476D1CE4E5B9ull) ^ c_.seed;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    return static_cast<int>(h % static_cast<std::uint64_t>(std::min(3, c_.messages_per_epoch + 1)));
  }

  Config c_;
  int p_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<SimRank>> ranks_;
  std::vector<RankStats> stats_;
  std::vector<Msg> next_;                  // sent this round, received next round
  std::vector<std::vector<Msg>> inbox_;
  std::vector<std::uint64_t> begun_;       // snapshots begun, per rank
  std::uint64_t requests_at_root_ = 0;
  int round_ = 0;
  // the checkpoint in progress
  int checkpoint_ = 0;                     // checkpoints triggered so far
  int trigger_round_ = 0;
  int decided_round_ = 0, last_begin_round_ = 0, complete_round_ = 0;
  int decided_ranks_ = 0, completed_ranks_ = 0;
  int next_trigger_ = 3;
  Result result_;
};

// ---- ports

void ControlPort::send_marker(WorldRank to, const Marker& m) {
  Nobody n;
  ++unacked;
  sim_.send({rank_, protocol::value(to), Kind::Marker, 0, 0, protocol::encode(m)}, true);
}

bool ControlPort::poll_marker(WorldRank& from, Marker& m) {
  if (arrived.empty()) return false;
  // Decoded by the rank (the engine keeps what it holds of a marker), as MpiControlPort does.
  from = WorldRank{arrived.front().first};
  m = protocol::decode_marker(arrived.front().second.data(), arrived.front().second.size());
  Nobody n;
  arrived.pop_front();
  sim_.send({rank_, protocol::value(from), Kind::MarkerAck, 0, 0, {}}, false);  // the synchronous send's completion
  return true;
}

void ControlPort::start_marker_barrier() {
  Nobody n;
  sim_.enter(rank_, kMarkerBarrier, {});
}
bool ControlPort::marker_barrier_done() { return sim_.coll_done(rank_, kMarkerBarrier); }

void ControlPort::start_done(const DoneRecord& d) {
  Nobody n;
  std::vector<std::uint64_t> words(1 + DoneRecord::kWords);  // (rank, record): the gather's order is the tree's
  words[0] = static_cast<std::uint64_t>(rank_);
  d.to_words(&words[1]);
  sim_.enter(rank_, kDoneGather, std::move(words));
  sim_.enter(rank_, kDoneBarrier, {});
}

bool ControlPort::done_complete(std::vector<DoneRecord>& at_root) {
  if (!sim_.coll_done(rank_, kDoneGather) || !sim_.coll_done(rank_, kDoneBarrier)) return false;
  at_root.clear();
  if (rank_ != 0) return true;
  at_root.resize(static_cast<std::size_t>(sim_.size()));  // the engine's own memory: counted as the rank's
  const auto& w = sim_.rank(0).coll[kDoneGather].acc;
  constexpr std::size_t kStride = 1 + DoneRecord::kWords;
  for (std::size_t i = 0; i + kStride <= w.size(); i += kStride)
    at_root[static_cast<std::size_t>(w[i])] = DoneRecord::from_words(&w[i + 1]);
  return true;
}

void AgreementPort::send(int to, const AgreementMessage& m) {
  Nobody n;
  sim_.send({rank_, to, Kind::Agreement, 0, 0, {m.type, m.round, m.kind_or_ok}}, true);
}

bool AgreementPort::poll(AgreementMessage& m) {
  if (arrived.empty()) return false;
  m = arrived.front();
  arrived.pop_front();
  return true;
}

void AgreementPort::start_reduce(const std::uint64_t in[3]) {
  Nobody n;
  sim_.enter(rank_, kAgreementReduce, {in[0], in[1], in[2]});
}

bool AgreementPort::reduce_done(std::uint64_t out[3]) {
  if (!sim_.coll_done(rank_, kAgreementReduce)) return false;
  const auto& acc = sim_.rank(rank_).coll[kAgreementReduce].acc;
  std::copy(acc.begin(), acc.begin() + 3, out);
  return true;
}

// ---- the modelled collectives

void Sim::combine(Coll k, std::vector<std::uint64_t>& acc, const std::vector<std::uint64_t>& in) {
  if (k == kDoneGather) {
    acc.insert(acc.end(), in.begin(), in.end());
  } else if (k == kAgreementReduce) {
    for (std::size_t i = 0; i < 3; ++i) acc[i] = std::max(acc[i], in[i]);
  }
}

void Sim::enter(int r, Coll k, std::vector<std::uint64_t> mine) {
  CollState& s = rank(r).coll[k];
  if (s.entered && !s.done) throw std::logic_error("scale_sim: a collective entered twice");
  ++s.gen;
  s.entered = true;
  s.done = s.up_sent = false;
  s.ups = 0;
  s.acc = std::move(mine);
  std::vector<Msg> early = std::move(s.early);
  s.early.clear();
  for (Msg& m : early) {
    if (m.gen != s.gen) throw std::logic_error("scale_sim: a collective two generations ahead");
    combine(k, s.acc, m.words);
    ++s.ups;
  }
  coll_up(r, k);
}

void Sim::coll_up(int r, Coll k) {
  CollState& s = rank(r).coll[k];
  int children = 0;
  for (int c = 2 * r + 1; c <= 2 * r + 2; ++c) children += c < p_;
  if (!s.entered || s.up_sent || s.ups < children) return;
  s.up_sent = true;
  if (r == 0) {
    coll_finish(r, k, s.acc);
    return;
  }
  send({r, (r - 1) / 2, Kind::CollUp, k, s.gen, s.acc}, false);
  if (k == kDoneGather) {  // a gather completes where it is not the root once its part is sent
    s.done = true;
    s.entered = false;
    s.acc.clear();
    s.acc.shrink_to_fit();
  }
}

void Sim::coll_finish(int r, Coll k, const std::vector<std::uint64_t>& result) {
  CollState& s = rank(r).coll[k];
  if (k != kDoneGather) {
    s.acc = result;
    for (int c = 2 * r + 1; c <= 2 * r + 2; ++c)
      if (c < p_) send({r, c, Kind::CollDown, k, s.gen, k == kAgreementReduce ? result : std::vector<std::uint64_t>{}}, false);
  }
  s.done = true;
  s.entered = false;
}

void Sim::dispatch(int r, Msg& m) {
  SimRank& me = rank(r);
  switch (m.kind) {
    case Kind::Marker:
      me.control.arrived.emplace_back(m.from, std::move(m.words));
      break;
    case Kind::MarkerAck:
      --me.control.unacked;
      break;
    case Kind::Agreement: {
      AgreementMessage a;
      a.type = static_cast<AgreementMessage::Type>(m.words[0]);
      a.round = m.words[1];
      a.kind_or_ok = m.words[2];
      a.from = m.from;
      me.agreement_port.arrived.push_back(a);
      break;
    }
    case Kind::CollUp: {
      CollState& s = me.coll[m.coll];
      if (m.gen == s.gen && s.entered) {
        combine(static_cast<Coll>(m.coll), s.acc, m.words);
        ++s.ups;
        coll_up(r, static_cast<Coll>(m.coll));
      } else if (m.gen == s.gen + 1) {
        s.early.push_back(std::move(m));
      } else {
        throw std::logic_error("scale_sim: a collective's contribution out of order");
      }
      break;
    }
    case Kind::CollDown:
      coll_finish(r, static_cast<Coll>(m.coll), m.words);
      break;
  }
}

void Sim::deliver() {
  for (Msg& m : next_) inbox_[static_cast<std::size_t>(m.to)].push_back(std::move(m));
  next_.clear();
}

// ---- the application's pattern

void Sim::peers() {
  std::vector<std::set<int>> out(static_cast<std::size_t>(p_));
  if (c_.pattern == Pattern::Ring) {
    for (int r = 0; r < p_; ++r) {
      out[static_cast<std::size_t>(r)].insert((r + 1) % p_);
      out[static_cast<std::size_t>(r)].insert((r + p_ - 1) % p_);
    }
  } else if (c_.pattern == Pattern::Stencil3d) {
    // The most cubic grid, as MPI_Dims_create would choose it; periodic, 26 neighbours.
    int best[3] = {p_, 1, 1};
    for (int a = 1; a * a * a <= p_; ++a) {
      if (p_ % a) continue;
      for (int b = a; a * b * b <= p_; ++b) {
        if ((p_ / a) % b) continue;
        const int cc = p_ / a / b;
        if (cc - a < best[0] - best[2]) best[0] = cc, best[1] = b, best[2] = a;
      }
    }
    const int X = best[0], Y = best[1], Z = best[2];
    for (int r = 0; r < p_; ++r) {
      const int x = r % X, y = (r / X) % Y, z = r / X / Y;
      for (int dx = -1; dx <= 1; ++dx)
        for (int dy = -1; dy <= 1; ++dy)
          for (int dz = -1; dz <= 1; ++dz) {
            const int q = (x + dx + X) % X + X * ((y + dy + Y) % Y) + X * Y * ((z + dz + Z) % Z);
            if (q != r) out[static_cast<std::size_t>(r)].insert(q);
          }
    }
  } else {
    for (int r = 0; r < p_; ++r)
      while (static_cast<int>(out[static_cast<std::size_t>(r)].size()) < std::min(c_.random_fanout, p_ - 1)) {
        const int q = static_cast<int>(rng_() % static_cast<std::uint64_t>(p_));
        if (q != r) out[static_cast<std::size_t>(r)].insert(q);
      }
  }
  for (int r = 0; r < p_; ++r)
    for (int q : out[static_cast<std::size_t>(r)]) rank(q).in.push_back(r);
  for (int r = 0; r < p_; ++r) {
    SimRank& me = rank(r);
    me.out.assign(out[static_cast<std::size_t>(r)].begin(), out[static_cast<std::size_t>(r)].end());
    std::set<int> all(me.out.begin(), me.out.end());
    all.insert(me.in.begin(), me.in.end());
    stats_[static_cast<std::size_t>(r)].peers = static_cast<int>(all.size());
  }
}

void Sim::begin_snapshot(int r) {
  SimRank& me = rank(r);
  const std::uint64_t seq = me.engine->seq() + 1;
  SnapshotEngine::SentCounts sent;
  SnapshotEngine::ReceivedCounts received;
  me.drains.clear();
  // The epoch's messages count in the rank's counters (as the runtime's sends and receives do), and
  // the engine's input comes out of them (as in mpi::CommTable::begin_epoch; in the simulation a
  // communicator rank is the world rank).
  meter::set_owner(SimRank::counters_owner(r, p_));
  for (int q : me.out) me.counters->at(q).sent += static_cast<std::uint64_t>(c_.messages_per_epoch);
  for (int q : me.in) {
    const int f = in_flight(q, r, seq);
    me.counters->at(q).received += static_cast<std::uint64_t>(c_.messages_per_epoch - f);
  }
  {
    Nobody n;  // the counts are the engine's input, not its state
    me.counters->end_epoch([&](int q, std::uint64_t k) { sent.push_back({WorldRank{q}, {{kWorld, k}}}); },
                           [&](int q, std::uint64_t k) { received.push_back({{kWorld, WorldRank{q}}, k}); });
    for (int q : me.in)
      if (const int f = in_flight(q, r, seq); f > 0) me.drains.push_back({q, f});
  }
  begun_[static_cast<std::size_t>(r)] = seq;
  last_begin_round_ = std::max(last_begin_round_, round_);
  meter::set_owner(r);
  me.engine->begin(seq, sent, received);
  meter::set_owner(-1);
}

void Sim::step(int r) {
  SimRank& me = rank(r);
  {
    auto& box = inbox_[static_cast<std::size_t>(r)];
    for (Msg& m : box) dispatch(r, m);
    box.clear();
  }
  meter::set_owner(r);
  me.agreement->progress(me.safe_points);
  me.engine->progress();
  // Messages in flight across the cut arrive, one per channel and round, once their sender snapped.
  if (me.engine->draining())
    for (auto& [q, left] : me.drains)
      if (left > 0 && begun_[static_cast<std::size_t>(q)] >= me.engine->seq()) {
        --left;
        me.engine->on_drained({kWorld, WorldRank{q}});
      }
  if (me.engine->phase() == SnapshotEngine::Phase::Closed) {
    DoneRecord d;
    d.sent_before = me.engine->sent_before_total();
    d.received_before = me.engine->received_before_total();
    d.digest = static_cast<std::uint64_t>(r) * 31 + me.engine->seq();
    me.engine->start_done(d);
  }
  if (me.engine->phase() == SnapshotEngine::Phase::Complete) {
    std::vector<DoneRecord> records = me.engine->finish();
    meter::set_owner(-1);
    if (r == 0) {  // what rank 0's commit checks: every channel balances
      std::uint64_t sent = 0, got = 0;
      for (const DoneRecord& d : records) sent += d.sent_before, got += d.received_before;
      if (sent != got || records.size() != static_cast<std::size_t>(p_))
        throw std::runtime_error("scale_sim: the channels do not balance at the commit");
    }
    meter::set_owner(r);
    complete_round_ = std::max(complete_round_, round_);
    ++completed_ranks_;
  }
  if (me.agreement->decided() && me.decided_for < checkpoint_) {
    me.decided_for = checkpoint_;
    decided_round_ = std::max(decided_round_, round_);
    ++decided_ranks_;
  }
  // The application: a safe point every kStep rounds.
  if (!me.waiting && !me.snapshot_due && --me.countdown == 0) {
    me.countdown = kStep;
    ++me.safe_points;
    me.waiting = true;
  }
  if (me.waiting) {
    const auto d = me.agreement->at_safe_point(me.safe_points);
    if (d == TriggerAgreement::Decision::Snapshot) {
      if (me.decided_for < checkpoint_) {  // decided and taken in one step
        me.decided_for = checkpoint_;
        decided_round_ = std::max(decided_round_, round_);
        ++decided_ranks_;
      }
      me.snapshot_due = true;
    }
    me.waiting = d == TriggerAgreement::Decision::Wait;
  }
  if (me.snapshot_due && !me.engine->active()) {
    me.snapshot_due = false;
    meter::set_owner(-1);
    begin_snapshot(r);
  }
  meter::set_owner(-1);
}

Result Sim::run() {
  const int limit = 200000;
  for (round_ = 0; round_ < limit; ++round_) {
    deliver();
    if (round_ == next_trigger_ && checkpoint_ < c_.checkpoints) {
      ++checkpoint_;
      trigger_round_ = round_;
      decided_round_ = last_begin_round_ = complete_round_ = 0;
      decided_ranks_ = completed_ranks_ = 0;
      for (int r = 0; r < (c_.every_rank_triggers ? p_ : 1); ++r) {
        meter::set_owner(r);
        rank(r).agreement->trigger(TriggerKind::Checkpoint);
      }
      meter::set_owner(-1);
    }
    for (int r = 0; r < p_; ++r) step(r);
    if (checkpoint_ > 0 && completed_ranks_ == p_ && next_trigger_ <= trigger_round_) {
      if (decided_ranks_ != p_) throw std::runtime_error("scale_sim: a rank snapshotted without knowing the target");
      result_.agreement_rounds.push_back(decided_round_ - trigger_round_);
      result_.completion_rounds.push_back(complete_round_ - last_begin_round_);
      result_.total_rounds.push_back(complete_round_ - trigger_round_);
      if (checkpoint_ == c_.checkpoints) {
        result_.checkpoints = checkpoint_;
        result_.requests_at_root = requests_at_root_;
        for (int r = 0; r < p_; ++r) {
          stats_[static_cast<std::size_t>(r)].peak_bytes = meter::peak(r);
          stats_[static_cast<std::size_t>(r)].counter_bytes = meter::peak(SimRank::counters_owner(r, p_));
        }
        result_.ranks = std::move(stats_);
        return std::move(result_);
      }
      next_trigger_ = round_ + 3;
    }
  }
  throw std::runtime_error("scale_sim: no progress after " + std::to_string(limit) + " rounds at checkpoint " +
                           std::to_string(checkpoint_) + " (" + std::to_string(completed_ranks_) + " of " +
                           std::to_string(p_) + " ranks complete)");
}

}  // namespace

Result run(const Config& c) {
  meter::begin(2 * c.ranks);  // each rank's engine and agreement, then each rank's counters
  try {
    Result r;
    {
      Sim sim(c);
      r = sim.run();
      meter::set_owner(-1);
    }
    meter::end();
    return r;
  } catch (...) {
    meter::end();
    throw;
  }
}

}  // namespace mpisnap::sim
