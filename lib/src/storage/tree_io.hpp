// A state tree in HDF5: groups for Groups, datasets for leaves, one xxh64 checksum attribute per
// dataset, and a digest over the whole tree (names, shapes, types, checksums) that the manifest
// records, so a file from another checkpoint or a renamed dataset is caught too.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

#include <mpisnap/tree.hpp>

#include "common/xxh64.hpp"
#include "storage/tree_rules.hpp"

namespace mpisnap::storage {

struct TreeStats {
  std::uint64_t datasets = 0;
  std::uint64_t bytes = 0;  // payload bytes
  std::uint64_t direct_bytes = 0;  // of those, moved with O_DIRECT
};

// Writes the children of `node` (a Group) into the HDF5 location `where`, adding to `digest`.
// `file` is the file's path (named in error messages). Arrays of 1 MiB or more are written past
// HDF5 (raw_io.hpp), those of kDirectWriteMin or more with O_DIRECT where possible unless
// `direct_io` is false.
void write_tree(hid_t where, const Node& node, const std::string& file, Xxh64& digest, TreeStats& stats,
                bool direct_io = true);

// Reads every member of the HDF5 location `where` into a Group node, verifying each dataset's
// checksum; throws mpisnap::Error naming file and dataset on any mismatch.
Node read_tree(hid_t where, const std::string& file, Xxh64& digest, TreeStats& stats, bool direct_io = true);

// Name of the checksum attribute on every dataset.
using rules::kChecksumAttr;

}  // namespace mpisnap::storage
