// The request table: every MPI_Request the library must know about when the application completes
// it, and the persistent operations the application holds (lib/DESIGN.md, "Requests").
//
//   FastRecv    a real receive (or matched receive): counted against its communicator when it completes;
//   Emulated    a generalized request the receive window completes;
//   Persistent  the proxy of a persistent operation (the handle stays valid after completion);
//   CommIdup    MPI_Comm_idup: the new communicator is registered when it completes;
//   Pair        MPI_Isendrecv(_replace): a generalized request completed once its receive and its
//               send (the library's own) both completed.
//
// Requests the library does not track (sends, collectives, I/O, the application's own generalized
// requests) are not in it: find() returns null for them and they go to PMPI. The table answers the
// questions the completion calls ask (is any of these ours, may MPI's own wait complete them, is
// this one active, which receives does a blocked rank wait on, how many are pending at a safe
// point); it makes no MPI call (tests/unit/request_table_test.cpp drives it with made-up handles).
// The runtime (runtime_requests.cpp) makes the calls and accounts the completions.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "mpi/comm_table.hpp"
#include "mpi/flat_map.hpp"

namespace mpisnap::channel {
struct PendingRecv;
}

namespace mpisnap::requests {

// A persistent request: the application holds a proxy (a real persistent request that is never
// started); each MPI_Start starts a fresh operation on the communicator's current color, or an
// emulated receive in the window.
struct PersistentOp {
  enum Kind : std::uint8_t { Send, Ssend, Bsend, Recv } kind = Send;
  const void* sbuf = nullptr;
  void* rbuf = nullptr;
  int count = 0;
  MPI_Datatype type = MPI_BYTE;
  int peer = 0;
  int tag = 0;
  mpi::CommEntry* comm = nullptr;
  bool active = false;
  bool owns_type = false;  // a duplicate of the application's datatype, freed with the request
  MPI_Request real = MPI_REQUEST_NULL;
  channel::PendingRecv* emulated = nullptr;

  PersistentOp() = default;
  PersistentOp(const PersistentOp&) = delete;
  PersistentOp& operator=(const PersistentOp&) = delete;
  ~PersistentOp();
};

// MPI_Isendrecv(_replace): the application holds a generalized request; behind it, a receive and a
// send made through the library's own calls (so each is colored and counted like any other).
struct PairOp {
  MPI_Request recv = MPI_REQUEST_NULL;
  MPI_Request send = MPI_REQUEST_NULL;
  MPI_Status status{};        // the receive's: the pair's status
  int rc = MPI_SUCCESS;       // the first error of the two
  bool completed = false;     // the generalized request was completed (MPI_Grequest_complete)
  std::vector<char> packed;   // MPI_Isendrecv_replace: what is sent, packed before the receive lands
};

struct RequestInfo {
  enum Kind : std::uint8_t { FastRecv, Emulated, Persistent, CommIdup, Pair } kind = FastRecv;
  mpi::CommEntry* comm = nullptr;  // FastRecv, Emulated: the receive's communicator (FastRecv: null, count nothing)
  int source = 0;
  int tag = 0;
  PersistentOp* persistent = nullptr;
  PairOp* pair = nullptr;
  MPI_Comm* idup_out = nullptr;
  std::uint64_t idup_id = 0;  // CommIdup: the new communicator's id (0: agree on one when it completes)
};

// A receive a rank is blocked on, for the misplaced-safe-point check.
struct WaitTarget {
  mpi::CommEntry* comm;
  int source;         // a receive's source; with `send`, the destination
  int tag;
  bool send = false;  // a send waiting for its receiver (deadlock detection describes it)
};

class RequestTable {
 public:
  // Nothing tracked: the fast path's MPI_Wait may be PMPI_Wait (one load, inlined).
  bool empty() const noexcept { return map_.empty(); }
  std::size_t size() const noexcept { return map_.size(); }

  // The entry of `r`, or null (MPI_REQUEST_NULL, or a request the library does not track).
  RequestInfo* find(MPI_Request r) noexcept { return r == MPI_REQUEST_NULL || map_.empty() ? nullptr : map_.find(r); }
  const RequestInfo* find(MPI_Request r) const noexcept {
    return r == MPI_REQUEST_NULL || map_.empty() ? nullptr : map_.find(r);
  }
  // The persistent operation `r` is the proxy of, or null.
  PersistentOp* persistent(MPI_Request r) noexcept {
    RequestInfo* info = find(r);
    return info && info->kind == RequestInfo::Persistent ? info->persistent : nullptr;
  }

  // A real receive, counted on `comm` when it completes (null `comm`: counted already, tracked so a
  // safe point sees it pending).
  void add_receive(MPI_Request r, mpi::CommEntry* comm, int source, int tag) {
    add_receive(RequestInfo::FastRecv, r, comm, source, tag);
  }
  // A generalized request the window completes (`comm`: the receive's communicator, or null).
  void add_emulated(MPI_Request r, mpi::CommEntry* comm, int source, int tag) {
    add_receive(RequestInfo::Emulated, r, comm, source, tag);
  }
  void add_idup(MPI_Request r, MPI_Comm* out, std::uint64_t id);
  // Takes ownership of `op`, the operation behind the proxy `r`.
  PersistentOp& add_persistent(MPI_Request r, std::unique_ptr<PersistentOp> op);
  // Takes ownership of `op`, the receive and send behind the generalized request `r`.
  PairOp& add_pair(MPI_Request r, std::unique_ptr<PairOp> op);
  // Forgets `r` (a completed request: its handle is gone); a persistent or pair operation is destroyed.
  void remove(MPI_Request r);
  // Every entry and persistent operation (MPI_Finalize).
  void clear();

  // Whether any of `reqs` is tracked.
  bool any_tracked(int count, const MPI_Request* reqs) const noexcept;
  // Whether every tracked request among `reqs` is a real receive, so that MPI's own wait may complete
  // them and the receives be counted from the statuses afterwards (see note_direct / settle_direct);
  // with `proxies`, persistent operations too when each is inactive or runs as a real request of
  // MPI's (not an emulated receive): MPI then waits on those (real_requests / settle_real).
  bool only_real_receives(int count, const MPI_Request* reqs, bool proxies = false) const noexcept;
  // For MPI's own wait on `reqs` with persistent operations among them: `inner` gets what MPI waits
  // on (an active operation's real request, MPI_REQUEST_NULL for an inactive one, the others as they
  // are). False, `inner` untouched, when there is none.
  bool real_requests(int count, const MPI_Request* reqs, std::vector<MPI_Request>& inner) const;
  // After that wait: each persistent operation whose real request completed is inactive again (a
  // receive handed to `done(info, status, rc)`, as settle_direct does), the other handles go back
  // to `reqs` (those that completed are null now). Before settle_direct, which needs the handles.
  template <class Done>
  void settle_real(int count, MPI_Request* reqs, const MPI_Request* inner, const MPI_Status* statuses, int rc,
                   bool single, Done&& done) {
    for (int i = 0; i < count; ++i) {
      const auto k = static_cast<std::size_t>(i);
      RequestInfo* info = find(reqs[i]);
      if (!info || info->kind != RequestInfo::Persistent) {
        reqs[i] = inner[k];
        continue;
      }
      PersistentOp& op = *info->persistent;
      const MPI_Status& st = statuses[k];
      if (!op.active || (rc == MPI_ERR_IN_STATUS && st.MPI_ERROR == MPI_ERR_PENDING)) continue;
      op.real = inner[k];
      op.active = false;
      if (op.kind != PersistentOp::Recv) continue;
      RequestInfo recv;
      recv.comm = op.comm;
      done(recv, st, single || rc != MPI_ERR_IN_STATUS ? rc : st.MPI_ERROR);
    }
  }
  // Active: not null, and not an inactive persistent request (which Waitany/Testany/Waitsome skip).
  bool is_active(MPI_Request r) const noexcept;
  // Operations not completed: every tracked request but inactive persistent ones. A safe point
  // requires none.
  std::size_t pending() const noexcept;
  // The receives among `reqs` that a rank waiting on them waits for (real receives with a
  // communicator to count on, active persistent receives; with `emulated`, the window's receives
  // too - the watch's view of a wait the runtime makes on their real receives), appended to `out`.
  void receive_targets(int count, const MPI_Request* reqs, std::vector<WaitTarget>& out,
                       bool emulated = false) const;
  // Whether any entry (or persistent operation) refers to `e`: a freed communicator stays until none does.
  bool refers_to(const mpi::CommEntry& e) const;
  std::size_t persistent_ops() const noexcept { return ops_.size(); }

  // MPI's own wait on `reqs`: the handles of completed requests are gone after it, so the tracked
  // ones (but persistent operations: settle_real) are noted first (note_direct); afterwards settle_direct forgets each that completed and
  // hands it to `done(info, status, rc)`. A request whose status says MPI_ERR_PENDING (a multiple
  // completion that failed with MPI_ERR_IN_STATUS) did not complete: it stays. `single`: MPI_Wait's
  // error semantics (the call's code is the request's own).
  // Returns false when none is tracked (nothing to settle).
  bool note_direct(int count, const MPI_Request* reqs);
  template <class Done>
  void settle_direct(int rc, const MPI_Status* statuses, bool single, Done&& done) {
    for (const Noted& n : noted_) {
      const MPI_Status& st = statuses[n.index];
      if (rc == MPI_ERR_IN_STATUS && st.MPI_ERROR == MPI_ERR_PENDING) continue;  // not completed: still ours
      map_.erase(n.handle);
      done(n.info, st, single || rc != MPI_ERR_IN_STATUS ? rc : st.MPI_ERROR);
    }
    noted_.clear();
  }
  // The same after MPI_Waitany/MPI_Waitsome: the requests at `indices[0, outcount)` completed, with
  // `statuses` in that order (an outcount of MPI_UNDEFINED: none); the others stay. `single`:
  // MPI_Waitany's error semantics.
  template <class Done>
  void settle_completed(int rc, int outcount, const int* indices, const MPI_Status* statuses, bool single, Done&& done) {
    for (const Noted& n : noted_) {
      for (int k = 0; k < outcount; ++k) {
        if (indices[k] != n.index) continue;
        const MPI_Status& st = statuses[k];
        map_.erase(n.handle);
        done(n.info, st, single || rc != MPI_ERR_IN_STATUS ? rc : st.MPI_ERROR);
        break;
      }
    }
    noted_.clear();
  }

 private:
  void add_receive(RequestInfo::Kind kind, MPI_Request r, mpi::CommEntry* comm, int source, int tag);
  struct Noted {
    int index;
    MPI_Request handle;
    RequestInfo info;
  };
  mpi::FlatMap<MPI_Request, RequestInfo> map_;
  // Every persistent operation the application holds (RequestInfo::persistent points into it).
  std::unordered_map<const PersistentOp*, std::unique_ptr<PersistentOp>> ops_;
  std::unordered_map<const PairOp*, std::unique_ptr<PairOp>> pairs_;
  std::vector<Noted> noted_;  // note_direct's scratch, kept so that a wait allocates nothing once warm
};

}  // namespace mpisnap::requests
