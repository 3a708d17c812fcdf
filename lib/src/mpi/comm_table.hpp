// The application's communicators as the library sees them: for each, the two colored shadow
// communicators, the agreed id, the rank map and the per-peer message counters.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "mpi/flat_map.hpp"
#include "mpi/peer_counters.hpp"
#include "mpi/pmpi.hpp"
#include "protocol/snapshot_engine.hpp"
#include "protocol/types.hpp"

namespace mpisnap::mpi {

struct CommEntry {
  MPI_Comm app = MPI_COMM_NULL;            // the application's handle (never used for traffic)
  MPI_Comm color[2] = {MPI_COMM_NULL, MPI_COMM_NULL};
  MPI_Comm current = MPI_COMM_NULL;        // color[epoch % 2]: where traffic goes now
  protocol::CommId id{0};
  int size = 0;
  int rank = 0;
  bool retired = false;                    // freed by the application; kept until a snapshot drained it
  std::uint64_t retired_epoch = 0;         // the epoch (snapshots begun) when it was freed
  // Retired, and its colours freed at once (no snapshot was under way, nothing referred to it): only
  // its counters stay, for the next cut, which drains nothing from it (Runtime::release_colors).
  bool released = false;
  std::vector<int> world;                  // peer rank (remote group for an intercommunicator) -> world rank
  bool inter = false;
  std::vector<int> local_world;            // intercommunicator: the local group's world ranks
  // Its colors' error handler is MPI_ERRORS_ARE_FATAL: an error in a call on them ends the job,
  // so a blocking receive may be counted before it returns (interpose/fast_path.hpp).
  bool errors_fatal = false;
  // Where the error of a receive the library completes for the application must go (mpi::test_for):
  // nowhere special when errors are fatal (any handler that sees it ends the job), else `app`'s handler.
  MPI_Comm errors_to() const noexcept { return errors_fatal ? MPI_COMM_NULL : app; }

  // Per peer (communicator rank) it has exchanged messages with: the epoch's counts and the
  // cumulative totals (mpi/peer_counters.hpp).
  PeerCounters peers;
  std::uint64_t collectives = 0;           // collective calls made on it, cumulative like the totals
  std::uint64_t idups = 0;                 // MPI_Comm_idup calls on it (names the children's ids)
  // Lineage (Runtime::lineage_id): the id of the communicator it was made from (~0: none known)
  // and its slot among the live communicators made from that parent with the same members.
  std::uint64_t parent = ~std::uint64_t{0};
  std::uint64_t slot = 0;

  MPI_Comm old_color() const noexcept { return current == color[0] ? color[1] : color[0]; }
  // Both epochs on one color (an MPI_Comm_idup communicator in a run without snapshots).
  bool one_color() const noexcept { return color[0] == color[1] && color[0] != MPI_COMM_NULL; }
  protocol::WorldRank world_of(int r) const noexcept { return protocol::WorldRank{world[static_cast<std::size_t>(r)]}; }
  bool valid_peer(int r) const noexcept { return static_cast<unsigned>(r) < static_cast<unsigned>(size); }
  // A message to or from `peer` in the current epoch (MPI_PROC_NULL and other non-ranks: nothing).
  void count_sent(int peer) {
    if (valid_peer(peer)) ++peers.at(peer).sent;
  }
  void count_received(int peer) {
    if (valid_peer(peer)) ++peers.at(peer).received;
  }
  // A message taken from `peer` into the replay queue: received, and held (not delivered yet).
  void count_held(int peer) {
    if (!valid_peer(peer)) return;
    PeerCount& c = peers.at(peer);
    ++c.received;
    ++c.held_in;
  }
  // A held message from `peer` handed to the application (it was counted received when taken).
  void count_delivered(int peer) {
    if (valid_peer(peer)) ++peers.at(peer).delivered_total;
  }
  // The counter a receive from `peer` will count in, found before the call (it does not move).
  std::uint64_t* received_counter(int peer) {
    return valid_peer(peer) ? &peers.at(peer).received : nullptr;
  }

  // ---- The counting rules. Every send and every receive of every path (the inlined fast path,
  // the runtime's calls, persistent operations, Sendrecv, completions) counts through these, so
  // that no two paths can count differently: a wrong count is an inexact cut.
  //
  // A send counts once MPI accepted it (MPI_SUCCESS): a send MPI refused never arrives, and a
  // count for it would keep its channel open forever. When the communicator's errors are fatal an
  // error ends the job, so the count may come first and `start(current)` stays a tail call.
  template <class Start>
  int counted_send(int dest, Start&& start) {
    if (errors_fatal) [[likely]]
      return start(counted_before(dest));
    const int rc = start(current);
    if (rc == MPI_SUCCESS) count_sent(dest);
    return rc;
  }
  // The fatal case of counted_send: counts, and returns the color to send on. Only where errors_fatal.
  MPI_Comm counted_before(int dest) {
    count_sent(dest);
    return current;
  }
  // The fast path's counting: the same rules, without a call. Each answers false, and counts
  // nothing, when the peer is not the cached one (`..._if_cached`: one compare, for a wrapper's
  // inlined path, where a call or a probe loop would make every call save and restore registers)
  // or has no counters yet (`..._if_seen`: a map probe, out of line; the caller then takes the
  // slow path, which makes them and counts through the rules above). Non-ranks (MPI_PROC_NULL)
  // count nothing, as above. Only where errors_fatal.
  bool count_sent_if_cached(int dest) noexcept { return count_if(dest, &PeerCount::sent, false); }
  bool count_received_if_cached(int source) noexcept { return count_if(source, &PeerCount::received, false); }
  bool count_sent_if_seen(int dest) noexcept { return count_if(dest, &PeerCount::sent, true); }
  bool count_received_if_seen(int source) noexcept { return count_if(source, &PeerCount::received, true); }
  // A receive (or the completion of one) that returned `rc` counts when its message left MPI:
  // on success and on truncation, from the status's source; not on errors found before matching.
  void count_receipt(int rc, const MPI_Status& st) {
    if (message_consumed(rc)) count_received(st.MPI_SOURCE);
  }

 private:
  bool count_if(int peer, std::uint64_t PeerCount::*count, bool probe) noexcept {
    PeerCount* c = probe ? peers.seen(peer) : peers.cached(peer);  // (null for a non-rank: never cached)
    if (!c) [[unlikely]]
      return !valid_peer(peer);  // a non-rank (MPI_PROC_NULL) counts nothing
    ++(c->*count);
    return true;
  }
};

class CommTable {
 public:
  // The fast path: the entry of the communicator last found when `app` is that one and the gate is
  // open, else nullptr. Three gates, each open only when the one before is, set by the runtime from
  // its mode (Runtime::refresh_mode): `idle` (no protocol work pending), `no_window` (also: no
  // receive goes through the window) and `direct` (also: a blocking call may block inside MPI, no
  // snapshot being possible); and `watched`, open where `direct` is not only because a snapshot is
  // possible: a blocking call may block inside MPI too, published to the helper's watch (only for a
  // communicator whose errors are fatal: the inlined watched receive counts without looking at the
  // return code). A closed gate is a key no application handle equals, so each test is one compare.
  enum Gate { kIdle, kNoWindow, kDirect, kWatched, kGates };
  template <Gate G>
  CommEntry* gated(MPI_Comm app) const noexcept {
    if (app != gate_key_[G]) return nullptr;
    if (!last_) __builtin_unreachable();  // (a gate's key is a handle only while last_ is set: rekey)
    return last_;
  }
  // A communicator's error handler changed (CommEntry::errors_fatal): the watched gate follows it.
  void set_errors_fatal(CommEntry& e, bool fatal) noexcept {
    e.errors_fatal = fatal;
    rekey();
  }
  void set_gates(bool idle, bool no_window, bool direct, bool watched) noexcept {
    gate_open_[kIdle] = idle;
    gate_open_[kNoWindow] = idle && no_window;
    gate_open_[kDirect] = idle && no_window && direct;
    gate_open_[kWatched] = idle && no_window && !direct && watched;
    rekey();
  }
  // The entry for an application handle, or nullptr; it becomes the cached one.
  CommEntry* find(MPI_Comm app) noexcept {
    if (app == last_key_ && last_) return last_;
    return find_and_cache(app);
  }
  CommEntry* find_id(protocol::CommId id) noexcept {
    auto it = by_id_.find(protocol::value(id));
    return it == by_id_.end() ? nullptr : it->second;
  }

  CommEntry& add(std::unique_ptr<CommEntry> e);
  // The application freed `app`: the entry stays (its messages may still be in flight and must be
  // counted and drained by the next snapshot) but the handle no longer finds it.
  CommEntry* retire(MPI_Comm app, std::uint64_t epoch);
  // Removes the entries retired in an epoch before `epoch_bound` and returns them, so the caller
  // can free their colors.
  std::vector<std::unique_ptr<CommEntry>> take_retired(std::uint64_t epoch_bound);
  // Removes one retired entry and returns it.
  std::unique_ptr<CommEntry> take(CommEntry& retired);
  // Puts a retired entry back (something still refers to it).
  void keep_retired(std::unique_ptr<CommEntry> e);

  // The cut's counters at a snapshot (the real code the protocol simulation drives): each entry's
  // counts of the epoch that ends become the engine's input — what this rank sent on each
  // communicator to each world rank, and what it took from each channel — and fold into the
  // cumulative totals (held messages are not delivered yet); the epoch's counters restart at zero
  // and traffic moves to the colour `color`.
  struct EpochCounts {
    protocol::SnapshotEngine::SentCounts sent;
    protocol::SnapshotEngine::ReceivedCounts received;
  };
  EpochCounts begin_epoch(std::size_t color);

  template <class F>
  void for_each(F&& f) {
    for (auto& e : entries_) f(*e);
  }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  CommEntry* find_and_cache(MPI_Comm app) noexcept;  // out of line: the cache hit stays small
  void forget_cached() noexcept {
    last_key_ = closed_key();
    last_ = nullptr;
    rekey();
  }
  void rekey() noexcept {
    for (int g = 0; g < kGates; ++g)
      gate_key_[g] = gate_open_[g] && last_ && (g != kWatched || last_->errors_fatal) ? last_key_ : closed_key();
  }
  // A handle no application passes: the address of a private object (Open MPI's handles are
  // pointers), or an invalid integer handle.
  template <class Handle = MPI_Comm>
  static Handle closed_key() noexcept {
    static char private_object;
    if constexpr (std::is_pointer_v<Handle>) return reinterpret_cast<Handle>(&private_object);
    else return static_cast<Handle>(-1);
  }

  std::vector<std::unique_ptr<CommEntry>> entries_;
  FlatMap<MPI_Comm, CommEntry*> by_handle_;
  std::unordered_map<std::uint64_t, CommEntry*> by_id_;
  MPI_Comm last_key_ = closed_key();
  CommEntry* last_ = nullptr;
  MPI_Comm gate_key_[kGates] = {closed_key(), closed_key(), closed_key(), closed_key()};
  bool gate_open_[kGates] = {false, false, false, false};
};

}  // namespace mpisnap::mpi
