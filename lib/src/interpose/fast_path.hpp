// The fast path of the busiest calls, inlined into their wrappers (calls.def: MPISNAP_FAST_CALL).
//
// While no snapshot work is pending on this rank an intercepted send or receive is the same call on
// the communicator's current color plus one per-peer counter: a load of the runtime, a flag test, a
// one-entry communicator cache compare, an increment. No allocation, no lock, no extra message;
// the arguments stay in their registers and PMPI is tail-called. (Measured in instructions:
// tests/bench/bench_triple.c, scripts/bench.sh.)
//
// Anything else (a cache miss included: the slow path looks the communicator up and caches it) goes
// to Runtime::<name> through a cold out-of-line trampoline. Runtime::<name> handles every case and
// must agree with what is done here (runtime_p2p.cpp, runtime_requests.cpp).
#pragma once

#include <mpi.h>

#include <cstdint>

#include "interpose/guarded.hpp"
#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap::fast {

template <auto Method, class... Args>
[[gnu::noinline, gnu::cold]] int slow(Args... args) noexcept {
  return guarded([&] { return (Runtime::get()->*Method)(args...); });
}

// The two shapes of send: (buf, count, type, dest, tag, comm) and the same with a request.
#define MPISNAP_FAST_SEND_BODY(name, gate, args)          \
  if (Runtime* rt = Runtime::get()) {                    \
    mpi::CommEntry* e = rt->gate(comm);                   \
    if (!e) [[unlikely]]                                  \
      return slow<&Runtime::name> args;                   \
    e->count_sent(dest);                                  \
    comm = e->current;                                    \
  }                                                       \
  return PMPI_##name args;
#define MPISNAP_FAST_SEND(name, gate)                                                                  \
  inline int name(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {   \
    MPISNAP_FAST_SEND_BODY(name, gate, (buf, count, type, dest, tag, comm))                            \
  }
#define MPISNAP_FAST_ISEND(name, gate)                                                                 \
  inline int name(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,     \
                  MPI_Request* request) {                                                              \
    MPISNAP_FAST_SEND_BODY(name, gate, (buf, count, type, dest, tag, comm, request))                   \
  }
// Sends that return at once or complete locally: only protocol work pending takes the slow path.
MPISNAP_FAST_ISEND(Isend, idle_comm)
MPISNAP_FAST_ISEND(Issend, idle_comm)
MPISNAP_FAST_ISEND(Ibsend, idle_comm)
MPISNAP_FAST_SEND(Bsend, idle_comm)
// Standard and synchronous sends may wait for the receiver (rendezvous): only when blocking inside
// MPI is allowed (Runtime::direct_blocking_comm).
MPISNAP_FAST_SEND(Send, direct_blocking_comm)
MPISNAP_FAST_SEND(Ssend, direct_blocking_comm)
#undef MPISNAP_FAST_ISEND
#undef MPISNAP_FAST_SEND
#undef MPISNAP_FAST_SEND_BODY

// MPI_ANY_SOURCE: the sender, to count, is read from a status.
[[gnu::noinline]] inline int recv_any_source(mpi::CommEntry& e, void* buf, int count, MPI_Datatype type, int tag,
                                             MPI_Status* status) {
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  const int rc = PMPI_Recv(buf, count, type, MPI_ANY_SOURCE, tag, e.current, st);
  if (mpi::message_consumed(rc)) [[likely]]
    e.count_received(st->MPI_SOURCE);
  return rc;
}

// A named source on a communicator whose errors return: counted only once the message was taken.
[[gnu::noinline]] inline int recv_counted_after(mpi::CommEntry& e, void* buf, int count, MPI_Datatype type, int source,
                                                int tag, MPI_Status* status) {
  std::uint64_t* counter = e.received_counter(source);
  const int rc = PMPI_Recv(buf, count, type, source, tag, e.current, status);
  if (counter && mpi::message_consumed(rc)) [[likely]]
    ++*counter;
  return rc;
}

inline int Recv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Status* status) {
  Runtime* rt = Runtime::get();
  mpi::CommEntry* e = rt ? rt->direct_blocking_comm(comm) : nullptr;
  if (!e) [[unlikely]] {
    if (!rt) return PMPI_Recv(buf, count, type, source, tag, comm, status);
    return slow<&Runtime::Recv>(buf, count, type, source, tag, comm, status);
  }
  if (source == MPI_ANY_SOURCE) return recv_any_source(*e, buf, count, type, tag, status);
  if (!e->errors_fatal) [[unlikely]]
    return recv_counted_after(*e, buf, count, type, source, tag, status);
  // A named source (or MPI_PROC_NULL, which counts nothing), and either the message arrives or an
  // error ends the job: counted before the call, which is then a tail call.
  e->count_received(source);
  return PMPI_Recv(buf, count, type, source, tag, e->current, status);
}

inline int Wait(MPI_Request* request, MPI_Status* status) {
  Runtime* rt = Runtime::get();
  if (!rt || rt->direct_wait()) [[likely]]
    return PMPI_Wait(request, status);
  return slow<&Runtime::Wait>(request, status);
}

}  // namespace mpisnap::fast
