// Large datasets to and from the disk past HDF5 (storage/raw_io.*): the bytes and the checksum are
// those of the file at every size around the piece boundaries, O_DIRECT is used exactly where it
// can be, a short file or a failed write is an error naming the context, and a rank file's large
// arrays take that path both ways and still catch every flipped byte.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/archive.hpp>

#include "common/xxh64.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"
#include "storage/hdf5.hpp"
#include "storage/raw_io.hpp"
#include "temp_dir.hpp"

namespace mpisnap::storage {
namespace {

class RawIoTest : public ::testing::Test {
 protected:

  // A file of `n` random bytes; returns them.
  std::vector<std::byte> make_file(const std::string& path, std::size_t n, unsigned seed) {
    std::vector<std::byte> bytes(n);
    std::mt19937_64 rng(seed);
    for (auto& b : bytes) b = std::byte(rng() & 0xFF);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, bytes.data(), n), static_cast<ssize_t>(n));
    ::close(fd);
    return bytes;
  }

  bool direct_supported() {
    const int fd = ::open((root_ + "/probe").c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0644);
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }

  testing::TempDir tmp_{"rawio"};
  std::string root_ = tmp_.path();
};

// At least `n` page-aligned bytes (an O_DIRECT target); aligned_alloc wants a multiple of the
// alignment.
struct FreeBytes {
  void operator()(std::byte* p) const { std::free(p); }
};
std::unique_ptr<std::byte[], FreeBytes> aligned_bytes(std::size_t n) {
  const std::size_t rounded = (n + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
  return std::unique_ptr<std::byte[], FreeBytes>(
      static_cast<std::byte*>(std::aligned_alloc(kDirectAlign, rounded)));
}

// Small pieces, so that many of them (and every boundary case) are cheap to test.
constexpr std::size_t kPiece = 16 * kDirectAlign;

TEST_F(RawIoTest, BytesAndHashMatchAroundPieceBoundaries) {
  const std::size_t sizes[] = {0, 1, kPiece - 1, kPiece, kPiece + 1, 3 * kPiece + 17, 40 * kPiece + 4095};
  const std::string path = root_ + "/f";
  const std::size_t offset = 4093;  // not aligned to anything
  const auto file = make_file(path, 2 * kDirectAlign + 41 * kPiece, 1);
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  for (std::size_t at : {offset, 2 * kDirectAlign}) {  // buffered only; O_DIRECT where the disk allows it
    for (std::size_t n : sizes) {
      // Page-aligned (an O_DIRECT target) with a guard byte after the run.
      const auto buffer = aligned_bytes(n + 1);
      std::byte* out = buffer.get();
      std::memset(out, 0x5A, n + 1);
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      const RawTransfer r = read_hashed({fd, path}, at, out, n, "test", kPiece);
      EXPECT_EQ(r.hash, Xxh64::hash(file.data() + at, n)) << at << " " << n;
      EXPECT_EQ(std::memcmp(out, file.data() + at, n), 0) << at << " " << n;
      EXPECT_EQ(out[n], std::byte{0x5A}) << "wrote past the end at " << at << " " << n;
      if (at == offset) EXPECT_EQ(r.direct_bytes, 0u) << "O_DIRECT at an unaligned offset";
    }
  }
  ::close(fd);
}

// O_DIRECT is used for the aligned part of a run that is not in the page cache, and not for one
// that is (reading it from the cache is faster).
TEST_F(RawIoTest, DirectReadsOnlyWhenAlignedAndNotCached) {
  const std::string path = root_ + "/d";
  if (!direct_supported()) GTEST_SKIP() << root_ << " does not support O_DIRECT";
  const std::size_t n = 5 * kPiece + 100;
  const auto file = make_file(path, kDirectAlign + n, 3);
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fdatasync(fd), 0);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  const auto buffer = aligned_bytes(n);
  std::byte* out = buffer.get();
  RawTransfer r = read_hashed({fd, path}, kDirectAlign, out, n, "test", kPiece);
  EXPECT_EQ(r.direct_bytes, n / kDirectAlign * kDirectAlign);
  EXPECT_EQ(r.hash, Xxh64::hash(file.data() + kDirectAlign, n));
  EXPECT_EQ(std::memcmp(out, file.data() + kDirectAlign, n), 0);
  std::vector<std::byte> warm(kDirectAlign + n);
  ASSERT_EQ(::pread(fd, warm.data(), warm.size(), 0), static_cast<ssize_t>(warm.size()));  // now cached
  std::memset(out, 0, n);
  r = read_hashed({fd, path}, kDirectAlign, out, n, "test", kPiece);
  EXPECT_EQ(r.direct_bytes, 0u);
  EXPECT_EQ(std::memcmp(out, file.data() + kDirectAlign, n), 0);
  ::close(fd);
}

TEST_F(RawIoTest, WritesBytesAndHashDirectWhereAligned) {
  const bool direct = direct_supported();
  const std::size_t n = 3 * kDirectAlign + 17;
  const auto buffer = aligned_bytes(n + 8);  // one case starts 8 bytes in
  std::byte* data = buffer.get();
  for (std::size_t i = 0; i < n; ++i) data[i] = std::byte((i * 7 + 3) & 0xFF);
  struct Case {
    std::uint64_t offset;
    const std::byte* from;
    bool allow;
    std::uint64_t direct_expected;
  };
  const Case cases[] = {
      {2 * kDirectAlign, data, true, direct ? 3 * kDirectAlign : 0},  // aligned: all but the last 17 bytes
      {2 * kDirectAlign + 512, data, true, 0},                        // unaligned file offset
      {2 * kDirectAlign, data + 8, true, 0},                          // unaligned buffer
      {2 * kDirectAlign, data, false, 0},                             // O_DIRECT switched off
  };
  for (const Case& c : cases) {
    const std::string path = root_ + "/w";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const RawTransfer r = write_hashed({fd, path, c.allow}, c.offset, c.from, n, "test");
    EXPECT_EQ(r.hash, Xxh64::hash(c.from, n));
    EXPECT_EQ(r.direct_bytes, c.direct_expected) << c.offset << " " << c.allow;
    std::vector<std::byte> back(n);
    ASSERT_EQ(::pread(fd, back.data(), n, static_cast<off_t>(c.offset)), static_cast<ssize_t>(n));
    EXPECT_EQ(std::memcmp(back.data(), c.from, n), 0) << c.offset << " " << c.allow;
    ::close(fd);
  }
}

TEST_F(RawIoTest, FailedWriteIsAnErrorNamingTheContext) {
  const std::string path = root_ + "/ro";
  make_file(path, 16, 4);
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<std::byte> data(100);
  try {
    write_hashed({fd, path, false}, 0, data.data(), data.size(), "rank-000001.h5.tmp:/state/u");
    FAIL() << "writing through a read-only descriptor must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write rank-000001.h5.tmp:/state/u"), std::string::npos) << e.what();
  }
  ::close(fd);
}

TEST_F(RawIoTest, ShortFileIsAnErrorNamingTheContext) {
  const std::string path = root_ + "/short";
  make_file(path, 2 * kPiece + 100, 2);
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  for (std::size_t n : {std::size_t{200}, 3 * kPiece}) {  // one piece and pipelined
    std::vector<std::byte> out(n);
    try {
      read_hashed({fd, path}, 2 * kPiece, out.data(), n, "file.h5:/state/grid", kPiece);
      FAIL() << "a short file must be an error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("file.h5:/state/grid"), std::string::npos) << msg;
      EXPECT_NE(msg.find("the file ends"), std::string::npos) << msg;
    }
  }
  ::close(fd);
  std::vector<std::byte> out(16);
  EXPECT_THROW(read_hashed({-1, path}, 0, out.data(), out.size(), "closed"), Error);
}

struct Big {
  std::vector<double> grid;
  std::vector<std::int32_t> small;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(grid), CEREAL_NVP(small));
  }
};

RankCheckpoint big_checkpoint(std::size_t doubles) {
  Big b;
  b.grid.resize(doubles);
  for (std::size_t i = 0; i < doubles; ++i) b.grid[i] = static_cast<double>(i) * 0.5 - 3;
  b.small = {1, 2, 3};
  RankCheckpoint cp;
  cp.checkpoint_id = 1;
  cp.rank = 0;
  cp.nranks = 1;
  cp.state = to_tree(b);
  return cp;
}

// Where /state/grid's bytes start in `file`.
haddr_t grid_offset(const std::string& file) {
  h5::Handle f = h5::open_file_readonly(file);
  h5::Handle d = h5::dataset(H5Dopen2(f.get(), "/state/grid", H5P_DEFAULT));
  return H5Dget_offset(d.get());
}

TEST_F(RawIoTest, LargeArraysOfRankFilesTakeTheRawPathAndRoundTrip) {
  const std::size_t doubles = (2 * kRawReadPiece + 4096 + 24) / sizeof(double);  // three pieces
  for (bool direct : {true, false}) {
    const std::string dir = checkpoint_path(root_, direct ? 1 : 2);
    write_rank_file(dir, big_checkpoint(doubles), direct);
    const std::string file = dir + "/" + rank_file_name(0);
    {
      h5::Handle f = h5::open_file_readonly(file);
      h5::Handle d = h5::dataset(H5Dopen2(f.get(), "/state/grid", H5P_DEFAULT));
      ASSERT_TRUE(d);
      const auto raw = h5::raw_extent(d.get(), H5T_NATIVE_DOUBLE, doubles * sizeof(double));
      ASSERT_TRUE(raw);
      EXPECT_EQ(raw->offset % kDirectAlign, 0u) << "large datasets are aligned for O_DIRECT";
      EXPECT_FALSE(h5::raw_extent(d.get(), H5T_NATIVE_INT64, doubles * sizeof(double))) << "a type conversion";
      EXPECT_FALSE(h5::raw_extent(d.get(), H5T_NATIVE_DOUBLE, doubles)) << "a size that does not match";
    }
    const LoadedRankFile back = read_rank_file(dir, 0, direct);
    Big b;
    from_tree(back.cp.state, b);
    ASSERT_EQ(b.grid.size(), doubles);
    for (std::size_t i = 0; i < doubles; ++i)
      ASSERT_EQ(b.grid[i], static_cast<double>(i) * 0.5 - 3) << i;
    EXPECT_EQ(b.small, (std::vector<std::int32_t>{1, 2, 3}));
  }
}

TEST_F(RawIoTest, FlippedByteInAnyPieceOfALargeArrayIsNamed) {
  const std::size_t doubles = (3 * kRawReadPiece) / sizeof(double) + 5;
  const std::size_t bytes = doubles * sizeof(double);
  for (std::size_t at : {std::size_t{0}, kRawReadPiece + 3, bytes - 1}) {
    const std::string dir = checkpoint_path(root_, 1);
    fs::remove_tree(dir);
    write_rank_file(dir, big_checkpoint(doubles));
    const std::string file = dir + "/" + rank_file_name(0);
    const haddr_t offset = grid_offset(file);
    const int fd = ::open(file.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    unsigned char c;
    ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset + at)), 1);
    c ^= 0x10;
    ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset + at)), 1);
    ::close(fd);
    try {
      read_rank_file(dir, 0);
      FAIL() << "flipped byte at " << at << " not detected";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << msg;
      EXPECT_NE(msg.find(file + ":/state/grid"), std::string::npos) << msg;
    }
  }
}

TEST_F(RawIoTest, TruncatedLargeArrayIsAnError) {
  const std::size_t doubles = (2 * kRawReadPiece) / sizeof(double) + 7;
  const std::string dir = checkpoint_path(root_, 1);
  write_rank_file(dir, big_checkpoint(doubles));
  const std::string file = dir + "/" + rank_file_name(0);
  const haddr_t offset = grid_offset(file);
  ASSERT_EQ(::truncate(file.c_str(), static_cast<off_t>(offset + kRawReadPiece + 11)), 0);
  EXPECT_THROW(read_rank_file(dir, 0), Error);
}

// A rank file under h5::kInMemoryBelow is read whole at its open (one read), one above it through
// the POSIX driver and raw_io; both round-trip, and a flipped byte in the small one is still named.
TEST_F(RawIoTest, SmallRankFilesAreReadWholeAndStillVerified) {
  auto driver_of = [](const std::string& file) {
    h5::Handle f = h5::open_file_readonly(file);
    h5::Handle fapl = h5::plist(H5Fget_access_plist(f.get()));
    return H5Pget_driver(fapl.get());
  };
  const std::size_t small = (1u << 20) / sizeof(double), large = (h5::kInMemoryBelow + 4096) / sizeof(double);
  for (std::size_t doubles : {small, large}) {
    const std::string dir = checkpoint_path(root_, doubles == small ? 1 : 2);
    write_rank_file(dir, big_checkpoint(doubles));
    const std::string file = dir + "/" + rank_file_name(0);
    EXPECT_EQ(driver_of(file), doubles == small ? H5FD_CORE : H5FD_SEC2) << doubles;
    Big b;
    from_tree(read_rank_file(dir, 0).cp.state, b);
    ASSERT_EQ(b.grid.size(), doubles);
    EXPECT_EQ(b.grid[doubles - 1], static_cast<double>(doubles - 1) * 0.5 - 3);
  }
  const std::string file = checkpoint_path(root_, 1) + "/" + rank_file_name(0);
  const haddr_t offset = grid_offset(file);
  const int fd = ::open(file.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  unsigned char c;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset + 1000)), 1);
  c ^= 0x01;
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset + 1000)), 1);
  ::close(fd);
  try {
    read_rank_file(checkpoint_path(root_, 1), 0);
    FAIL() << "a flipped byte in a small rank file was not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mpisnap::storage
