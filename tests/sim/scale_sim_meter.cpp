// The scale simulation's allocation meter: the program's operator new and delete, each block with a
// 16-byte header naming its size and the simulated rank whose protocol code allocated it, so the
// memory of one rank's protocol state is measured, not estimated. Blocks allocated outside a rank
// (owner -1) are only passed through.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "scale_sim.hpp"

namespace mpisnap::sim::meter {
namespace {

struct Header {
  std::size_t size;
  std::int32_t owner;
  std::int32_t generation;  // of begin(): a block from an earlier count is not counted again
};
static_assert(sizeof(Header) == 16, "the header keeps new's 16-byte alignment");

thread_local int current = -1;
std::uint64_t* live_ = nullptr;
std::uint64_t* peak_ = nullptr;
int ranks_ = 0;
std::int32_t generation_ = 0;

void* allocate(std::size_t n) {
  void* p = std::malloc(n + sizeof(Header));
  if (!p) return nullptr;
  auto* h = static_cast<Header*>(p);
  h->size = n;
  h->owner = current < ranks_ ? current : -1;
  h->generation = generation_;
  if (h->owner >= 0) {
    const std::uint64_t now = live_[h->owner] += n;
    if (now > peak_[h->owner]) peak_[h->owner] = now;
  }
  return h + 1;
}

void release(void* p) noexcept {
  if (!p) return;
  auto* h = static_cast<Header*>(p) - 1;
  if (h->owner >= 0 && h->owner < ranks_ && h->generation == generation_) live_[h->owner] -= h->size;
  std::free(h);
}

}  // namespace

void begin(int ranks) {
  end();
  live_ = static_cast<std::uint64_t*>(std::calloc(static_cast<std::size_t>(ranks), sizeof(std::uint64_t)));
  peak_ = static_cast<std::uint64_t*>(std::calloc(static_cast<std::size_t>(ranks), sizeof(std::uint64_t)));
  if (!live_ || !peak_) throw std::bad_alloc();
  ranks_ = ranks;
  ++generation_;
}

void end() {
  ranks_ = 0;
  current = -1;
  std::free(live_);
  std::free(peak_);
  live_ = peak_ = nullptr;
}

void set_owner(int rank) { current = rank; }
int owner() { return current; }
std::uint64_t live(int rank) { return rank < ranks_ ? live_[rank] : 0; }
std::uint64_t peak(int rank) { return rank < ranks_ ? peak_[rank] : 0; }

}  // namespace mpisnap::sim::meter

// Every block carries the header, counted or not: release() counts only a block of this count.
void* operator new(std::size_t n) {
  if (void* p = mpisnap::sim::meter::allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return mpisnap::sim::meter::allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return mpisnap::sim::meter::allocate(n); }
void operator delete(void* p) noexcept { mpisnap::sim::meter::release(p); }
void operator delete[](void* p) noexcept { mpisnap::sim::meter::release(p); }
void operator delete(void* p, std::size_t) noexcept { mpisnap::sim::meter::release(p); }
void operator delete[](void* p, std::size_t) noexcept { mpisnap::sim::meter::release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { mpisnap::sim::meter::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { mpisnap::sim::meter::release(p); }
