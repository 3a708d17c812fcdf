#include "triggers/triggers.hpp"

#include <chrono>
#include <csignal>
#include <vector>

namespace mpisnap::triggers {
namespace {

volatile std::sig_atomic_t g_checkpoint_signal = 0;
volatile std::sig_atomic_t g_terminate_signal = 0;

void on_checkpoint_signal(int) { g_checkpoint_signal = 1; }
void on_terminate_signal(int) { g_terminate_signal = 1; }

struct SavedHandler {
  int signal;
  struct sigaction action;
};
std::vector<SavedHandler> g_saved;  // the process's handlers are process-wide: so is this

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Triggers::Triggers(protocol::AgreementPort& port, int rank, int size, Options options, std::function<void()> progress)
    : agreement_(port, rank, size), rank_(rank), options_(options), progress_(std::move(progress)),
      last_checkpoint_(wall_seconds()) {
  if (options_.enabled && options_.signals) install_signals();
}

Triggers::~Triggers() { restore_signals(); }

void Triggers::install_signals() {
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
  if (options_.exit_signal != SIGTERM && options_.exit_signal != SIGUSR1) install(options_.exit_signal, on_terminate_signal);
}

void Triggers::restore_signals() noexcept {
  for (const SavedHandler& s : g_saved) sigaction(s.signal, &s.action, nullptr);
  g_saved.clear();
}

void Triggers::poll(std::uint64_t safe_point) {
  if (!options_.enabled) return;
  if (g_terminate_signal) {
    g_terminate_signal = 0;
    agreement_.trigger(protocol::TriggerKind::Terminate);
  }
  if (g_checkpoint_signal) {
    g_checkpoint_signal = 0;
    agreement_.trigger(protocol::TriggerKind::Checkpoint);
  }
  if (rank_ == 0 && options_.interval > 0) {
    const double now = wall_seconds();
    if (now - last_checkpoint_ >= options_.interval) {
      last_checkpoint_ = now;
      agreement_.trigger(protocol::TriggerKind::Checkpoint);
    }
  }
  agreement_.progress(safe_point);
}

void Triggers::request(std::uint64_t safe_point) {
  agreement_.trigger(protocol::TriggerKind::Checkpoint);
  agreement_.progress(safe_point);
}

bool Triggers::snapshot_here(std::uint64_t safe_point) {
  if (!options_.enabled) return false;
  poll(safe_point);
  for (;;) {
    switch (agreement_.at_safe_point(safe_point)) {
      case protocol::TriggerAgreement::Decision::Continue:
        return false;
      case protocol::TriggerAgreement::Decision::Snapshot:
        if (agreement_.decided_kind() == protocol::TriggerKind::Terminate) stop_round_ = agreement_.round();
        return true;
      case protocol::TriggerAgreement::Decision::Wait:
        // This rank told the others how far it is; it may not go further until it knows whether
        // the checkpoint is here.
        progress_();
        poll(safe_point);
        break;
    }
  }
}

std::uint64_t Triggers::take_stop_round() noexcept {
  const std::uint64_t r = stop_round_;
  stop_round_ = 0;
  return r;
}

void Triggers::snapshot_taken() noexcept {
  if (rank_ == 0) last_checkpoint_ = wall_seconds();
}

bool Triggers::wait_for_commit(std::uint64_t round, std::uint64_t safe_point) {
  while (!agreement_.commit_of(round)) {
    progress_();
    poll(safe_point);
  }
  return *agreement_.commit_of(round);
}

}  // namespace mpisnap::triggers
