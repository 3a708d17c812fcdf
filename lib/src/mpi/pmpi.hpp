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

// A handle to `t` that stays valid until released: predefined types as they are, others duplicated
// (`*owned` says whether the caller must PMPI_Type_free the result).
MPI_Datatype retain_type(MPI_Datatype t, bool* owned);

}  // namespace mpisnap::mpi
