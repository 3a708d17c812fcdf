// Runtime: the triggers (triggers/triggers.hpp) wired to the rest — their side channel set up
// (every rank's endpoint allgathered over MPI, then TCP to its tree neighbours), asked at safe
// points (runtime_snapshot.cpp); and what follows a stop round's checkpoint: leaving the run once
// it committed.
#include <cstdlib>
#include <vector>

#include "common/diagnostics.hpp"
#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap {

namespace {
constexpr double kConnectSeconds = 60;  // to reach the tree neighbours at the start
}  // namespace

void Runtime::setup_triggers() {
  triggers::Options options;
  options.enabled = config_.triggers;
  options.signals = config_.signals;
  options.exit_signal = config_.exit_signal;
  options.interval = config_.interval;
  std::unique_ptr<sideband::Port> port;
  if (options.enabled) {
    sideband::Listener listener;
    const sideband::Endpoint mine = listener.endpoint();
    std::vector<sideband::Endpoint> all(static_cast<std::size_t>(size_));
    mpi::check(PMPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, control_),
               "PMPI_Allgather(side channel)");
    sideband::Links links = sideband::connect_tree(rank_, size_, sideband::job_of(all), listener, all, kConnectSeconds);
    // Every rank is connected before any goes on (the connections are made; nothing waits on them yet).
    mpi::check(PMPI_Barrier(control_), "PMPI_Barrier(side channel)");
    port = std::make_unique<sideband::Port>(rank_, std::move(links));
  }
  triggers_ = std::make_unique<triggers::Triggers>(std::move(port), rank_, size_, options, [this] { progress(); });
}

void Runtime::request_checkpoint() {
  if (!triggers_->enabled())
    throw diag::error(
        "request_checkpoint() with triggers off (Config::triggers, MPISNAP_TRIGGERS=0: only every-N checkpoints are enabled)");
  triggers_->request();
}

void Runtime::wait_for_stop_commit(std::uint64_t round) {
  should_exit_ = triggers_->wait_for_commit(round);
  if (!should_exit_ && rank_ == 0)
    diag::say("the checkpoint requested by the stop signal did not commit; the run goes on");
  if (should_exit_ && rank_ == 0 && config_.verbose)
    diag::say("stop signal: checkpoint committed at safe point " + std::to_string(safe_point_) +
              (tiers_ ? " on the node-local tier; leaving once it is on the global tier" : "; leaving"));
}

}  // namespace mpisnap
