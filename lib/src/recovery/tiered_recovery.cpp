// Recovery with two storage tiers: a checkpoint is committed if a manifest of it exists on any tier
// (a node's local tier or the global one); it is restorable if every rank's file can be had from
// the rank's own node, from another node (its partner copy, or any node that has it: sent over
// MPI) or from the global tier, and verifies against the manifest. The newest restorable one is
// restored, each rank's file from the fastest place that has it, falling back to the global tier
// when a faster copy does not verify.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include <mpisnap/error.hpp>

#include "recovery/recovery.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"

namespace mpisnap::recovery {
namespace {

enum : std::uint64_t { kOwnNode = 0, kGlobal = 1, kFromRank = 2 };  // plan codes; kFromRank + r: rank r sends it

std::vector<char> read_all(const std::string& path) {
  std::vector<char> out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return out;
}

struct NodeView {  // what rank 0 learned about one node's local tier
  std::set<std::uint64_t> committed;
  std::map<std::uint64_t, std::set<int>> files;
};

}  // namespace

Outcome Recovery::discover_tiered(storage::TieredStore& tiers) {
  const std::vector<int>& leader_of = options_.leader_of;
  const bool leader = leader_of[static_cast<std::size_t>(rank_)] == rank_;
  // 1. Every node's leader lists its local tier: [entries, (id, committed, files, ranks...)...].
  std::vector<std::uint64_t> mine = {0};
  std::string error;
  try {
    if (rank_ == 0) tiers.check_writable();
    if (leader) {
      for (const auto& e : tiers.local().list()) {
        ++mine[0];
        mine.push_back(e.id);
        mine.push_back(e.committed ? 1 : 0);
        std::vector<std::uint64_t> ranks;
        for (const std::string& name : fs::list_dir(e.path)) {
          int r = -1;
          if (std::sscanf(name.c_str(), "rank-%6d.h5", &r) == 1 && name == storage::rank_file_name(r))
            ranks.push_back(static_cast<std::uint64_t>(r));
        }
        mine.push_back(ranks.size());
        mine.insert(mine.end(), ranks.begin(), ranks.end());
      }
    }
  } catch (const Error& e) {
    error = e.what();
  }
  if (!port_.all(error.empty())) {
    if (error.empty()) error = "another rank could not read its node-local tier (see its message)";
    throw Error(prefix() + error);
  }
  const auto gathered = port_.gather(mine);

  // 2. Rank 0: the ids committed anywhere (newest first) and the next id.
  std::map<int, NodeView> nodes;
  std::set<std::uint64_t> global_committed;
  std::vector<std::uint64_t> found;
  if (rank_ == 0) {
    std::uint64_t top = 0;
    std::set<std::uint64_t> any;
    for (const auto& e : tiers.global().list()) {
      top = std::max(top, e.id);
      if (e.committed) {
        global_committed.insert(e.id);
        any.insert(e.id);
      }
    }
    for (std::size_t r = 0; r < gathered.size(); ++r) {
      const auto& w = gathered[r];
      std::size_t at = 1;
      for (std::uint64_t k = 0; !w.empty() && k < w[0]; ++k) {
        const std::uint64_t id = w[at], committed = w[at + 1], n = w[at + 2];
        NodeView& v = nodes[static_cast<int>(r)];
        if (committed) {
          v.committed.insert(id);
          any.insert(id);
        }
        for (std::uint64_t i = 0; i < n; ++i) v.files[id].insert(static_cast<int>(w[at + 3 + i]));
        top = std::max(top, id);
        at += 3 + n;
      }
    }
    found.push_back(top + 1);
    found.insert(found.end(), any.rbegin(), any.rend());
  }
  port_.broadcast(found);
  Outcome out;
  out.next_checkpoint_id = found[0];
  const std::string& dir = tiers.where();
  if (options_.fresh) {
    if (rank_ == 0 && found.size() > 1)
      report_("mpisnap: starting from the beginning (MPISNAP_FRESH); the " + std::to_string(found.size() - 1) +
              " committed checkpoint(s) on the global and node-local tiers stay, this run's are numbered from " +
              std::to_string(out.next_checkpoint_id));
    return out;
  }

  for (std::size_t i = 1; i < found.size(); ++i) {
    const std::uint64_t id = found[i];
    // 3. Who reads the manifest: rank 0 from the global tier, or from its node's, or another node's leader.
    std::vector<std::uint64_t> reader = {0, 1};  // [rank, global?]
    if (rank_ == 0 && !global_committed.count(id)) {
      reader = {0, 0};
      if (!nodes[0].committed.count(id))
        for (const auto& [r, v] : nodes)
          if (v.committed.count(id)) {
            reader = {static_cast<std::uint64_t>(r), 0};
            break;
          }
    }
    port_.broadcast(reader);
    const int reader_rank = static_cast<int>(reader[0]);
    const std::vector<std::uint64_t> manifest =
        manifest_from(reader_rank, id, reader[1] ? static_cast<storage::CheckpointStore&>(tiers.global()) : tiers.local());
    if (manifest[0] == 0) continue;
    check_identity(id, manifest, dir);

    // 4. The plan: [restorable, on the global tier, a code per rank].
    std::vector<std::uint64_t> plan;
    std::string why;
    if (rank_ == 0) {
      plan = {1, global_committed.count(id) ? 1u : 0u};
      for (int r = 0; r < size_; ++r) {
        const int home = leader_of[static_cast<std::size_t>(r)];
        auto has = [&](int node) {
          auto v = nodes.find(node);
          if (v == nodes.end()) return false;
          auto f = v->second.files.find(id);
          return f != v->second.files.end() && f->second.count(r) > 0;
        };
        if (has(home)) {
          plan.push_back(kOwnNode);
          continue;
        }
        int other = -1;
        for (const auto& [node, v] : nodes)
          if (node != home && has(node)) {
            other = node;
            break;
          }
        if (other >= 0) {
          plan.push_back(kFromRank + static_cast<std::uint64_t>(other));
        } else if (plan[1]) {
          plan.push_back(kGlobal);
        } else {
          plan[0] = 0;
          why = "rank " + std::to_string(r) + "'s file is on no node's local tier and the checkpoint is not on the global tier";
          break;
        }
      }
    }
    port_.broadcast(plan);
    if (plan[0] == 0) {
      if (rank_ == 0) report_("mpisnap: skipping checkpoint " + std::to_string(id) + ": " + why);
      continue;
    }
    const bool on_global = plan[1] != 0;
    const std::uint64_t my_code = plan[2 + static_cast<std::size_t>(rank_)];

    // 5. Files sent from the nodes that have them to the ranks whose own node does not.
    std::vector<std::pair<int, std::vector<char>>> sends;
    for (int r = 0; r < size_; ++r)
      if (plan[2 + static_cast<std::size_t>(r)] == kFromRank + static_cast<std::uint64_t>(rank_))
        sends.emplace_back(r, read_all(tiers.local().location(id) + "/" + storage::rank_file_name(r)));
    std::vector<int> from;
    if (my_code >= kFromRank) from.push_back(static_cast<int>(my_code - kFromRank));
    auto received = port_.exchange(sends, from);
    sends.clear();

    // 6. Load and verify, from the planned place; a copy that does not verify falls back to the global tier.
    const std::uint64_t digest = manifest[4 + static_cast<std::size_t>(rank_)];
    std::unique_ptr<storage::LoadedRankFile> file;
    Outcome::Source source = Outcome::Source::None;
    std::string place;
    if (my_code != kGlobal) {
      bool have = true;
      if (my_code >= kFromRank) {  // kept on this node from now on too
        try {
          if (received[0].empty()) throw Error("mpisnap: rank " + std::to_string(from[0]) + " could not read its copy");
          tiers.write_copy(id, rank_, received[0].data(), received[0].size());
        } catch (const Error& e) {
          report_(prefix() + "checkpoint " + std::to_string(id) + ": the partner copy of this rank's file is unusable: " + e.what());
          have = false;
        }
        received.clear();
      }
      if (have) file = verified_from(tiers.local(), id, digest);
      if (file) {
        source = my_code >= kFromRank ? Outcome::Source::Partner : Outcome::Source::Local;
        place = tiers.local().location(id);
      }
    }
    if (!file && on_global) {
      file = verified_from(tiers.global(), id, digest);
      if (file) {
        source = Outcome::Source::Global;
        place = tiers.global().location(id);
      }
    }
    const auto sources = port_.gather({static_cast<std::uint64_t>(source)});
    if (port_.all(file != nullptr)) {
      if (rank_ == 0) {
        std::string local, partner, global;
        for (std::size_t r = 0; r < sources.size(); ++r) {
          const auto s = static_cast<Outcome::Source>(sources[r][0]);
          std::string& list = s == Outcome::Source::Local ? local : s == Outcome::Source::Partner ? partner : global;
          list += (list.empty() ? "" : ",") + std::to_string(r);
        }
        auto part = [](const std::string& what, const std::string& ranks) {
          return ranks.empty() ? std::string() : what + " (rank " + ranks + ")";
        };
        std::string where = part("own node's local tier", local);
        for (const std::string& p : std::vector<std::string>{part("partner copies on other nodes", partner), part("global tier " + dir, global)})
          if (!p.empty()) where += (where.empty() ? "" : "; ") + p;
        report_("mpisnap: restoring checkpoint " + std::to_string(id) + " from: " + where);
      }
      out.restored = std::move(file);
      out.restored_dir = place;
      out.source = source;
      return out;
    }
    if (rank_ == 0)
      report_("mpisnap: skipping checkpoint " + std::to_string(id) + ": it does not verify on every rank (see above)");
  }
  if (found.size() > 1) {
    if (!options_.fresh_if_corrupt)
      throw Error(prefix() + "no committed checkpoint on the global tier " + dir +
                  " or the node-local tiers can be restored (see the messages above); refusing to start from the "
                  "beginning. Set MPISNAP_FRESH_IF_CORRUPT=1 to start fresh anyway, or point MPISNAP_DIR elsewhere");
    if (rank_ == 0) report_("mpisnap: no committed checkpoint can be restored; starting fresh (MPISNAP_FRESH_IF_CORRUPT)");
  }
  return out;
}

}  // namespace mpisnap::recovery
