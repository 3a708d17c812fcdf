// The non-template half of the state archives (see include/mpisnap/archive.hpp).
#include <mpisnap/archive.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>

#include "common/pages.hpp"
#include "state/buffer_pool.hpp"

namespace mpisnap {

// ---------------------------------------------------------------- tree.hpp helpers

const char* to_string(ScalarType t) noexcept {
  switch (t) {
    case ScalarType::Int8: return "int8";
    case ScalarType::UInt8: return "uint8";
    case ScalarType::Int16: return "int16";
    case ScalarType::UInt16: return "uint16";
    case ScalarType::Int32: return "int32";
    case ScalarType::UInt32: return "uint32";
    case ScalarType::Int64: return "int64";
    case ScalarType::UInt64: return "uint64";
    case ScalarType::Float32: return "float32";
    case ScalarType::Float64: return "float64";
    case ScalarType::Bool: return "bool";
    case ScalarType::Char: return "char";
  }
  return "unknown";
}

std::size_t size_of(ScalarType t) noexcept {
  switch (t) {
    case ScalarType::Int8: case ScalarType::UInt8: case ScalarType::Bool: case ScalarType::Char:
      return 1;
    case ScalarType::Int16: case ScalarType::UInt16: return 2;
    case ScalarType::Int32: case ScalarType::UInt32: case ScalarType::Float32: return 4;
    case ScalarType::Int64: case ScalarType::UInt64: case ScalarType::Float64: return 8;
  }
  return 1;
}

std::uint64_t Node::total_bytes() const noexcept {
  std::uint64_t n = data.size();
  for (const Node& c : children) n += c.total_bytes();
  return n;
}

// ---------------------------------------------------------------- output

BufferSource::~BufferSource() = default;

TreeOutputArchive::TreeOutputArchive(Node& root, BufferSource* buffers) : OutputArchive(this), buffers_(buffers) {
  root = Node{};
  root.kind = Node::Kind::Group;
  stack_.push_back({&root});
}

void TreeOutputArchive::copy_block(Node& leaf, const void* data, std::size_t bytes) {
  leaf.data = buffers_ ? buffers_->take(bytes) : state::fresh_buffer(bytes);
  if (leaf.data.size() == bytes) {
    if (bytes) std::memcpy(leaf.data.data(), data, bytes);
  } else if (!leaf.data.empty()) {
    throw Error("mpisnap: a buffer source returned " + std::to_string(leaf.data.size()) + " bytes for a block of " +
                std::to_string(bytes));
  }  // (empty: the source only measures)
}

Node& TreeOutputArchive::add_child(Node::Kind kind) {
  Frame& top = stack_.back();
  Node& parent = *top.node;
  if (parent.kind != Node::Kind::Group)
    throw Error("mpisnap: state serialization wrote into a non-group node '" + parent.name + "'");
  Node child;
  child.kind = kind;
  if (next_name_) {
    child.name = next_name_;
    next_name_ = nullptr;
  } else {
    child.name = "value" + std::to_string(parent.children.size());
  }
  for (const Node& sibling : parent.children)
    if (sibling.name == child.name)
      throw Error("mpisnap: state serialization wrote the name '" + child.name + "' twice in '" +
                  parent.name + "'");
  parent.children.push_back(std::move(child));
  return parent.children.back();
}

void TreeOutputArchive::startNode() {
  stack_.back().only_binary = false;
  Node& child = add_child(Node::Kind::Group);
  stack_.push_back({&child});
}

void TreeOutputArchive::finishNode() {
  Frame frame = stack_.back();
  stack_.pop_back();
  Node& n = *frame.node;
  // A container that holds nothing but one binary block (or table) becomes it, under its own name.
  if (frame.only_binary && n.children.size() == 1 &&
      (n.children[0].kind == Node::Kind::Array || n.children[0].kind == Node::Kind::Table) &&
      (!n.has_size || n.size == (n.children[0].shape.empty() ? n.children[0].count : n.children[0].shape[0]))) {
    Node array = std::move(n.children[0]);
    array.name = std::move(n.name);
    n = std::move(array);
  }
}

void TreeOutputArchive::saveScalar(ScalarType type, const void* value, std::size_t bytes) {
  stack_.back().only_binary = false;
  Node& leaf = add_child(Node::Kind::Scalar);
  leaf.type = type;
  leaf.count = 1;
  leaf.data.resize(bytes);
  std::memcpy(leaf.data.data(), value, bytes);
}

void TreeOutputArchive::saveBinary(ScalarType type, const void* data, std::size_t bytes) {
  Frame& top = stack_.back();
  const bool first_block = top.node->children.empty() && next_name_ == nullptr;
  if (!first_block) top.only_binary = false;
  Node& leaf = add_child(Node::Kind::Array);
  leaf.type = type;
  leaf.count = bytes / size_of(type);
  copy_block(leaf, data, bytes);
}

void TreeOutputArchive::saveTable(const detail::RecordLayout& layout, const void* data, std::size_t count) {
  Frame& top = stack_.back();
  const bool first_block = top.node->children.empty() && next_name_ == nullptr;
  if (!first_block) top.only_binary = false;
  Node& leaf = add_child(Node::Kind::Table);
  leaf.count = count;
  leaf.fields = layout.fields;
  leaf.record_bytes = layout.record_bytes;
  const std::size_t bytes = count * layout.record_bytes;
  copy_block(leaf, data, bytes);
}

namespace {
std::string dims_text(const std::vector<std::uint64_t>& dims) {
  std::string s;
  for (std::uint64_t d : dims) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s.empty() ? "(none)" : s;
}
}  // namespace

void TreeOutputArchive::shapeLast(const std::vector<std::uint64_t>& dims, const std::vector<std::uint64_t>& offset,
                                  const std::vector<std::uint64_t>& extent) {
  Node& parent = *stack_.back().node;
  if (parent.children.empty() ||
      (parent.children.back().kind != Node::Kind::Array && parent.children.back().kind != Node::Kind::Table))
    throw Error("mpisnap: internal: a shape was given with no block saved before it");
  Node& b = parent.children.back();
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) n *= d;
  if (n != b.count)
    throw Error("mpisnap: the shape " + dims_text(dims) + " of '" + b.name + "' does not hold its " +
                std::to_string(b.count) + " elements");
  if (b.type == ScalarType::Char && b.kind == Node::Kind::Array) return;  // a string
  if (dims.size() > 1) b.shape = dims;
  if (!offset.empty()) {
    b.global_offset = offset;
    b.global_extent = extent;
  }
}

void TreeOutputArchive::setRole(const char* role) { stack_.back().node->role = role; }

void TreeOutputArchive::note_per_element(const std::string& why) {
  static std::mutex mutex;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(mutex);
  if (!said.insert(why).second) return;
  std::fprintf(stderr, "mpisnap: note: a vector of structs is stored one group per element, not as one table: %s\n",
               why.c_str());
}

void TreeOutputArchive::saveSize(std::uint64_t size) {
  Node& n = *stack_.back().node;
  n.has_size = true;
  n.size = size;
}

// ---------------------------------------------------------------- input

TreeInputArchive::TreeInputArchive(const Node& root) : InputArchive(this) {
  stack_.push_back({&root});
}

std::string TreeInputArchive::path() const {
  std::string p;
  for (std::size_t i = 1; i < stack_.size(); ++i) p += "/" + stack_[i].node->name;
  return p.empty() ? "/" : p;
}

void TreeInputArchive::fail(const std::string& what) const {
  throw Error("mpisnap: the checkpointed state does not match this program's state at '" + path() +
              "': " + what);
}

const Node& TreeInputArchive::select_child() {
  Frame& top = stack_.back();
  const Node& parent = *top.node;
  if (parent.kind != Node::Kind::Group) fail("expected a group, found a " + std::string(to_string(parent.type)) + " array");
  const char* name = next_name_;
  next_name_ = nullptr;
  if (name) {
    // Fast case: the next child in order carries the name; otherwise search (like cereal's JSON).
    if (top.next < parent.children.size() && parent.children[top.next].name == name)
      return parent.children[top.next++];
    for (std::size_t i = 0; i < parent.children.size(); ++i) {
      if (parent.children[i].name == name) {
        top.next = i + 1;
        return parent.children[i];
      }
    }
    fail(std::string("no field named '") + name + "'");
  }
  if (top.next >= parent.children.size()) fail("more values were loaded than were saved");
  return parent.children[top.next++];
}

void TreeInputArchive::startNode() {
  Frame& top = stack_.back();
  if (top.node->kind == Node::Kind::Array) {  // a row of a C array of rank > 1: the same block, read on
    Frame row{top.node};
    row.element = top.element;
    row.view = true;
    stack_.push_back(row);
    return;
  }
  const Node& child = select_child();
  stack_.push_back({&child});
}

void TreeInputArchive::finishNode() {
  const Frame& top = stack_.back();
  if (!top.view && top.node->kind == Node::Kind::Array && top.element != 0 && top.element != top.node->count)
    fail("array '" + top.node->name + "' holds " + std::to_string(top.node->count) + " elements but " +
         std::to_string(top.element) + " are loaded");
  const Frame done = top;
  stack_.pop_back();
  if (done.view) stack_.back().element = done.element;
}

void TreeInputArchive::loadScalar(ScalarType type, void* value, std::size_t bytes) {
  Frame& top = stack_.back();
  if (top.node->kind == Node::Kind::Array) {  // an element of a C array saved as one block
    const Node& block = *top.node;
    if (block.type != type || size_of(block.type) != bytes)
      fail("array '" + block.name + "' was saved as " + to_string(block.type) + " but is loaded as " + to_string(type));
    if (top.element >= block.count)
      fail("array '" + block.name + "' holds " + std::to_string(block.count) + " elements but more are loaded");
    std::memcpy(value, block.data.data() + top.element * bytes, bytes);
    ++top.element;
    return;
  }
  const Node& leaf = select_child();
  if (leaf.kind != Node::Kind::Scalar)
    fail("field '" + leaf.name + "' is not a single value");
  if (leaf.type != type || leaf.data.size() != bytes)
    fail("field '" + leaf.name + "' was saved as " + to_string(leaf.type) + " but is loaded as " +
         to_string(type));
  std::memcpy(value, leaf.data.data(), bytes);
}

void TreeInputArchive::loadBinary(ScalarType type, void* data, std::size_t bytes) {
  Frame& top = stack_.back();
  const Node* leaf = nullptr;
  if (top.node->kind == Node::Kind::Array && !top.binary_taken) {
    leaf = top.node;  // a collapsed container: the node is the block
    top.binary_taken = true;
  } else {
    leaf = &select_child();
  }
  last_block_ = leaf;
  if (leaf->kind != Node::Kind::Array) fail("field '" + leaf->name + "' is not an array");
  if (leaf->type != type)
    fail("array '" + leaf->name + "' was saved as " + to_string(leaf->type) + " but is loaded as " +
         to_string(type));
  if (leaf->data.size() != bytes) {
    const std::size_t each = size_of(type);
    fail("array '" + leaf->name + "' holds " + std::to_string(leaf->data.size() / each) + " elements but " +
         std::to_string(bytes / each) + " are loaded");
  }
  if (bytes) std::memcpy(data, leaf->data.data(), bytes);
}

const void* TreeInputArchive::sameBlock(ScalarType type, std::size_t bytes) {
  Frame& top = stack_.back();
  const Node& n = *top.node;
  if (n.kind != Node::Kind::Array || top.binary_taken || n.type != type || n.data.size() != bytes || bytes == 0)
    return nullptr;  // (an empty block loads the usual way)
  top.binary_taken = true;
  last_block_ = &n;
  return n.data.data();
}

const void* TreeInputArchive::sameTable(const detail::RecordLayout& layout, std::size_t count) {
  const Node& t = *stack_.back().node;
  if (t.kind != Node::Kind::Table || !layout.ok || count == 0 || t.count != count ||
      t.record_bytes != layout.record_bytes || t.fields != layout.fields)
    return nullptr;
  last_block_ = &t;
  return t.data.data();
}

bool TreeInputArchive::atTable() const noexcept { return stack_.back().node->kind == Node::Kind::Table; }
bool TreeInputArchive::atArray() const noexcept { return stack_.back().node->kind == Node::Kind::Array; }

bool TreeInputArchive::hasChild(const char* name) const noexcept {
  const Node& n = *stack_.back().node;
  if (n.kind != Node::Kind::Group) return false;
  for (const Node& c : n.children)
    if (c.name == name) return true;
  return false;
}

void TreeInputArchive::checkShape(const std::vector<std::uint64_t>& dims) {
  const Node* b = last_block_;
  if (!b) fail("internal: a shape was checked with no block loaded");
  if (b->shape.empty()) return;  // saved in one dimension (every block before format 1.3): its count was checked
  if (b->shape != dims)
    fail("'" + b->name + "' was saved with the shape " + dims_text(b->shape) + " but is loaded as " + dims_text(dims));
}

void TreeInputArchive::loadTable(const detail::RecordLayout& layout, void* data, std::size_t count) {
  const Node& t = *stack_.back().node;
  last_block_ = &t;
  if (!layout.ok)
    fail("it was saved as a table of records, but this program's element type cannot be one (" + layout.why + ")");
  if (t.count != count) fail("table '" + t.name + "' holds " + std::to_string(t.count) + " records, not " + std::to_string(count));
  auto* out = static_cast<unsigned char*>(data);
  if (t.record_bytes == layout.record_bytes && t.fields == layout.fields) {
    if (count) std::memcpy(out, t.data.data(), count * layout.record_bytes);
    return;
  }
  // Another layout (members moved, added or removed): member by member, by name.
  for (const Field& f : layout.fields) {
    auto it = std::find_if(t.fields.begin(), t.fields.end(), [&](const Field& g) { return g.name == f.name; });
    // A complex number's parts were "real" and "imag" in format 1.2.
    const char* before = f.name == "r" ? "real" : f.name == "i" ? "imag" : nullptr;
    if (it == t.fields.end() && before)
      it = std::find_if(t.fields.begin(), t.fields.end(), [&](const Field& g) { return g.name == before; });
    if (it == t.fields.end()) fail("table '" + t.name + "' has no member '" + f.name + "'");
    if (it->type != f.type || it->count != f.count)
      fail("member '" + f.name + "' of table '" + t.name + "' was saved as " + std::to_string(it->count) + " x " +
           to_string(it->type) + " but is loaded as " + std::to_string(f.count) + " x " + to_string(f.type));
    const std::size_t n = f.count * size_of(f.type);
    for (std::size_t r = 0; r < count; ++r)
      std::memcpy(out + r * layout.record_bytes + f.offset, t.data.data() + r * t.record_bytes + it->offset, n);
  }
}

void TreeInputArchive::loadSize(std::uint64_t& size) {
  const Node& n = *stack_.back().node;
  if (n.kind == Node::Kind::Array || n.kind == Node::Kind::Table) {
    size = n.shape.empty() ? n.count : n.shape[0];
  } else if (n.has_size) {
    size = n.size;
  } else {
    fail("no container size was saved here");
  }
}

}  // namespace mpisnap

namespace mpisnap::detail {

void map_for_copy(void* p, std::size_t bytes) noexcept {
  if (bytes < (std::size_t{1} << 20)) return;
  // The program's allocator gave 4 KiB pages (a large block straight from mmap); the whole 2 MiB
  // runs inside the block are offered as huge pages first, as the library's own buffers are
  // (tree.hpp): mapping 64 MiB of 4 KiB pages cost a restart 200 ms here, more than reading it.
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advice only
  map_pages(p, bytes);
}

// ---------------------------------------------------------------- the layout probe

LayoutProbe::LayoutProbe(const void* base, std::size_t bytes)
    : OutputArchive(this), base_(static_cast<const unsigned char*>(base)), bytes_(bytes) {
  out_.ok = true;
  out_.record_bytes = static_cast<std::uint32_t>(bytes);
}

std::string LayoutProbe::component() {
  std::string name;
  if (next_name_) {
    name = next_name_;
    next_name_ = nullptr;
  } else {
    name = "value" + std::to_string(unnamed_.empty() ? 0 : unnamed_.back());
  }
  if (!unnamed_.empty()) ++unnamed_.back();
  return name;
}

std::string LayoutProbe::name_here() {
  std::string full;
  for (std::size_t i = 1; i < prefix_.size(); ++i) full += prefix_[i] + ".";  // (the record itself has no name)
  return full + component();
}

void LayoutProbe::startNode() {
  prefix_.push_back(prefix_.empty() ? std::string() : component());
  unnamed_.push_back(0);
  node_fields_.push_back(out_.fields.size());
}

void LayoutProbe::finishNode() {
  // A container holding one unnamed block (a std::array of numbers) is that block, under the
  // container's name: as the tree archive collapses it.
  if (prefix_.size() > 1 && node_fields_.back() + 1 == out_.fields.size() && unnamed_.back() == 1) {
    Field& only = out_.fields.back();
    const std::size_t dot = only.name.rfind('.');
    if (dot != std::string::npos && only.name.compare(dot + 1, std::string::npos, "value0") == 0) only.name.resize(dot);
  }
  if (!prefix_.empty()) prefix_.pop_back();
  if (!unnamed_.empty()) unnamed_.pop_back();
  if (!node_fields_.empty()) node_fields_.pop_back();
}

void LayoutProbe::leaf(ScalarType type, const void* at, std::size_t bytes) {
  if (pending_ && pending_bytes_ == bytes) at = pending_;  // an enum's number stands for the enum
  pending_ = nullptr;
  const std::string name = name_here();
  if (!out_.ok) return;
  const auto* p = static_cast<const unsigned char*>(at);
  if (p < base_ || p + bytes > base_ + bytes_) {
    out_.ok = false;
    out_.why = "member '" + name + "' is a value serialize() computes, not one stored in the struct";
    return;
  }
  Field f;
  f.name = name;
  f.offset = static_cast<std::uint32_t>(p - base_);
  f.type = type;
  f.count = static_cast<std::uint32_t>(bytes / size_of(type));
  out_.fields.push_back(std::move(f));
}

void LayoutProbe::dynamic() {
  if (!out_.ok) return;
  out_.ok = false;
  std::string where;
  for (std::size_t i = 1; i < prefix_.size(); ++i) where += (where.empty() ? "" : ".") + prefix_[i];
  out_.why = "member '" + (where.empty() ? std::string("(the element)") : where) +
             "' is a container whose size varies";
}

RecordLayout LayoutProbe::finish(std::size_t alignment) {
  if (!out_.ok) return out_;
  std::vector<Field>& f = out_.fields;
  std::stable_sort(f.begin(), f.end(), [](const Field& a, const Field& b) { return a.offset < b.offset; });
  // Every byte must be a member, or padding that alignment explains (a member serialize() leaves
  // out would otherwise be restored from the copy, where cereal leaves it alone).
  std::size_t end = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const std::size_t align = size_of(f[i].type);
    if (f[i].offset < end) {
      out_.ok = false;
      out_.why = "member '" + f[i].name + "' overlaps another";
      return out_;
    }
    if (f[i].offset - end >= align) {
      out_.ok = false;
      out_.why = "bytes " + std::to_string(end) + ".." + std::to_string(f[i].offset - 1) +
                 " of the struct are not saved by serialize() (before member '" + f[i].name + "')";
      return out_;
    }
    for (std::size_t j = 0; j < i; ++j)
      if (f[j].name == f[i].name) {
        out_.ok = false;
        out_.why = "member name '" + f[i].name + "' appears twice";
        return out_;
      }
    end = f[i].offset + f[i].count * size_of(f[i].type);
  }
  if (f.empty() || bytes_ - end >= std::max<std::size_t>(alignment, 1)) {
    out_.ok = false;
    out_.why = f.empty() ? std::string("serialize() saves no member")
                         : "bytes " + std::to_string(end) + ".." + std::to_string(bytes_ - 1) +
                               " of the struct are not saved by serialize()";
  }
  return out_;
}

}  // namespace mpisnap::detail
