#include "sideband/port.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <mpisnap/error.hpp>

namespace mpisnap::sideband {
namespace {

constexpr std::uint64_t kHello = 0x6d7073736e617031ULL;  // "mpssnap1"
constexpr std::size_t kFrameBytes = 6 * sizeof(std::uint64_t);

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

std::string address_text(std::uint32_t a, std::uint32_t port) {
  char buf[INET_ADDRSTRLEN] = {};
  in_addr in{};
  in.s_addr = a;
  inet_ntop(AF_INET, &in, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(port);
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Waits until `fd` is ready for `events` or `deadline` passes.
bool ready(int fd, short events, double deadline) {
  for (;;) {
    const double left = deadline - now();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min(left * 1000.0, 1000.0)) + 1);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Writes or reads exactly `n` bytes on a non-blocking socket before `deadline`.
bool write_all(int fd, const void* data, std::size_t n, double deadline) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k > 0) {
      p += k;
      n -= static_cast<std::size_t>(k);
    } else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!ready(fd, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t n, double deadline) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, n, 0);
    if (k > 0) {
      p += k;
      n -= static_cast<std::size_t>(k);
    } else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!ready(fd, POLLIN, deadline)) return false;
    } else {
      return false;  // closed or failed
    }
  }
  return true;
}

// One attempt to reach `to` (rank `parent`) at one address: connect, hello, the answer.
int try_connect(std::uint32_t address, std::uint32_t port, std::uint64_t job, int rank, int parent, double deadline) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = address;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 || errno == EINPROGRESS;
  if (ok && !ready(fd, POLLOUT, deadline)) ok = false;
  int err = 0;
  socklen_t len = sizeof err;
  if (ok && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)) ok = false;
  const std::uint64_t hello[4] = {kHello, job, static_cast<std::uint64_t>(rank), static_cast<std::uint64_t>(parent)};
  std::uint64_t answer[4] = {};
  ok = ok && write_all(fd, hello, sizeof hello, deadline) && read_all(fd, answer, sizeof answer, deadline) &&
       answer[0] == kHello && answer[1] == job && answer[2] == static_cast<std::uint64_t>(parent) && answer[3] == 1;
  if (!ok) {
    ::close(fd);
    return -1;
  }
  set_nodelay(fd);
  return fd;
}

}  // namespace

// ------------------------------------------------------------------ setting up

Listener::Listener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw Error("mpisnap: the side channel: " + errno_text("socket"));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  sa.sin_port = 0;
  socklen_t len = sizeof sa;
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd_, 64) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    const std::string why = errno_text("bind/listen");
    ::close(fd_);
    throw Error("mpisnap: the side channel: " + why);
  }
  port_ = ntohs(sa.sin_port);
}

Listener::~Listener() {
  if (fd_ >= 0) ::close(fd_);
}

Endpoint Listener::endpoint() const {
  Endpoint e;
  e.port = port_;
  e.pid = static_cast<std::uint64_t>(::getpid());
  std::vector<std::uint32_t> outside, loopback;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP)) continue;
      const std::uint32_t a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
      (i->ifa_flags & IFF_LOOPBACK ? loopback : outside).push_back(a);
    }
    ::freeifaddrs(list);
  }
  if (loopback.empty()) loopback.push_back(htonl(INADDR_LOOPBACK));
  outside.insert(outside.end(), loopback.begin(), loopback.end());
  for (std::uint32_t a : outside) {
    if (e.count == Endpoint::kMaxAddresses) break;
    e.address[e.count++] = a;
  }
  return e;
}

Links::Links(Links&& o) noexcept : parent(o.parent), children(std::move(o.children)), fd(std::move(o.fd)) { o.fd.clear(); }

Links& Links::operator=(Links&& o) noexcept {
  if (this != &o) {
    for (auto& [r, f] : fd)
      if (f >= 0) ::close(f);
    parent = o.parent;
    children = std::move(o.children);
    fd = std::move(o.fd);
    o.fd.clear();
  }
  return *this;
}

Links::~Links() {
  for (auto& [r, f] : fd)
    if (f >= 0) ::close(f);
}

Links connect_tree(int rank, int size, std::uint64_t job, const Listener& listener, const std::vector<Endpoint>& all,
                   double timeout) {
  Links links;
  const double deadline = now() + timeout;
  const std::string me = "mpisnap: rank " + std::to_string(rank) + ": the side channel of the checkpoint agreement: ";
  for (int c = 2 * rank + 1; c <= 2 * rank + 2 && c < size; ++c) links.children.push_back(c);
  if (rank > 0) {
    links.parent = (rank - 1) / 2;
    const Endpoint& p = all[static_cast<std::size_t>(links.parent)];
    // The parent answers once it is connected to its own parent: wait for it, a while per address
    // (a listener that is not the parent's answers no or nothing), again and again until the deadline.
    int fd = -1;
    for (int round = 0; fd < 0 && now() < deadline; ++round) {
      const double per_address = std::min(2.0 + round * 2.0, 20.0);
      for (std::uint32_t i = 0; fd < 0 && i < p.count; ++i)
        fd = try_connect(p.address[i], p.port, job, rank, links.parent, std::min(deadline, now() + per_address));
      if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (fd < 0) {
      std::string tried;
      for (std::uint32_t i = 0; i < p.count; ++i) tried += (i ? ", " : "") + address_text(p.address[i], p.port);
      throw Error(me + "could not connect to rank " + std::to_string(links.parent) + " at " + tried + " within " +
                  std::to_string(static_cast<int>(timeout)) +
                  " s (the ranks must reach each other over TCP; a firewall between the nodes, or no IPv4 "
                  "address in common, stops it)");
    }
    links.fd[links.parent] = fd;
  }
  std::size_t connected = 0;
  while (connected < links.children.size()) {
    if (!ready(listener.fd(), POLLIN, deadline)) {
      std::string missing;
      for (int c : links.children)
        if (!links.fd.count(c)) missing += (missing.empty() ? "" : ", ") + std::to_string(c);
      throw Error(me + "rank(s) " + missing + " did not connect within " + std::to_string(static_cast<int>(timeout)) +
                  " s");
    }
    const int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    std::uint64_t hello[4] = {};
    const bool read = read_all(fd, hello, sizeof hello, std::min(deadline, now() + 5.0));
    const int from = static_cast<int>(hello[2]);
    const bool mine = read && hello[0] == kHello && hello[1] == job && hello[3] == static_cast<std::uint64_t>(rank) &&
                      std::find(links.children.begin(), links.children.end(), from) != links.children.end() &&
                      !links.fd.count(from);
    const std::uint64_t answer[4] = {kHello, job, static_cast<std::uint64_t>(rank), mine ? 1u : 0u};
    if (read) write_all(fd, answer, sizeof answer, now() + 5.0);
    if (!mine) {
      ::close(fd);
      continue;
    }
    set_nodelay(fd);
    links.fd[from] = fd;
    ++connected;
  }
  return links;
}

// ------------------------------------------------------------------ the port

Port::Port(int rank, Links links) : rank_(rank), links_(std::move(links)) {
  for (auto& [r, f] : links_.fd) set_nonblocking(f);
}

void Port::fail(const std::string& why) {
  if (failure_.empty()) failure_ = "mpisnap: rank " + std::to_string(rank_) + ": the side channel of the checkpoint agreement: " + why;
}

void Port::write_frame(int to, const Frame& f, const std::uint64_t* payload) {
  auto it = links_.fd.find(to);
  if (it == links_.fd.end()) {
    fail("internal: no link to rank " + std::to_string(to));
    return;
  }
  if (it->second < 0) return;  // closed at the end of the job
  const double deadline = now() + 60.0;
  bool ok = write_all(it->second, f.w, kFrameBytes, deadline);
  if (ok && payload && f.w[1] > 0) ok = write_all(it->second, payload, f.w[1] * sizeof(std::uint64_t), deadline);
  if (!ok && !closing_) fail("sending to rank " + std::to_string(to) + " failed (" + std::strerror(errno) + ")");
}

int next_hop(int rank, int to) noexcept {
  // Climb from `to` towards the root: passing through `rank` means `to` is below it.
  int below = to;
  while (below > rank) {
    const int up = (below - 1) / 2;
    if (up == rank) return below;
    below = up;
  }
  return (rank - 1) / 2;
}

void Port::route(int to, std::uint64_t kind, const std::vector<std::uint64_t>& words) {
  if (to == rank_) {
    routed_.push_back({rank_, kind, words});
    return;
  }
  // {kRouted, payload words, addressee, origin, kind, 0}, then the payload.
  write_frame(next_hop(rank_, to),
              {{kRouted, words.size(), static_cast<std::uint64_t>(to), static_cast<std::uint64_t>(rank_), kind, 0}},
              words.data());
  ++sent_;
}

bool Port::poll_routed(Routed& m) {
  if (routed_.empty()) return false;
  m = std::move(routed_.front());
  routed_.pop_front();
  return true;
}

void Port::send(int to, const protocol::AgreementMessage& m) {
  write_frame(to, {{static_cast<std::uint64_t>(m.type), m.round, m.kind_or_ok, 0, 0, static_cast<std::uint64_t>(rank_)}});
  ++sent_;
}

bool Port::poll(protocol::AgreementMessage& m) {
  if (inbox_.empty()) return false;
  m = inbox_.front();
  inbox_.pop_front();
  return true;
}

void Port::start_reduce(const std::uint64_t in[3]) {
  ++reduction_;
  contributed_ = true;
  std::copy(in, in + 3, mine_);
  try_reduce_up();
}

void Port::try_reduce_up() {
  if (!contributed_) return;
  auto it = from_children_.find(reduction_);
  const std::size_t got = it == from_children_.end() ? 0 : it->second.size();
  if (got < links_.children.size()) return;
  std::uint64_t w[3] = {mine_[0], mine_[1], mine_[2]};
  if (it != from_children_.end()) {
    for (const auto& c : it->second)
      for (int i = 0; i < 3; ++i) w[i] = std::max(w[i], c[static_cast<std::size_t>(i)]);
    from_children_.erase(it);
  }
  contributed_ = false;
  if (links_.parent >= 0) {
    write_frame(links_.parent, {{kReduceUp, reduction_, w[0], w[1], w[2], static_cast<std::uint64_t>(rank_)}});
    return;
  }
  on_frame(rank_, {{kReduceDown, reduction_, w[0], w[1], w[2], static_cast<std::uint64_t>(rank_)}}, nullptr);
}

bool Port::reduce_done(std::uint64_t out[3]) {
  if (reduction_ == 0 || result_of_ != reduction_) return false;
  std::copy(result_, result_ + 3, out);
  return true;
}

void Port::on_frame(int from, const Frame& f, const std::uint64_t* payload) {
  switch (f.w[0]) {
    case kRouted: {
      const int to = static_cast<int>(f.w[2]);
      if (to != rank_) {  // passing through
        write_frame(next_hop(rank_, to), f, payload);
        break;
      }
      Routed m;
      m.from = static_cast<int>(f.w[3]);
      m.kind = f.w[4];
      m.words.assign(payload, payload + f.w[1]);
      routed_.push_back(std::move(m));
      break;
    }
    case kReduceUp:
      from_children_[f.w[1]].push_back({f.w[2], f.w[3], f.w[4]});
      try_reduce_up();
      break;
    case kReduceDown:
      result_of_ = f.w[1];
      std::copy(f.w + 2, f.w + 5, result_);
      for (int c : links_.children) write_frame(c, {{kReduceDown, f.w[1], f.w[2], f.w[3], f.w[4], static_cast<std::uint64_t>(rank_)}});
      break;
    default: {
      protocol::AgreementMessage m;
      m.type = static_cast<protocol::AgreementMessage::Type>(f.w[0]);
      m.round = f.w[1];
      m.kind_or_ok = f.w[2];
      m.from = from;
      inbox_.push_back(m);
    }
  }
}

void Port::wait(int timeout_ms, int extra_fd) const {
  std::vector<pollfd> fds;
  for (const auto& [r, f] : links_.fd)
    if (f >= 0) fds.push_back({f, POLLIN, 0});
  if (extra_fd >= 0) fds.push_back({extra_fd, POLLIN, 0});
  ::poll(fds.data(), fds.size(), timeout_ms);
}

bool Port::read() {
  std::vector<int> ranks;
  for (const auto& [r, f] : links_.fd)
    if (f >= 0) ranks.push_back(r);
  for (int r : ranks) {
    int& fd = links_.fd[r];
    std::string& buf = partial_[r];
    for (;;) {
      char chunk[4096];
      const ssize_t k = ::recv(fd, chunk, sizeof chunk, 0);
      if (k > 0) {
        buf.append(chunk, static_cast<std::size_t>(k));
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && errno == EAGAIN) break;
      // Closed (or failed): at the end of the job that is expected, before it the rank is gone.
      if (!closing_) fail("rank " + std::to_string(r) + " closed its connection (it ended or failed)");
      ::close(fd);
      fd = -1;
      break;
    }
    std::size_t used = 0;
    while (buf.size() - used >= kFrameBytes) {
      Frame f;
      std::memcpy(f.w, buf.data() + used, kFrameBytes);
      std::vector<std::uint64_t> payload;
      std::size_t length = kFrameBytes;
      if (f.w[0] == kRouted) {
        if (f.w[1] > kMaxRoutedWords) {
          fail("rank " + std::to_string(r) + " sent a message of " + std::to_string(f.w[1]) + " words (a broken stream)");
          break;
        }
        length += f.w[1] * sizeof(std::uint64_t);
        if (buf.size() - used < length) break;  // the rest is on its way
        payload.resize(f.w[1]);
        if (f.w[1] > 0) std::memcpy(payload.data(), buf.data() + used + kFrameBytes, f.w[1] * sizeof(std::uint64_t));
      }
      on_frame(r, f, payload.data());
      used += length;
    }
    buf.erase(0, used);
  }
  return failure_.empty();
}

}  // namespace mpisnap::sideband
