#include "state/buffer_pool.hpp"

#include <chrono>
#include <new>
#include <system_error>
#include <utility>

#include "common/pages.hpp"

namespace mpisnap::state {

BufferPool::BufferPool() = default;

BufferPool::~BufferPool() { join_helper(); }

void BufferPool::join_helper() {
  if (helper_.joinable()) helper_.join();
}

Bytes BufferPool::Planner::take(std::size_t bytes) {
  if (bytes >= min_bytes) sizes.push_back(bytes);
  return {};
}

void BufferPool::map_planned() {
  join_helper();
  std::vector<std::size_t> sizes = std::move(planner_.sizes);
  planner_.sizes.clear();
  if (sizes.empty()) return;
  try {
    helper_ = std::thread([this, sizes = std::move(sizes)]() mutable { map_ahead(std::move(sizes)); });
  } catch (const std::system_error&) {
    // No thread to spare: the first snapshot maps its buffers itself, as without this.
  }
}

void BufferPool::map_ahead(std::vector<std::size_t> sizes) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Bytes> mapped;
  try {
    std::vector<std::size_t> missing;
    {
      std::lock_guard<std::mutex> lock(mu_);  // sizes the pool already covers need nothing new
      std::vector<char> used(free_.size(), 0);
      for (std::size_t b : sizes) {
        std::size_t i = 0;
        while (i < free_.size() && (used[i] || !fits(free_[i], b))) ++i;
        if (i < free_.size())
          used[i] = 1;
        else
          missing.push_back(b);
      }
    }
    for (std::size_t b : missing) mapped.push_back(fresh_buffer(b));
  } catch (const std::bad_alloc&) {
    // (short of memory: the snapshot asks for what is missing, and reports it if it fails there)
  }
  std::lock_guard<std::mutex> lock(mu_);
  try {
    free_.reserve(free_.size() + mapped.size());
  } catch (const std::bad_alloc&) {
    return;  // (what was mapped is given back)
  }
  for (Bytes& b : mapped) free_.push_back(std::move(b));
  helper_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double BufferPool::planned_map_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return helper_seconds_;
}

Bytes BufferPool::take(std::size_t bytes) {
  join_helper();  // (a snapshot before the helper is done: its buffers are being mapped there)
  if (bytes >= min_bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t best = free_.size();
    for (std::size_t i = 0; i < free_.size(); ++i) {
      const std::size_t cap = free_[i].capacity();
      if (fits(free_[i], bytes) && (best == free_.size() || cap < free_[best].capacity())) best = i;
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
  join_helper();
  std::lock_guard<std::mutex> lock(mu_);
  free_.clear();
  collect(tree);
}

void BufferPool::clear() {
  join_helper();
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
