// The Fortran entry points (interpose/fortran.cpp).
#pragma once

namespace mpisnap::fortran {

// Some of the Fortran MPI entry points libmpisnap defines for this MPI family (null-terminated), for the
// check that a program's Fortran calls reach them (Runtime's check_interposition).
const char* const* entry_names() noexcept;

}  // namespace mpisnap::fortran
