// Config and TestHooks: built-in defaults and the MPISNAP_* environment variables, each parsed here
// and nowhere else.
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>

#include <mpisnap/config.hpp>

#include "common/test_hooks.hpp"

namespace mpisnap {
namespace {

[[noreturn]] void bad(const char* var, const char* value, const char* expected) {
  throw Error(std::string("mpisnap: ") + var + "='" + value + "' is not " + expected);
}

std::uint64_t parse_count(const char* var, const char* v, std::uint64_t min) {
  if (!*v || *v == '-' || *v == '+') bad(var, v, min ? "an integer >= 1" : "a non-negative integer");
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (errno || *end || n < min) bad(var, v, min ? "an integer >= 1" : "a non-negative integer");
  return n;
}

bool parse_bool(const char* var, const char* v) {
  const std::string s(v);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off" || s.empty()) return false;
  bad(var, v, "a boolean (1/0, true/false, yes/no, on/off)");
}

double parse_seconds(const char* var, const char* v) {
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (!*v || errno || *end || !(d > 0)) bad(var, v, "a positive number of seconds");
  return d;
}

double parse_seconds_or_zero(const char* var, const char* v) {
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (!*v || errno || *end || !(d >= 0)) bad(var, v, "a number of seconds >= 0 (0 = off)");
  return d;
}

int parse_signal(const char* var, const char* v) {
  std::string s(v);
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  static const struct {
    const char* name;
    int number;
  } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"INT", SIGINT}, {"HUP", SIGHUP},
               {"XCPU", SIGXCPU}, {"ALRM", SIGALRM}};
  for (const auto& n : names)
    if (s == n.name) return n.number;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*v && !*end && n > 0 && n < 65) return static_cast<int>(n);
  bad(var, v, "a signal name (USR1, USR2, TERM, XCPU, ...) or number");
}

}  // namespace

Config Config::defaults() {
  Config c;
  c.apply_environment();
  return c;
}

Config& Config::apply_environment() {
  if (const char* v = std::getenv("MPISNAP_DIR")) {
    if (!*v) bad("MPISNAP_DIR", v, "a directory path");
    directory = v;
  }
  if (const char* v = std::getenv("MPISNAP_EVERY")) every = parse_count("MPISNAP_EVERY", v, 0);
  if (const char* v = std::getenv("MPISNAP_INTERVAL")) interval = parse_seconds_or_zero("MPISNAP_INTERVAL", v);
  if (const char* v = std::getenv("MPISNAP_SIGNALS")) signals = parse_bool("MPISNAP_SIGNALS", v);
  if (const char* v = std::getenv("MPISNAP_TRIGGERS")) triggers = parse_bool("MPISNAP_TRIGGERS", v);
  if (const char* v = std::getenv("MPISNAP_EXIT_SIGNAL")) exit_signal = parse_signal("MPISNAP_EXIT_SIGNAL", v);
  if (const char* v = std::getenv("MPISNAP_KEEP")) {
    const std::uint64_t k = parse_count("MPISNAP_KEEP", v, 1);
    if (k > 1000000) bad("MPISNAP_KEEP", v, "a sensible number of checkpoints to keep (<= 1000000)");
    keep = static_cast<unsigned>(k);
  }
  if (const char* v = std::getenv("MPISNAP_LOCAL_DIR")) local_directory = v;
  if (const char* v = std::getenv("MPISNAP_FLUSH")) {
    const std::string f(v);
    if (f == "stop") flush_every = 0;
    else if (f == "every") flush_every = 1;
    else {
      const std::uint64_t k = parse_count("MPISNAP_FLUSH", v, 1);
      if (k > 1000000) bad("MPISNAP_FLUSH", v, "every, stop or a number of checkpoints (<= 1000000)");
      flush_every = static_cast<unsigned>(k);
    }
  }
  if (const char* v = std::getenv("MPISNAP_KEEP_LOCAL")) {
    const std::uint64_t k = parse_count("MPISNAP_KEEP_LOCAL", v, 1);
    if (k > 1000000) bad("MPISNAP_KEEP_LOCAL", v, "a sensible number of checkpoints to keep (<= 1000000)");
    keep_local = static_cast<unsigned>(k);
  }
  if (const char* v = std::getenv("MPISNAP_PARTNER")) partner = parse_bool("MPISNAP_PARTNER", v);
  if (const char* v = std::getenv("MPISNAP_VERBOSE")) verbose = parse_bool("MPISNAP_VERBOSE", v);
  if (const char* v = std::getenv("MPISNAP_REUSE_BUFFERS")) reuse_buffers = parse_bool("MPISNAP_REUSE_BUFFERS", v);
  if (const char* v = std::getenv("MPISNAP_DIRECT_IO")) direct_io = parse_bool("MPISNAP_DIRECT_IO", v);
  if (const char* v = std::getenv("MPISNAP_FRESH_IF_CORRUPT")) fresh_if_corrupt = parse_bool("MPISNAP_FRESH_IF_CORRUPT", v);
  if (const char* v = std::getenv("MPISNAP_EXCEPTIONS")) exceptions = parse_bool("MPISNAP_EXCEPTIONS", v);
  if (const char* v = std::getenv("MPISNAP_IGNORE_IDENTITY")) ignore_identity = parse_bool("MPISNAP_IGNORE_IDENTITY", v);
  if (const char* v = std::getenv("MPISNAP_FRESH")) fresh = parse_bool("MPISNAP_FRESH", v);
  if (const char* v = std::getenv("MPISNAP_MISPLACED_GRACE")) misplaced_grace = parse_seconds("MPISNAP_MISPLACED_GRACE", v);
  if (const char* v = std::getenv("MPISNAP_DEADLOCK")) deadlock_after = parse_seconds_or_zero("MPISNAP_DEADLOCK", v);
  return *this;
}

TestHooks TestHooks::from_environment() {
  TestHooks h;
  if (const char* v = std::getenv("MPISNAP_PRELOAD_SESSION")) h.preload_session = parse_bool("MPISNAP_PRELOAD_SESSION", v);
  if (const char* v = std::getenv("MPISNAP_EMULATE_RECEIVES"))
    h.emulate_receives = parse_bool("MPISNAP_EMULATE_RECEIVES", v);
  if (const char* v = std::getenv("MPISNAP_TEST_CHAOS")) h.chaos_seed = parse_count("MPISNAP_TEST_CHAOS", v, 0);
  if (const char* v = std::getenv("MPISNAP_TEST_FAULT")) {
    h.faults = v;
    h.faults_set = true;
  }
  return h;
}

}  // namespace mpisnap
