// The C API's state: the buffers a C or Fortran program protected, by name, and how they go into
// and come out of the state tree (each one an array_view of its shape, or one value). No MPI call:
// unit-tested on its own (tests/unit/capi_registry_test.cpp); capi.cpp puts it behind a Session.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <mpisnap/archive.hpp>
#include <mpisnap/error.hpp>

namespace mpisnap::capi {

// An error of the C API's own checks, with the code it returns (enum mpisnap_error).
class CodedError : public Error {
 public:
  CodedError(int code, const std::string& what) : Error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

class Registry {
 public:
  // `extents` in the caller's `order` (enum mpisnap_order); `scalar`: one value, no extents.
  // Protecting a name again replaces its entry (in place: the file keeps the order of first protection).
  void protect(const char* name, void* data, int type, const std::vector<std::int64_t>& extents, int order, bool scalar);
  void set_global(const char* name, const std::vector<std::int64_t>& offset, const std::vector<std::int64_t>& extent);
  void unprotect(const char* name);
  std::size_t size() const noexcept { return entries_.size(); }
  // The dimensions of the array protected as `name` (an error for a scalar or an unknown name).
  std::size_t rank_of(const char* name, const char* call);

  // The extents `name` has under the state of a checkpoint's tree (`root`: to_tree's root), in
  // `order`; empty for one value.
  static std::vector<std::int64_t> stored_shape(const Node& root, const char* name, int order);

  void save(TreeOutputArchive& ar) const;
  void load(TreeInputArchive& ar);

 private:
  struct Entry {
    std::string name;
    void* data = nullptr;
    int type = 0;
    bool scalar = false;
    int order = 0;
    std::vector<std::size_t> dims;  // row-major (a column-major array's reversed)
    std::vector<std::size_t> global_offset, global_extent;  // likewise
  };
  Entry& find(const char* name, const char* call);
  template <class Archive>
  void each(Archive& ar) const;  // (the buffers are the program's: a const registry still fills them)

  std::vector<Entry> entries_;
};

}  // namespace mpisnap::capi
