// Runtime: checkpoints that are not every N safe points — every T seconds (rank 0's clock), on
// SIGUSR1 (checkpoint and go on), on SIGTERM or Config::exit_signal (checkpoint, commit, stop), and
// on Session::request_checkpoint() from any rank. They all end in protocol::TriggerAgreement, which
// picks one safe point for every rank without stopping anyone who does not have to.
//
// Signal handlers only set flags; the flags are read at safe points and wherever the library
// progresses.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "mpi/pmpi.hpp"
#include "common/diagnostics.hpp"
#include "runtime.hpp"

namespace mpisnap {
namespace {

volatile std::sig_atomic_t g_checkpoint_signal = 0;
volatile std::sig_atomic_t g_terminate_signal = 0;

void on_checkpoint_signal(int) { g_checkpoint_signal = 1; }
void on_terminate_signal(int) { g_terminate_signal = 1; }

struct SavedHandler {
  int signal;
  struct sigaction action;
};
std::vector<SavedHandler> g_saved;

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void Runtime::setup_triggers() {
  triggers_ = config_.triggers;
  agreement_port_ = std::make_unique<mpi::MpiAgreementPort>(control_, agree_);
  agreement_ = std::make_unique<protocol::TriggerAgreement>(*agreement_port_, rank_, size_);
  last_checkpoint_wall_ = wall_seconds();
  if (triggers_ && config_.signals) install_signals();
}

void Runtime::install_signals() {
  auto install = [](int sig, void (*handler)(int)) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    SavedHandler saved{sig, {}};
    if (sigaction(sig, &sa, &saved.action) == 0) g_saved.push_back(saved);
  };
  install(SIGUSR1, on_checkpoint_signal);
  install(SIGTERM, on_terminate_signal);
  if (config_.exit_signal != SIGTERM && config_.exit_signal != SIGUSR1) install(config_.exit_signal, on_terminate_signal);
}

void Runtime::restore_signals() noexcept {
  for (const SavedHandler& s : g_saved) sigaction(s.signal, &s.action, nullptr);
  g_saved.clear();
}

void Runtime::poll_triggers() {
  if (!triggers_) return;
  if (g_terminate_signal) {
    g_terminate_signal = 0;
    agreement_->trigger(protocol::TriggerKind::Terminate);
  }
  if (g_checkpoint_signal) {
    g_checkpoint_signal = 0;
    agreement_->trigger(protocol::TriggerKind::Checkpoint);
  }
  if (rank_ == 0 && config_.interval > 0) {
    const double now = wall_seconds();
    if (now - last_checkpoint_wall_ >= config_.interval) {
      last_checkpoint_wall_ = now;
      agreement_->trigger(protocol::TriggerKind::Checkpoint);
    }
  }
  agreement_->progress(safe_point_);
}

void Runtime::request_checkpoint() {
  if (!triggers_)
    throw diag::error(
        "request_checkpoint() with triggers off (Config::triggers, MPISNAP_TRIGGERS=0: only every-N checkpoints are enabled)");
  agreement_->trigger(protocol::TriggerKind::Checkpoint);
  agreement_->progress(safe_point_);
}

bool Runtime::agreed_snapshot_here() {
  if (!triggers_) return false;
  poll_triggers();
  for (;;) {
    switch (agreement_->at_safe_point(safe_point_)) {
      case protocol::TriggerAgreement::Decision::Continue:
        return false;
      case protocol::TriggerAgreement::Decision::Snapshot:
        if (agreement_->decided_kind() == protocol::TriggerKind::Terminate) terminate_round_ = agreement_->round();
        return true;
      case protocol::TriggerAgreement::Decision::Wait:
        // This rank told the others how far it is; it may not go further until it knows whether
        // the checkpoint is here.
        progress();
        poll_triggers();
        break;
    }
  }
}

void Runtime::wait_for_terminating_commit(std::uint64_t round) {
  while (!agreement_->commit_of(round)) {
    progress();
    poll_triggers();
  }
  should_exit_ = *agreement_->commit_of(round);
  if (!should_exit_ && rank_ == 0)
    diag::say("the checkpoint requested by the stop signal did not commit; the run goes on");
  if (should_exit_ && rank_ == 0 && config_.verbose)
    diag::say("stop signal: checkpoint committed at safe point " + std::to_string(safe_point_) + "; leaving");
}

void Runtime::stop_after_checkpoint() {
  // The program went on after should_exit(): every rank is at the same safe point (the one after
  // the committed checkpoint), so they all stop here.
  Finalize();  // deletes the runtime and exits with kExitCheckpointed
  std::exit(Session::kExitCheckpointed);
}

}  // namespace mpisnap
