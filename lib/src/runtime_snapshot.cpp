// Runtime: safe points and taking a snapshot; its way to commit is checkpoint::Pipeline, moved by
// progress() at the engine's phases:
//   safe point (due) -> begin_snapshot: fold counters, switch color, markers out, window opens
//   engine Closed    -> on_channels_closed: log final, Pipeline::write (the rank file, in the background)
//   write finished   -> Pipeline::done_record into the engine's gather + barrier
//   engine Complete  -> Pipeline::close: rank 0 commits (manifest) and prunes, in the background
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>

#include "mpi/pmpi.hpp"
#include "common/diagnostics.hpp"
#include "runtime.hpp"
#include "common/xxh64.hpp"
#include "storage/directory.hpp"

namespace mpisnap {
namespace {

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

// A safe point needs every non-blocking receive, matched probe and started persistent request
// completed. Checked at every safe point while a checkpoint is possible at all, not only at the ones
// that take a checkpoint: a trigger (the scheduler's warning signal) may make any safe point one, and
// the mistake must show in the first minute of a test run, not at the deadline.
void Runtime::check_safe_point() {
  if (requests_.empty() && held_messages_.empty() && !window_->has_pending()) return;  // the usual case: nothing
  const std::size_t pending = requests_.pending() + held_messages_.size();
  if (pending == 0 && !window_->has_pending()) return;  // only inactive persistent requests
  throw diag::error("checkpoint_point() at safe point " + std::to_string(safe_point_) + " with " +
                    std::to_string(pending) +
                    " receive, matched-probe or persistent request(s) not yet completed; a safe point needs every "
                    "non-blocking operation completed (MPI_Wait/MPI_Test) first" +
                    (config_.every == 0 || safe_point_ % config_.every != 0
                         ? " (no checkpoint was due here, but a signal or request_checkpoint() could make any safe "
                           "point one)"
                         : ""));
}

bool Runtime::safe_point_due() {
  if (restored_ && !restore_done_) refuse_unrestored();
  ++safe_point_;
  if (busy_ || slow_recv_) progress();
  if (snapshots_possible_) check_safe_point();
  const bool every = config_.every > 0 && safe_point_ % config_.every == 0;
  const bool agreed = triggers_->snapshot_here(safe_point_);
  if (!every && !agreed) return false;
  due_at_ = steady_seconds();
  // Colors are reused modulo 2: the previous snapshot must be complete everywhere first.
  wait_snapshot_complete();
  // Communicators from MPI_Comm_idup not used yet join the table now: a peer may have sent on one
  // before its snapshot, and only an entry in the table is drained. (Every member completed its
  // idup before this safe point and started the colors then, so this wait ends.)
  settle_all();
  return true;  // (check_safe_point ran above: a due safe point means checkpoints are possible)
}

void Runtime::take_snapshot(Node&& state) {
  const std::uint64_t stop_round = triggers_->take_stop_round();
  begin_snapshot(std::move(state), stop_round);
  pipeline_->record_pause(steady_seconds() - due_at_);
  if (stop_round) wait_for_stop_commit(stop_round);
}

void Runtime::begin_snapshot(Node&& state, std::uint64_t stop_round) {
  checkpoint::Snapshot* s = &pipeline_->open(engine_->seq() + 1, safe_point_, std::move(state));
  // Messages the library holds but the application has not received are in flight at this cut.
  s->data.channel = queue_.copy_all();
  // Entries held outside a window (receive emulation) came from the color that is old from now on:
  // they are older than anything this snapshot drains, so they stop being "held" (which would put
  // the drained messages in front of them).
  queue_.release_held();
  s->terminate_round = stop_round;
  triggers_->snapshot_taken();

  const mpi::CommTable::EpochCounts cut = comms_.begin_epoch(s->seq % 2);
  publish_cut(s->seq, cut.sent);  // the watch answers peers blocked short of this snapshot
  comms_.for_each([&](mpi::CommEntry& e) {
    CommCounters c;
    c.comm = protocol::value(e.id);
    c.world_ranks.assign(e.world.begin(), e.world.end());
    // The peers with a nonzero total, in rank order (the file's order: CommCounters).
    std::vector<const mpi::PeerCount*> used;
    e.peers.for_each([&](const mpi::PeerCount& p) {
      if (p.sent_total || p.delivered_total) used.push_back(&p);
    });
    std::sort(used.begin(), used.end(), [](const mpi::PeerCount* a, const mpi::PeerCount* b) { return a->peer < b->peer; });
    for (const mpi::PeerCount* p : used) c.add_peer(p->peer, p->sent_total, p->delivered_total);
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
  engine_->begin(s->seq, cut.sent, cut.received);
  progress();
}

void Runtime::on_channels_closed() {
  window_->set_log(nullptr);
  queue_.release_held();
  pipeline_->write();
}

CheckpointStats Runtime::stats() const {
  const checkpoint::Stats& p = pipeline_->stats();
  CheckpointStats s;
  s.checkpoints = p.checkpoints;
  s.last_pause_seconds = p.last_pause_seconds;
  s.max_pause_seconds = p.max_pause_seconds;
  s.total_pause_seconds = p.total_pause_seconds;
  s.last_write_seconds = p.last_write_seconds;
  s.last_file_bytes = p.last_file_bytes;
  s.last_commit_seconds = p.last_commit_seconds;
  s.peak_bytes_held = p.peak_bytes_held;
  s.buffer_bytes_held = pipeline_->buffers().bytes_held();
  s.mapped_ahead_seconds = pipeline_->buffers().planned_map_seconds();
  s.markers_sent = port_->markers_sent();
  s.agreement_messages = triggers_->messages_sent();
  return s;
}

void Runtime::watch_commits() noexcept {
  if (rank_ == 0) pipeline_->watch_commits();
}

std::vector<Committed> Runtime::take_commits() {
  std::vector<Committed> out;
  if (rank_ != 0) return out;
  pipeline_->poll();
  for (const auto& [id, safe_point] : pipeline_->take_committed()) {
    Committed c;
    c.checkpoint_id = id;
    c.safe_point = safe_point;
    c.directory = pipeline_->store().where();
    c.path = pipeline_->store().location(id);
    out.push_back(std::move(c));
  }
  return out;
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
    pipeline_->wait_for_writer(kWriterWait);
  }
}

void Runtime::wait_snapshot_complete() {
  while (engine_->active()) {
    progress();
    if (engine_->active()) pipeline_->wait_for_writer(kWriterWait);
  }
}

void Runtime::finish_all_snapshots() {
  wait_snapshot_complete();
  pipeline_->drain();
}

}  // namespace mpisnap
