// Runtime: the intercepted point-to-point calls.
//
// Fast path (no snapshot in progress on this rank, nothing held for delivery): look up the
// communicator, bump one counter, call PMPI_* on the current color. Everything else is the window
// (channel/receive_window.*) or a blocking loop that keeps the protocol moving (wait_until).
#include <vector>

#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap {

void Runtime::account_completion(const RequestInfo& info, const MPI_Status& st) noexcept {
  if (info.kind != RequestInfo::FastRecv || !info.comm) return;
  int cancelled = 0;
  PMPI_Test_cancelled(&st, &cancelled);
  if (!cancelled && info.comm->valid_peer(st.MPI_SOURCE)) ++info.comm->received[static_cast<std::size_t>(st.MPI_SOURCE)];
}

int Runtime::send_blocking(const void* buf, int count, MPI_Datatype type, int dest, int tag, mpi::CommEntry& e) {
  MPI_Request req;
  const int rc = PMPI_Isend(buf, count, type, dest, tag, e.current, &req);
  if (rc != MPI_SUCCESS) return rc;
  return wait_until(&req, MPI_STATUS_IGNORE, nullptr, 0);
}

int Runtime::Send(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Send(buf, count, datatype, dest, tag, comm);
  if (busy_) progress();
  if (e->valid_peer(dest)) ++e->sent[static_cast<std::size_t>(dest)];
  if (engine_->draining()) return send_blocking(buf, count, datatype, dest, tag, *e);
  return PMPI_Send(buf, count, datatype, dest, tag, e->current);
}

int Runtime::Isend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                   MPI_Request* request) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Isend(buf, count, datatype, dest, tag, comm, request);
  if (busy_) progress();
  if (e->valid_peer(dest)) ++e->sent[static_cast<std::size_t>(dest)];
  return PMPI_Isend(buf, count, datatype, dest, tag, e->current, request);
}

// DESIGN.md case 8: a ready-mode send may arrive before the receiver posted its receive on the
// color the send uses (the receiver may still be draining, or a snapshot behind). Standard mode is
// always correct where ready mode is.
int Runtime::Rsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  return Send(buf, count, datatype, dest, tag, comm);
}

int Runtime::Irsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                    MPI_Request* request) {
  return Isend(buf, count, datatype, dest, tag, comm, request);
}

int Runtime::recv_window(void* buf, int count, MPI_Datatype type, int source, int tag, mpi::CommEntry& e,
                         MPI_Status* status) {
  channel::PendingRecv p;
  p.comm = &e;
  p.source = source;
  p.tag = tag;
  p.buf = buf;
  p.count = count;
  p.type = type;
  window_->post(&p);
  while (!p.done) progress();
  refresh_mode();
  if (status != MPI_STATUS_IGNORE) *status = p.status;
  return p.error;
}

int Runtime::Recv(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
                  MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Recv(buf, count, datatype, source, tag, comm, status);
  if (busy_) progress();
  if (source == MPI_PROC_NULL) return PMPI_Recv(buf, count, datatype, source, tag, e->current, status);
  if (slow_recv_) return recv_window(buf, count, datatype, source, tag, *e, status);
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  int rc;
  if (!poll_blocking_) {
    rc = PMPI_Recv(buf, count, datatype, source, tag, e->current, st);
  } else {
    MPI_Request req;
    rc = PMPI_Irecv(buf, count, datatype, source, tag, e->current, &req);
    if (rc != MPI_SUCCESS) return rc;
    const WaitTarget target{e, source, tag};
    rc = wait_until(&req, st, &target, 1);
  }
  if (e->valid_peer(st->MPI_SOURCE)) ++e->received[static_cast<std::size_t>(st->MPI_SOURCE)];
  return rc;
}

int Runtime::Irecv(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
                   MPI_Request* request) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Irecv(buf, count, datatype, source, tag, comm, request);
  if (busy_) progress();
  if (source == MPI_PROC_NULL) return PMPI_Irecv(buf, count, datatype, source, tag, e->current, request);
  if (slow_recv_) {
    *request = window_->post_nonblocking(*e, buf, count, datatype, source, tag);
    requests_.put(*request, RequestInfo{RequestInfo::Emulated, e, source, tag});
    refresh_mode();
    return MPI_SUCCESS;
  }
  const int rc = PMPI_Irecv(buf, count, datatype, source, tag, e->current, request);
  if (rc == MPI_SUCCESS) requests_.put(*request, RequestInfo{RequestInfo::FastRecv, e, source, tag});
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
  if (!slow_recv_ && !engine_->draining() && !poll_blocking_) {
    MPI_Status local;
    MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
    if (e->valid_peer(dest)) ++e->sent[static_cast<std::size_t>(dest)];
    const int rc = PMPI_Sendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source,
                                 recvtag, e->current, st);
    if (source != MPI_PROC_NULL && e->valid_peer(st->MPI_SOURCE)) ++e->received[static_cast<std::size_t>(st->MPI_SOURCE)];
    return rc;
  }
  // The general form: the send goes out first, the receive follows the window's rules, and the
  // send is completed with the protocol moving.
  if (e->valid_peer(dest)) ++e->sent[static_cast<std::size_t>(dest)];
  MPI_Request sreq;
  int rc = PMPI_Isend(sendbuf, sendcount, sendtype, dest, sendtag, e->current, &sreq);
  if (rc != MPI_SUCCESS) return rc;
  rc = Recv(recvbuf, recvcount, recvtype, source, recvtag, comm, status);
  const int src = wait_until(&sreq, MPI_STATUS_IGNORE, nullptr, 0);
  return rc != MPI_SUCCESS ? rc : src;
}

int Runtime::Wait(MPI_Request* request, MPI_Status* status) {
  if (!request || *request == MPI_REQUEST_NULL) return PMPI_Wait(request, status);
  if (busy_) progress();
  RequestInfo* found = requests_.empty() ? nullptr : requests_.find(*request);
  if (!found && !busy_ && !slow_recv_) return PMPI_Wait(request, status);
  const RequestInfo info = found ? *found : RequestInfo{};
  const MPI_Request handle = *request;
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  const WaitTarget target{info.comm, info.source, info.tag};
  const bool fast_recv = found && info.kind == RequestInfo::FastRecv;
  const int rc = wait_until(request, st, fast_recv ? &target : nullptr, fast_recv ? 1 : 0);
  if (found) {
    account_completion(info, *st);
    requests_.erase(handle);
  }
  return rc;
}

int Runtime::Waitall(int count, MPI_Request* reqs, MPI_Status* statuses) {
  if (busy_) progress();
  bool tracked = false;
  if (!requests_.empty())
    for (int i = 0; i < count && !tracked; ++i) tracked = reqs[i] != MPI_REQUEST_NULL && requests_.find(reqs[i]);
  if (!tracked && !busy_ && !slow_recv_) return PMPI_Waitall(count, reqs, statuses);

  // Completed requests become MPI_REQUEST_NULL: remember what each one was first.
  std::vector<MPI_Request> handles(reqs, reqs + count);
  std::vector<RequestInfo> infos(static_cast<std::size_t>(count));
  std::vector<char> known(static_cast<std::size_t>(count), 0);
  std::vector<WaitTarget> targets;
  for (int i = 0; i < count; ++i) {
    if (reqs[i] == MPI_REQUEST_NULL) continue;
    if (RequestInfo* f = requests_.find(reqs[i])) {
      infos[static_cast<std::size_t>(i)] = *f;
      known[static_cast<std::size_t>(i)] = 1;
      if (f->kind == RequestInfo::FastRecv) targets.push_back({f->comm, f->source, f->tag});
    }
  }
  std::vector<MPI_Status> local;
  MPI_Status* sts = statuses;
  if (statuses == MPI_STATUSES_IGNORE) {
    local.resize(static_cast<std::size_t>(count));
    sts = local.data();
  }
  double first_seen = -1;
  unsigned spins = 0;
  int rc = MPI_SUCCESS;
  for (;;) {
    if (busy_ || slow_recv_) progress();
    int flag = 0;
    rc = PMPI_Testall(count, reqs, &flag, sts);
    if (flag || (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS)) break;
    if (poll_blocking_ && (++spins & 63u) == 0)
      idle_check(targets.data(), static_cast<int>(targets.size()), first_seen);
  }
  for (int i = 0; i < count; ++i) {
    if (!known[static_cast<std::size_t>(i)]) continue;
    account_completion(infos[static_cast<std::size_t>(i)], sts[i]);
    requests_.erase(handles[static_cast<std::size_t>(i)]);
  }
  return rc;
}

int Runtime::Test(MPI_Request* request, int* flag, MPI_Status* status) {
  if (busy_ || slow_recv_) progress();
  if (!request || *request == MPI_REQUEST_NULL || requests_.empty()) return PMPI_Test(request, flag, status);
  RequestInfo* found = requests_.find(*request);
  if (!found) return PMPI_Test(request, flag, status);
  const RequestInfo info = *found;
  const MPI_Request handle = *request;
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  const int rc = PMPI_Test(request, flag, st);
  if (*flag) {
    account_completion(info, *st);
    requests_.erase(handle);
  }
  return rc;
}

int Runtime::Probe(int source, int tag, MPI_Comm comm, MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Probe(source, tag, comm, status);
  if (busy_) progress();
  if (source == MPI_PROC_NULL || (!slow_recv_ && !poll_blocking_))
    return PMPI_Probe(source, tag, e->current, status);
  const WaitTarget target{e, source, tag};
  double first_seen = -1;
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
    if (poll_blocking_ && (++spins & 63u) == 0) idle_check(&target, 1, first_seen);
  }
}

int Runtime::Iprobe(int source, int tag, MPI_Comm comm, int* flag, MPI_Status* status) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) return PMPI_Iprobe(source, tag, comm, flag, status);
  if (busy_) progress();
  if (slow_recv_) {
    *flag = window_->probe(*e, source, tag, status) ? 1 : 0;
    return MPI_SUCCESS;
  }
  return PMPI_Iprobe(source, tag, e->current, flag, status);
}

}  // namespace mpisnap
