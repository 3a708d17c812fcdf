// What the receive window needs of MPI, as an interface (as protocol::ControlPort is for the
// snapshot engine): the library's MpiMessagePort forwards each operation to PMPI; the protocol
// simulation (tests/unit/protocol_sim_test.cpp) implements it on its fake network, so that the
// window's receive rules are tested as they ship. The vocabulary is MPI's handle and status types,
// which a fake fills with handles of its own: nothing here needs MPI to be initialized.
#pragma once

#include <mpi.h>

#include <cstddef>

#include "common/checkpoint_data.hpp"

namespace mpisnap::channel {

struct PendingRecv;

class MessagePort {
 public:
  virtual ~MessagePort() = default;

  // Is a message matching (source, tag) waiting on `comm`? Fills `st` (source, tag); takes nothing.
  virtual bool iprobe(int source, int tag, MPI_Comm comm, MPI_Status* st) = 0;
  // Matches the oldest message of that pattern (non-overtaking) into `msg`; fills `st`.
  virtual bool improbe(int source, int tag, MPI_Comm comm, MPI_Message* msg, MPI_Status* st) = 0;
  // Receives a matched message as its packed bytes.
  virtual Bytes mrecv_bytes(MPI_Message* msg, const MPI_Status& st) = 0;
  // Receives a matched message into a receive buffer; returns MPI's code, fills `st`.
  // (`errors_to`: the application's communicator, whose error handler a failure goes to)
  virtual int mrecv(void* buf, int count, MPI_Datatype type, MPI_Message* msg, MPI_Status* st, MPI_Comm errors_to) = 0;

  // A real receive (once the window closed), its completion test, and its cancellation: cancel
  // returns true when the receive was cancelled, false when it had matched already (then `st`
  // describes the message it received).
  virtual void irecv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
                     MPI_Request* req) = 0;
  virtual int test(MPI_Request* req, bool* done, MPI_Status* st, MPI_Comm errors_to) = 0;
  virtual bool cancel(MPI_Request* req, MPI_Status* st) = 0;

  // Unpacks a recorded message into a receive buffer and fills `st` as MPI would (MPI_ERROR left
  // alone); returns MPI_ERR_TRUNCATE when it does not fit (what fits is delivered).
  virtual int deliver(const RecordedMessage& m, void* buf, int count, MPI_Datatype type, MPI_Comm comm,
                      MPI_Status* st) = 0;
  // Describes a message in `st` without moving data (probes), or a cancelled receive.
  virtual void describe(MPI_Status* st, int source, int tag, std::size_t bytes, bool cancelled) = 0;

  // The handle of a non-blocking receive the window completes (an MPI generalized request), which
  // owns `p` from now on; a copy of `type` that stays valid while it is pending; and its completion.
  virtual MPI_Request start_request(PendingRecv* p, MPI_Datatype type) = 0;
  virtual void complete_request(PendingRecv& p) = 0;
};

}  // namespace mpisnap::channel
