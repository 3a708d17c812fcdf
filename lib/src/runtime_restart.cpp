// Runtime: restoring the checkpoint that recovery (recovery/recovery.hpp) found and the ranks agreed on.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "mpi/mpi_collective_port.hpp"
#include "mpi/pmpi.hpp"
#include "recovery/recovery.hpp"
#include "common/diagnostics.hpp"
#include "runtime.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"

namespace mpisnap {

void Runtime::take_directory() {
  mpi::MpiCollectivePort port(control_);
  std::string outcome;  // "T<token>" or "E<error>", decided by rank 0
  if (rank_ == 0) {
    try {
      pipeline_->store().check_writable();  // (creates it; names the directory and the reason if it cannot)
      lease_ = std::make_unique<storage::Lease>(config_.directory, storage::this_process(diag::program_name(), size_),
                                                storage::Lease::Options{},
                                                [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
      outcome = "T" + lease_->token();
    } catch (const std::exception& e) {
      outcome = std::string("E") + e.what();
    }
  }
  port.broadcast(outcome);
  if (outcome.empty() || outcome[0] != 'T') throw Error(outcome.empty() ? "mpisnap: no lease" : outcome.substr(1));
  pipeline_->store().hold(outcome.substr(1));
}

void Runtime::discover_checkpoint() {
  mpi::MpiCollectivePort port(control_);
  recovery::Options options{config_.fresh_if_corrupt, config_.fresh, diag::program_name(), config_.ignore_identity, {}};
  if (tiers_) {
    for (int r = 0; r < size_; ++r) options.leader_of.push_back(tiers_->nodes().leader(r));
  }
  recovery::Recovery finder(port, pipeline_->store(), rank_, size_, options,
                            [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });  // lines carry their prefix
  const double t0 = PMPI_Wtime();
  recovery::Outcome found = finder.discover();
  discover_seconds_ = PMPI_Wtime() - t0;
  pipeline_->set_next_id(found.next_checkpoint_id);
  // A run that resumes supersedes what it resumed from; one that starts fresh beside older
  // checkpoints (MPISNAP_FRESH, none verified) prunes only its own.
  pipeline_->set_prune_floor(found.restored ? 0 : found.next_checkpoint_id);
  if (!found.restored) return;
  restored_ = std::move(found.restored);
  restored_dir_ = std::move(found.restored_dir);
  load_lineage(restored_->cp);
}

const Node* Runtime::restorable_state() const noexcept {
  return restored_ && !restore_done_ ? &restored_->cp.state : nullptr;
}

void Runtime::fail_restore(const char* what) {
  throw diag::error("cannot restore " + restored_dir_ + "/" +
              storage::rank_file_name(rank_) + " into this program's state: " + what);
}

void Runtime::refuse_unrestored() {
  const RankCheckpoint& cp = restored_->cp;
  throw diag::error("a committed checkpoint was found (" + restored_dir_ + ", safe point " +
                    std::to_string(cp.safe_point) +
                    ") but restore() was not called before the first safe point: this run would start from the "
                    "beginning and its checkpoints would replace that one. Call session.restore(state) right after "
                    "creating the Session, or set MPISNAP_FRESH=1 (Config::fresh) to start from the beginning and "
                    "keep the checkpoints that are there");
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
  if (rank_ == 0) {  // always: which state a job continues from is never a detail
    char written[64] = "at an unknown time";
    const auto t = static_cast<std::time_t>(cp.created_unix);
    std::tm tm{};
    if (cp.created_unix > 0 && localtime_r(&t, &tm)) std::strftime(written, sizeof written, "%Y-%m-%d %H:%M:%S", &tm);
    diag::say("resumed from checkpoint " + std::to_string(cp.checkpoint_id) + " in " + restored_dir_ +
              " (safe point " + std::to_string(cp.safe_point) + ", written " + written + "; found, read and verified in " +
              diag::fixed(discover_seconds_, 3) + " s)");
  }
  // The restored state's buffers have the sizes of the next snapshot's copy: the pool keeps them
  // (state/buffer_pool.hpp), so a restarted job's first checkpoint copies into mapped memory too.
  if (fills_pool_ahead()) pipeline_->buffers().recycle(std::move(cp.state));
  restored_.reset();
  refresh_mode();
}

void Runtime::apply_restored_counters(mpi::CommEntry& e) {
  if (!restore_done_) return;
  for (const CommCounters& c : restored_counters_) {
    if (c.comm != protocol::value(e.id)) continue;
    if (c.world_ranks != e.world)
      throw diag::error("communicator " + std::to_string(c.comm) +
                  " has other members than in the checkpoint; create communicators in the same order as the run "
                  "that wrote it");
    e.peers.for_each([](mpi::PeerCount& p) { p.sent_total = p.delivered_total = 0; });
    for (std::size_t k = 0; k < c.peers.size(); ++k) {  // members all (the reader checked: storage)
      mpi::PeerCount& p = e.peers.at(c.peers[k]);
      p.sent_total = c.sent_total[k];
      p.delivered_total = c.delivered_total[k];
    }
    e.collectives = c.collectives;
    e.idups = std::max(e.idups, c.idups);  // derived ids of later idups stay new
  }
}

}  // namespace mpisnap
