// Which ranks share a node, and who keeps whose partner copy (storage tiers, README): built from
// every rank's node leader (the lowest world rank on its node, from MPI_Comm_split_type SHARED).
// Rank r's copy goes to the rank with r's index on its node, modulo that node's size, on the next
// node (in the order of the nodes' leaders): on another node whenever there are two, and spread so
// that no rank keeps more than ceil(ranks on the biggest node / ranks on the smallest) copies.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace mpisnap {

class NodeMap {
 public:
  NodeMap() = default;
  explicit NodeMap(const std::vector<int>& leader_of) : leader_(leader_of) {
    for (int l : leader_of)
      if (std::find(leaders_.begin(), leaders_.end(), l) == leaders_.end()) leaders_.push_back(l);
    std::sort(leaders_.begin(), leaders_.end());
    members_.resize(leaders_.size());
    for (std::size_t r = 0; r < leader_of.size(); ++r) members_[node_of(static_cast<int>(r))].push_back(static_cast<int>(r));
  }

  int ranks() const noexcept { return static_cast<int>(leader_.size()); }
  int nodes() const noexcept { return static_cast<int>(leaders_.size()); }
  int leader(int rank) const { return leader_[static_cast<std::size_t>(rank)]; }
  bool is_leader(int rank) const { return leader(rank) == rank; }
  const std::vector<int>& leaders() const noexcept { return leaders_; }
  std::size_t node_of(int rank) const {
    return static_cast<std::size_t>(std::lower_bound(leaders_.begin(), leaders_.end(), leader(rank)) - leaders_.begin());
  }
  const std::vector<int>& members(std::size_t node) const { return members_[node]; }

  // The rank that keeps `rank`'s partner copy; -1 with one node (no other node to keep it).
  int holder(int rank) const {
    if (nodes() < 2) return -1;
    const std::size_t node = node_of(rank);
    const auto& mine = members_[node];
    const std::size_t index = static_cast<std::size_t>(std::find(mine.begin(), mine.end(), rank) - mine.begin());
    const auto& next = members_[(node + 1) % members_.size()];
    return next[index % next.size()];
  }
  // The ranks whose copies `rank` keeps, ascending.
  std::vector<int> held_by(int rank) const {
    std::vector<int> out;
    for (int r = 0; r < ranks(); ++r)
      if (holder(r) == rank) out.push_back(r);
    return out;
  }

 private:
  std::vector<int> leader_;               // per rank
  std::vector<int> leaders_;              // one per node, ascending
  std::vector<std::vector<int>> members_; // per node, ascending
};

}  // namespace mpisnap
