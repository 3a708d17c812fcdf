// The few collectives that recovery needs (rank 0 broadcasts what it found; the ranks agree), as an
// interface, so that recovery's decisions are tested on a fake in unit tests (like ControlPort for
// the snapshot engine). Every rank calls the same operations in the same order.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mpisnap::protocol {

class CollectivePort {
 public:
  virtual ~CollectivePort() = default;
  // Every rank ends with rank 0's `words` / `text`.
  virtual void broadcast(std::vector<std::uint64_t>& words) = 0;
  virtual void broadcast(std::string& text) = 0;
  // True on every rank exactly when `ok` is true on every rank.
  virtual bool all(bool ok) = 0;

  // For two storage tiers (recovery from node-local tiers and partner copies):
  // rank 0 gets every rank's `words`, in rank order (the others get nothing);
  virtual std::vector<std::vector<std::uint64_t>> gather(const std::vector<std::uint64_t>& words) = 0;
  // every rank ends with `root`'s words / text;
  virtual void broadcast_from(int root, std::vector<std::uint64_t>& words) = 0;
  virtual void broadcast_from(int root, std::string& text) = 0;
  // each rank sends `sends` (destination, bytes) and receives one message from each rank of `from`,
  // returned in that order; every rank calls it, with the sends and receives of one plan.
  virtual std::vector<std::vector<char>> exchange(const std::vector<std::pair<int, std::vector<char>>>& sends,
                                                  const std::vector<int>& from) = 0;
};

}  // namespace mpisnap::protocol
