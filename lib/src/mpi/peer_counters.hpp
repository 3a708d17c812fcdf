// One rank's message counters on one communicator, per peer (a rank of the communicator), kept for
// the peers it has exchanged messages with only: memory and the work of a snapshot follow the
// peers a rank talks to, not the size of the communicator (a 3-D stencil on MPI_COMM_WORLD of
// 65,536 ranks holds 26 entries, not 65,536). No MPI: the scale simulation (tests/sim) drives it.
//
// Entries never move once made (the fast path may hold one across a blocking call) and are never
// removed (the cumulative totals must survive every epoch). The last peer looked up is cached, so
// a rank that talks to one peer at a time pays one compare; other lookups probe a FlatMap. Making
// an entry is out of line (`add`): the fast path never calls it (`cached`, `seen`).
#pragma once

#include <cstdint>
#include <deque>
#include <limits>

#include "mpi/flat_map.hpp"

namespace mpisnap::mpi {

struct PeerCount {
  int peer = 0;                        // rank in the communicator (the remote group's, for an intercommunicator)
  // In the current epoch:
  std::uint64_t sent = 0;              // messages sent to the peer on the current colour
  std::uint64_t received = 0;          // messages taken from the current colour (into the application or held)
  std::uint64_t held_in = 0;           // of `received`, those held in the replay queue
  // Cumulative since the start of the computation (carried across restarts), folded at snapshots:
  std::uint64_t sent_total = 0;
  std::uint64_t delivered_total = 0;

  bool used() const noexcept { return sent || received || held_in || sent_total || delivered_total; }
};

class PeerCounters {
 public:
  PeerCounters() = default;
  PeerCounters(const PeerCounters&) = delete;
  PeerCounters& operator=(const PeerCounters&) = delete;

  // The entry of `peer` (a valid rank: the caller checks), made with zero counts on first use.
  PeerCount& at(int peer) {
    if (PeerCount* e = seen(peer)) [[likely]]
      return *e;
    return add(peer);
  }
  // The entry of `peer` when it is the cached one, else nullptr (a non-rank too): one compare, what
  // the inlined fast path of a wrapper affords (interpose/fast_path.hpp).
  PeerCount* cached(int peer) noexcept {
    if (peer != last_peer_) return nullptr;
    if (!last_) __builtin_unreachable();  // (last_peer_ is a rank only once last_ is set)
    return last_;
  }
  // The cached entry, where cached() just found one.
  PeerCount* last() noexcept { return last_; }
  // The entry of `peer` when it has one, which becomes the cached one; nullptr for a peer never
  // seen. No call and no allocation.
  PeerCount* seen(int peer) noexcept {
    if (PeerCount* e = cached(peer)) [[likely]]
      return e;
    PeerCount** found = index_.find(peer);
    if (!found) return nullptr;
    last_peer_ = peer;
    last_ = *found;
    return last_;
  }
  // The entry of `peer`, or nullptr when it never had one.
  const PeerCount* find(int peer) const noexcept {
    if (peer == last_peer_) return last_;
    PeerCount* const* e = index_.find(peer);
    return e ? *e : nullptr;
  }
  std::uint64_t received(int peer) const noexcept {
    const PeerCount* e = find(peer);
    return e ? e->received : 0;
  }

  // Every entry, in the order the peers were first seen.
  template <class F>
  void for_each(F&& f) {
    for (PeerCount& e : entries_) f(e);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const PeerCount& e : entries_) f(e);
  }
  std::size_t peers() const noexcept { return entries_.size(); }
  bool used() const noexcept {
    for (const PeerCount& e : entries_)
      if (e.used()) return true;
    return false;
  }

  // The end of an epoch: on_sent(peer, n) for each peer sent to and on_received(peer, n) for each
  // peer taken from in the epoch that ends; the epoch's counts fold into the cumulative totals (a
  // held message is not delivered yet) and restart at zero.
  template <class Sent, class Received>
  void end_epoch(Sent&& on_sent, Received&& on_received) {
    for (PeerCount& e : entries_) {
      if (e.sent) {
        on_sent(e.peer, e.sent);
        e.sent_total += e.sent;
        e.sent = 0;
      }
      if (e.received) on_received(e.peer, e.received);
      e.delivered_total += e.received - e.held_in;
      e.received = 0;
      e.held_in = 0;
    }
  }

 private:
  [[gnu::noinline]] PeerCount& add(int peer) {
    PeerCount* e = &entries_.emplace_back();
    e->peer = peer;
    index_.put(peer, e);
    last_peer_ = peer;
    last_ = e;
    return *e;
  }

  std::deque<PeerCount> entries_;  // stable addresses
  FlatMap<int, PeerCount*> index_;
  // No rank, nor any of MPI's negative non-ranks (MPI_ANY_SOURCE, MPI_PROC_NULL): the cache starts
  // empty, and cached() of a non-rank is null.
  int last_peer_ = std::numeric_limits<int>::min();
  PeerCount* last_ = nullptr;
};

}  // namespace mpisnap::mpi
