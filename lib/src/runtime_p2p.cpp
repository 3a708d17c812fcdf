// Runtime: the intercepted point-to-point calls.
//
// Every case of every call. The busiest calls first try interpose/fast_path.hpp in their wrapper
// (no snapshot work pending: the same call on the current color and one counter); what is done
// there must stay the same as the corresponding branch here. Everything else is the window
// (channel/receive_window.*) or a blocking loop that keeps the protocol moving (wait_until).
#include <algorithm>
#include <type_traits>
#include <cstring>
#include <vector>

#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap {

// ------------------------------------------------------------------ sends

// An unknown communicator goes to MPI as it is; otherwise protocol work pending is moved on, and the
// send starts on the current color, counted by the one counting rule (CommEntry::counted_send).
template <class Call>
int Runtime::send_started(MPI_Comm comm, int dest, Call&& start) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return start(comm);
  if (busy_) progress();
  return e->counted_send(dest, start);
}

int Runtime::send_blocking(const void* buf, int count, MPI_Datatype type, int dest, int tag, mpi::CommEntry& e,
                           bool sync) {
  MPI_Request req;
  const int rc = e.counted_send(dest, [&](MPI_Comm current) {
    return sync ? PMPI_Issend(buf, count, type, dest, tag, current, &req)
                : PMPI_Isend(buf, count, type, dest, tag, current, &req);
  });
  if (rc != MPI_SUCCESS) return rc;
  const WaitTarget target{&e, dest, tag, true};
  return wait_until(&req, MPI_STATUS_IGNORE, &target, 1, sync ? "MPI_Ssend" : "MPI_Send");
}

// The body of the sends that may wait for their receiver (Send: rendezvous; Ssend: always). While
// the protocol needs this rank to keep moving, the send is started as the non-blocking call and
// waited for in the polling loop (send_blocking); otherwise `call` makes the blocking PMPI call.
template <class Call>
int Runtime::send_waiting(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, bool sync,
                          Call&& call) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return call(comm);
  if (busy_) progress();
  if (blocking_needs_loop()) return send_blocking(buf, count, type, dest, tag, *e, sync);
  const watch::Call c{e, dest, tag, sync ? watch::Call::Ssend : watch::Call::Send};
  return e->counted_send(dest, [&](MPI_Comm current) { return in_mpi(c, [&] { return call(current); }); });
}

int Runtime::Send(const void* buf, int count_, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  return send_waiting(buf, count_, datatype, dest, tag, comm, false,
                      [&](MPI_Comm c) { return PMPI_Send(buf, count_, datatype, dest, tag, c); });
}

int Runtime::Ssend(const void* buf, int count_, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  return send_waiting(buf, count_, datatype, dest, tag, comm, true,
                      [&](MPI_Comm c) { return PMPI_Ssend(buf, count_, datatype, dest, tag, c); });
}

int Runtime::Bsend(const void* buf, int count_, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  // completes locally
  return send_started(comm, dest, [&](MPI_Comm c) { return PMPI_Bsend(buf, count_, datatype, dest, tag, c); });
}

// A ready-mode send may arrive before the receiver posted its receive on the
// color the send uses (the receiver may still be draining, or a snapshot behind). Standard mode is
// correct wherever ready mode is.
int Runtime::Rsend(const void* buf, int count_, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  if (!known(comm)) return PMPI_Rsend(buf, count_, datatype, dest, tag, comm);
  return Send(buf, count_, datatype, dest, tag, comm);
}

int Runtime::Isend(const void* buf, int count_, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                   MPI_Request* request) {
  return send_started(comm, dest, [&](MPI_Comm c) { return PMPI_Isend(buf, count_, datatype, dest, tag, c, request); });
}

int Runtime::Issend(const void* buf, int count_, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                    MPI_Request* request) {
  return send_started(comm, dest, [&](MPI_Comm c) { return PMPI_Issend(buf, count_, datatype, dest, tag, c, request); });
}

int Runtime::Ibsend(const void* buf, int count_, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                    MPI_Request* request) {
  return send_started(comm, dest, [&](MPI_Comm c) { return PMPI_Ibsend(buf, count_, datatype, dest, tag, c, request); });
}

int Runtime::Irsend(const void* buf, int count_, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                    MPI_Request* request) {
  if (!known(comm)) return PMPI_Irsend(buf, count_, datatype, dest, tag, comm, request);
  return Isend(buf, count_, datatype, dest, tag, comm, request);
}

// ------------------------------------------------------------------ receives

int Runtime::recv_window(void* buf, int count_, MPI_Datatype type, int source, int tag, mpi::CommEntry& e,
                         MPI_Status* status) {
  channel::PendingRecv p;
  p.comm = &e;
  p.source = source;
  p.tag = tag;
  p.buf = buf;
  p.count = count_;
  p.type = type;
  window_->post(&p);
  double orphan_seen = -1;
  for (unsigned spins = 0; !p.done;) {
    progress();
    if (!p.done && window_waits_directly(p)) {
      // The window closed on it and nothing else needs this rank to poll: the rest of the wait is
      // MPI's own, published as a direct receive is (counted after it returns, by the window).
      MPI_Status st;
      const int rc = in_mpi({&e, source, tag, watch::Call::Recv}, [&] { return PMPI_Wait(&p.inner, &st); });
      window_->settle(p, rc, st);
      break;
    }
    if (restore_done_ && (++spins & 1023u) == 0) orphan_check(e, orphan_seen);
  }
  refresh_mode();
  channel::copy_status(status, p.status);
  return raise(e, p.error);
}

int Runtime::Recv(void* buf, int count_, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
                  MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Recv(buf, count_, datatype, source, tag, comm, status);
  if (busy_) progress();
  if (source == MPI_PROC_NULL) return PMPI_Recv(buf, count_, datatype, source, tag, e->current, status);
  if (slow_recv_) return recv_window(buf, count_, datatype, source, tag, *e, status);
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  int rc;
  // (With snapshot work of this rank pending the receive is polled, as a send is: the work must
  // keep moving - its done record, the commit - while the rank waits; wait_until hands the wait to
  // MPI once it is done.)
  if (!polls_ && !busy_) {
    const watch::Call c{e, source, tag, watch::Call::Recv};
    rc = in_mpi(c, [&] { return PMPI_Recv(buf, count_, datatype, source, tag, e->current, st); });
  } else {
    MPI_Request req;
    rc = PMPI_Irecv(buf, count_, datatype, source, tag, e->current, &req);
    if (rc != MPI_SUCCESS) return rc;
    return finish_recv(&req, e, source, tag, st);
  }
  e->count_receipt(rc, *st);
  return rc;
}

int Runtime::finish_recv(MPI_Request* req, mpi::CommEntry* e, int source, int tag, MPI_Status* st) {
  const WaitTarget target{e, source, tag};
  const int rc = wait_until(req, st, &target, 1, "MPI_Recv");
  e->count_receipt(rc, *st);
  return rc;
}

int Runtime::Irecv(void* buf, int count_, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
                   MPI_Request* request) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Irecv(buf, count_, datatype, source, tag, comm, request);
  if (busy_) progress();
  if (source == MPI_PROC_NULL) return PMPI_Irecv(buf, count_, datatype, source, tag, e->current, request);
  if (slow_recv_) {
    *request = window_->post_nonblocking(*e, buf, count_, datatype, source, tag);
    requests_.add_emulated(*request, e, source, tag);
    refresh_mode();
    return MPI_SUCCESS;
  }
  const int rc = PMPI_Irecv(buf, count_, datatype, source, tag, e->current, request);
  if (rc == MPI_SUCCESS) requests_.add_receive(*request, e, source, tag);
  return rc;
}

int Runtime::Sendrecv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag,
                      void* recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm,
                      MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e)
    return PMPI_Sendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source, recvtag,
                         comm, status);
  if (busy_) progress();
  if (e->errors_fatal && !slow_recv_ && !blocking_needs_loop()) {
    // MPI's own call: it returns only when both halves succeeded (an error ends the job), so both
    // count (the counting rules' fatal case).
    MPI_Status local;
    MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
    const watch::Call call{e, source, recvtag, watch::Call::Sendrecv, dest, sendtag};
    const int rc = e->counted_send(dest, [&](MPI_Comm c) {
      return in_mpi(call, [&] {
        return PMPI_Sendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source,
                             recvtag, c, st);
      });
    });
    if (source != MPI_PROC_NULL) e->count_receipt(rc, *st);
    return rc;
  }
  // The general form, also wherever errors return (one return code could not tell which half
  // failed): the send goes out first, counted as every send is; the receive is Recv, with the
  // window's rules and Recv's counting; the send is completed with the protocol moving.
  MPI_Request sreq;
  int rc = e->counted_send(dest, [&](MPI_Comm c) {
    return PMPI_Isend(sendbuf, sendcount, sendtype, dest, sendtag, c, &sreq);
  });
  if (rc != MPI_SUCCESS) return rc;
  rc = Recv(recvbuf, recvcount, recvtype, source, recvtag, comm, status);
  const WaitTarget send_target{e, dest, sendtag, true};
  const int src = wait_until(&sreq, MPI_STATUS_IGNORE, &send_target, dest == MPI_PROC_NULL ? 0 : 1, "MPI_Sendrecv");
  return rc != MPI_SUCCESS ? rc : src;
}

int Runtime::Sendrecv_replace(void* buf, int count_, MPI_Datatype datatype, int dest, int sendtag, int source,
                              int recvtag, MPI_Comm comm, MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Sendrecv_replace(buf, count_, datatype, dest, sendtag, source, recvtag, comm, status);
  if (busy_) progress();
  if (e->errors_fatal && !slow_recv_ && !blocking_needs_loop()) {
    MPI_Status local;
    MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
    const watch::Call call{e, source, recvtag, watch::Call::SendrecvReplace, dest, sendtag};
    const int rc = e->counted_send(dest, [&](MPI_Comm c) {
      return in_mpi(call, [&] { return PMPI_Sendrecv_replace(buf, count_, datatype, dest, sendtag, source, recvtag, c, st); });
    });
    if (source != MPI_PROC_NULL) e->count_receipt(rc, *st);
    return rc;
  }
  // Pack what goes out, then receive into the same buffer.
  int size = 0;
  int rc = PMPI_Pack_size(count_, datatype, e->current, &size);
  if (rc != MPI_SUCCESS) return raise(*e, rc);
  Bytes packed(static_cast<std::size_t>(size));
  int pos = 0;
  rc = PMPI_Pack(buf, count_, datatype, packed.data(), size, &pos, e->current);
  if (rc != MPI_SUCCESS) return raise(*e, rc);
  return Sendrecv(packed.data(), pos, MPI_PACKED, dest, sendtag, buf, count_, datatype, source, recvtag, comm, status);
}

// ------------------------------------------------------------------ probes

int Runtime::Probe(int source, int tag, MPI_Comm comm, MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Probe(source, tag, comm, status);
  if (busy_) progress();
  if (source == MPI_PROC_NULL) return PMPI_Probe(source, tag, e->current, status);
  if (!slow_recv_ && !blocking_needs_loop())
    return in_mpi({e, source, tag, watch::Call::Probe},
                  [&] { return PMPI_Probe(source, tag, e->current, status); });
  const WaitTarget target{e, source, tag};
  WaitEpisode ep("MPI_Probe");
  unsigned spins = 0;
  for (;;) {
    if (slow_recv_) {
      if (window_->probe(*e, source, tag, status)) return MPI_SUCCESS;
      progress();
      continue;
    }
    int flag = 0;
    const int rc = PMPI_Iprobe(source, tag, e->current, &flag, status);
    if (rc != MPI_SUCCESS || flag) return rc;
    if (busy_) progress();
    if (snapshots_possible_ && (++spins & 63u) == 0) idle_check(&target, 1, ep);
  }
}

int Runtime::Iprobe(int source, int tag, MPI_Comm comm, int* flag, MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Iprobe(source, tag, comm, flag, status);
  if (busy_ || spin_poll_due()) progress();
  if (slow_recv_ && source != MPI_PROC_NULL) {
    *flag = window_->probe(*e, source, tag, status) ? 1 : 0;
    return MPI_SUCCESS;
  }
  return PMPI_Iprobe(source, tag, e->current, flag, status);
}

namespace {
// A library handle for a held message. Where MPI's handles are pointers (Open MPI), the record's
// address; where they are integers (MPICH), a number below 2^26: MPICH's own handles carry a nonzero
// kind in their top two bits (and MPI_MESSAGE_NULL is 0x2c000000), so they never equal one.
template <class Handle>
Handle library_handle(const void* record, std::uint32_t id) {
  if constexpr (std::is_pointer_v<Handle>) {
    (void)id;
    return reinterpret_cast<Handle>(const_cast<void*>(record));
  } else {
    (void)record;
    return static_cast<Handle>(id);
  }
}
}  // namespace

MPI_Message Runtime::held_handle(const HeldMessage& h) const noexcept { return library_handle<MPI_Message>(&h, h.id); }

std::unique_ptr<Runtime::HeldMessage> Runtime::take_held(MPI_Message m) {
  auto it = std::find_if(held_messages_.begin(), held_messages_.end(),
                         [this, m](const auto& h) { return held_handle(*h) == m; });
  if (it == held_messages_.end()) return nullptr;
  std::unique_ptr<HeldMessage> owned = std::move(*it);
  held_messages_.erase(it);
  return owned;
}

int Runtime::Improbe(int source, int tag, MPI_Comm comm, int* flag, MPI_Message* message, MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Improbe(source, tag, comm, flag, message, status);
  if (busy_ || spin_poll_due()) progress();
  if (source == MPI_PROC_NULL) return PMPI_Improbe(source, tag, e->current, flag, message, status);
  if (!slow_recv_) {
    MPI_Status local;
    MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
    const int rc = PMPI_Improbe(source, tag, e->current, flag, message, st);
    if (rc == MPI_SUCCESS && *flag) e->count_receipt(rc, *st);  // matched: consumed
    return rc;
  }
  auto held = std::make_unique<HeldMessage>();
  held->comm = e;
  switch (window_->take_matched(*e, source, tag, &held->msg, message, status)) {
    case channel::ReceiveWindow::Taken::None:
      *flag = 0;
      break;
    case channel::ReceiveWindow::Taken::Real:
      *flag = 1;
      break;
    case channel::ReceiveWindow::Taken::Queued:
      *flag = 1;
      do next_held_id_ = next_held_id_ % ((1u << 26) - 1) + 1;  // 1 .. 2^26 - 1, cycling, none held twice
      while (std::any_of(held_messages_.begin(), held_messages_.end(),
                         [this](const auto& h) { return h->id == next_held_id_; }));
      held->id = next_held_id_;
      *message = held_handle(*held);
      held_messages_.push_back(std::move(held));
      break;
  }
  refresh_mode();
  return MPI_SUCCESS;
}

int Runtime::Mprobe(int source, int tag, MPI_Comm comm, MPI_Message* message, MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Mprobe(source, tag, comm, message, status);
  if (source == MPI_PROC_NULL) return PMPI_Mprobe(source, tag, e->current, message, status);
  const WaitTarget target{e, source, tag};
  WaitEpisode ep("MPI_Mprobe");
  unsigned spins = 0;
  for (;;) {
    int flag = 0;
    const int rc = Improbe(source, tag, comm, &flag, message, status);
    if (rc != MPI_SUCCESS || flag) return rc;
    progress();
    if (snapshots_possible_ && (++spins & 63u) == 0) idle_check(&target, 1, ep);
  }
}

int Runtime::Mrecv(void* buf, int count_, MPI_Datatype datatype, MPI_Message* message, MPI_Status* status) {
  std::unique_ptr<HeldMessage> h = message ? take_held(*message) : nullptr;
  if (!h) return PMPI_Mrecv(buf, count_, datatype, message, status);
  *message = MPI_MESSAGE_NULL;
  const int rc = channel::deliver_bytes(h->msg, buf, count_, datatype, h->comm->current, status);
  return raise(*h->comm, rc);
}

int Runtime::Imrecv(void* buf, int count_, MPI_Datatype datatype, MPI_Message* message, MPI_Request* request) {
  std::unique_ptr<HeldMessage> h = message ? take_held(*message) : nullptr;
  if (!h) {
    const int rc = PMPI_Imrecv(buf, count_, datatype, message, request);
    if (rc == MPI_SUCCESS && *request != MPI_REQUEST_NULL) {
      // Counted when it was probed (no communicator to count on); tracked so a safe point sees it pending.
      requests_.add_receive(*request, nullptr, 0, 0);
    }
    return rc;
  }
  *message = MPI_MESSAGE_NULL;
  MPI_Status st;
  const int rc = channel::deliver_bytes(h->msg, buf, count_, datatype, h->comm->current, &st);
  *request = channel::MpiMessagePort::completed_request(st, rc);
  requests_.add_emulated(*request, nullptr, 0, 0);
  return MPI_SUCCESS;
}

}  // namespace mpisnap
