// Fortran point-to-point, collectives and communicators reach the cut through here.
//
// A Fortran program's MPI calls do not all pass through the C MPI_* functions the library
// intercepts (calls.def):
//   * Open MPI 4.1: mpif.h and `use mpi` call mpi_send_ (libmpi_mpifh), `use mpi_f08` calls
//     ompi_send_f or pmpi_iprobe_ (the same functions under other names); every one of them calls
//     PMPI_Send directly.
//   * MPICH 4: mpif.h and `use mpi` call MPI_Send (so they are intercepted already), and so do the
//     mpi_f08 routines with a choice buffer; the other mpi_f08 routines (MPI_Wait_f08, MPI_Iprobe_f08,
//     MPI_Comm_split_f08, MPI_Barrier_f08, MPI_Init_f08, ...) call PMPI_* directly.
// A call that bypassed the library would put a message on a channel the protocol does not watch (it
// would be lost across the cut), complete a request the library tracks behind its back, or leave a
// communicator unregistered. So the library defines those Fortran entry points itself: each converts
// its Fortran arguments to C (handles, statuses, logicals, 1-based indices, MPI_BOTTOM / MPI_IN_PLACE)
// and calls the library's own C wrapper, exactly as a C program's call would go. gfortran's calling
// convention: every argument by reference, no hidden arguments (no character arguments here),
// .TRUE. is 1; an mpi_f08 ierror is optional (a null pointer when absent).
//
// Link order matters: a program linked with the MPI Fortran libraries ahead of libmpisnap would get
// MPI's own entry points (and MPI's MPI_INIT, so the library's MPI_Init never runs): the Session's
// start checks where these names resolve (entry_names(), Runtime's check_interposition) and refuses.
#include <mpi.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "interpose/fortran.hpp"

static_assert(sizeof(MPI_Fint) == sizeof(int), "Fortran default INTEGER is a C int on the supported compilers");

namespace mpisnap::fortran {
namespace {

#if defined(OPEN_MPI)
// Open MPI's Fortran sentinels are the addresses of these common blocks (libmpi), the same in every
// Fortran interface (the mpi_f08 module's copies are unified with them by the dynamic linker).
extern "C" int mpi_fortran_bottom_, mpi_fortran_in_place_, mpi_fortran_status_ignore_,
    mpi_fortran_statuses_ignore_, mpi_fortran_unweighted_, mpi_fortran_weights_empty_;
#elif defined(MPICH_VERSION)
// MPICH's mpi_f08 module's MPI_UNWEIGHTED and MPI_WEIGHTS_EMPTY (libmpichfort; weak: a C program
// has no Fortran library loaded).
extern "C" int mpich_f08_unweighted __asm__("__mpi_f08_link_constants_MOD_mpi_unweighted") __attribute__((weak));
extern "C" int mpich_f08_weights_empty __asm__("__mpi_f08_link_constants_MOD_mpi_weights_empty")
    __attribute__((weak));
#endif

// ---- the two ways a Fortran status and ierror arrive
#if defined(OPEN_MPI)
// mpif.h / `use mpi` (and Open MPI's mpi_f08, which calls the same functions): INTEGER
// status(MPI_STATUS_SIZE), ierror always present.
struct Dialect {
  // Open MPI's Fortran MPI_STATUS_SIZE (6) is its C MPI_Status in MPI_Fints (mpi.h does not say it).
  static constexpr std::size_t kStatusSize = sizeof(MPI_Status) / sizeof(MPI_Fint);
  static_assert(kStatusSize == 6, "Open MPI 4's Fortran status is 6 integers");
  static bool status_ignored(const void* f) {
    return f == &mpi_fortran_status_ignore_ || f == MPI_F_STATUS_IGNORE;
  }
  static bool statuses_ignored(const void* f) {
    return f == &mpi_fortran_statuses_ignore_ || f == MPI_F_STATUSES_IGNORE;
  }
  static void status_out(const MPI_Status* c, void* f, std::size_t i) {
    PMPI_Status_c2f(c, static_cast<MPI_Fint*>(f) + i * kStatusSize);
  }
  static void done(MPI_Fint* ierr, int rc) { *ierr = rc; }
  static void* buffer(void* b) {
    if (b == &mpi_fortran_bottom_) return MPI_BOTTOM;
    if (b == &mpi_fortran_in_place_) return MPI_IN_PLACE;
    return b;
  }
  static const int* weights(const MPI_Fint* w) {
    if (w == &mpi_fortran_unweighted_) return MPI_UNWEIGHTED;
    if (w == &mpi_fortran_weights_empty_) return MPI_WEIGHTS_EMPTY;
    return w;
  }
};
#elif defined(MPICH_VERSION)
// mpi_f08: TYPE(MPI_Status) (MPI_F08_status), ierror optional.
struct Dialect {
  static bool status_ignored(const void* f) { return f == MPI_F08_STATUS_IGNORE; }
  static bool statuses_ignored(const void* f) { return f == MPI_F08_STATUSES_IGNORE; }
  // (MPICH 4.0 has no MPI_Status_c2f08; its MPI_F08_status is MPI_Status, field for field)
  static_assert(sizeof(MPI_F08_status) == sizeof(MPI_Status), "MPICH's two statuses have one layout");
  static void status_out(const MPI_Status* c, void* f, std::size_t i) {
    std::memcpy(static_cast<MPI_F08_status*>(f) + i, c, sizeof(MPI_Status));
  }
  static void done(MPI_Fint* ierr, int rc) {
    if (ierr) *ierr = rc;
  }
  static void* buffer(void* b) { return b; }  // (no choice buffer passes through here on MPICH)
  static const int* weights(const MPI_Fint* w) {
    if (&mpich_f08_unweighted && w == &mpich_f08_unweighted) return MPI_UNWEIGHTED;
    if (&mpich_f08_weights_empty && w == &mpich_f08_weights_empty) return MPI_WEIGHTS_EMPTY;
    return w;
  }
};
#endif

// ---- argument conversions (a holder converts back to Fortran when it goes out of scope)
[[maybe_unused]] MPI_Comm comm(const MPI_Fint* f) { return PMPI_Comm_f2c(*f); }
[[maybe_unused]] MPI_Datatype type(const MPI_Fint* f) { return PMPI_Type_f2c(*f); }
[[maybe_unused]] MPI_Op op(const MPI_Fint* f) { return PMPI_Op_f2c(*f); }
[[maybe_unused]] MPI_Group group(const MPI_Fint* f) { return PMPI_Group_f2c(*f); }
[[maybe_unused]] MPI_Info info(const MPI_Fint* f) { return PMPI_Info_f2c(*f); }
[[maybe_unused]] MPI_Errhandler errhandler(const MPI_Fint* f) { return PMPI_Errhandler_f2c(*f); }
[[maybe_unused]] void* buf(void* b) { return Dialect::buffer(b); }
[[maybe_unused]] const void* buf(const void* b) { return Dialect::buffer(const_cast<void*>(b)); }
[[maybe_unused]] int logical(const MPI_Fint* f) { return *f != 0; }

// Every holder converts back even after an error: the C handle then is what the call left (the
// input, or the null handle an output starts as), as MPI's own Fortran bindings leave it.
struct CommOut {
  MPI_Fint* f;
  MPI_Comm c = MPI_COMM_NULL;
  explicit CommOut(MPI_Fint* fortran) : f(fortran) {}
  ~CommOut() { *f = PMPI_Comm_c2f(c); }
  operator MPI_Comm*() { return &c; }
};
struct CommInOut : CommOut {
  explicit CommInOut(MPI_Fint* fortran) : CommOut(fortran) { c = PMPI_Comm_f2c(*fortran); }
};
struct RequestOut {
  MPI_Fint* f;
  MPI_Request c = MPI_REQUEST_NULL;
  explicit RequestOut(MPI_Fint* fortran) : f(fortran) {}
  ~RequestOut() { *f = PMPI_Request_c2f(c); }
  operator MPI_Request*() { return &c; }
};
struct RequestInOut : RequestOut {
  explicit RequestInOut(MPI_Fint* fortran) : RequestOut(fortran) { c = PMPI_Request_f2c(*fortran); }
};
struct Requests {
  MPI_Fint* f;
  std::vector<MPI_Request> c;
  Requests(int n, MPI_Fint* fortran) : f(fortran), c(n > 0 ? static_cast<std::size_t>(n) : 0) {
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = PMPI_Request_f2c(f[i]);
  }
  ~Requests() {
    for (std::size_t i = 0; i < c.size(); ++i) f[i] = PMPI_Request_c2f(c[i]);
  }
  operator MPI_Request*() { return c.data(); }
};
struct MessageInOut {
  MPI_Fint* f;
  MPI_Message c;
  explicit MessageInOut(MPI_Fint* fortran) : f(fortran), c(PMPI_Message_f2c(*fortran)) {}
  ~MessageInOut() { *f = PMPI_Message_c2f(c); }
  operator MPI_Message*() { return &c; }
};
struct StatusOut {
  void* f;
  MPI_Status c{};
  explicit StatusOut(void* fortran) : f(Dialect::status_ignored(fortran) ? nullptr : fortran) {}
  ~StatusOut() {
    if (f) Dialect::status_out(&c, f, 0);
  }
  operator MPI_Status*() { return f ? &c : MPI_STATUS_IGNORE; }
};
struct Statuses {
  void* f;
  std::vector<MPI_Status> c;
  std::size_t written;  // how many to convert back (Waitsome: *outcount)
  Statuses(int n, void* fortran)
      : f(Dialect::statuses_ignored(fortran) ? nullptr : fortran),
        c(f && n > 0 ? static_cast<std::size_t>(n) : 0),
        written(c.size()) {}
  ~Statuses() {
    for (std::size_t i = 0; i < written && i < c.size(); ++i) Dialect::status_out(&c[i], f, i);
  }
  operator MPI_Status*() { return f ? c.data() : MPI_STATUSES_IGNORE; }
};
struct LogicalOut {
  MPI_Fint* f;
  int c = 0;
  explicit LogicalOut(MPI_Fint* fortran) : f(fortran) {}
  ~LogicalOut() { *f = c ? 1 : 0; }
  operator int*() { return &c; }
};
// Waitany / Testany: Fortran indices start at 1.
struct IndexOut {
  MPI_Fint* f;
  int c = MPI_UNDEFINED;
  explicit IndexOut(MPI_Fint* fortran) : f(fortran) {}
  ~IndexOut() { *f = c == MPI_UNDEFINED ? MPI_UNDEFINED : c + 1; }
  operator int*() { return &c; }
};
// Alltoallw's datatypes: one per member of the communicator (of the remote group of an intercommunicator).
struct Types {
  std::vector<MPI_Datatype> c;
  Types(const MPI_Fint* f, int n) {
    if (!f) return;
    c.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = PMPI_Type_f2c(f[i]);
  }
  operator const MPI_Datatype*() const { return c.empty() ? nullptr : c.data(); }
};
[[maybe_unused]] int peers(MPI_Comm c) {
  int inter = 0, n = 0;
  PMPI_Comm_test_inter(c, &inter);
  if (inter)
    PMPI_Comm_remote_size(c, &n);
  else
    PMPI_Comm_size(c, &n);
  return n;
}
// A neighbourhood collective's in- (sources) or out-degree (destinations).
[[maybe_unused]] int neighbours(MPI_Comm c, bool out) {
  int topo = MPI_UNDEFINED, n = 0;
  PMPI_Topo_test(c, &topo);
  if (topo == MPI_CART) {
    PMPI_Cartdim_get(c, &n);
    return 2 * n;
  }
  if (topo == MPI_GRAPH) {
    int rank = 0;
    PMPI_Comm_rank(c, &rank);
    PMPI_Graph_neighbors_count(c, rank, &n);
    return n;
  }
  if (topo == MPI_DIST_GRAPH) {
    int in = 0, outdeg = 0, weighted = 0;
    PMPI_Dist_graph_neighbors_count(c, &in, &outdeg, &weighted);
    return out ? outdeg : in;
  }
  return 0;
}
[[maybe_unused]] bool in_place(const void* b) { return buf(b) == MPI_IN_PLACE; }

}  // namespace
}  // namespace mpisnap::fortran

// ---- the entry points
//
// MPISNAP_FORTRAN(lower, params, body): a Fortran MPI_<lower> whose C body returns the MPI error code.
// MPISNAP_FORTRAN_BUF: one with a choice buffer (on MPICH its Fortran routines call the intercepted C
// function already, so these are Open MPI's only).
// On Open MPI each is defined under the names gfortran, other compilers and Open MPI's mpi_f08 call:
// mpi_x_, mpi_x__, mpi_x, MPI_X (spelled in lower case here: mpi_X_upper is not needed by gfortran),
// ompi_x_f and pmpi_x_ (Open MPI's mpi_f08 calls the latter for routines with LOGICAL arguments).
// On MPICH: mpi_x_f08_.
using namespace mpisnap::fortran;  // NOLINT: the entry points below are the only users

#pragma GCC visibility push(default)
#if defined(OPEN_MPI)
#define MPISNAP_FORTRAN(lower, params, ...)                                                      \
  extern "C" void mpi_##lower##_ params { Dialect::done(ierr, [&]() -> int __VA_ARGS__()); }      \
  extern "C" void mpi_##lower##__ params __attribute__((alias("mpi_" #lower "_")));              \
  extern "C" void mpi_##lower params __attribute__((alias("mpi_" #lower "_")));                  \
  extern "C" void ompi_##lower##_f params __attribute__((alias("mpi_" #lower "_")));             \
  extern "C" void pmpi_##lower##_ params __attribute__((alias("mpi_" #lower "_")));
#define MPISNAP_FORTRAN_BUF MPISNAP_FORTRAN
#elif defined(MPICH_VERSION)
#define MPISNAP_FORTRAN(lower, params, ...) \
  extern "C" void mpi_##lower##_f08_ params { Dialect::done(ierr, [&]() -> int __VA_ARGS__()); }
#define MPISNAP_FORTRAN_BUF(lower, params, ...)
#else
#define MPISNAP_FORTRAN(lower, params, ...)
#define MPISNAP_FORTRAN_BUF(lower, params, ...)
#endif

using F = MPI_Fint;

// ---- start and end
MPISNAP_FORTRAN(init, (F * ierr), { return MPI_Init(nullptr, nullptr); })
MPISNAP_FORTRAN(init_thread, (F * required, F* provided, F* ierr), {
  return MPI_Init_thread(nullptr, nullptr, *required, provided);
})
MPISNAP_FORTRAN(finalize, (F * ierr), { return MPI_Finalize(); })

// ---- sends
MPISNAP_FORTRAN_BUF(send, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* ierr),
                    { return MPI_Send(buf(b), *n, type(t), *dest, *tag, comm(c)); })
MPISNAP_FORTRAN_BUF(ssend, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* ierr),
                    { return MPI_Ssend(buf(b), *n, type(t), *dest, *tag, comm(c)); })
MPISNAP_FORTRAN_BUF(bsend, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* ierr),
                    { return MPI_Bsend(buf(b), *n, type(t), *dest, *tag, comm(c)); })
MPISNAP_FORTRAN_BUF(rsend, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* ierr),
                    { return MPI_Rsend(buf(b), *n, type(t), *dest, *tag, comm(c)); })
MPISNAP_FORTRAN_BUF(isend, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Isend(buf(b), *n, type(t), *dest, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(issend, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Issend(buf(b), *n, type(t), *dest, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(ibsend, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Ibsend(buf(b), *n, type(t), *dest, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(irsend, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Irsend(buf(b), *n, type(t), *dest, *tag, comm(c), RequestOut(req)); })

// ---- receives and probes
MPISNAP_FORTRAN_BUF(recv, (void* b, F* n, F* t, F* src, F* tag, F* c, void* st, F* ierr),
                    { return MPI_Recv(buf(b), *n, type(t), *src, *tag, comm(c), StatusOut(st)); })
MPISNAP_FORTRAN_BUF(irecv, (void* b, F* n, F* t, F* src, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Irecv(buf(b), *n, type(t), *src, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(sendrecv,
                    (void* sb, F* sn, F* st_, F* dest, F* stag, void* rb, F* rn, F* rt, F* src, F* rtag, F* c,
                     void* st, F* ierr),
                    {
                      return MPI_Sendrecv(buf(sb), *sn, type(st_), *dest, *stag, buf(rb), *rn, type(rt), *src,
                                          *rtag, comm(c), StatusOut(st));
                    })
MPISNAP_FORTRAN_BUF(sendrecv_replace, (void* b, F* n, F* t, F* dest, F* stag, F* src, F* rtag, F* c, void* st, F* ierr),
                    {
                      return MPI_Sendrecv_replace(buf(b), *n, type(t), *dest, *stag, *src, *rtag, comm(c),
                                                  StatusOut(st));
                    })
MPISNAP_FORTRAN(probe, (F * src, F* tag, F* c, void* st, F* ierr),
                { return MPI_Probe(*src, *tag, comm(c), StatusOut(st)); })
MPISNAP_FORTRAN(iprobe, (F * src, F* tag, F* c, F* flag, void* st, F* ierr),
                { return MPI_Iprobe(*src, *tag, comm(c), LogicalOut(flag), StatusOut(st)); })
MPISNAP_FORTRAN(mprobe, (F * src, F* tag, F* c, F* msg, void* st, F* ierr),
                { return MPI_Mprobe(*src, *tag, comm(c), MessageInOut(msg), StatusOut(st)); })
MPISNAP_FORTRAN(improbe, (F * src, F* tag, F* c, F* flag, F* msg, void* st, F* ierr),
                { return MPI_Improbe(*src, *tag, comm(c), LogicalOut(flag), MessageInOut(msg), StatusOut(st)); })
MPISNAP_FORTRAN_BUF(mrecv, (void* b, F* n, F* t, F* msg, void* st, F* ierr),
                    { return MPI_Mrecv(buf(b), *n, type(t), MessageInOut(msg), StatusOut(st)); })
MPISNAP_FORTRAN_BUF(imrecv, (void* b, F* n, F* t, F* msg, F* req, F* ierr),
                    { return MPI_Imrecv(buf(b), *n, type(t), MessageInOut(msg), RequestOut(req)); })

// ---- persistent requests
MPISNAP_FORTRAN_BUF(send_init, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Send_init(buf(b), *n, type(t), *dest, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(ssend_init, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Ssend_init(buf(b), *n, type(t), *dest, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(bsend_init, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Bsend_init(buf(b), *n, type(t), *dest, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(rsend_init, (void* b, F* n, F* t, F* dest, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Rsend_init(buf(b), *n, type(t), *dest, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(recv_init, (void* b, F* n, F* t, F* src, F* tag, F* c, F* req, F* ierr),
                    { return MPI_Recv_init(buf(b), *n, type(t), *src, *tag, comm(c), RequestOut(req)); })
MPISNAP_FORTRAN(start, (F * req, F* ierr), { return MPI_Start(RequestInOut(req)); })
MPISNAP_FORTRAN(startall, (F * n, F* reqs, F* ierr), { return MPI_Startall(*n, Requests(*n, reqs)); })
MPISNAP_FORTRAN(request_free, (F * req, F* ierr), { return MPI_Request_free(RequestInOut(req)); })

// ---- completion and cancellation
MPISNAP_FORTRAN(wait, (F * req, void* st, F* ierr), { return MPI_Wait(RequestInOut(req), StatusOut(st)); })
MPISNAP_FORTRAN(test, (F * req, F* flag, void* st, F* ierr),
                { return MPI_Test(RequestInOut(req), LogicalOut(flag), StatusOut(st)); })
MPISNAP_FORTRAN(waitall, (F * n, F* reqs, void* sts, F* ierr),
                { return MPI_Waitall(*n, Requests(*n, reqs), Statuses(*n, sts)); })
MPISNAP_FORTRAN(testall, (F * n, F* reqs, F* flag, void* sts, F* ierr),
                { return MPI_Testall(*n, Requests(*n, reqs), LogicalOut(flag), Statuses(*n, sts)); })
MPISNAP_FORTRAN(waitany, (F * n, F* reqs, F* index, void* st, F* ierr),
                { return MPI_Waitany(*n, Requests(*n, reqs), IndexOut(index), StatusOut(st)); })
MPISNAP_FORTRAN(testany, (F * n, F* reqs, F* index, F* flag, void* st, F* ierr),
                { return MPI_Testany(*n, Requests(*n, reqs), IndexOut(index), LogicalOut(flag), StatusOut(st)); })
MPISNAP_FORTRAN(waitsome, (F * n, F* reqs, F* outcount, F* indices, void* sts, F* ierr), {
  Requests r(*n, reqs);
  Statuses s(*n, sts);
  const int rc = MPI_Waitsome(*n, r, outcount, indices, s);
  s.written = *outcount == MPI_UNDEFINED ? 0 : static_cast<std::size_t>(*outcount);
  for (int i = 0; *outcount != MPI_UNDEFINED && i < *outcount; ++i) ++indices[i];
  return rc;
})
MPISNAP_FORTRAN(testsome, (F * n, F* reqs, F* outcount, F* indices, void* sts, F* ierr), {
  Requests r(*n, reqs);
  Statuses s(*n, sts);
  const int rc = MPI_Testsome(*n, r, outcount, indices, s);
  s.written = *outcount == MPI_UNDEFINED ? 0 : static_cast<std::size_t>(*outcount);
  for (int i = 0; *outcount != MPI_UNDEFINED && i < *outcount; ++i) ++indices[i];
  return rc;
})
MPISNAP_FORTRAN(request_get_status, (F * req, F* flag, void* st, F* ierr),
                { return MPI_Request_get_status(PMPI_Request_f2c(*req), LogicalOut(flag), StatusOut(st)); })
MPISNAP_FORTRAN(cancel, (F * req, F* ierr), { return MPI_Cancel(RequestInOut(req)); })

// ---- communicators
MPISNAP_FORTRAN(comm_dup, (F * c, F* out, F* ierr), { return MPI_Comm_dup(comm(c), CommOut(out)); })
MPISNAP_FORTRAN(comm_dup_with_info, (F * c, F* inf, F* out, F* ierr),
                { return MPI_Comm_dup_with_info(comm(c), info(inf), CommOut(out)); })
MPISNAP_FORTRAN(comm_idup, (F * c, F* out, F* req, F* ierr),
                { return MPI_Comm_idup(comm(c), CommOut(out), RequestOut(req)); })
MPISNAP_FORTRAN(comm_split, (F * c, F* color, F* key, F* out, F* ierr),
                { return MPI_Comm_split(comm(c), *color, *key, CommOut(out)); })
MPISNAP_FORTRAN(comm_split_type, (F * c, F* split, F* key, F* inf, F* out, F* ierr),
                { return MPI_Comm_split_type(comm(c), *split, *key, info(inf), CommOut(out)); })
MPISNAP_FORTRAN(comm_create, (F * c, F* g, F* out, F* ierr),
                { return MPI_Comm_create(comm(c), group(g), CommOut(out)); })
MPISNAP_FORTRAN(comm_create_group, (F * c, F* g, F* tag, F* out, F* ierr),
                { return MPI_Comm_create_group(comm(c), group(g), *tag, CommOut(out)); })
MPISNAP_FORTRAN(cart_create, (F * c, F* ndims, F* dims, F* periods, F* reorder, F* out, F* ierr), {
  std::vector<int> p(periods, periods + (*ndims > 0 ? *ndims : 0));  // LOGICAL -> 0/1
  for (int& x : p) x = x != 0;
  return MPI_Cart_create(comm(c), *ndims, dims, p.data(), logical(reorder), CommOut(out));
})
MPISNAP_FORTRAN(cart_sub, (F * c, F* remain, F* out, F* ierr), {
  int ndims = 0;
  PMPI_Cartdim_get(comm(c), &ndims);
  std::vector<int> r(remain, remain + (ndims > 0 ? ndims : 0));
  for (int& x : r) x = x != 0;
  return MPI_Cart_sub(comm(c), r.data(), CommOut(out));
})
MPISNAP_FORTRAN(graph_create, (F * c, F* nnodes, F* index, F* edges, F* reorder, F* out, F* ierr),
                { return MPI_Graph_create(comm(c), *nnodes, index, edges, logical(reorder), CommOut(out)); })
MPISNAP_FORTRAN(dist_graph_create,
                (F * c, F* n, F* sources, F* degrees, F* destinations, F* weights, F* inf, F* reorder, F* out,
                 F* ierr),
                {
                  return MPI_Dist_graph_create(comm(c), *n, sources, degrees, destinations,
                                               Dialect::weights(weights), info(inf), logical(reorder), CommOut(out));
                })
MPISNAP_FORTRAN(dist_graph_create_adjacent,
                (F * c, F* indeg, F* sources, F* sweights, F* outdeg, F* destinations, F* dweights, F* inf,
                 F* reorder, F* out, F* ierr),
                {
                  return MPI_Dist_graph_create_adjacent(comm(c), *indeg, sources, Dialect::weights(sweights), *outdeg,
                                                        destinations, Dialect::weights(dweights), info(inf),
                                                        logical(reorder), CommOut(out));
                })
MPISNAP_FORTRAN(intercomm_create, (F * local, F* lleader, F* peer, F* rleader, F* tag, F* out, F* ierr), {
  return MPI_Intercomm_create(comm(local), *lleader, comm(peer), *rleader, *tag, CommOut(out));
})
MPISNAP_FORTRAN(intercomm_merge, (F * c, F* high, F* out, F* ierr),
                { return MPI_Intercomm_merge(comm(c), logical(high), CommOut(out)); })
MPISNAP_FORTRAN(comm_free, (F * c, F* ierr), { return MPI_Comm_free(CommInOut(c)); })
MPISNAP_FORTRAN(comm_set_errhandler, (F * c, F* eh, F* ierr),
                { return MPI_Comm_set_errhandler(comm(c), errhandler(eh)); })

// ---- collectives (counted; the blocking ones keep the protocol moving while they wait)
MPISNAP_FORTRAN(barrier, (F * c, F* ierr), { return MPI_Barrier(comm(c)); })
MPISNAP_FORTRAN(ibarrier, (F * c, F* req, F* ierr), { return MPI_Ibarrier(comm(c), RequestOut(req)); })
MPISNAP_FORTRAN_BUF(bcast, (void* b, F* n, F* t, F* root, F* c, F* ierr),
                    { return MPI_Bcast(buf(b), *n, type(t), *root, comm(c)); })
MPISNAP_FORTRAN_BUF(ibcast, (void* b, F* n, F* t, F* root, F* c, F* req, F* ierr),
                    { return MPI_Ibcast(buf(b), *n, type(t), *root, comm(c), RequestOut(req)); })
#define MPISNAP_ROOTED(lower, Upper)                                                                       \
  MPISNAP_FORTRAN_BUF(lower, (void* sb, F* sn, F* st, void* rb, F* rn, F* rt, F* root, F* c, F* ierr), {   \
    return MPI_##Upper(buf(sb), *sn, type(st), buf(rb), *rn, type(rt), *root, comm(c));                   \
  })                                                                                                       \
  MPISNAP_FORTRAN_BUF(i##lower, (void* sb, F* sn, F* st, void* rb, F* rn, F* rt, F* root, F* c, F* req, F* ierr), { \
    return MPI_I##lower(buf(sb), *sn, type(st), buf(rb), *rn, type(rt), *root, comm(c), RequestOut(req));  \
  })
MPISNAP_ROOTED(gather, Gather)
MPISNAP_ROOTED(scatter, Scatter)
MPISNAP_FORTRAN_BUF(gatherv, (void* sb, F* sn, F* st, void* rb, F* rn, F* displs, F* rt, F* root, F* c, F* ierr),
                    { return MPI_Gatherv(buf(sb), *sn, type(st), buf(rb), rn, displs, type(rt), *root, comm(c)); })
MPISNAP_FORTRAN_BUF(igatherv,
                    (void* sb, F* sn, F* st, void* rb, F* rn, F* displs, F* rt, F* root, F* c, F* req, F* ierr), {
                      return MPI_Igatherv(buf(sb), *sn, type(st), buf(rb), rn, displs, type(rt), *root, comm(c),
                                          RequestOut(req));
                    })
MPISNAP_FORTRAN_BUF(scatterv, (void* sb, F* sn, F* displs, F* st, void* rb, F* rn, F* rt, F* root, F* c, F* ierr),
                    { return MPI_Scatterv(buf(sb), sn, displs, type(st), buf(rb), *rn, type(rt), *root, comm(c)); })
MPISNAP_FORTRAN_BUF(iscatterv,
                    (void* sb, F* sn, F* displs, F* st, void* rb, F* rn, F* rt, F* root, F* c, F* req, F* ierr), {
                      return MPI_Iscatterv(buf(sb), sn, displs, type(st), buf(rb), *rn, type(rt), *root, comm(c),
                                           RequestOut(req));
                    })
// (sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm): allgather, alltoall, neighbour forms
#define MPISNAP_ALL(lower, Upper, Iupper)                                                                   \
  MPISNAP_FORTRAN_BUF(lower, (void* sb, F* sn, F* st, void* rb, F* rn, F* rt, F* c, F* ierr),               \
                      { return MPI_##Upper(buf(sb), *sn, type(st), buf(rb), *rn, type(rt), comm(c)); })    \
  MPISNAP_FORTRAN_BUF(i##lower, (void* sb, F* sn, F* st, void* rb, F* rn, F* rt, F* c, F* req, F* ierr), { \
    return MPI_##Iupper(buf(sb), *sn, type(st), buf(rb), *rn, type(rt), comm(c), RequestOut(req));         \
  })
MPISNAP_ALL(allgather, Allgather, Iallgather)
MPISNAP_ALL(alltoall, Alltoall, Ialltoall)
MPISNAP_ALL(neighbor_allgather, Neighbor_allgather, Ineighbor_allgather)
MPISNAP_ALL(neighbor_alltoall, Neighbor_alltoall, Ineighbor_alltoall)
// (sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, comm)
#define MPISNAP_ALLV(lower, Upper, Iupper)                                                                    \
  MPISNAP_FORTRAN_BUF(lower, (void* sb, F* sn, F* st, void* rb, F* rn, F* displs, F* rt, F* c, F* ierr),      \
                      { return MPI_##Upper(buf(sb), *sn, type(st), buf(rb), rn, displs, type(rt), comm(c)); }) \
  MPISNAP_FORTRAN_BUF(i##lower, (void* sb, F* sn, F* st, void* rb, F* rn, F* displs, F* rt, F* c, F* req, F* ierr), { \
    return MPI_##Iupper(buf(sb), *sn, type(st), buf(rb), rn, displs, type(rt), comm(c), RequestOut(req));    \
  })
MPISNAP_ALLV(allgatherv, Allgatherv, Iallgatherv)
MPISNAP_ALLV(neighbor_allgatherv, Neighbor_allgatherv, Ineighbor_allgatherv)
// (sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls, recvtype, comm)
#define MPISNAP_ALLTOALLV(lower, Upper, Iupper)                                                                   \
  MPISNAP_FORTRAN_BUF(lower, (void* sb, F* sn, F* sd, F* st, void* rb, F* rn, F* rd, F* rt, F* c, F* ierr),       \
                      { return MPI_##Upper(buf(sb), sn, sd, type(st), buf(rb), rn, rd, type(rt), comm(c)); })    \
  MPISNAP_FORTRAN_BUF(i##lower, (void* sb, F* sn, F* sd, F* st, void* rb, F* rn, F* rd, F* rt, F* c, F* req, F* ierr), { \
    return MPI_##Iupper(buf(sb), sn, sd, type(st), buf(rb), rn, rd, type(rt), comm(c), RequestOut(req));         \
  })
MPISNAP_ALLTOALLV(alltoallv, Alltoallv, Ialltoallv)
MPISNAP_ALLTOALLV(neighbor_alltoallv, Neighbor_alltoallv, Ineighbor_alltoallv)
MPISNAP_FORTRAN_BUF(alltoallw, (void* sb, F* sn, F* sd, F* st, void* rb, F* rn, F* rd, F* rt, F* c, F* ierr), {
  const int n = peers(comm(c));
  const Types sts(in_place(sb) ? nullptr : st, n), rts(rt, n);
  return MPI_Alltoallw(buf(sb), sn, sd, sts, buf(rb), rn, rd, rts, comm(c));
})
MPISNAP_FORTRAN_BUF(ialltoallw,
                    (void* sb, F* sn, F* sd, F* st, void* rb, F* rn, F* rd, F* rt, F* c, F* req, F* ierr), {
                      const int n = peers(comm(c));
                      // (the converted types must outlive the operation: MPI copies the arrays it needs)
                      const Types sts(in_place(sb) ? nullptr : st, n), rts(rt, n);
                      return MPI_Ialltoallw(buf(sb), sn, sd, sts, buf(rb), rn, rd, rts, comm(c), RequestOut(req));
                    })
MPISNAP_FORTRAN_BUF(neighbor_alltoallw,
                    (void* sb, F* sn, MPI_Aint* sd, F* st, void* rb, F* rn, MPI_Aint* rd, F* rt, F* c, F* ierr), {
                      const Types sts(st, neighbours(comm(c), true)), rts(rt, neighbours(comm(c), false));
                      return MPI_Neighbor_alltoallw(buf(sb), sn, sd, sts, buf(rb), rn, rd, rts, comm(c));
                    })
MPISNAP_FORTRAN_BUF(ineighbor_alltoallw,
                    (void* sb, F* sn, MPI_Aint* sd, F* st, void* rb, F* rn, MPI_Aint* rd, F* rt, F* c, F* req,
                     F* ierr),
                    {
                      const Types sts(st, neighbours(comm(c), true)), rts(rt, neighbours(comm(c), false));
                      return MPI_Ineighbor_alltoallw(buf(sb), sn, sd, sts, buf(rb), rn, rd, rts, comm(c),
                                                     RequestOut(req));
                    })
MPISNAP_FORTRAN_BUF(reduce, (void* sb, void* rb, F* n, F* t, F* o, F* root, F* c, F* ierr),
                    { return MPI_Reduce(buf(sb), buf(rb), *n, type(t), op(o), *root, comm(c)); })
MPISNAP_FORTRAN_BUF(ireduce, (void* sb, void* rb, F* n, F* t, F* o, F* root, F* c, F* req, F* ierr),
                    { return MPI_Ireduce(buf(sb), buf(rb), *n, type(t), op(o), *root, comm(c), RequestOut(req)); })
// (sendbuf, recvbuf, count, datatype, op, comm)
#define MPISNAP_REDUCE(lower, Upper, Iupper)                                                               \
  MPISNAP_FORTRAN_BUF(lower, (void* sb, void* rb, F* n, F* t, F* o, F* c, F* ierr),                        \
                      { return MPI_##Upper(buf(sb), buf(rb), *n, type(t), op(o), comm(c)); })             \
  MPISNAP_FORTRAN_BUF(i##lower, (void* sb, void* rb, F* n, F* t, F* o, F* c, F* req, F* ierr),             \
                      { return MPI_##Iupper(buf(sb), buf(rb), *n, type(t), op(o), comm(c), RequestOut(req)); })
MPISNAP_REDUCE(allreduce, Allreduce, Iallreduce)
MPISNAP_REDUCE(reduce_scatter_block, Reduce_scatter_block, Ireduce_scatter_block)
MPISNAP_REDUCE(scan, Scan, Iscan)
MPISNAP_REDUCE(exscan, Exscan, Iexscan)
MPISNAP_FORTRAN_BUF(reduce_scatter, (void* sb, void* rb, F* rn, F* t, F* o, F* c, F* ierr),
                    { return MPI_Reduce_scatter(buf(sb), buf(rb), rn, type(t), op(o), comm(c)); })
MPISNAP_FORTRAN_BUF(ireduce_scatter, (void* sb, void* rb, F* rn, F* t, F* o, F* c, F* req, F* ierr),
                    { return MPI_Ireduce_scatter(buf(sb), buf(rb), rn, type(t), op(o), comm(c), RequestOut(req)); })
#pragma GCC visibility pop

namespace mpisnap::fortran {

const char* const* entry_names() noexcept {
  static const char* const names[] = {
#if defined(OPEN_MPI)
      "mpi_init_", "mpi_send_", "mpi_recv_", "mpi_wait_", "mpi_barrier_", "ompi_send_f", "ompi_wait_f",
      "pmpi_iprobe_",
#elif defined(MPICH_VERSION)
      "mpi_init_f08_", "mpi_wait_f08_", "mpi_iprobe_f08_", "mpi_barrier_f08_", "mpi_comm_split_f08_",
#endif
      nullptr};
  return names;
}

}  // namespace mpisnap::fortran
