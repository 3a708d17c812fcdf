#include "checkpoint/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <mpisnap/error.hpp>

#include "common/diagnostics.hpp"
#include "state/buffer_pool.hpp"

namespace mpisnap::checkpoint {
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

Pipeline::Pipeline(std::unique_ptr<storage::CheckpointStore> store, int rank, int nranks, Options options,
                   Announce announce)
    : store_(std::move(store)),
      writer_(std::make_unique<storage::BackgroundWriter>()),
      rank_(rank),
      nranks_(nranks),
      options_(options),
      announce_(std::move(announce)) {
  tiers_ = dynamic_cast<storage::TieredStore*>(store_.get());
  if (tiers_) {
    flusher_ = std::make_unique<storage::BackgroundWriter>();
    flush_stats_ = std::make_shared<FlushTiming>();
  }
}

Pipeline::~Pipeline() {
  writer_.reset();  // joins the writer's thread before the store goes (its jobs may still hand flushes on)
  flusher_.reset();
}

namespace {

// The flusher's job: this rank's local file (open as `fd`) to the global tier; a failure is also
// said there, so that rank 0's global commit stops waiting for it.
std::function<void()> flush_job(storage::TieredStore* tiers, std::uint64_t id, int rank, int fd,
                                std::shared_ptr<Pipeline::FlushTiming> stats) {
  return [=] {
    const double t0 = steady_seconds();
    stats->id = id;
    stats->started = t0;
    try {
      if (fd < 0) throw Error("mpisnap: cannot open " + tiers->location(id) + "/" + storage::rank_file_name(rank) + " to flush it");
      const std::uint64_t bytes = tiers->flush_rank(id, rank, fd);
      ::close(fd);
      stats->bytes = bytes;
      stats->seconds = steady_seconds() - t0;
    } catch (const std::exception& e) {
      if (fd >= 0) ::close(fd);
      tiers->flush_failed(id, rank, e.what());
      throw;
    }
  };
}

int open_local(storage::TieredStore* tiers, std::uint64_t id, int rank) {
  return ::open((tiers->location(id) + "/" + storage::rank_file_name(rank)).c_str(), O_RDONLY | O_CLOEXEC);
}

}  // namespace

Snapshot& Pipeline::open(protocol::SnapshotSeq seq, std::uint64_t safe_point, Node&& state) {
  auto s = std::make_unique<Snapshot>();
  s->seq = seq;
  s->checkpoint_id = next_id_++;
  s->data.checkpoint_id = s->checkpoint_id;
  s->data.safe_point = safe_point;
  s->data.rank = rank_;
  s->data.nranks = nranks_;
  s->snap_time_ns = realtime_ns();
  s->data.created_unix = static_cast<double>(s->snap_time_ns) * 1e-9;
  s->data.state = std::move(state);
  snap_ = std::move(s);
  ++stats_.checkpoints;
  return *snap_;
}

void Pipeline::record_pause(double seconds) noexcept {
  if (snap_) snap_->pause_seconds = seconds;
  stats_.last_pause_seconds = seconds;
  stats_.max_pause_seconds = std::max(stats_.max_pause_seconds, seconds);
  stats_.total_pause_seconds += seconds;
}

bool Pipeline::written() const noexcept {
  return snap_ && snap_->write && !snap_->done_started && snap_->write->finished.load(std::memory_order_acquire);
}

void Pipeline::write() {
  Snapshot* s = snap_.get();
  stats_.peak_bytes_held = std::max(stats_.peak_bytes_held, s->data.state.total_bytes());
  s->flush = tiers_ && ((options_.flush_every && s->seq % options_.flush_every == 0) || s->terminate_round);
  if (s->flush) flushed_through_ = std::max(flushed_through_, s->checkpoint_id);
  s->write = writer_->submit([s, store = store_.get(), tiers = tiers_, flusher = flusher_.get(), rank = rank_,
                              fstats = flush_stats_] {
    const double t0 = steady_seconds();
    s->written = store->write_rank(s->data);
    s->write_seconds = steady_seconds() - t0;
    // Opened before this rank's done record: the local tier's pruning, which follows a later
    // checkpoint's commit, cannot take the file from under the flush.
    if (s->flush) flusher->submit(flush_job(tiers, s->checkpoint_id, rank, open_local(tiers, s->checkpoint_id, rank), fstats));
  });
}

storage::BackgroundWriter::Ticket Pipeline::write_copy(int rank, std::shared_ptr<const std::vector<char>> data) {
  return writer_->submit([tiers = tiers_, id = snap_->checkpoint_id, rank, data] {
    tiers->write_copy(id, rank, data->data(), data->size());
  });
}

void Pipeline::commit_local(const std::vector<std::uint64_t>& decision) {
  if (decision.size() < 2 || decision[1] == 0) return;  // not committed: its files go with the next prune
  const storage::Manifest m = storage::manifest_from_words(decision, 2);
  Commit c;
  c.checkpoint_id = m.checkpoint_id;
  c.safe_point = m.safe_point;
  c.ticket = writer_->submit([store = store_.get(), keep = options_.keep, floor = prune_floor_, m] {
    store->commit(m);
    store->prune(keep, floor);
  });
  commits_.push_back(std::move(c));
}

std::uint64_t Pipeline::unflushed_newest() const noexcept {
  return newest_committed_ && !newest_flushed_ ? newest_committed_ : 0;
}

void Pipeline::flush_now(std::uint64_t id) {
  if (!tiers_ || id == 0) return;
  if (id > flushed_through_) {
    flushed_through_ = id;
    flusher_->submit(flush_job(tiers_, id, rank_, open_local(tiers_, id, rank_), flush_stats_));
  }
  if (rank_ == 0 && id == newest_committed_ && !newest_flushed_) submit_global_commit(newest_manifest_, nullptr);
}

void Pipeline::submit_global_commit(const storage::Manifest& m, std::shared_ptr<double> local_commit_time) {
  newest_flushed_ = m.checkpoint_id == newest_committed_ || newest_flushed_;
  GlobalCommit g;
  g.checkpoint_id = m.checkpoint_id;
  g.timing = std::make_shared<FlushTiming>();
  // (On the flusher's thread, after this rank's own flush of the checkpoint: its timing is there.)
  g.ticket = flusher_->submit([tiers = tiers_, m, keep = options_.keep, floor = prune_floor_,
                               timeout = options_.flush_timeout, t0 = std::move(local_commit_time), out = g.timing,
                               own = flush_stats_] {
    tiers->commit_global(m, keep, floor, timeout);
    const double now = steady_seconds();
    if (own->id == m.checkpoint_id) {
      *out = *own;
      out->after_copy_began = now - own->started;
    }
    if (t0) out->after_local_commit = now - *t0;
  });
  global_commits_.push_back(std::move(g));
}

void Pipeline::poll_global() {
  for (auto it = global_commits_.begin(); it != global_commits_.end();) {
    if (!it->ticket->finished.load(std::memory_order_acquire)) {
      ++it;
      continue;
    }
    if (it->ticket->error) {
      global_error_ = it->ticket->error_text();
      diag::warn(global_error_);
    } else {
      global_error_.clear();
      stats_.last_global_id = it->checkpoint_id;
      const FlushTiming& t = *it->timing;
      stats_.last_global_lag_seconds = t.after_local_commit;
      if (options_.verbose)
        diag::say("checkpoint " + std::to_string(it->checkpoint_id) + " committed on the global tier " +
                  store_->where() +
                  (t.after_local_commit > 0 ? ", " + diag::fixed(t.after_local_commit, 3) + " s after its local commit" : std::string()) +
                  (t.after_copy_began > 0 ? ", " + diag::fixed(t.after_copy_began, 3) + " s after its copy began (rank 0's file: " +
                                                std::to_string(t.bytes) + " bytes in " + diag::fixed(t.seconds, 3) + " s)"
                                          : std::string()));
    }
    it = global_commits_.erase(it);
  }
}

void Pipeline::finish_flush() {
  if (!tiers_) return;
  flusher_->drain();
  stats_.last_flush_bytes = flush_stats_->bytes;
  stats_.last_flush_seconds = flush_stats_->seconds;
  poll_global();
  if (rank_ == 0 && !global_error_.empty())
    throw Error("mpisnap: the newest checkpoint did not reach the global tier: " + global_error_);
}

protocol::DoneRecord Pipeline::done_record(std::uint64_t sent_before, std::uint64_t received_before) {
  Snapshot& s = *snap_;
  protocol::DoneRecord r;
  if (s.write->error || !s.partner_error.empty()) {
    r.failed = 1;
    diag::warn("checkpoint " + std::to_string(s.checkpoint_id) + " could not be written: " +
               (s.write->error ? s.write->error_text() : s.partner_error));
  } else {
    r.digest = s.written.digest;
    r.file_bytes = s.written.file_bytes;
    r.write_ns = static_cast<std::uint64_t>(s.write_seconds * 1e9);
    r.state_bytes = s.written.payload_bytes;
    stats_.last_write_seconds = s.write_seconds;
    stats_.last_file_bytes = s.written.file_bytes;
  }
  r.messages = s.data.channel.size();
  r.sent_before = sent_before;
  r.received_before = received_before;
  r.snap_time_ns = s.snap_time_ns;
  r.coll_check = s.coll_check;
  r.pause_ns = static_cast<std::uint64_t>(s.pause_seconds * 1e9);
  // The in-memory copy is no longer needed; its buffers take the next snapshot's copy.
  if (options_.reuse_buffers) buffers_.recycle(std::move(s.data.state));
  s.data.state = Node{};
  s.data.channel.clear();
  s.done_started = true;
  return r;
}

protocol::SnapshotSeq Pipeline::close(const std::vector<protocol::DoneRecord>& records) {
  std::unique_ptr<Snapshot> s = std::move(snap_);
  if (rank_ == 0) commit(*s, records);
  return s->seq;
}

void Pipeline::commit(const Snapshot& s, const std::vector<protocol::DoneRecord>& records) {
  decision_ = {s.checkpoint_id, 0};  // (not committed, unless it is below)
  std::uint64_t sent = 0, got = 0, first_ns = ~0ull, coll = 0;
  std::string failed;
  storage::Manifest m;
  m.checkpoint_id = s.checkpoint_id;
  m.safe_point = s.data.safe_point;
  m.nranks = nranks_;
  m.program = options_.program;
  m.created_unix = s.data.created_unix;
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
    diag::say("checkpoint " + std::to_string(s.checkpoint_id) + " is not committed: rank(s) " + failed +
              " could not write their files; its partial files are removed");
    if (s.terminate_round) announce_(s.terminate_round, false);
    // Every rank is done with it (they reported): its remains only take space (a full disk).
    writer_->submit([store = store_.get(), id = s.checkpoint_id] { store->discard(id); });
    return;
  }
  if (sent != got) {
    diag::say("checkpoint " + std::to_string(s.checkpoint_id) + " is not committed: protocol violation, " +
              std::to_string(sent) + " messages sent before the cut but " + std::to_string(got) +
              " received before it or recorded");
    if (s.terminate_round) announce_(s.terminate_round, false);
    return;
  }
  if (coll != 0) {
    // Some communicator's members cut between different collective calls: a restart would hang or
    // mismatch in that collective. Name the communicator and the ranks from the files (rare path).
    Commit c;
    c.checkpoint_id = s.checkpoint_id;
    c.terminate_round = s.terminate_round;
    c.refused = true;
    c.ticket = writer_->submit([store = store_.get(), nranks = nranks_, id = s.checkpoint_id] {
      report_collective_mismatch(*store, nranks, id);
    });
    commits_.push_back(std::move(c));
    return;
  }
  m.commit_seconds = static_cast<double>(realtime_ns() - std::min(first_ns, realtime_ns())) * 1e-9;
  stats_.last_commit_seconds = m.commit_seconds;
  std::uint64_t bytes = 0, messages = 0, state = 0, slowest_pause = 0, slowest_write = 0;
  std::size_t pause_rank = 0;
  for (std::size_t r = 0; r < records.size(); ++r) {
    bytes += m.rank_bytes[r];
    messages += m.rank_messages[r];
    state += records[r].state_bytes;
    if (records[r].pause_ns > slowest_pause) {
      slowest_pause = records[r].pause_ns;
      pause_rank = r;
    }
    slowest_write = std::max(slowest_write, records[r].write_ns);
  }
  const double write_s = static_cast<double>(slowest_write) * 1e-9;
  const std::string summary =
      "checkpoint " + std::to_string(m.checkpoint_id) + " committed: safe point " + std::to_string(m.safe_point) +
      ", state " + diag::bytes(state) + " in files of " + diag::bytes(bytes) + ", " + std::to_string(messages) +
      " in-flight message(s); pause at most " + diag::fixed(static_cast<double>(slowest_pause) * 1e-9, 4) +
      " s (rank " + std::to_string(pause_rank) + "); written at " +
      (write_s > 0 ? diag::bytes(static_cast<std::uint64_t>(static_cast<double>(bytes) / write_s)) + "/s"
                   : std::string("-")) +
      " (slowest rank " + diag::fixed(write_s, 3) + " s); committed " + diag::fixed(m.commit_seconds, 3) +
      " s after the first snapshot";
  Commit c;
  c.checkpoint_id = m.checkpoint_id;
  c.safe_point = m.safe_point;
  c.terminate_round = s.terminate_round;
  c.summary = summary;
  if (tiers_) {
    decision_[1] = 1;
    const std::vector<std::uint64_t> words = storage::manifest_words(m);
    decision_.insert(decision_.end(), words.begin(), words.end());
    c.flush = s.flush;
    c.manifest = m;
    c.local_commit_time = std::make_shared<double>(0.0);
  }
  c.ticket = writer_->submit([store = store_.get(), keep = options_.keep, floor = prune_floor_, m, t = c.local_commit_time] {
    try {
      store->commit(m);
      if (t) *t = steady_seconds();
    } catch (...) {
      try {  // not committed: its files only take space (a full disk); a committed one stays
        store->discard(m.checkpoint_id);
      } catch (...) {
      }
      throw;
    }
    store->prune(keep, floor);
  });
  commits_.push_back(std::move(c));
}

void Pipeline::report_collective_mismatch(storage::CheckpointStore& store, int nranks, std::uint64_t id) {
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

void Pipeline::poll() {
  for (auto it = commits_.begin(); it != commits_.end();) {
    if (!it->ticket->finished.load(std::memory_order_acquire)) {
      ++it;
      continue;
    }
    const bool ok = !it->ticket->error && !it->refused;
    if (it->ticket->error)
      diag::warn("checkpoint " + std::to_string(it->checkpoint_id) +
                 " could not be committed (the previous one stays the newest): " + it->ticket->error_text());
    else if (options_.verbose)
      diag::say(it->summary);
    if (it->terminate_round) announce_(it->terminate_round, ok);
    if (ok && watch_commits_) committed_.emplace_back(it->checkpoint_id, it->safe_point);
    if (ok && tiers_ && rank_ == 0 && it->checkpoint_id > newest_committed_ && it->manifest.nranks > 0) {
      newest_committed_ = it->checkpoint_id;
      newest_manifest_ = it->manifest;
      newest_flushed_ = false;
      if (it->flush) submit_global_commit(it->manifest, it->local_commit_time);
    }
    it = commits_.erase(it);
  }
  if (!global_commits_.empty()) poll_global();
}

void Pipeline::drain() {
  writer_->drain();
  poll();
}

}  // namespace mpisnap::checkpoint
