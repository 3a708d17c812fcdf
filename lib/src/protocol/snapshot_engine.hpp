// The Chandy–Lamport bookkeeping of one rank, independent of MPI.
//
// Invariants (see lib/DESIGN.md):
//  * channel (c, j) of snapshot s is closed when j's marker for s announced n messages on c and
//    exactly n of them were consumed here: before this rank's snapshot s, or drained after it.
//    No marker from j for s means n = 0, known once the marker barrier completed.
//  * consuming more than announced is a protocol violation and throws: it would mean a message
//    sent after j's snapshot was taken as channel state.
//  * snapshot s+1 may begin only after snapshot s is complete (colors are reused modulo 2).
//  * a channel of an abandoned communicator (set_abandoned: this rank freed it, or never holds
//    it, and drains nothing from it) closes when its marker arrives: what was announced beyond
//    what this rank consumed is counted as abandoned, not awaited. Consuming more than announced
//    is still a violation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "protocol/control_port.hpp"
#include "protocol/types.hpp"

namespace mpisnap::protocol {

class SnapshotEngine {
 public:
  enum class Phase {
    Idle,           // no snapshot in progress on this rank
    Markers,        // markers sent, waiting until all were received
    MarkerBarrier,  // in the NBX barrier
    Closing,        // every marker known, some channel still open
    Closed,         // every incoming channel closed: the rank's part can be written
    Done,           // in the done gather/barrier
    Complete,       // every rank finished snapshot `seq`
  };

  using SentCounts = std::vector<std::pair<WorldRank, std::vector<CommCount>>>;
  using ReceivedCounts = std::vector<std::pair<ChannelKey, std::uint64_t>>;

  SnapshotEngine(ControlPort& port, WorldRank self) : port_(port), self_(self) {}

  // This rank takes snapshot `seq` (= last + 1). `sent`: per destination, messages sent in the
  // closing epoch per communicator (nonzero only). `received`: per channel, messages of the
  // closing epoch consumed before the snapshot (nonzero only).
  void begin(SnapshotSeq seq, const SentCounts& sent, const ReceivedCounts& received);

  // An old-color message from `ch` was drained after the snapshot.
  void on_drained(ChannelKey ch);

  // Says which communicators this rank will drain nothing from (decided before a snapshot begins
  // and fixed while it runs). Without it every announced message is awaited.
  void set_abandoned(std::function<bool(CommId)> abandoned) { abandoned_ = std::move(abandoned); }
  // Messages announced on abandoned channels and never consumed here, over every snapshot.
  std::uint64_t abandoned_total() const noexcept { return abandoned_total_; }

  // Moves every phase that can move; cheap when nothing arrived. Safe to call in any phase.
  void progress();

  // Called in phase Closed, after this rank's files are written (or failed).
  void start_done(const DoneRecord& mine);
  // Complete -> Idle; returns the gathered records (rank 0) for the commit.
  std::vector<DoneRecord> finish();

  Phase phase() const noexcept { return phase_; }
  SnapshotSeq seq() const noexcept { return seq_; }
  bool active() const noexcept { return phase_ != Phase::Idle; }
  bool draining() const noexcept { return phase_ == Phase::Markers || phase_ == Phase::MarkerBarrier || phase_ == Phase::Closing; }
  bool channel_closed(ChannelKey ch) const;

  std::uint64_t sent_before_total() const noexcept { return sent_total_; }
  // Consumed before the snapshot + drained + abandoned: what the commit sets against the sent.
  std::uint64_t received_before_total() const noexcept { return received_total_; }

  // For diagnosing a misplaced safe point before this rank takes snapshot `next`: what `source`
  // announced for `comm` in its marker for `next`, if that marker has arrived (0 if not listed).
  std::optional<std::uint64_t> announced(SnapshotSeq next, ChannelKey ch) const;

 private:
  struct Channel {
    std::uint64_t got = 0;        // consumed: before the snapshot + drained
    bool announced = false;
    std::uint64_t expected = 0;
    bool closed() const noexcept { return announced && got == expected; }
  };

  void apply_marker(WorldRank from, const Marker& m);
  void mark_unannounced_closed();
  void check_not_over(ChannelKey ch, const Channel& c) const;
  void update_closed();

  ControlPort& port_;
  WorldRank self_;
  Phase phase_ = Phase::Idle;
  SnapshotSeq seq_ = 0;  // the snapshot in progress, or the last one
  std::unordered_map<ChannelKey, Channel, ChannelKeyHash> channels_;
  std::size_t open_ = 0;  // announced channels with got < expected
  bool all_markers_known_ = false;
  std::uint64_t sent_total_ = 0;
  std::uint64_t received_total_ = 0;
  // Markers that arrived for a snapshot this rank has not begun: seq -> (from -> marker).
  std::map<SnapshotSeq, std::map<WorldRank, Marker>> early_;
  std::vector<DoneRecord> records_;
  std::function<bool(CommId)> abandoned_;
  std::uint64_t abandoned_total_ = 0;
};

}  // namespace mpisnap::protocol
