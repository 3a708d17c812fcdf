#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/xxh64.hpp"

namespace mpisnap {
namespace {

// Reference values from the xxHash project's own tool (xxhsum -H64).
TEST(Xxh64, KnownVectors) {
  auto h = [](const std::string& s) { return Xxh64::hash(s.data(), s.size()); };
  EXPECT_EQ(h(""), 0xef46db3751d8e999ULL);
  EXPECT_EQ(h("abc"), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(h("The quick brown fox jumps over the lazy dog"), 0x0b242d361fda71bcULL);
  EXPECT_EQ(h("0123456789012345678901234567890123456789abcdefghijklmnopqrstuvwxyz"), 0xb580ee781ee1ec1bULL);
}

TEST(Xxh64, StreamingEqualsOneShotForAnySplit) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::vector<unsigned char> data(rng() % 300);
    for (auto& b : data) b = static_cast<unsigned char>(rng());
    const std::uint64_t expected = Xxh64::hash(data.data(), data.size(), round);
    Xxh64 h(static_cast<std::uint64_t>(round));
    std::size_t pos = 0;
    while (pos < data.size()) {
      const std::size_t n = std::min<std::size_t>(data.size() - pos, rng() % 40);
      h.update(data.data() + pos, n);
      pos += n;
    }
    EXPECT_EQ(h.digest(), expected) << "size " << data.size();
  }
}

TEST(Xxh64, OneFlippedBitChangesTheHash) {
  std::vector<unsigned char> data(4096, 7);
  const std::uint64_t before = Xxh64::hash(data.data(), data.size());
  data[1234] ^= 0x10;
  EXPECT_NE(Xxh64::hash(data.data(), data.size()), before);
}

}  // namespace
}  // namespace mpisnap
