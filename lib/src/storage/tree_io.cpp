#include "storage/tree_io.hpp"

#include <cstring>
#include <optional>
#include <vector>

#include <mpisnap/error.hpp>

#include "storage/hdf5.hpp"
#include "storage/raw_io.hpp"

namespace mpisnap::storage {
namespace {

constexpr const char* kTypeAttr = "mpisnap_type";      // "bool" or "char" where HDF5's type is ambiguous
constexpr const char* kSizeAttr = "mpisnap_size";      // a container's cereal size tag
constexpr const char* kLengthAttr = "mpisnap_length";  // characters in a string dataset
constexpr std::size_t kRawMin = std::size_t{1} << 20;  // smaller arrays: H5Dwrite/H5Dread and one hash pass

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
    case ScalarType::Bool: return H5T_NATIVE_UINT8;
    case ScalarType::Char: return H5T_NATIVE_CHAR;
  }
  return H5T_NATIVE_UINT8;
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
  d.update_u64(data_hash);
}

// A table's record as an HDF5 compound type: the struct's own layout (offsets, padding), each member
// under its serialize() name, a fixed-size array member as an HDF5 array type. The file holds the
// records exactly as they are in memory, so they move as one block, past HDF5 when large.
constexpr const char* kFieldsAttr = "mpisnap_fields";  // "name<TAB>type" per line: bool and char, which HDF5 cannot tell apart
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

bool is_string_array(const Node& n) { return n.kind == Node::Kind::Array && n.type == ScalarType::Char; }

// What a walk over one file carries along.
struct Walk {
  const std::string& file;  // names the file in errors; raw I/O opens it once more
  Xxh64& digest;
  TreeStats& stats;
  bool direct_io;
};

// Large arrays go to and from the disk past HDF5 (raw_io.hpp), checksummed on the way.
bool raw_candidate(const Node& n) {
  return (n.kind == Node::Kind::Table || (n.kind == Node::Kind::Array && !is_string_array(n))) &&
         n.data.size() >= kRawMin;
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
  } else if (n.kind == Node::Kind::Table) {
    ty = table_type(n, ctx);
    mem_type = ty.get();
    const hsize_t dims[1] = {n.count};
    sp = h5::space(h5::check(H5Screate_simple(1, dims, nullptr), "H5Screate_simple", ctx));
  } else {
    const hsize_t dims[1] = {n.count};
    sp = h5::space(h5::check(H5Screate_simple(1, dims, nullptr), "H5Screate_simple", ctx));
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
    raw_hash = write_hashed({extent->fd, w.file, w.direct_io}, extent->offset, n.data.data(), n.data.size(), ctx).hash;
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
    std::string kinds;
    for (const Field& f : n.fields)
      if (f.type == ScalarType::Bool || f.type == ScalarType::Char) kinds += f.name + "\t" + to_string(f.type) + "\n";
    if (!kinds.empty()) h5::write_attr_string(ds.get(), kFieldsAttr, kinds, ctx);
  } else if (n.type == ScalarType::Bool) h5::write_attr_string(ds.get(), kTypeAttr, "bool", ctx);
  if (n.type == ScalarType::Char && n.kind == Node::Kind::Scalar) h5::write_attr_string(ds.get(), kTypeAttr, "char", ctx);
  const std::uint64_t h = raw_hash ? *raw_hash : Xxh64::hash(n.data.data(), n.data.size());
  h5::write_attr_u64(ds.get(), kChecksumAttr, h, ctx);
  ds.close(ctx);
  digest_node(w.digest, path, n, h);
  w.stats.datasets += 1;
  w.stats.bytes += n.data.size();
}

void write_group(hid_t where, const Node& node, const std::string& path, Walk& w) {
  for (const Node& c : node.children) {
    const std::string child_path = path + "/" + c.name;
    if (c.kind == Node::Kind::Group) {
      const std::string ctx = w.file + ":" + child_path;
      h5::Handle gcpl = h5::ordered_group_plist();
      h5::Handle g = h5::group(h5::check(H5Gcreate2(where, c.name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                                         "H5Gcreate2", ctx));
      if (c.has_size) h5::write_attr_u64(g.get(), kSizeAttr, c.size, ctx);
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
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT) {
    if (size == 4) return ScalarType::Float32;
    if (size == 8) return ScalarType::Float64;
  } else if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
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

Node read_leaf(hid_t where, const std::string& name, const std::string& path, Walk& w) {
  const std::string ctx = w.file + ":" + path;
  h5::Handle ds = h5::dataset(h5::check(H5Dopen2(where, name.c_str(), H5P_DEFAULT), "H5Dopen2", ctx));
  h5::Handle ty = h5::type(h5::check(H5Dget_type(ds.get()), "H5Dget_type", ctx));
  h5::Handle sp = h5::space(h5::check(H5Dget_space(ds.get()), "H5Dget_space", ctx));
  Node n;
  n.name = name;
  std::optional<std::uint64_t> raw_hash;  // computed while reading
  const int rank = h5::check(H5Sget_simple_extent_ndims(sp.get()), "H5Sget_simple_extent_ndims", ctx);
  if (H5Tget_class(ty.get()) == H5T_COMPOUND) {
    if (rank != 1) throw Error("mpisnap: dataset " + ctx + " is a table that is not one-dimensional");
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
      for (const char* kind : {"bool", "char"})
        if (kinds.find(f.name + "\t" + kind + "\n") != std::string::npos)
          f.type = std::string(kind) == "bool" ? ScalarType::Bool : ScalarType::Char;
      if (f.offset + f.count * size_of(f.type) > n.record_bytes)
        throw Error("mpisnap: dataset " + ctx + ": member " + f.name + " lies outside its record");
      n.fields.push_back(std::move(f));
    }
    hsize_t dims[1] = {0};
    H5Sget_simple_extent_dims(sp.get(), dims, nullptr);
    n.count = dims[0];
    n.data.resize(n.count * n.record_bytes);
    // The file's own type is the struct's layout (written so): read as it is, no conversion.
    const auto extent = raw_candidate(n) ? h5::raw_extent(ds.get(), ty.get(), n.data.size()) : std::nullopt;
    if (extent)
      raw_hash = read_hashed({extent->fd, w.file, w.direct_io}, extent->offset, n.data.data(), n.data.size(), ctx).hash;
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
    if (h5::has_attr(ds.get(), kTypeAttr)) {
      const std::string t = h5::read_attr_string(ds.get(), kTypeAttr, ctx);
      if (t == "bool") n.type = ScalarType::Bool;
      else if (t == "char") n.type = ScalarType::Char;
      else throw Error("mpisnap: dataset " + ctx + " has an unknown mpisnap_type '" + t + "'");
    }
    if (rank == 0) {
      n.kind = Node::Kind::Scalar;
      n.count = 1;
    } else if (rank == 1) {
      hsize_t dims[1] = {0};
      H5Sget_simple_extent_dims(sp.get(), dims, nullptr);
      n.kind = Node::Kind::Array;
      n.count = dims[0];
    } else {
      throw Error("mpisnap: dataset " + ctx + " has " + std::to_string(rank) + " dimensions; expected 0 or 1");
    }
    n.data.resize(n.count * size_of(n.type));
    // Large arrays bypass HDF5's read: read in pieces (from the disk straight into the buffer when
    // they can be), each hashed while the next one is read.
    const auto extent = raw_candidate(n) ? h5::raw_extent(ds.get(), native_type(n.type), n.data.size()) : std::nullopt;
    if (extent)
      raw_hash = read_hashed({extent->fd, w.file, w.direct_io}, extent->offset, n.data.data(), n.data.size(), ctx).hash;
    else if (!n.data.empty())
      h5::check(H5Dread(ds.get(), native_type(n.type), H5S_ALL, H5S_ALL, H5P_DEFAULT, n.data.data()),
                "H5Dread", ctx);
  }
  if (!h5::has_attr(ds.get(), kChecksumAttr))
    throw Error("mpisnap: dataset " + ctx + " has no checksum attribute");
  const std::uint64_t expected = h5::read_attr_u64(ds.get(), kChecksumAttr, ctx);
  const std::uint64_t actual = raw_hash ? *raw_hash : Xxh64::hash(n.data.data(), n.data.size());
  if (expected != actual)
    throw Error("mpisnap: checksum mismatch in " + ctx + " (stored " + std::to_string(expected) +
                ", computed " + std::to_string(actual) + "): the file is corrupt");
  digest_node(w.digest, path, n, actual);
  w.stats.datasets += 1;
  w.stats.bytes += n.data.size();
  return n;
}

void read_group(hid_t where, Node& into, const std::string& path, Walk& w) {
  const std::string& file = w.file;
  const std::string ctx = file + ":" + (path.empty() ? "/" : path);
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
      digest_node(w.digest, child_path, g, 0);
      read_group(gh.get(), g, child_path, w);
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
  read_group(where, root, "", w);
  return root;
}

}  // namespace mpisnap::storage
