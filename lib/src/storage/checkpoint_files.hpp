// The two kinds of file in a checkpoint directory: one per rank (state, channel log, counters) and
// the manifest (the commit record). Both written to a temporary name, fsynced and renamed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/checkpoint_data.hpp"

namespace mpisnap::storage {

inline constexpr std::uint64_t kFormatMajor = 1;
inline constexpr std::uint64_t kFormatMinor = 6;  // 1.1: communicator lineage in /counters; 1.2: tables (compound datasets); 1.3: shapes, string lists, maps as columns, bools as enums; 1.4: sparse counters (/counters/comm_<id>/peers); 1.5: every communicator's counters in six datasets (/counters/comms and five concatenated arrays); 1.6: /meta one record, the channel's envelopes one table (/channel/messages), a peer's totals one record (/counters/peer_totals)

struct RankFileInfo {
  std::uint64_t digest = 0;         // over every dataset's name, shape, type and checksum
  std::uint64_t file_bytes = 0;
  std::uint64_t payload_bytes = 0;  // state + channel bytes
  std::uint64_t messages = 0;       // recorded in-flight messages
};

// Large arrays go to the disk with O_DIRECT where the file system allows it, unless `direct_io` is
// false (tree_io.hpp).
RankFileInfo write_rank_file(const std::string& checkpoint_dir, const RankCheckpoint& cp, bool direct_io = true);

struct LoadedRankFile {
  RankCheckpoint cp;
  RankFileInfo info;
};
// Reads and verifies every checksum; throws mpisnap::Error naming file and dataset.
LoadedRankFile read_rank_file(const std::string& checkpoint_dir, int rank, bool direct_io = true);

struct Manifest {
  std::uint64_t checkpoint_id = 0;
  std::uint64_t safe_point = 0;
  std::int32_t nranks = 0;
  double created_unix = 0;
  double commit_seconds = 0;  // first snapshot on any rank -> commit, as seen by rank 0
  std::vector<std::uint64_t> rank_digest;
  std::vector<std::uint64_t> rank_bytes;
  std::vector<std::uint64_t> rank_messages;
  std::string program;  // the executable's name (job identity; empty in files before it was recorded)
};

// temp + fsync + rename + directory fsync: after this returns the checkpoint is committed.
void write_manifest(const std::string& checkpoint_dir, const Manifest& m);
Manifest read_manifest(const std::string& checkpoint_dir);

}  // namespace mpisnap::storage
