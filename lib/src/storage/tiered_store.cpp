#include "storage/tiered_store.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <thread>

#include <mpisnap/error.hpp>

#include "common/xxh64.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"
#include "storage/lease.hpp"

namespace mpisnap::storage {
namespace {

constexpr const char* kFailedSuffix = ".failed";

std::string absolute(const std::string& dir) {
  if (!dir.empty() && dir[0] == '/') return dir;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) return dir;
  return std::string(cwd) + "/" + dir;
}

std::uint64_t bits(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

double from_bits(std::uint64_t u) {
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
}

[[noreturn]] void io_fail(const std::string& what, const std::string& path, int err) {
  throw Error("mpisnap: " + what + " " + path + ": " + std::strerror(err));
}

// `size` bytes to `dir`/`name` (temp + fsync + rename + directory fsync), from `data` or from `fd`.
std::uint64_t write_file(const std::string& dir, const std::string& name, const char* data, int fd,
                         std::uint64_t size) {
  fs::make_dirs(dir);
  const std::string path = dir + "/" + name, tmp = path + ".tmp";
  const int out = fs::ops().open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) io_fail("cannot create", tmp, errno);
  std::uint64_t done = 0;
  try {
    if (fd >= 0) {
      // sendfile copies in the kernel (no buffer in this process); a short count is the end of file.
      off_t off = 0;
      for (;;) {
        const ssize_t n = ::sendfile(out, fd, &off, std::size_t{1} << 30);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) io_fail("cannot copy to", tmp, errno);
        if (n == 0) break;
        done += static_cast<std::uint64_t>(n);
      }
    } else {
      while (done < size) {
        const ssize_t n = ::write(out, data + done, std::min<std::uint64_t>(size - done, std::uint64_t{1} << 30));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) io_fail("cannot write", tmp, errno);
        done += static_cast<std::uint64_t>(n);
      }
    }
    if (fs::ops().fsync(out) != 0) io_fail("fsync failed on", tmp, errno);
  } catch (...) {
    fs::ops().close(out);
    ::unlink(tmp.c_str());
    throw;
  }
  if (fs::ops().close(out) != 0) io_fail("close failed on", tmp, errno);
  fs::rename(tmp, path);
  fs::fsync_dir(dir);
  return done;
}

}  // namespace

std::string local_tier_dir(const std::string& local_root, const std::string& global_dir) {
  std::string g = absolute(global_dir);
  while (g.size() > 1 && g.back() == '/') g.pop_back();
  char name[40];
  std::snprintf(name, sizeof name, "mpisnap-%016" PRIx64, Xxh64::hash(g.data(), g.size(), 0x6c6f63616cULL));
  return local_root + "/" + name;
}

std::vector<std::uint64_t> manifest_words(const Manifest& m) {
  std::vector<std::uint64_t> w = {m.checkpoint_id, m.safe_point, static_cast<std::uint64_t>(m.nranks),
                                  bits(m.created_unix), bits(m.commit_seconds), m.program.size()};
  for (char c : m.program) w.push_back(static_cast<unsigned char>(c));
  for (std::int32_t r = 0; r < m.nranks; ++r) {
    const auto i = static_cast<std::size_t>(r);
    w.push_back(i < m.rank_digest.size() ? m.rank_digest[i] : 0);
    w.push_back(i < m.rank_bytes.size() ? m.rank_bytes[i] : 0);
    w.push_back(i < m.rank_messages.size() ? m.rank_messages[i] : 0);
  }
  return w;
}

Manifest manifest_from_words(const std::vector<std::uint64_t>& w, std::size_t at) {
  auto need = [&](std::size_t n) {
    if (w.size() < at + n) throw Error("mpisnap: internal: a manifest message is truncated");
  };
  need(6);
  Manifest m;
  m.checkpoint_id = w[at];
  m.safe_point = w[at + 1];
  m.nranks = static_cast<std::int32_t>(w[at + 2]);
  m.created_unix = from_bits(w[at + 3]);
  m.commit_seconds = from_bits(w[at + 4]);
  const std::uint64_t name = w[at + 5];
  at += 6;
  need(name);
  for (std::uint64_t i = 0; i < name; ++i) m.program.push_back(static_cast<char>(w[at++]));
  need(3 * static_cast<std::size_t>(m.nranks));
  for (std::int32_t r = 0; r < m.nranks; ++r) {
    m.rank_digest.push_back(w[at++]);
    m.rank_bytes.push_back(w[at++]);
    m.rank_messages.push_back(w[at++]);
  }
  return m;
}

TieredStore::TieredStore(std::string global_dir, const std::string& local_root, bool direct_io, unsigned keep_local)
    : global_(global_dir, direct_io),
      local_(local_tier_dir(local_root, global_dir), direct_io),
      keep_local_(keep_local < 1 ? 1 : keep_local) {}

void TieredStore::check_writable() {
  global_.check_writable();
  try {
    local_.check_writable();
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (the node-local tier: MPISNAP_LOCAL_DIR / Config::local_directory)");
  }
}

void TieredStore::check_owner() {
  if (!token_.empty()) require_lease(global_.where(), token_);
}

RankFileInfo TieredStore::write_rank(const RankCheckpoint& cp) {
  check_owner();
  return local_.write_rank(cp);
}

void TieredStore::commit(const Manifest& m) {
  check_owner();
  local_.commit(m);
}

PruneResult TieredStore::prune(unsigned, std::uint64_t floor) { return local_.prune(keep_local_, floor); }

void TieredStore::discard(std::uint64_t id) { local_.discard(id); }

Manifest TieredStore::manifest(std::uint64_t id) {
  if (fs::exists(local_.location(id) + "/" + kManifestName)) return local_.manifest(id);
  return global_.manifest(id);
}

LoadedRankFile TieredStore::load_rank(std::uint64_t id, int rank) {
  if (fs::exists(local_.location(id) + "/" + rank_file_name(rank))) return local_.load_rank(id, rank);
  return global_.load_rank(id, rank);
}

VerifyReport TieredStore::verify(std::uint64_t id) {
  if (fs::exists(local_.location(id) + "/" + kManifestName)) return local_.verify(id);
  return global_.verify(id);
}

void TieredStore::write_copy(std::uint64_t id, int rank, const char* data, std::uint64_t size) {
  check_owner();
  write_file(local_.location(id), rank_file_name(rank), data, -1, size);
}

std::uint64_t TieredStore::flush_rank(std::uint64_t id, int rank, int fd) {
  check_owner();
  return write_file(global_.location(id), rank_file_name(rank), nullptr, fd, 0);
}

void TieredStore::flush_failed(std::uint64_t id, int rank, const std::string& why) noexcept {
  try {
    const std::string dir = global_.location(id);
    fs::make_dirs(dir);
    const std::string path = dir + "/" + rank_file_name(rank) + kFailedSuffix;
    if (FILE* f = std::fopen(path.c_str(), "w")) {
      std::fputs(why.c_str(), f);
      std::fclose(f);
    }
  } catch (...) {
    // the global tier itself is gone: rank 0's wait ends at its timeout, naming this rank
  }
}

void TieredStore::commit_global(const Manifest& m, unsigned keep, std::uint64_t floor, double timeout) {
  const std::string dir = global_.location(m.checkpoint_id);
  const auto start = std::chrono::steady_clock::now();
  auto delay = std::chrono::milliseconds(1);
  std::vector<int> missing;
  for (int r = 0; r < m.nranks; ++r) missing.push_back(r);
  for (;;) {
    std::vector<int> still;
    std::string failed;
    for (int r : missing) {
      const std::string file = dir + "/" + rank_file_name(r);
      if (fs::exists(file)) continue;
      if (fs::exists(file + kFailedSuffix)) {
        std::string why;
        if (FILE* f = std::fopen((file + kFailedSuffix).c_str(), "r")) {
          char buf[512];
          const std::size_t n = std::fread(buf, 1, sizeof buf, f);
          why.assign(buf, n);
          std::fclose(f);
        }
        failed += (failed.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + ": " + why;
      }
      still.push_back(r);
    }
    if (!failed.empty())
      throw Error("mpisnap: checkpoint " + std::to_string(m.checkpoint_id) +
                  " could not be flushed to the global tier " + global_.where() + " (" + failed +
                  "); it stays committed on the node-local tier");
    missing.swap(still);
    if (missing.empty()) break;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > timeout)
      throw Error("mpisnap: checkpoint " + std::to_string(m.checkpoint_id) + " is not on the global tier " +
                  global_.where() + " after " + std::to_string(static_cast<int>(waited)) + " s: " +
                  std::to_string(missing.size()) + " rank file(s) missing (rank " + std::to_string(missing.front()) +
                  (missing.size() > 1 ? ", ..." : "") + ")");
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(100));
  }
  check_owner();
  global_.commit(m);
  global_.prune(keep, floor);
}

}  // namespace mpisnap::storage
