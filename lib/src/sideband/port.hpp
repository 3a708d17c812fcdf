// The side channel of the trigger agreement: TCP connections along its binary tree (rank i to its
// parent (i-1)/2 and its children 2i+1, 2i+2), over which a helper thread per rank (triggers/) runs
// the agreement without any MPI call and without the rank's main thread. A rank blocked inside MPI
// (a receive that waits for a peer that waits for the agreement) then still takes part: the reason
// blocking calls no longer have to poll. MPI itself cannot carry this traffic: a second thread in
// MPI needs MPI_THREAD_MULTIPLE, which made every call of an Isend+Recv+Wait ~23% dearer on both
// Open MPI 4.1 and MPICH 4.0 (callgrind, BENCHMARKS.md).
//
// Setting up: every rank listens (any address, a port the kernel picks), publishes an `Endpoint`
// (its IPv4 addresses, non-loopback first, and the port; the runtime allgathers them over MPI),
// then connects to its parent and accepts its children (`connect_tree`). A connection opens with a
// hello naming the job, the sender and whom it wants; the wrong listener (a loopback address in
// another network namespace, a port reused by another job) refuses it and the next address is tried.
//
// On the wire every message is one frame of six 64-bit words (host byte order: one build per job),
// a routed one followed by its payload. The agreement's messages go to a tree neighbour; its
// max-reduction goes up the tree (each rank combines its children's with its own) and the result
// comes down. A routed message (`route`: the blocked-call watch's reports, questions and answers)
// goes to any rank, hop by hop along the tree: up until the addressee is below, then down. No
// thread here: the owner calls everything under one lock and waits for input with `wait`.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "protocol/trigger_agreement.hpp"

namespace mpisnap::sideband {

// What a rank publishes (plain bytes, the same layout on every rank of a job).
struct Endpoint {
  static constexpr int kMaxAddresses = 8;
  std::uint32_t address[kMaxAddresses] = {};  // IPv4, network byte order
  std::uint32_t count = 0;
  std::uint32_t port = 0;                     // host byte order
  std::uint64_t pid = 0;
};

// A listening socket on every address, opened at construction.
class Listener {
 public:
  Listener();
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  // This host's IPv4 addresses (interfaces up; loopback last) and the port.
  Endpoint endpoint() const;
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
  std::uint32_t port_ = 0;
};

// The connected tree neighbours of one rank.
struct Links {
  int parent = -1;                    // world rank, -1 for rank 0
  std::vector<int> children;          // world ranks
  std::map<int, int> fd;              // world rank -> socket
  Links() = default;
  Links(Links&& o) noexcept;
  Links& operator=(Links&& o) noexcept;
  ~Links();
};

// The job's name in the hellos: rank 0's process id and port (two jobs on one host differ in both).
inline std::uint64_t job_of(const std::vector<Endpoint>& all) {
  return all.empty() ? 0 : (all[0].pid << 20) ^ all[0].port ^ (std::uint64_t{all[0].count ? all[0].address[0] : 0} << 32);
}

// Connects rank `rank` of `size` to its tree neighbours. `all[r]` is rank r's endpoint; `job`
// names the job (the same on every rank). Throws mpisnap::Error naming the rank and the neighbour
// when a connection cannot be made within `timeout` seconds.
Links connect_tree(int rank, int size, std::uint64_t job, const Listener& listener, const std::vector<Endpoint>& all,
                   double timeout);

// A message for any rank (Port::route): `kind` and `words` are the sender's; `from` is its rank.
struct Routed {
  int from = -1;
  std::uint64_t kind = 0;
  std::vector<std::uint64_t> words;
};

// The next hop from `rank` to `to` on the tree (parent (i-1)/2): the child whose subtree holds `to`,
// or the parent. `to` != `rank`.
int next_hop(int rank, int to) noexcept;

class Port final : public protocol::AgreementPort {
 public:
  Port(int rank, Links links);
  ~Port() override = default;

  void send(int to, const protocol::AgreementMessage& m) override;
  bool poll(protocol::AgreementMessage& m) override;
  void start_reduce(const std::uint64_t in[3]) override;
  bool reduce_done(std::uint64_t out[3]) override;

  // Waits up to `timeout_ms` for input on any link or on `extra_fd` (-1: none). Changes nothing:
  // the owner may call it without its lock (only `read` closes links, on the same thread).
  void wait(int timeout_ms, int extra_fd) const;
  // Reads what arrived, without waiting. False when a link closed or failed (`failure()` says which).
  bool read();
  const std::string& failure() const noexcept { return failure_; }
  // From now on a closed link is expected (the job is finishing): not a failure.
  void closing() noexcept { closing_ = true; }
  std::uint64_t messages_sent() const noexcept { return sent_; }

  // Sends `words` to rank `to` (this rank too: then it is in the inbox at once).
  void route(int to, std::uint64_t kind, const std::vector<std::uint64_t>& words);
  bool poll_routed(Routed& m);

 private:
  enum Type : std::uint64_t { kReduceUp = 10, kReduceDown = 11, kRouted = 12 };
  static constexpr std::size_t kMaxRoutedWords = std::size_t{1} << 24;  // (a length beyond it: a broken stream)
  struct Frame {
    std::uint64_t w[6];
  };
  void write_frame(int to, const Frame& f, const std::uint64_t* payload = nullptr);
  void on_frame(int from, const Frame& f, const std::uint64_t* payload);
  void try_reduce_up();
  void fail(const std::string& why);

  int rank_;
  Links links_;
  std::map<int, std::string> partial_;           // bytes of an incomplete frame, per link
  std::deque<protocol::AgreementMessage> inbox_;
  std::deque<Routed> routed_;
  // The reductions, numbered from 1 in the order this rank starts them (every rank starts the same
  // ones in the same order): children's contributions by number, this rank's own, the result.
  std::uint64_t reduction_ = 0;
  bool contributed_ = false;
  std::uint64_t mine_[3] = {};
  std::map<std::uint64_t, std::vector<std::array<std::uint64_t, 3>>> from_children_;
  std::uint64_t result_of_ = 0;
  std::uint64_t result_[3] = {};
  std::string failure_;
  bool closing_ = false;
  std::uint64_t sent_ = 0;
};

}  // namespace mpisnap::sideband
