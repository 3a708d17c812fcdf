#include "storage/channel_balance.hpp"

#include <map>
#include <tuple>

namespace mpisnap::storage {
namespace {

// The three counts of one channel (communicator, sender's world rank -> receiver's world rank).
struct Flow {
  std::uint64_t sent = 0, delivered = 0, recorded = 0;
};
using Key = std::tuple<std::int32_t, std::uint64_t, std::int32_t>;  // (receiver, communicator, sender)

const CommCounters* find_comm(const RankCheckpoint& r, std::uint64_t comm) {
  for (const CommCounters& c : r.counters)
    if (c.comm == comm) return &c;
  return nullptr;
}

}  // namespace

// The work follows the counters the files hold (the peers each rank exchanged messages with), not
// the communicators' sizes.
BalanceReport check_channel_balance(const std::vector<RankCheckpoint>& ranks) {
  BalanceReport report;
  std::map<Key, Flow> flows;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const auto self = static_cast<std::int32_t>(i);
    // c.world_ranks are this rank's peers on c (the remote group of an intercommunicator).
    for (const CommCounters& c : ranks[i].counters)
      for (std::size_t k = 0; k < c.peers.size(); ++k) {
        const std::int32_t peer = c.world_ranks[static_cast<std::size_t>(c.peers[k])];
        if (c.delivered_total[k]) flows[{self, c.comm, peer}].delivered += c.delivered_total[k];
        // A channel is checked on its receiver's side: towards a rank that holds the communicator.
        if (c.sent_total[k] && peer >= 0 && static_cast<std::size_t>(peer) < ranks.size() &&
            find_comm(ranks[static_cast<std::size_t>(peer)], c.comm))
          flows[{peer, c.comm, self}].sent += c.sent_total[k];
      }
  }
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const RankCheckpoint& recv = ranks[i];
    std::map<std::pair<std::uint64_t, std::int32_t>, std::uint64_t> unaccounted;  // (comm, source) -> count
    for (const RecordedMessage& m : recv.channel) {
      const CommCounters* c = find_comm(recv, m.comm);
      if (c && m.source >= 0 && static_cast<std::size_t>(m.source) < c->world_ranks.size())
        ++flows[{static_cast<std::int32_t>(i), m.comm, c->world_ranks[static_cast<std::size_t>(m.source)]}].recorded;
      else
        ++unaccounted[{m.comm, m.source}];
    }
    report.in_flight += recv.channel.size();
    for (const auto& [key, n] : unaccounted)
      report.violations.push_back("rank " + std::to_string(i) + " recorded " + std::to_string(n) +
                                  " message(s) on communicator " + std::to_string(key.first) + " from rank " +
                                  std::to_string(key.second) + " that no counter accounts for");
  }
  for (const auto& [key, f] : flows) {
    const auto& [to, comm, from] = key;
    ++report.channels;
    // A receiver that had freed the communicator may have left messages unreceived: the program
    // abandoned them (Runtime::release_colors). Fewer sent than accounted for is wrong anyway.
    const CommCounters* held = find_comm(ranks[static_cast<std::size_t>(to)], comm);
    if (held && !held->live && f.sent > f.delivered + f.recorded) {
      report.abandoned += f.sent - f.delivered - f.recorded;
      continue;
    }
    if (f.sent != f.delivered + f.recorded)
      report.violations.push_back("communicator " + std::to_string(comm) + ", rank " + std::to_string(from) +
                                  " -> rank " + std::to_string(to) + ": " + std::to_string(f.sent) +
                                  " sent before the cut, " + std::to_string(f.delivered) + " received before it + " +
                                  std::to_string(f.recorded) + " recorded");
  }
  return report;
}

}  // namespace mpisnap::storage
