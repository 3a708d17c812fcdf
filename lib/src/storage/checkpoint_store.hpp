// The checkpoints of a job, as the runtime, recovery and the `mpisnap` command reach them: write a
// rank file, commit, prune, list, read a manifest, load a rank file, verify. Today one
// implementation (a directory on a file system); the storage tiers to come (a node-local tier
// flushed to the global one, partner copies) are other implementations of this interface, not
// edits to its users. Every method may be called from the background writer's thread: an
// implementation keeps no state that two calls share, or guards it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "storage/verify.hpp"

namespace mpisnap::storage {

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;

  // Where the checkpoints are, for messages (the directory).
  virtual const std::string& where() const noexcept = 0;
  // Where checkpoint `id` is, for messages.
  virtual std::string location(std::uint64_t id) const = 0;
  // Throws mpisnap::Error naming the place and the reason when checkpoints cannot be written there.
  virtual void check_writable() = 0;
  // Every checkpoint, ascending by id, committed or not.
  virtual std::vector<CheckpointEntry> list() = 0;

  // From now on every write, commit and prune first checks that the place still belongs to the job
  // `token` names (storage/lease.hpp) and throws mpisnap::Error naming the new owner if not.
  virtual void hold(const std::string& token) = 0;
  // This rank's file of checkpoint `cp.checkpoint_id` (the checkpoint is not committed by it).
  virtual RankFileInfo write_rank(const RankCheckpoint& cp) = 0;
  // Commits checkpoint `m.checkpoint_id` atomically: afterwards it is restorable, before it is not.
  virtual void commit(const Manifest& m) = 0;
  // Keeps the newest `keep` committed checkpoints (directory.hpp, prune, says exactly what goes).
  // Checkpoints below `floor` stay (a run prunes only what it superseded).
  virtual PruneResult prune(unsigned keep, std::uint64_t floor) = 0;
  // Removes what a checkpoint that failed (not committed) left behind; a committed one stays.
  virtual void discard(std::uint64_t id) = 0;

  virtual Manifest manifest(std::uint64_t id) = 0;
  virtual LoadedRankFile load_rank(std::uint64_t id, int rank) = 0;
  virtual VerifyReport verify(std::uint64_t id) = 0;
};

// DIR/ckpt-<id>/{rank-<r>.h5, manifest.h5} (directory.hpp); `direct_io` as Config::direct_io.
class DirectoryStore final : public CheckpointStore {
 public:
  DirectoryStore(std::string directory, bool direct_io) : dir_(std::move(directory)), direct_io_(direct_io) {}

  const std::string& where() const noexcept override { return dir_; }
  std::string location(std::uint64_t id) const override { return checkpoint_path(dir_, id); }
  void check_writable() override;
  std::vector<CheckpointEntry> list() override;
  void hold(const std::string& token) override { token_ = token; }
  RankFileInfo write_rank(const RankCheckpoint& cp) override;
  void commit(const Manifest& m) override;
  PruneResult prune(unsigned keep, std::uint64_t floor) override;
  void discard(std::uint64_t id) override;
  Manifest manifest(std::uint64_t id) override;
  LoadedRankFile load_rank(std::uint64_t id, int rank) override;
  VerifyReport verify(std::uint64_t id) override;

 private:
  void check_owner();
  std::string dir_;
  bool direct_io_;
  std::string token_;  // hold(): the job that must own the directory before each write
};

}  // namespace mpisnap::storage
