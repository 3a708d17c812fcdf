// Checks on a consistent global state of lamport_mutex (states + the messages in flight), the
// lecture's uses of a snapshot: invariants of mutual exclusion, and deadlock as a stable property.
// scripts/lamport_check.py applies the same rules offline, with the Python reader.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <mpisnap/global_state.hpp>

#include "lamport_state.hpp"

namespace lamport {

struct Verdict {
  std::vector<std::string> violations;  // invariants that do not hold, each saying which and where
  std::string deadlock;                 // a waits-for cycle with nothing in flight to wake it, or ""
  std::size_t in_flight = 0;            // protocol messages in flight at the cut
};

inline std::string entry_text(const Entry& e) {
  return "(ts " + std::to_string(e.ts) + ", process " + std::to_string(e.proc) + ")";
}

inline Verdict check(const std::vector<State>& states, const std::vector<mpisnap::InFlightMessage>& messages) {
  Verdict v;
  const std::int64_t nlocks = states.empty() ? 0 : states[0].nlocks;
  std::vector<std::vector<Msg>> inbox(states.size());
  for (const mpisnap::InFlightMessage& m : messages) {
    if (m.comm != 0 || m.tag != kTag) continue;
    for (const Msg& msg : m.as<Msg>()) inbox[static_cast<std::size_t>(m.dest)].push_back(msg);
    ++v.in_flight;
  }

  // 1. At most one holder per lock.
  std::vector<std::int64_t> holder(static_cast<std::size_t>(nlocks), -1);
  for (std::int64_t l = 0; l < nlocks; ++l) {
    std::vector<std::int64_t> holders;
    for (const State& s : states)
      if (s.holding[static_cast<std::size_t>(l)]) holders.push_back(s.me);
    if (holders.size() > 1) {
      std::string who;
      for (std::int64_t p : holders) who += (who.empty() ? "" : ", ") + std::to_string(p);
      v.violations.push_back("mutual exclusion: lock " + std::to_string(l) + " is held by processes " + who);
    }
    if (!holders.empty()) holder[static_cast<std::size_t>(l)] = holders[0];
  }

  // 2. Grants in timestamp order: every request granted so far (in a log, held, or released in
  //    flight) precedes every request still waiting, in (timestamp, process) order.
  for (std::int64_t l = 0; l < nlocks; ++l) {
    std::optional<Entry> last_granted, first_waiting;
    auto granted = [&](const Entry& e) { if (!last_granted || *last_granted < e) last_granted = e; };
    for (std::size_t p = 0; p < states.size(); ++p) {
      const State& s = states[p];
      for (const Entry& e : s.log)
        if (e.lock == l) granted(e);
      for (const Msg& m : inbox[p])
        if (m.type == kRelease && m.lock == l) granted(Entry{l, m.grant_ts, m.sender, m.value});
      const std::int64_t ts = s.req_ts[static_cast<std::size_t>(l)];
      if (ts < 0) continue;
      const Entry mine{l, ts, s.me, 0};
      if (s.holding[static_cast<std::size_t>(l)]) granted(mine);
      else if (!first_waiting || mine < *first_waiting) first_waiting = mine;
    }
    if (last_granted && first_waiting && *first_waiting < *last_granted)
      v.violations.push_back("grant order: lock " + std::to_string(l) + " was granted to request " +
                             entry_text(*last_granted) + " while the earlier request " + entry_text(*first_waiting) +
                             " still waits");
  }

  // 3. The replicated state machine: each process's queue and log, once the messages in flight to it
  //    are applied in order, are every process's queue and log.
  std::vector<std::vector<Entry>> queues, logs;
  for (std::size_t p = 0; p < states.size(); ++p) {
    std::vector<Entry> q = states[p].queue, lg = states[p].log;
    for (const Msg& m : inbox[p]) {
      if (m.type == kRequest) insert_sorted(q, Entry{m.lock, m.ts, m.sender, 0});
      if (m.type == kRelease) {
        remove_request(q, m.lock, m.sender);
        insert_sorted(lg, Entry{m.lock, m.grant_ts, m.sender, m.value});
      }
    }
    queues.push_back(std::move(q));
    logs.push_back(std::move(lg));
  }
  for (std::size_t p = 1; p < states.size(); ++p) {
    if (queues[p] != queues[0])
      v.violations.push_back("replicated queue: process " + std::to_string(p) + " has " +
                             std::to_string(queues[p].size()) + " request(s) queued, process 0 has " +
                             std::to_string(queues[0].size()) + ", or different ones (messages in flight applied)");
    if (logs[p] != logs[0])
      v.violations.push_back("replicated log: process " + std::to_string(p) + " has " + std::to_string(logs[p].size()) +
                             " grant(s), process 0 has " + std::to_string(logs[0].size()) +
                             ", or different ones (messages in flight applied)");
  }

  // 4. Deadlock: p waits for lock l (requested, not held) that q holds; a cycle of such waits is
  //    stable unless a release of the awaited lock is in flight to someone on it.
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> waits;  // p -> (lock, holder)
  for (const State& s : states)
    for (std::int64_t l = 0; l < nlocks; ++l)
      if (s.req_ts[static_cast<std::size_t>(l)] >= 0 && !s.holding[static_cast<std::size_t>(l)] &&
          holder[static_cast<std::size_t>(l)] >= 0 && holder[static_cast<std::size_t>(l)] != s.me)
        waits[s.me] = {l, holder[static_cast<std::size_t>(l)]};
  for (const auto& [start, unused] : waits) {
    std::vector<std::int64_t> path;
    std::set<std::int64_t> seen;
    std::int64_t p = start;
    while (waits.count(p) && !seen.count(p)) {
      seen.insert(p);
      path.push_back(p);
      p = waits[p].second;
    }
    if (p != start) continue;  // not a cycle through start (report each cycle once, from its lowest member)
    if (*std::min_element(path.begin(), path.end()) != start) continue;
    bool wakeable = false;
    for (std::int64_t q : path)
      for (const Msg& m : inbox[static_cast<std::size_t>(q)])
        if (m.type == kRelease && m.lock == waits[q].first) wakeable = true;
    if (wakeable) continue;
    std::string text;
    for (std::int64_t q : path) {
      std::string held;
      for (std::int64_t l = 0; l < nlocks; ++l)
        if (states[static_cast<std::size_t>(q)].holding[static_cast<std::size_t>(l)])
          held += (held.empty() ? "" : ", ") + std::to_string(l);
      text += (text.empty() ? "" : "; ") + std::string("process ") + std::to_string(q) + " holds lock " + held +
              " and waits for lock " + std::to_string(waits[q].first) + " (held by process " +
              std::to_string(waits[q].second) + ")";
    }
    v.deadlock = text;
    break;
  }
  return v;
}

// The verdict on checkpoint `id` of `directory` (0: the newest committed one).
inline Verdict check(const std::string& directory, std::uint64_t id) {
  mpisnap::GlobalState g(directory, id);
  std::vector<State> states;
  for (int r = 0; r < g.nranks(); ++r) states.push_back(g.state<State>(r));
  return check(states, g.messages());
}

}  // namespace lamport
