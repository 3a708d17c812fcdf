// Checkpoints that are not every N safe points — every T seconds (rank 0's clock), on SIGUSR1
// (checkpoint and go on), on SIGTERM or Config::exit_signal (checkpoint, commit, stop), and on
// Session::request_checkpoint() from any rank. They all end in protocol::TriggerAgreement, which
// picks one safe point for every rank without stopping anyone who does not have to.
//
// The agreement runs on a helper thread per rank over the side channel (sideband/port.hpp), never
// on the main thread and never in MPI: a rank whose main thread is blocked inside MPI, or computing,
// takes part all the same. The two threads meet in two words (Dekker's pattern):
//   - the main thread publishes, at every safe point, how many it has passed (`count_`), and then
//     looks at `hold_`;
//   - the helper, when its rank joins a round, raises `hold_` and then reads `count_`: it
//     contributes that count, so the main thread sees `hold_` at the next safe point at the latest,
//     where the agreement says whether to snapshot there, go on, or wait for the decision (which
//     needs only the helpers: the wait is short).
// So a safe point with no round in progress costs a store and a load, and blocking calls need not
// poll for the agreement. Everything else the two threads share (the agreement, the port) is under
// one mutex. Signal handlers only set flags and wake the helper through a pipe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "protocol/trigger_agreement.hpp"
#include "sideband/port.hpp"
#include "watch/watch.hpp"

namespace mpisnap::triggers {

struct Options {
  bool enabled = true;    // Config::triggers
  bool signals = true;    // Config::signals: install the handlers
  int exit_signal = SIGUSR2;  // Config::exit_signal (besides SIGTERM)
  double interval = 0;    // Config::interval, seconds (rank 0's clock); 0: none
};

class Triggers {
 public:
  // `port`: the side channel to the tree neighbours (nullptr when triggers are off: then nothing
  // runs). `progress`: one pass of the runtime's progress loop, run while the main thread waits.
  Triggers(std::unique_ptr<sideband::Port> port, int rank, int size, Options options, std::function<void()> progress);
  ~Triggers();  // stops the helper; the application's signal handlers come back
  Triggers(const Triggers&) = delete;
  Triggers& operator=(const Triggers&) = delete;

  bool enabled() const noexcept { return options_.enabled; }
  // The blocked-call watch runs on the helper from now on (its messages, its ticks), under the lock.
  void set_watch(watch::Watch* w);

  // From now on the helper contributes to rounds: `safe_points` is how many this rank has passed
  // (a restarted run's count starts at its checkpoint's). Until then a round waits for this rank.
  void start_counting(std::uint64_t safe_points);
  // Session::request_checkpoint().
  void request();
  // At a safe point (`safe_point`: safe points passed, this one included): does the agreement want a
  // snapshot here? Waits (progressing) while it cannot know. A stop round's snapshot leaves its
  // round for take_stop_round().
  bool snapshot_here(std::uint64_t safe_point);
  // The stop round whose snapshot this rank takes now (0: none), once.
  std::uint64_t take_stop_round() noexcept;
  // A snapshot was taken: the interval counts from now.
  void snapshot_taken();
  // Waits (progressing) until the checkpoint of stop round `round` committed or failed everywhere.
  bool wait_for_commit(std::uint64_t round);
  // Rank 0, when a stop round's checkpoint committed or failed: every rank learns it.
  void announce_commit(std::uint64_t round, bool ok);

  // MPI_Finalize: contribute to any round as finishing (which cancels it), start no new ones.
  void finishing();
  std::uint64_t rounds_started();
  // Waits (progressing) until this rank joined `rounds` rounds and no reduction is open.
  void settle(std::uint64_t rounds);
  // From now on a tree neighbour that closes its connection has finished, not failed.
  void closing();
  // The application's signal handlers come back (MPI_Finalize).
  void restore_signals() noexcept;
  std::uint64_t messages_sent();

 private:
  void install_signals();
  void start_helper();
  void helper_loop();
  // The helper's part of one wake-up, under the lock: signals, the interval, the agreement, the
  // watch. Returns how soon (ms) the helper must look again even if nothing wakes it.
  int serve();
  // The agreement's step (joining a round with this rank's count), under the lock: the helper's,
  // and the main thread's own where it has news for it.
  void advance();
  // Waits on the helper once (at most `ms`), the lock released meanwhile, and runs `progress_`.
  void wait_a_moment(std::unique_lock<std::mutex>& lock, int ms);
  void throw_if_failed();
  void wake() noexcept;

  int rank_;
  Options options_;
  std::function<void()> progress_;
  std::unique_ptr<sideband::Port> port_;
  watch::Watch* watch_ = nullptr;  // under mu_

  std::mutex mu_;
  std::condition_variable changed_;  // the helper made progress
  protocol::TriggerAgreement agreement_;  // under mu_ (its port too)
  std::atomic<std::uint64_t> count_{0};   // safe points the main thread passed
  std::atomic<bool> hold_{false};         // a round this rank joined may want a snapshot
  std::uint64_t stop_round_ = 0;  // main thread: the agreed stop round whose snapshot happens now
  double last_checkpoint_ = 0;    // rank 0: for the interval (under mu_)
  std::string failure_;           // the side channel's, once (under mu_)
  bool counting_ = false;         // start_counting was called (under mu_)

  int wake_[2] = {-1, -1};        // a pipe: the main thread and the signal handlers wake the helper
  std::atomic<bool> stop_{false};
  std::thread helper_;
};

}  // namespace mpisnap::triggers
