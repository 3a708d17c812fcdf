#include "mpi/comm_table.hpp"

#include <algorithm>
#include <map>
#include <string>

#include <mpisnap/error.hpp>

#include "common/mutation.hpp"

namespace mpisnap::mpi {

CommEntry* CommTable::find_and_cache(MPI_Comm app) noexcept {
  CommEntry** e = by_handle_.find(app);
  if (!e) return nullptr;
  last_key_ = app;
  last_ = *e;
  rekey();
  return *e;
}

CommTable::EpochCounts CommTable::begin_epoch(std::size_t color) {
  std::map<int, std::vector<protocol::CommCount>> by_dest;  // world rank -> counts, in rank order
  EpochCounts out;
  for (auto& entry : entries_) {
    CommEntry& e = *entry;
    // Only the peers it has exchanged messages with: the work follows peers, not the size.
    e.peers.end_epoch(
        [&](int peer, std::uint64_t n) { by_dest[e.world[static_cast<std::size_t>(peer)]].push_back({e.id, n}); },
        [&](int peer, std::uint64_t n) {
          if (!mutation::on(mutation::Kind::ReceivesUncounted)) out.received.push_back({{e.id, e.world_of(peer)}, n});
        });
    e.current = e.color[color];
  }
  for (auto& [dest, counts] : by_dest) out.sent.push_back({protocol::WorldRank{dest}, std::move(counts)});
  return out;
}

CommEntry& CommTable::add(std::unique_ptr<CommEntry> e) {
  if (by_id_.count(protocol::value(e->id)))
    throw Error("mpisnap: internal: two communicators with id " + std::to_string(protocol::value(e->id)));
  CommEntry& ref = *e;
  by_handle_.put(e->app, &ref);
  by_id_[protocol::value(e->id)] = &ref;
  entries_.push_back(std::move(e));
  forget_cached();
  return ref;
}

CommEntry* CommTable::retire(MPI_Comm app, std::uint64_t epoch) {
  CommEntry** e = by_handle_.find(app);
  if (!e) return nullptr;
  CommEntry* entry = *e;
  by_handle_.erase(app);
  entry->app = MPI_COMM_NULL;
  entry->retired = true;
  entry->retired_epoch = epoch;
  forget_cached();
  return entry;
}

std::unique_ptr<CommEntry> CommTable::take(CommEntry& retired) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.get() == &retired; });
  std::unique_ptr<CommEntry> out = std::move(*it);
  entries_.erase(it);
  by_id_.erase(protocol::value(out->id));
  return out;
}

void CommTable::keep_retired(std::unique_ptr<CommEntry> e) {
  by_id_[protocol::value(e->id)] = e.get();
  entries_.push_back(std::move(e));
}

std::vector<std::unique_ptr<CommEntry>> CommTable::take_retired(std::uint64_t epoch_bound) {
  std::vector<std::unique_ptr<CommEntry>> out;
  auto keep = std::stable_partition(entries_.begin(), entries_.end(), [&](const auto& e) {
    return !(e->retired && e->retired_epoch < epoch_bound);
  });
  for (auto it = keep; it != entries_.end(); ++it) {
    by_id_.erase(protocol::value((*it)->id));
    out.push_back(std::move(*it));
  }
  entries_.erase(keep, entries_.end());
  return out;
}

}  // namespace mpisnap::mpi
