// Deadlock detection (runtime.hpp, "deadlock detection"; the decision: deadlock/wait_graph.hpp).
//
// A rank that has been blocked in one call (a WaitEpisode) for Config::deadlock_after seconds,
// with no snapshot work pending, reports to rank 0 what the call waits for and its message counts
// per channel of the current epoch. Rank 0 keeps the latest report of each rank; when some reported
// ranks can never be woken by one another (deadlock::stuck_ranks), it asks each whether it is still
// in the reported call, and if all say yes, prints the cycle and ends the job with kExitDeadlock.
// Nothing of this runs on the fast path: reports come from inside blocking loops' idle checks, and
// messages are serviced there, every 16th safe point and every 64th progress() call.
#include <algorithm>
#include <cstdio>

#include "common/diagnostics.hpp"
#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap {
namespace {

enum Kind : std::uint64_t { kReport = 1, kAsk = 2, kAnswer = 3 };

deadlock::Wait describe_target(const requests::WaitTarget& t) {
  deadlock::Wait w;
  w.send = t.send;
  w.comm = protocol::value(t.comm->id);
  w.tag = t.tag == MPI_ANY_TAG ? deadlock::kAnyTag : t.tag;
  if (!t.send && t.source == MPI_ANY_SOURCE) {
    w.peer = deadlock::kAnySource;
    w.members = t.comm->world;
  } else {
    w.peer = t.comm->valid_peer(t.source) ? protocol::value(t.comm->world_of(t.source)) : -2;  // -2: nobody known
  }
  return w;
}

}  // namespace

void Runtime::watch_deadlock(const WaitTarget* targets, int ntargets, WaitEpisode& ep) {
  service_deadlock();
  const double now = PMPI_Wtime();
  if (ep.since < 0) {
    ep.since = now;
    blocked_ = &ep;
    return;
  }
  if (ep.reported || deadlock_shutdown_ || now - ep.since < config_.deadlock_after) return;
  // Counts are exact only with nothing held, drained or emulated: judge such a wait later.
  if (!no_window_) return;
  ep.reported = true;
  deadlock::Report r;
  r.rank = rank_;
  r.episode = ep.id;
  r.epoch = engine_->seq();
  r.call = ep.call;
  if (ep.describable)
    for (int i = 0; i < ntargets; ++i)
      if (targets[i].comm) r.waits.push_back(describe_target(targets[i]));
  comms_.for_each([&](mpi::CommEntry& e) {
    e.peers.for_each([&](const mpi::PeerCount& c) {
      if (c.sent || c.received)
        r.counts.push_back({protocol::value(e.id), protocol::value(e.world_of(c.peer)), c.sent, c.received});
    });
  });
  if (monitor_) {
    monitor_->report(std::move(r));
  } else {
    std::vector<std::uint64_t> words = {kReport};
    const std::vector<std::uint64_t> body = deadlock::encode(r);
    words.insert(words.end(), body.begin(), body.end());
    send_deadlock(0, std::move(words));
  }
}

void Runtime::send_deadlock(int to, std::vector<std::uint64_t> words) {
  deadlock_bufs_.push_back(std::move(words));
  MPI_Request req;
  mpi::check(PMPI_Issend(deadlock_bufs_.back().data(), static_cast<int>(deadlock_bufs_.back().size()), MPI_UINT64_T,
                         to, kDeadlockTag, control_, &req),
             "PMPI_Issend(deadlock)");
  deadlock_sends_.push_back(req);
}

void Runtime::receive_deadlock(std::vector<std::uint64_t> words, int from) {
  if (words.empty() || deadlock_shutdown_) return;
  switch (words[0]) {
    case kReport:
      if (monitor_) monitor_->report(deadlock::decode(words.data() + 1, words.size() - 1));
      break;
    case kAsk:  // {kAsk, round, episode}: still in that call?
      if (words.size() == 3)
        send_deadlock(from, {kAnswer, words[1], words[2], blocked_ && blocked_->id == words[2] ? 1u : 0u});
      break;
    case kAnswer:
      if (monitor_ && words.size() == 4) monitor_->answer(from, words[1], words[2], words[3] != 0);
      break;
    default: break;
  }
}

void Runtime::service_deadlock() {
  while (!deadlock_sends_.empty()) {  // synchronous sends: complete once received
    int done = 0;
    mpi::check(PMPI_Test(&deadlock_sends_.front(), &done, MPI_STATUS_IGNORE), "PMPI_Test(deadlock)");
    if (!done) break;
    deadlock_sends_.pop_front();
    deadlock_bufs_.pop_front();
  }
  for (;;) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    mpi::check(PMPI_Improbe(MPI_ANY_SOURCE, kDeadlockTag, control_, &flag, &msg, &st), "PMPI_Improbe(deadlock)");
    if (!flag) break;
    int n = 0;
    mpi::check(PMPI_Get_count(&st, MPI_UINT64_T, &n), "PMPI_Get_count(deadlock)");
    std::vector<std::uint64_t> words(static_cast<std::size_t>(n));
    mpi::check(PMPI_Mrecv(words.data(), n, MPI_UINT64_T, &msg, MPI_STATUS_IGNORE), "PMPI_Mrecv(deadlock)");
    receive_deadlock(std::move(words), st.MPI_SOURCE);
  }
  if (!monitor_ || deadlock_shutdown_) return;
  const double now = PMPI_Wtime();
  monitor_->expire(now, std::max(2.0, 2 * config_.deadlock_after));
  deadlock::Monitor::Question q;
  if (monitor_->propose(now, q)) {
    for (const auto& [rank, episode] : q.episodes) {
      if (rank == rank_) monitor_->answer(rank, q.round, episode, blocked_ && blocked_->id == episode);
      else send_deadlock(rank, {kAsk, q.round, episode});
    }
  }
  const std::string verdict = monitor_->verdict();
  if (verdict.empty()) return;
  diag::say("deadlock: these ranks wait for each other and nothing in flight can end it (each was blocked for more "
            "than " + diag::fixed(config_.deadlock_after, 1) + " s, and all were at once); " + verdict +
            "\nmpisnap: ending the job with status " + std::to_string(kExitDeadlock) +
            " (MPISNAP_DEADLOCK=0 turns this check off)");
  std::fflush(stderr);
  PMPI_Abort(MPI_COMM_WORLD, kExitDeadlock);
}

void Runtime::drain_deadlock() {
  deadlock_shutdown_ = true;  // from here nothing is sent; what arrives is discarded
  while (!deadlock_sends_.empty()) service_deadlock();
  MPI_Request req = MPI_REQUEST_NULL;
  mpi::check(PMPI_Ibarrier(control_, &req), "PMPI_Ibarrier(deadlock)");
  for (;;) {
    service_deadlock();
    int done = 0;
    mpi::check(PMPI_Test(&req, &done, MPI_STATUS_IGNORE), "PMPI_Test(deadlock barrier)");
    if (done) break;
  }
  service_deadlock();  // (everything sent before a rank entered the barrier was received by then)
}

}  // namespace mpisnap
