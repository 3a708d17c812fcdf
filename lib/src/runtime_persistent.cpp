// Runtime: persistent requests. The application holds a proxy (a real persistent request that is
// never started); each MPI_Start starts a fresh operation on the communicator's current color, or
// an emulated receive in the window, so one persistent request lives across any number of
// snapshots. Their completion is test_persistent (runtime_requests.cpp).
#include "mpi/pmpi.hpp"
#include "common/diagnostics.hpp"
#include "runtime.hpp"

namespace mpisnap {

int Runtime::persistent_init(PersistentOp::Kind kind, const void* sbuf, void* rbuf, int count, MPI_Datatype type,
                             int peer, int tag, MPI_Comm comm, MPI_Request* request) {
  mpi::CommEntry* e = lookup(comm);
  if (!e) {
    return kind == PersistentOp::Recv ? PMPI_Recv_init(rbuf, count, type, peer, tag, comm, request)
                                      : PMPI_Send_init(sbuf, count, type, peer, tag, comm, request);
  }
  // The proxy: a real persistent request the application holds and passes back; never started.
  const int rc = kind == PersistentOp::Recv ? PMPI_Recv_init(rbuf, count, type, peer, tag, e->color[0], request)
                                            : PMPI_Send_init(sbuf, count, type, peer, tag, e->color[0], request);
  if (rc != MPI_SUCCESS) return rc;
  auto op = std::make_unique<PersistentOp>();
  op->kind = kind;
  op->sbuf = sbuf;
  op->rbuf = rbuf;
  op->count = count;
  op->type = mpi::retain_type(type, &op->owns_type);
  op->peer = peer;
  op->tag = tag;
  op->comm = e;
  requests_.add_persistent(*request, std::move(op));
  return MPI_SUCCESS;
}

int Runtime::Send_init(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                       MPI_Request* request) {
  return persistent_init(PersistentOp::Send, buf, nullptr, count, datatype, dest, tag, comm, request);
}
int Runtime::Ssend_init(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                        MPI_Request* request) {
  return persistent_init(PersistentOp::Ssend, buf, nullptr, count, datatype, dest, tag, comm, request);
}
int Runtime::Bsend_init(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                        MPI_Request* request) {
  return persistent_init(PersistentOp::Bsend, buf, nullptr, count, datatype, dest, tag, comm, request);
}
int Runtime::Rsend_init(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                        MPI_Request* request) {
  return persistent_init(PersistentOp::Send, buf, nullptr, count, datatype, dest, tag, comm, request);  // ready mode as standard (see Rsend)
}
int Runtime::Recv_init(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
                       MPI_Request* request) {
  return persistent_init(PersistentOp::Recv, nullptr, buf, count, datatype, source, tag, comm, request);
}

int Runtime::start_persistent(PersistentOp& op) {
  if (op.active)
    throw diag::error("MPI_Start on a persistent request that is still active");
  mpi::CommEntry& e = *op.comm;
  int rc = MPI_SUCCESS;
  switch (op.kind) {
    case PersistentOp::Send:
    case PersistentOp::Ssend:
    case PersistentOp::Bsend:
      rc = e.counted_send(op.peer, [&](MPI_Comm c) {
        return op.kind == PersistentOp::Send    ? PMPI_Isend(op.sbuf, op.count, op.type, op.peer, op.tag, c, &op.real)
               : op.kind == PersistentOp::Ssend ? PMPI_Issend(op.sbuf, op.count, op.type, op.peer, op.tag, c, &op.real)
                                                : PMPI_Ibsend(op.sbuf, op.count, op.type, op.peer, op.tag, c, &op.real);
      });
      break;
    case PersistentOp::Recv:
      if (slow_recv_ && op.peer != MPI_PROC_NULL) {
        auto* p = new channel::PendingRecv;
        p->comm = &e;
        p->source = op.peer;
        p->tag = op.tag;
        p->buf = op.rbuf;
        p->count = op.count;
        p->type = op.type;
        op.emulated = p;
        op.active = true;
        window_->post(p);
        refresh_mode();
        return MPI_SUCCESS;
      }
      rc = PMPI_Irecv(op.rbuf, op.count, op.type, op.peer, op.tag, e.current, &op.real);
      break;
  }
  if (rc == MPI_SUCCESS) op.active = true;
  return rc;
}

int Runtime::Start(MPI_Request* request) {
  if (busy_) progress();
  PersistentOp* op = request ? requests_.persistent(*request) : nullptr;
  return op ? start_persistent(*op) : PMPI_Start(request);
}

int Runtime::Startall(int count, MPI_Request* reqs) {
  if (busy_) progress();
  for (int i = 0; i < count; ++i) {
    PersistentOp* op = requests_.persistent(reqs[i]);
    const int rc = op ? start_persistent(*op) : PMPI_Start(&reqs[i]);
    if (rc != MPI_SUCCESS) return rc;
  }
  return MPI_SUCCESS;
}

}  // namespace mpisnap
