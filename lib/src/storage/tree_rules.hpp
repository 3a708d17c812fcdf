// How a state tree is laid out in HDF5, shared by the two writers of a file (tree_io.cpp through the
// HDF5 library, h5_writer.cpp without it) and by the reader: the attributes' names, which arrays
// move past HDF5, which groups become lists of strings, and the digest over a tree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <mpisnap/tree.hpp>

#include "common/xxh64.hpp"

namespace mpisnap::storage::rules {

inline constexpr const char* kChecksumAttr = "xxh64";           // every dataset: xxh64 of its bytes
inline constexpr const char* kTypeAttr = "mpisnap_type";        // "char" where HDF5's type is ambiguous ("bool" before 1.3)
inline constexpr const char* kRoleAttr = "mpisnap_role";        // a group's Node::role ("map")
inline constexpr const char* kOffsetAttr = "global_offset";     // a block's place in a global array (Node::global_offset)
inline constexpr const char* kExtentAttr = "global_extent";     //   and that array's dimensions
inline constexpr const char* kSizeAttr = "mpisnap_size";        // a container's cereal size tag
inline constexpr const char* kLengthAttr = "mpisnap_length";    // characters in a string dataset
inline constexpr const char* kFieldsAttr = "mpisnap_fields";    // a table's char members, "name<TAB>char" per line
// Groups nest at most this deep (the root is depth 0): a deeper state is refused when it is written,
// and a file nested deeper (or whose groups link back to one another) when it is read, so a crafted
// file cannot make a reader recurse until its stack ends.
inline constexpr std::size_t kMaxDepth = 1000;
// Arrays of this many bytes or more are written and read past HDF5 (raw_io.hpp).
inline constexpr std::size_t kRawMin = std::size_t{1} << 20;

inline bool is_string_array(const Node& n) { return n.kind == Node::Kind::Array && n.type == ScalarType::Char; }

// Large arrays go to and from the disk past HDF5 (raw_io.hpp), checksummed on the way.
inline bool raw_candidate(const Node& n) {
  return (n.kind == Node::Kind::Table || (n.kind == Node::Kind::Array && !is_string_array(n))) &&
         n.data.size() >= kRawMin;
}

// A container of strings (a group of char arrays value0, value1, ...: a std::vector<std::string>, a
// map's keys) is one dataset of variable-length strings, as h5py writes a list of str. Strings with a
// NUL byte inside (which such a dataset cannot hold) keep the group.
bool is_string_list(const Node& g);

// A block's dataset dimensions: its shape, or one of `count`.
inline std::vector<std::uint64_t> dims_of(const Node& n) {
  if (n.shape.empty()) return {n.count};
  return {n.shape.begin(), n.shape.end()};
}

// The text of a table's mpisnap_fields attribute (empty: none): its char members, which HDF5 stores
// as 8-bit integers.
std::string char_fields(const Node& table);

// Throws, naming `file` and the first group too deep, when `root` nests deeper than kMaxDepth.
void check_depth(const Node& root, const std::string& file);

// ---- what both readers check and decide the same way (tree_io over the library's handles,
// h5_reader over the bytes); `ctx` names the file and the dataset in errors.

// A number type from what the file says of it: its class, signedness and size. Any other (a 2-byte
// float, a 16-byte integer, another class) is a type this version cannot read.
enum class NumberClass { Integer, Float, Other };
ScalarType number_type(NumberClass cls, bool is_signed, std::uint64_t size, const std::string& ctx);
// The type a dataset's mpisnap_type attribute names ("bool", "char").
ScalarType marked_type(const std::string& mark, const std::string& ctx);
// A table member the table's mpisnap_fields text marks as bool or char takes that type; then it
// must lie inside the record.
void settle_member(const std::string& fields_text, std::uint32_t record_bytes, Field& f, const std::string& ctx);
// A dataset's dimensions: its count, and its shape when there are several.
void set_dims(Node& n, const std::vector<std::uint64_t>& dims, const std::string& ctx);
// A block's place in a global array must have the rank of its shape.
void check_global_place(const Node& n, const std::string& ctx);
// The dataset's stored xxh64 against the one computed from its bytes.
void check_checksum(std::uint64_t stored, std::uint64_t computed, const std::string& ctx);

// The digest covers structure as well as content: `path`, the node's kind, type, count, size tag,
// table layout, shape and role, and `data_hash` (0 for a group).
void digest_node(Xxh64& d, const std::string& path, const Node& n, std::uint64_t data_hash);

}  // namespace mpisnap::storage::rules
