// The colours of freed communicators that never carried a message, kept for the next communicator
// with the same members. Each communicator needs two colours (two more context ids than the
// application's own); a program that duplicates and frees communicators in a loop (a library that
// dups its caller's communicator per call) would pay three context-id allocations per cycle
// instead of one. With the pool the colours of the last such communicator are taken over.
//
// Taking over is safe only where every member of the new communicator takes over the same
// colours and nothing is left on them: the members agree in the allreduce that already agrees the
// new communicator's id (Runtime::register_comm), each offering the newest pooled pair with the
// new communicator's members (`offer`) with the messages its last owner sent and delivered on this
// rank over the whole computation (`Colors::sent`, `delivered`); the pair is taken only when every
// offer is the same and the sums of the two counts are equal over the members: every message ever
// sent on the old communicator was delivered, so none waits on its colours (a message a rank left
// unreceived keeps the sums apart for good). A pair is pooled only where nothing refers to it (a
// request, a window, a held message) and no snapshot is under way. No MPI calls: the runtime frees
// what `put` evicts and what `clear` hands back.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace mpisnap::mpi {

class ColorPool {
 public:
  struct Colors {
    MPI_Comm color[2] = {MPI_COMM_NULL, MPI_COMM_NULL};
    bool errors_fatal = false;  // both carry MPI_ERRORS_ARE_FATAL (a new owner with it need not set it again)
    std::uint64_t sent = 0;       // by the last owner on this rank, over the computation
    std::uint64_t delivered = 0;  // to the application on this rank from the last owner, likewise
  };
  static constexpr std::size_t kMax = 8;  // pairs held at most (the oldest is freed beyond)

  // Pools the colours of the freed communicator `token` (its agreed id, unique) with members
  // `world`; returns the pair evicted to make room, which the caller frees.
  std::optional<Colors> put(std::uint64_t token, std::vector<int> world, Colors c) {
    std::optional<Colors> evicted;
    if (entries_.size() == kMax) {
      evicted = entries_.front().colors;
      entries_.erase(entries_.begin());
    }
    entries_.push_back({token, std::move(world), c});
    return evicted;
  }
  // What this rank offers a new communicator with members `world`: the token of its newest pooled
  // pair with those members (ids grow with time, so the newest is the largest), or 0.
  std::uint64_t offer(const std::vector<int>& world) const {
    std::uint64_t best = 0;
    for (const Entry& e : entries_)
      if (e.token > best && e.world == world) best = e.token;
    return best;
  }
  // The pair pooled as `token`, or nullptr.
  const Colors* find(std::uint64_t token) const {
    for (const Entry& e : entries_)
      if (e.token == token) return &e.colors;
    return nullptr;
  }
  // Takes the pair pooled as `token` (one this rank offered).
  Colors take(std::uint64_t token) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->token == token) {
        const Colors c = it->colors;
        entries_.erase(it);
        return c;
      }
    return {};
  }
  // Empties the pool, handing every pair to `release`.
  template <class F>
  void clear(F&& release) {
    for (Entry& e : entries_) release(e.colors);
    entries_.clear();
  }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    std::uint64_t token;
    std::vector<int> world;
    Colors colors;
  };
  std::vector<Entry> entries_;  // oldest first (kMax at most: erasing from the front is cheap)
};

}  // namespace mpisnap::mpi
