#include "storage/raw_io.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <mpisnap/error.hpp>

#include "common/pages.hpp"
#include "common/xxh64.hpp"

namespace mpisnap::storage {
namespace {

constexpr int kEndOfFile = -1;

// pread() until `n` bytes are in; 0, an errno, or kEndOfFile.
int read_fully(int fd, std::uint64_t offset, std::byte* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, out + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return kEndOfFile;
    got += static_cast<std::size_t>(r);
  }
  return 0;
}

// pwrite() until `n` bytes are out; 0 or an errno.
int write_fully(int fd, std::uint64_t offset, const std::byte* data, std::size_t n) {
  std::size_t put = 0;
  while (put < n) {
    const ssize_t w = ::pwrite(fd, data + put, n - put, static_cast<off_t>(offset + put));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    put += static_cast<std::size_t>(w);
  }
  return 0;
}

bool aligned(std::uint64_t offset, const std::byte* p) noexcept {
  return offset % kDirectAlign == 0 && reinterpret_cast<std::uintptr_t>(p) % kDirectAlign == 0;
}

[[noreturn]] void fail(const char* what, const std::string& context, int error) {
  throw Error(std::string("mpisnap: cannot ") + what + " " + context + ": " +
              (error == kEndOfFile ? "the file ends before the data does"
               : error == ENOSPC   ? "no space left on device"
                                   : std::strerror(error)));
}

// Whether at least half of [offset, offset + n) of `fd` is in the page cache: copying it from
// there is faster than reading it from the disk again.
bool mostly_cached(int fd, std::uint64_t offset, std::size_t n) {
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t start = offset & ~(page - 1);
  const std::size_t len = n + static_cast<std::size_t>(offset - start);
  void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  if (m == MAP_FAILED) return false;
  std::vector<unsigned char> pages((len + page - 1) / page);
  std::size_t resident = 0;
  if (::mincore(m, len, pages.data()) == 0)
    for (unsigned char p : pages) resident += p & 1u;
  ::munmap(m, len);
  return 2 * resident >= pages.size();
}

// Where each byte of the run comes from: its 4 KiB-aligned part from an O_DIRECT descriptor when
// one can be used, the rest (or all of it) from the buffered one.
class Source {
 public:
  Source(const RawFile& file, std::uint64_t offset, const std::byte* out, std::size_t n)
      : buffered_(file.fd), offset_(offset) {
    direct_end_ = n & ~(kDirectAlign - 1);
    if (file.direct && aligned(offset, out) && direct_end_ > 0 && !mostly_cached(file.fd, offset, n))
      direct_ = ::open(file.path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  }
  ~Source() {
    if (direct_ >= 0) ::close(direct_);
  }
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  // Reads bytes [at, at + len) of the run into `out`; 0 or what read_fully() said.
  int read(std::size_t at, std::byte* out, std::size_t len) {
    std::size_t done = 0;
    if (direct_ >= 0 && at < direct_end_) {
      const std::size_t d = std::min(len, direct_end_ - at);
      const int e = read_fully(direct_, offset_ + at, out, d);
      if (e == 0) {
        done = d;
        direct_bytes_ += d;
      } else if (e == EINVAL) {  // the file system does not do O_DIRECT after all: buffered from here on
        ::close(direct_);
        direct_ = -1;
      } else {
        return e;
      }
    }
    return done < len ? read_fully(buffered_, offset_ + at + done, out + done, len - done) : 0;
  }
  std::uint64_t direct_bytes() const noexcept { return direct_bytes_; }

 private:
  int buffered_;
  int direct_ = -1;
  std::uint64_t offset_;
  std::size_t direct_end_ = 0;
  std::uint64_t direct_bytes_ = 0;
};

// The calling thread reads piece after piece. A helper first maps the whole buffer (one call,
// while the first pieces come in), then hashes each piece once it has arrived.
class Pipeline {
 public:
  Pipeline(Source& source, std::byte* out, std::size_t n, std::size_t piece)
      : source_(source), out_(out), n_(n), piece_(piece), pieces_((n + piece - 1) / piece) {}

  // 0 and the hash, or what the read said.
  int run(std::uint64_t* hash) {
    std::thread hasher([this] { hash_pieces(); });
    int error = 0;
    for (std::size_t k = 0; k < pieces_ && error == 0; ++k) {
      error = source_.read(k * piece_, out_ + k * piece_, bytes_of(k));
      std::lock_guard<std::mutex> lock(mu_);
      if (error == 0) ++ready_;
      else stop_ = true;
      cv_.notify_one();
    }
    hasher.join();
    *hash = hash_.digest();
    return error;
  }

 private:
  std::size_t bytes_of(std::size_t k) const noexcept { return std::min(piece_, n_ - k * piece_); }

  void hash_pieces() {
    map_pages(out_, n_);
    for (std::size_t k = 0; k < pieces_; ++k) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return ready_ > k || stop_; });
        if (ready_ <= k) return;
      }
      hash_.update(out_ + k * piece_, bytes_of(k));
    }
  }

  Source& source_;
  std::byte* const out_;
  const std::size_t n_;
  const std::size_t piece_;
  const std::size_t pieces_;
  Xxh64 hash_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t ready_ = 0;  // pieces read
  bool stop_ = false;      // the reader failed
};

}  // namespace

RawTransfer read_hashed(const RawFile& file, std::uint64_t offset, std::byte* out, std::size_t n,
                        const std::string& context, std::size_t piece) {
  if (piece == 0 || piece % kDirectAlign != 0)
    throw Error("mpisnap: internal: read piece of " + std::to_string(piece) + " bytes");
  Source source(file, offset, out, n);
  RawTransfer result;
  int error = 0;
  if (n <= piece) {
    map_pages(out, n);
    error = source.read(0, out, n);
    if (error == 0) result.hash = Xxh64::hash(out, n);
  } else {
    error = Pipeline(source, out, n, piece).run(&result.hash);
  }
  if (error != 0) fail("read", context, error);
  result.direct_bytes = source.direct_bytes();
  return result;
}

RawTransfer write_hashed(const RawFile& file, std::uint64_t offset, const std::byte* data, std::size_t n,
                         const std::string& context) {
  RawTransfer result;
  std::thread hasher;
  if (file.direct || n >= kHashAsideMin) hasher = std::thread([&] { result.hash = Xxh64::hash(data, n); });
  int error = 0;
  const std::size_t direct_end = n & ~(kDirectAlign - 1);
  if (file.direct && direct_end > 0 && aligned(offset, data)) {
    const int fd = ::open(file.path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd >= 0) {
      error = write_fully(fd, offset, data, direct_end);
      if (error == 0) result.direct_bytes = direct_end;
      if (error == EINVAL) error = 0;  // no O_DIRECT here after all: all of it buffered below
      ::close(fd);
    }
  }
  const std::size_t done = result.direct_bytes;
  if (error == 0 && done < n) error = write_fully(file.fd, offset + done, data + done, n - done);
  if (hasher.joinable()) hasher.join();
  else if (error == 0) result.hash = Xxh64::hash(data, n);
  if (error != 0) fail("write", context, error);
  return result;
}

}  // namespace mpisnap::storage
