// Mapping fresh memory before filling it.
//
// A buffer from UninitAllocator (tree.hpp) is not mapped until it is first written. Taking that
// first write one page fault at a time is slow, and on a virtual machine very slow (measured here:
// 1.1 s to fault in 1 GiB of huge pages by writing to it, 0.15 s with one MADV_POPULATE_WRITE).
// Code that is about to fill a large buffer maps it first: the snapshot's copy (state/buffer_pool)
// and a restart's read, where a helper thread maps while the disk works (storage/raw_io).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace mpisnap {

// Maps the whole pages inside [p, p + n) writable without touching their contents. Advice only:
// on kernels before 5.14 (no MADV_POPULATE_WRITE) the pages fault in as they are written.
inline void map_pages(void* p, std::size_t n) noexcept {
  constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE, missing from older headers
  static const std::uintptr_t mask = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE)) - 1;
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(p) + mask) & ~mask;
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~mask;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, kPopulateWrite);
}

}  // namespace mpisnap
