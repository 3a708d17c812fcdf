// Reading a committed checkpoint as a consistent global state, with nothing of the running job:
// every rank's state as the application's own type (through the same cereal serialize) and the
// messages that were in flight across the cut (the channel state). For auditing, checking an
// invariant, looking for a deadlock, offline or from Session::on_commit while the job runs.
//
//   mpisnap::GlobalState g("ckpts");                 // the newest committed checkpoint
//   for (int r = 0; r < g.nranks(); ++r) {
//     State s = g.state<State>(r);                   // what rank r's serialize wrote
//   }
//   for (const mpisnap::InFlightMessage& m : g.messages())
//     if (m.comm == 0 && m.tag == 7) total += m.as<std::int64_t>()[0];
//
// No MPI call is made: a tool that only reads checkpoints links libmpisnap and never calls MPI_Init.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <mpisnap/archive.hpp>
#include <mpisnap/error.hpp>
#include <mpisnap/export.hpp>
#include <mpisnap/tree.hpp>

namespace mpisnap {

// One message in flight across the cut: sent before its sender's snapshot, not received by the
// application before its receiver's. Recorded by the receiver, in the order it would deliver them.
struct InFlightMessage {
  std::uint64_t comm = 0;   // communicator id (0 is MPI_COMM_WORLD; GlobalState::comm_members names the others)
  int source = 0;           // the sender's rank in that communicator
  int source_world = 0;     // the sender's rank in MPI_COMM_WORLD
  int dest = 0;             // the receiver's rank in MPI_COMM_WORLD (whose file recorded it)
  int tag = 0;
  std::vector<std::byte> bytes;  // as MPI packed them (contiguous data: the sender's bytes)

  // The payload as values of the sender's (trivially copyable) datatype; throws mpisnap::Error when
  // the size is not a multiple of sizeof(T).
  template <class T>
  std::vector<T> as() const {
    static_assert(std::is_trivially_copyable_v<T>, "InFlightMessage::as<T>: T must be trivially copyable");
    if (bytes.size() % sizeof(T) != 0)
      throw Error("mpisnap: a message of " + std::to_string(bytes.size()) + " bytes from rank " +
                  std::to_string(source_world) + " to rank " + std::to_string(dest) + " (tag " +
                  std::to_string(tag) + ") is not a whole number of " + std::to_string(sizeof(T)) + "-byte values");
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }
};

class MPISNAP_API GlobalState {
 public:
  // The committed checkpoints of `directory`, ascending by id (none: empty).
  static std::vector<std::uint64_t> committed(const std::string& directory);

  // Opens checkpoint `id` of `directory`, or the newest committed one when id is 0. Reads every
  // rank's file and verifies it (checksums, and its digest against the manifest): throws
  // mpisnap::Error naming the directory, the file and the problem (none committed, not committed,
  // damaged).
  explicit GlobalState(const std::string& directory, std::uint64_t id = 0);
  ~GlobalState();
  GlobalState(GlobalState&&) noexcept;
  GlobalState& operator=(GlobalState&&) noexcept;

  std::uint64_t checkpoint_id() const noexcept;
  std::uint64_t safe_point() const noexcept;  // safe points every rank had passed at the cut
  int nranks() const noexcept;
  const std::string& program() const noexcept;  // the executable that wrote it ("" in older files)
  const std::string& path() const noexcept;     // the checkpoint's own directory

  // Rank `rank`'s state as its serialize wrote it, into the application's type (the same checks as
  // a restore: names, types and sizes).
  template <class T>
  void state(int rank, T& out) const {
    from_tree(state_tree(rank), out);
  }
  template <class T>
  T state(int rank) const {
    T out{};
    state(rank, out);
    return out;
  }
  // The root node of rank `rank`'s state tree (its child "state"), for generic tools.
  const Node& state_tree(int rank) const;

  // Every message in flight across the cut, by receiving rank, each rank's in delivery order.
  const std::vector<InFlightMessage>& messages() const noexcept;
  // Those addressed to `rank`, in delivery order.
  std::vector<InFlightMessage> messages_to(int rank) const;
  // The world ranks of communicator `comm`'s members (its remote group for an intercommunicator);
  // empty when no rank's file knows it.
  std::vector<int> comm_members(std::uint64_t comm) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mpisnap
