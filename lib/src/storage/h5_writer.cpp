#include "storage/h5_writer.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <mpisnap/error.hpp>

#include "storage/fs.hpp"
#include "storage/raw_io.hpp"
#include "storage/tree_rules.hpp"

namespace mpisnap::storage {

namespace h5format {

namespace {
inline std::uint32_t rot(std::uint32_t x, int k) noexcept { return (x << k) | (x >> (32 - k)); }
inline std::uint32_t word(const std::uint8_t* k) noexcept {
  return std::uint32_t{k[0]} | std::uint32_t{k[1]} << 8 | std::uint32_t{k[2]} << 16 | std::uint32_t{k[3]} << 24;
}
}  // namespace

std::uint32_t lookup3(const void* data, std::size_t n) noexcept {
  const auto* k = static_cast<const std::uint8_t*>(data);
  std::uint32_t a = 0xdeadbeefu + static_cast<std::uint32_t>(n);
  std::uint32_t b = a, c = a;
  for (; n > 12; n -= 12, k += 12) {
    a += word(k);
    b += word(k + 4);
    c += word(k + 8);
    a -= c; a ^= rot(c, 4);  c += b;
    b -= a; b ^= rot(a, 6);  a += c;
    c -= b; c ^= rot(b, 8);  b += a;
    a -= c; a ^= rot(c, 16); c += b;
    b -= a; b ^= rot(a, 19); a += c;
    c -= b; c ^= rot(b, 4);  b += a;
  }
  if (n == 0) return c;
  // The last 1-12 bytes, zero-padded: bytes 0-3 into a, 4-7 into b, 8-11 into c.
  std::uint8_t tail[12] = {};
  std::memcpy(tail, k, n);
  a += word(tail);
  b += word(tail + 4);
  c += word(tail + 8);
  c ^= b; c -= rot(b, 14);
  a ^= c; a -= rot(c, 11);
  b ^= a; b -= rot(a, 25);
  c ^= b; c -= rot(b, 16);
  a ^= c; a -= rot(c, 4);
  b ^= a; b -= rot(a, 14);
  c ^= b; c -= rot(b, 24);
  return c;
}

}  // namespace h5format

namespace {

using namespace rules;

constexpr std::uint64_t kUndef = ~std::uint64_t{0};  // HDF5's undefined address
constexpr std::size_t kSuperblockBytes = 48;
// A group with more members than this is left to the HDF5 library, which indexes its links (here
// they are messages in the group's header, which a reader searches one by one for each name).
constexpr std::size_t kMaxCompactLinks = kMaxPlainLinks;
constexpr std::size_t kMaxMessage = 65535;  // a message's size is a 16-bit field

// Little-endian encoding into a byte vector.
struct Out {
  std::vector<std::uint8_t> b;
  void u8(unsigned v) { b.push_back(static_cast<std::uint8_t>(v)); }
  void u16(std::uint64_t v) { le(v, 2); }
  void u32(std::uint64_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void le(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void bytes(const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    b.insert(b.end(), c, c + n);
  }
  void cstr(const std::string& s) {  // with its terminating NUL
    bytes(s.data(), s.size());
    u8(0);
  }
  void append(const std::vector<std::uint8_t>& o) { b.insert(b.end(), o.begin(), o.end()); }
};

// ---- datatype messages (HDF5 format spec IV.A.2.d); atomic types as version 1, others version 3

void fixed_type(Out& o, std::size_t size, bool is_signed) {
  o.u8(0x10);                      // version 1, class 0 (fixed-point)
  o.u8(is_signed ? 0x08 : 0x00);   // little-endian, zero padding, signed or not
  o.u8(0);
  o.u8(0);
  o.u32(size);
  o.u16(0);                        // bit offset
  o.u16(size * 8);                 // precision
}

void float_type(Out& o, bool dbl) {
  o.u8(0x11);                      // version 1, class 1 (floating point)
  o.u8(0x20);                      // little-endian, mantissa normalized with an implied 1
  o.u8(dbl ? 63 : 31);             // sign bit
  o.u8(0);
  o.u32(dbl ? 8 : 4);
  o.u16(0);                        // bit offset
  o.u16(dbl ? 64 : 32);            // precision
  o.u8(dbl ? 52 : 23);             // exponent location
  o.u8(dbl ? 11 : 8);              // exponent size
  o.u8(0);                         // mantissa location
  o.u8(dbl ? 52 : 23);             // mantissa size
  o.u32(dbl ? 1023 : 127);         // exponent bias
}

void string_type(Out& o, std::uint64_t size) {
  o.u8(0x13);                      // version 1, class 3 (string)
  o.u8(0x01);                      // padded with NULs, ASCII
  o.u8(0);
  o.u8(0);
  o.u32(size);
}

// Booleans as tree_io writes them (and h5py): an enum of FALSE = 0, TRUE = 1 over a signed byte.
void bool_type(Out& o) {
  o.u8(0x38);                      // version 3, class 8 (enumeration)
  o.u16(2);                        // members
  o.u8(0);
  o.u32(1);
  fixed_type(o, 1, true);
  o.cstr("FALSE");
  o.cstr("TRUE");
  o.u8(0);
  o.u8(1);
}

void scalar_type(Out& o, ScalarType t) {
  switch (t) {
    case ScalarType::Int8: return fixed_type(o, 1, true);
    case ScalarType::UInt8: return fixed_type(o, 1, false);
    case ScalarType::Int16: return fixed_type(o, 2, true);
    case ScalarType::UInt16: return fixed_type(o, 2, false);
    case ScalarType::Int32: return fixed_type(o, 4, true);
    case ScalarType::UInt32: return fixed_type(o, 4, false);
    case ScalarType::Int64: return fixed_type(o, 8, true);
    case ScalarType::UInt64: return fixed_type(o, 8, false);
    case ScalarType::Float32: return float_type(o, false);
    case ScalarType::Float64: return float_type(o, true);
    case ScalarType::Bool: return bool_type(o);
    case ScalarType::Char: return fixed_type(o, 1, true);  // the C compiler's char: a signed byte here
  }
}

// A table's record: a compound type of the struct's layout, a fixed-size array member as an array.
void table_type(Out& o, const Node& n) {
  o.u8(0x36);                      // version 3, class 6 (compound)
  o.u16(n.fields.size());          // members
  o.u8(0);
  o.u32(n.record_bytes);
  int offset_bytes = 1;            // the fewest bytes that hold the record's size
  while (offset_bytes < 4 && (std::uint64_t{n.record_bytes} >> (8 * offset_bytes)) != 0) ++offset_bytes;
  for (const Field& f : n.fields) {
    o.cstr(f.name);
    o.le(f.offset, offset_bytes);
    if (f.count > 1) {
      o.u8(0x3a);                  // version 3, class 10 (array)
      o.u8(0);
      o.u8(0);
      o.u8(0);
      o.u32(std::uint64_t{f.count} * size_of(f.type));
      o.u8(1);                     // one dimension
      o.u32(f.count);
    }
    scalar_type(o, f.type);
  }
}

// ---- other messages

void scalar_space(Out& o) {
  o.u8(2);  // version 2
  o.u8(0);  // no dimension
  o.u8(0);  // no maximum dimensions
  o.u8(0);  // scalar
}

void simple_space(Out& o, const std::vector<std::uint64_t>& dims) {
  o.u8(2);
  o.u8(static_cast<unsigned>(dims.size()));
  o.u8(0);
  o.u8(1);  // simple
  for (std::uint64_t d : dims) o.u64(d);
}

struct Attr {
  std::string name;
  std::vector<std::uint8_t> type, space, value;
};

Attr u64_attr(std::string name, std::uint64_t v) {
  Attr a;
  a.name = std::move(name);
  Out t, s, val;
  fixed_type(t, 8, false);
  scalar_space(s);
  val.u64(v);
  a.type = std::move(t.b);
  a.space = std::move(s.b);
  a.value = std::move(val.b);
  return a;
}

Attr u64s_attr(std::string name, const std::vector<std::uint64_t>& v) {
  Attr a;
  a.name = std::move(name);
  Out t, s, val;
  fixed_type(t, 8, false);
  simple_space(s, {v.size()});
  for (std::uint64_t x : v) val.u64(x);
  a.type = std::move(t.b);
  a.space = std::move(s.b);
  a.value = std::move(val.b);
  return a;
}

Attr string_attr(std::string name, const std::string& v) {  // as h5::write_attr_string: fixed length, NUL-padded
  Attr a;
  a.name = std::move(name);
  Out t, s;
  string_type(t, v.empty() ? 1 : v.size());
  scalar_space(s);
  a.type = std::move(t.b);
  a.space = std::move(s.b);
  a.value.assign(v.begin(), v.end());
  if (v.empty()) a.value.push_back(0);
  return a;
}

void attr_message(Out& o, const Attr& a) {
  o.u8(3);                        // version 3
  o.u8(0);                        // flags
  o.u16(a.name.size() + 1);
  o.u16(a.type.size());
  o.u16(a.space.size());
  o.u8(0);                        // name in ASCII
  o.cstr(a.name);
  o.append(a.type);
  o.append(a.space);
  o.append(a.value);
}

// One object of the file: a group or a dataset, with its header's place and size.
struct Obj {
  const Node* node = nullptr;     // null: the root group, or the group of external links
  std::string name;               // the link's name in its parent
  std::string path;               // "/state/x" (digests and error messages)
  bool group = true;
  std::vector<std::size_t> links; // a group's members (object indices), in creation order
  std::vector<std::pair<std::string, std::string>> external;  // then its external links: name, file
  std::vector<Attr> attrs;        // a dataset's checksum is added when its header is encoded
  std::vector<std::uint8_t> type, space;
  const std::byte* data = nullptr;  // a dataset's bytes as the file holds them
  std::uint64_t bytes = 0;
  bool raw = false;               // written past the metadata through raw_io
  std::uint64_t hash = 0;
  std::uint64_t addr = 0;
  std::uint64_t data_addr = kUndef;
  std::size_t header_bytes = 0;
};

// A message: type, size, flags, then the message. (can_write_plain keeps every message under the
// 16-bit size; one over it would be a corrupt file, so it is refused here too.)
void message(Out& o, unsigned type, const std::vector<std::uint8_t>& body, unsigned flags = 0) {
  if (body.size() > kMaxMessage) throw Error("mpisnap: internal: an HDF5 message of " + std::to_string(body.size()) + " bytes");
  o.u8(type);
  o.u16(body.size());
  o.u8(flags);
  o.append(body);
}

// The object header (version 2) of `ob`, at its final address when `objs` carry their addresses.
std::vector<std::uint8_t> header(const Obj& ob, const std::vector<Obj>& objs) {
  Out m;  // the messages
  if (ob.group) {
    Out linfo;
    linfo.u8(0);                  // version 0
    linfo.u8(0x03);               // creation order tracked and indexed (as ordered_group_plist)
    linfo.u64(ob.links.size() + ob.external.size());  // the next creation order
    linfo.u64(kUndef);            // no fractal heap: the links are messages here
    linfo.u64(kUndef);            // no name index
    linfo.u64(kUndef);            // no creation order index
    message(m, 0x02, linfo.b);
    message(m, 0x0A, {0, 0});     // group info, version 0, defaults
    const std::size_t members = ob.links.size() + ob.external.size();
    for (std::size_t i = 0; i < members; ++i) {
      const bool hard = i < ob.links.size();
      const std::string& name = hard ? objs[ob.links[i]].name : ob.external[i - ob.links.size()].first;
      Out link;
      link.u8(1);                 // version 1
      const bool long_name = name.size() > 255;
      // The name's length in 1 or 2 bytes; creation order present; a link type (external) present.
      link.u8((long_name ? 0x01 : 0x00) | 0x04 | (hard ? 0x00 : 0x08));
      if (!hard) link.u8(64);     // external
      link.u64(i);
      link.le(name.size(), long_name ? 2 : 1);
      link.bytes(name.data(), name.size());
      if (hard) {
        link.u64(objs[ob.links[i]].addr);
      } else {                    // version 0, then the file's name and the object's path there
        const std::string& file = ob.external[i - ob.links.size()].second;
        link.u16(1 + file.size() + 1 + 2);
        link.u8(0);
        link.cstr(file);
        link.cstr("/");
      }
      message(m, 0x06, link.b);
    }
  } else {
    message(m, 0x01, ob.space);
    message(m, 0x03, ob.type, 0x01);  // (constant, as the library marks a dataset's type)
    Out fill;
    fill.u8(3);                   // version 3; allocation and fill times as tree_io asks for them
    fill.u8(ob.raw ? (0x01 | 0x01 << 2) : (0x02 | 0x02 << 2));  // early/never, or late/if set
    message(m, 0x05, fill.b);
    Out layout;
    layout.u8(3);                 // version 3
    layout.u8(1);                 // contiguous
    layout.u64(ob.bytes ? ob.data_addr : kUndef);
    layout.u64(ob.bytes);
    message(m, 0x08, layout.b);
  }
  for (const Attr& a : ob.attrs) {
    Out body;
    attr_message(body, a);
    message(m, 0x0C, body.b);
  }
  if (!ob.group) {
    Out body;
    attr_message(body, u64_attr(kChecksumAttr, ob.hash));
    message(m, 0x0C, body.b);
  }
  Out h;
  h.bytes("OHDR", 4);
  h.u8(2);                        // version 2
  const std::size_t n = m.b.size();
  const int width = n <= 0xff ? 1 : n <= 0xffff ? 2 : 4;
  h.u8(width == 1 ? 0 : width == 2 ? 1 : 2);  // flags: the width of the chunk's size, nothing else
  h.le(n, width);
  h.append(m.b);
  h.u32(h5format::lookup3(h.b.data(), h.b.size()));
  return std::move(h.b);
}

// ---- the tree as objects

struct Builder {
  std::vector<Obj> objs;

  std::size_t add_group(const Node& g, const std::string& path) {
    const std::size_t me = objs.size();
    objs.emplace_back();
    objs[me].node = &g;
    objs[me].name = g.name;
    objs[me].path = path;
    if (g.has_size) objs[me].attrs.push_back(u64_attr(kSizeAttr, g.size));
    if (!g.role.empty()) objs[me].attrs.push_back(string_attr(kRoleAttr, g.role));
    add_members(me, g, path);
    return me;
  }

  void add_members(std::size_t parent, const Node& g, const std::string& path) {
    for (const Node& c : g.children) {
      const std::string p = path + "/" + c.name;
      const std::size_t child = c.kind == Node::Kind::Group ? add_group(c, p) : add_dataset(c, p);
      objs[parent].links.push_back(child);
    }
  }

  std::size_t add_dataset(const Node& n, const std::string& path) {
    static const std::byte kNul{0};
    Obj ob;
    ob.node = &n;
    ob.name = n.name;
    ob.path = path;
    ob.group = false;
    Out t, s;
    std::uint64_t expected = n.data.size();
    if (is_string_array(n)) {  // a fixed-length string of its characters (one NUL when empty)
      string_type(t, n.count ? n.count : 1);
      scalar_space(s);
      expected = n.count;
      ob.attrs.push_back(u64_attr(kLengthAttr, n.count));
    } else if (n.kind == Node::Kind::Scalar) {
      scalar_type(t, n.type);
      scalar_space(s);
      expected = size_of(n.type);
    } else if (n.kind == Node::Kind::Table) {
      table_type(t, n);
      simple_space(s, dims_of(n));
      expected = n.count * n.record_bytes;
      const std::string kinds = char_fields(n);
      if (!kinds.empty()) ob.attrs.push_back(string_attr(kFieldsAttr, kinds));
    } else {
      scalar_type(t, n.type);
      simple_space(s, dims_of(n));
      expected = n.count * size_of(n.type);
    }
    if (n.data.size() != expected)
      throw Error("mpisnap: internal: " + path + " holds " + std::to_string(n.data.size()) + " bytes for " +
                  std::to_string(expected));
    if (n.type == ScalarType::Char && n.kind == Node::Kind::Scalar) ob.attrs.push_back(string_attr(kTypeAttr, "char"));
    if (!n.global_offset.empty()) {
      ob.attrs.push_back(u64s_attr(kOffsetAttr, n.global_offset));
      ob.attrs.push_back(u64s_attr(kExtentAttr, n.global_extent));
    }
    ob.type = std::move(t.b);
    ob.space = std::move(s.b);
    ob.data = n.data.data();
    ob.bytes = n.data.size();
    if (is_string_array(n) && n.count == 0) {
      ob.data = &kNul;
      ob.bytes = 1;
    }
    ob.raw = raw_candidate(n);
    objs.push_back(std::move(ob));
    return objs.size() - 1;
  }
};

// Whether every message of this subtree fits the file as written here.
bool plain_node(const Node& n) {
  if (n.name.size() > 60000) return false;
  if (n.kind == Node::Kind::Group) {
    if (is_string_list(n) || n.children.size() > kMaxCompactLinks || n.role.size() > 60000) return false;
    for (const Node& c : n.children)
      if (!plain_node(c)) return false;
    return true;
  }
  if (n.shape.size() > 32 || n.global_offset.size() > 32 || n.count > UINT32_MAX) return false;
  if (n.kind == Node::Kind::Table) {  // its type message: a member's name, offset and type (<= 30 bytes)
    std::size_t bytes = 16;
    for (const Field& f : n.fields) bytes += f.name.size() + 1 + 30;
    if (bytes > 60000) return false;
  }
  return true;
}

[[noreturn]] void write_failed(const std::string& path, int err) {
  if (err == ENOSPC || err == EDQUOT)
    throw Error("mpisnap: no space left on device for " + path + " (" + std::strerror(err) + ")");
  throw Error("mpisnap: cannot write " + path + ": " + std::strerror(err));
}

// Writes `iov` at `offset` of `fd`, all of it; returns 0 or an errno.
int write_all(int fd, std::uint64_t offset, std::vector<iovec> iov) {
  std::size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<std::size_t>(iov.size() - first, IOV_MAX));
    const ssize_t w = ::pwritev(fd, iov.data() + first, count, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    offset += static_cast<std::uint64_t>(w);
    for (std::size_t left = static_cast<std::size_t>(w); left > 0 && first < iov.size();) {
      if (left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      } else {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
        left = 0;
      }
    }
    while (first < iov.size() && iov[first].iov_len == 0) ++first;
  }
  return 0;
}

}  // namespace

bool can_write_plain(const std::vector<const Node*>& roots) {
  std::size_t top = 0;
  for (const Node* r : roots) {
    if (r->kind != Node::Kind::Group) return false;
    top += r->children.size();
    for (const Node& c : r->children)
      if (!plain_node(c)) return false;
  }
  return top <= kMaxCompactLinks;
}

std::uint64_t write_plain_file(const std::string& path,
                               const std::vector<std::pair<std::string, std::uint64_t>>& root_attrs,
                               const std::vector<const Node*>& roots, Xxh64& digest, TreeStats& stats, bool direct_io,
                               const ExternalLinks* external) {
  Builder b;
  b.objs.emplace_back();  // the root group
  for (const auto& [name, v] : root_attrs) b.objs[0].attrs.push_back(u64_attr(name, v));
  for (const Node* r : roots) b.add_members(0, *r, "");
  if (external) {
    if (external->links.size() > kMaxCompactLinks)
      throw Error("mpisnap: internal: " + std::to_string(external->links.size()) + " external links in " + path);
    Obj g;
    g.name = external->group;
    g.path = "/" + external->group;
    g.external = external->links;
    b.objs.push_back(std::move(g));
    b.objs[0].links.push_back(b.objs.size() - 1);
  }
  std::vector<Obj>& objs = b.objs;

  // Where everything goes: the superblock, every header, the small datasets' bytes, then the large
  // ones, each 4 KiB-aligned (a restart reads them with O_DIRECT: raw_io.hpp).
  std::uint64_t at = kSuperblockBytes;
  for (Obj& ob : objs) {
    ob.header_bytes = header(ob, objs).size();
    ob.addr = at;
    at += ob.header_bytes;
  }
  const std::uint64_t meta_end = at;
  for (Obj& ob : objs)
    if (!ob.group && !ob.raw && ob.bytes) {
      at = (at + 7) & ~std::uint64_t{7};
      ob.data_addr = at;
      at += ob.bytes;
    }
  // Large arrays that go buffered and are hashed on this thread (raw_io's rules) go in the same
  // vectored write as the rest; the others (O_DIRECT, or hashed aside) first, through raw_io.
  auto inline_raw = [&](const Obj& ob) { return !writes_on_its_own(ob.bytes, direct_io); };
  for (Obj& ob : objs)
    if (!ob.group && ob.raw && inline_raw(ob)) {
      at = (at + kDirectAlign - 1) & ~std::uint64_t{kDirectAlign - 1};
      ob.data_addr = at;
      at += ob.bytes;
    }
  const std::uint64_t vectored_end = at;
  for (Obj& ob : objs)
    if (!ob.group && ob.raw && !inline_raw(ob)) {
      at = (at + kDirectAlign - 1) & ~std::uint64_t{kDirectAlign - 1};
      ob.data_addr = at;
      at += ob.bytes;
    }
  const std::uint64_t eof = at;

  const int fd = fs::ops().open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    throw Error("mpisnap: cannot create " + path + ": " + std::strerror(err));
  }
  try {
    // The large arrays first: their checksums, computed on the way, go into their headers.
    for (Obj& ob : objs) {
      if (ob.group || !ob.raw || inline_raw(ob)) continue;
      const RawTransfer t = write_hashed({fd, path, writes_direct(ob.bytes, direct_io)}, ob.data_addr, ob.data, ob.bytes, path + ":" + ob.path);
      ob.hash = t.hash;
      stats.direct_bytes += t.direct_bytes;
    }
    for (Obj& ob : objs)
      if (!ob.group && (!ob.raw || inline_raw(ob))) ob.hash = Xxh64::hash(ob.node->data.data(), ob.node->data.size());

    Out meta;
    meta.bytes("\x89HDF\r\n\x1a\n", 8);
    meta.u8(2);  // superblock version 2
    meta.u8(8);  // bytes of an address
    meta.u8(8);  // bytes of a length
    meta.u8(0);  // consistency flags
    meta.u64(0);       // base address
    meta.u64(kUndef);  // no superblock extension
    meta.u64(eof);
    meta.u64(objs[0].addr);
    meta.u32(h5format::lookup3(meta.b.data(), meta.b.size()));
    for (const Obj& ob : objs) {
      const std::vector<std::uint8_t> h = header(ob, objs);
      if (h.size() != ob.header_bytes) throw Error("mpisnap: internal: the header of " + path + ":" + ob.path + " changed size");
      meta.append(h);
    }
    std::vector<iovec> iov;
    static const std::uint8_t kZeros[kDirectAlign] = {};
    iov.push_back({meta.b.data(), meta.b.size()});
    std::uint64_t pos = meta_end;
    auto put = [&](const Obj& ob) {
      if (ob.data_addr > pos) iov.push_back({const_cast<std::uint8_t*>(kZeros), ob.data_addr - pos});
      iov.push_back({const_cast<std::byte*>(ob.data), ob.bytes});
      pos = ob.data_addr + ob.bytes;
    };
    for (const Obj& ob : objs)
      if (!ob.group && !ob.raw && ob.bytes) put(ob);
    for (const Obj& ob : objs)
      if (!ob.group && ob.raw && inline_raw(ob)) put(ob);
    if (pos != vectored_end) throw Error("mpisnap: internal: the layout of " + path + " does not add up");
    if (const int err = write_all(fd, 0, std::move(iov))) write_failed(path, err);
    // (A file whose last bytes are a large array ends there; one without ends with the small ones.)
    if (fs::ops().fsync(fd) != 0) {
      const int err = errno;
      if (err == ENOSPC || err == EDQUOT) write_failed(path, err);
      throw Error("mpisnap: fsync failed on " + path + ": " + std::strerror(err));
    }
  } catch (...) {
    (void)fs::ops().close(fd);
    (void)::unlink(path.c_str());
    throw;
  }
  if (fs::ops().close(fd) != 0) {
    const int err = errno;
    (void)::unlink(path.c_str());
    throw Error("mpisnap: close failed on " + path + ": " + std::strerror(err));
  }

  for (std::size_t i = 1; i < objs.size(); ++i) {
    const Obj& ob = objs[i];
    if (!ob.node) continue;  // (the group of external links: not part of the tree)
    digest_node(digest, ob.path, *ob.node, ob.group ? 0 : ob.hash);
    if (!ob.group) {
      stats.datasets += 1;
      stats.bytes += ob.node->data.size();
    }
  }
  return eof;
}

}  // namespace mpisnap::storage
