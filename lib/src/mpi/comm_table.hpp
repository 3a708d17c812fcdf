// The application's communicators as the library sees them: for each, the two colored shadow
// communicators, the agreed id, the rank map and the per-peer message counters.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "mpi/flat_map.hpp"
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
  std::vector<int> world;                  // peer rank (remote group for an intercommunicator) -> world rank
  bool inter = false;
  std::vector<int> local_world;            // intercommunicator: the local group's world ranks

  // Per peer (communicator rank), in the current epoch:
  std::vector<std::uint64_t> sent;         // messages sent on `current`
  std::vector<std::uint64_t> received;     // messages taken from `current` (into the application or held)
  std::vector<std::uint64_t> held_in;      // of `received`, those held in the replay queue
  // Cumulative since the start of the computation (carried across restarts), folded at snapshots:
  std::vector<std::uint64_t> sent_total;
  std::vector<std::uint64_t> delivered_total;
  std::uint64_t collectives = 0;           // collective calls made on it, cumulative like the totals

  MPI_Comm old_color() const noexcept { return current == color[0] ? color[1] : color[0]; }
  protocol::WorldRank world_of(int r) const noexcept { return protocol::WorldRank{world[static_cast<std::size_t>(r)]}; }
  bool valid_peer(int r) const noexcept { return r >= 0 && r < size; }
};

class CommTable {
 public:
  // Fast path: the entry for an application handle, or nullptr.
  CommEntry* find(MPI_Comm app) noexcept {
    if (app == last_key_) return last_;
    CommEntry** e = by_handle_.find(app);
    if (!e) return nullptr;
    last_key_ = app;
    last_ = *e;
    return *e;
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
  // Puts a retired entry back (something still refers to it).
  void keep_retired(std::unique_ptr<CommEntry> e);

  template <class F>
  void for_each(F&& f) {
    for (auto& e : entries_) f(*e);
  }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::vector<std::unique_ptr<CommEntry>> entries_;
  FlatMap<MPI_Comm, CommEntry*> by_handle_;
  std::unordered_map<std::uint64_t, CommEntry*> by_id_;
  MPI_Comm last_key_ = MPI_COMM_NULL;
  CommEntry* last_ = nullptr;
};

}  // namespace mpisnap::mpi
