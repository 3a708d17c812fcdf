// The file-system seam (after fmt's FMT_SYSTEM): every system call by which the storage layer makes
// a checkpoint durable or removes one goes through ops(), so tests can make it fail.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mpisnap::fs {

struct Ops {
  int (*open)(const char* path, int flags, mode_t mode);
  int (*fsync)(int fd);
  int (*close)(int fd);
  int (*rename)(const char* from, const char* to);
  int (*mkdir)(const char* path, mode_t mode);
  int (*unlink)(const char* path);
  int (*rmdir)(const char* path);
};

// The table in use; tests swap entries and restore the defaults with reset_ops().
Ops& ops() noexcept;
void reset_ops() noexcept;

// The table the process started with (the real system calls).
const Ops& default_ops() noexcept;

// Each throws mpisnap::Error naming the path and the errno text.
void make_dirs(const std::string& dir);
// Creates (or truncates) `path` through the seam, before a library such as HDF5 opens it itself:
// a file that cannot be created fails here with the system's reason (ENOSPC, EACCES, ...).
void create_file(const std::string& path);
void fsync_file(const std::string& path);
void fsync_dir(const std::string& dir);
void rename(const std::string& from, const std::string& to);
void remove_tree(const std::string& path);

bool exists(const std::string& path) noexcept;
bool is_dir(const std::string& path) noexcept;
std::uint64_t file_size(const std::string& path);
// Names in `dir` (not . and ..); empty when `dir` does not exist.
std::vector<std::string> list_dir(const std::string& dir);

}  // namespace mpisnap::fs
