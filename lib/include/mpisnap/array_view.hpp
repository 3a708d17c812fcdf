// mpisnap::array_view: multi-dimensional state with its shape, and optionally its place in a global
// array, so that the checkpoint holds an N-D dataset a post-processing script can use as it is.
//
//   std::vector<double> u(nx * ny);                   // this rank's block, row-major (C order)
//   template <class Ar> void serialize(Ar& ar) {
//     ar(cereal::make_nvp("u", mpisnap::array_view(u.data(), {nx, ny})
//                                  .global({x0, y0}, {NX, NY})));   // optional
//   }
//
// The view refers to memory the program owns (like std::mdspan): saving copies `nx * ny` elements
// as one block, restoring copies them back into that memory, which must then have the same
// extents (an error names both otherwise). Elements are numbers or plain structs (a table with
// the shape). In the file: a dataset of that shape; with global(), the attributes `global_offset`
// and `global_extent` (per dimension), which the Python reader's `assemble()` uses to put the
// blocks of every rank together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include <mpisnap/archive.hpp>
#include <mpisnap/error.hpp>

namespace mpisnap {

template <class T>
class array_view {
  static_assert(detail::block_element_v<std::remove_cv_t<T>>,
                "mpisnap::array_view: elements must be numbers or plain structs");

 public:
  using element_type = T;

  array_view(T* data, std::initializer_list<std::size_t> extents) : array_view(data, std::vector<std::size_t>(extents)) {}
  array_view(T* data, const std::vector<std::size_t>& extents) : data_(data), extents_(extents.begin(), extents.end()) {
    if (extents_.empty() || extents_.size() > 32)
      throw Error("mpisnap: array_view: " + std::to_string(extents_.size()) + " extents (1 to 32 are possible)");
    std::uint64_t n = 1;
    for (std::uint64_t e : extents_) {
      if (e != 0 && n > UINT64_MAX / e) throw Error("mpisnap: array_view: the extents' product overflows");
      n *= e;
    }
    size_ = static_cast<std::size_t>(n);
    if (size_ != 0 && data_ == nullptr) throw Error("mpisnap: array_view: no memory for " + std::to_string(size_) + " elements");
  }

  // This block lies at `offset` in a global array of `extent` (per dimension; recorded, not used).
  array_view& global(std::initializer_list<std::size_t> offset, std::initializer_list<std::size_t> extent) & {
    set_global(std::vector<std::size_t>(offset), std::vector<std::size_t>(extent));
    return *this;
  }
  array_view&& global(std::initializer_list<std::size_t> offset, std::initializer_list<std::size_t> extent) && {
    set_global(std::vector<std::size_t>(offset), std::vector<std::size_t>(extent));
    return std::move(*this);
  }
  array_view& global(const std::vector<std::size_t>& offset, const std::vector<std::size_t>& extent) & {
    set_global(offset, extent);
    return *this;
  }
  array_view&& global(const std::vector<std::size_t>& offset, const std::vector<std::size_t>& extent) && {
    set_global(offset, extent);
    return std::move(*this);
  }

  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  const std::vector<std::uint64_t>& extents() const noexcept { return extents_; }
  const std::vector<std::uint64_t>& global_offset() const noexcept { return offset_; }
  const std::vector<std::uint64_t>& global_extent() const noexcept { return global_; }

 private:
  void set_global(const std::vector<std::size_t>& offset, const std::vector<std::size_t>& extent) {
    if (offset.size() != extents_.size() || extent.size() != extents_.size())
      throw Error("mpisnap: array_view::global: the block has " + std::to_string(extents_.size()) +
                  " dimensions but the offset has " + std::to_string(offset.size()) + " and the extent " +
                  std::to_string(extent.size()));
    for (std::size_t d = 0; d < extents_.size(); ++d)
      if (offset[d] + extents_[d] > extent[d])
        throw Error("mpisnap: array_view::global: in dimension " + std::to_string(d) + " the block (offset " +
                    std::to_string(offset[d]) + ", extent " + std::to_string(extents_[d]) +
                    ") does not fit in the global extent " + std::to_string(extent[d]));
    offset_.assign(offset.begin(), offset.end());
    global_.assign(extent.begin(), extent.end());
  }

  T* data_;
  std::vector<std::uint64_t> extents_;
  std::size_t size_ = 0;
  std::vector<std::uint64_t> offset_, global_;
};

template <class T>
array_view(T*, std::initializer_list<std::size_t>) -> array_view<T>;

// A std::vector seen with a shape; its size must be the extents' product.
template <class T, class A>
array_view<T> view(std::vector<T, A>& v, std::initializer_list<std::size_t> extents) {
  array_view<T> out(v.data(), extents);
  if (out.size() != v.size())
    throw Error("mpisnap: view: a vector of " + std::to_string(v.size()) + " elements cannot have extents whose product is " +
                std::to_string(out.size()));
  return out;
}

template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(TreeOutputArchive& ar, const array_view<T>& v) {
  detail::save_block(ar, v.data(), v.size(), v.extents(), v.global_offset(), v.global_extent());
}
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(TreeInputArchive& ar, array_view<T>& v) {
  static_assert(!std::is_const_v<T>, "mpisnap::array_view: a view of const elements cannot be restored");
  detail::load_block(ar, v.data(), v.size(), v.extents());
}

}  // namespace mpisnap
