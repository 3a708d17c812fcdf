#include "recovery/recovery.hpp"

#include <mpisnap/error.hpp>


namespace mpisnap::recovery {

Recovery::Recovery(protocol::CollectivePort& port, storage::CheckpointStore& store, int rank, int size,
                   Options options, Report report)
    : port_(port), store_(store), rank_(rank), size_(size), options_(std::move(options)), report_(std::move(report)) {}

std::string Recovery::prefix() const { return "mpisnap: rank " + std::to_string(rank_) + ": "; }

std::vector<std::uint64_t> Recovery::committed_ids() {
  std::vector<std::uint64_t> found;
  std::string error;
  if (rank_ == 0) {
    try {
      store_.check_writable();
      const auto all = store_.list();
      found.push_back(all.empty() ? 1 : all.back().id + 1);
      for (auto it = all.rbegin(); it != all.rend(); ++it)
        if (it->committed) found.push_back(it->id);
    } catch (const Error& e) {
      error = e.what();
    }
  }
  port_.broadcast(error);
  if (!error.empty()) throw Error(prefix() + error);
  port_.broadcast(found);
  return found;
}

std::vector<std::uint64_t> Recovery::manifest_of(std::uint64_t id) { return manifest_from(0, id, store_); }

std::vector<std::uint64_t> Recovery::manifest_from(int reader, std::uint64_t id, storage::CheckpointStore& store) {
  std::vector<std::uint64_t> manifest;
  std::string why;
  if (rank_ == reader) {
    try {
      const storage::Manifest m = store.manifest(id);
      other_program_ = m.program;
      const bool same = m.program.empty() || options_.program.empty() || m.program == options_.program;
      manifest = {1, static_cast<std::uint64_t>(m.nranks), m.safe_point, same ? 1u : 0u};
      manifest.insert(manifest.end(), m.rank_digest.begin(), m.rank_digest.end());
      if (manifest.size() != 4 + static_cast<std::size_t>(m.nranks))
        throw Error("mpisnap: " + store.location(id) + " holds " + std::to_string(m.rank_digest.size()) + " rank digests for " +
                    std::to_string(m.nranks) + " ranks");
    } catch (const Error& e) {
      manifest = {0};
      why = e.what();
    }
  }
  if (reader == 0) {
    port_.broadcast(manifest);
  } else {
    port_.broadcast_from(reader, manifest);
    port_.broadcast_from(reader, other_program_);
  }
  if (manifest[0] == 0 && rank_ == reader) report_("mpisnap: skipping checkpoint " + std::to_string(id) + ": " + why);
  return manifest;
}

std::unique_ptr<storage::LoadedRankFile> Recovery::verified_file(std::uint64_t id, std::uint64_t digest) {
  return verified_from(store_, id, digest);
}

std::unique_ptr<storage::LoadedRankFile> Recovery::verified_from(storage::CheckpointStore& store, std::uint64_t id,
                                                                 std::uint64_t digest) {
  auto loaded = std::make_unique<storage::LoadedRankFile>();
  try {
    *loaded = store.load_rank(id, rank_);
    const std::string file = store.location(id) + "/" + storage::rank_file_name(rank_);
    if (loaded->info.digest != digest)
      throw Error("mpisnap: " + file + " does not match the manifest's digest: it belongs to another checkpoint or was altered");
    if (loaded->cp.checkpoint_id != id || loaded->cp.nranks != size_)
      throw Error("mpisnap: " + file + " describes checkpoint " + std::to_string(loaded->cp.checkpoint_id) + " of " +
                  std::to_string(loaded->cp.nranks) + " ranks");
  } catch (const Error& e) {
    report_(prefix() + "checkpoint " + std::to_string(id) + " does not verify: " + e.what());
    return nullptr;
  }
  return loaded;
}

void Recovery::check_identity(std::uint64_t id, const std::vector<std::uint64_t>& manifest, const std::string& dir) {
  const auto nranks = static_cast<int>(manifest[1]);
  if (manifest[3] == 0 && !options_.ignore_identity) {  // written by another program
    port_.broadcast(other_program_);
    throw Error(prefix() + "checkpoint " + std::to_string(id) + " in " + dir + " was written by program '" +
                other_program_ + "', this is '" + options_.program +
                "': a job must not resume another job's state. Use another MPISNAP_DIR, or set "
                "MPISNAP_IGNORE_IDENTITY=1 if this program really continues that one (renamed, say)");
  }
  if (nranks != size_)
    throw Error(prefix() + "checkpoint " + std::to_string(id) + " in " + dir + " was written by " +
                std::to_string(nranks) + " ranks but this job has " + std::to_string(size_) +
                "; restart with the same number of ranks (mpirun -np " + std::to_string(nranks) +
                ") or use another MPISNAP_DIR");
}

Outcome Recovery::discover() {
  if (auto* tiers = dynamic_cast<storage::TieredStore*>(&store_); tiers && !options_.leader_of.empty())
    return discover_tiered(*tiers);
  const std::string& dir = store_.where();
  const std::vector<std::uint64_t> found = committed_ids();
  Outcome out;
  out.next_checkpoint_id = found[0];
  if (options_.fresh) {
    if (rank_ == 0 && found.size() > 1)
      report_("mpisnap: starting from the beginning (MPISNAP_FRESH); the " + std::to_string(found.size() - 1) +
              " committed checkpoint(s) in " + dir + " stay, this run's are numbered from " +
              std::to_string(out.next_checkpoint_id));
    return out;
  }
  for (std::size_t i = 1; i < found.size(); ++i) {
    const std::uint64_t id = found[i];
    const std::vector<std::uint64_t> manifest = manifest_of(id);
    if (manifest[0] == 0) continue;
    check_identity(id, manifest, dir);
    auto file = verified_file(id, manifest[4 + static_cast<std::size_t>(rank_)]);
    if (port_.all(file != nullptr)) {
      out.restored = std::move(file);
      out.restored_dir = store_.location(id);
      return out;
    }
    if (rank_ == 0)
      report_("mpisnap: skipping checkpoint " + std::to_string(id) + ": it does not verify on every rank (see above)");
  }
  if (found.size() > 1) {
    if (!options_.fresh_if_corrupt)
      throw Error(prefix() + "no committed checkpoint in " + dir +
                  " verifies (see the messages above); refusing to start from the beginning. Set "
                  "MPISNAP_FRESH_IF_CORRUPT=1 to start fresh anyway, or point MPISNAP_DIR elsewhere");
    if (rank_ == 0)
      report_("mpisnap: no committed checkpoint in " + dir + " verifies; starting fresh (MPISNAP_FRESH_IF_CORRUPT)");
  }
  return out;
}

}  // namespace mpisnap::recovery
