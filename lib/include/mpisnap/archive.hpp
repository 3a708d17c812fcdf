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
//  - a size tag of any other container  -> the Group's size.
// Loading checks names and exact types: a field stored as int32 does not load into an int64.
#pragma once

#include <cereal/cereal.hpp>
#include <cereal/details/traits.hpp>

#include <array>
#include <complex>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

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
  // Once per reason: says why a vector of structs is stored one group per element.
  static void note_per_element(const std::string& why);

 private:
  struct Frame {
    Node* node;
    bool only_binary = true;  // nothing but one unnamed binary block (and a size tag) so far
  };
  Node& add_child(Node::Kind kind);

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
  // The container being loaded was saved as a table (its node is one).
  bool atTable() const noexcept;
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

// ---- vectors of plain structs: one table (an HDF5 compound dataset), not a group per element

template <class T, class A>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar,
                                                                              const std::vector<T, A>& v) {
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(v.size())));
  const detail::RecordLayout& layout = detail::record_layout<T>();
  if (layout.ok) {
    ar.saveTable(layout, v.data(), v.size());
    return;
  }
  TreeOutputArchive::note_per_element(layout.why);
  for (const T& e : v) ar(e);
}

template <class T, class A>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar,
                                                                              std::vector<T, A>& v) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  v.resize(static_cast<std::size_t>(n));
  if (ar.atTable()) {
    ar.loadTable(detail::record_layout<T>(), v.data(), v.size());
    return;
  }
  for (T& e : v) ar(e);  // saved one group per element (format 1.1, or a struct that did not qualify)
}

// Fixed-size arrays of plain structs (C arrays, std::array): a table of N records, no size tag.
template <class T>
inline void save_records(TreeOutputArchive& ar, const T* data, std::size_t n) {
  const detail::RecordLayout& layout = detail::record_layout<T>();
  if (layout.ok) {
    ar.saveTable(layout, data, n);
    return;
  }
  TreeOutputArchive::note_per_element(layout.why);
  for (std::size_t i = 0; i < n; ++i) ar(data[i]);
}
template <class T>
inline void load_records(TreeInputArchive& ar, T* data, std::size_t n) {
  if (ar.atTable()) {
    ar.loadTable(detail::record_layout<T>(), data, n);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) ar(data[i]);
}
template <class T, std::size_t N>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const T (&a)[N]) {
  save_records(ar, a, N);
}
template <class T, std::size_t N>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, T (&a)[N]) {
  load_records(ar, a, N);
}
template <class T, std::size_t N>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar,
                                                                              const std::array<T, N>& a) {
  save_records(ar, a.data(), N);
}
template <class T, std::size_t N>
inline std::enable_if_t<detail::plain_record_v<T>> CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, std::array<T, N>& a) {
  load_records(ar, a.data(), N);
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
  ar.setNextName("real");
  ar.leaf(detail::scalar_type_of<T>(), &parts[0], sizeof(T));
  ar.setNextName("imag");
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

// cereal serializes C arrays with one non-member serialize(); for a C array of plain structs the
// tree archives' save/load (a table) is the one to use: say so, for those arrays only.
namespace cereal {
template <class T, std::size_t N>
struct specialize<mpisnap::TreeOutputArchive, T[N], specialization::non_member_load_save>
    : std::conditional_t<mpisnap::detail::plain_record_v<T>, std::true_type, std::false_type> {};
template <class T, std::size_t N>
struct specialize<mpisnap::TreeInputArchive, T[N], specialization::non_member_load_save>
    : std::conditional_t<mpisnap::detail::plain_record_v<T>, std::true_type, std::false_type> {};
}  // namespace cereal

CEREAL_REGISTER_ARCHIVE(mpisnap::TreeOutputArchive)
CEREAL_REGISTER_ARCHIVE(mpisnap::TreeInputArchive)
CEREAL_REGISTER_ARCHIVE(mpisnap::detail::LayoutProbe)
CEREAL_SETUP_ARCHIVE_TRAITS(mpisnap::TreeInputArchive, mpisnap::TreeOutputArchive)
