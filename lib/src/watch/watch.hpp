// The helper thread's watch over a rank blocked inside MPI (the main thread publishes the call in
// a BlockedCall): deadlock detection and the misplaced-safe-point diagnosis, over the side channel
// (sideband::Port::route), without MPI and without the main thread.
//
// Deadlock (the decision is deadlock::Monitor's, on rank 0's helper): a rank inside one blocking
// call for Options::deadlock_after seconds reports to rank 0 what the call waits for and its message
// counts, read while it holds the episode (the main thread cannot return meanwhile). Rank 0 asks
// each member of a stuck set whether its rank is still in the reported call; the helper answers from
// the episode word. If all say yes, the job ends (status 72) naming the cycle.
//
// Misplaced safe point: a rank short of an agreed snapshot (`round_open`, or every-N checkpoints), inside a receive from a
// named source, asks that source's helper how many messages the source sent it on that communicator
// before its snapshot of this round (the source publishes its cut with `cut_taken`). If this rank
// has already received that many, the receive can only be matched by a message sent after the
// source's snapshot, which travels on the other color: it never will be, and this rank never reaches
// its safe point. That is certain, not a timeout; the job ends (status 70) saying so.
//
// All of it runs under the lock of the helper's owner (triggers::Triggers), except cut_taken (the
// main thread, at a snapshot) and the BlockedCall's own protocol.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "deadlock/wait_graph.hpp"
#include "sideband/port.hpp"
#include "watch/blocked_call.hpp"

namespace mpisnap::watch {

// A receive's named source as the runtime resolves it, with what this rank received from it on that
// communicator in the current epoch.
struct Source {
  std::uint64_t comm = 0;   // communicator id
  int world = 0;            // the source's world rank
  int tag = 0;              // for the message (MPI_ANY_TAG as deadlock::kAnyTag)
  std::uint64_t received = 0;
};

// The runtime's reading of a held call (helper thread, main thread inside the call).
class Reader {
 public:
  virtual ~Reader() = default;
  // What the call waits for and the rank's counts (rank, episode and call name are filled in by the watch).
  // False: it waits for something the library cannot describe (then it never counts as stuck).
  virtual bool describe(const Call& c, deadlock::Report& r) = 0;
  // The named sources of the receives in the call: of each it needs (most calls), or of all it
  // waits for when any one ends it (watch::ends_with_any), and then none unless all are named.
  virtual void sources(const Call& c, std::vector<Source>& out) = 0;
};

struct Options {
  double deadlock_after = 0;   // seconds; 0: no deadlock detection
  double misplaced_after = 0.05;  // a call shorter than this is not asked about
  bool every_n = false;           // Config::every: snapshots come without a round (any call may be short of one)
};

class Watch {
 public:
  // `fatal` prints its text (as this rank's error, or `job`: as the job's) and ends the job with the
  // status; it does not return.
  using Fatal = std::function<void(const std::string& text, int status, bool job)>;
  Watch(int rank, BlockedCall& call, Reader& reader, Options options, Fatal fatal);

  // Main thread, once before any snapshot: the number of the last snapshot (a restarted run's).
  void start_epoch(std::uint64_t seq);
  // Main thread, at each snapshot it takes (`seq`: its number; `safe_point`: where): what it sent on
  // each channel before it (communicator id, world rank) -> messages. Also the epoch its counts are in.
  void cut_taken(std::uint64_t seq, std::uint64_t safe_point, std::map<std::pair<std::uint64_t, int>, std::uint64_t> sent);

  // Helper thread, under its owner's lock. `round_open`: this rank joined an agreed round whose safe
  // point it has not reached. Returns how soon (ms) it wants the next tick.
  int tick(sideband::Port& port, double now, bool round_open);
  // A routed message of one of the kinds below (true), or not one of the watch's (false).
  bool on_message(sideband::Port& port, const sideband::Routed& m, double now);
  // MPI_Finalize: no more reports or diagnoses from here on.
  void finishing() noexcept { finishing_ = true; }

  static constexpr std::uint64_t kReport = 100, kAsk = 101, kAnswer = 102, kCutQuestion = 103, kCutAnswer = 104;

 private:
  void watch_deadlock(sideband::Port& port, double now, std::uint64_t e);
  void watch_misplaced(sideband::Port& port, double now, std::uint64_t e);
  void judge(sideband::Port& port, double now);
  void check_misplaced();

  int rank_;
  BlockedCall& call_;
  Reader& reader_;
  Options options_;
  Fatal fatal_;
  bool finishing_ = false;

  // The episode being watched: since when (helper's clock), reported, its sources and cut answers.
  std::uint64_t episode_ = 0;
  double since_ = 0;
  bool reported_ = false;
  bool sources_read_ = false;
  bool sources_any_ = false;  // the call ends when any one source sends (MPI_Waitany, MPI_Waitsome)
  std::vector<Source> sources_;
  std::uint64_t asked_seq_ = 0;
  double asked_at_ = -1;
  std::map<std::pair<std::uint64_t, int>, std::pair<std::uint64_t, std::uint64_t>> cuts_;  // -> (sent before, safe point)

  // This rank's last cut (main thread writes at a snapshot, helper reads): under cut_mu_.
  std::mutex cut_mu_;
  std::uint64_t cut_seq_ = 0;
  std::uint64_t cut_safe_point_ = 0;
  std::map<std::pair<std::uint64_t, int>, std::uint64_t> cut_sent_;

  std::unique_ptr<deadlock::Monitor> monitor_;  // rank 0
};

}  // namespace mpisnap::watch
