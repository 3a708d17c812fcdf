// A cereal archive pair that writes an application's state into a mpisnap::Node tree and reads it
// back. Shaped like cereal's JSON archive: a node stack (startNode/finishNode/setNextName), named
// values from NVPs, automatic names "value0", "value1", ... for unnamed ones.
//
// Mapping (what `h5dump` then shows):
//  - a class or container               -> Group, children in serialization order
//  - an arithmetic value                -> Scalar leaf
//  - cereal binary data (vectors and arrays of arithmetic types, std::string)
//                                       -> Array leaf; a container whose only content is that binary
//                                          block (plus its size tag) becomes the Array itself, so
//                                          `std::vector<double> grid` is one dataset named "grid".
//  - a std::vector of a plain struct     -> Table: one record per element, copied as one block,
//                                          laid out as the struct's serialize() describes it
//                                          (detail::record_layout; one HDF5 compound dataset)
//  - a C array of numbers or plain structs of any rank, a mpisnap::array_view (array_view.hpp)
//                                       -> one Array or Table with its shape (an N-D dataset); a
//                                          record that is one unnamed block of numbers (a
//                                          std::array<double, 3>) adds a dimension instead
//  - a std::map / std::unordered_map     -> a Group of role "map" holding `keys` and `values`, each
//                                          saved as a vector of them would be (a column)
//  - a size tag of any other container  -> the Group's size.
// Loading checks names and exact types: a field stored as int32 does not load into an int64.
#pragma once

#include <cereal/cereal.hpp>
#include <cereal/details/traits.hpp>

#include <array>
#include <complex>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <cereal/types/vector.hpp>

#include <mpisnap/error.hpp>
#include <mpisnap/tree.hpp>

namespace mpisnap {

namespace detail {

template <class T>
constexpr ScalarType scalar_type_of() {
  using U = std::remove_cv_t<T>;
  static_assert(std::is_arithmetic_v<U> || std::is_void_v<U>, "mpisnap: not an arithmetic type");
  static_assert(!std::is_same_v<U, long double>, "mpisnap: long double is not supported in state");
  if constexpr (std::is_void_v<U>) return ScalarType::UInt8;
  else if constexpr (std::is_same_v<U, bool>) return ScalarType::Bool;
  else if constexpr (std::is_same_v<U, char>) return ScalarType::Char;
  else if constexpr (std::is_floating_point_v<U>) {
    static_assert(sizeof(U) == 4 || sizeof(U) == 8, "mpisnap: unsupported floating type");
    return sizeof(U) == 4 ? ScalarType::Float32 : ScalarType::Float64;
  } else {
    constexpr bool s = std::is_signed_v<U>;
    if constexpr (sizeof(U) == 1) return s ? ScalarType::Int8 : ScalarType::UInt8;
    else if constexpr (sizeof(U) == 2) return s ? ScalarType::Int16 : ScalarType::UInt16;
    else if constexpr (sizeof(U) == 4) return s ? ScalarType::Int32 : ScalarType::UInt32;
    else {
      static_assert(sizeof(U) == 8, "mpisnap: unsupported integer width");
      return s ? ScalarType::Int64 : ScalarType::UInt64;
    }
  }
}

template <class Ptr>
using binary_element_t = std::remove_cv_t<std::remove_all_extents_t<std::remove_pointer_t<std::decay_t<Ptr>>>>;  // (a C array of rank k: its elements)

// The layout of a plain struct as its serialize() describes it (detail::record_layout).
struct RecordLayout {
  bool ok = false;             // every byte is a serialized member or alignment padding
  std::vector<Field> fields;   // by offset
  std::uint32_t record_bytes = 0;
  std::string why;             // !ok: the member that forced the per-element layout, and why
};

// Runs a struct's serialize() on one object and records where each arithmetic member lies in it
// (an archive that stores nothing). Nested structs give dotted names; a container (a size tag) or
// a value not stored in the object makes the layout unusable.
class MPISNAP_API LayoutProbe : public cereal::OutputArchive<LayoutProbe> {
 public:
  LayoutProbe(const void* base, std::size_t bytes);
  void setNextName(const char* name) noexcept { next_name_ = name; }
  void startNode();
  void finishNode();
  void leaf(ScalarType type, const void* at, std::size_t bytes);
  void dynamic();                                        // a size tag: a container of varying size
  void minimal(const void* at, std::size_t bytes) noexcept {  // the next leaf is this object's value (an enum)
    pending_ = at;
    pending_bytes_ = bytes;
  }
  RecordLayout finish(std::size_t alignment);

 private:
  std::string component();  // the next child's own name
  std::string name_here();  // its dotted path below the record
  const unsigned char* base_;
  std::size_t bytes_;
  std::vector<std::string> prefix_;
  std::vector<std::size_t> unnamed_;  // per open node: children named so far
  std::vector<std::size_t> node_fields_;  // per open node: fields found before it opened
  const char* next_name_ = nullptr;
  const void* pending_ = nullptr;
  std::size_t pending_bytes_ = 0;
  RecordLayout out_;
};

// A vector element that may be stored as a record of one table: a trivially copyable class.
template <class T>
inline constexpr bool plain_record_v = std::is_class_v<T> && std::is_trivially_copyable_v<T> &&
                                       std::is_default_constructible_v<T>;

// Memory about to receive `bytes` copied from a restored block (a vector's fresh storage): its pages
// mapped in one call when it is large (faulting them in one at a time costs a restart more than
// the copy). Advice only.
MPISNAP_API void map_for_copy(void* p, std::size_t bytes) noexcept;

// Builds `v` from `count` elements at `first` in one pass (no zeroing first).
template <class T, class A>
void assign_block(std::vector<T, A>& v, const T* first, std::size_t count) {
  v.clear();
  v.reserve(count);
  map_for_copy(v.data(), count * sizeof(T));
  v.assign(first, first + count);
}

// An element stored as part of one block: a number or a plain struct.
template <class T>
inline constexpr bool block_element_v = std::is_arithmetic_v<T> || plain_record_v<T>;

// A record that is nothing but one unnamed run of numbers (a std::array<double, 3>): a block of such
// records is a block of numbers with one more dimension, not a table of one member.
inline bool single_block(const RecordLayout& l) noexcept {
  return l.ok && l.fields.size() == 1 && l.fields[0].name == "value0" && l.fields[0].offset == 0 &&
         l.fields[0].count * size_of(l.fields[0].type) == l.record_bytes;
}

// The extents of a C array type, outermost first.
template <class A, std::size_t... I>
std::vector<std::uint64_t> extents_of(std::index_sequence<I...>) {
  return {static_cast<std::uint64_t>(std::extent_v<A, I>)...};
}
template <class A>
std::vector<std::uint64_t> extents_of() {
  return extents_of<A>(std::make_index_sequence<std::rank_v<A>>());
}

template <class T>
RecordLayout probe_layout() {
  static_assert(plain_record_v<T>);
  T object{};
  LayoutProbe probe(&object, sizeof(T));
  probe(object);
  return probe.finish(alignof(T));
}

// T's layout, found once per type.
template <class T>
const RecordLayout& record_layout() {
  static const RecordLayout layout = probe_layout<T>();
  return layout;
}

}  // namespace detail

class MPISNAP_API TreeOutputArchive : public cereal::OutputArchive<TreeOutputArchive> {
 public:
  // `root` becomes a Group holding whatever is archived; arrays take their memory from `buffers`
  // (fresh memory when null).
  explicit TreeOutputArchive(Node& root, BufferSource* buffers = nullptr);

  void setNextName(const char* name) noexcept { next_name_ = name; }
  void startNode();
  void finishNode();

  void saveScalar(ScalarType type, const void* value, std::size_t bytes);
  void saveBinary(ScalarType type, const void* data, std::size_t bytes);
  void saveSize(std::uint64_t size);
  // `count` records laid out as `layout` (a vector of plain structs), copied as one block.
  void saveTable(const detail::RecordLayout& layout, const void* data, std::size_t count);
  // The block just saved (Array or Table) has these dimensions (row-major, their product its count;
  // one dimension is left implicit) and lies at `offset` in a global array of `extent` (both
  // optional, of the same rank). A char block (a string) keeps no shape.
  void shapeLast(const std::vector<std::uint64_t>& dims, const std::vector<std::uint64_t>& offset = {},
                 const std::vector<std::uint64_t>& extent = {});
  // The group being saved stands for `role` ("map").
  void setRole(const char* role);
  // Once per reason: says why a vector of structs is stored one group per element.
  static void note_per_element(const std::string& why);

 private:
  struct Frame {
    Node* node;
    bool only_binary = true;  // nothing but one unnamed binary block (and a size tag) so far
  };
  Node& add_child(Node::Kind kind);
  void copy_block(Node& leaf, const void* data, std::size_t bytes);

  std::vector<Frame> stack_;
  const char* next_name_ = nullptr;
  BufferSource* buffers_;
};

class MPISNAP_API TreeInputArchive : public cereal::InputArchive<TreeInputArchive> {
 public:
  explicit TreeInputArchive(const Node& root);

  void setNextName(const char* name) noexcept { next_name_ = name; }
  void startNode();
  void finishNode();

  void loadScalar(ScalarType type, void* value, std::size_t bytes);
  void loadBinary(ScalarType type, void* data, std::size_t bytes);
  void loadSize(std::uint64_t& size);
  // The container being loaded was saved as a table / as one block of numbers (its node is one).
  bool atTable() const noexcept;
  bool atArray() const noexcept;
  // The group being loaded has a child of that name.
  bool hasChild(const char* name) const noexcept;
  // The block being loaded, when it holds exactly `count` elements laid out as the program's (`bytes`
  // of numbers of `type`; or records of `layout`): its bytes, to be copied by the caller (taken:
  // as loadBinary / loadTable would). Null otherwise (then load as usual).
  const void* sameBlock(ScalarType type, std::size_t bytes);
  const void* sameTable(const detail::RecordLayout& layout, std::size_t count);
  // The block loaded last (loadBinary, loadTable) has these dimensions: an error if it was saved
  // with others (a block saved in one dimension, as before shapes, loads into any of its count).
  void checkShape(const std::vector<std::uint64_t>& dims);
  // Its `count` records into `data`, laid out as `layout` (this program's struct): a copy when the
  // layouts are the same, else member by member by name (each of the same type and size).
  void loadTable(const detail::RecordLayout& layout, void* data, std::size_t count);

 private:
  struct Frame {
    const Node* node;
    std::size_t next = 0;
    bool binary_taken = false;  // a collapsed Array frame hands out its data once
    // An Array read element by element (cereal loads a C array so, while it saves it as one
    // block): the next element, and whether this frame is a sub-array of the one below it.
    std::size_t element = 0;
    bool view = false;
  };
  const Node& select_child();
  std::string path() const;
  [[noreturn]] void fail(const std::string& what) const;

  std::vector<Frame> stack_;
  const char* next_name_ = nullptr;
  const Node* last_block_ = nullptr;
};

// ---- cereal glue: which types open nodes, and how leaves are saved and loaded

template <class T>
inline void prologue(TreeOutputArchive&, const cereal::NameValuePair<T>&) {}
template <class T>
inline void epilogue(TreeOutputArchive&, const cereal::NameValuePair<T>&) {}
template <class T>
inline void prologue(TreeInputArchive&, const cereal::NameValuePair<T>&) {}
template <class T>
inline void epilogue(TreeInputArchive&, const cereal::NameValuePair<T>&) {}

template <class T>
inline void prologue(TreeOutputArchive&, const cereal::DeferredData<T>&) {}
template <class T>
inline void epilogue(TreeOutputArchive&, const cereal::DeferredData<T>&) {}
template <class T>
inline void prologue(TreeInputArchive&, const cereal::DeferredData<T>&) {}
template <class T>
inline void epilogue(TreeInputArchive&, const cereal::DeferredData<T>&) {}

template <class T>
inline void prologue(TreeOutputArchive&, const cereal::SizeTag<T>&) {}
template <class T>
inline void epilogue(TreeOutputArchive&, const cereal::SizeTag<T>&) {}
template <class T>
inline void prologue(TreeInputArchive&, const cereal::SizeTag<T>&) {}
template <class T>
inline void epilogue(TreeInputArchive&, const cereal::SizeTag<T>&) {}

template <class T>
inline void prologue(TreeOutputArchive&, const cereal::BinaryData<T>&) {}
template <class T>
inline void epilogue(TreeOutputArchive&, const cereal::BinaryData<T>&) {}
template <class T>
inline void prologue(TreeInputArchive&, const cereal::BinaryData<T>&) {}
template <class T>
inline void epilogue(TreeInputArchive&, const cereal::BinaryData<T>&) {}

template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void prologue(TreeOutputArchive&, const T&) {}
template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void epilogue(TreeOutputArchive&, const T&) {}
template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void prologue(TreeInputArchive&, const T&) {}
template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void epilogue(TreeInputArchive&, const T&) {}

// Any other type that is not saved "minimally" opens a node.
template <class T,
          cereal::traits::EnableIf<
              !std::is_arithmetic<T>::value,
              !cereal::traits::has_minimal_base_class_serialization<
                  T, cereal::traits::has_minimal_output_serialization, TreeOutputArchive>::value,
              !cereal::traits::has_minimal_output_serialization<T, TreeOutputArchive>::value> =
              cereal::traits::sfinae>
inline void prologue(TreeOutputArchive& ar, const T&) {
  ar.startNode();
}
template <class T,
          cereal::traits::EnableIf<
              !std::is_arithmetic<T>::value,
              !cereal::traits::has_minimal_base_class_serialization<
                  T, cereal::traits::has_minimal_output_serialization, TreeOutputArchive>::value,
              !cereal::traits::has_minimal_output_serialization<T, TreeOutputArchive>::value> =
              cereal::traits::sfinae>
inline void epilogue(TreeOutputArchive& ar, const T&) {
  ar.finishNode();
}
template <class T,
          cereal::traits::EnableIf<
              !std::is_arithmetic<T>::value,
              !cereal::traits::has_minimal_base_class_serialization<
                  T, cereal::traits::has_minimal_input_serialization, TreeInputArchive>::value,
              !cereal::traits::has_minimal_input_serialization<T, TreeInputArchive>::value> =
              cereal::traits::sfinae>
inline void prologue(TreeInputArchive& ar, const T&) {
  ar.startNode();
}
template <class T,
          cereal::traits::EnableIf<
              !std::is_arithmetic<T>::value,
              !cereal::traits::has_minimal_base_class_serialization<
                  T, cereal::traits::has_minimal_input_serialization, TreeInputArchive>::value,
              !cereal::traits::has_minimal_input_serialization<T, TreeInputArchive>::value> =
              cereal::traits::sfinae>
inline void epilogue(TreeInputArchive& ar, const T&) {
  ar.finishNode();
}

template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const cereal::NameValuePair<T>& t) {
  ar.setNextName(t.name);
  ar(t.value);
}
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, cereal::NameValuePair<T>& t) {
  ar.setNextName(t.name);
  ar(t.value);
}

template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const T& t) {
  ar.saveScalar(detail::scalar_type_of<T>(), &t, sizeof(T));
}
template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, T& t) {
  ar.loadScalar(detail::scalar_type_of<T>(), &t, sizeof(T));
}

template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const cereal::BinaryData<T>& bd) {
  ar.saveBinary(detail::scalar_type_of<detail::binary_element_t<T>>(), bd.data,
                static_cast<std::size_t>(bd.size));
}
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, cereal::BinaryData<T>& bd) {
  ar.loadBinary(detail::scalar_type_of<detail::binary_element_t<T>>(), bd.data,
                static_cast<std::size_t>(bd.size));
}

template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const cereal::SizeTag<T>& st) {
  ar.saveSize(static_cast<std::uint64_t>(st.size));
}
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, cereal::SizeTag<T>& st) {
  std::uint64_t n = 0;
  ar.loadSize(n);
  st.size = static_cast<std::remove_reference_t<decltype(st.size)>>(n);
}

inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive&, std::nullptr_t const&) {}
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive&, std::nullptr_t&) {}

// ---- blocks: numbers and plain structs saved as one Array or Table with a shape

namespace detail {
// `n` elements at `data`, of the dimensions `dims` (product n): numbers as one Array, plain structs
// as one Table (or, a record of one run of numbers, an Array of one more dimension), a struct whose
// layout does not qualify one group per element (with a note).
template <class T>
void save_block(TreeOutputArchive& ar, const T* data, std::size_t n, std::vector<std::uint64_t> dims,
                std::vector<std::uint64_t> offset = {}, std::vector<std::uint64_t> extent = {}) {
  if constexpr (std::is_arithmetic_v<T>) {
    ar.saveBinary(scalar_type_of<T>(), data, n * sizeof(T));
  } else {
    const RecordLayout& layout = record_layout<T>();
    if (!layout.ok) {
      TreeOutputArchive::note_per_element(layout.why);
      for (std::size_t i = 0; i < n; ++i) ar(data[i]);
      return;
    }
    if (single_block(layout)) {
      ar.saveBinary(layout.fields[0].type, data, n * sizeof(T));
      dims.push_back(layout.fields[0].count);
      if (!offset.empty()) {
        offset.push_back(0);
        extent.push_back(layout.fields[0].count);
      }
    } else {
      ar.saveTable(layout, data, n);
    }
  }
  ar.shapeLast(dims, offset, extent);
}

template <class T>
void load_block(TreeInputArchive& ar, T* data, std::size_t n, std::vector<std::uint64_t> dims) {
  if constexpr (std::is_arithmetic_v<T>) {
    ar.loadBinary(scalar_type_of<T>(), data, n * sizeof(T));
  } else {
    const RecordLayout& layout = record_layout<T>();
    if (ar.atTable()) {
      ar.loadTable(layout, data, n);
    } else if (single_block(layout) && ar.atArray()) {
      ar.loadBinary(layout.fields[0].type, data, n * sizeof(T));
      dims.push_back(layout.fields[0].count);
    } else {  // one group per element (format 1.1, or a struct that does not qualify)
      for (std::size_t i = 0; i < n; ++i) ar(data[i]);
      return;
    }
  }
  ar.checkShape(dims);
}
}  // namespace detail

// A std::vector of plain structs: a table (an HDF5 compound dataset), not a group per element.
template <class T, class A>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar,
                                                                              const std::vector<T, A>& v) {
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(v.size())));
  detail::save_block(ar, v.data(), v.size(), {v.size()});
}
template <class T, class A>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar,
                                                                              std::vector<T, A>& v) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  const std::size_t count = static_cast<std::size_t>(n);
  // Saved as this program lays it out: the vector is built from the block in one pass (no zeroing
  // first, which a restart of a large vector would pay on top of the copy).
  const detail::RecordLayout& layout = detail::record_layout<T>();
  const void* same = detail::single_block(layout) ? ar.sameBlock(layout.fields[0].type, count * sizeof(T))
                                                  : ar.sameTable(layout, count);
  if (same && reinterpret_cast<std::uintptr_t>(same) % alignof(T) == 0) {
    detail::assign_block(v, static_cast<const T*>(same), count);
    if (detail::single_block(layout)) ar.checkShape({count, layout.fields[0].count});
    else ar.checkShape({count});
    return;
  }
  v.resize(count);
  detail::load_block(ar, v.data(), v.size(), {v.size()});
}

// A std::vector of numbers (cereal saves it as one block): built from the block in one pass.
template <class T, class A>
inline std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>> CEREAL_LOAD_FUNCTION_NAME(
    TreeInputArchive& ar, std::vector<T, A>& v) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  const std::size_t count = static_cast<std::size_t>(n);
  const void* same = ar.sameBlock(detail::scalar_type_of<T>(), count * sizeof(T));
  if (same && reinterpret_cast<std::uintptr_t>(same) % alignof(T) == 0) {
    detail::assign_block(v, static_cast<const T*>(same), count);
    return;
  }
  v.resize(count);
  ar(cereal::binary_data(v.data(), count * sizeof(T)));
}

// std::vector<bool> (no data() to copy from): one block of bools, as any other vector of numbers.
template <class A>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const std::vector<bool, A>& v) {
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(v.size())));
  std::unique_ptr<bool[]> copy(new bool[v.size()]);
  for (std::size_t i = 0; i < v.size(); ++i) copy[i] = v[i];
  ar.saveBinary(ScalarType::Bool, copy.get(), v.size());
}
template <class A>
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, std::vector<bool, A>& v) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  v.assign(static_cast<std::size_t>(n), false);
  if (!ar.atArray()) {  // one value per element (cereal's layout: formats up to 1.2)
    for (std::size_t i = 0; i < v.size(); ++i) {
      bool b = false;
      ar(b);
      v[i] = b;
    }
    return;
  }
  std::unique_ptr<bool[]> copy(new bool[v.size()]);
  ar.loadBinary(ScalarType::Bool, copy.get(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = copy[i];
}

// C arrays of numbers or plain structs, of any rank: one block with the array's shape.
template <class T, std::size_t N>
inline std::enable_if_t<detail::block_element_v<std::remove_all_extents_t<T>>> CEREAL_SAVE_FUNCTION_NAME(
    TreeOutputArchive& ar, const T (&a)[N]) {
  using E = std::remove_all_extents_t<T>;
  detail::save_block(ar, reinterpret_cast<const E*>(&a), sizeof(a) / sizeof(E), detail::extents_of<T[N]>());
}
template <class T, std::size_t N>
inline std::enable_if_t<detail::block_element_v<std::remove_all_extents_t<T>>> CEREAL_LOAD_FUNCTION_NAME(
    TreeInputArchive& ar, T (&a)[N]) {
  using E = std::remove_all_extents_t<T>;
  detail::load_block(ar, reinterpret_cast<E*>(&a), sizeof(a) / sizeof(E), detail::extents_of<T[N]>());
}
// std::array of plain structs (of numbers cereal itself saves one block): one block of N.
template <class T, std::size_t N>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar,
                                                                              const std::array<T, N>& a) {
  detail::save_block(ar, a.data(), N, {N});
}
template <class T, std::size_t N>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, std::array<T, N>& a) {
  detail::load_block(ar, a.data(), N, {N});
}

// ---- maps: a group of role "map" with two columns, `keys` and `values`, each saved as a vector of
// them would be (numbers and plain structs one dataset; strings one string dataset).

namespace detail {
template <class Map, bool Keys>
struct MapColumn {
  const Map& map;
};
template <class Map, bool Keys>
using column_t = std::conditional_t<Keys, typename Map::key_type, typename Map::mapped_type>;

template <class Map>
void save_map(TreeOutputArchive& ar, const Map& m) {
  ar.setRole("map");
  ar(cereal::make_nvp("keys", MapColumn<Map, true>{m}), cereal::make_nvp("values", MapColumn<Map, false>{m}));
}

template <class Map>
void load_map(TreeInputArchive& ar, Map& m) {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  m.clear();
  if (!ar.hasChild("keys")) {  // one group per pair (cereal's layout: formats up to 1.2)
    cereal::size_type n = 0;
    ar(cereal::make_size_tag(n));
    for (cereal::size_type i = 0; i < n; ++i) {
      K k{};
      V v{};
      ar(cereal::make_map_item(k, v));
      m.emplace(std::move(k), std::move(v));
    }
    return;
  }
  std::vector<K> keys;
  std::vector<V> values;
  ar(cereal::make_nvp("keys", keys), cereal::make_nvp("values", values));
  if (keys.size() != values.size())
    throw Error("mpisnap: a map of the checkpointed state holds " + std::to_string(keys.size()) + " keys but " +
                std::to_string(values.size()) + " values");
  for (std::size_t i = 0; i < keys.size(); ++i) m.emplace(std::move(keys[i]), std::move(values[i]));
}
}  // namespace detail

template <class Map, bool Keys>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const detail::MapColumn<Map, Keys>& c) {
  using E = detail::column_t<Map, Keys>;
  const std::size_t n = c.map.size();
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(n)));
  auto pick = [](const auto& kv) -> const E& {
    if constexpr (Keys) return kv.first;
    else return kv.second;
  };
  if constexpr (detail::block_element_v<E>) {
    std::unique_ptr<E[]> column(new E[n]);
    std::size_t i = 0;
    for (const auto& kv : c.map) column[i++] = pick(kv);
    detail::save_block(ar, column.get(), n, {n});
  } else {
    for (const auto& kv : c.map) ar(pick(kv));
  }
}

template <class K, class V, class C, class A>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const std::map<K, V, C, A>& m) {
  detail::save_map(ar, m);
}
template <class K, class V, class C, class A>
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, std::map<K, V, C, A>& m) {
  detail::load_map(ar, m);
}
template <class K, class V, class H, class E, class A>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const std::unordered_map<K, V, H, E, A>& m) {
  detail::save_map(ar, m);
}
template <class K, class V, class H, class E, class A>
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, std::unordered_map<K, V, H, E, A>& m) {
  detail::load_map(ar, m);
}

// ---- the layout probe's glue: nodes for classes, leaves for numbers and binary blocks (in the
// probe's own namespace, where argument-dependent lookup finds it)
namespace detail {

// A class (not saved in a minimal form) is a node of its own: its members' names get its name.
template <class T>
inline constexpr bool probe_opens_node_v =
    !std::is_arithmetic<T>::value &&
    !cereal::traits::has_minimal_base_class_serialization<T, cereal::traits::has_minimal_output_serialization,
                                                          LayoutProbe>::value &&
    !cereal::traits::has_minimal_output_serialization<T, LayoutProbe>::value;

template <class T>
inline void prologue(detail::LayoutProbe&, const cereal::NameValuePair<T>&) {}
template <class T>
inline void epilogue(detail::LayoutProbe&, const cereal::NameValuePair<T>&) {}
template <class T>
inline void prologue(detail::LayoutProbe&, const cereal::SizeTag<T>&) {}
template <class T>
inline void epilogue(detail::LayoutProbe&, const cereal::SizeTag<T>&) {}
template <class T>
inline void prologue(detail::LayoutProbe&, const cereal::BinaryData<T>&) {}
template <class T>
inline void epilogue(detail::LayoutProbe&, const cereal::BinaryData<T>&) {}
template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void prologue(detail::LayoutProbe&, const T&) {}
template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void epilogue(detail::LayoutProbe&, const T&) {}
// A value saved in a minimal form (an enum as its underlying number): the number stands for the
// object, whose address is taken here.
template <class T, cereal::traits::EnableIf<!std::is_arithmetic<T>::value,
                                            cereal::traits::has_minimal_output_serialization<T, LayoutProbe>::value> =
                       cereal::traits::sfinae>
inline void prologue(detail::LayoutProbe& ar, const T& t) {
  ar.minimal(&t, sizeof(T));
}
template <class T, cereal::traits::EnableIf<!std::is_arithmetic<T>::value,
                                            cereal::traits::has_minimal_output_serialization<T, LayoutProbe>::value> =
                       cereal::traits::sfinae>
inline void epilogue(detail::LayoutProbe&, const T&) {}
template <class T,
          cereal::traits::EnableIf<probe_opens_node_v<T>> = cereal::traits::sfinae>
inline void prologue(detail::LayoutProbe& ar, const T&) {
  ar.startNode();
}
template <class T,
          cereal::traits::EnableIf<probe_opens_node_v<T>> = cereal::traits::sfinae>
inline void epilogue(detail::LayoutProbe& ar, const T&) {
  ar.finishNode();
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(detail::LayoutProbe& ar, const cereal::NameValuePair<T>& t) {
  ar.setNextName(t.name);
  ar(t.value);
}
template <class T, cereal::traits::EnableIf<std::is_arithmetic<T>::value> = cereal::traits::sfinae>
inline void CEREAL_SAVE_FUNCTION_NAME(detail::LayoutProbe& ar, const T& t) {
  ar.leaf(detail::scalar_type_of<T>(), &t, sizeof(T));
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(detail::LayoutProbe& ar, const cereal::BinaryData<T>& bd) {
  ar.leaf(detail::scalar_type_of<detail::binary_element_t<T>>(), bd.data, static_cast<std::size_t>(bd.size));
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(detail::LayoutProbe& ar, const cereal::SizeTag<T>&) {
  ar.dynamic();
}
// cereal saves a complex number's parts by value; they lie in the object as T[2] (the standard says so).
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(detail::LayoutProbe& ar, const std::complex<T>& c) {
  const T* parts = reinterpret_cast<const T*>(&c);
  ar.setNextName("r");  // (h5py's names: it reads a compound of r and i as numpy complex numbers)
  ar.leaf(detail::scalar_type_of<T>(), &parts[0], sizeof(T));
  ar.setNextName("i");
  ar.leaf(detail::scalar_type_of<T>(), &parts[1], sizeof(T));
}
inline void CEREAL_SAVE_FUNCTION_NAME(detail::LayoutProbe&, std::nullptr_t const&) {}
}  // namespace detail

// Serialize / deserialize a whole state object: the root Group holds one child, "state".
template <class T>
Node to_tree(T& state, BufferSource* buffers = nullptr) {
  Node root;
  {
    TreeOutputArchive ar(root, buffers);
    ar(cereal::make_nvp("state", state));
  }
  return root;
}

template <class T>
void from_tree(const Node& root, T& state) {
  TreeInputArchive ar(root);
  ar(cereal::make_nvp("state", state));
}

}  // namespace mpisnap

// cereal serializes C arrays with one non-member serialize(); for a C array of numbers or plain
// structs the tree archives' save/load (one block with its shape) is the one to use: say so, for
// those arrays only.
namespace cereal {
template <class T, std::size_t N>
struct specialize<mpisnap::TreeOutputArchive, T[N], specialization::non_member_load_save>
    : std::conditional_t<mpisnap::detail::block_element_v<std::remove_all_extents_t<T>>, std::true_type,
                         std::false_type> {};
template <class T, std::size_t N>
struct specialize<mpisnap::TreeInputArchive, T[N], specialization::non_member_load_save>
    : std::conditional_t<mpisnap::detail::block_element_v<std::remove_all_extents_t<T>>, std::true_type,
                         std::false_type> {};
}  // namespace cereal

CEREAL_REGISTER_ARCHIVE(mpisnap::TreeOutputArchive)
CEREAL_REGISTER_ARCHIVE(mpisnap::TreeInputArchive)
CEREAL_REGISTER_ARCHIVE(mpisnap::detail::LayoutProbe)
CEREAL_SETUP_ARCHIVE_TRAITS(mpisnap::TreeInputArchive, mpisnap::TreeOutputArchive)
