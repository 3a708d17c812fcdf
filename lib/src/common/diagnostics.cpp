#include "common/diagnostics.hpp"

#include <unistd.h>

#include <cstdio>

namespace mpisnap::diag {
namespace {

int g_rank = -1;  // written once by the runtime's thread before any message of the rank

}  // namespace

void set_rank(int rank) noexcept { g_rank = rank; }

std::string rank_prefix() {
  return g_rank < 0 ? std::string("mpisnap: ") : "mpisnap: rank " + std::to_string(g_rank) + ": ";
}

void warn(const std::string& what) {
  const std::string line = rank_prefix() + what + "\n";
  std::fputs(line.c_str(), stderr);
}

void say(const std::string& what) {
  const std::string line = "mpisnap: " + what + "\n";
  std::fputs(line.c_str(), stderr);
}

Error error(const std::string& what) { return Error(rank_prefix() + what); }

std::string with_rank(const std::string& text) {
  static const std::string kNamed = "mpisnap: rank ", kPlain = "mpisnap: ";
  if (text.rfind(kNamed, 0) == 0) return text;
  return rank_prefix() + (text.rfind(kPlain, 0) == 0 ? text.substr(kPlain.size()) : text);
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string program_name() {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "?";
  const std::string path(exe, static_cast<std::size_t>(n));
  return path.substr(path.rfind('/') + 1);
}

std::string bytes(std::uint64_t n) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return fixed(v, v < 10 ? 2 : v < 100 ? 1 : 0) + " " + units[u];
}

}  // namespace mpisnap::diag
