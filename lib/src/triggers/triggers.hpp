// Checkpoints that are not every N safe points — every T seconds (rank 0's clock), on SIGUSR1
// (checkpoint and go on), on SIGTERM or Config::exit_signal (checkpoint, commit, stop), and on
// Session::request_checkpoint() from any rank. They all end in protocol::TriggerAgreement, which
// picks one safe point for every rank without stopping anyone who does not have to.
//
// Signal handlers only set flags; the flags are read here, at safe points and wherever the library
// progresses. Over a protocol::AgreementPort (MPI: mpi::MpiAgreementPort), like the agreement it
// owns; where it must wait for other ranks it calls back into the runtime's progress loop.
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>

#include "protocol/trigger_agreement.hpp"

namespace mpisnap::triggers {

struct Options {
  bool enabled = true;    // Config::triggers
  bool signals = true;    // Config::signals: install the handlers
  int exit_signal = SIGUSR2;  // Config::exit_signal (besides SIGTERM)
  double interval = 0;    // Config::interval, seconds (rank 0's clock); 0: none
};

class Triggers {
 public:
  // `progress`: one pass of the runtime's progress loop (it calls poll() itself).
  Triggers(protocol::AgreementPort& port, int rank, int size, Options options, std::function<void()> progress);
  ~Triggers();  // the application's signal handlers come back
  Triggers(const Triggers&) = delete;
  Triggers& operator=(const Triggers&) = delete;

  bool enabled() const noexcept { return options_.enabled; }
  protocol::TriggerAgreement& agreement() noexcept { return agreement_; }

  // Signals and the interval become triggers; the agreement moves (`safe_point`: this rank's count).
  void poll(std::uint64_t safe_point);
  // Session::request_checkpoint().
  void request(std::uint64_t safe_point);
  // At a safe point: does the agreement want a snapshot here? Waits (progressing) while it cannot
  // know. A stop round's snapshot leaves its round for take_stop_round().
  bool snapshot_here(std::uint64_t safe_point);
  // The stop round whose snapshot this rank takes now (0: none), once.
  std::uint64_t take_stop_round() noexcept;
  // A snapshot was taken: the interval counts from now.
  void snapshot_taken() noexcept;
  // Waits (progressing) until the checkpoint of stop round `round` committed or failed everywhere.
  bool wait_for_commit(std::uint64_t round, std::uint64_t safe_point);
  // The application's signal handlers come back (MPI_Finalize).
  void restore_signals() noexcept;

 private:
  void install_signals();

  protocol::TriggerAgreement agreement_;
  int rank_;
  Options options_;
  std::function<void()> progress_;
  std::uint64_t stop_round_ = 0;  // the agreed stop round whose snapshot happens at this safe point
  double last_checkpoint_ = 0;    // rank 0: for the interval
};

}  // namespace mpisnap::triggers
