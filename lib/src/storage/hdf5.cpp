#include "storage/hdf5.hpp"

#include <sys/stat.h>

#include <vector>

#include "storage/fs.hpp"

namespace mpisnap::h5 {

void quiet_this_thread() {
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

namespace {
herr_t collect(unsigned n, const H5E_error2_t* e, void* out) {
  auto* msg = static_cast<std::string*>(out);
  if (n < 3 && e && e->desc && *e->desc) {
    if (!msg->empty()) *msg += "; ";
    std::string d = e->desc;
    for (char& c : d)
      if (c == '\n') c = ' ';
    *msg += d;
  }
  return 0;
}
}  // namespace

void fail(const char* call, const std::string& context) {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &detail);
  H5Eclear2(H5E_DEFAULT);
  throw Error("mpisnap: HDF5 " + std::string(call) + " failed for " + context +
              (detail.empty() ? "" : " (" + detail + ")"));
}

void Handle::close(const std::string& context) {
  if (id_ < 0) return;
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  check(closer_(id), "close", context);
}

Handle create_file(const std::string& path) {
  quiet_this_thread();
  fs::create_file(path);
  Handle fapl = plist(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate", path));
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST), "H5Pset_libver_bounds", path);
  // Large datasets start on a 4 KiB boundary, so a restart can read them with O_DIRECT (raw_read.hpp).
  check(H5Pset_alignment(fapl.get(), kAlignAbove, kAlignTo), "H5Pset_alignment", path);
  Handle fcpl = plist(check(H5Pcreate(H5P_FILE_CREATE), "H5Pcreate", path));
  check(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "H5Pset_link_creation_order", path);
  return file(check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), "H5Fcreate", path));
}

Handle open_file_readonly(const std::string& path) {
  quiet_this_thread();
  Handle fapl = plist(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate", path));
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < kInMemoryBelow)
    check(H5Pset_fapl_core(fapl.get(), 64 << 10, 0), "H5Pset_fapl_core", path);  // read whole, written back never
  return file(check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), "H5Fopen", path));
}

Handle ordered_group_plist() {
  Handle gcpl = plist(check(H5Pcreate(H5P_GROUP_CREATE), "H5Pcreate", "group"));
  check(H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "H5Pset_link_creation_order", "group");
  return gcpl;
}

void write_attr_u64(hid_t obj, const char* name, std::uint64_t v, const std::string& context) {
  Handle sp = space(check(H5Screate(H5S_SCALAR), "H5Screate", context));
  Handle a = attribute(check(H5Acreate2(obj, name, H5T_NATIVE_UINT64, sp.get(), H5P_DEFAULT, H5P_DEFAULT),
                             "H5Acreate2", context + " attribute " + name));
  check(H5Awrite(a.get(), H5T_NATIVE_UINT64, &v), "H5Awrite", context + " attribute " + name);
}

void write_attr_u64s(hid_t obj, const char* name, const std::vector<std::uint64_t>& v, const std::string& context) {
  const hsize_t dims[1] = {v.size()};
  Handle sp = space(check(H5Screate_simple(1, dims, nullptr), "H5Screate_simple", context));
  Handle a = attribute(check(H5Acreate2(obj, name, H5T_NATIVE_UINT64, sp.get(), H5P_DEFAULT, H5P_DEFAULT),
                             "H5Acreate2", context + " attribute " + name));
  if (!v.empty()) check(H5Awrite(a.get(), H5T_NATIVE_UINT64, v.data()), "H5Awrite", context + " attribute " + name);
}

std::vector<std::uint64_t> read_attr_u64s(hid_t obj, const char* name, const std::string& context) {
  Handle a = attribute(check(H5Aopen(obj, name, H5P_DEFAULT), "H5Aopen", context + " attribute " + name));
  Handle sp = space(check(H5Aget_space(a.get()), "H5Aget_space", context + " attribute " + name));
  const hssize_t n = H5Sget_simple_extent_npoints(sp.get());
  if (n < 0 || n > 64) throw Error("mpisnap: attribute " + std::string(name) + " of " + context + " has " +
                                   std::to_string(n) + " values");
  std::vector<std::uint64_t> v(static_cast<std::size_t>(n));
  if (n) check(H5Aread(a.get(), H5T_NATIVE_UINT64, v.data()), "H5Aread", context + " attribute " + name);
  return v;
}

void write_attr_string(hid_t obj, const char* name, const std::string& v, const std::string& context) {
  Handle t = type(check(H5Tcopy(H5T_C_S1), "H5Tcopy", context));
  check(H5Tset_size(t.get(), v.empty() ? 1 : v.size()), "H5Tset_size", context);
  check(H5Tset_strpad(t.get(), H5T_STR_NULLPAD), "H5Tset_strpad", context);
  Handle sp = space(check(H5Screate(H5S_SCALAR), "H5Screate", context));
  Handle a = attribute(check(H5Acreate2(obj, name, t.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT),
                             "H5Acreate2", context + " attribute " + name));
  std::string padded = v.empty() ? std::string(1, '\0') : v;
  check(H5Awrite(a.get(), t.get(), padded.data()), "H5Awrite", context + " attribute " + name);
}

std::optional<RawExtent> raw_extent(hid_t ds, hid_t mem_type, std::uint64_t bytes) {
  // Each question may fail on an unusual file; any failure means "read it through HDF5".
  auto no = [] {
    H5Eclear2(H5E_DEFAULT);
    return std::nullopt;
  };
  const Handle dcpl = plist(H5Dget_create_plist(ds));
  if (!dcpl || H5Pget_layout(dcpl.get()) != H5D_CONTIGUOUS) return no();
  const haddr_t offset = H5Dget_offset(ds);
  if (offset == HADDR_UNDEF || H5Dget_storage_size(ds) != bytes) return no();
  const Handle file_type = type(H5Dget_type(ds));
  if (!file_type || H5Tequal(file_type.get(), mem_type) <= 0) return no();
  const Handle f = file(H5Iget_file_id(ds));
  if (!f) return no();
  const Handle fcpl = plist(H5Fget_create_plist(f.get()));
  hsize_t userblock = 1;
  if (!fcpl || H5Pget_userblock(fcpl.get(), &userblock) < 0 || userblock != 0) return no();
  const Handle fapl = plist(H5Fget_access_plist(f.get()));
  if (!fapl || H5Pget_driver(fapl.get()) != H5FD_SEC2) return no();
  void* handle = nullptr;
  if (H5Fget_vfd_handle(f.get(), fapl.get(), &handle) < 0 || !handle) return no();
  return RawExtent{*static_cast<int*>(handle), offset};
}

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

std::uint64_t read_attr_u64(hid_t obj, const char* name, const std::string& context) {
  Handle a = attribute(check(H5Aopen(obj, name, H5P_DEFAULT), "H5Aopen", context + " attribute " + name));
  std::uint64_t v = 0;
  check(H5Aread(a.get(), H5T_NATIVE_UINT64, &v), "H5Aread", context + " attribute " + name);
  return v;
}

std::string read_attr_string(hid_t obj, const char* name, const std::string& context) {
  Handle a = attribute(check(H5Aopen(obj, name, H5P_DEFAULT), "H5Aopen", context + " attribute " + name));
  Handle t = type(check(H5Aget_type(a.get()), "H5Aget_type", context));
  if (H5Tget_class(t.get()) != H5T_STRING || H5Tis_variable_str(t.get()) > 0)
    throw Error("mpisnap: attribute " + std::string(name) + " of " + context + " is not a fixed string");
  const std::size_t n = H5Tget_size(t.get());
  std::vector<char> buf(n + 1, '\0');
  check(H5Aread(a.get(), t.get(), buf.data()), "H5Aread", context + " attribute " + name);
  return std::string(buf.data());
}

}  // namespace mpisnap::h5
