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
  mpi::CommEntry* parent = known(comm);
  const int rc = PMPI_Comm_idup(comm, newcomm, request);
  if (rc == MPI_SUCCESS) {
    RequestInfo info;
    info.kind = RequestInfo::CommIdup;
    info.idup_out = newcomm;
    if (parent && !parent->inter) {
      // The k-th idup of a communicator is the k-th on every member (collectives on one
      // communicator are ordered), and again in a restarted run: (parent id, k) names the child.
      // Mixed into 62 bits with bit 62 set, away from the agreed ids, which count up from 2.
      std::uint64_t z = protocol::value(parent->id) * 0x9E3779B97F4A7C15ULL + ++parent->idups;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      info.idup_id = (std::uint64_t{1} << 62) | (z & ((std::uint64_t{1} << 62) - 1));
    }
    requests_.put(*request, info);  // registered when the application completes the request
  }
  return rc;
}

void Runtime::idup_completed(MPI_Comm comm, std::uint64_t id) {
  if (comm == MPI_COMM_NULL) return;
  if (id == 0) {  // an intercommunicator or an unknown parent: the blocking way
    register_comm(comm, -1);
    return;
  }
  PendingRegistration p;
  p.entry = describe(comm);
  p.entry->id = protocol::CommId{id};
  mpi::check(PMPI_Comm_idup(comm, &p.entry->color[0], &p.colors[0]), "PMPI_Comm_idup(color 0)");
  mpi::check(PMPI_Comm_idup(comm, &p.entry->color[1], &p.colors[1]), "PMPI_Comm_idup(color 1)");
  pending_regs_.push_back(std::move(p));
}

mpi::CommEntry* Runtime::settle(MPI_Comm comm) {
  if (mpi::CommEntry* e = comms_.find(comm)) return e;
  for (auto it = pending_regs_.begin(); it != pending_regs_.end(); ++it) {
    if (it->entry->app != comm) continue;
    // Every member started these when it completed its idup request, which it must do before
    // using or freeing the communicator: this wait ends.
    mpi::check(PMPI_Waitall(2, it->colors, MPI_STATUSES_IGNORE), "PMPI_Waitall(colors)");
    std::unique_ptr<mpi::CommEntry> e = std::move(it->entry);
    pending_regs_.erase(it);
    mpi::CommEntry* raw = e.get();
    finish_entry(std::move(e), true);
    return raw;
  }
  return nullptr;
}

void Runtime::settle_all() {
  while (!pending_regs_.empty()) settle(pending_regs_.front().entry->app);
}

int Runtime::Comm_free(MPI_Comm* comm) {
  if (comm && *comm != MPI_COMM_NULL) {
    known(*comm);  // an idup'd communicator freed before any use
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
    if (mpi::CommEntry* e = known(comm)) {
      for (MPI_Comm c : e->color) PMPI_Comm_set_errhandler(c, errhandler);
      e->errors_fatal = errhandler == MPI_ERRORS_ARE_FATAL;
    }
  return rc;
}

int Runtime::raise(mpi::CommEntry& e, int rc) {
  if (rc == MPI_SUCCESS) return rc;
  // With MPI_ERRORS_ARE_FATAL this does not return; with MPI_ERRORS_RETURN the call returns rc.
  PMPI_Comm_call_errhandler(e.app != MPI_COMM_NULL ? e.app : MPI_COMM_WORLD, rc);
  return rc;
}

void Runtime::count_collective(MPI_Comm comm) {
  if (mpi::CommEntry* e = known(comm)) ++e->collectives;
}

}  // namespace mpisnap
