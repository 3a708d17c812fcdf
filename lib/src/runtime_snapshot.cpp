// Runtime: safe points, taking a snapshot, and carrying it to commit.
//
//   safe point (due) -> begin_snapshot: fold counters, switch color, markers out, window opens
//   engine Closed    -> on_channels_closed: log final, background write of the rank file
//   write finished   -> on_written: done record into the gather + barrier
//   engine Complete  -> on_complete: rank 0 writes the manifest (commit) and prunes, in the background
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>

#include "mpi/pmpi.hpp"
#include "runtime.hpp"
#include "state/buffer_pool.hpp"
#include "common/xxh64.hpp"
#include "storage/directory.hpp"

namespace mpisnap {
namespace {

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

// Every member of a communicator contributes hash(id, collective calls); its lowest world rank also
// subtracts size * its own hash. Summed over all ranks (mod 2^64) this is 0 when the members of
// every communicator agree, and (with overwhelming probability) not otherwise. One word per rank.
// A communicator without collective calls contributes nothing: whether a rank still holds the
// entry of one (an idup'd one not used yet, a freed one released already) differs from rank to
// rank and says nothing about the cut; when members disagree, one of them has a nonzero count.
std::uint64_t Runtime::collective_check(const mpi::CommEntry& e, int world_rank) {
  if (e.collectives == 0) return 0;
  const std::uint64_t words[2] = {protocol::value(e.id), e.collectives};
  const std::uint64_t h = Xxh64::hash(words, sizeof words, 0x636f6c6cULL);
  // The members: the group, or both groups of an intercommunicator.
  int leader = world_rank;
  for (int w : e.world) leader = std::min(leader, w);
  for (int w : e.local_world) leader = std::min(leader, w);
  const std::uint64_t members = e.inter ? e.world.size() + e.local_world.size() : e.world.size();
  std::uint64_t c = h;
  if (leader == world_rank) c -= members * h;
  return c;
}

std::uint64_t Runtime::next_due_safe_point() const noexcept {
  if (config_.every == 0) return safe_point_;
  return (safe_point_ / config_.every + 1) * config_.every;
}

bool Runtime::safe_point_due() {
  if (should_exit_) stop_after_checkpoint();
  ++safe_point_;
  if (busy_ || slow_recv_) progress();
  const bool every = config_.every > 0 && safe_point_ % config_.every == 0;
  const bool agreed = agreed_snapshot_here();
  if (!every && !agreed) return false;
  due_at_ = steady_seconds();
  // Colors are reused modulo 2: the previous snapshot must be complete everywhere first.
  while (engine_->active()) progress();
  // Communicators from MPI_Comm_idup not used yet join the table now: a peer may have sent on one
  // before its snapshot, and only an entry in the table is drained. (Every member completed its
  // idup before this safe point and started the colors then, so this wait ends.)
  settle_all();
  const std::size_t pending = pending_requests();
  if (pending || window_->has_pending() || !held_messages_.empty()) {
    throw Error("mpisnap: rank " + std::to_string(rank_) + ": checkpoint_point() at safe point " +
                std::to_string(safe_point_) + " with " + std::to_string(pending + held_messages_.size()) +
                " receive, matched-probe or persistent request(s) not yet completed; a safe point needs every "
                "non-blocking operation completed (MPI_Wait/MPI_Test) first");
  }
  return true;
}

void Runtime::take_snapshot(Node&& state) {
  const std::uint64_t terminate_round = terminate_round_;
  begin_snapshot(std::move(state));
  const double pause = steady_seconds() - due_at_;
  if (snap_) snap_->pause_seconds = pause;
  stats_.last_pause_seconds = pause;
  stats_.max_pause_seconds = std::max(stats_.max_pause_seconds, pause);
  stats_.total_pause_seconds += pause;
  if (terminate_round) wait_for_terminating_commit(terminate_round);
}

void Runtime::begin_snapshot(Node&& state) {
  auto s = std::make_unique<Snapshot>();
  s->seq = engine_->seq() + 1;
  s->checkpoint_id = next_checkpoint_id_++;
  s->dir = store_->location(s->checkpoint_id);
  s->data.checkpoint_id = s->checkpoint_id;
  s->data.safe_point = safe_point_;
  s->data.rank = rank_;
  s->data.nranks = size_;
  s->snap_time_ns = realtime_ns();
  s->data.created_unix = static_cast<double>(s->snap_time_ns) * 1e-9;
  s->data.state = std::move(state);
  // Messages the library holds but the application has not received are in flight at this cut.
  s->data.channel = queue_.copy_all();
  // Entries held outside a window (receive emulation) came from the color that is old from now on:
  // they are older than anything this snapshot drains, so they stop being "held" (which would put
  // the drained messages in front of them).
  queue_.release_held();
  s->terminate_round = terminate_round_;
  terminate_round_ = 0;
  if (rank_ == 0) last_checkpoint_wall_ = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();

  const mpi::CommTable::EpochCounts cut = comms_.begin_epoch(s->seq % 2);
  comms_.for_each([&](mpi::CommEntry& e) {
    CommCounters c;
    c.comm = protocol::value(e.id);
    c.world_ranks.assign(e.world.begin(), e.world.end());
    c.sent_total = e.sent_total;
    c.delivered_total = e.delivered_total;
    c.collectives = e.collectives;
    c.parent = e.parent;
    c.slot = e.slot;
    c.local_world_ranks.assign(e.local_world.begin(), e.local_world.end());
    c.live = !e.retired;
    c.idups = e.idups;
    s->data.counters.push_back(std::move(c));
    s->coll_check += collective_check(e, rank_);
  });
  window_->set_log(&s->data.channel);
  snap_ = std::move(s);
  ++snapshots_taken_;
  engine_->begin(snap_->seq, cut.sent, cut.received);
  progress();
}

void Runtime::on_channels_closed() {
  window_->set_log(nullptr);
  queue_.release_held();
  Snapshot* s = snap_.get();
  stats_.peak_bytes_held = std::max(stats_.peak_bytes_held, s->data.state.total_bytes());
  s->write = writer_->submit([s, store = store_.get()] {
    const double t0 = steady_seconds();
    s->written = store->write_rank(s->data);
    s->write_seconds = steady_seconds() - t0;
  });
}

void Runtime::on_written() {
  Snapshot& s = *snap_;
  protocol::DoneRecord r;
  if (s.write->error) {
    r.failed = 1;
    std::fprintf(stderr, "mpisnap: rank %d: checkpoint %llu could not be written: %s\n", rank_,
                 static_cast<unsigned long long>(s.checkpoint_id), s.write->error_text().c_str());
  } else {
    r.digest = s.written.digest;
    r.file_bytes = s.written.file_bytes;
    stats_.last_write_seconds = s.write_seconds;
    stats_.last_file_bytes = s.written.file_bytes;
  }
  r.messages = s.data.channel.size();
  r.sent_before = engine_->sent_before_total();
  r.received_before = engine_->received_before_total();
  r.snap_time_ns = s.snap_time_ns;
  r.coll_check = s.coll_check;
  // The in-memory copy is no longer needed; its buffers take the next snapshot's copy.
  if (config_.reuse_buffers) state::buffer_pool().recycle(std::move(s.data.state));
  s.data.state = Node{};
  s.data.channel.clear();
  s.done_started = true;
  engine_->start_done(r);
}

void Runtime::on_complete() {
  std::vector<protocol::DoneRecord> records = engine_->finish();
  std::unique_ptr<Snapshot> s = std::move(snap_);
  free_retired(s->seq);
  if (rank_ != 0) return;

  std::uint64_t sent = 0, got = 0, first_ns = ~0ull, coll = 0;
  std::string failed;
  storage::Manifest m;
  m.checkpoint_id = s->checkpoint_id;
  m.safe_point = s->data.safe_point;
  m.nranks = size_;
  m.created_unix = s->data.created_unix;
  for (std::size_t r = 0; r < records.size(); ++r) {
    const auto& d = records[r];
    sent += d.sent_before;
    got += d.received_before;
    first_ns = std::min(first_ns, d.snap_time_ns);
    coll += d.coll_check;
    if (d.failed) failed += (failed.empty() ? "" : ", ") + std::to_string(r);
    m.rank_digest.push_back(d.digest);
    m.rank_bytes.push_back(d.file_bytes);
    m.rank_messages.push_back(d.messages);
  }
  if (!failed.empty()) {
    std::fprintf(stderr, "mpisnap: checkpoint %llu is not committed: rank(s) %s could not write their files\n",
                 static_cast<unsigned long long>(s->checkpoint_id), failed.c_str());
    if (s->terminate_round) agreement_->announce_commit(s->terminate_round, false);
    return;
  }
  if (sent != got) {
    std::fprintf(stderr,
                 "mpisnap: checkpoint %llu is not committed: protocol violation, %llu messages sent before the cut "
                 "but %llu received before it or recorded\n",
                 static_cast<unsigned long long>(s->checkpoint_id), static_cast<unsigned long long>(sent),
                 static_cast<unsigned long long>(got));
    if (s->terminate_round) agreement_->announce_commit(s->terminate_round, false);
    return;
  }
  if (coll != 0) {
    // Some communicator's members cut between different collective calls: a restart would hang or
    // mismatch in that collective. Name the communicator and the ranks from the files (rare path).
    const int nranks = size_;
    const std::uint64_t id = s->checkpoint_id;
    Commit c;
    c.checkpoint_id = id;
    c.terminate_round = s->terminate_round;
    c.refused = true;
    c.ticket = writer_->submit([store = store_.get(), nranks, id] { report_collective_mismatch(*store, nranks, id); });
    commits_.push_back(std::move(c));
    return;
  }
  m.commit_seconds = static_cast<double>(realtime_ns() - std::min(first_ns, realtime_ns())) * 1e-9;
  stats_.last_commit_seconds = m.commit_seconds;
  std::uint64_t bytes = 0, messages = 0;
  for (std::size_t r = 0; r < records.size(); ++r) {
    bytes += m.rank_bytes[r];
    messages += m.rank_messages[r];
  }
  char summary[320];
  std::snprintf(summary, sizeof summary,
                "mpisnap: checkpoint %llu committed: safe point %llu, %llu bytes, %llu in-flight message(s), "
                "pause %.4f s on rank 0, written %.3f s after the first snapshot",
                static_cast<unsigned long long>(m.checkpoint_id), static_cast<unsigned long long>(m.safe_point),
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(messages), s->pause_seconds,
                m.commit_seconds);
  const unsigned keep = config_.keep;
  Commit c;
  c.checkpoint_id = m.checkpoint_id;
  c.terminate_round = s->terminate_round;
  c.summary = summary;
  c.ticket = writer_->submit([store = store_.get(), keep, m] {
    store->commit(m);
    store->prune(keep);
  });
  commits_.push_back(std::move(c));
}

void Runtime::report_collective_mismatch(storage::CheckpointStore& store, int nranks, std::uint64_t id) {
  // Per communicator, the count of each rank that holds it; a member without the entry made none.
  std::map<std::pair<std::uint64_t, std::vector<std::int32_t>>, std::map<int, std::uint64_t>> by_comm;
  for (int r = 0; r < nranks; ++r) {
    const auto loaded = store.load_rank(id, r);
    for (const CommCounters& c : loaded.cp.counters) by_comm[{c.comm, c.world_ranks}][r] = c.collectives;
  }
  std::string what;
  for (const auto& [key, counts] : by_comm) {
    std::map<int, std::uint64_t> members;
    for (std::int32_t w : key.second) {
      auto it = counts.find(w);
      members[w] = it == counts.end() ? 0 : it->second;
    }
    bool same = true;
    for (const auto& rc : members) same = same && rc.second == members.begin()->second;
    if (same || members.empty()) continue;
    what += (what.empty() ? "" : "; ") + std::string("communicator ") + std::to_string(key.first) + ":";
    for (const auto& [r, n] : members) what += " rank " + std::to_string(r) + " made " + std::to_string(n);
  }
  throw Error("mpisnap: checkpoint " + std::to_string(id) +
              " is not committed: ranks took their snapshots between different collective calls (" +
              (what.empty() ? std::string("the communicator could not be identified") : what) +
              " collective calls before the cut); a restart from it would not match. Place checkpoint_point() at "
              "the same point of the collective sequence on every rank");
}

void Runtime::poll_commits() {
  for (auto it = commits_.begin(); it != commits_.end();) {
    if (!it->ticket->finished.load(std::memory_order_acquire)) {
      ++it;
      continue;
    }
    const bool ok = !it->ticket->error && !it->refused;
    if (it->ticket->error)
      std::fprintf(stderr, "mpisnap: rank %d: checkpoint %llu could not be committed (the previous one stays the newest): %s\n",
                   rank_, static_cast<unsigned long long>(it->checkpoint_id), it->ticket->error_text().c_str());
    else if (config_.verbose)
      std::fprintf(stderr, "%s\n", it->summary.c_str());
    if (it->terminate_round) agreement_->announce_commit(it->terminate_round, ok);
    it = commits_.erase(it);
  }
}

CheckpointStats Runtime::stats() const {
  CheckpointStats s = stats_;
  s.checkpoints = snapshots_taken_;
  s.buffer_bytes_held = state::buffer_pool().bytes_held();
  s.markers_sent = port_->markers_sent();
  s.agreement_messages = agreement_port_->messages_sent();
  return s;
}

void Runtime::flush() {
  finish_all_snapshots();
  // Rank 0 writes the manifest before it reaches this barrier. Non-blocking and polled: a rank
  // still at an earlier safe point may wait there for this rank's word on a trigger round.
  MPI_Request req = MPI_REQUEST_NULL;
  mpi::check(PMPI_Ibarrier(control_, &req), "PMPI_Ibarrier(flush)");
  for (;;) {
    progress();
    int done = 0;
    mpi::check(PMPI_Test(&req, &done, MPI_STATUS_IGNORE), "PMPI_Test(flush)");
    if (done) break;
  }
}

void Runtime::finish_all_snapshots() {
  while (engine_->active()) progress();
  writer_->drain();
  poll_commits();
}

}  // namespace mpisnap
