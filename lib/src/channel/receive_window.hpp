// Receive emulation while a snapshot's channels are open or recorded messages wait for delivery.
// See lib/DESIGN.md, "Window receives", for the rules this implements:
//  * pending receives are matched in posting order (MPI's rule for posted receives);
//  * the replay queue is searched first; a held entry only once its channel is closed;
//  * a specific-source receive from an open channel waits for the drain;
//  * a new-color message from an open channel is held; from a closed one it goes straight into
//    the buffer of the earliest pending receive that matches it;
//  * once every channel is closed, pending receives become real receives, in posting order.
// It reaches MPI only through a MessagePort (channel/message_port.hpp): the protocol simulation
// drives this same code on a fake network.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <list>
#include <vector>

#include "channel/message_port.hpp"
#include "channel/replay_queue.hpp"
#include "common/checkpoint_data.hpp"
#include "mpi/comm_table.hpp"
#include "protocol/snapshot_engine.hpp"

namespace mpisnap::channel {

struct PendingRecv {
  PendingRecv() = default;
  PendingRecv(const PendingRecv&) = delete;
  PendingRecv& operator=(const PendingRecv&) = delete;

  mpi::CommEntry* comm = nullptr;
  int source = MPI_ANY_SOURCE;
  int tag = MPI_ANY_TAG;
  void* buf = nullptr;
  int count = 0;
  MPI_Datatype type = MPI_BYTE;
  MPI_Request greq = MPI_REQUEST_NULL;   // the application's handle, for non-blocking receives
  MPI_Request inner = MPI_REQUEST_NULL;  // the real receive once the window closed
  bool done = false;
  bool cancelled = false;
  bool owns_type = false;                // `type` is a copy the request's owner frees (MessagePort::start_request)
  int error = MPI_SUCCESS;
  MPI_Status status{};
};

class ReceiveWindow {
 public:
  ReceiveWindow(MessagePort& port, mpi::CommTable& comms, protocol::SnapshotEngine& engine, ReplayQueue& queue)
      : port_(port), comms_(comms), engine_(engine), queue_(queue) {}

  // Where drained messages are recorded (the snapshot in progress), or nullptr.
  void set_log(std::vector<RecordedMessage>* log) noexcept { log_ = log; }

  // Testing aid (MPISNAP_EMULATE_RECEIVES): behave as in a window whose channels are all closed,
  // so every receive, probe and matched probe goes through the emulation.
  void set_emulate(bool on) noexcept { force_ = on; }
  // Testing aid (MPISNAP_TEST_CHAOS=seed): drain old-color messages late and one at a time, as a
  // network that reorders across communicators would deliver them, so the window's ordering rules
  // are exercised. Correct code gives the same results with it; a wrong rule shows.
  void set_chaos(std::uint64_t seed) noexcept { chaos_ = seed; }
  bool emulating() const noexcept { return force_ || engine_.draining(); }

  // Drains the old color of every communicator; returns how many messages were drained.
  std::size_t drain();

  // Adds a receive at the end of the posting order and tries to complete it.
  void post(PendingRecv* p);
  // A non-blocking receive: a generalized request the library completes.
  MPI_Request post_nonblocking(mpi::CommEntry& comm, void* buf, int count, MPI_Datatype type, int source, int tag);
  // One pass over the pending receives in posting order.
  void pass();
  bool has_pending() const noexcept { return !pending_.empty(); }
  bool refers_to(const mpi::CommEntry& e) const noexcept {
    for (const PendingRecv* p : pending_)
      if (p->comm == &e) return true;
    return false;
  }
  std::size_t pending() const noexcept { return pending_.size(); }
  // Every pending receive is a real one now (the window closed: none can take a queue entry any
  // more, and nothing is drained or held). The owner of one may then wait for its p.inner inside
  // MPI and hand back what MPI returned (settle), as pass() would have; the others complete inside
  // MPI meanwhile, and pass() settles them later.
  bool all_real() const noexcept {
    for (const PendingRecv* q : pending_)
      if (!q->done && q->inner == MPI_REQUEST_NULL) return false;
    return true;
  }
  void settle(PendingRecv& p, int rc, const MPI_Status& st);
  // The pending non-blocking receive behind the application's request `greq` (null when it is not
  // pending: completed already).
  PendingRecv* pending_for(MPI_Request greq) const noexcept {
    for (PendingRecv* p : pending_)
      if (p->greq == greq) return p;
    return nullptr;
  }

  // A probe with the window's view of what has arrived. Fills `status` when a matching message
  // is available to a receive posted now.
  bool probe(mpi::CommEntry& comm, int source, int tag, MPI_Status* status);

  // A matched probe: takes the message a receive posted now would get, either out of the queue
  // (Queued: `out`, counted as delivered) or out of MPI (Real: `msg`, counted as received).
  enum class Taken { None, Queued, Real };
  Taken take_matched(mpi::CommEntry& comm, int source, int tag, RecordedMessage* out, MPI_Message* msg,
                     MPI_Status* status);

  // Removes a receive that has not matched yet (MPI_Cancel). Returns false if it already matched.
  bool cancel(PendingRecv* p);

  // Is the channel (communicator id, source rank in it) closed for the snapshot in progress?
  bool closed(std::uint64_t comm_id, int source);


 private:
  bool try_queue(PendingRecv& p);
  bool try_network(PendingRecv& p);
  void convert(PendingRecv& p);
  void hold(mpi::CommEntry& comm, MPI_Message msg, const MPI_Status& st);
  // Is a message matching (source, tag) waiting on the current color? Fills `st`; takes nothing.
  bool peek(mpi::CommEntry& comm, int source, int tag, MPI_Status* st);
  // Holds the messages of `source`, oldest first, up to and including the first with `tag` (the one
  // a wildcard-source probe saw). Holding that one alone would let it overtake an older message of
  // the same sender that a later receive with a wider pattern also matches: every held entry of a
  // sender is older than every message of that sender still inside MPI.
  void hold_through(mpi::CommEntry& comm, int source, int tag);
  // Matches the message `peek` reported in `st` (and refills `st`).
  MPI_Message match_seen(mpi::CommEntry& comm, MPI_Status& st);
  PendingRecv* earliest_match(const mpi::CommEntry& comm, int source, int tag);
  void receive_into(PendingRecv& p, MPI_Message msg, const MPI_Status& st);
  void sweep();
  // Fills `status` for a message of the queue (probes, matched probes).
  void describe(MPI_Status* status, const RecordedMessage& m);

  MessagePort& port_;
  mpi::CommTable& comms_;
  protocol::SnapshotEngine& engine_;
  ReplayQueue& queue_;
  std::vector<RecordedMessage>* log_ = nullptr;
  bool force_ = false;
  std::uint64_t chaos_ = 0;
  std::list<PendingRecv*> pending_;
};

// Copies a status the library produced into the application's, leaving MPI_ERROR alone (MPI sets
// it only in the multiple-completion calls).
inline void copy_status(MPI_Status* dst, const MPI_Status& src) {
  if (dst == MPI_STATUS_IGNORE) return;
  const int error = dst->MPI_ERROR;
  *dst = src;
  dst->MPI_ERROR = error;
}

}  // namespace mpisnap::channel
