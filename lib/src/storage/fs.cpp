#include "storage/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <mpisnap/error.hpp>

namespace mpisnap::fs {
namespace {

int sys_open(const char* p, int f, mode_t m) { return ::open(p, f, m); }
const Ops kDefaults = {sys_open, ::fsync, ::close, ::rename, ::mkdir, ::unlink, ::rmdir};
Ops g_ops = kDefaults;

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw Error("mpisnap: " + what + " " + path + ": " + std::strerror(err));
}

void fsync_path(const std::string& path, int flags) {
  const int fd = g_ops.open(path.c_str(), flags, 0);
  if (fd < 0) fail("cannot open for fsync", path, errno);
  if (g_ops.fsync(fd) != 0) {
    const int err = errno;
    g_ops.close(fd);
    fail("fsync failed on", path, err);
  }
  if (g_ops.close(fd) != 0) fail("close failed on", path, errno);
}

}  // namespace

Ops& ops() noexcept { return g_ops; }
void reset_ops() noexcept { g_ops = kDefaults; }
const Ops& default_ops() noexcept { return kDefaults; }

void create_file(const std::string& path) {
  const int fd = g_ops.open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("cannot create", path, errno);
  if (g_ops.close(fd) != 0) fail("close failed on", path, errno);
}

void make_dirs(const std::string& dir) {
  if (dir.empty()) return;
  // The directory itself first: usually only it is new (a checkpoint's), and on a parallel file
  // system every mkdir of an existing parent is one more request to the metadata server.
  if (g_ops.mkdir(dir.c_str(), 0777) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      const std::size_t slash = dir.find_last_of('/');
      if (slash != std::string::npos && slash > 0) make_dirs(dir.substr(0, slash));
      if (g_ops.mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) fail("cannot create directory", dir, errno);
    } else if (err != EEXIST) {
      fail("cannot create directory", dir, err);
    }
  }
  if (!is_dir(dir)) fail("not a directory:", dir, ENOTDIR);
}

void fsync_file(const std::string& path) { fsync_path(path, O_RDONLY); }
void fsync_dir(const std::string& dir) { fsync_path(dir, O_RDONLY | O_DIRECTORY); }

void rename(const std::string& from, const std::string& to) {
  if (g_ops.rename(from.c_str(), to.c_str()) != 0) fail("cannot rename " + from + " to", to, errno);
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail("cannot stat", path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    for (const std::string& name : list_dir(path)) remove_tree(path + "/" + name);
    if (g_ops.rmdir(path.c_str()) != 0 && errno != ENOENT) fail("cannot remove directory", path, errno);
  } else if (g_ops.unlink(path.c_str()) != 0 && errno != ENOENT) {
    fail("cannot remove", path, errno);
  }
}

bool exists(const std::string& path) noexcept {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) noexcept {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::uint64_t file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) fail("cannot stat", path, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return names;
    fail("cannot list", dir, errno);
  }
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  return names;
}

}  // namespace mpisnap::fs
