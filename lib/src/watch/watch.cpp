#include "watch/watch.hpp"

#include <algorithm>

#include "common/diagnostics.hpp"

namespace mpisnap::watch {
namespace {

constexpr double kAskAgain = 0.25;     // seconds between a receive's questions about its sources' cuts
constexpr int kIdleTickMs = 1000;      // nothing watched closely: how soon the helper looks again

std::string tag_text(int tag) { return tag == deadlock::kAnyTag ? std::string("any") : std::to_string(tag); }

}  // namespace

Watch::Watch(int rank, BlockedCall& call, Reader& reader, Options options, Fatal fatal)
    : rank_(rank), call_(call), reader_(reader), options_(options), fatal_(std::move(fatal)) {
  if (rank_ == 0 && options_.deadlock_after > 0) monitor_ = std::make_unique<deadlock::Monitor>();
}

void Watch::start_epoch(std::uint64_t seq) {
  std::lock_guard<std::mutex> lock(cut_mu_);
  cut_seq_ = seq;
  cut_sent_.clear();
}

void Watch::cut_taken(std::uint64_t seq, std::uint64_t safe_point,
                      std::map<std::pair<std::uint64_t, int>, std::uint64_t> sent) {
  std::lock_guard<std::mutex> lock(cut_mu_);
  cut_seq_ = seq;
  cut_safe_point_ = safe_point;
  cut_sent_ = std::move(sent);
}

int Watch::tick(sideband::Port& port, double now, bool round_open) {
  int next = kIdleTickMs;
  if (monitor_) {
    judge(port, now);
    next = std::min(next, 100);
  }
  if (finishing_) return next;
  const std::uint64_t e = call_.inside();
  if (e != episode_) {  // a new call (or none): start watching it afresh
    episode_ = e;
    since_ = now;
    reported_ = false;
    sources_read_ = false;
    sources_.clear();
    cuts_.clear();
    asked_seq_ = 0;
    asked_at_ = -1;
  }
  if (e == 0) return next;
  if (options_.deadlock_after > 0 && !reported_) {
    if (now - since_ >= options_.deadlock_after) watch_deadlock(port, now, e);
    else next = std::min(next, static_cast<int>((options_.deadlock_after - (now - since_)) * 1000.0) + 1);
  }
  if (round_open || options_.every_n) {
    if (now - since_ >= options_.misplaced_after) watch_misplaced(port, now, e);
    next = std::min(next, 50);
  }
  return next;
}

void Watch::watch_deadlock(sideband::Port& port, double now, std::uint64_t e) {
  (void)now;
  reported_ = true;
  deadlock::Report r;
  if (!call_.hold(e)) return;  // it returned: the next call is watched afresh
  const bool describable = reader_.describe(call_.held_call(), r);
  r.call = call_name(call_.held_call());
  call_.release();
  r.rank = rank_;
  r.episode = e;
  if (!describable) r.waits.clear();  // waits on nothing the library can judge: never stuck
  port.route(0, kReport, deadlock::encode(r));
}

void Watch::watch_misplaced(sideband::Port& port, double now, std::uint64_t e) {
  if (!sources_read_) {
    if (!call_.hold(e)) return;
    reader_.sources(call_.held_call(), sources_);
    sources_any_ = ends_with_any(call_.held_call());
    call_.release();
    sources_read_ = true;
  }
  if (sources_.empty()) return;
  if (asked_at_ >= 0 && now - asked_at_ < kAskAgain) return;
  std::uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(cut_mu_);
    seq = cut_seq_ + 1;  // the snapshot this rank has not reached
  }
  asked_seq_ = seq;
  asked_at_ = now;
  for (const Source& s : sources_)
    if (!cuts_.count({s.comm, s.world})) port.route(s.world, kCutQuestion, {seq, s.comm});
}

void Watch::check_misplaced() {
  // A source that answered, all of whose messages sent before its cut this rank has received: the
  // call needs one more from it, which can only come after its snapshot. A call that any source
  // ends is short only when every one of its sources is.
  const Source* stuck = nullptr;
  std::size_t short_of = 0;
  for (const Source& s : sources_) {
    auto it = cuts_.find({s.comm, s.world});
    if (it == cuts_.end() || s.received < it->second.first) continue;
    if (!stuck) stuck = &s;
    ++short_of;
  }
  if (!stuck || (sources_any_ && short_of < sources_.size())) return;
  // Still the same call? (The counts were read inside it and cannot have changed since.)
  if (call_.inside() != episode_) return;
  const std::uint64_t at = cuts_[{stuck->comm, stuck->world}].second;
  const std::string who = std::to_string(stuck->world);
  fatal_("misplaced safe point: this rank waits for a message from rank " + who + " (tag " + tag_text(stuck->tag) +
             ", communicator " + std::to_string(stuck->comm) + ") that rank " + who +
             " sends only after its safe point " + std::to_string(at) +
             ", where it took the next checkpoint" +
             (!sources_any_ || short_of < 2 ? ""
              : short_of == 2     ? " (and so does the other source this call waits on)"
                                  : " (and so do the " + std::to_string(short_of - 1) + " other sources this call waits on)") +
             "; this rank must get there first and cannot. "
             "Reaching safe point k must never need a message that another rank sends after its own safe point k: "
             "move checkpoint_point() so that every rank passes it between the same communication steps.",
         70, false);
}

bool Watch::on_message(sideband::Port& port, const sideband::Routed& m, double now) {
  const std::vector<std::uint64_t>& w = m.words;
  switch (m.kind) {
    case kReport:
      if (monitor_ && !finishing_) monitor_->report(deadlock::decode(w.data(), w.size()));
      return true;
    case kAsk:  // {round, episode}: still in that call?
      if (w.size() == 2) port.route(m.from, kAnswer, {w[0], w[1], call_.inside() == w[1] ? 1u : 0u});
      return true;
    case kAnswer:
      if (monitor_ && w.size() == 3) monitor_->answer(m.from, w[0], w[1], w[2] != 0);
      return true;
    case kCutQuestion: {  // {seq, comm}: what did you send me before your snapshot seq?
      if (w.size() != 2) return true;
      std::lock_guard<std::mutex> lock(cut_mu_);
      if (cut_seq_ != w[0]) {
        port.route(m.from, kCutAnswer, {w[0], w[1], 0, 0, 0});
      } else {
        auto it = cut_sent_.find({w[1], m.from});
        port.route(m.from, kCutAnswer, {w[0], w[1], 1, it == cut_sent_.end() ? 0 : it->second, cut_safe_point_});
      }
      return true;
    }
    case kCutAnswer:  // {seq, comm, known, sent before, safe point}
      if (w.size() == 5 && w[2] && w[0] == asked_seq_ && call_.inside() == episode_ && episode_ != 0 && !finishing_) {
        cuts_[{w[1], m.from}] = {w[3], w[4]};
        check_misplaced();
      }
      return true;
    default:
      (void)now;
      return false;
  }
}

void Watch::judge(sideband::Port& port, double now) {
  monitor_->expire(now, std::max(2.0, 2 * options_.deadlock_after));
  deadlock::Monitor::Question q;
  if (monitor_->propose(now, q)) {
    for (const auto& [rank, episode] : q.episodes) {
      if (rank == rank_) monitor_->answer(rank, q.round, episode, call_.inside() == episode);
      else port.route(rank, kAsk, {q.round, episode});
    }
  }
  const std::string verdict = monitor_->verdict();
  if (verdict.empty() || finishing_) return;
  fatal_("deadlock: these ranks wait for each other and nothing in flight can end it (each was blocked for more than " +
             diag::fixed(options_.deadlock_after, 1) + " s, and all were at once); " + verdict +
             "\nmpisnap: ending the job with status 72 (MPISNAP_DEADLOCK=0 turns this check off)",
         72, true);
}

}  // namespace mpisnap::watch
