// One checked call for the library's own PMPI traffic: a failure becomes an mpisnap::Error that
// names the call and MPI's own error text. The library never calls the MPI_ names it wraps.
#pragma once

#include <mpi.h>

#include <string>

#include <mpisnap/error.hpp>

namespace mpisnap::mpi {

[[noreturn]] void fail(int code, const char* call);

inline void check(int code, const char* call) {
  if (code != MPI_SUCCESS) fail(code, call);
}

int world_rank() noexcept;  // -1 before MPI_Init

// Did a receive that returned `rc` take its message out of MPI? On success, and on truncation
// (the message is consumed, the excess discarded); not on errors found before matching.
bool consumed_despite_error(int rc) noexcept;
inline bool message_consumed(int rc) noexcept { return rc == MPI_SUCCESS || consumed_despite_error(rc); }

// One look at whether `*req` completed, completing it if so (PMPI_Test's contract), at the least
// cost this MPI offers; for a blocking call the library started as the non-blocking one, whose
// caller polls when it is still pending. MPICH's PMPI_Test runs its progress engine even for a
// complete request (about 280 instructions per call in MPICH 4.0), while its
// PMPI_Request_get_status only looks at a complete request and PMPI_Wait of one returns at once: a
// complete request costs those two, a pending one the PMPI_Test as before. In Open MPI PMPI_Test is
// the cheaper (scripts/bench.sh: the callgrind section).
inline int test_once(MPI_Request* req, int* flag, MPI_Status* st) {
#if defined(MPICH_VERSION)
  const int rc = PMPI_Request_get_status(*req, flag, MPI_STATUS_IGNORE);
  if (rc == MPI_SUCCESS && *flag) return PMPI_Wait(req, st);  // frees it (or makes a persistent one inactive) at once
  return PMPI_Test(req, flag, st);  // still pending: the progress PMPI_Test would have made
#else
  return PMPI_Test(req, flag, st);
#endif
}

// test_once of a request the library completes for a blocking call it turned into a non-blocking one
// (Recv as Irecv + polling, a window's receive), with the error going where the blocking call's
// would: to `app`'s error handler. Open MPI raises a completion's error on the request's
// communicator, whose handler the colors copy from `app`; MPICH raises it on MPI_COMM_WORLD's
// (a truncated receive would end the job where `app` returns errors), so there the test runs with
// world's handler returning and `app`'s is called with the error.
// The same for a matched receive (an error of MPI_Mrecv goes to MPI_COMM_WORLD's handler in MPICH).
// `app` is MPI_COMM_NULL where errors are fatal anyway (CommEntry::errors_to): the plain call.
#if defined(MPICH_VERSION)
int test_for(MPI_Comm app, MPI_Request* req, int* flag, MPI_Status* st);
int mrecv_for(MPI_Comm app, void* buf, int count, MPI_Datatype type, MPI_Message* msg, MPI_Status* st);
#else
inline int test_for(MPI_Comm, MPI_Request* req, int* flag, MPI_Status* st) { return test_once(req, flag, st); }
inline int mrecv_for(MPI_Comm, void* buf, int count, MPI_Datatype type, MPI_Message* msg, MPI_Status* st) {
  return PMPI_Mrecv(buf, count, type, msg, st);
}
#endif

// A handle to `t` that stays valid until released: predefined types as they are, others duplicated
// (`*owned` says whether the caller must PMPI_Type_free the result).
MPI_Datatype retain_type(MPI_Datatype t, bool* owned);

}  // namespace mpisnap::mpi
