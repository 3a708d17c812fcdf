#include "storage/checkpoint_store.hpp"

#include <mpisnap/error.hpp>

#include "storage/directory.hpp"
#include "storage/fs.hpp"
#include "storage/lease.hpp"

namespace mpisnap::storage {

void DirectoryStore::check_writable() { storage::check_writable(dir_); }

std::vector<CheckpointEntry> DirectoryStore::list() { return list_checkpoints(dir_); }

void DirectoryStore::check_owner() {
  if (!token_.empty()) require_lease(dir_, token_);
}

RankFileInfo DirectoryStore::write_rank(const RankCheckpoint& cp) {
  check_owner();
  return write_rank_file(location(cp.checkpoint_id), cp, direct_io_);
}

void DirectoryStore::commit(const Manifest& m) {
  check_owner();
  write_manifest(location(m.checkpoint_id), m);
}

PruneResult DirectoryStore::prune(unsigned keep, std::uint64_t floor) {
  check_owner();
  return storage::prune(dir_, keep, floor);
}

void DirectoryStore::discard(std::uint64_t id) {
  check_owner();
  const std::string path = location(id);
  if (fs::exists(path + "/" + kManifestName)) return;  // committed after all: never removed here
  fs::remove_tree(path);
}

Manifest DirectoryStore::manifest(std::uint64_t id) {
  const std::string path = location(id);
  Manifest m = read_manifest(path);
  if (m.checkpoint_id != id)
    throw Error("mpisnap: " + path + " holds the manifest of checkpoint " + std::to_string(m.checkpoint_id));
  return m;
}

LoadedRankFile DirectoryStore::load_rank(std::uint64_t id, int rank) {
  return read_rank_file(location(id), rank, direct_io_);
}

VerifyReport DirectoryStore::verify(std::uint64_t id) { return verify_checkpoint(location(id), id); }

}  // namespace mpisnap::storage
