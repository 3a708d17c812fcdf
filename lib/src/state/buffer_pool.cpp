#include "state/buffer_pool.hpp"

#include <utility>

#include "common/pages.hpp"

namespace mpisnap::state {

Bytes BufferPool::take(std::size_t bytes) {
  if (bytes >= min_bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t best = free_.size();
    for (std::size_t i = 0; i < free_.size(); ++i) {
      const std::size_t cap = free_[i].capacity();
      if (cap >= bytes && cap / 2 <= bytes && (best == free_.size() || cap < free_[best].capacity())) best = i;
    }
    if (best != free_.size()) {
      Bytes b = std::move(free_[best]);
      free_[best] = std::move(free_.back());
      free_.pop_back();
      b.resize(bytes);  // within capacity: no allocation, and UninitAllocator writes nothing
      return b;
    }
  }
  return fresh_buffer(bytes);
}

Bytes fresh_buffer(std::size_t bytes) {
  Bytes b(bytes);
  map_pages(b.data(), b.size());  // it is filled next: one call instead of a fault per page
  return b;
}

void BufferPool::collect(Node& n) {
  if (n.data.capacity() >= min_bytes) free_.push_back(std::move(n.data));
  for (Node& c : n.children) collect(c);
}

void BufferPool::recycle(Node&& tree) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.clear();
  collect(tree);
}

void BufferPool::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  free_.clear();
  free_.shrink_to_fit();
}

std::size_t BufferPool::bytes_held() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const Bytes& b : free_) n += b.capacity();
  return n;
}

}  // namespace mpisnap::state
