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
//  - a size tag of any other container  -> the Group's size.
// Loading checks names and exact types: a field stored as int32 does not load into an int64.
#pragma once

#include <cereal/cereal.hpp>
#include <cereal/details/traits.hpp>

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

CEREAL_REGISTER_ARCHIVE(mpisnap::TreeOutputArchive)
CEREAL_REGISTER_ARCHIVE(mpisnap::TreeInputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(mpisnap::TreeInputArchive, mpisnap::TreeOutputArchive)
