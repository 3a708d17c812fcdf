// A checkpoint's way from this rank's snapshot to its commit, and the commits in flight:
//
//   open()        at the safe point: a new record (id, where it goes, the state)
//   write()       the snapshot's channels closed: the rank file is written in the background
//   done_record() the write finished: what this rank gives the engine's done gather
//   close()       the gather completed: on rank 0 the decision (every file written, the channels
//                 balance, the collectives agree) and the commit + prune, in the background
//   poll()        commits that finished: reported, and announced to whoever waits for them
//
// It owns the checkpoint store, the background writer and the checkpoint statistics; it knows
// nothing of MPI or of the protocol's messages (the runtime moves the engine and calls these at the
// engine's phases).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/checkpoint_data.hpp"
#include "protocol/types.hpp"
#include "state/buffer_pool.hpp"
#include "storage/background_writer.hpp"
#include "storage/checkpoint_store.hpp"
#include "storage/tiered_store.hpp"

namespace mpisnap::checkpoint {

// What the pipeline measures (Session::stats reports it with what other components count).
struct Stats {
  std::uint64_t checkpoints = 0;
  double last_pause_seconds = 0, max_pause_seconds = 0, total_pause_seconds = 0;
  double last_write_seconds = 0;
  std::uint64_t last_file_bytes = 0;
  double last_commit_seconds = 0;
  std::uint64_t peak_bytes_held = 0;
  // Two tiers: the last checkpoint that reached the global tier, the time from its local commit to
  // its global one, and this rank's last flush (bytes and seconds).
  std::uint64_t last_global_id = 0;
  double last_global_lag_seconds = 0;
  std::uint64_t last_flush_bytes = 0;
  double last_flush_seconds = 0;
};

struct Options {
  unsigned keep = 2;           // Config::keep
  bool reuse_buffers = true;   // Config::reuse_buffers
  bool verbose = false;        // Config::verbose: a summary line per commit
  std::string program;         // recorded in every manifest (the job's identity, checked at restart)
  // With a storage::TieredStore: flush every k-th snapshot to the global tier (0: only the stop
  // round's and, at the end, the newest), and how long rank 0 waits for every rank's flushed file.
  unsigned flush_every = 1;    // Config::flush_every
  double flush_timeout = 600;
};

// The snapshot this rank took and is carrying to commit.
struct Snapshot {
  std::uint64_t checkpoint_id = 0;
  protocol::SnapshotSeq seq = 0;
  RankCheckpoint data;
  std::uint64_t snap_time_ns = 0;
  double pause_seconds = 0;
  storage::BackgroundWriter::Ticket write;
  storage::RankFileInfo written;
  double write_seconds = 0;
  bool done_started = false;
  std::uint64_t coll_check = 0;       // this rank's word of the collective check (sums to 0 when they agree)
  std::uint64_t terminate_round = 0;  // a checkpoint that stops the job: announce when it committed
  bool flush = false;                 // two tiers: this one goes to the global tier too
  std::string partner_error;          // two tiers: a partner copy this rank keeps could not be written
};

class Pipeline {
 public:
  // `announce(round, committed)`: the outcome of a checkpoint that a stop round waits for.
  using Announce = std::function<void(std::uint64_t round, bool committed)>;
  Pipeline(std::unique_ptr<storage::CheckpointStore> store, int rank, int nranks, Options options, Announce announce);
  ~Pipeline();

  storage::CheckpointStore& store() noexcept { return *store_; }
  // The buffers of the last snapshot's copy, which the next copy reuses (Options::reuse_buffers):
  // the archive of a safe point takes from it (Session passes it to to_tree).
  state::BufferPool& buffers() noexcept { return buffers_; }
  // Ids continue above every checkpoint in the store (recovery says where).
  void set_next_id(std::uint64_t id) noexcept { next_id_ = id; }
  // Checkpoints below `id` are not this run's to prune: it did not resume from them (it started
  // fresh beside them, or found none that verifies).
  void set_prune_floor(std::uint64_t id) noexcept { prune_floor_ = id; }

  // A new snapshot, numbered `seq` by the engine, of `state` at `safe_point`.
  Snapshot& open(protocol::SnapshotSeq seq, std::uint64_t safe_point, Node&& state);
  Snapshot* current() noexcept { return snap_.get(); }
  void record_pause(double seconds) noexcept;

  // The snapshot is open and its channels closed but its file not yet submitted / written and not
  // yet reported.
  bool awaiting_write() const noexcept { return snap_ && !snap_->write; }
  bool written() const noexcept;
  void write();
  // This rank's done record (sent/received before the cut from the engine); the in-memory copy is
  // released (into the buffer pool when reuse_buffers).
  protocol::DoneRecord done_record(std::uint64_t sent_before, std::uint64_t received_before);
  // The engine's gather completed: `records` (rank 0: every rank's; others: empty). Returns the
  // snapshot's sequence number (the runtime frees what it retired before it).
  protocol::SnapshotSeq close(const std::vector<protocol::DoneRecord>& records);

  bool commits_pending() const noexcept { return !commits_.empty(); }
  void poll();
  // Rank 0: from now on remember every checkpoint poll() finds committed, until taken.
  void watch_commits() noexcept { watch_commits_ = true; }
  // The checkpoints committed since the last call, oldest first (id, safe point).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> take_committed() { return std::move(committed_); }
  // Waits for every background job, then reports what finished.
  void drain();
  // A rank with nothing to do but wait for its checkpoints (flush, finalize, a safe point waiting
  // for the previous snapshot) sleeps up to `timeout` while its writer works, instead of taking the
  // core from it; returns at once when the writer is idle.
  void wait_for_writer(std::chrono::microseconds timeout) { writer_->wait_idle_for(timeout); }

  const Stats& stats() const noexcept { return stats_; }

  // ---- two tiers (a storage::TieredStore; null otherwise). The runtime moves the MPI side: the
  // partner copies between written() and done_record(), rank 0's decision to the other nodes.
  storage::TieredStore* tiers() noexcept { return tiers_; }
  // Rank `rank`'s file of the open snapshot, received from it: kept on this node, in the background.
  storage::BackgroundWriter::Ticket write_copy(int rank, std::shared_ptr<const std::vector<char>> data);
  // Rank 0, after close(): [checkpoint id, 1 and the manifest's words if it is being committed, else 0].
  std::vector<std::uint64_t> take_decision() { return std::move(decision_); }
  // The other nodes' leaders: rank 0's decision arrived; a committed checkpoint commits on this
  // node's local tier (its manifest) and the local tier is pruned, in the background.
  void commit_local(const std::vector<std::uint64_t>& decision);
  // Rank 0, at the end: the newest checkpoint committed by this run that is not on its way to the
  // global tier (0: none).
  std::uint64_t unflushed_newest() const noexcept;
  // Every rank, at the end: flush checkpoint `id` (rank 0: and commit it globally) unless done.
  void flush_now(std::uint64_t id);
  // Waits for every flush; rank 0 throws mpisnap::Error when the last global commit failed.
  void finish_flush();

 private:
  struct Commit {
    std::uint64_t checkpoint_id = 0;
    std::uint64_t safe_point = 0;
    std::uint64_t terminate_round = 0;
    bool refused = false;  // a job that only reports why the checkpoint is not committed
    storage::BackgroundWriter::Ticket ticket;
    std::string summary;
    bool flush = false;                         // two tiers: commit globally once committed locally
    storage::Manifest manifest;                 // (for that)
    std::shared_ptr<double> local_commit_time;  // steady clock, set by the commit job
  };
  public:
  // A flush as timed on the flusher's thread: this rank's copy of its file (bytes, seconds,
  // when it began, which checkpoint) and, for rank 0's global commit, the time from the local
  // commit and from the start of its own copy to the global commit.
  struct FlushTiming {
    std::uint64_t id = 0, bytes = 0;
    double seconds = 0, started = 0;
    double after_local_commit = 0, after_copy_began = 0;
  };

 private:
  struct GlobalCommit {
    std::uint64_t checkpoint_id = 0;
    storage::BackgroundWriter::Ticket ticket;
    std::shared_ptr<FlushTiming> timing;  // set by the job
  };
  // Submits this rank's flush of checkpoint `id` (its local file, opened now) to the flusher.
  void submit_flush(std::uint64_t id);
  void submit_global_commit(const storage::Manifest& m, std::shared_ptr<double> local_commit_time);
  void poll_global();
  // Rank 0: the commit (or the refusal) of `s`, whose ranks reported `records`.
  void commit(const Snapshot& s, const std::vector<protocol::DoneRecord>& records);
  static void report_collective_mismatch(storage::CheckpointStore& store, int nranks, std::uint64_t id);

  state::BufferPool buffers_;
  std::unique_ptr<storage::CheckpointStore> store_;  // outlives the writer, whose thread uses it
  std::unique_ptr<storage::BackgroundWriter> writer_;
  int rank_;
  int nranks_;
  Options options_;
  Announce announce_;
  std::uint64_t next_id_ = 1;
  std::uint64_t prune_floor_ = 0;
  std::unique_ptr<Snapshot> snap_;
  std::vector<Commit> commits_;
  bool watch_commits_ = false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> committed_;  // watch_commits(): not yet taken
  Stats stats_;
  // two tiers
  storage::TieredStore* tiers_ = nullptr;                 // store_, when it has two tiers
  std::unique_ptr<storage::BackgroundWriter> flusher_;    // copies to the global tier (never waited for by a snapshot)
  std::vector<std::uint64_t> decision_;                   // rank 0: the last close()'s, for the other nodes
  std::uint64_t flushed_through_ = 0;                     // the newest id this rank submitted for flushing
  std::shared_ptr<FlushTiming> flush_stats_;              // this rank's last flush (flusher thread)
  std::vector<GlobalCommit> global_commits_;
  std::uint64_t newest_committed_ = 0;                    // rank 0: by this run
  bool newest_flushed_ = false;
  storage::Manifest newest_manifest_;
  std::string global_error_;                              // rank 0: the last global commit's failure
};

}  // namespace mpisnap::checkpoint
