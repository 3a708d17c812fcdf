#include "protocol/trigger_agreement.hpp"

#include <algorithm>
#include <string>

#include <mpisnap/error.hpp>

namespace mpisnap::protocol {
namespace {

TriggerKind stronger(TriggerKind a, TriggerKind b) {
  return static_cast<std::uint64_t>(a) >= static_cast<std::uint64_t>(b) ? a : b;
}

}  // namespace

void TriggerAgreement::trigger(TriggerKind kind) {
  // A round this rank has joined and not yet passed the target of snapshots after this trigger:
  // it answers the trigger when it is at least as strong (a signal sent to every rank of a job
  // reaches them at different moments, some after the round it started: one checkpoint, not two).
  const TriggerKind round_kind = state_ == State::Contributed ? contributed_kind_
                                 : state_ == State::Decided   ? decided_kind_
                                                              : TriggerKind::None;
  if (round_kind != TriggerKind::None && stronger(kind, round_kind) == round_kind) return;
  local_ = stronger(local_, kind);
  if (rank_ == 0) pending_ = stronger(pending_, kind);
}

void TriggerAgreement::forward(const AgreementMessage& m) {
  for (int child = 2 * rank_ + 1; child <= 2 * rank_ + 2 && child < size_; ++child) port_.send(child, m);
}

void TriggerAgreement::request_up(std::uint64_t round, TriggerKind kind) {
  if (up_kind_ != TriggerKind::None && round <= up_round_ && stronger(kind, up_kind_) == up_kind_) return;
  up_round_ = std::max(up_round_, round);
  up_kind_ = stronger(up_kind_, kind);
  port_.send((rank_ - 1) / 2, {AgreementMessage::Request, up_round_, static_cast<std::uint64_t>(up_kind_), rank_});
}

void TriggerAgreement::join(std::uint64_t round, TriggerKind kind, std::uint64_t safe_points) {
  round_ = round;
  ++joined_;
  contributed_ = safe_points;
  forward({AgreementMessage::Start, round, static_cast<std::uint64_t>(kind), rank_});
  contributed_kind_ = stronger(kind, local_);
  const std::uint64_t in[3] = {safe_points, static_cast<std::uint64_t>(contributed_kind_), finishing_ ? 1u : 0u};
  local_ = TriggerKind::None;
  up_kind_ = TriggerKind::None;
  port_.start_reduce(in);
  state_ = State::Contributed;
}

void TriggerAgreement::start_round() {
  ++started_;
  const TriggerKind kind = pending_;
  pending_ = TriggerKind::None;
  early_.push_front({AgreementMessage::Start, round_ + 1, static_cast<std::uint64_t>(kind), rank_});
}

void TriggerAgreement::progress_counting(const std::function<std::uint64_t()>& safe_points) {
  AgreementMessage m;
  while (port_.poll(m)) {
    switch (m.type) {
      case AgreementMessage::Request:
        // A requester that has not joined the newest round will contribute its trigger there. A
        // request passed up names the newest round any requester below had joined: a child has
        // never joined a round its parent has not, so that is the one that decides.
        if (rank_ == 0) {
          if (m.round >= started_) pending_ = stronger(pending_, static_cast<TriggerKind>(m.kind_or_ok));
        } else {
          request_up(m.round, static_cast<TriggerKind>(m.kind_or_ok));
        }
        break;
      case AgreementMessage::Start:
        early_.push_back(m);
        break;
      case AgreementMessage::Committed:
        committed_round_ = m.round;
        committed_ok_ = m.kind_or_ok != 0;
        forward(m);
        break;
    }
  }
  if (rank_ == 0 && state_ == State::Idle && pending_ != TriggerKind::None && !finishing_) start_round();
  if (state_ == State::Idle && !early_.empty()) {
    std::sort(early_.begin(), early_.end(), [](const auto& a, const auto& b) { return a.round < b.round; });
    if (early_.front().round == round_ + 1) {
      const AgreementMessage s = early_.front();
      early_.pop_front();
      join(s.round, static_cast<TriggerKind>(s.kind_or_ok), safe_points());
    }
  }
  if (state_ == State::Contributed) {
    std::uint64_t out[3];
    if (port_.reduce_done(out)) {
      target_ = out[0] + 1;
      decided_kind_ = static_cast<TriggerKind>(out[1]);
      cancelled_ = out[2] != 0;
      state_ = cancelled_ ? State::Idle : State::Decided;
    }
  }
  if (rank_ != 0 && local_ != TriggerKind::None && !finishing_) request_up(round_, local_);
}

TriggerAgreement::Decision TriggerAgreement::at_safe_point(std::uint64_t safe_points) {
  switch (state_) {
    case State::Idle:
      return Decision::Continue;
    case State::Contributed:
      return safe_points > contributed_ ? Decision::Wait : Decision::Continue;
    case State::Decided:
      if (safe_points == target_) {
        state_ = State::Idle;
        return Decision::Snapshot;
      }
      if (safe_points > target_)
        throw Error("mpisnap: internal: passed the agreed safe point " + std::to_string(target_));
      return Decision::Continue;
  }
  return Decision::Continue;
}

void TriggerAgreement::announce_commit(std::uint64_t round, bool ok) {
  committed_round_ = round;
  committed_ok_ = ok;
  forward({AgreementMessage::Committed, round, ok ? 1u : 0u, rank_});
}

std::optional<bool> TriggerAgreement::commit_of(std::uint64_t round) const {
  if (committed_round_ < round) return std::nullopt;
  return committed_round_ == round ? committed_ok_ : false;
}

}  // namespace mpisnap::protocol
