// Deadlock detection for MPI programs, the pure half: what a blocked rank reports (what it waits
// for, and its message counts per channel), and rank 0's decision over the reports (lecture §5a and
// §12: a deadlock is a stable property of a consistent global state; here the state is the blocked
// ranks', made consistent by confirming that each was blocked throughout).
//
// A rank blocked in a receive can be woken by a message already on its way from a source it accepts
// (sent > received on that channel: conservatively, whatever its tag) or by a future send of such a
// source, which a rank that is itself stuck will never make. A rank blocked in a send to j can be
// woken only by j posting a matching receive, which a stuck j does only if it is blocked in one. The
// stuck set is the greatest set of reporting ranks all of whose ways out lead to stuck ranks; it is
// non-empty exactly when some ranks wait on each other in a cycle (a knot, with MPI_ANY_SOURCE) and
// nothing in flight can end it. A rank in MPI_Waitall is stuck as soon as one of its receives is (it
// needs them all); one in MPI_Waitany/MPI_Waitsome only when all of them are. A rank blocked in a
// collective call waits for every member to make
// the same call (the same count of collective calls on that communicator): a member stuck elsewhere
// never does. A rank that does not report (computing, in a wait the library cannot describe) is
// never stuck, nor is anyone who waits for it: no false positive on slow or merely imbalanced
// programs, at the price of missing deadlocks the library cannot see.
//
// No MPI here: unit-tested with made-up reports (tests/unit/wait_graph_test.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mpisnap::deadlock {

inline constexpr int kAnySource = -1;
inline constexpr int kAnyTag = -1;

// World ranks [first, first + count).
struct Run {
  int first = 0;
  int count = 0;
};
// `ranks` (any order) as runs, in increasing order; empty when they take more than `max_runs` runs.
std::vector<Run> runs_of(std::vector<int> ranks, std::size_t max_runs);

struct Wait {
  bool send = false;             // a send waiting for its receiver; else a receive
  std::uint64_t comm = 0;        // communicator id
  int peer = kAnySource;         // world rank of the source or destination; kAnySource: any member
  int tag = kAnyTag;
  std::vector<int> members;      // kAnySource: the world ranks that may send (the communicator's members)
  // A blocking collective (MPI_Barrier, MPI_Allreduce, ...): this rank's `round`th collective call
  // on `comm`, which ends once every member has made its own `round`th. A member stuck in anything
  // else never will. Its members as runs (one for a communicator of consecutive ranks); none: too
  // scattered to send, and then the wait is never stuck.
  bool collective = false;
  std::uint64_t round = 0;
  std::vector<Run> member_runs;
};

// The messages of one channel: this rank's counts towards / from `peer` on `comm`, in `epoch`.
struct Count {
  std::uint64_t comm = 0;
  int peer = 0;                  // world rank
  std::uint64_t sent = 0;        // to peer
  std::uint64_t received = 0;    // from peer, taken out of MPI
};

struct Report {
  int rank = 0;                  // world rank
  std::uint64_t episode = 0;     // which blocking call: the same number until it returns
  std::uint64_t epoch = 0;       // snapshots begun on this rank (the counts are per epoch)
  std::string call;              // "MPI_Recv", "MPI_Send", "MPI_Wait", ...
  std::vector<Wait> waits;       // any one completing ends the wait (unless `all`)
  // The call ends only when every one of `waits` completed (MPI_Waitall): stuck as soon as one of
  // them is. Requests the library cannot describe (sends) may be left out of such a report: they
  // cannot free a rank that waits on a stuck receive as well.
  bool all = false;
  std::vector<Count> counts;     // nonzero channels
};

// The reporting ranks that can never be woken (empty: no deadlock). All reports must share one
// epoch; reports of different epochs give nothing (the next reports will).
std::vector<int> stuck_ranks(const std::map<int, Report>& reports);

// A readable account of the stuck ranks: a cycle through them first (each rank, its call, what it
// waits for), then the others.
std::string describe(const std::map<int, Report>& reports, const std::vector<int>& stuck);

// On the wire (MPI_UINT64_T words).
std::vector<std::uint64_t> encode(const Report& r);
Report decode(const std::uint64_t* words, std::size_t n);

}  // namespace mpisnap::deadlock

namespace mpisnap::deadlock {

// Rank 0's side: the latest report of each blocked rank; a stuck set found among them is not yet a
// deadlock, since a report may be stale (its rank went on since). Each member is asked whether it
// is still in the blocking call it reported (the same episode); if every one says yes, every one
// was blocked throughout, from before the last report arrived to after the question was sent, so
// at that moment the reports were all true together: a consistent state, in which the stuck set can
// never move. A "no", or no answer within `timeout` seconds, drops that rank's report.
class Monitor {
 public:
  struct Question {
    std::uint64_t round = 0;
    std::map<int, std::uint64_t> episodes;  // rank -> the episode it reported
  };

  void report(Report r);
  // Forgets rank `rank`'s report if it is still that of `episode`.
  void forget(int rank, std::uint64_t episode);
  // A stuck set to confirm, when none is being confirmed: ask each member whether it is still in its episode.
  bool propose(double now, Question& q);
  void answer(int rank, std::uint64_t round, std::uint64_t episode, bool still);
  // Rounds unanswered for `timeout` seconds are given up (their silent ranks' reports dropped).
  void expire(double now, double timeout);
  // The deadlock, once every member of the round said yes; "" until then.
  std::string verdict() const;

 private:
  std::map<int, Report> reports_;
  std::uint64_t rounds_ = 0;
  bool asking_ = false;
  Question question_;
  std::map<int, bool> answers_;
  double asked_at_ = 0;
  std::vector<int> stuck_;
};

}  // namespace mpisnap::deadlock
