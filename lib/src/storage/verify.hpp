// Checking a whole checkpoint from its files (the `mpisnap verify` command): the manifest, every
// rank file's checksums and digest against the manifest, and every channel's balance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/channel_balance.hpp"

namespace mpisnap::storage {

struct VerifyReport {
  std::uint64_t id = 0;
  bool committed = false;
  std::vector<std::string> problems;  // each names the file (and dataset) and the cause
  std::uint64_t datasets_bytes = 0;
  std::uint64_t channels = 0;
  std::uint64_t in_flight = 0;
  bool ok() const noexcept { return committed && problems.empty(); }
};

VerifyReport verify_checkpoint(const std::string& checkpoint_dir, std::uint64_t id);

}  // namespace mpisnap::storage
