// Made-up MPI handles for tests that use MPI's types without initializing MPI (Open MPI's handles
// are pointers, MPICH's integers). They are only ever compared and used as keys.
#pragma once

#include <cstdint>
#include <type_traits>

namespace mpisnap::testing {

template <class Handle>
Handle fake_handle(std::uintptr_t n) {
  if constexpr (std::is_pointer_v<Handle>) return reinterpret_cast<Handle>(0x10000 + 64 * n);
  else return static_cast<Handle>(1000 + n);
}

}  // namespace mpisnap::testing
