// Agreement on the safe point where a triggered checkpoint happens (time, signal, request), without
// MPI. Every rank must snapshot at the same safe point; ranks only learn of a trigger at different
// moments, so they agree on target = max(safe points passed) + 1.
//
//   1. a rank with a trigger sends REQUEST up the binary tree (rank i to (i-1)/2), or is rank 0; a
//      rank passes a request on to its parent unless it already passed one at least as strong since
//      it last joined a round, so when every rank is signalled at once (a scheduler's SIGTERM) each
//      rank sends at most a few requests and the coordinator receives two, not one per rank;
//   2. the coordinator starts round r: START(r) goes down a binary tree (each rank forwards it to
//      ranks 2i+1, 2i+2);
//   3. a rank that sees START contributes (safe points passed c, its own trigger kind, finishing?) to
//      a non-blocking max-reduction, and from then on must not pass safe point c+1 until the result
//      is known: it waits there only while the target is still unknown;
//   4. target = max c + 1; the kind is the strongest any rank contributed (terminate beats
//      checkpoint); if a rank contributed from MPI_Finalize, the round is cancelled (nobody will
//      reach the target).
// Rounds are sequential: the coordinator starts round r+1 once it has passed round r's target, and
// a rank keeps a START(r+1) that arrives early until it has passed round r's target itself.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>

namespace mpisnap::protocol {

enum class TriggerKind : std::uint64_t { None = 0, Checkpoint = 1, Terminate = 2 };

struct AgreementMessage {
  enum Type : std::uint64_t { Request = 1, Start = 2, Committed = 3 } type = Request;
  std::uint64_t round = 0;
  std::uint64_t kind_or_ok = 0;  // Request/Start: TriggerKind; Committed: 1 when the checkpoint committed
  int from = 0;
};

// What the agreement needs from the outside world (TCP in sideband/port.*, a fake in tests).
class AgreementPort {
 public:
  virtual ~AgreementPort() = default;
  virtual void send(int to, const AgreementMessage& m) = 0;
  virtual bool poll(AgreementMessage& m) = 0;
  // Max-reduction over all ranks of {safe points, kind, finishing}.
  virtual void start_reduce(const std::uint64_t in[3]) = 0;
  virtual bool reduce_done(std::uint64_t out[3]) = 0;
};

class TriggerAgreement {
 public:
  enum class Decision { Continue, Snapshot, Wait };

  TriggerAgreement(AgreementPort& port, int rank, int size) : port_(port), rank_(rank), size_(size) {}

  // A trigger on this rank (signal, request_checkpoint(), the coordinator's timer).
  void trigger(TriggerKind kind);
  // Messages and the reduction; `safe_points` = safe points this rank has passed.
  void progress(std::uint64_t safe_points) {
    progress_counting([safe_points] { return safe_points; });
  }
  // The same, with the count read only when this rank joins a round, and then once: a helper thread
  // that contributes for a rank whose main thread is elsewhere first raises the rank's hold flag
  // and then reads its count (triggers/triggers.hpp).
  void progress_counting(const std::function<std::uint64_t()>& safe_points);
  // At safe point `safe_points` (just passed): snapshot here, wait for the agreement, or go on.
  Decision at_safe_point(std::uint64_t safe_points);
  // The kind of the round whose snapshot `at_safe_point` just asked for.
  TriggerKind decided_kind() const noexcept { return decided_kind_; }

  // MPI_Finalize: contribute to any round (as finishing) and stop starting new ones.
  void finishing() noexcept { finishing_ = true; }
  // The target of the round in progress is known here (for the scale simulation's timing).
  bool decided() const noexcept { return state_ == State::Decided; }
  // Rounds this rank knows were started (coordinator) or has joined; see Runtime::agree_at_finalize.
  std::uint64_t rounds_started() const noexcept { return started_; }
  std::uint64_t rounds_joined() const noexcept { return joined_; }
  bool reducing() const noexcept { return state_ == State::Contributed; }

  // The coordinator tells every rank down the tree whether a terminating checkpoint committed.
  void announce_commit(std::uint64_t round, bool ok);
  std::optional<bool> commit_of(std::uint64_t round) const;
  std::uint64_t round() const noexcept { return round_; }

 private:
  enum class State { Idle, Contributed, Decided };
  void start_round();
  void join(std::uint64_t round, TriggerKind kind, std::uint64_t safe_points);
  void forward(const AgreementMessage& m);
  void request_up(std::uint64_t round, TriggerKind kind);

  AgreementPort& port_;
  int rank_;
  int size_;
  State state_ = State::Idle;
  std::uint64_t round_ = 0;            // the round in progress or last finished
  std::uint64_t contributed_ = 0;      // safe points passed when this rank contributed
  std::uint64_t target_ = 0;
  TriggerKind decided_kind_ = TriggerKind::None;
  TriggerKind contributed_kind_ = TriggerKind::None;  // the kind this rank gave the round it joined
  bool cancelled_ = false;
  TriggerKind local_ = TriggerKind::None;      // a trigger not yet contributed to a round
  TriggerKind pending_ = TriggerKind::None;    // coordinator: requests for the next round
  // A non-root rank's requests passed up since it last joined a round: the newest round named and
  // the strongest kind (None: nothing passed up).
  std::uint64_t up_round_ = 0;
  TriggerKind up_kind_ = TriggerKind::None;
  bool finishing_ = false;
  std::deque<AgreementMessage> early_;         // START of a round after the current one
  std::uint64_t started_ = 0, joined_ = 0;
  std::uint64_t committed_round_ = 0;
  bool committed_ok_ = false;
};

}  // namespace mpisnap::protocol
