#include "storage/lease.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include <mpisnap/error.hpp>

#include "storage/fs.hpp"

namespace mpisnap::storage {
namespace {

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char h[256] = {};
  if (::gethostname(h, sizeof h - 1) != 0) return "unknown-host";
  return h;
}

// The fields of /proc/<pid>/stat after the command name, from field 3 (the state) on; empty when
// the process is not there (or the file cannot be read).
std::vector<std::string> stat_fields(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = s.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(s.substr(close + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// Field 22: the process's start time in clock ticks after boot (0: unknown).
std::uint64_t start_ticks(long pid) {
  const auto fields = stat_fields(pid);
  return fields.size() > 19 ? std::strtoull(fields[19].c_str(), nullptr, 10) : 0;
}

std::string new_token() {
  std::random_device rd;
  std::mt19937_64 g((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                    static_cast<std::uint64_t>(now_unix() * 1e6) ^ (static_cast<std::uint64_t>(::getpid()) << 40));
  char t[40];
  std::snprintf(t, sizeof t, "%016llx%016llx", static_cast<unsigned long long>(g()), static_cast<unsigned long long>(g()));
  return t;
}

std::string render(const LeaseHolder& h) {
  std::ostringstream o;
  char since[32];
  std::snprintf(since, sizeof since, "%.3f", h.since);
  o << "mpisnap lease\nhost=" << h.host << "\npid=" << h.pid << "\nstart=" << h.start_ticks << "\nprogram=" << h.program
    << "\nranks=" << h.ranks << "\nsince=" << since << "\ntoken=" << h.token << "\n";
  return o.str();
}

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw Error("mpisnap: " + what + " " + path + ": " + std::strerror(err));
}

// Writes `h` aside and links it to `path`: false when `path` exists (someone holds the lease).
bool create_exclusive(const std::string& path, const LeaseHolder& h) {
  const std::string aside = path + ".new-" + h.token;
  const std::string text = render(h);
  const int fd = ::open(aside.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write the lease", aside, errno);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int werr = errno;
  ::close(fd);
  if (!written) {
    ::unlink(aside.c_str());
    fail("cannot write the lease", aside, werr);
  }
  const int rc = ::link(aside.c_str(), path.c_str());
  const int err = errno;
  ::unlink(aside.c_str());
  if (rc == 0) return true;
  if (err == EEXIST) return false;
  fail("cannot take the lease", path, err);
}

// A process that exists and has not exited (a zombie, not yet reaped by its parent, has).
bool alive(long pid) {
  if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)) return false;
  const auto fields = stat_fields(pid);
  return fields.empty() || (fields[0] != "Z" && fields[0] != "X");
}

void pause_for(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

}  // namespace

std::string LeaseHolder::describe() const {
  char when[32] = "?";
  const auto t = static_cast<std::time_t>(since);
  std::tm tm{};
  if (since > 0 && localtime_r(&t, &tm)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  return "job '" + (program.empty() ? std::string("?") : program) + "' with " + std::to_string(ranks) +
         " rank(s) (rank 0: pid " + std::to_string(pid) + " on host " + host + ", since " + when + ")";
}

bool read_lease(const std::string& dir, LeaseHolder& out) { return read_lease_file(dir + "/" + kLeaseName, out); }

bool read_lease_file(const std::string& path, LeaseHolder& out) {
  std::ifstream in(path);
  if (!in) return false;
  LeaseHolder h;
  std::string line;
  bool header = false;
  while (std::getline(in, line)) {
    if (line == "mpisnap lease") header = true;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "host") h.host = v;
    else if (k == "pid") h.pid = std::atol(v.c_str());
    else if (k == "start") h.start_ticks = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "program") h.program = v;
    else if (k == "ranks") h.ranks = std::atoi(v.c_str());
    else if (k == "since") h.since = std::atof(v.c_str());
    else if (k == "token") h.token = v;
  }
  if (!header || h.token.empty()) return false;
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0)
    h.renewed_age = now_unix() - (static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec * 1e-9);
  out = h;
  return true;
}

LeaseHolder this_process(const std::string& program, int ranks) {
  LeaseHolder h;
  h.host = hostname();
  h.pid = ::getpid();
  h.start_ticks = start_ticks(h.pid);
  h.program = program;
  h.ranks = ranks;
  h.since = now_unix();
  h.token = new_token();
  return h;
}

Lease::Lease(std::string dir, LeaseHolder me, Options options, const std::function<void(const std::string&)>& say)
    : dir_(std::move(dir)), path_(dir_ + "/" + kLeaseName), me_(std::move(me)), options_(options) {
  bool announced = false;
  int unreadable = 0;
  int same_host_grace = 30;  // x 0.1 s
  double last_age = -1;
  for (;;) {
    if (create_exclusive(path_, me_)) break;
    LeaseHolder other;
    if (!read_lease(dir_, other)) {  // gone meanwhile, or being written: look again
      if (++unreadable > 100)
        throw Error("mpisnap: " + path_ + " exists but is not an mpisnap lease; remove it if no job uses " + dir_);
      pause_for(0.05);
      continue;
    }
    if (stale(other)) {
      // Set it aside (one contender wins the rename), make sure it was the stale one, remove it.
      const std::string aside = path_ + ".stale-" + me_.token;
      if (::rename(path_.c_str(), aside.c_str()) == 0) {
        LeaseHolder moved;
        const bool same = read_lease_file(aside, moved) && moved.token == other.token;
        if (!same) ::link(aside.c_str(), path_.c_str());  // a fresh lease of someone quicker: put it back
        ::unlink(aside.c_str());
        if (same)
          say("mpisnap: the checkpoint directory " + dir_ + " was held by " + other.describe() +
              ", which is gone; this job takes it over");
      }
      continue;
    }
    // The owner on this host lives. A job that was just killed may still be exiting (its launcher
    // returned before the process was gone): give it a few seconds before calling it a live job.
    if (other.host == me_.host && same_host_grace-- > 0) {
      pause_for(0.1);
      continue;
    }
    if (other.host == me_.host)
      throw Error("mpisnap: the checkpoint directory " + dir_ + " is in use by another running " + other.describe() +
                  ": two jobs must not share a checkpoint directory. Use another MPISNAP_DIR, or stop that job (its "
                  "lease is " + path_ + ")");
    // Another host: the owner may have vanished with its node. Wait until its lease is stale,
    // unless it is renewed meanwhile (then it is alive).
    if (last_age >= 0 && other.renewed_age + 0.5 < last_age)
      throw Error("mpisnap: the checkpoint directory " + dir_ + " is in use by another running " + other.describe() +
                  " (its lease was renewed while this job waited): two jobs must not share a checkpoint directory");
    last_age = other.renewed_age;
    if (!announced) {
      say("mpisnap: the checkpoint directory " + dir_ + " is held by " + other.describe() + ", not renewed for " +
          std::to_string(static_cast<long>(other.renewed_age)) + " s; waiting up to " +
          std::to_string(static_cast<long>(options_.expiry - other.renewed_age + 1)) +
          " s for it to expire (a job on a lost node)");
      announced = true;
    }
    pause_for(1.0);
  }
  if (options_.renew) renewer_ = std::thread([this] { renew_loop(); });
}

Lease::~Lease() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  LeaseHolder h;
  if (read_lease(dir_, h) && h.token == me_.token) ::unlink(path_.c_str());
}

bool Lease::stale(const LeaseHolder& other) const {
  if (other.host == me_.host) {
    if (!alive(other.pid)) return true;
    const std::uint64_t ticks = start_ticks(other.pid);
    return other.start_ticks != 0 && ticks != 0 && ticks != other.start_ticks;  // the pid is another process now
  }
  return other.renewed_age > options_.expiry;
}

void Lease::renew_now() {
  LeaseHolder h;
  if (read_lease(dir_, h) && h.token == me_.token) ::utimensat(AT_FDCWD, path_.c_str(), nullptr, 0);
}

void Lease::renew_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::duration<double>(options_.expiry / 4), [this] { return stopping_; })) {
    lock.unlock();
    renew_now();
    lock.lock();
  }
}

void require_lease(const std::string& dir, const std::string& token) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    LeaseHolder h;
    if (read_lease(dir, h)) {
      if (h.token == token) return;
      throw Error("mpisnap: the checkpoint directory " + dir + " now belongs to another " + h.describe() +
                  "; this job writes nothing more there");
    }
    // The lease is gone (the directory was removed under the job): hold it again.
    if (!fs::is_dir(dir)) fs::make_dirs(dir);
    LeaseHolder again = this_process("", 0);
    again.token = token;
    if (create_exclusive(dir + "/" + kLeaseName, again)) return;
  }
  throw Error("mpisnap: cannot hold the lease of the checkpoint directory " + dir);
}

}  // namespace mpisnap::storage
