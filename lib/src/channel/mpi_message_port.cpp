#include "channel/mpi_message_port.hpp"

#include <memory>
#include <string>

#include "channel/receive_window.hpp"
#include "common/diagnostics.hpp"
#include "mpi/pmpi.hpp"

namespace mpisnap::channel {

MpiMessagePort* MpiMessagePort::self_ = nullptr;

namespace {

void set_status(MPI_Status* st, int source, int tag, std::size_t bytes, bool cancelled) {
  st->MPI_SOURCE = source;
  st->MPI_TAG = tag;
  PMPI_Status_set_elements_x(st, MPI_BYTE, static_cast<MPI_Count>(bytes));
  PMPI_Status_set_cancelled(st, cancelled ? 1 : 0);
}

}  // namespace

MpiMessagePort::MpiMessagePort() { self_ = this; }
MpiMessagePort::~MpiMessagePort() {
  if (self_ == this) self_ = nullptr;
}

bool MpiMessagePort::iprobe(int source, int tag, MPI_Comm comm, MPI_Status* st) {
  int flag = 0;
  mpi::check(PMPI_Iprobe(source, tag, comm, &flag, st), "PMPI_Iprobe(window)");
  return flag != 0;
}

bool MpiMessagePort::improbe(int source, int tag, MPI_Comm comm, MPI_Message* msg, MPI_Status* st) {
  int flag = 0;
  mpi::check(PMPI_Improbe(source, tag, comm, &flag, msg, st), "PMPI_Improbe(window)");
  return flag != 0;
}

Bytes MpiMessagePort::mrecv_bytes(MPI_Message* msg, const MPI_Status& st) {
  int n = 0;
  mpi::check(PMPI_Get_count(&st, MPI_BYTE, &n), "PMPI_Get_count");
  if (n == MPI_UNDEFINED || n < 0)  // (more bytes than an int holds)
    throw diag::error("a message of more than 2 GiB from rank " + std::to_string(st.MPI_SOURCE) +
                " (tag " + std::to_string(st.MPI_TAG) + ") is in flight across a checkpoint: mpisnap records "
                "messages in flight of at most INT_MAX bytes; send it in parts of less than 2 GiB");
  Bytes bytes(static_cast<std::size_t>(n));
  mpi::check(PMPI_Mrecv(bytes.data(), n, MPI_PACKED, msg, MPI_STATUS_IGNORE), "PMPI_Mrecv(packed)");
  return bytes;
}

int MpiMessagePort::mrecv(void* buf, int count, MPI_Datatype type, MPI_Message* msg, MPI_Status* st,
                          MPI_Comm errors_to) {
  return mpi::mrecv_for(errors_to, buf, count, type, msg, st);
}

void MpiMessagePort::irecv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
                           MPI_Request* req) {
  mpi::check(PMPI_Irecv(buf, count, type, source, tag, comm, req), "PMPI_Irecv(window)");
}

int MpiMessagePort::test(MPI_Request* req, bool* done, MPI_Status* st, MPI_Comm errors_to) {
  int flag = 0;
  const int rc = mpi::test_for(errors_to, req, &flag, st);
  *done = flag != 0;
  return rc;
}

bool MpiMessagePort::cancel(MPI_Request* req, MPI_Status* st) {
  PMPI_Cancel(req);
  PMPI_Wait(req, st);
  int cancelled = 0;
  PMPI_Test_cancelled(st, &cancelled);
  return cancelled != 0;
}

int MpiMessagePort::deliver(const RecordedMessage& m, void* buf, int count, MPI_Datatype type, MPI_Comm comm,
                            MPI_Status* st) {
  return deliver_bytes(m, buf, count, type, comm, st);
}

void MpiMessagePort::describe(MPI_Status* st, int source, int tag, std::size_t bytes, bool cancelled) {
  set_status(st, source, tag, bytes, cancelled);
}

MPI_Request MpiMessagePort::start_request(PendingRecv* p, MPI_Datatype type) {
  // The application may free its datatype while the receive is pending (MPI keeps it alive for
  // real receives): hold a copy until the request is freed.
  p->type = mpi::retain_type(type, &p->owns_type);
  MPI_Request req = MPI_REQUEST_NULL;
  const int rc = PMPI_Grequest_start(query_fn, free_fn, cancel_fn, p, &req);
  if (rc != MPI_SUCCESS) {
    if (p->owns_type) PMPI_Type_free(&p->type);
    p->owns_type = false;
    mpi::fail(rc, "PMPI_Grequest_start");
  }
  return req;
}

void MpiMessagePort::complete_request(PendingRecv& p) {
  mpi::check(PMPI_Grequest_complete(p.greq), "PMPI_Grequest_complete");
}

MPI_Request MpiMessagePort::completed_request(const MPI_Status& status, int error) {
  auto p = std::make_unique<PendingRecv>();
  p->status = status;
  p->error = error;
  p->done = true;
  MPI_Request req = MPI_REQUEST_NULL;
  const int rc = PMPI_Grequest_start(query_fn, free_fn, cancel_fn, p.get(), &req);
  if (rc != MPI_SUCCESS) mpi::fail(rc, "PMPI_Grequest_start");
  p.release();  // the request owns it
  mpi::check(PMPI_Grequest_complete(req), "PMPI_Grequest_complete");
  return req;
}

int MpiMessagePort::query_fn(void* extra, MPI_Status* status) {
  auto* p = static_cast<PendingRecv*>(extra);
  if (status != MPI_STATUS_IGNORE) {
    *status = p->status;
    status->MPI_ERROR = p->error;  // how MPI learns the outcome of a generalized request
    PMPI_Status_set_cancelled(status, p->cancelled ? 1 : 0);
  }
  return p->error;
}

int MpiMessagePort::free_fn(void* extra) {
  auto* p = static_cast<PendingRecv*>(extra);
  if (p->owns_type) PMPI_Type_free(&p->type);
  delete p;
  return MPI_SUCCESS;
}

int MpiMessagePort::cancel_fn(void* extra, int complete) {
  auto* p = static_cast<PendingRecv*>(extra);
  if (!complete && self_ && self_->window_) self_->window_->cancel(p);
  return MPI_SUCCESS;
}

int deliver_bytes(const RecordedMessage& m, void* buf, int count, MPI_Datatype type, MPI_Comm any_comm,
                  MPI_Status* status) {
  int type_size = 0;
  mpi::check(PMPI_Type_size(type, &type_size), "PMPI_Type_size");
  const std::size_t capacity = static_cast<std::size_t>(count) * static_cast<std::size_t>(type_size);
  int err = MPI_SUCCESS;
  std::size_t n = m.bytes.size();
  if (n > capacity) {  // as Open MPI does: what fits is delivered, the status tells the full size
    err = MPI_ERR_TRUNCATE;
    n = capacity;
  }
  if (type_size > 0 && n > 0) {
    const int elements = static_cast<int>(n / static_cast<std::size_t>(type_size));
    int pos = 0;
    if (elements > 0)
      mpi::check(PMPI_Unpack(m.bytes.data(), static_cast<int>(m.bytes.size()), &pos, buf, elements, type, any_comm),
                 "PMPI_Unpack");
  }
  if (status != MPI_STATUS_IGNORE) set_status(status, m.source, m.tag, m.bytes.size(), false);
  return err;
}

}  // namespace mpisnap::channel
