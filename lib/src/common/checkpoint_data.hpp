// Plain data shared by the channel layer (which records messages) and the storage layer (which
// writes them). No MPI, no HDF5.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <mpisnap/tree.hpp>

namespace mpisnap {

// One message recorded as channel state: its envelope as the receiver sees it and its bytes in
// MPI's packed form (as received with MPI_PACKED; contiguous bytes for a homogeneous job).
struct RecordedMessage {
  std::uint64_t comm = 0;    // communicator id, agreed by every member at creation
  std::int32_t source = 0;   // rank of the sender within that communicator
  std::int32_t tag = 0;
  Bytes bytes;
};

// Cumulative message counts of one rank on one communicator, for the peers it exchanged messages
// with (a peer absent from `peers` has both totals zero). For every channel j -> i of a consistent
// checkpoint:
//   sent_total of j towards i == delivered_total of i from j + messages recorded on i from j.
struct CommCounters {
  std::uint64_t comm = 0;
  std::vector<std::int32_t> world_ranks;      // world rank of each member
  // Format 1.4: sparse, in increasing peer order (1.0-1.3 files stored every member; read, they
  // keep the members with a nonzero total).
  std::vector<std::int32_t> peers;            // ranks in the communicator (positions in world_ranks)
  std::vector<std::uint64_t> sent_total;      // to peers[k], up to this rank's snapshot
  std::vector<std::uint64_t> delivered_total; // from peers[k], handed to the application

  // The totals towards / from the member at `position` (zero when it is not among the peers).
  std::uint64_t sent_to(std::int32_t position) const noexcept { return total(sent_total, position); }
  std::uint64_t delivered_from(std::int32_t position) const noexcept { return total(delivered_total, position); }
  void add_peer(std::int32_t position, std::uint64_t sent, std::uint64_t delivered) {
    peers.push_back(position);
    sent_total.push_back(sent);
    delivered_total.push_back(delivered);
  }
  std::uint64_t collectives = 0;              // collective calls on it before this rank's snapshot
  // Its lineage, which names it again in a restarted run (format 1.1; absent in 1.0 files): the id
  // of the communicator it was made from (kNoParent: predefined, or made before the Session), and
  // its slot, the smallest number no other live communicator made from that parent with the same
  // members had when it was made. A restarted run that makes a communicator with the same parent
  // id, members and slot gives it this id back, so the messages recorded on it reach it.
  static constexpr std::uint64_t kNoParent = ~std::uint64_t{0};
  // The lineage of a communicator made from groups (MPI-4's MPI_Comm_create_from_group,
  // MPI_Intercomm_create_from_groups), which have no parent: named by members and slot alone.
  static constexpr std::uint64_t kFromGroups = ~std::uint64_t{0} - 1;
  std::uint64_t parent = kNoParent;
  std::uint64_t slot = 0;
  std::vector<std::int32_t> local_world_ranks;  // intercommunicator: the local group (else empty)
  bool live = true;                           // not yet freed by the application
  std::uint64_t idups = 0;                    // MPI_Comm_idup calls on it (names the children's ids)

 private:
  std::uint64_t total(const std::vector<std::uint64_t>& v, std::int32_t position) const noexcept {
    const auto it = std::lower_bound(peers.begin(), peers.end(), position);
    return it != peers.end() && *it == position ? v[static_cast<std::size_t>(it - peers.begin())] : 0;
  }
};

// Everything one rank writes for one checkpoint.
struct RankCheckpoint {
  std::uint64_t checkpoint_id = 0;
  std::uint64_t safe_point = 0;    // safe points passed when the snapshot was taken
  std::int32_t rank = 0;
  std::int32_t nranks = 0;
  double created_unix = 0;
  Node state;                      // root Group holding "state"
  std::vector<RecordedMessage> channel;
  std::vector<CommCounters> counters;
};

}  // namespace mpisnap
