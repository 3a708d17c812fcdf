#include "protocol/snapshot_engine.hpp"

#include <string>

#include <mpisnap/error.hpp>

#include "common/mutation.hpp"

namespace mpisnap::protocol {

std::vector<std::uint64_t> encode(const Marker& m) {
  std::vector<std::uint64_t> w;
  w.reserve(2 + 2 * m.counts.size());
  w.push_back(m.seq);
  w.push_back(m.counts.size());
  for (const CommCount& c : m.counts) {
    w.push_back(value(c.comm));
    w.push_back(c.count);
  }
  return w;
}

Marker decode_marker(const std::uint64_t* words, std::size_t n) {
  if (n < 2 || n != 2 + 2 * words[1])
    throw Error("mpisnap: malformed marker (" + std::to_string(n) + " words)");
  Marker m;
  m.seq = words[0];
  for (std::size_t i = 0; i < words[1]; ++i)
    m.counts.push_back({CommId{words[2 + 2 * i]}, words[3 + 2 * i]});
  return m;
}

void SnapshotEngine::begin(SnapshotSeq seq, const SentCounts& sent, const ReceivedCounts& received) {
  if (phase_ != Phase::Idle)
    throw Error("mpisnap: internal: snapshot " + std::to_string(seq) + " begun while snapshot " +
                std::to_string(seq_) + " is still in progress");
  if (seq != seq_ + 1)
    throw Error("mpisnap: internal: snapshot " + std::to_string(seq) + " follows " + std::to_string(seq_));
  seq_ = seq;
  channels_.clear();
  open_ = 0;
  all_markers_known_ = false;
  sent_total_ = 0;
  received_total_ = 0;
  records_.clear();
  for (const auto& [ch, n] : received) {
    channels_[ch].got += n;
    received_total_ += n;
  }
  phase_ = Phase::Markers;
  for (const auto& [to, counts] : sent) {
    Marker m{seq, counts};
    for (const CommCount& c : counts) sent_total_ += c.count;
    port_.send_marker(to, m);
  }
  auto it = early_.find(seq);
  if (it != early_.end()) {
    for (const auto& [from, m] : it->second) apply_marker(from, m);
    early_.erase(it);
  }
  early_.erase(early_.begin(), early_.lower_bound(seq));
  progress();
}

void SnapshotEngine::check_not_over(ChannelKey ch, const Channel& c) const {
  if (c.announced && c.got > c.expected)
    throw Error("mpisnap: protocol violation in snapshot " + std::to_string(seq_) + ": rank " +
                std::to_string(value(self_)) + " consumed " + std::to_string(c.got) +
                " messages from world rank " + std::to_string(value(ch.source)) + " on communicator " +
                std::to_string(value(ch.comm)) + " but only " + std::to_string(c.expected) +
                " were sent before that rank's snapshot (a program whose ranks pass different numbers of "
                "safe points, say a loop whose trip count differs between ranks, gets this: every rank must "
                "pass the same safe points)");
}

void SnapshotEngine::apply_marker(WorldRank from, const Marker& m) {
  for (const CommCount& cc : m.counts) {
    ChannelKey key{cc.comm, from};
    Channel& c = channels_[key];
    if (c.announced)
      throw Error("mpisnap: protocol violation: two markers from world rank " + std::to_string(value(from)) +
                  " for snapshot " + std::to_string(m.seq));
    c.announced = true;
    c.expected = cc.count;
    check_not_over(key, c);
    if (!c.closed() && abandoned_ && abandoned_(cc.comm)) {
      // Sent to a communicator this rank has freed (its colours with it): the program never
      // receives these, nor would a restarted run.
      abandoned_total_ += c.expected - c.got;
      received_total_ += c.expected - c.got;  // accounted for at the commit's count, as abandoned
      c.expected = c.got;
    }
    if (!c.closed()) ++open_;
  }
}

void SnapshotEngine::mark_unannounced_closed() {
  for (auto& [key, c] : channels_) {
    if (c.announced) continue;
    c.announced = true;
    c.expected = 0;
    check_not_over(key, c);
  }
}

void SnapshotEngine::on_drained(ChannelKey ch) {
  Channel& c = channels_[ch];
  const bool was_open = c.announced && !c.closed();
  ++c.got;
  ++received_total_;
  check_not_over(ch, c);
  if (was_open && c.closed()) --open_;
  if (!c.announced && all_markers_known_) {
    // Nothing was announced and every marker is known: this message cannot belong to the cut.
    c.announced = true;
    check_not_over(ch, c);
  }
  update_closed();
}

bool SnapshotEngine::channel_closed(ChannelKey ch) const {
  if (!draining()) return true;
  auto it = channels_.find(ch);
  if (it == channels_.end()) return all_markers_known_;
  if (mutation::on(mutation::Kind::ChannelClosedOnMarker) && it->second.announced) return true;
  return it->second.closed() || (all_markers_known_ && !it->second.announced);
}

void SnapshotEngine::update_closed() {
  if (phase_ == Phase::Closing && open_ == 0) phase_ = Phase::Closed;
}

void SnapshotEngine::progress() {
  WorldRank from;
  Marker m;
  while (port_.poll_marker(from, m)) {
    if (m.seq == seq_ && draining()) {
      apply_marker(from, m);
    } else if (m.seq > seq_) {
      auto& slot = early_[m.seq];
      if (slot.count(from))
        throw Error("mpisnap: protocol violation: two markers from world rank " + std::to_string(value(from)) +
                    " for snapshot " + std::to_string(m.seq));
      slot.emplace(from, std::move(m));
    } else {
      throw Error("mpisnap: protocol violation: marker for snapshot " + std::to_string(m.seq) +
                  " from world rank " + std::to_string(value(from)) + " arrived at rank " +
                  std::to_string(value(self_)) + " after its channels closed");
    }
  }
  if (phase_ == Phase::Markers && port_.markers_delivered()) {
    port_.start_marker_barrier();
    phase_ = Phase::MarkerBarrier;
  }
  if (phase_ == Phase::MarkerBarrier && port_.marker_barrier_done()) {
    all_markers_known_ = true;
    mark_unannounced_closed();
    phase_ = Phase::Closing;
  }
  update_closed();
  if (phase_ == Phase::Done && port_.done_complete(records_)) phase_ = Phase::Complete;
}

void SnapshotEngine::start_done(const DoneRecord& mine) {
  if (phase_ != Phase::Closed) throw Error("mpisnap: internal: start_done outside phase Closed");
  phase_ = Phase::Done;
  port_.start_done(mine);
  progress();
}

std::vector<DoneRecord> SnapshotEngine::finish() {
  if (phase_ != Phase::Complete) throw Error("mpisnap: internal: finish before the snapshot completed");
  phase_ = Phase::Idle;
  channels_.clear();
  return std::move(records_);
}

std::optional<std::uint64_t> SnapshotEngine::announced(SnapshotSeq next, ChannelKey ch) const {
  auto it = early_.find(next);
  if (it == early_.end()) return std::nullopt;
  auto m = it->second.find(ch.source);
  if (m == it->second.end()) return std::nullopt;
  for (const CommCount& c : m->second.counts)
    if (c.comm == ch.comm) return c.count;
  return 0;
}

}  // namespace mpisnap::protocol
