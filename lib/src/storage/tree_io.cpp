#include "storage/tree_io.hpp"

#include <cstring>
#include <optional>
#include <set>
#include <vector>

#include <mpisnap/error.hpp>

#include "storage/hdf5.hpp"
#include "storage/raw_io.hpp"
#include "storage/tree_rules.hpp"

namespace mpisnap::storage {
namespace {

using namespace rules;

// Booleans as h5py writes numpy's: an 8-bit enum of FALSE = 0 and TRUE = 1, which h5py reads as bool
// (and HDF5's tools show by name). Made once; predefined types need no closing, nor does this one.
hid_t bool_type() {
  static const hid_t type = [] {
    const hid_t t = h5::check(H5Tenum_create(H5T_NATIVE_INT8), "H5Tenum_create", "the bool type");
    for (signed char v : {0, 1})
      h5::check(H5Tenum_insert(t, v ? "TRUE" : "FALSE", &v), "H5Tenum_insert", "the bool type");
    return t;
  }();
  return type;
}

bool is_bool_enum(hid_t t) {
  if (H5Tget_class(t) != H5T_ENUM || H5Tget_size(t) != 1 || H5Tget_nmembers(t) != 2) return false;
  for (unsigned i = 0; i < 2; ++i) {
    signed char v = -1;
    if (H5Tget_member_value(t, i, &v) < 0 || v != static_cast<signed char>(i)) return false;
  }
  return true;
}

hid_t native_type(ScalarType t) {
  switch (t) {
    case ScalarType::Int8: return H5T_NATIVE_INT8;
    case ScalarType::UInt8: return H5T_NATIVE_UINT8;
    case ScalarType::Int16: return H5T_NATIVE_INT16;
    case ScalarType::UInt16: return H5T_NATIVE_UINT16;
    case ScalarType::Int32: return H5T_NATIVE_INT32;
    case ScalarType::UInt32: return H5T_NATIVE_UINT32;
    case ScalarType::Int64: return H5T_NATIVE_INT64;
    case ScalarType::UInt64: return H5T_NATIVE_UINT64;
    case ScalarType::Float32: return H5T_NATIVE_FLOAT;
    case ScalarType::Float64: return H5T_NATIVE_DOUBLE;
    case ScalarType::Bool: return bool_type();
    case ScalarType::Char: return H5T_NATIVE_CHAR;
  }
  return H5T_NATIVE_UINT8;
}

// A block's dataset dimensions: its shape, or one of `count`.
std::vector<hsize_t> dims_of(const Node& n) {
  const std::vector<std::uint64_t> d = rules::dims_of(n);
  return {d.begin(), d.end()};
}

// A table's record as an HDF5 compound type: the struct's own layout (offsets, padding), each member
// under its serialize() name, a fixed-size array member as an HDF5 array type. The file holds the
// records exactly as they are in memory, so they move as one block, past HDF5 when large.
h5::Handle table_type(const Node& n, const std::string& ctx) {
  h5::Handle t = h5::type(h5::check(H5Tcreate(H5T_COMPOUND, n.record_bytes), "H5Tcreate(compound)", ctx));
  for (const Field& f : n.fields) {
    hid_t member = native_type(f.type);
    h5::Handle array;
    if (f.count > 1) {
      const hsize_t dims[1] = {f.count};
      array = h5::type(h5::check(H5Tarray_create2(member, 1, dims), "H5Tarray_create2", ctx));
      member = array.get();
    }
    h5::check(H5Tinsert(t.get(), f.name.c_str(), f.offset, member), "H5Tinsert", ctx + " member " + f.name);
  }
  return t;
}


// What a walk over one file carries along.
struct Walk {
  const std::string& file;  // names the file in errors; raw I/O opens it once more
  Xxh64& digest;
  TreeStats& stats;
  bool direct_io;
  std::set<haddr_t> seen = {};  // (reading) the objects' addresses visited
};

std::uint64_t read_raw(int fd, std::uint64_t offset, Node& n, const std::string& ctx, Walk& w) {
  const RawTransfer t = read_hashed({fd, w.file, w.direct_io}, offset, n.data.data(), n.data.size(), ctx);
  w.stats.direct_bytes += t.direct_bytes;
  return t.hash;
}

void write_leaf(hid_t where, const Node& n, const std::string& path, Walk& w) {
  const std::string ctx = w.file + ":" + path;
  h5::Handle sp, ty;
  hid_t mem_type = native_type(n.type);
  if (is_string_array(n)) {
    ty = h5::type(h5::check(H5Tcopy(H5T_C_S1), "H5Tcopy", ctx));
    h5::check(H5Tset_size(ty.get(), n.count ? n.count : 1), "H5Tset_size", ctx);
    h5::check(H5Tset_strpad(ty.get(), H5T_STR_NULLPAD), "H5Tset_strpad", ctx);
    mem_type = ty.get();
    sp = h5::space(h5::check(H5Screate(H5S_SCALAR), "H5Screate", ctx));
  } else if (n.kind == Node::Kind::Scalar) {
    sp = h5::space(h5::check(H5Screate(H5S_SCALAR), "H5Screate", ctx));
  } else {
    if (n.kind == Node::Kind::Table) {
      ty = table_type(n, ctx);
      mem_type = ty.get();
    }
    const std::vector<hsize_t> dims = dims_of(n);
    sp = h5::space(h5::check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple", ctx));
  }
  // A large array gets its space when it is created (and no fill value written into it), so its
  // bytes can be written straight to their place in the file.
  const bool raw = raw_candidate(n);
  h5::Handle dcpl = h5::plist(h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", ctx));
  if (raw) {
    h5::check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time", ctx);
    h5::check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time", ctx);
  }
  h5::Handle ds = h5::dataset(h5::check(
      H5Dcreate2(where, n.name.c_str(), mem_type, sp.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), "H5Dcreate2", ctx));
  const auto extent = raw ? h5::raw_extent(ds.get(), mem_type, n.data.size()) : std::nullopt;
  std::optional<std::uint64_t> raw_hash;  // computed while writing
  if (extent) {
    const RawTransfer t = write_hashed({extent->fd, w.file, writes_direct(n.data.size(), w.direct_io)}, extent->offset, n.data.data(), n.data.size(), ctx);
    raw_hash = t.hash;
    w.stats.direct_bytes += t.direct_bytes;
  } else if (is_string_array(n)) {
    if (n.count) {
      h5::check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, n.data.data()), "H5Dwrite", ctx);
    } else {
      const char zero = 0;
      h5::check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &zero), "H5Dwrite", ctx);
    }
    h5::write_attr_u64(ds.get(), kLengthAttr, n.count, ctx);
  } else if (!n.data.empty()) {
    h5::check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, n.data.data()), "H5Dwrite", ctx);
  }
  if (n.kind == Node::Kind::Table) {
    const std::string kinds = rules::char_fields(n);
    if (!kinds.empty()) h5::write_attr_string(ds.get(), kFieldsAttr, kinds, ctx);
  }
  if (n.type == ScalarType::Char && n.kind == Node::Kind::Scalar) h5::write_attr_string(ds.get(), kTypeAttr, "char", ctx);
  if (!n.global_offset.empty()) {
    h5::write_attr_u64s(ds.get(), kOffsetAttr, n.global_offset, ctx);
    h5::write_attr_u64s(ds.get(), kExtentAttr, n.global_extent, ctx);
  }
  const std::uint64_t h = raw_hash ? *raw_hash : Xxh64::hash(n.data.data(), n.data.size());
  h5::write_attr_u64(ds.get(), kChecksumAttr, h, ctx);
  ds.close(ctx);
  digest_node(w.digest, path, n, h);
  w.stats.datasets += 1;
  w.stats.bytes += n.data.size();
}

h5::Handle vlen_string_type(H5T_cset_t cset, const std::string& ctx) {
  h5::Handle t = h5::type(h5::check(H5Tcopy(H5T_C_S1), "H5Tcopy", ctx));
  h5::check(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size", ctx);
  h5::check(H5Tset_cset(t.get(), cset), "H5Tset_cset", ctx);
  return t;
}

// The dataset's checksum covers every string with its length.
std::uint64_t strings_hash(const Node& g) {
  Xxh64 h;
  for (const Node& c : g.children) {
    h.update_u64(c.data.size());
    h.update(c.data.data(), c.data.size());
  }
  return h.digest();
}

// The digest sees the group and its strings, as it would had they been written one dataset each.
void digest_strings(Walk& w, const std::string& path, const Node& g) {
  digest_node(w.digest, path, g, 0);
  for (const Node& c : g.children) digest_node(w.digest, path + "/" + c.name, c, Xxh64::hash(c.data.data(), c.data.size()));
  w.stats.datasets += 1;
  for (const Node& c : g.children) w.stats.bytes += c.data.size();
}

void write_strings(hid_t where, const Node& g, const std::string& path, Walk& w) {
  const std::string ctx = w.file + ":" + path;
  h5::Handle ty = vlen_string_type(H5T_CSET_UTF8, ctx);
  const hsize_t dims[1] = {g.children.size()};
  h5::Handle sp = h5::space(h5::check(H5Screate_simple(1, dims, nullptr), "H5Screate_simple", ctx));
  h5::Handle ds = h5::dataset(h5::check(
      H5Dcreate2(where, g.name.c_str(), ty.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Dcreate2", ctx));
  std::vector<std::string> text;
  std::vector<const char*> ptrs;
  text.reserve(g.children.size());
  for (const Node& c : g.children) text.emplace_back(reinterpret_cast<const char*>(c.data.data()), c.data.size());
  for (const std::string& t : text) ptrs.push_back(t.c_str());
  h5::check(H5Dwrite(ds.get(), ty.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "H5Dwrite", ctx);
  h5::write_attr_u64(ds.get(), kChecksumAttr, strings_hash(g), ctx);
  ds.close(ctx);
  digest_strings(w, path, g);
}

void write_group(hid_t where, const Node& node, const std::string& path, Walk& w) {
  for (const Node& c : node.children) {
    const std::string child_path = path + "/" + c.name;
    if (is_string_list(c)) {
      write_strings(where, c, child_path, w);
    } else if (c.kind == Node::Kind::Group) {
      const std::string ctx = w.file + ":" + child_path;
      h5::Handle gcpl = h5::ordered_group_plist();
      h5::Handle g = h5::group(h5::check(H5Gcreate2(where, c.name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                                         "H5Gcreate2", ctx));
      if (c.has_size) h5::write_attr_u64(g.get(), kSizeAttr, c.size, ctx);
      if (!c.role.empty()) h5::write_attr_string(g.get(), kRoleAttr, c.role, ctx);
      digest_node(w.digest, child_path, c, 0);
      write_group(g.get(), c, child_path, w);
      g.close(ctx);
    } else {
      write_leaf(where, c, child_path, w);
    }
  }
}

// ------------------------------------------------------------------ reading

struct LinkNames {
  std::vector<std::string> names;
};

herr_t collect_link(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<LinkNames*>(out)->names.emplace_back(name);
  return 0;
}

ScalarType scalar_type_from(hid_t type, const std::string& ctx) {
  if (is_bool_enum(type)) return ScalarType::Bool;
  const H5T_class_t cls = H5Tget_class(type);
  const NumberClass number = cls == H5T_FLOAT ? NumberClass::Float : cls == H5T_INTEGER ? NumberClass::Integer : NumberClass::Other;
  return number_type(number, cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_2, H5Tget_size(type), ctx);
}

// A dataset of variable-length strings: back to the group of char arrays it was written from.
Node read_strings(hid_t ds, hid_t file_type, hid_t space, const std::string& name, const std::string& path, Walk& w) {
  const std::string ctx = w.file + ":" + path;
  if (H5Sget_simple_extent_ndims(space) != 1)
    throw Error("mpisnap: dataset " + ctx + " is a list of strings that is not one-dimensional");
  hsize_t dims[1] = {0};
  H5Sget_simple_extent_dims(space, dims, nullptr);
  h5::Handle mem = vlen_string_type(H5Tget_cset(file_type), ctx);
  std::vector<char*> ptrs(dims[0], nullptr);
  Node g;
  g.name = name;
  g.kind = Node::Kind::Group;
  g.has_size = true;
  g.size = dims[0];
  if (dims[0]) {
    h5::check(H5Dread(ds, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "H5Dread", ctx);
    for (std::size_t i = 0; i < ptrs.size(); ++i) {
      Node c;
      c.name = "value" + std::to_string(i);
      c.kind = Node::Kind::Array;
      c.type = ScalarType::Char;
      const std::size_t len = ptrs[i] ? std::strlen(ptrs[i]) : 0;
      c.count = len;
      c.data.resize(len);
      if (len) std::memcpy(c.data.data(), ptrs[i], len);
      g.children.push_back(std::move(c));
    }
    H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, ptrs.data());
  }
  if (!h5::has_attr(ds, kChecksumAttr)) throw Error("mpisnap: dataset " + ctx + " has no checksum attribute");
  const std::uint64_t expected = h5::read_attr_u64(ds, kChecksumAttr, ctx);
  check_checksum(expected, strings_hash(g), ctx);
  digest_strings(w, path, g);
  return g;
}

// The dimensions of a dataset of rank >= 1.
void read_dims(hid_t space, int rank, Node& n, const std::string& ctx) {
  if (rank > 32) throw Error("mpisnap: dataset " + ctx + " has " + std::to_string(rank) + " dimensions");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  set_dims(n, {dims.begin(), dims.end()}, ctx);
}

Node read_leaf(hid_t where, const std::string& name, const std::string& path, Walk& w) {
  const std::string ctx = w.file + ":" + path;
  h5::Handle ds = h5::dataset(h5::check(H5Dopen2(where, name.c_str(), H5P_DEFAULT), "H5Dopen2", ctx));
  h5::Handle ty = h5::type(h5::check(H5Dget_type(ds.get()), "H5Dget_type", ctx));
  h5::Handle sp = h5::space(h5::check(H5Dget_space(ds.get()), "H5Dget_space", ctx));
  Node n;
  n.name = name;
  std::optional<std::uint64_t> raw_hash;  // computed while reading
  const int rank = h5::check(H5Sget_simple_extent_ndims(sp.get()), "H5Sget_simple_extent_ndims", ctx);
  if (H5Tget_class(ty.get()) == H5T_STRING && H5Tis_variable_str(ty.get()) > 0)
    return read_strings(ds.get(), ty.get(), sp.get(), name, path, w);
  if (H5Tget_class(ty.get()) == H5T_COMPOUND) {
    if (rank < 1) throw Error("mpisnap: dataset " + ctx + " is a table of no dimension");
    n.kind = Node::Kind::Table;
    n.record_bytes = static_cast<std::uint32_t>(H5Tget_size(ty.get()));
    std::string kinds = h5::has_attr(ds.get(), kFieldsAttr) ? h5::read_attr_string(ds.get(), kFieldsAttr, ctx) : "";
    const int members = h5::check(H5Tget_nmembers(ty.get()), "H5Tget_nmembers", ctx);
    for (int i = 0; i < members; ++i) {
      Field f;
      char* mname = H5Tget_member_name(ty.get(), static_cast<unsigned>(i));
      if (!mname) throw Error("mpisnap: dataset " + ctx + ": a member of its table has no name");
      f.name = mname;
      H5free_memory(mname);
      f.offset = static_cast<std::uint32_t>(H5Tget_member_offset(ty.get(), static_cast<unsigned>(i)));
      h5::Handle mt = h5::type(h5::check(H5Tget_member_type(ty.get(), static_cast<unsigned>(i)), "H5Tget_member_type", ctx));
      if (H5Tget_class(mt.get()) == H5T_ARRAY) {
        hsize_t dims[1] = {0};
        if (H5Tget_array_ndims(mt.get()) != 1) throw Error("mpisnap: dataset " + ctx + ": member " + f.name + " is not a 1-D array");
        H5Tget_array_dims2(mt.get(), dims);
        f.count = static_cast<std::uint32_t>(dims[0]);
        h5::Handle base = h5::type(h5::check(H5Tget_super(mt.get()), "H5Tget_super", ctx));
        f.type = scalar_type_from(base.get(), ctx + " member " + f.name);
      } else {
        f.type = scalar_type_from(mt.get(), ctx + " member " + f.name);
      }
      settle_member(kinds, n.record_bytes, f, ctx);
      n.fields.push_back(std::move(f));
    }
    read_dims(sp.get(), rank, n, ctx);
    n.data.resize(n.count * n.record_bytes);
    // The file's own type is the struct's layout (written so): read as it is, no conversion.
    const auto extent = raw_candidate(n) ? h5::raw_extent(ds.get(), ty.get(), n.data.size()) : std::nullopt;
    if (extent)
      raw_hash = read_raw(extent->fd, extent->offset, n, ctx, w);
    else if (!n.data.empty())
      h5::check(H5Dread(ds.get(), ty.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, n.data.data()), "H5Dread", ctx);
  } else if (H5Tget_class(ty.get()) == H5T_STRING) {
    if (!h5::has_attr(ds.get(), kLengthAttr))
      throw Error("mpisnap: dataset " + ctx + " is a string without its length attribute");
    n.kind = Node::Kind::Array;
    n.type = ScalarType::Char;
    n.count = h5::read_attr_u64(ds.get(), kLengthAttr, ctx);
    const std::size_t stored = H5Tget_size(ty.get());
    if (rank != 0 || stored != (n.count ? n.count : 1))
      throw Error("mpisnap: dataset " + ctx + " has a string length that does not match its attribute");
    Bytes buf(stored);
    h5::check(H5Dread(ds.get(), ty.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), "H5Dread", ctx);
    buf.resize(n.count);
    n.data = std::move(buf);
  } else {
    n.type = scalar_type_from(ty.get(), ctx);
    if (h5::has_attr(ds.get(), kTypeAttr)) n.type = marked_type(h5::read_attr_string(ds.get(), kTypeAttr, ctx), ctx);
    if (rank == 0) {
      n.kind = Node::Kind::Scalar;
      n.count = 1;
    } else {
      n.kind = Node::Kind::Array;
      read_dims(sp.get(), rank, n, ctx);
    }
    n.data.resize(n.count * size_of(n.type));
    // (booleans before format 1.3 are bytes marked by an attribute: read as the bytes they are)
    const hid_t mem = n.type == ScalarType::Bool && !is_bool_enum(ty.get()) ? H5T_NATIVE_UINT8 : native_type(n.type);
    // Large arrays bypass HDF5's read: read in pieces (from the disk straight into the buffer when
    // they can be), each hashed while the next one is read.
    const auto extent = raw_candidate(n) ? h5::raw_extent(ds.get(), mem, n.data.size()) : std::nullopt;
    if (extent)
      raw_hash = read_raw(extent->fd, extent->offset, n, ctx, w);
    else if (!n.data.empty())
      h5::check(H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, n.data.data()),
                "H5Dread", ctx);
  }
  if (h5::has_attr(ds.get(), kOffsetAttr) || h5::has_attr(ds.get(), kExtentAttr)) {
    n.global_offset = h5::read_attr_u64s(ds.get(), kOffsetAttr, ctx);
    n.global_extent = h5::read_attr_u64s(ds.get(), kExtentAttr, ctx);
    check_global_place(n, ctx);
  }
  if (!h5::has_attr(ds.get(), kChecksumAttr))
    throw Error("mpisnap: dataset " + ctx + " has no checksum attribute");
  const std::uint64_t expected = h5::read_attr_u64(ds.get(), kChecksumAttr, ctx);
  const std::uint64_t actual = raw_hash ? *raw_hash : Xxh64::hash(n.data.data(), n.data.size());
  check_checksum(expected, actual, ctx);
  digest_node(w.digest, path, n, actual);
  w.stats.datasets += 1;
  w.stats.bytes += n.data.size();
  return n;
}

void read_group(hid_t where, Node& into, const std::string& path, Walk& w, std::size_t depth) {
  const std::string& file = w.file;
  const std::string ctx = file + ":" + (path.empty() ? "/" : path);
  if (depth > kMaxDepth)
    throw Error("mpisnap: " + ctx + " nests groups deeper than " + std::to_string(kMaxDepth) +
                " levels: the file is corrupt (mpisnap writes none that deep)");
  LinkNames links;
  hsize_t idx = 0;
  if (H5Literate(where, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_link, &links) < 0) {
    links.names.clear();
    idx = 0;
    h5::check(H5Literate(where, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_link, &links), "H5Literate", ctx);
  }
  for (const std::string& name : links.names) {
    const std::string child_path = path + "/" + name;
    H5O_info_t info;
    h5::check(H5Oget_info_by_name2(where, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
              "H5Oget_info_by_name", file + ":" + child_path);
    // Each object once: links that reach one object twice (a group linking back to an ancestor,
    // or to one subtree many times) are not a tree, and mpisnap writes none.
    if (!w.seen.insert(info.addr).second)
      throw Error("mpisnap: " + file + ":" + child_path +
                  " links to an object reached before: the file is corrupt (its groups are not a tree)");
    if (info.type == H5O_TYPE_GROUP) {
      Node g;
      g.name = name;
      g.kind = Node::Kind::Group;
      h5::Handle gh = h5::group(h5::check(H5Gopen2(where, name.c_str(), H5P_DEFAULT), "H5Gopen2",
                                          file + ":" + child_path));
      if (h5::has_attr(gh.get(), kSizeAttr)) {
        g.has_size = true;
        g.size = h5::read_attr_u64(gh.get(), kSizeAttr, file + ":" + child_path);
      }
      if (h5::has_attr(gh.get(), kRoleAttr)) g.role = h5::read_attr_string(gh.get(), kRoleAttr, file + ":" + child_path);
      digest_node(w.digest, child_path, g, 0);
      read_group(gh.get(), g, child_path, w, depth + 1);
      into.children.push_back(std::move(g));
    } else if (info.type == H5O_TYPE_DATASET) {
      into.children.push_back(read_leaf(where, name, child_path, w));
    } else {
      throw Error("mpisnap: " + file + ":" + child_path + " is neither a group nor a dataset");
    }
  }
}

}  // namespace

void write_tree(hid_t where, const Node& node, const std::string& file, Xxh64& digest, TreeStats& stats,
                bool direct_io) {
  if (node.kind != Node::Kind::Group) throw Error("mpisnap: internal: write_tree needs a group");
  Walk w{file, digest, stats, direct_io};
  write_group(where, node, "", w);
}

Node read_tree(hid_t where, const std::string& file, Xxh64& digest, TreeStats& stats, bool direct_io) {
  Node root;
  root.kind = Node::Kind::Group;
  Walk w{file, digest, stats, direct_io};
  read_group(where, root, "", w, 0);
  return root;
}


namespace rules {

bool is_string_list(const Node& g) {
  if (g.kind != Node::Kind::Group || !g.has_size || g.size != g.children.size() || g.children.empty() || !g.role.empty())
    return false;
  for (std::size_t i = 0; i < g.children.size(); ++i) {
    const Node& c = g.children[i];
    if (!is_string_array(c) || !c.shape.empty() || !c.global_offset.empty() || c.name != "value" + std::to_string(i) ||
        (!c.data.empty() && std::memchr(c.data.data(), 0, c.data.size()) != nullptr))
      return false;
  }
  return true;
}

void check_depth(const Node& root, const std::string& file) {
  // Iterative: the tree being checked may be deeper than a stack would take.
  std::vector<std::pair<const Node*, std::size_t>> todo{{&root, 0}};
  while (!todo.empty()) {
    const auto [n, depth] = todo.back();
    todo.pop_back();
    for (const Node& c : n->children) {
      if (c.kind != Node::Kind::Group) continue;
      if (depth + 1 > kMaxDepth)
        throw Error("mpisnap: cannot write " + file + ": the state nests groups deeper than " +
                    std::to_string(kMaxDepth) + " levels (at a group named '" + c.name +
                    "'): store a deep structure as a flat container");
      todo.emplace_back(&c, depth + 1);
    }
  }
}

ScalarType number_type(NumberClass cls, bool is_signed, std::uint64_t size, const std::string& ctx) {
  if (cls == NumberClass::Float) {
    if (size == 4) return ScalarType::Float32;
    if (size == 8) return ScalarType::Float64;
  } else if (cls == NumberClass::Integer) {
    switch (size) {
      case 1: return is_signed ? ScalarType::Int8 : ScalarType::UInt8;
      case 2: return is_signed ? ScalarType::Int16 : ScalarType::UInt16;
      case 4: return is_signed ? ScalarType::Int32 : ScalarType::UInt32;
      case 8: return is_signed ? ScalarType::Int64 : ScalarType::UInt64;
      default: break;
    }
  }
  throw Error("mpisnap: dataset " + ctx + " has a type this version cannot read");
}

ScalarType marked_type(const std::string& mark, const std::string& ctx) {
  if (mark == "bool") return ScalarType::Bool;
  if (mark == "char") return ScalarType::Char;
  throw Error("mpisnap: dataset " + ctx + " has an unknown mpisnap_type '" + mark + "'");
}

void settle_member(const std::string& fields_text, std::uint32_t record_bytes, Field& f, const std::string& ctx) {
  for (ScalarType marked : {ScalarType::Bool, ScalarType::Char})
    if (fields_text.find(f.name + "\t" + to_string(marked) + "\n") != std::string::npos) f.type = marked;
  if (f.offset + std::uint64_t{f.count} * size_of(f.type) > record_bytes)
    throw Error("mpisnap: dataset " + ctx + ": member " + f.name + " lies outside its record");
}

void set_dims(Node& n, const std::vector<std::uint64_t>& dims, const std::string& ctx) {
  if (dims.size() > 32) throw Error("mpisnap: dataset " + ctx + " has " + std::to_string(dims.size()) + " dimensions");
  n.count = 1;
  for (std::uint64_t d : dims) n.count *= d;
  if (dims.size() > 1) n.shape = dims;
}

void check_global_place(const Node& n, const std::string& ctx) {
  const std::size_t r = n.shape.empty() ? 1 : n.shape.size();
  if (n.global_offset.size() != r || n.global_extent.size() != r)
    throw Error("mpisnap: dataset " + ctx + " has global_offset/global_extent of another rank than its own " +
                std::to_string(r));
}

void check_checksum(std::uint64_t stored, std::uint64_t computed, const std::string& ctx) {
  if (stored != computed)
    throw Error("mpisnap: checksum mismatch in " + ctx + " (stored " + std::to_string(stored) + ", computed " +
                std::to_string(computed) + "): the file is corrupt");
}

std::string char_fields(const Node& table) {
  std::string kinds;
  for (const Field& f : table.fields)
    if (f.type == ScalarType::Char) kinds += f.name + "\t" + to_string(f.type) + "\n";
  return kinds;
}

// The digest covers structure as well as content.
void digest_node(Xxh64& d, const std::string& path, const Node& n, std::uint64_t data_hash) {
  d.update(path.data(), path.size());
  const bool group = n.kind == Node::Kind::Group;
  const std::uint64_t shape[5] = {static_cast<std::uint64_t>(n.kind),
                                  group ? 0u : static_cast<std::uint64_t>(n.type), group ? 0u : n.count,
                                  n.has_size ? 1u : 0u, n.has_size ? n.size : 0u};
  d.update(shape, sizeof shape);
  if (n.kind == Node::Kind::Table) {  // (so a table's layout is part of what the manifest vouches for)
    d.update_u64(n.record_bytes);
    for (const Field& f : n.fields) {
      d.update(f.name.data(), f.name.size());
      const std::uint64_t where[3] = {f.offset, static_cast<std::uint64_t>(f.type), f.count};
      d.update(where, sizeof where);
    }
  }
  // What format 1.3 added, only where present (so the digests of older files are what they were).
  if (!n.shape.empty() || !n.global_offset.empty() || !n.global_extent.empty() || !n.role.empty()) {
    for (const auto* v : {&n.shape, &n.global_offset, &n.global_extent}) {
      d.update_u64(v->size());
      if (!v->empty()) d.update(v->data(), v->size() * sizeof(std::uint64_t));
    }
    d.update(n.role.data(), n.role.size());
  }
  d.update_u64(data_hash);
}

}  // namespace rules

}  // namespace mpisnap::storage
