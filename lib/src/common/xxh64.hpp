// XXH64 (Yann Collet's xxHash, 64-bit variant), written from the published algorithm.
// Used for per-dataset checksums and file digests: fast enough to stay far below disk speed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mpisnap {

class Xxh64 {
 public:
  explicit Xxh64(std::uint64_t seed = 0) noexcept;
  void update(const void* data, std::size_t len) noexcept;
  void update_u64(std::uint64_t v) noexcept { update(&v, sizeof v); }
  std::uint64_t digest() const noexcept;

  static std::uint64_t hash(const void* data, std::size_t len, std::uint64_t seed = 0) noexcept;

 private:
  std::uint64_t v_[4];
  std::uint64_t seed_;
  std::uint64_t total_ = 0;
  unsigned char buf_[32];
  std::size_t buffered_ = 0;
};

}  // namespace mpisnap
