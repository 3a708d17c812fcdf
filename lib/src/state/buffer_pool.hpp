// Buffers for state payloads, kept from one snapshot to the next.
//
// A safe point copies every array of the application's state into a buffer. Fresh memory of tens
// of MiB must be mapped first (a new buffer is, in one call: common/pages.hpp), which can cost
// more than the copy itself. Once a snapshot's file is written, its large buffers come back here
// and the next snapshot copies into them, so the pause is one memcpy into memory that is already
// mapped. The pool holds at most one snapshot's worth of buffers (the last one returned); set
// MPISNAP_REUSE_BUFFERS=0 to give the memory back between checkpoints instead.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include <mpisnap/tree.hpp>

namespace mpisnap::state {

// A buffer of `bytes` bytes mapped in one call (common/pages.hpp), contents unspecified.
Bytes fresh_buffer(std::size_t bytes);

class BufferPool final : public BufferSource {
 public:
  // Payloads smaller than this are not worth keeping.
  static constexpr std::size_t min_bytes = 64 * 1024;

  // A buffer of exactly `bytes` bytes, contents unspecified: a pooled one whose capacity fits
  // (smallest first, at most twice the size) or a new one.
  Bytes take(std::size_t bytes) override;
  // Replaces the pool's contents with the large payload buffers of `tree`.
  void recycle(Node&& tree);
  void clear();
  std::size_t bytes_held() const;

 private:
  void collect(Node& n);

  mutable std::mutex mu_;
  std::vector<Bytes> free_;
};

}  // namespace mpisnap::state
