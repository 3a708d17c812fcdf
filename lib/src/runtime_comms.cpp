// Runtime: communicators (registration of everything the application creates, freeing, error
// handlers, intercommunicators) and the counting of collective calls.
#include <algorithm>

#include "mpi/pmpi.hpp"
#include "common/diagnostics.hpp"
#include "runtime.hpp"

namespace mpisnap {

void Runtime::comm_created(MPI_Comm comm, MPI_Comm parent) {
  if (comm == MPI_COMM_NULL) return;
  const mpi::CommEntry* p = parent == MPI_COMM_NULL ? nullptr : known(parent);
  register_comm(comm, -1, p ? protocol::value(p->id) : kNoParent);
}

// ------------------------------------------------------------------ lineage

std::uint64_t Runtime::free_slot(std::uint64_t parent, const std::vector<int>& world,
                                 const std::vector<int>& local_world) {
  std::vector<std::uint64_t> used;
  comms_.for_each([&](const mpi::CommEntry& o) {
    if (!o.retired && o.parent == parent && o.world == world && o.local_world == local_world) used.push_back(o.slot);
  });
  for (const PendingRegistration& r : pending_regs_)
    if (r.entry->parent == parent && r.entry->world == world && r.entry->local_world == local_world)
      used.push_back(r.entry->slot);
  for (const StartedIdup& i : idups_started_)
    if (i.parent == parent && i.world == world && local_world.empty()) used.push_back(i.slot);
  std::sort(used.begin(), used.end());
  std::uint64_t slot = 0;
  for (std::uint64_t u : used) {
    if (u == slot) ++slot;
    else if (u > slot) break;
  }
  return slot;
}

std::uint64_t Runtime::recorded_id(std::uint64_t parent, std::uint64_t slot, const std::vector<int>& world,
                                   const std::vector<int>& local_world) {
  if (parent == kNoParent) return 0;
  for (RecordedComm& r : recorded_comms_) {
    if (r.claimed || r.parent != parent || r.slot != slot || r.world != world || r.local_world != local_world)
      continue;
    r.claimed = true;
    return r.id;
  }
  return 0;
}

void Runtime::load_lineage(const RankCheckpoint& cp) {
  recorded_comms_.clear();
  for (const CommCounters& c : cp.counters) {
    // Fresh ids count up from above every id of the checkpoint, so a fresh one never equals one a
    // communicator of this run may still take over (derived ids of MPI_Comm_idup have bit 62 set).
    if (c.comm < (std::uint64_t{1} << 62)) next_comm_id_ = std::max(next_comm_id_, c.comm + 1);
    if (!c.live || c.parent == kNoParent || comms_.find_id(protocol::CommId{c.comm})) continue;
    recorded_comms_.push_back({c.comm, c.parent, c.slot, std::vector<int>(c.world_ranks.begin(), c.world_ranks.end()),
                               std::vector<int>(c.local_world_ranks.begin(), c.local_world_ranks.end()), false});
  }
}

void Runtime::orphan_check(const mpi::CommEntry& waiting, double& first_seen) {
  if (!restore_done_ || queue_.empty()) return;
  auto restored = [this](std::uint64_t id) -> const CommCounters* {
    for (const CommCounters& c : restored_counters_)
      if (c.comm == id) return &c;
    return nullptr;
  };
  if (restored(protocol::value(waiting.id))) return;  // it came back from the checkpoint
  std::uint64_t orphan = 0;
  std::size_t messages = 0;
  queue_.for_each([&](const RecordedMessage& m) {
    if (comms_.find_id(protocol::CommId{m.comm})) return;
    const CommCounters* c = restored(m.comm);
    if (!c || c->world_ranks.size() != waiting.world.size() ||
        !std::equal(c->world_ranks.begin(), c->world_ranks.end(), waiting.world.begin()))
      return;
    orphan = m.comm;
    ++messages;
  });
  if (!messages) {
    first_seen = -1;
    return;
  }
  const double now = PMPI_Wtime();
  if (first_seen < 0) first_seen = now;
  if (now - first_seen < 5 * config_.misplaced_grace) return;
  throw diag::error("waits in a receive on communicator " +
              std::to_string(protocol::value(waiting.id)) + " (" + describe_members(waiting) +
              "), which this restarted run made anew, while " + std::to_string(messages) +
              " message(s) restored from the checkpoint wait for communicator " + std::to_string(orphan) +
              " with the same members, which no communicator of this run has become: the program made its "
              "communicators differently (another parent, order or constructor) from the run that wrote the "
              "checkpoint, so that wait could never end");
}

std::string Runtime::describe_members(const mpi::CommEntry& e) const {
  std::string out = "world ranks";
  for (std::size_t i = 0; i < e.world.size() && i < 8; ++i) out += (i ? "," : " ") + std::to_string(e.world[i]);
  if (e.world.size() > 8) out += ",... (" + std::to_string(e.world.size()) + ")";
  return out;
}

Runtime::IdAgreement Runtime::proposal(std::uint64_t recorded, const std::vector<int>& world, bool inter,
                                        std::uint64_t (&mine)[kAgreeWords]) {
  const std::uint64_t offer = inter ? 0 : color_pool_.offer(world);
  const mpi::ColorPool::Colors* offered = offer ? color_pool_.find(offer) : nullptr;
  const std::uint64_t p[kAgreeWords] = {recorded, ~recorded, next_comm_id_, offer, ~offer,
                                        offered ? offered->sent : 0, offered ? offered->delivered : 0};
  std::copy(p, p + kAgreeWords, mine);
  IdAgreement a;
  a.recorded = recorded;
  return a;
}

std::optional<int> Runtime::arrive_at_constructor(MPI_Comm parent, Ctor kind, MPI_Comm* out) {
  pre_agreed_.made = false;
  const bool dup = kind == Ctor::Dup || kind == Ctor::DupWithInfo;
  // Whether the members meet non-blockingly must be the same on every member (a barrier one member
  // skips, or an Iallreduce meeting an Allreduce, does not match): so it follows the configuration
  // alone, never this rank's own state (a restarted run with checkpoints off holds restored
  // messages on some ranks only).
  const bool loop = snapshots_possible_;
  if (!dup && !loop) return std::nullopt;
  // MPI_Comm_create_group is collective over the group only, MPI_Intercomm_create also over the
  // remote side: no communicator holds exactly the ranks that call them.
  if (kind == Ctor::CreateGroup || kind == Ctor::IntercommCreate) return std::nullopt;
  const mpi::CommEntry* p = known(parent);
  if (!p) return std::nullopt;  // MPI reports an invalid communicator
  // Open MPI 4.1 fails the constructor (MPI_ERR_INTERN) after a non-blocking barrier on a parent
  // whose MPI_Comm_idup calls are still in flight (MPICH comm/comm_idup_comm): then go straight in.
  for (const StartedIdup& i : idups_started_)
    if (i.parent == protocol::value(p->id)) return std::nullopt;
  if (dup && !p->inter) {
    // The new communicator has the parent's members: its agreement is made now, over the parent,
    // and is the members' arrival too (non-blocking while a checkpoint may need this rank).
    const std::uint64_t pid = protocol::value(p->id);
    const std::uint64_t slot = free_slot(pid, p->world, {});
    std::uint64_t mine[kAgreeWords];
    IdAgreement a = proposal(recorded_id(pid, slot, p->world, {}), p->world, false, mine);
    a.members_of = p;
    a.slot = slot;
    std::optional<int> made;
    if (loop) {
      MPI_Request req = MPI_REQUEST_NULL;
      mpi::check(PMPI_Iallreduce(mine, a.all, 1, agree_type_, agree_op_, parent, &req), "PMPI_Iallreduce(comm id)");
      // MPI_Comm_dup itself goes in flight behind it (collectives on the parent keep their order on
      // every member), so the two take about one collective's time, not two (goal 7 of the
      // performance issue). MPI_Comm_idup copies attributes and the error handler as MPI_Comm_dup.
      MPI_Request made_req = MPI_REQUEST_NULL;
      if (kind == Ctor::Dup) made = PMPI_Comm_idup(parent, out, &made_req);
      wait_until(&req, MPI_STATUS_IGNORE, nullptr, 0);
      if (made && *made == MPI_SUCCESS) made = wait_until(&made_req, MPI_STATUS_IGNORE, nullptr, 0);
    } else {
      mpi::check(PMPI_Allreduce(mine, a.all, 1, agree_type_, agree_op_, parent), "PMPI_Allreduce(comm id)");
    }
    a.made = true;
    pre_agreed_ = a;
    return made;
  }
  if (!loop) return std::nullopt;
  MPI_Request req = MPI_REQUEST_NULL;
  mpi::check(PMPI_Ibarrier(parent, &req), "PMPI_Ibarrier(constructor)");
  wait_until(&req, MPI_STATUS_IGNORE, nullptr, 0);
  return std::nullopt;
}

// Every constructor in calls.def: the members first arrive together (arrive_at_constructor), then
// the MPI call, then the new communicator's colors and agreed id (collective over its members, who
// all return from the same constructor).
#define MPISNAP_FIRST_(first, ...) first
#define MPISNAP_FIRST(args) MPISNAP_FIRST_ args
#define MPISNAP_COMM_CONSTRUCTOR(name, params, args, out)                                         \
  int Runtime::name params {                                                                      \
    static constexpr Ctor kind = ctor_kind(#name);                                                \
    const std::optional<int> made = arrive_at_constructor(MPISNAP_FIRST(args), kind, out);        \
    const int rc = made ? *made : PMPI_##name args;                                               \
    if (rc == MPI_SUCCESS) comm_created(*(out), MPISNAP_FIRST(args));                             \
    pre_agreed_.made = false;                                                                     \
    return rc;                                                                                    \
  }
#include "interpose/calls.def"
#undef MPISNAP_FIRST
#undef MPISNAP_FIRST_

int Runtime::Comm_idup(MPI_Comm comm, MPI_Comm* newcomm, MPI_Request* request) {
  mpi::CommEntry* parent = known(comm);
  const int rc = PMPI_Comm_idup(comm, newcomm, request);
  if (rc == MPI_SUCCESS) {
    std::uint64_t id = 0;
    if (parent && !parent->inter) {
      const std::uint64_t pid = protocol::value(parent->id);
      idups_started_.push_back({newcomm, pid, free_slot(pid, parent->world, {}), parent->world});
      // The k-th idup of a communicator is the k-th on every member (collectives on one
      // communicator are ordered), and again in a restarted run: (parent id, k) names the child.
      // Mixed into 62 bits with bit 62 set, away from the agreed ids, which count up from 2.
      std::uint64_t z = protocol::value(parent->id) * 0x9E3779B97F4A7C15ULL + ++parent->idups;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      id = (std::uint64_t{1} << 62) | (z & ((std::uint64_t{1} << 62) - 1));
    }
    requests_.add_idup(*request, newcomm, id);  // registered when the application completes the request
  }
  return rc;
}

void Runtime::idup_completed(MPI_Comm* out, std::uint64_t id) {
  const MPI_Comm comm = *out;
  auto started = std::find_if(idups_started_.begin(), idups_started_.end(),
                              [out](const StartedIdup& i) { return i.out == out; });
  std::uint64_t parent = kNoParent, slot = 0;
  if (started != idups_started_.end()) {
    parent = started->parent;
    slot = started->slot;
    idups_started_.erase(started);
  }
  if (comm == MPI_COMM_NULL) return;
  if (id == 0) {  // an intercommunicator or an unknown parent: the blocking way
    register_comm(comm, -1);
    return;
  }
  PendingRegistration p;
  p.entry = describe(comm);
  p.entry->parent = parent;
  p.entry->slot = slot;
  // A restarted run gives it back the id of the communicator of its lineage (no collective: every
  // member finds the same one), else the id derived from the parent.
  const std::uint64_t recorded = recorded_id(*p.entry);
  p.entry->id = protocol::CommId{recorded ? recorded : id};
  mpi::check(PMPI_Comm_idup(comm, &p.entry->color[0], &p.request), "PMPI_Comm_idup(color 0)");
  pending_regs_.push_back(std::move(p));
  refresh_mode();  // busy_: every call advances it
}

void Runtime::advance_registrations() {
  bool finished = false;
  for (auto it = pending_regs_.begin(); it != pending_regs_.end();) {
    int done = 0;
    mpi::check(PMPI_Test(&it->request, &done, MPI_STATUS_IGNORE), "PMPI_Test(colors)");
    if (!done) {
      ++it;
      continue;
    }
    mpi::CommEntry& e = *it->entry;
    if (!it->second) {
      if (snapshots_possible_) {
        // Color 1 from color 0, which nothing else uses yet: no collective of the application's
        // can come between the steps of its context-id agreement either.
        mpi::check(PMPI_Comm_idup(e.color[0], &e.color[1], &it->request), "PMPI_Comm_idup(color 1)");
        it->second = true;
        ++it;
        continue;
      }
      // No snapshot in this run (checkpoints every N and triggers both off, the same on every
      // rank): the epoch never changes, and one color serves as both (never pooled, freed once).
      e.color[1] = e.color[0];
    }
    std::unique_ptr<mpi::CommEntry> entry = std::move(it->entry);
    it = pending_regs_.erase(it);
    finish_entry(std::move(entry), true);
    finished = true;
  }
  if (finished) refresh_mode();
}

mpi::CommEntry* Runtime::settle(MPI_Comm comm) {
  advance_registrations();
  // Every member started color 0 when it completed its idup request, which it must do before using
  // or freeing the communicator, and starts color 1 wherever it next waits in the library: the
  // pending registration keeps every rank busy_, so its blocking calls poll, with progress.
  auto pending = [&] {
    return std::any_of(pending_regs_.begin(), pending_regs_.end(),
                       [comm](const PendingRegistration& r) { return r.entry->app == comm; });
  };
  while (pending()) progress();
  return comms_.find(comm);
}

void Runtime::settle_all() {
  while (!pending_regs_.empty()) progress();
}

int Runtime::Comm_free(MPI_Comm* comm) {
  if (comm && *comm != MPI_COMM_NULL) {
    known(*comm);  // an idup'd communicator freed before any use
    mpi::CommEntry* retired = comms_.retire(*comm, engine_->seq());
    if (retired && !pool_colors(*retired)) {
      // (Not pooled: an intercommunicator, a snapshot under way, or something refers to it.)
      // Without snapshots the colors can go now, and the entry with them. Between snapshots the
      // colors go and the counters stay for the next cut (release_colors). While one is under way
      // its messages may still be drained: that snapshot frees its colors when it completes.
      if (config_.every == 0 && !triggers_->enabled() && !engine_->active()) {
        free_retired(engine_->seq() + 1);
      } else if (!engine_->active() && !referenced(*retired)) {
        release_colors(*retired);
      } else if (++retired_since_sweep_ >= kRetiredSweep) {
        // A program that creates and frees communicators faster than it checkpoints would run
        // MPI out of context ids: every so often, free those that never carried anything.
        retired_since_sweep_ = 0;
        free_unused_retired();
      }
    }
  }
  return PMPI_Comm_free(comm);
}

bool Runtime::referenced(const mpi::CommEntry& e) {
  bool used = requests_.refers_to(e);
  for (const auto& h : held_messages_) used = used || h->comm == &e;
  return used || window_->refers_to(e);
}

namespace {

// Nothing of it can be in flight or matter to a snapshot: no point-to-point message sent or
// received on this rank, ever, and no collective (whose count every rank must agree on).
bool never_used(const mpi::CommEntry& e) {
  return e.collectives == 0 && !e.peers.used();
}

}  // namespace

bool Runtime::pool_colors(mpi::CommEntry& e) {
  if (e.inter || e.one_color() || engine_->active() || referenced(e)) return false;
  mpi::ColorPool::Colors c{{e.color[0], e.color[1]}, e.errors_fatal, 0, 0};
  std::optional<mpi::ColorPool::Colors> evicted;
  if (never_used(e)) {
    // Nothing to count at the next cut: the entry goes.
    std::unique_ptr<mpi::CommEntry> gone = comms_.take(e);
    drop_messages_of(*gone);
    evicted = color_pool_.put(protocol::value(gone->id), std::move(gone->world), c);
  } else {
    // Its counters stay for the next cut (released: nothing is drained from it).
    e.peers.for_each([&](const mpi::PeerCount& p) {
      c.sent += p.sent_total + p.sent;
      c.delivered += p.delivered_total + p.received - p.held_in;
    });
    evicted = color_pool_.put(protocol::value(e.id), e.world, c);
    e.color[0] = e.color[1] = e.current = MPI_COMM_NULL;
    e.released = true;
  }
  if (evicted)
    for (MPI_Comm x : evicted->color) PMPI_Comm_free(&x);
  return true;
}

void Runtime::drop_messages_of(const mpi::CommEntry& e) {
  if (queue_.empty()) return;
  if (queue_.drop_comm(protocol::value(e.id))) refresh_mode();
}

void Runtime::release_colors(mpi::CommEntry& e) {
  free_colors(e);
  e.current = MPI_COMM_NULL;
  e.released = true;
}

bool Runtime::abandoned(protocol::CommId id) {
  // Not in the table: freed and gone (after a snapshot, or its colours pooled, which happens only
  // where nothing was received on it), so nothing of it can be drained either.
  const mpi::CommEntry* e = comms_.find_id(id);
  return !e || e->released;
}

void Runtime::free_unused_retired() {
  if (engine_->active()) return;
  for (auto& r : comms_.take_retired(~std::uint64_t{0})) {
    if (never_used(*r) && !referenced(*r)) {
      drop_messages_of(*r);
      free_colors(*r);
    } else {
      comms_.keep_retired(std::move(r));
    }
  }
}

void Runtime::free_retired(std::uint64_t bound) {
  for (auto& r : comms_.take_retired(bound)) {
    if (referenced(*r)) {
      comms_.keep_retired(std::move(r));
    } else {
      drop_messages_of(*r);
      free_colors(*r);
    }
  }
}

int Runtime::Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler) {
  const int rc = PMPI_Comm_set_errhandler(comm, errhandler);
  if (rc == MPI_SUCCESS)
    if (mpi::CommEntry* e = known(comm)) {
      for (MPI_Comm c : e->color) PMPI_Comm_set_errhandler(c, errhandler);
      comms_.set_errors_fatal(*e, errhandler == MPI_ERRORS_ARE_FATAL);
    }
  return rc;
}

int Runtime::raise(mpi::CommEntry& e, int rc) {
  if (rc == MPI_SUCCESS) return rc;
  // With MPI_ERRORS_ARE_FATAL this does not return; with MPI_ERRORS_RETURN the call returns rc.
  PMPI_Comm_call_errhandler(e.app != MPI_COMM_NULL ? e.app : MPI_COMM_WORLD, rc);
  return rc;
}

mpi::CommEntry* Runtime::count_collective(MPI_Comm comm) {
  mpi::CommEntry* e = known(comm);
  if (e) ++e->collectives;
  return e;
}

}  // namespace mpisnap
