#include "storage/channel_balance.hpp"

#include <map>

namespace mpisnap::storage {
namespace {

const CommCounters* find_comm(const RankCheckpoint& r, std::uint64_t comm) {
  for (const CommCounters& c : r.counters)
    if (c.comm == comm) return &c;
  return nullptr;
}

int position_of(const CommCounters& c, std::int32_t world) {
  for (std::size_t i = 0; i < c.world_ranks.size(); ++i)
    if (c.world_ranks[i] == world) return static_cast<int>(i);
  return -1;
}

}  // namespace

BalanceReport check_channel_balance(const std::vector<RankCheckpoint>& ranks) {
  BalanceReport report;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const RankCheckpoint& recv = ranks[i];
    std::map<std::pair<std::uint64_t, std::int32_t>, std::uint64_t> recorded;  // (comm, source) -> count
    for (const RecordedMessage& m : recv.channel) ++recorded[{m.comm, m.source}];
    report.in_flight += recv.channel.size();
    for (const CommCounters& c : recv.counters) {
      // c.world_ranks are this rank's peers on c (the remote group of an intercommunicator); the
      // sender's counters list its own peers, among them this rank.
      for (std::size_t p = 0; p < c.world_ranks.size(); ++p) {
        const std::int32_t world = c.world_ranks[p];
        std::uint64_t sent = 0;
        if (world >= 0 && static_cast<std::size_t>(world) < ranks.size()) {
          if (const CommCounters* sc = find_comm(ranks[static_cast<std::size_t>(world)], c.comm)) {
            const int pos = position_of(*sc, static_cast<std::int32_t>(i));
            if (pos >= 0) sent = sc->sent_total[static_cast<std::size_t>(pos)];
          }
        }
        const std::uint64_t delivered = c.delivered_total[p];
        const auto it = recorded.find({c.comm, static_cast<std::int32_t>(p)});
        const std::uint64_t rec = it == recorded.end() ? 0 : it->second;
        if (sent || delivered || rec) ++report.channels;
        if (sent != delivered + rec)
          report.violations.push_back("communicator " + std::to_string(c.comm) + ", rank " + std::to_string(world) +
                                      " -> rank " + std::to_string(i) + ": " + std::to_string(sent) +
                                      " sent before the cut, " + std::to_string(delivered) + " received before it + " +
                                      std::to_string(rec) + " recorded");
        if (it != recorded.end()) recorded.erase(it);
      }
    }
    for (const auto& [key, n] : recorded)
      report.violations.push_back("rank " + std::to_string(i) + " recorded " + std::to_string(n) +
                                  " message(s) on communicator " + std::to_string(key.first) + " from rank " +
                                  std::to_string(key.second) + " that no counter accounts for");
  }
  return report;
}

}  // namespace mpisnap::storage
