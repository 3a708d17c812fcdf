// What the benchmark programs share: a clock, the worst of the ranks, and plain-file baselines.
#pragma once

#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace bench {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// On rank 0: the largest of every rank's x (a checkpoint or a restart is as slow as its slowest rank).
inline double max_over_ranks(double x) {
  double m = 0;
  MPI_Reduce(&x, &m, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  return m;
}

// The plain baseline of a write: write() + fsync().
inline void write_file(const std::string& path, const void* data, std::size_t n) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const char* p = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(fd, p + done, n - done);
    if (w <= 0) std::abort();
    done += static_cast<std::size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
}

// Drops `path`'s pages from the page cache (they are clean: the file was fsynced), so the read
// that follows comes from the disk, as a restart after a crash would.
inline void drop_cached(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// The plain baseline of a read: read() of up to n bytes into data; returns the bytes read.
inline std::size_t read_file(const std::string& path, void* data, std::size_t n) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  char* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::read(fd, p + done, n - done);
    if (r <= 0) break;
    done += static_cast<std::size_t>(r);
  }
  ::close(fd);
  return done;
}

}  // namespace bench
