// A large dataset's bytes moved between memory and the file past HDF5, checksummed on the way.
//
// A contiguous dataset stored in the machine's own byte order is one run of bytes at a known file
// offset (H5Dget_offset; rank files allocate large datasets when they are created and align them
// to 4 KiB, see h5::create_file). Its bytes can then go to and from the disk with O_DIRECT: by DMA,
// with no copy through the page cache, leaving the CPU to compute the checksum at the same time.
//
//  - write_hashed(): the caller's bytes go out (O_DIRECT for the 4 KiB-aligned part when the
//    buffer is aligned too and the file system allows it; buffered otherwise) while a helper thread
//    hashes them (a small buffered write hashes after the write, on the caller's thread).
//  - read_hashed(): pieces come in one after the other while a helper thread maps the (fresh)
//    buffer and then hashes each piece that has arrived, so neither the checksum nor the first
//    touch of fresh memory adds to the time of the read. O_DIRECT as above, unless most of the run
//    is in the page cache already (then copying it from there is faster).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mpisnap::storage {

// Bytes per read; also the unit the helper thread hashes. A multiple of kDirectAlign.
inline constexpr std::size_t kRawReadPiece = std::size_t{8} << 20;
// File offsets, lengths and buffer addresses of O_DIRECT transfers are multiples of this.
inline constexpr std::size_t kDirectAlign = 4096;
// Smaller arrays are written buffered (tree_io decides): an O_DIRECT write waits for the device,
// and the rank file's fsync waits for it once more, which at 1-2 MiB cost more than the copy
// through the page cache saves (1 MiB: 7-9 ms a rank file vs 4-5 ms buffered, this VM's disk).
inline constexpr std::size_t kDirectWriteMin = std::size_t{4} << 20;
// A buffered write of fewer bytes hashes them itself, after the write: the copy into the page
// cache keeps the CPU busy anyway, and a helper thread costs about as much as it would overlap.
inline constexpr std::size_t kHashAsideMin = std::size_t{4} << 20;

// How write_hashed moves `bytes` of an array when direct I/O is allowed (`direct_io`): O_DIRECT
// (from kDirectWriteMin), and whether a helper thread hashes them meanwhile. A write that does
// neither is a buffered write hashed after it, which a caller may as well fold into its own.
inline bool writes_direct(std::size_t bytes, bool direct_io) noexcept { return direct_io && bytes >= kDirectWriteMin; }
inline bool writes_on_its_own(std::size_t bytes, bool direct_io) noexcept {
  return writes_direct(bytes, direct_io) || bytes >= kHashAsideMin;
}

struct RawFile {
  int fd;              // open for buffered reading (and writing, to write)
  std::string path;    // opened once more with O_DIRECT for what can go that way
  bool direct = true;  // false: never O_DIRECT (Config::direct_io)
};

struct RawTransfer {
  std::uint64_t hash = 0;          // xxh64 of the bytes
  std::uint64_t direct_bytes = 0;  // how many went with O_DIRECT
};

// Reads `n` bytes at `offset` of `file` into `out`. Throws mpisnap::Error naming `context` if the
// file ends early or a read fails. `piece` (a multiple of kDirectAlign) is for tests.
RawTransfer read_hashed(const RawFile& file, std::uint64_t offset, std::byte* out, std::size_t n,
                        const std::string& context, std::size_t piece = kRawReadPiece);

// Writes `n` bytes from `data` at `offset` of `file`. Throws mpisnap::Error naming `context` when a
// write fails (the file is then incomplete: it must not be committed).
RawTransfer write_hashed(const RawFile& file, std::uint64_t offset, const std::byte* data, std::size_t n,
                         const std::string& context);

}  // namespace mpisnap::storage
