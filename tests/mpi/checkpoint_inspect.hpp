// Test helpers: read every committed checkpoint of a directory back through the storage layer.
#pragma once

#include <string>
#include <vector>

#include "storage/channel_balance.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"

namespace mpisnap::testing {

struct LoadedCheckpoint {
  std::uint64_t id = 0;
  storage::Manifest manifest;
  std::vector<RankCheckpoint> ranks;
};

inline std::vector<LoadedCheckpoint> load_committed(const std::string& dir) {
  std::vector<LoadedCheckpoint> out;
  for (const auto& e : storage::list_checkpoints(dir)) {
    if (!e.committed) continue;
    LoadedCheckpoint c;
    c.id = e.id;
    c.manifest = storage::read_manifest(e.path);
    for (int r = 0; r < c.manifest.nranks; ++r) c.ranks.push_back(storage::read_rank_file(e.path, r).cp);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace mpisnap::testing
