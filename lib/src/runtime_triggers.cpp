// Runtime: the triggers (triggers/triggers.hpp) wired to the rest — constructed over the agreement's
// MPI port, asked at safe points (runtime_snapshot.cpp), polled by progress(); and what follows a
// stop round's checkpoint: leaving the run once it committed.
#include <cstdlib>

#include "common/diagnostics.hpp"
#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap {

void Runtime::setup_triggers() {
  agreement_port_ = std::make_unique<mpi::MpiAgreementPort>(control_, agree_);
  triggers::Options options;
  options.enabled = config_.triggers;
  options.signals = config_.signals;
  options.exit_signal = config_.exit_signal;
  options.interval = config_.interval;
  triggers_ = std::make_unique<triggers::Triggers>(*agreement_port_, rank_, size_, options, [this] { progress(); });
}

void Runtime::request_checkpoint() {
  if (!triggers_->enabled())
    throw diag::error(
        "request_checkpoint() with triggers off (Config::triggers, MPISNAP_TRIGGERS=0: only every-N checkpoints are enabled)");
  triggers_->request(safe_point_);
}

void Runtime::wait_for_stop_commit(std::uint64_t round) {
  should_exit_ = triggers_->wait_for_commit(round, safe_point_);
  if (!should_exit_ && rank_ == 0)
    diag::say("the checkpoint requested by the stop signal did not commit; the run goes on");
  if (should_exit_ && rank_ == 0 && config_.verbose)
    diag::say("stop signal: checkpoint committed at safe point " + std::to_string(safe_point_) +
              (tiers_ ? " on the node-local tier; leaving once it is on the global tier" : "; leaving"));
}

}  // namespace mpisnap
