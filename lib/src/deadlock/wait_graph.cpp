#include "deadlock/wait_graph.hpp"

#include <algorithm>
#include <iterator>
#include <set>
#include <stdexcept>

namespace mpisnap::deadlock {
namespace {

std::uint64_t sent_by(const Report& from, std::uint64_t comm, int to) {
  for (const Count& c : from.counts)
    if (c.comm == comm && c.peer == to) return c.sent;
  return 0;
}
std::uint64_t received_by(const Report& at, std::uint64_t comm, int from) {
  for (const Count& c : at.counts)
    if (c.comm == comm && c.peer == from) return c.received;
  return 0;
}

// Whether `w` (a receive of `r`) could match a message `sender` sends, were it to send.
bool could_match(const Wait& w, std::uint64_t comm, int sender, int tag) {
  return !w.send && w.comm == comm && (w.peer == kAnySource || w.peer == sender) && (w.tag == kAnyTag || w.tag == tag);
}

bool in_runs(const std::vector<Run>& runs, int rank) {
  // (increasing and disjoint: the last run starting at or before `rank`)
  auto it = std::upper_bound(runs.begin(), runs.end(), rank, [](int x, const Run& r) { return x < r.first; });
  return it != runs.begin() && rank < std::prev(it)->first + std::prev(it)->count;
}

// Whether `r` is in the very collective call `w` is.
bool in_collective(const Report& r, const Wait& w) {
  for (const Wait& theirs : r.waits)
    if (theirs.collective && theirs.comm == w.comm && theirs.round == w.round) return true;
  return false;
}

// The stuck members of collective `w`'s communicator that are not in it: they never join it.
std::vector<int> absent_members(const Wait& w, const std::map<int, Report>& reports, const std::set<int>& stuck,
                                std::size_t at_most) {
  std::vector<int> out;
  for (int m : stuck) {
    if (out.size() >= at_most) break;
    if (in_runs(w.member_runs, m) && !in_collective(reports.at(m), w)) out.push_back(m);
  }
  return out;
}

// The ranks whose action could end wait `w` of `r`, given the ranks still considered stuck; true
// when something could (the wait is not stuck). `absent` caches, per collective call, whether a
// stuck member is not in it (within one pass over the stuck set: a pass that changes nothing, the
// last, sees one set throughout).
using CollectiveKey = std::pair<std::uint64_t, std::uint64_t>;  // comm, round
bool wakeable(const Report& r, const Wait& w, const std::map<int, Report>& reports, const std::set<int>& stuck,
              std::map<CollectiveKey, bool>& absent) {
  if (w.collective) {
    if (w.member_runs.empty()) return true;  // members unknown: never stuck
    const auto [it, fresh] = absent.try_emplace({w.comm, w.round}, false);
    if (fresh) it->second = !absent_members(w, reports, stuck, 1).empty();
    return !it->second;
  }
  if (w.send) {
    const auto it = reports.find(w.peer);
    if (it == reports.end() || !stuck.count(w.peer)) return true;  // the receiver may yet post a receive
    for (const Wait& theirs : it->second.waits)
      if (could_match(theirs, w.comm, r.rank, w.tag)) return true;  // it is waiting for this very message
    return false;
  }
  std::vector<int> sources = w.peer == kAnySource ? w.members : std::vector<int>{w.peer};
  if (sources.empty()) return true;  // nobody known who could send: assume someone may
  for (int s : sources) {
    const auto it = reports.find(s);
    if (it == reports.end() || !stuck.count(s)) return true;  // a rank that is not stuck may send
    if (sent_by(it->second, w.comm, r.rank) > received_by(r, w.comm, s)) return true;  // one on its way
  }
  return false;
}

std::string wait_text(const Wait& w, const std::map<int, Report>& reports, const std::set<int>& stuck) {
  if (w.collective) {
    std::string t = "collective call " + std::to_string(w.round) + " on communicator " + std::to_string(w.comm);
    const std::vector<int> absent = absent_members(w, reports, stuck, 9);
    if (absent.empty()) return t;
    t += ", which rank";
    if (absent.size() > 1) t += "s";
    for (std::size_t i = 0; i < absent.size() && i < 8; ++i) t += (i ? ", " : " ") + std::to_string(absent[i]);
    if (absent.size() > 8) t += ", ...";
    return t + (absent.size() > 1 ? " never join" : " never joins");
  }
  std::string t = w.send ? "a send to rank " + std::to_string(w.peer)
                         : (w.peer == kAnySource ? std::string("a receive from any rank")
                                                 : "a receive from rank " + std::to_string(w.peer));
  t += " (tag " + (w.tag == kAnyTag ? std::string("any") : std::to_string(w.tag)) + ", communicator " +
       std::to_string(w.comm) + ")";
  return t;
}

// Whether `r` can leave its call, given the ranks still considered stuck: one of its waits
// completing does, or (`all`) every one of them.
bool can_leave(const Report& r, const std::map<int, Report>& reports, const std::set<int>& stuck,
               std::map<CollectiveKey, bool>& absent) {
  for (const Wait& w : r.waits)
    if (wakeable(r, w, reports, stuck, absent) != r.all) return !r.all;
  return r.all;
}

// What keeps a stuck `r` in its call: every wait, or (`all`) the ones that cannot end.
std::vector<const Wait*> holding(const Report& r, const std::map<int, Report>& reports, const std::set<int>& stuck) {
  std::map<CollectiveKey, bool> absent;
  std::vector<const Wait*> out;
  for (const Wait& w : r.waits)
    if (!r.all || !wakeable(r, w, reports, stuck, absent)) out.push_back(&w);
  return out;
}

// The ranks `r` waits on (for the cycle): destinations of sends, named sources, every member, or a
// collective's stuck members that are not in it.
std::vector<int> waits_on(const Report& r, const std::map<int, Report>& reports, const std::set<int>& stuck) {
  std::vector<int> out;
  for (const Wait* wp : holding(r, reports, stuck)) {
    const Wait& w = *wp;
    if (w.collective) {
      const std::vector<int> absent = absent_members(w, reports, stuck, stuck.size());
      out.insert(out.end(), absent.begin(), absent.end());
    } else if (w.peer != kAnySource) {
      out.push_back(w.peer);
    } else {
      out.insert(out.end(), w.members.begin(), w.members.end());
    }
  }
  return out;
}

}  // namespace

std::vector<Run> runs_of(std::vector<int> ranks, std::size_t max_runs) {
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  std::vector<Run> runs;
  for (int r : ranks) {
    if (!runs.empty() && runs.back().first + runs.back().count == r) {
      ++runs.back().count;
      continue;
    }
    if (runs.size() == max_runs) return {};
    runs.push_back({r, 1});
  }
  return runs;
}

std::vector<int> stuck_ranks(const std::map<int, Report>& reports) {
  if (reports.empty()) return {};
  const std::uint64_t epoch = reports.begin()->second.epoch;
  for (const auto& [rank, r] : reports)
    if (r.epoch != epoch) return {};
  std::set<int> stuck;
  for (const auto& [rank, r] : reports)
    if (!r.waits.empty()) stuck.insert(rank);  // a report without a described wait is never stuck
  for (bool changed = true; changed;) {
    changed = false;
    std::map<CollectiveKey, bool> absent;
    for (auto it = stuck.begin(); it != stuck.end();) {
      if (can_leave(reports.at(*it), reports, stuck, absent)) {
        it = stuck.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  return {stuck.begin(), stuck.end()};
}

std::string describe(const std::map<int, Report>& reports, const std::vector<int>& stuck) {
  const std::set<int> in(stuck.begin(), stuck.end());
  // Follow waits between stuck ranks from the lowest until one repeats: that is a cycle.
  std::vector<int> path;
  std::set<int> seen;
  int at = stuck.empty() ? -1 : stuck.front();
  while (at >= 0 && !seen.count(at)) {
    seen.insert(at);
    path.push_back(at);
    int next = -1;
    for (int p : waits_on(reports.at(at), reports, in))
      if (in.count(p) && p != at) {
        next = p;
        break;
      }
    at = next;
  }
  std::vector<int> cycle;
  if (at >= 0) cycle.assign(std::find(path.begin(), path.end(), at), path.end());
  std::string text;
  auto line = [&](int rank) {
    const Report& r = reports.at(rank);
    std::string waits;
    for (const Wait* w : holding(r, reports, in))
      waits += (waits.empty() ? "" : r.all ? " and " : " or ") + wait_text(*w, reports, in);
    text += "\n  rank " + std::to_string(rank) + " in " + r.call + ": " + waits;
  };
  if (!cycle.empty()) {
    std::string ring;
    for (int p : cycle) ring += std::to_string(p) + " -> ";
    text += "cycle " + ring + std::to_string(cycle.front()) + ":";
  } else {
    text += "ranks waiting on each other:";
  }
  for (int p : cycle) line(p);
  std::vector<int> rest;
  for (int p : stuck)
    if (std::find(cycle.begin(), cycle.end(), p) == cycle.end()) rest.push_back(p);
  if (!rest.empty()) {
    text += "\n  and, waiting on them:";
    for (int p : rest) line(p);
  }
  return text;
}

std::vector<std::uint64_t> encode(const Report& r) {
  std::vector<std::uint64_t> w = {static_cast<std::uint64_t>(r.rank), r.episode, r.epoch, r.call.size()};
  for (char c : r.call) w.push_back(static_cast<unsigned char>(c));
  w.push_back(r.all ? 1u : 0u);
  w.push_back(r.waits.size());
  for (const Wait& x : r.waits) {
    w.insert(w.end(), {x.send ? 1u : 0u, x.comm, static_cast<std::uint64_t>(static_cast<std::int64_t>(x.peer)),
                       static_cast<std::uint64_t>(static_cast<std::int64_t>(x.tag)), x.members.size()});
    for (int m : x.members) w.push_back(static_cast<std::uint64_t>(static_cast<std::int64_t>(m)));
    w.insert(w.end(), {x.collective ? 1u : 0u, x.round, x.member_runs.size()});
    for (const Run& run : x.member_runs)
      w.insert(w.end(), {static_cast<std::uint64_t>(run.first), static_cast<std::uint64_t>(run.count)});
  }
  w.push_back(r.counts.size());
  for (const Count& c : r.counts) w.insert(w.end(), {c.comm, static_cast<std::uint64_t>(c.peer), c.sent, c.received});
  return w;
}

Report decode(const std::uint64_t* words, std::size_t n) {
  std::size_t i = 0;
  auto next = [&]() {
    if (i >= n) throw std::runtime_error("mpisnap: internal: a truncated deadlock report");
    return words[i++];
  };
  auto as_int = [](std::uint64_t v) { return static_cast<int>(static_cast<std::int64_t>(v)); };
  Report r;
  r.rank = as_int(next());
  r.episode = next();
  r.epoch = next();
  for (std::uint64_t k = next(); k > 0; --k) r.call.push_back(static_cast<char>(next()));
  r.all = next() != 0;
  for (std::uint64_t k = next(); k > 0; --k) {
    Wait x;
    x.send = next() != 0;
    x.comm = next();
    x.peer = as_int(next());
    x.tag = as_int(next());
    for (std::uint64_t m = next(); m > 0; --m) x.members.push_back(as_int(next()));
    x.collective = next() != 0;
    x.round = next();
    for (std::uint64_t m = next(); m > 0; --m) {
      Run run;
      run.first = as_int(next());
      run.count = as_int(next());
      x.member_runs.push_back(run);
    }
    r.waits.push_back(std::move(x));
  }
  for (std::uint64_t k = next(); k > 0; --k) {
    Count c;
    c.comm = next();
    c.peer = as_int(next());
    c.sent = next();
    c.received = next();
    r.counts.push_back(c);
  }
  return r;
}

}  // namespace mpisnap::deadlock

namespace mpisnap::deadlock {

void Monitor::report(Report r) {
  const int rank = r.rank;
  reports_[rank] = std::move(r);
}

void Monitor::forget(int rank, std::uint64_t episode) {
  const auto it = reports_.find(rank);
  if (it != reports_.end() && it->second.episode == episode) reports_.erase(it);
}

bool Monitor::propose(double now, Question& q) {
  if (asking_) return false;
  std::vector<int> stuck = stuck_ranks(reports_);
  if (stuck.empty()) return false;
  asking_ = true;
  question_ = Question{++rounds_, {}};
  for (int r : stuck) question_.episodes[r] = reports_.at(r).episode;
  answers_.clear();
  asked_at_ = now;
  stuck_ = std::move(stuck);
  q = question_;
  return true;
}

void Monitor::answer(int rank, std::uint64_t round, std::uint64_t episode, bool still) {
  if (!asking_ || round != question_.round || !question_.episodes.count(rank)) return;  // a round given up
  answers_[rank] = still;
  if (!still) {
    forget(rank, episode);
    asking_ = false;  // the set was not stuck; the next reports are judged afresh
  }
}

void Monitor::expire(double now, double timeout) {
  if (!asking_ || now - asked_at_ < timeout) return;
  for (const auto& [rank, episode] : question_.episodes)
    if (!answers_.count(rank)) forget(rank, episode);
  asking_ = false;
}

std::string Monitor::verdict() const {
  if (!asking_ || answers_.size() != question_.episodes.size()) return "";
  for (const auto& [rank, still] : answers_)
    if (!still) return "";
  return describe(reports_, stuck_);
}

}  // namespace mpisnap::deadlock
