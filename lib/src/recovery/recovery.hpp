// Recovery: finding, verifying and agreeing on the newest good checkpoint at start.
//
// Every decision is collective (over a protocol::CollectivePort): rank 0 reads the directory and
// the manifests and broadcasts what it found; every rank verifies its own file; the ranks agree.
// So either every rank restores the same checkpoint, or every rank skips it, or every rank fails
// with the same error. Checkpoints are reached through a storage::CheckpointStore, never MPI: the
// unit tests run it on N threads over a fake port, against real checkpoint directories.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol/collective_port.hpp"
#include "storage/checkpoint_store.hpp"
#include "storage/tiered_store.hpp"

namespace mpisnap::recovery {

struct Options {
  bool fresh_if_corrupt = false;  // Config::fresh_if_corrupt
  bool fresh = false;             // Config::fresh: only where the ids go on; nothing is read or verified
  std::string program;            // this job's program: a checkpoint of another program is refused
  bool ignore_identity = false;   // Config::ignore_identity: restore it anyway
  // Two tiers (a storage::TieredStore): every rank's node leader (NodeMap), to find each rank file
  // on the rank's own node, on another node (a partner copy) or on the global tier.
  std::vector<int> leader_of;
};

struct Outcome {
  std::uint64_t next_checkpoint_id = 1;              // above every checkpoint in the directory
  std::unique_ptr<storage::LoadedRankFile> restored;  // this rank's file of the agreed checkpoint, or null (fresh)
  std::string restored_dir;                           // where it is (CheckpointStore::location)
  enum class Source { None, Local, Partner, Global };
  Source source = Source::None;                       // two tiers: where this rank's file came from
};

// Where recovery says what it skipped and why (a line, without newline): stderr in the library.
using Report = std::function<void(const std::string&)>;

class Recovery {
 public:
  Recovery(protocol::CollectivePort& port, storage::CheckpointStore& store, int rank, int size, Options options,
           Report report);
  // Collective. Throws mpisnap::Error (the same decision on every rank) when the directory is
  // unusable, the checkpoint was written by another number of ranks, or no committed checkpoint
  // verifies (unless fresh_if_corrupt).
  Outcome discover();

 private:
  // Rank 0: [next id, committed ids newest first], or an error text; broadcast to every rank.
  std::vector<std::uint64_t> committed_ids();
  // Rank 0 reads checkpoint `id`'s manifest: [ok, nranks, safe point, same program, digest per rank]
  // (broadcast; the other program's name only when it differs).
  std::vector<std::uint64_t> manifest_of(std::uint64_t id);
  // This rank's file of checkpoint `id`, verified against the manifest's digest; null if it does not verify.
  std::unique_ptr<storage::LoadedRankFile> verified_file(std::uint64_t id, std::uint64_t digest);
  std::unique_ptr<storage::LoadedRankFile> verified_from(storage::CheckpointStore& store, std::uint64_t id,
                                                         std::uint64_t digest);
  std::string prefix() const;
  // Throws (on every rank alike) when checkpoint `id`'s manifest names another program or rank count.
  void check_identity(std::uint64_t id, const std::vector<std::uint64_t>& manifest, const std::string& dir);
  // Two tiers: per checkpoint, where each rank's file can be had (own node, another node, global).
  Outcome discover_tiered(storage::TieredStore& tiers);
  std::vector<std::uint64_t> manifest_from(int reader, std::uint64_t id, storage::CheckpointStore& store);
  std::string other_program_;  // rank 0: the program named by the last manifest read

  protocol::CollectivePort& port_;
  storage::CheckpointStore& store_;
  int rank_;
  int size_;
  Options options_;
  Report report_;
};

}  // namespace mpisnap::recovery
