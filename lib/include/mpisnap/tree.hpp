// The state tree: what a safe point captures, independent of any file format.
//
// The cereal archive (archive.hpp) turns an application's state into a tree of named nodes; the
// storage layer maps groups to HDF5 groups and leaves to HDF5 datasets, so the file shows the same
// names the application's serialize() functions used.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <mpisnap/export.hpp>

namespace mpisnap {

// An allocator that leaves new elements uninitialized: buffers that are filled right away (state
// payloads, file reads) should not be zeroed first.
template <class T>
struct UninitAllocator : std::allocator<T> {
  template <class U>
  struct rebind { using other = UninitAllocator<U>; };
  UninitAllocator() noexcept = default;
  template <class U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  // Buffers of 1 MiB and more start on a page (so the storage layer can hand them to O_DIRECT);
  // from 4 MiB on they are aligned to 2 MiB and offered to the kernel as huge pages, which are
  // cheaper to map and to reach than 4 KiB ones. Nothing is mapped here: code that fills a large
  // buffer at once maps it first (src/common/pages.hpp).
  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kPageBytes) return std::allocator<T>::allocate(n);
    void* p = nullptr;
    if (::posix_memalign(&p, bytes < kHugeBytes ? kPageAlign : kHugeAlign, bytes) != 0) throw std::bad_alloc();
    if (bytes >= kHugeBytes) ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) < kPageBytes) return std::allocator<T>::deallocate(p, n);
    std::free(p);
  }
  static constexpr std::size_t kPageBytes = std::size_t{1} << 20;
  static constexpr std::size_t kPageAlign = 4096;
  static constexpr std::size_t kHugeBytes = std::size_t{4} << 20;
  static constexpr std::size_t kHugeAlign = std::size_t{2} << 20;
};

using Bytes = std::vector<std::byte, UninitAllocator<std::byte>>;

enum class ScalarType : std::uint8_t {
  Int8, UInt8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float32, Float64, Bool, Char,
};

// Where an archive takes the memory for the arrays it copies (TreeOutputArchive). The library passes
// its pool of the previous snapshot's buffers, so that a snapshot copies into memory already mapped;
// without one, every array gets fresh memory.
class MPISNAP_API BufferSource {
 public:
  virtual ~BufferSource();
  // A buffer of exactly `bytes` bytes, contents unspecified. A source that only measures (the
  // library's planner of the next snapshot's buffers) returns an empty buffer for every size: the
  // archive then copies nothing, and the tree it builds holds the shapes but no data.
  virtual Bytes take(std::size_t bytes) = 0;
};

MPISNAP_API const char* to_string(ScalarType t) noexcept;
MPISNAP_API std::size_t size_of(ScalarType t) noexcept;

// One member of a table's records (Node::Kind::Table): where it lies in a record and what it holds.
struct Field {
  std::string name;            // as the struct's serialize() named it ("value<i>" unnamed; "outer.inner" nested)
  std::uint32_t offset = 0;    // bytes from the start of a record
  ScalarType type = ScalarType::UInt8;
  std::uint32_t count = 1;     // values of `type` there (> 1: a fixed-size array member)
  bool operator==(const Field& o) const noexcept {
    return name == o.name && offset == o.offset && type == o.type && count == o.count;
  }
};

struct MPISNAP_API Node {
  enum class Kind : std::uint8_t {
    Group,   // a class or container: named children in creation order
    Scalar,  // one value of `type`
    Array,   // `count` values of `type`, contiguous (cereal binary data: vectors, arrays, strings)
    Table,   // `count` records of `record_bytes` bytes laid out as `fields`: a vector of plain structs,
             // copied as one block (one HDF5 compound dataset)
  };

  std::string name;
  Kind kind = Kind::Group;
  ScalarType type = ScalarType::UInt8;
  std::uint64_t count = 0;           // elements, for Scalar (1) and Array
  bool has_size = false;             // a Group that recorded a cereal size tag
  std::uint64_t size = 0;            // that size
  Bytes data;                        // Scalar, Array and Table payload, native byte order
  std::vector<Node> children;        // Group members
  std::vector<Field> fields;         // Table: the members of a record, by offset
  std::uint32_t record_bytes = 0;    // Table: sizeof the struct (members + padding)
  // Array and Table: the dimensions, row-major, when there are two or more (their product is
  // `count`); empty for one dimension of `count`. With them, optionally, where this block lies in a
  // global array (per dimension: offset and that array's extent), for tools that assemble it.
  std::vector<std::uint64_t> shape;
  std::vector<std::uint64_t> global_offset;
  std::vector<std::uint64_t> global_extent;
  // Group: what it stands for when that is not just a struct ("map": children `keys` and `values`).
  std::string role;

  std::size_t payload_bytes() const noexcept { return data.size(); }
  // Bytes of every payload in the subtree.
  std::uint64_t total_bytes() const noexcept;
};

}  // namespace mpisnap
