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

// Maps the whole pages inside [p, p + n) writable without changing their contents (another thread
// may be filling them meanwhile: storage/raw_io maps while the disk reads). One MADV_POPULATE_WRITE,
// then an atomic add of 0 to one byte of each page, which is a write to the page but leaves any byte
// as it is: where the advice did the work (huge pages here) these find every page mapped and cost
// microseconds; where it did not (no huge page to be had, kernels before 5.14, and on this virtual
// machine 4 KiB pages, which MADV_POPULATE_WRITE leaves as slow to write first as untouched ones:
// 215 ms for the first memcpy into 64 MiB after it, 5 ms after the writes) they fault the pages in
// here, not in the copy that follows.
inline void map_pages(void* p, std::size_t n) noexcept {
  constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE, missing from older headers
  static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) & ~(page - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(page - 1);
  if (end <= begin) return;
  ::madvise(reinterpret_cast<void*>(begin), end - begin, kPopulateWrite);
  for (std::uintptr_t a = begin; a < end; a += page)
    __atomic_fetch_add(reinterpret_cast<volatile char*>(a), 0, __ATOMIC_RELAXED);
}

}  // namespace mpisnap
