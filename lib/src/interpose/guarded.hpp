// The C boundary of every wrapper: an exception from the library becomes a message on stderr and
// MPI_Abort (Runtime::fatal) instead of unwinding into the application's C or Fortran frames.
#pragma once

#include <exception>

#include "runtime.hpp"

namespace mpisnap {

template <class F>
int guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    Runtime::fatal(e.what());
  } catch (...) {
    Runtime::fatal("mpisnap: unknown exception");
  }
}

}  // namespace mpisnap
