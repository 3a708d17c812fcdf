// Runtime: finding, verifying and restoring the newest good checkpoint.
//
// Every decision here is collective: rank 0 reads the directory and the manifests and broadcasts
// what it found; every rank verifies its own file; an allreduce decides. So either every rank
// restores the same checkpoint, or every rank skips it, or every rank fails with the same error.
#include <algorithm>
#include <cstdio>

#include "mpi/pmpi.hpp"
#include "runtime.hpp"
#include "storage/directory.hpp"

namespace mpisnap {
namespace {

void bcast_words(std::vector<std::uint64_t>& words, MPI_Comm comm) {
  std::uint64_t n = words.size();
  mpi::check(PMPI_Bcast(&n, 1, MPI_UINT64_T, 0, comm), "PMPI_Bcast");
  words.resize(n);
  if (n) mpi::check(PMPI_Bcast(words.data(), static_cast<int>(n), MPI_UINT64_T, 0, comm), "PMPI_Bcast");
}

void bcast_text(std::string& text, MPI_Comm comm) {
  std::uint64_t n = text.size();
  mpi::check(PMPI_Bcast(&n, 1, MPI_UINT64_T, 0, comm), "PMPI_Bcast");
  text.resize(n);
  if (n) mpi::check(PMPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, 0, comm), "PMPI_Bcast");
}

}  // namespace

void Runtime::discover_checkpoint() {
  const std::string& dir = config_.directory;
  // [next id, ids of committed checkpoints, newest first]
  std::vector<std::uint64_t> found;
  std::string error;
  if (rank_ == 0) {
    try {
      storage::check_writable(dir);
      const auto all = storage::list_checkpoints(dir);
      found.push_back(all.empty() ? 1 : all.back().id + 1);
      for (auto it = all.rbegin(); it != all.rend(); ++it)
        if (it->committed) found.push_back(it->id);
    } catch (const Error& e) {
      error = e.what();
    }
  }
  bcast_text(error, control_);
  if (!error.empty()) throw Error("mpisnap: rank " + std::to_string(rank_) + ": " + error);
  bcast_words(found, control_);
  next_checkpoint_id_ = found[0];

  for (std::size_t i = 1; i < found.size(); ++i) {
    const std::uint64_t id = found[i];
    const std::string path = storage::checkpoint_path(dir, id);
    // Rank 0 reads the manifest: [ok, nranks, safe point, digest per rank...]
    std::vector<std::uint64_t> manifest;
    std::string why;
    if (rank_ == 0) {
      try {
        const storage::Manifest m = storage::read_manifest(path);
        if (m.checkpoint_id != id) throw Error("mpisnap: " + path + " holds the manifest of checkpoint " + std::to_string(m.checkpoint_id));
        manifest = {1, static_cast<std::uint64_t>(m.nranks), m.safe_point};
        manifest.insert(manifest.end(), m.rank_digest.begin(), m.rank_digest.end());
      } catch (const Error& e) {
        manifest = {0};
        why = e.what();
      }
    }
    bcast_words(manifest, control_);
    if (manifest[0] == 0) {
      if (rank_ == 0) std::fprintf(stderr, "mpisnap: skipping checkpoint %llu: %s\n", static_cast<unsigned long long>(id), why.c_str());
      continue;
    }
    const auto nranks = static_cast<int>(manifest[1]);
    if (nranks != size_)
      throw Error("mpisnap: rank " + std::to_string(rank_) + ": checkpoint " + std::to_string(id) + " in " + dir +
                  " was written by " + std::to_string(nranks) + " ranks but this job has " + std::to_string(size_) +
                  "; restart with the same number of ranks (mpirun -np " + std::to_string(nranks) +
                  ") or use another MPISNAP_DIR");

    int ok = 1;
    auto loaded = std::make_unique<storage::LoadedRankFile>();
    try {
      *loaded = storage::read_rank_file(path, rank_, config_.direct_io);
      if (loaded->info.digest != manifest[3 + static_cast<std::size_t>(rank_)])
        throw Error("mpisnap: " + path + "/" + storage::rank_file_name(rank_) +
                    " does not match the manifest's digest: it belongs to another checkpoint or was altered");
      if (loaded->cp.checkpoint_id != id || loaded->cp.nranks != size_)
        throw Error("mpisnap: " + path + "/" + storage::rank_file_name(rank_) + " describes checkpoint " +
                    std::to_string(loaded->cp.checkpoint_id) + " of " + std::to_string(loaded->cp.nranks) + " ranks");
    } catch (const Error& e) {
      ok = 0;
      std::fprintf(stderr, "mpisnap: rank %d: checkpoint %llu does not verify: %s\n", rank_,
                   static_cast<unsigned long long>(id), e.what());
    }
    int all_ok = 0;
    mpi::check(PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, control_), "PMPI_Allreduce(verify)");
    if (all_ok) {
      restored_ = std::move(loaded);
      restored_dir_ = path;
      load_lineage(restored_->cp);
      return;
    }
    if (rank_ == 0)
      std::fprintf(stderr, "mpisnap: skipping checkpoint %llu: it does not verify on every rank (see above)\n",
                   static_cast<unsigned long long>(id));
  }
  if (found.size() > 1) {
    if (!config_.fresh_if_corrupt)
      throw Error("mpisnap: rank " + std::to_string(rank_) + ": no committed checkpoint in " + dir +
                  " verifies (see the messages above); refusing to start from the beginning. Set "
                  "MPISNAP_FRESH_IF_CORRUPT=1 to start fresh anyway, or point MPISNAP_DIR elsewhere");
    if (rank_ == 0)
      std::fprintf(stderr, "mpisnap: no committed checkpoint in %s verifies; starting fresh (MPISNAP_FRESH_IF_CORRUPT)\n",
                   dir.c_str());
  }
}

const Node* Runtime::restorable_state() const noexcept {
  return restored_ && !restore_done_ ? &restored_->cp.state : nullptr;
}

void Runtime::fail_restore(const char* what) {
  throw Error("mpisnap: rank " + std::to_string(rank_) + ": cannot restore " + restored_dir_ + "/" +
              storage::rank_file_name(rank_) + " into this program's state: " + what);
}

void Runtime::finish_restore(ResumeInfo& info) {
  RankCheckpoint& cp = restored_->cp;
  for (RecordedMessage& m : cp.channel) queue_.push_recorded(std::move(m));
  restored_counters_ = std::move(cp.counters);
  restore_done_ = true;
  comms_.for_each([this](mpi::CommEntry& e) { apply_restored_counters(e); });
  safe_point_ = cp.safe_point;
  info.resumed = true;
  info.checkpoint_id = cp.checkpoint_id;
  info.safe_point = cp.safe_point;
  info.messages = queue_.size();
  if (config_.verbose && rank_ == 0)
    std::fprintf(stderr, "mpisnap: resumed from checkpoint %llu (safe point %llu)\n",
                 static_cast<unsigned long long>(cp.checkpoint_id), static_cast<unsigned long long>(cp.safe_point));
  restored_.reset();
  refresh_mode();
}

void Runtime::apply_restored_counters(mpi::CommEntry& e) {
  if (!restore_done_) return;
  for (const CommCounters& c : restored_counters_) {
    if (c.comm != protocol::value(e.id)) continue;
    if (c.world_ranks != e.world)
      throw Error("mpisnap: rank " + std::to_string(rank_) + ": communicator " + std::to_string(c.comm) +
                  " has other members than in the checkpoint; create communicators in the same order as the run "
                  "that wrote it");
    e.sent_total = c.sent_total;
    e.delivered_total = c.delivered_total;
    e.collectives = c.collectives;
    e.idups = std::max(e.idups, c.idups);  // derived ids of later idups stay new
  }
}

}  // namespace mpisnap
