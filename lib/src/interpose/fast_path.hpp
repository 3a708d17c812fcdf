// The fast path of the busiest calls, inlined into their wrappers (calls.def: MPISNAP_FAST_CALL).
//
// While no snapshot work is pending on this rank an intercepted send or receive is the same call on
// the communicator's current color plus one per-peer counter: a load of the runtime, a flag test, a
// one-entry communicator cache compare, a one-entry peer cache compare (a probe of the peers' map
// on a miss), an increment. No allocation, no lock, no extra message;
// the arguments stay in their registers and PMPI is tail-called. (Measured in instructions:
// tests/bench/bench_triple.c, scripts/bench.sh.)
//
// Anything else (a cache miss included: the slow path looks the communicator up and caches it; and a
// peer never seen on the communicator, whose counters the slow path makes) goes
// to Runtime::<name> through a cold out-of-line trampoline. Runtime::<name> handles every case; both
// count through the one set of rules in mpi::CommEntry (counted_send, count_receipt).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <type_traits>

#include "interpose/guarded.hpp"
#include "mpi/pmpi.hpp"
#include "runtime.hpp"

namespace mpisnap::fast {

template <auto Method, class... Args>
[[gnu::noinline, gnu::cold]] int slow(Args... args) noexcept {
  return guarded([&] { return (Runtime::get()->*Method)(args...); });
}

// A send or receive whose peer is not the one last counted on the communicator (the wrapper
// compares only that): the wrapper's call goes on from here, its counters found by a probe of the
// peers' map out of line (inlined, the probe's registers would be saved and restored on every call
// of the wrapper, hit or miss). The same parameters as the wrapper, so that the wrapper jumps here;
// `Gate` finds the entry it found. A peer never seen on the communicator takes the slow path.
template <auto Gate, auto Method, auto Pmpi, class Buf, class... Rest>
[[gnu::noinline]] int other_peer(Buf buf, int count, MPI_Datatype type, int peer, int tag, MPI_Comm comm,
                                 Rest... rest) noexcept {
  mpi::CommEntry* e = (Runtime::get()->*Gate)(comm);  // (what the wrapper found: no call came between)
  if (!e || !e->errors_fatal) [[unlikely]]
    return slow<Method>(buf, count, type, peer, tag, comm, rest...);
  constexpr bool sends = std::is_const_v<std::remove_pointer_t<Buf>>;
  const bool counted = sends ? e->count_sent_if_seen(peer) : e->count_received_if_seen(peer);
  if (!counted) return slow<Method>(buf, count, type, peer, tag, comm, rest...);
  return Pmpi(buf, count, type, peer, tag, e->current, rest...);
}

// The two shapes of send: (buf, count, type, dest, tag, comm) and the same with a request. Inlined
// only where errors are fatal (counted first, PMPI tail-called); a communicator whose errors return
// takes the runtime's call, which counts after MPI accepted the send (CommEntry::counted_send).
#define MPISNAP_FAST_SEND_BODY(name, gate, args)                                   \
  if (Runtime* rt = Runtime::get()) {                                             \
    mpi::CommEntry* e = rt->gate(comm);                                            \
    if (!e || !e->errors_fatal) [[unlikely]]                                       \
      return slow<&Runtime::name> args;                                            \
    if (!e->count_sent_if_cached(dest)) [[unlikely]]                               \
      return other_peer<&Runtime::gate, &Runtime::name, PMPI_##name> args;         \
    comm = e->current;                                                             \
  }                                                                                \
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
#undef MPISNAP_FAST_ISEND
#undef MPISNAP_FAST_SEND
#undef MPISNAP_FAST_SEND_BODY

// A blocking call while checkpoints are possible, where the helper's watch looks on
// (Runtime::watched_comm), blocks inside MPI as without them, published in the runtime's
// BlockedCall for the call's duration (watch/blocked_call.hpp). Where nothing watches (every-N
// checkpoints with triggers off) it must not block inside MPI: it polls, so that the rank joins
// rounds and diagnoses a misplaced safe point while it waits. When no receive goes through the
// window (Runtime::no_window_comm) it is started as the non-blocking call and tested once; one that
// completed has waited for nothing, and only one still pending goes to the slow path, which waits
// for it polling (Runtime::finish_send, finish_recv; the same as Runtime::Send and Runtime::Recv do
// from the start).
template <auto Method, auto Start, auto Blocking, watch::Call::Kind kKind>
[[gnu::noinline]] int started_send(const void* buf, int count, MPI_Datatype type, int dest, int tag,
                                   MPI_Comm comm) noexcept {
  Runtime* rt = Runtime::get();
  if (rt->watched()) {
    mpi::CommEntry* w = rt->watched_comm(comm);  // (errors fatal)
    if (!w || !w->count_sent_if_cached(dest)) return slow<Method>(buf, count, type, dest, tag, comm);
    rt->blocked_call().publish(w, dest, tag, kKind);
    const int rc = Blocking(buf, count, type, dest, tag, w->current);
    rt->blocked_call().leave();
    return rc;
  }
  mpi::CommEntry* e = rt->no_window_comm(comm);
  if (!e) return slow<Method>(buf, count, type, dest, tag, comm);
  MPI_Request req;
  int rc = e->counted_send(dest, [&](MPI_Comm current) { return Start(buf, count, type, dest, tag, current, &req); });
  if (rc != MPI_SUCCESS) return rc;
  int flag = 0;
  rc = mpi::test_once(&req, &flag, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS || flag) return rc;
  return slow<&Runtime::finish_send>(&req, e, dest, tag, Method == &Runtime::Ssend);
}

// Standard and synchronous sends may wait for the receiver (rendezvous): the same call only when
// blocking inside MPI is allowed (Runtime::direct_blocking_comm).
#define MPISNAP_FAST_BLOCKING_SEND(name, iname)                                                        \
  inline int name(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {   \
    Runtime* rt = Runtime::get();                                                                      \
    if (!rt) return PMPI_##name(buf, count, type, dest, tag, comm);                                    \
    mpi::CommEntry* e = rt->direct_blocking_comm(comm);                                                \
    if (!e || !e->errors_fatal) [[unlikely]]                                                           \
      return started_send<&Runtime::name, PMPI_##iname, PMPI_##name, watch::Call::name>(buf, count, type, dest, tag, comm); \
    if (!e->count_sent_if_cached(dest)) [[unlikely]]                                                   \
      return other_peer<&Runtime::direct_blocking_comm, &Runtime::name, PMPI_##name>(                  \
          buf, count, type, dest, tag, comm);                                                          \
    return PMPI_##name(buf, count, type, dest, tag, e->current);                                       \
  }
MPISNAP_FAST_BLOCKING_SEND(Send, Isend)
MPISNAP_FAST_BLOCKING_SEND(Ssend, Issend)
#undef MPISNAP_FAST_BLOCKING_SEND

// MPI_ANY_SOURCE: the sender, to count, is read from a status.
[[gnu::noinline]] inline int recv_any_source(mpi::CommEntry& e, void* buf, int count, MPI_Datatype type, int tag,
                                             MPI_Status* status) {
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  const int rc = PMPI_Recv(buf, count, type, MPI_ANY_SOURCE, tag, e.current, st);
  e.count_receipt(rc, *st);
  return rc;
}

// A named source on a communicator whose errors return: counted only once the message was taken
// (CommEntry::count_receipt's rule, with the counter found before the call).
[[gnu::noinline]] inline int recv_counted_after(mpi::CommEntry& e, void* buf, int count, MPI_Datatype type, int source,
                                                int tag, MPI_Status* status) {
  std::uint64_t* counter = e.received_counter(source);
  const int rc = PMPI_Recv(buf, count, type, source, tag, e.current, status);
  if (counter && mpi::message_consumed(rc)) [[likely]]
    ++*counter;
  return rc;
}

[[gnu::noinline]] inline int started_recv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
                                          MPI_Status* status) noexcept {
  mpi::CommEntry* e = Runtime::get()->no_window_comm(comm);
  if (!e || source == MPI_PROC_NULL) return slow<&Runtime::Recv>(buf, count, type, source, tag, comm, status);
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  MPI_Request req;
  int rc = PMPI_Irecv(buf, count, type, source, tag, e->current, &req);
  if (rc != MPI_SUCCESS) return rc;
  int flag = 0;
  rc = mpi::test_for(e->errors_to(), &req, &flag, st);
  if (rc == MPI_SUCCESS && !flag) return slow<&Runtime::finish_recv>(&req, e, source, tag, st);
  e->count_receipt(rc, *st);
  return rc;
}

// A receive that may not block inside MPI unwatched (Runtime::direct_blocking_comm) and the watch
// does not look on either (the watched gate is closed): started and polled, or the runtime's call.
// (The same parameters as MPI_Recv, so that the call to it is a jump.)
[[gnu::noinline]] inline int blocked_recv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
                                          MPI_Status* status) noexcept {
  if (Runtime::get()->watched()) return slow<&Runtime::Recv>(buf, count, type, source, tag, comm, status);
  return started_recv(buf, count, type, source, tag, comm, status);
}

// A receive where the watch looks on (Runtime::watched_comm: errors fatal; see started_send):
// published, made inside MPI, and counted after it returns: while it waits, the watch reads this
// rank's counts, and a message not yet received must not be in them (a source's whole cut received
// while the receive still waits is what a misplaced safe point is). Where the inlined shape does
// not apply (MPI_ANY_SOURCE, errors that return, a peer not the cached one) Runtime::Recv publishes
// it. Inlined into MPI_Recv, which tests this gate first: it is the default configuration's path.
[[gnu::always_inline]] inline int watched_recv(mpi::CommEntry& e, void* buf, int count, MPI_Datatype type,
                                               int source, int tag, MPI_Comm comm, MPI_Status* status) noexcept {
  if (!e.peers.cached(source)) [[unlikely]]  // (null for a non-rank)
    return slow<&Runtime::Recv>(buf, count, type, source, tag, comm, status);
  watch::BlockedCall& published = Runtime::blocked_call();
  published.publish_recv(&e, source, tag);
  const int rc = PMPI_Recv(buf, count, type, source, tag, e.current, status);
  // Left before it counts: the watch may read the counts until then. (Errors are fatal: it returned,
  // so its message arrived.) The entry is found again where it was published, and its peer is still
  // the cached one (only this thread changes either; the watch reads): nothing is kept across the
  // call.
  if (!published.leave_fast()) [[unlikely]]
    published.wait_for_reader();
  ++static_cast<mpi::CommEntry*>(const_cast<void*>(published.call().object))->peers.last()->received;
  return rc;
}

inline int Recv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Status* status) {
  Runtime* rt = Runtime::get();
  if (!rt) [[unlikely]]
    return PMPI_Recv(buf, count, type, source, tag, comm, status);
  if (mpi::CommEntry* w = rt->watched_comm(comm)) return watched_recv(*w, buf, count, type, source, tag, comm, status);
  mpi::CommEntry* e = rt->direct_blocking_comm(comm);
  if (!e) [[unlikely]]
    return blocked_recv(buf, count, type, source, tag, comm, status);
  if (source == MPI_ANY_SOURCE) return recv_any_source(*e, buf, count, type, tag, status);
  if (!e->errors_fatal) [[unlikely]]
    return recv_counted_after(*e, buf, count, type, source, tag, status);
  // A named source (or MPI_PROC_NULL, which counts nothing), and either the message arrives or an
  // error ends the job: counted before the call, which is then a tail call. (A source never seen on
  // the communicator: the runtime's call makes its counters.)
  if (!e->count_received_if_cached(source)) [[unlikely]]
    return other_peer<&Runtime::direct_blocking_comm, &Runtime::Recv, PMPI_Recv>(buf, count, type, source, tag, comm,
                                                                                   status);
  return PMPI_Recv(buf, count, type, source, tag, e->current, status);
}

// A wait that may not block inside MPI tests first when no request needs accounting: a request
// found complete has waited for nothing (see started_send).
[[gnu::noinline]] inline int tested_wait(MPI_Request* request, MPI_Status* status) noexcept {
  if (Runtime::get()->test_before_wait()) {
    int flag = 0;
    const int rc = mpi::test_once(request, &flag, status);
    if (rc != MPI_SUCCESS || flag) return rc;
  }
  return slow<&Runtime::Wait>(request, status);
}

inline int Wait(MPI_Request* request, MPI_Status* status) {
  Runtime* rt = Runtime::get();
  if (!rt || rt->direct_wait()) [[likely]]
    return PMPI_Wait(request, status);
  return tested_wait(request, status);
}

}  // namespace mpisnap::fast
