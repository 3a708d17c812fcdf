// lamport_mutex: the lecture's mutual exclusion as a replicated state machine (Lamport 1978).
//
// Each process keeps a Lamport clock and, per lock, a request queue ordered by (timestamp,
// process). To enter, a process queues its request and sends it to all; a receiver queues it and
// answers with a timestamped acknowledgement. A process enters when its request heads its queue and
// it has received a message timestamped later than the request from every other process (channels
// are FIFO: one tag, one communicator, MPI's non-overtaking rule). To leave, it removes its request
// and sends a release to all, which removes it from every queue. Each critical section adds the
// process's value for the round to a replicated total and its grant to a replicated log (every
// process applies each release). Processes loop on probe/receive/handle and pass a safe point every
// iteration, so checkpoints land with requests, acknowledgements and releases in flight.
//
//   --rounds R     critical sections per process (default 20)
//   --hold H       safe points spent inside each critical section (default 3)
//   --locks 2      two locks, each process taking both; processes whose seed bit says so take them
//                  in the opposite order, which can deadlock (--seed picks who)
//   --check 1      rank 0 checks every committed checkpoint while the job runs (lamport_check.hpp):
//                  a broken invariant stops the job with status 3, a deadlock with status 4
//   --broken 1|2   test variants: 1 enters without waiting for every acknowledgement, 2 sends a
//                  release to every process but the next one
//
// The RESULT lines hold what does not depend on timing: grants in the log and the replicated total
// (timestamps depend on the order messages arrive in, so the log itself is not printed).
#include <mpi.h>

#include <cinttypes>
#include <cstdio>
#include <vector>

#include <mpisnap/global_state.hpp>
#include <mpisnap/mpisnap.hpp>

#include "common/example_util.hpp"
#include "lamport_check.hpp"

namespace {

using lamport::Entry;
using lamport::Msg;
using lamport::State;

void send(State& s, std::int64_t to, Msg m) {
  m.sender = s.me;
  MPI_Send(&m, 6, MPI_INT64_T, static_cast<int>(to), lamport::kTag, MPI_COMM_WORLD);
}

void send_all(State& s, const Msg& m, std::int64_t skip = -1) {
  for (std::int64_t p = 0; p < s.n; ++p)
    if (p != s.me && p != skip) send(s, p, m);
}

void request(State& s, std::int64_t lock) {
  const std::int64_t ts = ++s.clock;
  s.req_ts[static_cast<std::size_t>(lock)] = ts;
  lamport::insert_sorted(s.queue, Entry{lock, ts, s.me, 0});
  s.acks_pending += s.n - 1;
  send_all(s, Msg{lamport::kRequest, ts, 0, lock, 0, 0});
}

bool may_enter(const State& s, std::int64_t lock) {
  const std::int64_t ts = s.req_ts[static_cast<std::size_t>(lock)];
  for (const Entry& e : s.queue) {  // the first entry of this lock heads its queue
    if (e.lock != lock) continue;
    if (e.proc != s.me || e.ts != ts) return false;
    break;
  }
  if (s.broken == 1) return true;  // the bug: no acknowledgement awaited
  for (std::int64_t p = 0; p < s.n; ++p) {
    if (p == s.me) continue;
    const std::int64_t seen = s.last_ts[static_cast<std::size_t>(p)];
    if (!(seen > ts || (seen == ts && p > s.me))) return false;
  }
  return true;
}

void release(State& s, std::int64_t lock) {
  const std::int64_t ts = ++s.clock;
  const std::int64_t granted = s.req_ts[static_cast<std::size_t>(lock)];
  lamport::remove_request(s.queue, lock, s.me);
  lamport::insert_sorted(s.log, Entry{lock, granted, s.me, s.value});
  s.total += s.value;
  s.req_ts[static_cast<std::size_t>(lock)] = -1;
  s.holding[static_cast<std::size_t>(lock)] = 0;
  send_all(s, Msg{lamport::kRelease, ts, 0, lock, granted, s.value}, s.broken == 2 ? (s.me + 1) % s.n : -1);
}

void handle(State& s, const Msg& m) {
  s.clock = std::max(s.clock, m.ts) + 1;
  s.last_ts[static_cast<std::size_t>(m.sender)] = m.ts;
  switch (m.type) {
    case lamport::kRequest:
      lamport::insert_sorted(s.queue, Entry{m.lock, m.ts, m.sender, 0});
      ++s.clock;
      send(s, m.sender, Msg{lamport::kAck, s.clock, 0, m.lock, 0, 0});
      break;
    case lamport::kAck: --s.acks_pending; break;
    case lamport::kRelease:
      lamport::remove_request(s.queue, m.lock, m.sender);
      lamport::insert_sorted(s.log, Entry{m.lock, m.grant_ts, m.sender, m.value});
      s.total += m.value;
      break;
    case lamport::kDone: ++s.done_from; break;
    default: std::fprintf(stderr, "lamport_mutex: unknown message type %" PRId64 "\n", m.type); MPI_Abort(MPI_COMM_WORLD, 2);
  }
}

// One iteration's protocol step after the messages are handled.
void act(State& s) {
  if (s.phase == 0 && s.round < s.rounds) {
    s.value = 1 + static_cast<std::int64_t>(example::next_random(s.rng) % 1000);
    s.phase = 1;
    s.step = 0;
    request(s, s.lock_at(0));
  }
  if (s.phase == 1 && may_enter(s, s.lock_at(s.step))) {  // (at once only when nobody else can object)
    s.holding[static_cast<std::size_t>(s.lock_at(s.step))] = 1;
    if (++s.step < s.nlocks) {
      request(s, s.lock_at(s.step));  // holding the first lock, ask for the next
    } else {
      s.phase = 2;
      s.cs_left = s.hold;
    }
  } else if (s.phase == 2) {
    if (s.cs_left > 0) {
      --s.cs_left;
    } else {
      for (std::int64_t k = s.nlocks - 1; k >= 0; --k) release(s, s.lock_at(k));
      ++s.round;
      s.phase = 0;
    }
  }
  if (s.round == s.rounds && s.phase == 0 && !s.sent_done) {
    s.sent_done = 1;
    ++s.clock;
    send_all(s, Msg{lamport::kDone, s.clock, 0, 0, 0, 0});
  }
}

// --check: rank 0's verdict on each committed checkpoint.
struct LiveCheck {
  std::uint64_t checked = 0, with_messages = 0;
  void operator()(const mpisnap::Committed& c) {
    lamport::Verdict v;
    try {
      v = lamport::check(c.directory, c.checkpoint_id);
    } catch (const mpisnap::Error& e) {  // pruned meanwhile (several commits at once): nothing to check
      std::printf("lamport check: checkpoint %" PRIu64 " skipped: %s\n", c.checkpoint_id, e.what());
      return;
    }
    ++checked;
    with_messages += v.in_flight ? 1 : 0;
    for (const std::string& text : v.violations)
      std::printf("INVARIANT VIOLATED in checkpoint %" PRIu64 " (safe point %" PRIu64 "): %s\n", c.checkpoint_id,
                  c.safe_point, text.c_str());
    if (!v.violations.empty()) {
      std::fflush(stdout);
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (!v.deadlock.empty()) {
      std::printf("DEADLOCK in checkpoint %" PRIu64 " (safe point %" PRIu64 "), nothing in flight can end it: %s\n",
                  c.checkpoint_id, c.safe_point, v.deadlock.c_str());
      std::fflush(stdout);
      MPI_Abort(MPI_COMM_WORLD, 4);
    }
  }
};

}  // namespace

int run(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  example::Options opt(argc, argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  mpisnap::Session snap{MPI_COMM_WORLD};
  State s;
  s.me = rank;
  s.n = size;
  s.nlocks = opt.get("locks", 1);
  s.rounds = opt.get("rounds", 20);
  s.hold = opt.get("hold", 3);
  s.broken = opt.get("broken", 0);
  const std::int64_t seed = opt.get("seed", 1);
  const std::int64_t work_us = opt.get("work-us", 500);
  std::uint64_t mix = static_cast<std::uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + 17;
  for (int r = 0; r <= rank; ++r) example::next_random(mix);
  s.rng = mix;
  s.reversed = s.nlocks > 1 ? static_cast<std::int64_t>((example::next_random(mix) >> 17) & 1) : 0;
  s.req_ts.assign(static_cast<std::size_t>(s.nlocks), -1);
  s.holding.assign(static_cast<std::size_t>(s.nlocks), 0);
  s.last_ts.assign(static_cast<std::size_t>(size), -1);
  if (snap.restore(s) && rank == 0)
    std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (%" PRId64 " iterations)\n",
                snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.iterations);
  LiveCheck live;
  if (opt.get("check", 0)) snap.on_commit([&live](const mpisnap::Committed& c) { live(c); });

  // Every rank must pass the same safe points, so the ranks leave the loop together: every 16th
  // iteration they agree (a collective at the same iteration everywhere) whether all are finished.
  for (;;) {
    if (s.iterations % 16 == 0) {
      int finished = s.sent_done && s.done_from == s.n - 1 && s.acks_pending == 0;
      int all = 0;
      MPI_Allreduce(&finished, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
      if (all) break;
    }
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, lamport::kTag, MPI_COMM_WORLD, &flag, &st);
      if (!flag) break;
      Msg m;
      MPI_Recv(&m, 6, MPI_INT64_T, st.MPI_SOURCE, lamport::kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      handle(s, m);
    }
    act(s);
    example::work(work_us);
    ++s.iterations;
    snap.checkpoint_point(s);
  }
  snap.flush();  // the last commits reach the live check too

  // Every replica of the log must be the same: compare digests, then print what is deterministic.
  std::uint64_t digest = example::fnv1a(s.log.data(), s.log.size() * sizeof(Entry));
  std::vector<std::uint64_t> digests(static_cast<std::size_t>(size));
  MPI_Gather(&digest, 1, MPI_UINT64_T, digests.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  bool sorted_by_time = true;
  for (std::size_t i = 1; i < s.log.size(); ++i)
    if (s.log[i].lock == s.log[i - 1].lock && !(s.log[i - 1] < s.log[i])) sorted_by_time = false;
  if (rank == 0) {
    bool agree = true;
    for (std::uint64_t d : digests) agree = agree && d == digest;
    std::printf("RESULT lamport grants %zu (expected %" PRId64 ") total %" PRId64 "\n", s.log.size(),
                s.n * s.rounds * s.nlocks, s.total);
    std::printf("RESULT lamport replicas %s, log in timestamp order %s\n", agree ? "agree" : "DIFFER",
                sorted_by_time ? "yes" : "NO");
    if (opt.get("check", 0))
      std::printf("lamport check: %" PRIu64 " checkpoint(s) checked live, %" PRIu64 " with messages in flight, all hold\n",
                  live.checked, live.with_messages);
  }
  MPI_Finalize();
  return 0;
}

int main(int argc, char** argv) { return example::guarded_main(argc, argv, run); }
