// The consistency check of a whole checkpoint, from its files alone: for every channel j -> i on
// every communicator,
//     messages j sent to i before j's snapshot
//       == messages i's application received from j before i's snapshot + messages recorded on i from j
// A consistent cut satisfies it exactly; a lost, duplicated or orphan message breaks it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/checkpoint_data.hpp"

namespace mpisnap::storage {

struct BalanceReport {
  std::uint64_t channels = 0;     // channels checked (pairs that exchanged at least one message)
  std::uint64_t in_flight = 0;    // recorded messages
  std::uint64_t abandoned = 0;    // sent to a rank that freed the communicator and never received there
  std::vector<std::string> violations;
  bool ok() const noexcept { return violations.empty(); }
};

// `ranks[r]` is rank r's file content.
BalanceReport check_channel_balance(const std::vector<RankCheckpoint>& ranks);

}  // namespace mpisnap::storage
