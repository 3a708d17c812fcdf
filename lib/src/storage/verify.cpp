#include "storage/verify.hpp"

#include <mpisnap/error.hpp>

#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"

namespace mpisnap::storage {

VerifyReport verify_checkpoint(const std::string& checkpoint_dir, std::uint64_t id) {
  VerifyReport r;
  r.id = id;
  Manifest m;
  try {
    m = read_manifest(checkpoint_dir);
    r.committed = true;
  } catch (const Error& e) {
    r.problems.push_back(e.what());
    return r;
  }
  if (m.checkpoint_id != id)
    r.problems.push_back(checkpoint_dir + "/" + kManifestName + " is the manifest of checkpoint " +
                         std::to_string(m.checkpoint_id));
  std::vector<RankCheckpoint> ranks;
  for (int rank = 0; rank < m.nranks; ++rank) {
    try {
      LoadedRankFile f = read_rank_file(checkpoint_dir, rank);
      const std::string file = checkpoint_dir + "/" + rank_file_name(rank);
      if (f.info.digest != m.rank_digest[static_cast<std::size_t>(rank)])
        r.problems.push_back(file + ": its digest does not match the manifest (a file of another checkpoint, or "
                                    "altered)");
      if (f.cp.checkpoint_id != m.checkpoint_id || f.cp.nranks != m.nranks || f.cp.safe_point != m.safe_point)
        r.problems.push_back(file + ": /meta says checkpoint " + std::to_string(f.cp.checkpoint_id) + ", " +
                             std::to_string(f.cp.nranks) + " ranks, safe point " + std::to_string(f.cp.safe_point) +
                             "; the manifest says " + std::to_string(m.checkpoint_id) + ", " +
                             std::to_string(m.nranks) + ", " + std::to_string(m.safe_point));
      r.datasets_bytes += f.info.payload_bytes;
      ranks.push_back(std::move(f.cp));
    } catch (const Error& e) {
      r.problems.push_back(e.what());
    }
  }
  if (r.problems.empty()) {
    const BalanceReport b = check_channel_balance(ranks);
    r.channels = b.channels;
    r.in_flight = b.in_flight;
    for (const std::string& v : b.violations) r.problems.push_back(checkpoint_dir + ": channel does not balance: " + v);
  }
  // Anything in the directory that is neither the manifest nor a rank file is suspicious (a mix of
  // checkpoints); files of other ranks than the manifest's count are reported too.
  for (const std::string& name : fs::list_dir(checkpoint_dir)) {
    if (name == kManifestName) continue;
    bool known = false;
    for (int rank = 0; rank < m.nranks && !known; ++rank) known = name == rank_file_name(rank);
    if (!known) r.problems.push_back(checkpoint_dir + "/" + name + ": not part of this checkpoint");
  }
  return r;
}

}  // namespace mpisnap::storage
