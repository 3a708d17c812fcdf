// mpisnap::Error: every failure the library reports to C++ callers.
#pragma once

#include <stdexcept>
#include <string>

#include <mpisnap/export.hpp>

namespace mpisnap {

// The message always says what went wrong and, where it applies, the rank, file and safe point.
class MPISNAP_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace mpisnap
