// Strong small types for the protocol (after mpl's tag_t): a world rank is not a communicator rank,
// a communicator id is not a count.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace mpisnap::protocol {

enum class WorldRank : std::int32_t {};
enum class CommId : std::uint64_t {};
using SnapshotSeq = std::uint64_t;  // 1, 2, 3, ... within one run; epoch e sends on color e % 2

constexpr std::int32_t value(WorldRank r) noexcept { return static_cast<std::int32_t>(r); }
constexpr std::uint64_t value(CommId c) noexcept { return static_cast<std::uint64_t>(c); }

// A directed channel as its receiver sees it: communicator and sender.
struct ChannelKey {
  CommId comm;
  WorldRank source;
  friend bool operator==(ChannelKey a, ChannelKey b) noexcept {
    return a.comm == b.comm && a.source == b.source;
  }
};

struct ChannelKeyHash {
  std::size_t operator()(ChannelKey k) const noexcept {
    return std::hash<std::uint64_t>()((value(k.comm) << 24) ^ static_cast<std::uint32_t>(value(k.source)));
  }
};

struct CommCount {
  CommId comm;
  std::uint64_t count;
};

// What a rank tells a peer at its snapshot: how many messages it sent that peer, per
// communicator, in the epoch that just closed. Sent only to peers with a nonzero total.
struct Marker {
  SnapshotSeq seq = 0;
  std::vector<CommCount> counts;
};

std::vector<std::uint64_t> encode(const Marker& m);
// Throws mpisnap::Error on a malformed marker.
Marker decode_marker(const std::uint64_t* words, std::size_t n);

// What each rank reports when its part of a snapshot is written; gathered at rank 0.
struct DoneRecord {
  std::uint64_t digest = 0;
  std::uint64_t file_bytes = 0;
  std::uint64_t messages = 0;          // recorded in-flight messages
  std::uint64_t sent_before = 0;       // sent in the closing epoch, all channels
  std::uint64_t received_before = 0;   // of those addressed here: received before + drained + abandoned
  std::uint64_t failed = 0;            // nonzero when this rank could not write its file
  std::uint64_t snap_time_ns = 0;      // CLOCK_REALTIME at this rank's snapshot
  // Sums to 0 over all ranks exactly when the members of every communicator made the same number
  // of collective calls before their snapshots (see collective_check in runtime_snapshot.cpp).
  std::uint64_t coll_check = 0;
  // For the commit line: this rank's pause at the safe point, its file's write, its state's bytes.
  std::uint64_t pause_ns = 0;
  std::uint64_t write_ns = 0;
  std::uint64_t state_bytes = 0;
  static constexpr int kWords = 11;
  // Its wire form (the done gather): kWords words in the order of the members above.
  void to_words(std::uint64_t* w) const noexcept {
    const std::uint64_t v[kWords] = {digest,       file_bytes, messages, sent_before, received_before, failed,
                                     snap_time_ns, coll_check, pause_ns, write_ns,    state_bytes};
    for (int i = 0; i < kWords; ++i) w[i] = v[i];
  }
  static DoneRecord from_words(const std::uint64_t* w) noexcept {
    return {w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10]};
  }
};

}  // namespace mpisnap::protocol
