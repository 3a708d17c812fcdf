// Rank files written without the HDF5 library.
//
// The HDF5 library spends about a millisecond of CPU on every file it creates (its caches, an
// object at a time, flushes in pieces): at 64 KiB or 1 MiB per rank that is most of a checkpoint's
// write. A rank file is a simple HDF5 file - groups, contiguous datasets, small attributes - and
// everything about it is known before a byte is written. So it is laid out whole in memory and
// written in one vectored write, then fsynced once through the same descriptor. Arrays of 1 MiB and
// more start on a 4 KiB boundary; those that raw_io would write with O_DIRECT or hash on a helper
// thread (4 MiB and more) go first, through raw_io.
//
// The file is HDF5 as the library writes it with the 1.8 format bounds (tree_io.cpp): superblock
// version 2, version-2 object headers with checksums, groups whose links are messages in their
// header (compact storage, creation order tracked), datasets with contiguous layout, attributes in
// the header. The same datasets and attributes as tree_io writes, so the format (1.6) and every
// reader - the HDF5 library, h5py, h5dump, read_tree - are unchanged. Lists of strings
// (variable-length strings, which need HDF5's global heap) are not written here: a tree with one is
// written by tree_io (can_write_plain).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <mpisnap/tree.hpp>

#include "common/xxh64.hpp"
#include "storage/tree_io.hpp"

namespace mpisnap::storage {

// Whether write_plain_file can write the children of each of `roots`.
bool can_write_plain(const std::vector<const Node*>& roots);

// Creates `path` (through the fs seam: fs::ops), writes an HDF5 file whose root group holds the
// children of each of `roots` in order and the unsigned 64-bit attributes `root_attrs`, fsyncs and
// closes it. Adds to `digest` and `stats` exactly what write_tree would. Arrays of
// kDirectWriteMin bytes or more go with O_DIRECT where possible unless `direct_io` is false. On
// failure the file is removed and mpisnap::Error names it and the reason ("no space left on device"
// for a full disk). Returns the file's size.
// `external`, if given, adds a group of that name at the top holding external links, each to the
// root group of a file (a manifest's /ranks: `h5dump manifest.h5` shows the whole checkpoint).
struct ExternalLinks {
  std::string group;
  std::vector<std::pair<std::string, std::string>> links;  // the link's name, the file's (relative) name
};
std::uint64_t write_plain_file(const std::string& path,
                               const std::vector<std::pair<std::string, std::uint64_t>>& root_attrs,
                               const std::vector<const Node*>& roots, Xxh64& digest, TreeStats& stats,
                               bool direct_io = true, const ExternalLinks* external = nullptr);
// The most links one group holds in a file written here (a larger group goes to the library).
inline constexpr std::size_t kMaxPlainLinks = 256;

namespace h5format {
// HDF5's checksum of metadata (Bob Jenkins' lookup3 hashlittle, initial value 0).
std::uint32_t lookup3(const void* data, std::size_t n) noexcept;
}  // namespace h5format

}  // namespace mpisnap::storage
