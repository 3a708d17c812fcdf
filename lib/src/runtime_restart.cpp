// Runtime: restoring the checkpoint that recovery (recovery/recovery.hpp) found and the ranks agreed on.
#include <algorithm>
#include <cstdio>

#include "mpi/mpi_collective_port.hpp"
#include "mpi/pmpi.hpp"
#include "recovery/recovery.hpp"
#include "common/diagnostics.hpp"
#include "runtime.hpp"
#include "storage/directory.hpp"

namespace mpisnap {

void Runtime::discover_checkpoint() {
  mpi::MpiCollectivePort port(control_);
  recovery::Options options{config_.fresh_if_corrupt};
  recovery::Recovery finder(port, pipeline_->store(), rank_, size_, options,
                            [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });  // lines carry their prefix
  recovery::Outcome found = finder.discover();
  pipeline_->set_next_id(found.next_checkpoint_id);
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
    diag::say("resumed from checkpoint " + std::to_string(cp.checkpoint_id) + " (safe point " +
              std::to_string(cp.safe_point) + ")");
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
    e.sent_total = c.sent_total;
    e.delivered_total = c.delivered_total;
    e.collectives = c.collectives;
    e.idups = std::max(e.idups, c.idups);  // derived ids of later idups stay new
  }
}

}  // namespace mpisnap
