// Buffers for state payloads, kept from one snapshot to the next.
//
// A safe point copies every array of the application's state into a buffer. Fresh memory of tens
// of MiB must be mapped first (a new buffer is, in one call: common/pages.hpp), which can cost
// more than the copy itself (here 10-20x a memcpy of the same bytes). Once a snapshot's file is
// written, its large buffers come back here and the next snapshot copies into them, so the pause is
// one memcpy into memory that is already mapped. The pool holds at most one snapshot's worth of
// buffers (the last one returned); set MPISNAP_REUSE_BUFFERS=0 to give the memory back between
// checkpoints instead.
//
// The first snapshot of a run has no previous one. So that it too copies into mapped memory, the
// pool is filled ahead: a restart hands it the restored state's buffers (recycle), and a fresh run
// measures its state once (planner(): an archive pass that copies nothing, Session::restore) and
// maps buffers of those sizes on a helper thread (map_planned) while the program computes. A
// snapshot that comes before the helper is done waits for it (take): its buffers are being mapped.
#pragma once

#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include <mpisnap/tree.hpp>

namespace mpisnap::state {

// A buffer of `bytes` bytes mapped in one call (common/pages.hpp), contents unspecified.
Bytes fresh_buffer(std::size_t bytes);

class BufferPool final : public BufferSource {
 public:
  BufferPool();
  ~BufferPool() override;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // Payloads smaller than this are not worth keeping.
  static constexpr std::size_t min_bytes = 64 * 1024;

  // A buffer of exactly `bytes` bytes, contents unspecified: a pooled one whose capacity fits
  // (smallest first, at most twice the size) or a new one.
  Bytes take(std::size_t bytes) override;
  // Replaces the pool's contents with the large payload buffers of `tree`.
  void recycle(Node&& tree);
  void clear();
  std::size_t bytes_held() const;

  // A source that only records the sizes of the blocks archived into it (to_tree(state, &planner())).
  BufferSource& planner() noexcept { return planner_; }
  // Maps, on a helper thread, a buffer for every size the planner recorded that the pool does not
  // already hold, and forgets the recorded sizes.
  void map_planned();
  // Seconds the last map_planned's helper took (0 until one finished).
  double planned_map_seconds() const;

 private:
  class Planner final : public BufferSource {
   public:
    Bytes take(std::size_t bytes) override;
    std::vector<std::size_t> sizes;
  };
  // A pooled buffer serves a request it holds without wasting more than half of it.
  static bool fits(const Bytes& b, std::size_t bytes) noexcept {
    return b.capacity() >= bytes && b.capacity() / 2 <= bytes;
  }
  void collect(Node& n);
  void join_helper();
  void map_ahead(std::vector<std::size_t> sizes);  // (on the helper thread)

  mutable std::mutex mu_;
  std::vector<Bytes> free_;
  Planner planner_;
  std::thread helper_;
  double helper_seconds_ = 0;
};

}  // namespace mpisnap::state
