// Checked HDF5 calls and move-only handles (after HighFive): every C call goes through check(),
// which turns HDF5's error stack into an mpisnap::Error naming the call and the file; destructors
// close quietly, close() reports.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <utility>

#include <mpisnap/error.hpp>

namespace mpisnap::h5 {

// Silences HDF5's automatic error printing on the calling thread (each thread has its own stack).
void quiet_this_thread();

[[noreturn]] void fail(const char* call, const std::string& context);

template <class R>
inline R check(R result, const char* call, const std::string& context) {
  if (result < 0) fail(call, context);
  return result;
}

class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const noexcept { return id_; }
  explicit operator bool() const noexcept { return id_ >= 0; }
  // Closes and reports failure (a file close is where buffered writes can fail).
  void close(const std::string& context);

 private:
  void reset() noexcept {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

inline Handle file(hid_t id) { return Handle(id, H5Fclose); }
inline Handle group(hid_t id) { return Handle(id, H5Gclose); }
inline Handle dataset(hid_t id) { return Handle(id, H5Dclose); }
inline Handle space(hid_t id) { return Handle(id, H5Sclose); }
inline Handle type(hid_t id) { return Handle(id, H5Tclose); }
inline Handle plist(hid_t id) { return Handle(id, H5Pclose); }
inline Handle attribute(hid_t id) { return Handle(id, H5Aclose); }

// File access: metadata in the 1.8+ format, which carries checksums on object headers. Created
// files place every object of kAlignAbove bytes or more at a multiple of kAlignTo.
inline constexpr hsize_t kAlignAbove = hsize_t{1} << 20;
inline constexpr hsize_t kAlignTo = 4096;
// (Rank files are read without the library where they can be: h5_reader.hpp. Manifests and the
// files it leaves to the library are opened here.)
// A file under kInMemoryBelow bytes is read whole at its open, in one read (HDF5's core driver),
// instead of as some forty small reads of metadata and data, and its arrays then go through HDF5,
// not raw_io: a cold 1 MiB rank file reads in 1.1 ms instead of 2.5. (Built in memory and written
// in one go, such a file was faster alone but slower beside ranks that keep every core busy: the
// write becomes CPU work that waits for its share, where O_DIRECT waits for the disk.)
inline constexpr std::uint64_t kInMemoryBelow = std::uint64_t{4} << 20;
Handle create_file(const std::string& path);
Handle open_file_readonly(const std::string& path);
// A group property list that tracks creation order, so members read back in serialization order.
Handle ordered_group_plist();

// Where a dataset's bytes lie in its file, when they may be read without HDF5 (storage/raw_io.hpp):
// the dataset is contiguous, allocated and exactly `bytes` long, its file type is `mem_type` (no
// conversion), and its file is open with the POSIX driver and has no user block. `fd` belongs to HDF5.
struct RawExtent {
  int fd;
  std::uint64_t offset;
};
std::optional<RawExtent> raw_extent(hid_t dataset, hid_t mem_type, std::uint64_t bytes);

// Scalar attributes on any object.
void write_attr_u64(hid_t obj, const char* name, std::uint64_t v, const std::string& context);
void write_attr_string(hid_t obj, const char* name, const std::string& v, const std::string& context);
// A one-dimensional attribute of unsigned 64-bit numbers (dimensions, offsets).
void write_attr_u64s(hid_t obj, const char* name, const std::vector<std::uint64_t>& v, const std::string& context);
std::vector<std::uint64_t> read_attr_u64s(hid_t obj, const char* name, const std::string& context);
bool has_attr(hid_t obj, const char* name);
std::uint64_t read_attr_u64(hid_t obj, const char* name, const std::string& context);
std::string read_attr_string(hid_t obj, const char* name, const std::string& context);

}  // namespace mpisnap::h5
