// The checkpoint directory: DIR/ckpt-<id>/rank-<r>.h5 and DIR/ckpt-<id>/manifest.h5.
// A checkpoint is committed exactly when its manifest exists (it is renamed into place last).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mpisnap::storage {

struct CheckpointEntry {
  std::uint64_t id = 0;
  std::string path;
  bool committed = false;
};

std::string checkpoint_path(const std::string& dir, std::uint64_t id);
std::string rank_file_name(int rank);
inline constexpr const char* kManifestName = "manifest.h5";

// Creates `dir` if needed and proves a file can be created and removed in it; throws
// mpisnap::Error naming the directory and the system's reason otherwise.
void check_writable(const std::string& dir);

// Every ckpt-* directory in `dir`, ascending by id. Names that do not parse are ignored.
std::vector<CheckpointEntry> list_checkpoints(const std::string& dir);

// One more than the largest id present (committed or not), so a new run never reuses a name.
std::uint64_t next_checkpoint_id(const std::string& dir);

struct PruneResult {
  std::vector<std::uint64_t> removed;
};

// Keeps the newest `keep` committed checkpoints (at least one) and removes older committed ones and
// every uncommitted one older than the newest committed. Never touches the newest committed one, nor
// uncommitted ones newer than it (they may be in progress).
// Committed checkpoints with an id below `floor` are never removed (those a run did not supersede:
// it started fresh beside them); they still count among the `keep` newest.
PruneResult prune(const std::string& dir, unsigned keep, std::uint64_t floor = 0);

}  // namespace mpisnap::storage
