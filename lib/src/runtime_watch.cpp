// The runtime's side of the watch over blocked calls (watch/watch.hpp, on the helper thread):
// setting it up, publishing this rank's cuts, and reading a held call (watch::Reader) — what it
// waits for, the rank's message counts. Reads run on the helper thread while the main thread is
// inside the call (BlockedCall holds it there): the tables read are the main thread's, unchanged
// meanwhile. (The application's request array of a wait is read too; MPI writes a handle of it
// only as its request completes, and then the call is about to return: a stale handle is a wait
// described one moment late, which the monitor's confirmation round catches.)
#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include "common/diagnostics.hpp"
#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap {
namespace {

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

// A collective's members go to rank 0 as runs of consecutive world ranks, at most this many (a
// report stays small at any scale; a communicator more scattered than that is never judged stuck).
constexpr std::size_t kMaxMemberRuns = 256;

}  // namespace

void Runtime::setup_watch() {
  // The helper runs only with triggers on; without it blocking calls keep polling (polls_).
  if (!triggers_->enabled() || !snapshots_possible_) return;
  watch::Options options;
  options.deadlock_after = config_.deadlock_after;
  options.every_n = config_.every > 0;
  watch::Reader& reader = *this;
  watch_ = std::make_unique<watch::Watch>(rank_, blocked_call_, reader, options, [](const std::string& what, int status, bool job) {
    // On the helper thread, the main thread blocked inside MPI: say it, and end the job.
    diag::set_rank(mpi::world_rank());
    const std::string msg = job ? "mpisnap: " + what : diag::with_rank(what);
    std::fprintf(stderr, "%s\n", msg.c_str());
    std::fflush(stderr);
    ::usleep(200 * 1000);  // (hydra tears the job down on an abort without draining its output: see fatal())
    PMPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);
  });
  watch_->start_epoch(engine_->seq());
  watched_ = true;
  triggers_->set_watch(watch_.get());
}

void Runtime::publish_cut(std::uint64_t seq, const protocol::SnapshotEngine::SentCounts& sent) {
  if (!watch_) return;
  std::map<std::pair<std::uint64_t, int>, std::uint64_t> table;
  for (const auto& [peer, counts] : sent)
    for (const protocol::CommCount& c : counts) table[{protocol::value(c.comm), protocol::value(peer)}] = c.count;
  watch_->cut_taken(seq, safe_point_, std::move(table));
}

void Runtime::held_targets(const watch::Call& c, std::vector<WaitTarget>& out, int& pending) {
  pending = 0;
  switch (c.kind) {
    case watch::Call::Recv:
    case watch::Call::Probe:
    case watch::Call::Send:
    case watch::Call::Ssend: {
      auto* e = static_cast<mpi::CommEntry*>(const_cast<void*>(c.object));
      out.push_back({e, c.peer, c.tag, c.kind == watch::Call::Send || c.kind == watch::Call::Ssend});
      pending = 1;
      break;
    }
    case watch::Call::Sendrecv:
    case watch::Call::SendrecvReplace: {
      auto* e = static_cast<mpi::CommEntry*>(const_cast<void*>(c.object));
      out.push_back({e, c.peer, c.tag, false});
      out.push_back({e, c.send_peer, c.send_tag, true});
      pending = 2;
      break;
    }
    case watch::Call::Wait:
    case watch::Call::Waitall:
    case watch::Call::Waitany:
    case watch::Call::Waitsome: {
      const auto* reqs = static_cast<const MPI_Request*>(c.object);
      requests_.receive_targets(c.peer, reqs, out, true);  // (published with emulated ones: wait_window_direct)
      for (int i = 0; i < c.peer; ++i) pending += reqs[i] != MPI_REQUEST_NULL;
      break;
    }
    case watch::Call::Collective:  // (no point-to-point target: describe() says what it waits for)
      break;
  }
  // MPI_PROC_NULL ends at once: nothing to wait for there.
  out.erase(std::remove_if(out.begin(), out.end(), [](const WaitTarget& t) { return t.source == MPI_PROC_NULL; }),
            out.end());
}

bool Runtime::describe(const watch::Call& c, deadlock::Report& r) {
  std::vector<WaitTarget> targets;
  int pending = 0;
  held_targets(c, targets, pending);
  r.epoch = engine_->seq();
  for (const WaitTarget& t : targets)
    if (t.comm) r.waits.push_back(describe_target(t));
  // A request that is not one the library can describe (an untracked send, a non-blocking
  // collective, a generalized request): nobody can say what would complete it, so a wait that any
  // request may end is never stuck. MPI_Waitall needs every one: it is stuck on a stuck receive
  // whatever else it waits for, so its receives alone describe it.
  r.all = c.kind == watch::Call::Waitall;
  bool described = r.all ? !r.waits.empty() : pending > 0 && static_cast<int>(targets.size()) == pending;
  if (c.kind == watch::Call::Collective && c.object) {
    // The call ends once every member made as many collective calls on the communicator.
    const auto* e = static_cast<const mpi::CommEntry*>(c.object);
    deadlock::Wait w;
    w.collective = true;
    w.comm = protocol::value(e->id);
    w.round = e->collectives;
    std::vector<int> members = e->world;
    members.insert(members.end(), e->local_world.begin(), e->local_world.end());  // (an intercommunicator's two groups)
    w.member_runs = deadlock::runs_of(std::move(members), kMaxMemberRuns);
    described = !w.member_runs.empty();  // (more scattered members than a report carries: never stuck)
    r.waits.push_back(std::move(w));
  }
  comms_.for_each([&](mpi::CommEntry& e) {
    e.peers.for_each([&](const mpi::PeerCount& p) {
      if (p.sent || p.received)
        r.counts.push_back({protocol::value(e.id), protocol::value(e.world_of(p.peer)), p.sent, p.received});
    });
  });
  return described;
}

void Runtime::sources(const watch::Call& c, std::vector<watch::Source>& out) {
  // A call that needs every receive (all but MPI_Waitany/MPI_Waitsome) is short of a snapshot as
  // soon as one of its named sources is; one that any receive ends, only when all of them are: its
  // sources then are all or nothing (none when a request is not a named-source receive).
  std::vector<WaitTarget> targets;
  int pending = 0;
  held_targets(c, targets, pending);
  auto named = [](const WaitTarget& t) { return !t.send && t.comm && t.source >= 0 && t.comm->valid_peer(t.source); };
  if (watch::ends_with_any(c) &&
      (static_cast<int>(targets.size()) != pending || !std::all_of(targets.begin(), targets.end(), named)))
    return;
  for (const WaitTarget& t : targets) {
    if (!named(t)) continue;
    out.push_back({protocol::value(t.comm->id), protocol::value(t.comm->world_of(t.source)),
                   t.tag == MPI_ANY_TAG ? deadlock::kAnyTag : t.tag, t.comm->peers.received(t.source)});
  }
}

}  // namespace mpisnap
