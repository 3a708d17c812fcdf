// mpisnap: non-blocking, consistent checkpoint/restart for MPI point-to-point programs.
//
//   MPI_Init(&argc, &argv);
//   mpisnap::Session snap{MPI_COMM_WORLD};          // collective; finds the newest good checkpoint
//   State s = initial_state();
//   if (snap.restore(s)) { /* resumed */ }           // state and in-flight messages come back
//   while (s.step < n) {
//     exchange_and_compute(s);                        // plain MPI point-to-point
//     ++s.step;
//     snap.checkpoint_point(s);                       // a safe point: snapshots here when one is due
//   }
//   MPI_Finalize();                                   // finishes and commits a snapshot in progress
//
// A safe point is a place every rank passes in the same order (the k-th safe point of rank 0 is the
// k-th of rank 5) with no non-blocking operation pending. Reaching safe point k must never require a
// message another rank sends after its own safe point k. Ranks do not wait for each other there.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <string>

#include <mpisnap/archive.hpp>
#include <mpisnap/array_view.hpp>
#include <mpisnap/config.hpp>
#include <mpisnap/error.hpp>
#include <mpisnap/tree.hpp>

namespace mpisnap {

// What the checkpoints of this run cost this rank (the benchmarks read these).
struct CheckpointStats {
  std::uint64_t checkpoints = 0;          // snapshots this rank took in this run
  double last_pause_seconds = 0;          // inside checkpoint_point(): serialize + start the snapshot
  double max_pause_seconds = 0;           // the longest such pause in this run
  double total_pause_seconds = 0;         // all of them added up
  double last_write_seconds = 0;          // the background write of this rank's file (HDF5 + fsync)
  std::uint64_t last_file_bytes = 0;
  double last_commit_seconds = 0;         // rank 0: first snapshot on any rank -> manifest renamed
  std::uint64_t markers_sent = 0;         // control messages of the snapshot protocol, all checkpoints
  std::uint64_t agreement_messages = 0;   // control messages of the trigger agreement
  std::uint64_t peak_bytes_held = 0;      // largest in-memory copy a snapshot kept until written
  std::uint64_t buffer_bytes_held = 0;    // kept now, between snapshots, for the next one's copy
  double mapped_ahead_seconds = 0;        // a fresh run: the helper that mapped the first snapshot's buffers
};

// How this run started.
struct ResumeInfo {
  bool resumed = false;
  std::uint64_t checkpoint_id = 0;   // the checkpoint restored, if resumed
  std::uint64_t safe_point = 0;      // safe points passed when it was taken
  std::uint64_t messages = 0;        // in-flight messages this rank replays
};

// A checkpoint rank 0 saw committed (Session::on_commit).
struct Committed {
  std::uint64_t checkpoint_id = 0;
  std::uint64_t safe_point = 0;
  std::string directory;  // the checkpoint directory (Config::directory): open it with GlobalState
  std::string path;       // this checkpoint's own directory in it
};

class MPISNAP_API Session {
 public:
  // Collective over `comm`, which must be MPI_COMM_WORLD (or congruent to it); call right after
  // MPI_Init. Finds the newest committed checkpoint that verifies on every rank. The settings are
  // Config::defaults() (the MPISNAP_* environment).
  //
  // Errors (a checkpoint that cannot be restored, misuse, bad settings) end the job the way an MPI
  // error does: "mpisnap: rank R: <what>" on stderr and MPI_Abort with status 70. With
  // Config::exceptions (MPISNAP_EXCEPTIONS=1) every Session call throws mpisnap::Error instead.
  explicit Session(MPI_Comm comm);
  Session(MPI_Comm comm, Config config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // If a checkpoint was found, loads this rank's state into `state`, queues its in-flight messages
  // for delivery before anything new, and returns true. Call it on every rank, before any
  // point-to-point communication that belongs to the resumed computation.
  template <class T>
  bool restore(T& state) {
    const Node* tree = begin_restore();
    if (!tree) {
      plan_buffers(state);
      return false;
    }
    try {
      from_tree(*tree, state);
    } catch (const std::exception& e) {
      fail_restore(e.what());
    }
    finish_restore();
    return true;
  }

  // A safe point. Takes a snapshot of `state` (serialized into memory; written in the background)
  // when one is due.
  template <class T>
  void checkpoint_point(T& state) {
    if (!safe_point_due()) return;
    Node tree;
    try {
      tree = to_tree(state, buffers());
    } catch (const std::exception& e) {
      fail_snapshot(e.what());
    }
    take_snapshot(std::move(tree));
  }

  // Collective: returns once every checkpoint taken so far is complete on every rank and committed
  // (or reported as failed). MPI_Finalize does the same implicitly.
  void flush();

  // Asks for a checkpoint as soon as possible; any rank may call it, the others need not. The ranks
  // agree on the safe point (the first one no rank has passed yet) without stopping.
  void request_checkpoint();

  // True once a checkpoint requested by SIGTERM (or Config::exit_signal) has committed: leave the
  // loop and call MPI_Finalize, which then ends the process with status kExitCheckpointed. A
  // program that does not check is stopped at its next safe point the same way.
  bool should_exit() const noexcept;
  static constexpr int kExitCheckpointed = 75;  // EX_TEMPFAIL: "stopped after a checkpoint; run again"

  CheckpointStats stats() const;

  // Runs `hook` on rank 0 for every checkpoint committed from now on, in this thread, at the first
  // safe point (or flush()) after rank 0 learns of the commit, oldest first. A consistent global
  // state is then on disk: read it with mpisnap::GlobalState (global_state.hpp) to check an
  // invariant or look for a deadlock while the job runs. Other ranks keep the hook but never run it.
  // Commits made inside MPI_Finalize are not reported (read them offline).
  void on_commit(std::function<void(const Committed&)> hook);

  // The state tree restore() is about to load (null when there is no checkpoint to restore, or it
  // was restored): what the checkpoint holds under each name, to size buffers first (the C API's
  // mpisnap_stored_shape reads it).
  const Node* pending_state() const;

  bool resumed() const noexcept { return info_.resumed; }
  const ResumeInfo& resume_info() const noexcept { return info_; }
  // Safe points passed so far, counting those before the restored checkpoint.
  std::uint64_t safe_point() const noexcept;
  const Config& config() const noexcept { return config_; }

 private:
  const Node* begin_restore();
  [[noreturn]] void fail_restore(const char* what);
  [[noreturn]] void fail_snapshot(const char* what);
  void finish_restore();
  bool safe_point_due();
  BufferSource* buffers();  // the library's pool of the last snapshot's buffers
  void take_snapshot(Node&& tree);
  // A fresh run: the first snapshot's buffers are mapped ahead, on a helper thread, from the sizes
  // of the state now (an archive pass that copies nothing). Null planner: checkpoints are off, or
  // buffers are not kept (MPISNAP_REUSE_BUFFERS=0).
  BufferSource* buffer_planner();
  void map_planned_buffers();
  template <class T>
  void plan_buffers(T& state) {
    BufferSource* planner = buffer_planner();
    if (!planner) return;
    try {
      (void)to_tree(state, planner);
    } catch (const std::exception&) {
      return;  // (the first checkpoint_point reports what is wrong with the state)
    }
    map_planned_buffers();
  }

  void run_commit_hook();

  Config config_;
  ResumeInfo info_;
  std::function<void(const Committed&)> on_commit_;
};

}  // namespace mpisnap
