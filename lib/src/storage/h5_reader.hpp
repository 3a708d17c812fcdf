// Rank files read without the HDF5 library: the files h5_writer lays out (and any HDF5 file made of
// the same few structures).
//
// Opening a file with the HDF5 library costs about 0.3 ms of CPU before the first byte of data
// (its caches, an object at a time); at 64 KiB or 1 MiB per rank that is most of a restart's read.
// A file of compact groups and contiguous datasets is read here instead: its first bytes in one
// read (the whole file when it has no array of 1 MiB or more), the object headers parsed from them
// with every checksum verified, small datasets copied out, large ones read straight into their
// buffers through raw_io. The tree, the checks and the error messages are read_tree's.
//
// Anything else - a superblock before version 2, old-style groups, links or attributes stored
// densely, chunked or compressed datasets, variable-length strings - makes read_plain_file return
// nothing, and the caller reads the file through the HDF5 library (tree_io).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <mpisnap/tree.hpp>

#include "common/xxh64.hpp"
#include "storage/tree_io.hpp"

namespace mpisnap::storage {

struct PlainFile {
  Node root;  // a Group: the root group's members
  // The root group's integer attributes (the format version), as unsigned 64-bit numbers.
  std::vector<std::pair<std::string, std::uint64_t>> root_attrs;
};

// Reads `path` as read_tree would (adding the same to `digest` and `stats`), or returns nothing when
// the file holds a structure this reader does not read. Throws mpisnap::Error naming the file (and
// the object) when the file is missing, truncated or corrupt: a header's checksum, a dataset's
// xxh64.
std::optional<PlainFile> read_plain_file(const std::string& path, Xxh64& digest, TreeStats& stats,
                                         bool direct_io = true);

}  // namespace mpisnap::storage
