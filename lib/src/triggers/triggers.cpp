#include "triggers/triggers.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <vector>

#include <mpisnap/error.hpp>

namespace mpisnap::triggers {
namespace {

// Lock-free atomics: safe to set in a signal handler and to read on the helper thread.
std::atomic<int> g_checkpoint_signal{0};
std::atomic<int> g_terminate_signal{0};
std::atomic<int> g_wake_fd{-1};  // the helper's pipe (one session per process)
static_assert(std::atomic<int>::is_always_lock_free);

void wake_from_handler() {
  const int fd = g_wake_fd.load();
  if (fd >= 0) {
    const char c = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &c, 1);  // async-signal-safe; a full pipe already wakes it
  }
}
void on_checkpoint_signal(int) {
  g_checkpoint_signal.store(1);
  wake_from_handler();
}
void on_terminate_signal(int) {
  g_terminate_signal.store(1);
  wake_from_handler();
}

struct SavedHandler {
  int signal;
  struct sigaction action;
};
std::vector<SavedHandler> g_saved;  // the process's handlers are process-wide: so is this

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Triggers::Triggers(std::unique_ptr<sideband::Port> port, int rank, int size, Options options,
                   std::function<void()> progress)
    : rank_(rank), options_(options), progress_(std::move(progress)),
      port_(port ? std::move(port) : std::make_unique<sideband::Port>(rank, sideband::Links{})),
      agreement_(*port_, rank, size), last_checkpoint_(wall_seconds()) {
  if (!options_.enabled) return;
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw Error("mpisnap: the trigger helper: pipe failed");
  if (options_.signals) {
    g_wake_fd.store(wake_[1]);
    install_signals();
  }
  start_helper();
}

Triggers::~Triggers() {
  restore_signals();
  if (helper_.joinable()) {
    stop_.store(true);
    wake();
    helper_.join();
  }
  if (g_wake_fd.load() == wake_[1]) g_wake_fd.store(-1);
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

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

void Triggers::start_helper() {
  // The helper takes no signal: the application's handlers (and ours) run on its own threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  helper_ = std::thread([this] { helper_loop(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Triggers::wake() noexcept {
  const char c = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_[1], &c, 1);
}

void Triggers::set_watch(watch::Watch* w) {
  std::lock_guard<std::mutex> lock(mu_);
  watch_ = w;
  wake();
}

void Triggers::helper_loop() {
  // (1 s: a safety net, every event wakes it — a link, a signal, the main thread; the watch asks
  // for more while it watches a blocked call closely)
  int timeout_ms = 1000;
  while (!stop_.load()) {
    if (rank_ == 0 && options_.interval > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      const double left = last_checkpoint_ + options_.interval - wall_seconds();
      timeout_ms = std::max(0, std::min(timeout_ms, static_cast<int>(left * 1000.0) + 1));
    }
    port_->wait(timeout_ms, wake_[0]);
    char drain[64];
    while (::read(wake_[0], drain, sizeof drain) > 0) {
    }
    std::lock_guard<std::mutex> lock(mu_);
    timeout_ms = serve();
    changed_.notify_all();
  }
}

int Triggers::serve() {
  if (!port_->read() && failure_.empty()) failure_ = port_->failure();
  int next_ms = 1000;
  if (watch_) {
    const double now = wall_seconds();
    sideband::Routed m;
    while (port_->poll_routed(m)) watch_->on_message(*port_, m, now);
  }
  if (g_terminate_signal.exchange(0)) agreement_.trigger(protocol::TriggerKind::Terminate);
  if (g_checkpoint_signal.exchange(0)) agreement_.trigger(protocol::TriggerKind::Checkpoint);
  if (rank_ == 0 && options_.interval > 0) {
    const double now = wall_seconds();
    if (now - last_checkpoint_ >= options_.interval) {
      last_checkpoint_ = now;
      agreement_.trigger(protocol::TriggerKind::Checkpoint);
    }
  }
  advance();
  if (watch_) next_ms = watch_->tick(*port_, wall_seconds(), hold_.load());
  return next_ms;
}

void Triggers::advance() {
  if (!counting_) return;  // (messages wait in the port; the reductions move without the agreement)
  // Joining a round: the hold flag first, then the count (see the header).
  agreement_.progress_counting([this] {
    hold_.store(true);
    return count_.load();
  });
}

void Triggers::throw_if_failed() {
  if (!failure_.empty()) throw Error(failure_);
}

void Triggers::wait_a_moment(std::unique_lock<std::mutex>& lock, int ms) {
  throw_if_failed();
  lock.unlock();
  progress_();  // the rest of the library (a snapshot's messages) keeps moving meanwhile
  lock.lock();
  changed_.wait_for(lock, std::chrono::milliseconds(ms));
}

void Triggers::start_counting(std::uint64_t safe_points) {
  std::lock_guard<std::mutex> lock(mu_);
  count_.store(safe_points);
  counting_ = true;
  wake();
}

void Triggers::request() {
  std::lock_guard<std::mutex> lock(mu_);
  agreement_.trigger(protocol::TriggerKind::Checkpoint);
  // At once, not when the helper next runs (on a busy node that may be many safe points later):
  // rank 0 starts and joins the round here, another rank sends its request up.
  advance();
  wake();
}

bool Triggers::snapshot_here(std::uint64_t safe_point) {
  if (!options_.enabled) return false;
  count_.store(safe_point);
  if (!hold_.load()) return false;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    switch (agreement_.at_safe_point(safe_point)) {
      case protocol::TriggerAgreement::Decision::Continue:
        if (!agreement_.decided() && !agreement_.reducing()) {
          hold_.store(false);  // no round wants this rank
          wake();              // (a round that waited for this one to end may start or be joined)
        }
        return false;
      case protocol::TriggerAgreement::Decision::Snapshot:
        hold_.store(false);  // the round is over here; the helper raises it again for the next one
        wake();
        if (agreement_.decided_kind() == protocol::TriggerKind::Terminate) stop_round_ = agreement_.round();
        return true;
      case protocol::TriggerAgreement::Decision::Wait:
        // This rank told the others how far it is; it may not go further until it knows whether
        // the checkpoint is here.
        wait_a_moment(lock, 2);
        break;
    }
  }
}

std::uint64_t Triggers::take_stop_round() noexcept {
  const std::uint64_t r = stop_round_;
  stop_round_ = 0;
  return r;
}

void Triggers::snapshot_taken() {
  if (rank_ != 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  last_checkpoint_ = wall_seconds();
}

bool Triggers::wait_for_commit(std::uint64_t round) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!agreement_.commit_of(round)) wait_a_moment(lock, 5);
  return *agreement_.commit_of(round);
}

void Triggers::announce_commit(std::uint64_t round, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  agreement_.announce_commit(round, ok);
}

void Triggers::finishing() {
  std::lock_guard<std::mutex> lock(mu_);
  agreement_.finishing();
  if (watch_) watch_->finishing();
  wake();
}

std::uint64_t Triggers::rounds_started() {
  std::lock_guard<std::mutex> lock(mu_);
  return agreement_.rounds_started();
}

void Triggers::settle(std::uint64_t rounds) {
  std::unique_lock<std::mutex> lock(mu_);
  while (agreement_.rounds_joined() < rounds || agreement_.reducing()) wait_a_moment(lock, 2);
}

void Triggers::closing() {
  std::lock_guard<std::mutex> lock(mu_);
  port_->closing();
}

std::uint64_t Triggers::messages_sent() {
  std::lock_guard<std::mutex> lock(mu_);
  return port_->messages_sent();
}

}  // namespace mpisnap::triggers
