// GlobalState: a committed checkpoint read through the checkpoint store, for tools and hooks.
#include <mpisnap/global_state.hpp>

#include <map>

#include "storage/checkpoint_store.hpp"

namespace mpisnap {

struct GlobalState::Impl {
  storage::Manifest manifest;
  std::string path;
  std::vector<Node> states;
  std::vector<InFlightMessage> messages;
  std::map<std::uint64_t, std::vector<int>> members;
};

std::vector<std::uint64_t> GlobalState::committed(const std::string& directory) {
  std::vector<std::uint64_t> ids;
  for (const storage::CheckpointEntry& e : storage::list_checkpoints(directory))
    if (e.committed) ids.push_back(e.id);
  return ids;
}

GlobalState::GlobalState(const std::string& directory, std::uint64_t id) : impl_(std::make_unique<Impl>()) {
  storage::DirectoryStore store(directory, /*direct_io=*/false);
  if (id == 0) {
    const std::vector<std::uint64_t> ids = committed(directory);
    if (ids.empty()) throw Error("mpisnap: no committed checkpoint in " + directory);
    id = ids.back();
  }
  impl_->path = store.location(id);
  bool is_committed = false;
  for (const storage::CheckpointEntry& e : store.list())
    if (e.id == id) is_committed = e.committed;
  if (!is_committed) throw Error("mpisnap: checkpoint " + std::to_string(id) + " in " + directory + " is not committed");
  impl_->manifest = store.manifest(id);
  const storage::Manifest& m = impl_->manifest;
  impl_->states.resize(static_cast<std::size_t>(m.nranks));
  for (int r = 0; r < m.nranks; ++r) {
    storage::LoadedRankFile f = store.load_rank(id, r);
    if (r < static_cast<int>(m.rank_digest.size()) && f.info.digest != m.rank_digest[static_cast<std::size_t>(r)])
      throw Error("mpisnap: " + impl_->path + "/" + storage::rank_file_name(r) +
                  ": its digest does not match the manifest (a file of another checkpoint, or damaged)");
    for (const CommCounters& c : f.cp.counters) {
      std::vector<int>& w = impl_->members[c.comm];
      if (w.empty()) w.assign(c.world_ranks.begin(), c.world_ranks.end());
    }
    for (RecordedMessage& rm : f.cp.channel) {
      InFlightMessage msg;
      msg.comm = rm.comm;
      msg.source = rm.source;
      msg.dest = r;
      msg.tag = rm.tag;
      msg.bytes.assign(rm.bytes.begin(), rm.bytes.end());
      const auto it = impl_->members.find(rm.comm);
      const bool known = it != impl_->members.end() && rm.source >= 0 &&
                         static_cast<std::size_t>(rm.source) < it->second.size();
      msg.source_world = known ? it->second[static_cast<std::size_t>(rm.source)] : -1;
      impl_->messages.push_back(std::move(msg));
    }
    impl_->states[static_cast<std::size_t>(r)] = std::move(f.cp.state);
  }
}

GlobalState::~GlobalState() = default;
GlobalState::GlobalState(GlobalState&&) noexcept = default;
GlobalState& GlobalState::operator=(GlobalState&&) noexcept = default;

std::uint64_t GlobalState::checkpoint_id() const noexcept { return impl_->manifest.checkpoint_id; }
std::uint64_t GlobalState::safe_point() const noexcept { return impl_->manifest.safe_point; }
int GlobalState::nranks() const noexcept { return impl_->manifest.nranks; }
const std::string& GlobalState::program() const noexcept { return impl_->manifest.program; }
const std::string& GlobalState::path() const noexcept { return impl_->path; }

const Node& GlobalState::state_tree(int rank) const {
  if (rank < 0 || rank >= nranks())
    throw Error("mpisnap: GlobalState::state(" + std::to_string(rank) + "): checkpoint " +
                std::to_string(checkpoint_id()) + " has ranks 0.." + std::to_string(nranks() - 1));
  return impl_->states[static_cast<std::size_t>(rank)];
}

const std::vector<InFlightMessage>& GlobalState::messages() const noexcept { return impl_->messages; }

std::vector<InFlightMessage> GlobalState::messages_to(int rank) const {
  std::vector<InFlightMessage> out;
  for (const InFlightMessage& m : impl_->messages)
    if (m.dest == rank) out.push_back(m);
  return out;
}

std::vector<int> GlobalState::comm_members(std::uint64_t comm) const {
  const auto it = impl_->members.find(comm);
  return it == impl_->members.end() ? std::vector<int>{} : it->second;
}

}  // namespace mpisnap
