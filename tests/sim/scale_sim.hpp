// The snapshot protocol at job sizes this machine cannot run: thousands to tens of thousands of
// simulated ranks in one process, each with the real `SnapshotEngine` and `TriggerAgreement`, on a
// network of synchronous rounds (a message sent in round t is received in round t+1).
//
// What is ours runs as it ships: markers, channel closure, the trigger agreement's tree of START and
// REQUEST messages. What MPI does for us is modelled, and counted as MPI's: the collectives (the
// marker barrier, the done gather + barrier, the agreement's max-allreduce) as a binary tree, up and
// down, 2 log2 P rounds; the acknowledgement of a synchronous send. The application's traffic is a
// pattern of peers (ring, 3-D stencil, random sparse); the messages it has in flight at each cut are
// drained by the engine as on a real rank.
//
// Measured per rank: control messages and bytes it sent and received (ours and the modelled
// collectives' apart), the peak memory of its protocol state (every allocation made inside its
// engine and its agreement, counted by the allocation meter: scale_sim_meter.cpp), the peak memory of
// the runtime's per-peer message counters (mpi::PeerCounters, metered apart), and per
// checkpoint the rounds from a trigger to every rank knowing the target, and from the last rank's
// snapshot to every rank knowing the snapshot complete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mpisnap::sim {

enum class Pattern { Ring, Stencil3d, RandomSparse };
const char* name(Pattern p);

struct Config {
  int ranks = 1024;
  Pattern pattern = Pattern::Ring;
  int checkpoints = 2;
  int random_fanout = 8;        // RandomSparse: peers each rank sends to, chosen at random
  bool every_rank_triggers = false;  // a scheduler's signal to every rank at once, else rank 0's timer
  int messages_per_epoch = 4;   // per channel and epoch
  std::uint64_t seed = 1;
};

struct Traffic {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
};

struct RankStats {
  int peers = 0;                 // distinct ranks it sends to or receives from
  Traffic ours_sent, ours_received;   // markers and agreement messages
  Traffic mpi_sent, mpi_received;     // the modelled collectives and synchronous-send acks
  std::uint64_t peak_bytes = 0;  // protocol state: engine + agreement, their allocations included
  std::uint64_t counter_bytes = 0;  // the runtime's per-peer message counters of its communicator (peak)
};

struct Result {
  std::vector<RankStats> ranks;
  std::vector<int> agreement_rounds;   // per checkpoint: trigger -> every rank knows the target
  std::vector<int> completion_rounds;  // per checkpoint: last rank's snapshot -> every rank complete
  std::vector<int> total_rounds;       // per checkpoint: trigger -> every rank complete
  int checkpoints = 0;
  std::uint64_t requests_at_root = 0;  // REQUEST messages rank 0 received
};

// Throws std::runtime_error when the run does not finish (a protocol that stalls is a finding).
Result run(const Config& c);

// The allocation meter (scale_sim_meter.cpp): bytes live per owner, the owner being the simulated
// rank whose protocol code is running on this thread (-1: nobody, not counted).
namespace meter {
void begin(int ranks);  // starts counting for ranks 0..ranks-1
void end();
void set_owner(int rank);
int owner();
std::uint64_t live(int rank);
std::uint64_t peak(int rank);
}  // namespace meter

}  // namespace mpisnap::sim
