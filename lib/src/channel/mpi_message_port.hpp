// channel::MessagePort over PMPI: what the receive window does to MPI, one call each. Non-blocking
// receives the window completes are MPI generalized requests whose callbacks live here.
#pragma once

#include <mpi.h>

#include "channel/message_port.hpp"

namespace mpisnap::channel {

class ReceiveWindow;

class MpiMessagePort final : public MessagePort {
 public:
  MpiMessagePort();
  ~MpiMessagePort() override;
  // The window whose receives the application may cancel (MPI_Cancel reaches it through cancel_fn).
  void attach(ReceiveWindow* window) noexcept { window_ = window; }

  bool iprobe(int source, int tag, MPI_Comm comm, MPI_Status* st) override;
  bool improbe(int source, int tag, MPI_Comm comm, MPI_Message* msg, MPI_Status* st) override;
  Bytes mrecv_bytes(MPI_Message* msg, const MPI_Status& st) override;
  int mrecv(void* buf, int count, MPI_Datatype type, MPI_Message* msg, MPI_Status* st, MPI_Comm errors_to) override;
  void irecv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request* req) override;
  int test(MPI_Request* req, bool* done, MPI_Status* st, MPI_Comm errors_to) override;
  bool cancel(MPI_Request* req, MPI_Status* st) override;
  int deliver(const RecordedMessage& m, void* buf, int count, MPI_Datatype type, MPI_Comm comm,
              MPI_Status* st) override;
  void describe(MPI_Status* st, int source, int tag, std::size_t bytes, bool cancelled) override;
  MPI_Request start_request(PendingRecv* p, MPI_Datatype type) override;
  void complete_request(PendingRecv& p) override;

  // A generalized request that is already complete with `status` and `error` (MPI_Imrecv of a
  // message the library held).
  static MPI_Request completed_request(const MPI_Status& status, int error);

 private:
  static int query_fn(void* extra, MPI_Status* status);
  static int free_fn(void* extra);
  static int cancel_fn(void* extra, int complete);

  ReceiveWindow* window_ = nullptr;
  static MpiMessagePort* self_;  // for cancel_fn; one port per process
};

// Unpacks a recorded message into a receive buffer and fills the status as MPI would (MPI_ERROR is
// left alone, as single-completion calls do).
int deliver_bytes(const RecordedMessage& m, void* buf, int count, MPI_Datatype type, MPI_Comm any_comm,
                  MPI_Status* status);

}  // namespace mpisnap::channel
