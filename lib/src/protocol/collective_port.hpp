// The few collectives that recovery needs (rank 0 broadcasts what it found; the ranks agree), as an
// interface, so that recovery's decisions are tested on a fake in unit tests (like ControlPort for
// the snapshot engine). Every rank calls the same operations in the same order.
#pragma once

#include <cstdint>
#include <string>
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
};

}  // namespace mpisnap::protocol
