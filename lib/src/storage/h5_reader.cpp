#include "storage/h5_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include <mpisnap/error.hpp>

#include "common/pages.hpp"
#include "storage/h5_writer.hpp"
#include "storage/raw_io.hpp"
#include "storage/tree_rules.hpp"

namespace mpisnap::storage {
namespace {

using namespace rules;

constexpr std::uint64_t kUndef = ~std::uint64_t{0};
constexpr std::size_t kFirstRead = std::size_t{64} << 10;
// A dataset's buffer of this many bytes or more is mapped in one call before it is filled.
constexpr std::size_t kMapFirst = std::size_t{64} << 10;

// Thrown inside when the file holds a structure read here does not read: the caller falls back to
// the HDF5 library.
struct Unsupported {};

// The bytes of one message or header, read with bounds checks. Past the end is a structure this
// reader does not know (the bytes passed their checksum).
struct Cursor {
  const std::uint8_t* p;
  std::size_t n;
  std::size_t i = 0;
  std::uint64_t u(int bytes) {
    need(static_cast<std::size_t>(bytes));
    std::uint64_t v = 0;
    for (int k = 0; k < bytes; ++k) v |= std::uint64_t{p[i + static_cast<std::size_t>(k)]} << (8 * k);
    i += static_cast<std::size_t>(bytes);
    return v;
  }
  void skip(std::uint64_t bytes) {
    need(bytes);
    i += static_cast<std::size_t>(bytes);
  }
  std::string cstr() {  // up to and past a NUL
    const void* end = i < n ? std::memchr(p + i, 0, n - i) : nullptr;
    if (!end) throw Unsupported{};
    std::string s(reinterpret_cast<const char*>(p + i), static_cast<const std::uint8_t*>(end) - (p + i));
    i += s.size() + 1;
    return s;
  }
  Cursor sub(std::uint64_t bytes) {
    need(bytes);
    Cursor c{p + i, static_cast<std::size_t>(bytes)};
    i += static_cast<std::size_t>(bytes);
    return c;
  }
  void need(std::uint64_t bytes) const {
    if (bytes > n - i) throw Unsupported{};
  }
  std::size_t left() const { return n - i; }
};

// A datatype message, decoded.
struct Type {
  enum Class { Fixed, Float, String, Compound, Enum, Array } cls = Fixed;
  std::uint64_t size = 0;
  bool is_signed = false;
  struct Member {
    std::string name;
    std::uint64_t offset;
    std::size_t type;  // in `owned`
  };
  std::vector<Member> members;        // Compound
  std::vector<Type> owned;            // (the members' and base types)
  std::vector<std::int64_t> values;   // Enum
  std::uint64_t count = 1;            // Array: elements of the base type
};

Type parse_type(Cursor& c) {
  const std::uint64_t head = c.u(1);
  const unsigned version = static_cast<unsigned>(head >> 4), cls = static_cast<unsigned>(head & 0x0f);
  const std::uint64_t bits = c.u(3);
  Type t;
  t.size = c.u(4);
  switch (cls) {
    case 0: {  // fixed-point, little-endian, all bits used
      t.cls = Type::Fixed;
      t.is_signed = (bits & 0x08) != 0;
      if ((bits & 0x01) || c.u(2) != 0 || c.u(2) != t.size * 8) throw Unsupported{};
      if (t.size != 1 && t.size != 2 && t.size != 4 && t.size != 8) throw Unsupported{};
      return t;
    }
    case 1: {  // IEEE float or double, little-endian
      t.cls = Type::Float;
      const bool dbl = t.size == 8;
      if (t.size != 4 && t.size != 8) throw Unsupported{};
      if ((bits & 0xff) != 0x20 || ((bits >> 8) & 0xff) != (dbl ? 63u : 31u)) throw Unsupported{};
      const std::uint64_t offset = c.u(2), precision = c.u(2), exp_at = c.u(1), exp_bits = c.u(1),
                          man_at = c.u(1), man_bits = c.u(1), bias = c.u(4);
      if (offset != 0 || precision != t.size * 8 || exp_at != (dbl ? 52u : 23u) || exp_bits != (dbl ? 11u : 8u) ||
          man_at != 0 || man_bits != (dbl ? 52u : 23u) || bias != (dbl ? 1023u : 127u))
        throw Unsupported{};
      return t;
    }
    case 3:  // fixed-length string
      t.cls = Type::String;
      return t;
    case 6: {  // compound, version 3 (unpadded names, offsets in the fewest bytes)
      if (version != 3) throw Unsupported{};
      t.cls = Type::Compound;
      const std::uint64_t members = bits & 0xffff;
      int width = 1;
      while (width < 4 && (t.size >> (8 * width)) != 0) ++width;
      for (std::uint64_t m = 0; m < members; ++m) {
        std::string name = c.cstr();
        const std::uint64_t offset = c.u(width);
        t.owned.push_back(parse_type(c));
        t.members.push_back({std::move(name), offset, t.owned.size() - 1});
      }
      return t;
    }
    case 8: {  // enumeration, version 3
      if (version != 3) throw Unsupported{};
      t.cls = Type::Enum;
      const std::uint64_t members = bits & 0xffff;
      t.owned.push_back(parse_type(c));
      const Type& base = t.owned[0];
      if (base.cls != Type::Fixed || base.size != t.size) throw Unsupported{};
      for (std::uint64_t m = 0; m < members; ++m) c.cstr();
      for (std::uint64_t m = 0; m < members; ++m) {
        std::uint64_t v = c.u(static_cast<int>(base.size));
        if (base.is_signed && base.size < 8 && (v >> (8 * base.size - 1)) & 1) v |= ~std::uint64_t{0} << (8 * base.size);
        t.values.push_back(static_cast<std::int64_t>(v));
      }
      return t;
    }
    case 10: {  // array, version 3, one dimension (a table's fixed-size array member)
      if (version != 3) throw Unsupported{};
      t.cls = Type::Array;
      if (c.u(1) != 1) throw Unsupported{};
      t.count = c.u(4);
      t.owned.push_back(parse_type(c));
      if (t.owned[0].cls == Type::Compound || t.owned[0].cls == Type::Array ||
          t.owned[0].size * t.count != t.size)
        throw Unsupported{};
      return t;
    }
    default:  // variable-length, time, bitfield, opaque, reference
      throw Unsupported{};
  }
}

bool bool_enum(const Type& t) {
  return t.cls == Type::Enum && t.size == 1 && t.values.size() == 2 && t.values[0] == 0 && t.values[1] == 1;
}

// tree_io's scalar_type_from, over a decoded type.
ScalarType scalar_of(const Type& t, const std::string& ctx) {
  if (bool_enum(t)) return ScalarType::Bool;
  const NumberClass number = t.cls == Type::Float ? NumberClass::Float : t.cls == Type::Fixed ? NumberClass::Integer : NumberClass::Other;
  return number_type(number, t.is_signed, t.size, ctx);
}

struct Space {
  bool scalar = true;
  std::vector<std::uint64_t> dims;
};

Space parse_space(Cursor& c) {
  if (c.u(1) != 2) throw Unsupported{};
  const std::uint64_t rank = c.u(1), flags = c.u(1), kind = c.u(1);
  Space s;
  if (kind == 0 && rank == 0) return s;
  if (kind != 1) throw Unsupported{};  // (a null dataspace)
  s.scalar = false;
  for (std::uint64_t d = 0; d < rank; ++d) s.dims.push_back(c.u(8));
  if (flags & 1) c.skip(8 * rank);  // maximum dimensions
  return s;
}

struct Attr {
  Type type;
  Space space;
  Cursor value{nullptr, 0};
};

// What one object header says.
struct Header {
  bool group = false, dataset = false;
  std::vector<std::pair<std::uint64_t, std::pair<std::string, std::uint64_t>>> links;  // order, (name, address)
  std::vector<std::pair<std::string, Attr>> attrs;
  Type type;
  Space space;
  bool have_type = false, have_space = false, have_layout = false;
  std::uint64_t data_addr = kUndef, data_bytes = 0;
  std::vector<std::uint8_t> bytes;               // the header (attributes point into it)
  std::vector<std::vector<std::uint8_t>> more;   // its continuation chunks (likewise)

  const Attr* attr(const char* name) const {
    for (const auto& [n, a] : attrs)
      if (n == name) return &a;
    return nullptr;
  }
};

class Reader {
 public:
  using Buffer = std::vector<std::uint8_t, UninitAllocator<std::uint8_t>>;
  Reader(std::string path, int fd, std::uint64_t size, bool direct_io, Buffer& buffer)
      : path_(std::move(path)), fd_(fd), size_(size), direct_io_(direct_io), have_(buffer) {
    have_.clear();
  }

  // Makes [addr, addr + n) of the file available; a file that ends before is truncated.
  const std::uint8_t* at(std::uint64_t addr, std::uint64_t n) {
    if (addr > size_ || n > size_ - addr)
      throw Error("mpisnap: " + path_ + " is truncated: it has " + std::to_string(size_) + " bytes, its structure reaches byte " +
                  std::to_string(addr + n));
    if (addr + n > have_.size()) {
      const std::uint64_t want = std::min<std::uint64_t>(size_, std::max<std::uint64_t>(addr + n, 2 * have_.size()));
      const std::size_t from = have_.size();
      have_.resize(static_cast<std::size_t>(want));
      std::size_t got = from;
      while (got < have_.size()) {
        const ssize_t r = ::pread(fd_, have_.data() + got, have_.size() - got, static_cast<off_t>(got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw Error("mpisnap: cannot read " + path_ + ": " + std::strerror(errno));
        if (r == 0) throw Error("mpisnap: " + path_ + " is truncated: it ends at byte " + std::to_string(got));
        got += static_cast<std::size_t>(r);
      }
    }
    return have_.data() + addr;
  }
  void first_read(std::uint64_t n) { at(0, std::min(n, size_)); }

  Header header(std::uint64_t addr, const std::string& where) {
    // Each header once: links that reach one object twice (a group linking back to an ancestor, or
    // to one subtree many times) are not a tree, and mpisnap writes none.
    if (!seen_.insert(addr).second)
      throw Error("mpisnap: " + path_ + ":" + where +
                  " links to an object reached before: the file is corrupt (its groups are not a tree)");
    const std::uint8_t* p = at(addr, 6);
    if (std::memcmp(p, "OHDR", 4) != 0 || p[4] != 2) throw Unsupported{};  // (version 1 headers)
    const unsigned flags = p[5];
    std::uint64_t prefix = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    const int width = 1 << (flags & 0x03);
    const std::uint8_t* q = at(addr, prefix + static_cast<std::uint64_t>(width));
    std::uint64_t chunk = 0;
    for (int k = 0; k < width; ++k) chunk |= std::uint64_t{q[prefix + static_cast<std::uint64_t>(k)]} << (8 * k);
    prefix += static_cast<std::uint64_t>(width);
    const std::uint64_t total = prefix + chunk + 4;
    if (chunk > size_) throw Error("mpisnap: " + path_ + ": the object header of " + where + " is corrupt");
    Header h;
    const std::uint8_t* all = at(addr, total);
    h.bytes.assign(all, all + total);
    std::uint32_t stored = 0;
    std::memcpy(&stored, h.bytes.data() + total - 4, 4);
    if (h5format::lookup3(h.bytes.data(), static_cast<std::size_t>(total - 4)) != stored)
      throw Error("mpisnap: " + path_ + ": the object header of " + where + " (address " + std::to_string(addr) +
                  ") is corrupt: checksum mismatch");
    // The header's messages, then those of each continuation chunk ("OCHK", as the library adds
    // them when an object grows after it was made).
    std::vector<std::pair<std::uint64_t, std::uint64_t>> chunks = {{addr + prefix, chunk}};
    std::vector<std::vector<std::uint8_t>> more;  // (the continuation chunks' bytes)
    for (std::size_t k = 0; k < chunks.size(); ++k) {
      if (k > 0) {
        const auto [at_addr, len] = chunks[k];
        if (len < 8) throw Unsupported{};
        const std::uint8_t* b = at(at_addr, len);
        more.emplace_back(b, b + len);
        std::uint32_t sum = 0;
        std::memcpy(&sum, more.back().data() + len - 4, 4);
        if (std::memcmp(more.back().data(), "OCHK", 4) != 0 ||
            h5format::lookup3(more.back().data(), static_cast<std::size_t>(len - 4)) != sum)
          throw Error("mpisnap: " + path_ + ": the object header of " + where + " (continued at address " +
                      std::to_string(at_addr) + ") is corrupt: checksum mismatch");
      }
      Cursor c = k == 0 ? Cursor{h.bytes.data() + prefix, static_cast<std::size_t>(chunk)}
                        : Cursor{more.back().data() + 4, static_cast<std::size_t>(chunks[k].second - 8)};
      messages(c, flags, h, chunks);
    }
    h.dataset = h.have_type && h.have_space && h.have_layout;
    if (h.group == h.dataset) throw Unsupported{};
    std::sort(h.links.begin(), h.links.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    h.more = std::move(more);
    return h;
  }

  // One chunk's messages into `h` (a continuation message adds a chunk to `chunks`).
  void messages(Cursor& c, unsigned flags, Header& h, std::vector<std::pair<std::uint64_t, std::uint64_t>>& chunks) {
    const std::size_t msg_head = (flags & 0x04) ? 6 : 4;
    while (c.left() >= msg_head) {
      const unsigned type = static_cast<unsigned>(c.u(1));
      const std::uint64_t len = c.u(2);
      const unsigned mflags = static_cast<unsigned>(c.u(1));
      if (flags & 0x04) c.skip(2);
      Cursor m = c.sub(len);
      if (mflags & 0x02) throw Unsupported{};  // a shared message
      switch (type) {
        case 0x00:  // null
        case 0x05:  // fill value
        case 0x0A:  // group info
        case 0x12:  // modification time
        case 0x16:  // reference count (an object with more than one hard link: refused as not a tree)
          break;
        case 0x01:
          h.space = parse_space(m);
          h.have_space = true;
          break;
        case 0x03:
          h.type = parse_type(m);
          h.have_type = true;
          break;
        case 0x08: {
          if (m.u(1) != 3 || m.u(1) != 1) throw Unsupported{};  // contiguous, version 3
          h.data_addr = m.u(8);
          h.data_bytes = m.u(8);
          h.have_layout = true;
          break;
        }
        case 0x02: {  // link info: links in the header, not in a fractal heap
          if (m.u(1) != 0) throw Unsupported{};
          const std::uint64_t lf = m.u(1);
          if (lf & 1) m.skip(8);
          if (m.u(8) != kUndef) throw Unsupported{};
          h.group = true;
          break;
        }
        case 0x06: {  // a hard link with its creation order
          if (m.u(1) != 1) throw Unsupported{};
          const std::uint64_t lf = m.u(1);
          if ((lf & 0x08) && m.u(1) != 0) throw Unsupported{};  // soft or external
          if (!(lf & 0x04)) throw Unsupported{};                 // (no creation order: the library orders by name)
          const std::uint64_t order = m.u(8);
          if (lf & 0x10) m.skip(1);
          const std::uint64_t name_bytes = m.u(1 << (lf & 0x03));
          m.need(name_bytes);
          std::string name(reinterpret_cast<const char*>(m.p + m.i), static_cast<std::size_t>(name_bytes));
          m.skip(name_bytes);
          h.links.push_back({order, {std::move(name), m.u(8)}});
          break;
        }
        case 0x0C: {  // an attribute, version 3
          if (m.u(1) != 3 || (m.u(1) & 0x03)) throw Unsupported{};
          const std::uint64_t name_bytes = m.u(2), type_bytes = m.u(2), space_bytes = m.u(2);
          m.skip(1);
          Cursor nm = m.sub(name_bytes);
          std::string name = nm.cstr();
          Cursor tc = m.sub(type_bytes), sc = m.sub(space_bytes);
          Attr a;
          a.type = parse_type(tc);
          a.space = parse_space(sc);
          std::uint64_t count = 1;
          for (std::uint64_t d : a.space.dims) count *= d;
          a.value = m.sub(count * a.type.size);
          h.attrs.emplace_back(std::move(name), std::move(a));
          break;
        }
        case 0x15: {  // attribute info: only where attributes are in the header
          if (m.u(1) != 0) throw Unsupported{};
          const std::uint64_t af = m.u(1);
          if (af & 1) m.skip(2);
          if (m.u(8) != kUndef) throw Unsupported{};
          break;
        }
        case 0x10: {  // continuation
          const std::uint64_t where = m.u(8), len = m.u(8);
          if (chunks.size() > 64) throw Unsupported{};
          chunks.emplace_back(where, len);
          break;
        }
        default:  // symbol table, filters, ...: left to the HDF5 library
          throw Unsupported{};
      }
    }
  }

  std::uint64_t attr_u64(const Header& h, const char* name, const std::string& ctx) {
    const Attr* a = h.attr(name);
    if (!a) throw Error("mpisnap: " + ctx + " has no attribute " + name);
    if (a->type.cls != Type::Fixed || !a->space.dims.empty()) throw Unsupported{};
    Cursor v = a->value;
    return v.u(static_cast<int>(a->type.size));
  }
  std::vector<std::uint64_t> attr_u64s(const Header& h, const char* name, const std::string& ctx) {
    const Attr* a = h.attr(name);
    if (!a) throw Error("mpisnap: " + ctx + " has no attribute " + name);
    if (a->type.cls != Type::Fixed) throw Unsupported{};
    std::uint64_t n = 1;
    for (std::uint64_t d : a->space.dims) n *= d;
    if (n > 64) throw Error("mpisnap: attribute " + std::string(name) + " of " + ctx + " has " + std::to_string(n) + " values");
    Cursor v = a->value;
    std::vector<std::uint64_t> out;
    for (std::uint64_t k = 0; k < n; ++k) out.push_back(v.u(static_cast<int>(a->type.size)));
    return out;
  }
  std::string attr_string(const Header& h, const char* name, const std::string& ctx) {
    const Attr* a = h.attr(name);
    if (!a || a->type.cls != Type::String)
      throw Error("mpisnap: attribute " + std::string(name) + " of " + ctx + " is not a fixed string");
    const char* s = reinterpret_cast<const char*>(a->value.p);
    return std::string(s, strnlen(s, a->value.n));
  }

  void group(const Header& h, Node& into, const std::string& path, Xxh64& digest, TreeStats& stats,
             std::size_t depth) {
    if (depth > kMaxDepth)
      throw Error("mpisnap: " + path_ + ":" + path + " nests groups deeper than " + std::to_string(kMaxDepth) +
                  " levels: the file is corrupt (mpisnap writes none that deep)");
    for (const auto& [order, link] : h.links) {
      const auto& [name, addr] = link;
      const std::string child_path = path + "/" + name;
      const Header c = header(addr, child_path);
      if (c.group) {
        Node g;
        g.name = name;
        g.kind = Node::Kind::Group;
        const std::string ctx = path_ + ":" + child_path;
        if (c.attr(kSizeAttr)) {
          g.has_size = true;
          g.size = attr_u64(c, kSizeAttr, ctx);
        }
        if (c.attr(kRoleAttr)) g.role = attr_string(c, kRoleAttr, ctx);
        digest_node(digest, child_path, g, 0);
        group(c, g, child_path, digest, stats, depth + 1);
        into.children.push_back(std::move(g));
      } else {
        into.children.push_back(dataset(c, name, child_path, digest, stats));
      }
    }
  }

  Node dataset(const Header& h, const std::string& name, const std::string& path, Xxh64& digest, TreeStats& stats) {
    const std::string ctx = path_ + ":" + path;
    Node n;
    n.name = name;
    const Type& t = h.type;
    std::uint64_t stored = 0;  // bytes the dataset holds
    if (t.cls == Type::String) {
      if (!h.attr(kLengthAttr)) throw Error("mpisnap: dataset " + ctx + " is a string without its length attribute");
      n.kind = Node::Kind::Array;
      n.type = ScalarType::Char;
      n.count = attr_u64(h, kLengthAttr, ctx);
      if (!h.space.scalar || t.size != (n.count ? n.count : 1))
        throw Error("mpisnap: dataset " + ctx + " has a string length that does not match its attribute");
      stored = t.size;
    } else if (t.cls == Type::Compound) {
      if (h.space.scalar) throw Error("mpisnap: dataset " + ctx + " is a table of no dimension");
      n.kind = Node::Kind::Table;
      n.record_bytes = static_cast<std::uint32_t>(t.size);
      const std::string kinds = h.attr(kFieldsAttr) ? attr_string(h, kFieldsAttr, ctx) : "";
      for (const Type::Member& m : t.members) {
        const Type& mt = t.owned[m.type];
        Field f;
        f.name = m.name;
        f.offset = static_cast<std::uint32_t>(m.offset);
        if (mt.cls == Type::Array) {
          f.count = static_cast<std::uint32_t>(mt.count);
          f.type = scalar_of(mt.owned[0], ctx + " member " + f.name);
        } else {
          f.type = scalar_of(mt, ctx + " member " + f.name);
        }
        settle_member(kinds, n.record_bytes, f, ctx);
        n.fields.push_back(std::move(f));
      }
      dims(h.space, n, ctx);
      stored = n.count * n.record_bytes;
    } else {
      if (t.cls == Type::Array) throw Unsupported{};
      n.type = scalar_of(t, ctx);
      if (h.attr(kTypeAttr)) n.type = marked_type(attr_string(h, kTypeAttr, ctx), ctx);
      // (A type of another size than the node's - bytes marked bool before format 1.3 are 1 byte
      // either way - would need a conversion: the library's.)
      if (size_of(n.type) != t.size) throw Unsupported{};
      if (h.space.scalar) {
        n.kind = Node::Kind::Scalar;
        n.count = 1;
      } else {
        n.kind = Node::Kind::Array;
        dims(h.space, n, ctx);
      }
      stored = n.count * size_of(n.type);
    }
    if (stored && (h.data_addr == kUndef || h.data_bytes != stored)) throw Unsupported{};  // (fill values: the library's)
    n.data.resize(static_cast<std::size_t>(stored));
    std::uint64_t hash = 0;
    if (raw_candidate(n)) {
      if (h.data_addr > size_ || stored > size_ - h.data_addr)
        throw Error("mpisnap: " + path_ + " is truncated: it has " + std::to_string(size_) + " bytes, " + path +
                    " reaches byte " + std::to_string(h.data_addr + stored));
      const RawTransfer r = read_hashed({fd_, path_, direct_io_}, h.data_addr, n.data.data(), n.data.size(), ctx);
      hash = r.hash;
      stats.direct_bytes += r.direct_bytes;
    } else if (stored) {
      const std::uint8_t* from = at(h.data_addr, stored);
      if (stored >= kMapFirst) map_pages(n.data.data(), n.data.size());  // (fresh memory: common/pages.hpp)
      std::memcpy(n.data.data(), from, static_cast<std::size_t>(stored));
    }
    if (t.cls == Type::String) n.data.resize(n.count);
    if (h.attr(kOffsetAttr) || h.attr(kExtentAttr)) {
      n.global_offset = attr_u64s(h, kOffsetAttr, ctx);
      n.global_extent = attr_u64s(h, kExtentAttr, ctx);
      check_global_place(n, ctx);
    }
    if (!h.attr(kChecksumAttr)) throw Error("mpisnap: dataset " + ctx + " has no checksum attribute");
    const std::uint64_t expected = attr_u64(h, kChecksumAttr, ctx);
    if (!raw_candidate(n)) hash = Xxh64::hash(n.data.data(), n.data.size());
    check_checksum(expected, hash, ctx);
    digest_node(digest, path, n, hash);
    stats.datasets += 1;
    stats.bytes += n.data.size();
    return n;
  }

  static void dims(const Space& s, Node& n, const std::string& ctx) { set_dims(n, s.dims, ctx); }

  std::uint64_t size() const { return size_; }

 private:
  std::string path_;
  std::unordered_set<std::uint64_t> seen_;  // the headers linked so far
  int fd_;
  std::uint64_t size_;
  bool direct_io_;
  Buffer& have_;  // the file's first bytes (all of it when it is small)
};

}  // namespace

std::optional<PlainFile> read_plain_file(const std::string& path, Xxh64& digest, TreeStats& stats, bool direct_io) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw Error("mpisnap: " + path + " is missing");
    throw Error("mpisnap: cannot open " + path + ": " + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw Error("mpisnap: cannot stat " + path + ": " + std::strerror(errno));
  // Read into a buffer this thread keeps: a reader of many files (the global state of each
  // checkpoint, `mpisnap verify`) reads into memory already mapped.
  thread_local Reader::Buffer buffer;
  struct Trim {
    Reader::Buffer& b;
    ~Trim() {
      if (b.capacity() > kRawMin) Reader::Buffer().swap(b);
    }
  } trim{buffer};
  Reader r(path, fd, static_cast<std::uint64_t>(st.st_size), direct_io, buffer);
  // The whole file at once when it is too small to hold an array that is read past the metadata;
  // else its start (the headers, and the small datasets' bytes after them).
  r.first_read(r.size() < kRawMin ? r.size() : kFirstRead);
  Xxh64 d = digest;  // (the caller's, only once the whole file is read)
  TreeStats s = stats;
  try {
    const std::uint8_t* sb = r.at(0, 48);
    if (std::memcmp(sb, "\x89HDF\r\n\x1a\n", 8) != 0)
      throw Error("mpisnap: " + path + " is not an HDF5 file");
    if (sb[8] != 2 || sb[9] != 8 || sb[10] != 8) return std::nullopt;  // another superblock: the library's
    std::uint32_t stored = 0;
    std::memcpy(&stored, sb + 44, 4);
    if (h5format::lookup3(sb, 44) != stored) throw Error("mpisnap: " + path + ": its superblock is corrupt: checksum mismatch");
    Cursor c{sb + 11, 33};
    c.skip(1);  // consistency flags
    const std::uint64_t base = c.u(8), ext = c.u(8), eof = c.u(8), root = c.u(8);
    if (base != 0 || ext != kUndef) return std::nullopt;
    if (eof > r.size())
      throw Error("mpisnap: " + path + " is truncated: it has " + std::to_string(r.size()) + " bytes of " + std::to_string(eof));
    const Header h = r.header(root, "/");
    if (!h.group) return std::nullopt;
    PlainFile out;
    out.root.kind = Node::Kind::Group;
    for (const auto& [name, a] : h.attrs)
      if (a.type.cls == Type::Fixed && a.space.dims.empty()) {
        Cursor v = a.value;
        out.root_attrs.emplace_back(name, v.u(static_cast<int>(a.type.size)));
      }
    r.group(h, out.root, "", d, s, 0);
    digest = d;
    stats = s;
    return out;
  } catch (const Unsupported&) {
    return std::nullopt;
  }
}

}  // namespace mpisnap::storage
