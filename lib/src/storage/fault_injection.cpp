#include "storage/fault_injection.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <mpisnap/error.hpp>

#include "storage/fs.hpp"

namespace mpisnap::storage {
namespace {

enum class Op { Open, Fsync, Close, Rename, Mkdir, Unlink, Rmdir };

struct Rule {
  Op op;
  std::string text;
  int err = 0;  // 0: kill
  int rank = -1;
  unsigned long nth = 1;
  bool and_later = false;
  unsigned long seen = 0;
};

std::mutex g_mu;  // the background writer and the application thread both call the seam
std::vector<Rule> g_rules;
int g_rank = 0;

// Whether this call fails; kills the process when the rule says so.
bool strikes(Op op, const char* path) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (Rule& r : g_rules) {
    if (r.op != op || (r.rank >= 0 && r.rank != g_rank)) continue;
    if (!r.text.empty() && (!path || std::string(path).find(r.text) == std::string::npos)) continue;
    ++r.seen;
    if (r.seen < r.nth || (r.seen > r.nth && !r.and_later)) continue;
    if (r.err == 0) {
      ::kill(::getpid(), SIGKILL);
      ::pause();
    }
    errno = r.err;
    return true;
  }
  return false;
}

// For calls on a file descriptor, the path it was opened with.
std::vector<std::pair<int, std::string>> g_fd_paths;
std::string path_of(int fd) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& [f, p] : g_fd_paths)
    if (f == fd) return p;
  return {};
}

int f_open(const char* p, int flags, mode_t m) {
  if (strikes(Op::Open, p)) return -1;
  const int fd = fs::default_ops().open(p, flags, m);
  if (fd >= 0) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_fd_paths.emplace_back(fd, p);
  }
  return fd;
}
int f_fsync(int fd) { return strikes(Op::Fsync, path_of(fd).c_str()) ? -1 : fs::default_ops().fsync(fd); }
int f_close(int fd) {
  const std::string p = path_of(fd);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (auto it = g_fd_paths.begin(); it != g_fd_paths.end(); ++it)
      if (it->first == fd) {
        g_fd_paths.erase(it);
        break;
      }
  }
  if (strikes(Op::Close, p.c_str())) {
    fs::default_ops().close(fd);
    return -1;
  }
  return fs::default_ops().close(fd);
}
int f_rename(const char* a, const char* b) { return strikes(Op::Rename, b) ? -1 : fs::default_ops().rename(a, b); }
int f_mkdir(const char* p, mode_t m) { return strikes(Op::Mkdir, p) ? -1 : fs::default_ops().mkdir(p, m); }
int f_unlink(const char* p) { return strikes(Op::Unlink, p) ? -1 : fs::default_ops().unlink(p); }
int f_rmdir(const char* p) { return strikes(Op::Rmdir, p) ? -1 : fs::default_ops().rmdir(p); }

[[noreturn]] void bad(const std::string& rule, const std::string& why) {
  throw Error("mpisnap: MPISNAP_TEST_FAULT rule '" + rule + "': " + why);
}

Rule parse(const std::string& rule) {
  std::vector<std::string> f;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= rule.size(); ++i)
    if (i == rule.size() || rule[i] == ':') {
      f.push_back(rule.substr(start, i - start));
      start = i + 1;
    }
  if (f.size() < 2 || f.size() > 4) bad(rule, "expected op[@text]:effect[:rank[:nth[+]]]");
  Rule r;
  std::string op = f[0];
  if (const auto at = op.find('@'); at != std::string::npos) {
    r.text = op.substr(at + 1);
    op = op.substr(0, at);
  }
  const std::pair<const char*, Op> ops[] = {{"open", Op::Open},     {"fsync", Op::Fsync},   {"close", Op::Close},
                                            {"rename", Op::Rename}, {"mkdir", Op::Mkdir},   {"unlink", Op::Unlink},
                                            {"rmdir", Op::Rmdir}};
  bool known = false;
  for (const auto& [name, o] : ops)
    if (op == name) {
      r.op = o;
      known = true;
    }
  if (!known) bad(rule, "unknown operation '" + op + "'");
  const std::pair<const char*, int> errs[] = {{"kill", 0},        {"ENOSPC", ENOSPC}, {"EACCES", EACCES}, {"EIO", EIO},
                                              {"EROFS", EROFS},   {"EDQUOT", EDQUOT}, {"ENOENT", ENOENT}};
  known = false;
  for (const auto& [name, e] : errs)
    if (f[1] == name) {
      r.err = e;
      known = true;
    }
  if (!known) bad(rule, "unknown effect '" + f[1] + "' (kill, ENOSPC, EACCES, EIO, EROFS, EDQUOT, ENOENT)");
  char* end = nullptr;
  if (f.size() > 2 && f[2] != "*") {
    r.rank = static_cast<int>(std::strtol(f[2].c_str(), &end, 10));
    if (f[2].empty() || *end || r.rank < 0) bad(rule, "rank must be a number or *");
  }
  if (f.size() > 3) {
    std::string n = f[3];
    if (!n.empty() && n.back() == '+') {
      r.and_later = true;
      n.pop_back();
    }
    r.nth = std::strtoul(n.c_str(), &end, 10);
    if (n.empty() || *end || r.nth == 0) bad(rule, "nth must be a positive number, optionally followed by +");
  }
  return r;
}

}  // namespace

void install_faults(const std::string& spec, int rank) {
  std::vector<Rule> rules;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= spec.size(); ++i)
    if (i == spec.size() || spec[i] == ',') {
      if (i > start) rules.push_back(parse(spec.substr(start, i - start)));
      start = i + 1;
    }
  std::lock_guard<std::mutex> lock(g_mu);
  g_rules = std::move(rules);
  g_rank = rank;
  g_fd_paths.clear();
  if (g_rules.empty()) {
    fs::reset_ops();
    return;
  }
  fs::Ops& o = fs::ops();
  o = fs::Ops{f_open, f_fsync, f_close, f_rename, f_mkdir, f_unlink, f_rmdir};
}

}  // namespace mpisnap::storage
