// Two storage tiers (README, "Storage tiers"): a node-local directory (RAM disk, local SSD) where
// checkpoints are written and committed, and the global directory (the parallel file system) they
// are flushed to in the background, where they commit again.
//
//   LOCAL/mpisnap-<key>/ckpt-<id>/{rank-<r>.h5, manifest.h5}   (this node's ranks, and partner copies)
//   GLOBAL/ckpt-<id>/{rank-<r>.h5, manifest.h5}                (every rank, after the flush)
//
// <key> names the global directory (a hash of its absolute path), so two jobs with their own global
// directories never mix on one node's local storage. A checkpoint is committed on a tier exactly
// when that tier's manifest exists (written last); a node holds the manifest once rank 0 told it
// the checkpoint committed, and a partner copy is the same file as the rank's own, under its name.
//
// The CheckpointStore methods act on the local tier (the pipeline writes, commits and prunes there)
// except where(), hold() and the reading methods, which look at the local tier first and then at
// the global one. The tier-specific operations (a partner copy, a flush, the global commit) are
// this class's own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/checkpoint_store.hpp"

namespace mpisnap::storage {

// LOCAL/mpisnap-<hash of the absolute path of `global_dir`>.
std::string local_tier_dir(const std::string& local_root, const std::string& global_dir);

// The manifest as words (rank 0 sends it to the other nodes, recovery broadcasts it).
std::vector<std::uint64_t> manifest_words(const Manifest& m);
Manifest manifest_from_words(const std::vector<std::uint64_t>& words, std::size_t offset = 0);

class TieredStore final : public CheckpointStore {
 public:
  TieredStore(std::string global_dir, const std::string& local_root, bool direct_io, unsigned keep_local);

  const std::string& where() const noexcept override { return global_.where(); }
  // Where this rank's files of checkpoint `id` are written: the local tier.
  std::string location(std::uint64_t id) const override { return local_.location(id); }
  void check_writable() override;
  // The global tier's checkpoints (what outlives the job's nodes).
  std::vector<CheckpointEntry> list() override { return global_.list(); }
  void hold(const std::string& token) override { token_ = token; }
  RankFileInfo write_rank(const RankCheckpoint& cp) override;
  // The local commit (this node's manifest).
  void commit(const Manifest& m) override;
  // The local tier keeps `keep_local` (the constructor's); `keep` is the global tier's (commit_global).
  PruneResult prune(unsigned keep, std::uint64_t floor) override;
  void discard(std::uint64_t id) override;
  Manifest manifest(std::uint64_t id) override;
  LoadedRankFile load_rank(std::uint64_t id, int rank) override;
  VerifyReport verify(std::uint64_t id) override;

  DirectoryStore& local() noexcept { return local_; }
  DirectoryStore& global() noexcept { return global_; }

  // Rank `rank`'s file of checkpoint `id`, received from its partner: stored on this node under its name.
  void write_copy(std::uint64_t id, int rank, const char* data, std::uint64_t size);
  // Copies rank `rank`'s file of checkpoint `id`, open as `fd`, to the global tier (temp + fsync +
  // rename). Returns the bytes copied.
  std::uint64_t flush_rank(std::uint64_t id, int rank, int fd);
  // A rank whose flush failed says so in the global tier, so that the global commit stops waiting.
  void flush_failed(std::uint64_t id, int rank, const std::string& why) noexcept;
  // Rank 0: waits (up to `timeout` seconds) until every rank's file of checkpoint m.checkpoint_id is
  // on the global tier, writes the global manifest and prunes the global tier to `keep`. Throws
  // mpisnap::Error naming the missing ranks or the failed ones' reasons; the global tier's newest
  // committed checkpoint then stays what it was.
  void commit_global(const Manifest& m, unsigned keep, std::uint64_t floor, double timeout);

 private:
  void check_owner();
  DirectoryStore global_;
  DirectoryStore local_;
  unsigned keep_local_;
  std::string token_;
};

}  // namespace mpisnap::storage
