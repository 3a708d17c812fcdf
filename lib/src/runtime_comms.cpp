// Runtime: communicators (registration of everything the application creates, freeing, error
// handlers, intercommunicators) and the counting of collective calls.
#include <algorithm>

#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap {

void Runtime::comm_created(MPI_Comm comm) {
  if (comm == MPI_COMM_NULL) return;
  register_comm(comm, -1);
}

// Every constructor in calls.def: the MPI call, then the new communicator's colors and agreed id
// (collective over its members, who all return from the same constructor).
#define MPISNAP_COMM_CONSTRUCTOR(name, params, args, out) \
  int Runtime::name params {                              \
    const int rc = PMPI_##name args;                      \
    if (rc == MPI_SUCCESS) comm_created(*(out));          \
    return rc;                                            \
  }
#include "interpose/calls.def"

int Runtime::Comm_idup(MPI_Comm comm, MPI_Comm* newcomm, MPI_Request* request) {
  const int rc = PMPI_Comm_idup(comm, newcomm, request);
  if (rc == MPI_SUCCESS) {
    RequestInfo info;
    info.kind = RequestInfo::CommIdup;
    info.idup_out = newcomm;
    info.idup_seq = next_idup_seq_++;
    idups_.push_back({info.idup_seq, false, MPI_COMM_NULL});
    requests_.put(*request, info);  // registered when the application completes the request
  }
  return rc;
}

void Runtime::idup_completed(std::uint64_t seq, MPI_Comm comm) {
  for (PendingIdup& p : idups_)
    if (p.seq == seq) {
      p.done = true;
      p.comm = comm;
    }
  while (!idups_.empty() && idups_.front().done) {
    const MPI_Comm c = idups_.front().comm;
    idups_.pop_front();
    comm_created(c);
  }
}

int Runtime::Comm_free(MPI_Comm* comm) {
  if (comm && *comm != MPI_COMM_NULL) {
    if (comms_.retire(*comm, engine_->seq())) {
      // Its messages may still be in flight: the next snapshot counts and drains them, and frees
      // its colors when it completes. Without snapshots the colors can go now.
      if (config_.every == 0 && !triggers_ && !engine_->active()) {
        free_retired(engine_->seq() + 1);
      } else if (++retired_since_sweep_ >= kRetiredSweep) {
        // A program that creates and frees communicators faster than it checkpoints would run
        // MPI out of context ids: every so often, free those that never carried anything.
        retired_since_sweep_ = 0;
        free_unused_retired();
      }
    }
  }
  return PMPI_Comm_free(comm);
}

bool Runtime::referenced(const mpi::CommEntry& e) {
  bool used = false;
  requests_.for_each([&](RequestInfo& info) {
    used = used || info.comm == &e || (info.kind == RequestInfo::Persistent && info.persistent->comm == &e);
  });
  for (HeldMessage* h : held_messages_) used = used || h->comm == &e;
  return used || window_->refers_to(e);
}

namespace {

// Nothing of it can be in flight or matter to a snapshot: no point-to-point message sent or
// received on this rank, ever, and no collective (whose count every rank must agree on).
bool never_used(const mpi::CommEntry& e) {
  auto zero = [](const std::vector<std::uint64_t>& v) {
    for (std::uint64_t x : v)
      if (x) return false;
    return true;
  };
  return e.collectives == 0 && zero(e.sent) && zero(e.received) && zero(e.held_in) && zero(e.sent_total) &&
         zero(e.delivered_total);
}

}  // namespace

void Runtime::free_unused_retired() {
  if (engine_->active()) return;
  for (auto& r : comms_.take_retired(~std::uint64_t{0})) {
    if (never_used(*r) && !referenced(*r)) {
      free_colors(*r);
    } else {
      comms_.keep_retired(std::move(r));
    }
  }
}

void Runtime::free_retired(std::uint64_t bound) {
  for (auto& r : comms_.take_retired(bound)) {
    if (referenced(*r)) {
      comms_.keep_retired(std::move(r));
    } else {
      free_colors(*r);
    }
  }
}

int Runtime::Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler) {
  const int rc = PMPI_Comm_set_errhandler(comm, errhandler);
  if (rc == MPI_SUCCESS)
    if (mpi::CommEntry* e = comms_.find(comm))
      for (MPI_Comm c : e->color) PMPI_Comm_set_errhandler(c, errhandler);
  return rc;
}

int Runtime::raise(mpi::CommEntry& e, int rc) {
  if (rc == MPI_SUCCESS) return rc;
  // With MPI_ERRORS_ARE_FATAL this does not return; with MPI_ERRORS_RETURN the call returns rc.
  PMPI_Comm_call_errhandler(e.app != MPI_COMM_NULL ? e.app : MPI_COMM_WORLD, rc);
  return rc;
}

void Runtime::count_collective(MPI_Comm comm) noexcept {
  if (mpi::CommEntry* e = comms_.find(comm)) ++e->collectives;
}

}  // namespace mpisnap
