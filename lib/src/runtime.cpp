// Runtime: lifecycle, communicators, the progress loop and the blocking-wait loop.
#include "runtime.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "common/diagnostics.hpp"
#include "interpose/fortran.hpp"
#include "mpi/mpi_collective_port.hpp"
#include "mpi/pmpi.hpp"
#include "storage/fault_injection.hpp"

namespace mpisnap {

Runtime* Runtime::instance_ = nullptr;
watch::BlockedCall Runtime::blocked_call_;
int Runtime::thread_level_ = MPI_THREAD_SINGLE;
std::vector<MPI_Comm>* Runtime::pre_session_comms_ = nullptr;

namespace {

// The communicator agreement's reduction (Runtime::IdAgreement): per proposal, the maximum of the
// ids, the offered pair and their complements; the sum of the pair's sent and delivered counts.
void reduce_proposals(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const std::uint64_t*>(in);
  auto* b = static_cast<std::uint64_t*>(inout);
  for (int k = 0; k < *len; ++k, a += Runtime::kAgreeWords, b += Runtime::kAgreeWords) {
    for (int i = 0; i < 5; ++i) b[i] = std::max(a[i], b[i]);
    b[5] += a[5];
    b[6] += a[6];
  }
}

// A communicator with the same group as `comm` and none of its attributes (MPI_Comm_dup would run
// the application's attribute copy callbacks).
MPI_Comm shadow(MPI_Comm comm, const char* what) {
  MPI_Group g;
  mpi::check(PMPI_Comm_group(comm, &g), "PMPI_Comm_group");
  MPI_Comm out = MPI_COMM_NULL;
  const int rc = PMPI_Comm_create(comm, g, &out);
  PMPI_Group_free(&g);
  mpi::check(rc, what);
  return out;
}

}  // namespace

void Runtime::note_init(int thread_level) noexcept {
  thread_level_ = thread_level;
  bool verbose = false;
  try {
    verbose = Config::defaults().verbose;
  } catch (const Error&) {
    // a malformed variable: the Session reports it
  }
  if (verbose && mpi::world_rank() == 0)
    diag::say("library loaded; point-to-point calls pass through until a Session starts");
}

void Runtime::note_comm_created_before_session(MPI_Comm comm) {
  if (comm == MPI_COMM_NULL) return;
  if (!pre_session_comms_) pre_session_comms_ = new std::vector<MPI_Comm>();
  pre_session_comms_->push_back(comm);
}

void Runtime::note_comm_freed_before_session(MPI_Comm comm) {
  if (!pre_session_comms_) return;
  auto& v = *pre_session_comms_;
  v.erase(std::remove(v.begin(), v.end(), comm), v.end());
}

namespace {

// The program's calls reach mpisnap only if its MPI_* symbols resolve to the library's wrappers: a
// binary that names libmpi before libmpisnap among its libraries (a link line with MPI's libraries
// first) binds them to MPI itself. Nothing is intercepted then, and every checkpoint would lack
// its channel state: refuse, and say how to fix the link. (RTLD_DEFAULT finds what the program's
// own references bind to: the first library in load order that defines the symbol.)
void check_interposition() {
  static const char* const names[] = {
#define MPISNAP_CALL(name, params, args) "MPI_" #name,
#define MPISNAP_COMM_CONSTRUCTOR(name, params, args, out) "MPI_" #name,
#define MPISNAP_COLLECTIVE(name, params, args, comm) "MPI_" #name,
#define MPISNAP_BLOCKING_COLLECTIVE(name, iname, params, args, comm) "MPI_" #name,
#include "interpose/calls.def"
      "MPI_Init", "MPI_Init_thread", "MPI_Finalize", "MPI_Comm_idup",
  };
  Dl_info self{};
  if (!dladdr(reinterpret_cast<void*>(&check_interposition), &self)) return;
  std::string elsewhere;
  const char* where = nullptr;
  int count = 0;
  std::vector<const char*> all(std::begin(names), std::end(names));
  // (and the Fortran entry points: MPI's own Fortran libraries call PMPI_* directly; a program without
  // them resolves these to the library's)
  for (const char* const* f = fortran::entry_names(); *f; ++f) all.push_back(*f);
  for (const char* name : all) {
    void* f = dlsym(RTLD_DEFAULT, name);
    Dl_info info{};
    if (!f || !dladdr(f, &info) || info.dli_fbase == self.dli_fbase) continue;
    if (count++ < 3) elsewhere += std::string(elsewhere.empty() ? "" : ", ") + name;
    where = info.dli_fname;
  }
  if (count == 0) return;
  throw diag::error(std::to_string(count) + " MPI function(s) of this program (" + elsewhere +
                    (count > 3 ? ", ..." : "") + ") resolve to " + (where && *where ? where : "the program itself") +
                    ", not to mpisnap's wrappers in " + self.dli_fname +
                    ": the program was linked with the MPI library (or MPI's Fortran libraries) before libmpisnap, so "
                    "mpisnap cannot see its messages and its checkpoints would not be consistent. Link libmpisnap first "
                    "(CMake: target_link_libraries(app PRIVATE mpisnap::mpisnap) before or instead of MPI's libraries; "
                    "by hand: -lmpisnap before -lmpi and -lmpi_mpifh), or run with LD_PRELOAD=" + self.dli_fname);
}

}  // namespace

Runtime& Runtime::start(MPI_Comm comm, const Config& config) {
  int init = 0, fin = 0;
  PMPI_Initialized(&init);
  PMPI_Finalized(&fin);
  if (!init) throw Error("mpisnap: a Session was created before MPI_Init");
  if (fin) throw Error("mpisnap: a Session was created after MPI_Finalize");
  diag::set_rank(mpi::world_rank());
  if (instance_)
    throw diag::error((instance_->preloaded_
                                     ? "a Session was created, but MPISNAP_PRELOAD_SESSION already started one in MPI_Init"
                                 : instance_->session_alive_
                                     ? "a second Session was created while the first is alive; use one Session per run"
                                     : "a Session was created after the first one ended; use one Session per run"));
  int cmp = MPI_UNEQUAL;
  mpi::check(PMPI_Comm_compare(comm, MPI_COMM_WORLD, &cmp), "PMPI_Comm_compare");
  if (cmp != MPI_IDENT && cmp != MPI_CONGRUENT)
    throw diag::error("a Session needs MPI_COMM_WORLD (or a duplicate of it): a checkpoint covers every rank of the job");
  if (thread_level_ == MPI_THREAD_MULTIPLE)
    throw diag::error("MPI_THREAD_MULTIPLE is not supported: only one thread may call MPI (MPI_THREAD_FUNNELED at most)");
  if (config.keep < 1) throw diag::error("Config::keep must be at least 1");
  if (config.directory.empty()) throw diag::error("Config::directory is empty");
  check_interposition();

  std::unique_ptr<Runtime> rt(new Runtime(config));
  rt->setup_world();
  rt->take_directory();
  rt->discover_checkpoint();
  rt->triggers_->start_counting(rt->restored_ ? rt->restored_->cp.safe_point : 0);
  rt->check_early_messages();
  rt->session_alive_ = true;
  instance_ = rt.release();  // owned from here by the process, until finalize()
  return *instance_;
}

void Runtime::start_preloaded() {
  Runtime& rt = start(MPI_COMM_WORLD, Config::defaults());
  rt.preloaded_ = true;
  rt.session_alive_ = false;
}

Runtime::Runtime(const Config& config) : config_(config), hooks_(TestHooks::from_environment()) {}

Runtime::~Runtime() {
  if (triggers_) triggers_->set_watch(nullptr);  // (the helper stops with triggers_, after watch_ is gone)
  if (hooks_.faults_set) storage::install_faults("", rank_);
}

void Runtime::setup_world() {
  mpi::check(PMPI_Comm_rank(MPI_COMM_WORLD, &rank_), "PMPI_Comm_rank");
  mpi::check(PMPI_Comm_size(MPI_COMM_WORLD, &size_), "PMPI_Comm_size");
  if (hooks_.faults_set) storage::install_faults(hooks_.faults, rank_);
  control_ = shadow(MPI_COMM_WORLD, "PMPI_Comm_create(control)");
  finalize_ = shadow(MPI_COMM_WORLD, "PMPI_Comm_create(finalize)");
  mpi::check(PMPI_Type_contiguous(kAgreeWords, MPI_UINT64_T, &agree_type_), "PMPI_Type_contiguous(agreement)");
  mpi::check(PMPI_Type_commit(&agree_type_), "PMPI_Type_commit(agreement)");
  mpi::check(PMPI_Op_create(&reduce_proposals, 1, &agree_op_), "PMPI_Op_create(agreement)");
  port_ = std::make_unique<mpi::MpiControlPort>(control_, rank_);
  engine_ = std::make_unique<protocol::SnapshotEngine>(*port_, protocol::WorldRank{rank_});
  engine_->set_abandoned([this](protocol::CommId id) { return abandoned(id); });
  message_port_ = std::make_unique<channel::MpiMessagePort>();
  window_ = std::make_unique<channel::ReceiveWindow>(*message_port_, comms_, *engine_, queue_);
  message_port_->attach(window_.get());
  std::unique_ptr<storage::CheckpointStore> store;
  if (config_.local_directory.empty()) {
    store = std::make_unique<storage::DirectoryStore>(config_.directory, config_.direct_io);
  } else {
    tiers_ = std::make_unique<Tiers>(rank_, config_.partner);
    store = std::make_unique<storage::TieredStore>(config_.directory, config_.local_directory, config_.direct_io,
                                                   config_.keep_local);
  }
  checkpoint::Options options{config_.keep, config_.reuse_buffers, config_.verbose, diag::program_name()};
  options.flush_every = config_.flush_every;
  pipeline_ = std::make_unique<checkpoint::Pipeline>(
      std::move(store), rank_, size_, options,
      [this](std::uint64_t round, bool committed) { triggers_->announce_commit(round, committed); });

  register_comm(MPI_COMM_WORLD, 0);
  register_comm(MPI_COMM_SELF, 1);
  if (pre_session_comms_) {
    for (MPI_Comm c : *pre_session_comms_) comm_created(c, MPI_COMM_NULL);  // no lineage: made in the same order again
    delete pre_session_comms_;
    pre_session_comms_ = nullptr;
  }
  setup_triggers();
  snapshots_possible_ = config_.every > 0 || triggers_->enabled();
  setup_watch();
  polls_ = snapshots_possible_ && !watched_;
  emulate_all_ = hooks_.emulate_receives;
  window_->set_emulate(emulate_all_);
  window_->set_chaos(hooks_.chaos_seed);
  refresh_mode();
}

namespace {

std::vector<int> world_ranks_of(MPI_Group g) {
  int n = 0;
  mpi::check(PMPI_Group_size(g, &n), "PMPI_Group_size");
  MPI_Group wg;
  mpi::check(PMPI_Comm_group(MPI_COMM_WORLD, &wg), "PMPI_Comm_group");
  std::vector<int> ranks(static_cast<std::size_t>(n)), world(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ranks[static_cast<std::size_t>(i)] = i;
  mpi::check(PMPI_Group_translate_ranks(g, n, ranks.data(), wg, world.data()), "PMPI_Group_translate_ranks");
  PMPI_Group_free(&wg);
  return world;
}

}  // namespace

// What a communicator is (its members in world ranks, inter or not), with zero counters.
std::unique_ptr<mpi::CommEntry> Runtime::describe(MPI_Comm app) {
  int inter = 0;
  mpi::check(PMPI_Comm_test_inter(app, &inter), "PMPI_Comm_test_inter");
  auto e = std::make_unique<mpi::CommEntry>();
  e->app = app;
  e->inter = inter != 0;
  mpi::check(PMPI_Comm_rank(app, &e->rank), "PMPI_Comm_rank");
  // Peers are addressed in the remote group of an intercommunicator, in the group otherwise.
  MPI_Group g;
  mpi::check(e->inter ? PMPI_Comm_remote_group(app, &g) : PMPI_Comm_group(app, &g), "PMPI_Comm_group");
  e->world = world_ranks_of(g);
  PMPI_Group_free(&g);
  e->size = static_cast<int>(e->world.size());
  if (e->inter) {
    mpi::check(PMPI_Comm_group(app, &g), "PMPI_Comm_group");
    e->local_world = world_ranks_of(g);
    PMPI_Group_free(&g);
  }
  return e;
}

// A communicator with the members of one already described (MPI_Comm_dup's, of its parent).
std::unique_ptr<mpi::CommEntry> Runtime::describe_as(MPI_Comm app, const mpi::CommEntry& same_members) {
  auto e = std::make_unique<mpi::CommEntry>();
  e->app = app;
  e->inter = same_members.inter;
  e->rank = same_members.rank;
  e->world = same_members.world;
  e->local_world = same_members.local_world;
  e->size = same_members.size;
  return e;
}

// Colors exist and the id is known: errors on the colors go where the application said errors on
// its communicator go, traffic goes to the current color, and the entry joins the table.
// `colors_fatal`: the colors already carry MPI_ERRORS_ARE_FATAL (pooled ones of such an owner).
void Runtime::finish_entry(std::unique_ptr<mpi::CommEntry> e, bool restored, bool colors_fatal) {
  MPI_Errhandler eh;
  mpi::check(PMPI_Comm_get_errhandler(e->app, &eh), "PMPI_Comm_get_errhandler");
  e->errors_fatal = eh == MPI_ERRORS_ARE_FATAL;
  if (!(colors_fatal && e->errors_fatal))
    for (MPI_Comm c : e->color) PMPI_Comm_set_errhandler(c, eh);
  PMPI_Errhandler_free(&eh);
  e->current = e->color[engine_->seq() % 2];
  mpi::CommEntry& ref = comms_.add(std::move(e));
  if (restored) apply_restored_counters(ref);
}

mpi::CommEntry& Runtime::register_comm(MPI_Comm app, std::int64_t fixed_id, std::uint64_t parent) {
  const bool agree_id = fixed_id < 0;
  IdAgreement a = pre_agreed_;  // (made: in MPI_Comm_dup's arrival, which claimed the recorded id too)
  pre_agreed_.made = false;
  if (!agree_id || parent == kNoParent) a.made = false;
  auto e = a.made ? describe_as(app, *a.members_of) : describe(app);
  e->parent = parent;
  if (parent != kNoParent) e->slot = a.made ? a.slot : free_slot(parent, e->world, e->local_world);
  if (e->inter) {
    // MPI_Comm_create keeps attributes away but needs a group of the local side; an intercommunicator
    // is duplicated instead (the application's attribute copy callbacks run for these two).
    mpi::check(PMPI_Comm_dup(app, &e->color[0]), "PMPI_Comm_dup(color 0)");
    mpi::check(PMPI_Comm_dup(app, &e->color[1]), "PMPI_Comm_dup(color 1)");
  }
  std::uint64_t pooled = 0;  // the colours every member takes from its pool (0: new ones)
  if (agree_id) {
    // Every member proposes its next id; the maximum is unique on every member. In a restarted
    // run, a member that finds this lineage in the checkpoint proposes the recorded id instead,
    // and all members must (max == min). (Both sides of an intercommunicator agree through a
    // temporary merge.) The same allreduce decides whether pooled colours are taken over: only
    // when every member offers the same pair (mpi/color_pool.hpp).
    if (!a.made) {
      std::uint64_t mine[kAgreeWords];
      a = proposal(recorded_id(*e), e->world, e->inter, mine);
      MPI_Comm over = app;
      if (e->inter) mpi::check(PMPI_Intercomm_merge(app, 0, &over), "PMPI_Intercomm_merge");
      mpi::check(PMPI_Allreduce(mine, a.all, 1, agree_type_, agree_op_, over), "PMPI_Allreduce(comm id)");
      if (e->inter) PMPI_Comm_free(&over);
    }
    const std::uint64_t recorded = a.recorded;
    const std::uint64_t* all = a.all;
    pooled = agreed_pair(a.all);
    const std::uint64_t most = all[0], least = ~all[1];
    if (most != least)
      throw diag::error("a communicator made in this restarted run (" + describe_members(*e) +
                  ") is communicator " + std::to_string(most) + " of the checkpoint on some of its members but " +
                  (least ? "communicator " + std::to_string(least) : std::string("new")) + " on others (on this rank: " +
                  (recorded ? std::to_string(recorded) : std::string("new")) +
                  "); its messages in flight could not be delivered. Make communicators in the same order, "
                  "from the same parents, as the run that wrote the checkpoint");
    if (most) {
      e->id = protocol::CommId{most};
    } else {
      e->id = protocol::CommId{all[2]};
      next_comm_id_ = all[2] + 1;
    }
  } else {
    e->id = protocol::CommId{static_cast<std::uint64_t>(fixed_id)};
  }
  bool colors_fatal = false;
  if (pooled) {
    const mpi::ColorPool::Colors c = color_pool_.take(pooled);
    e->color[0] = c.color[0];
    e->color[1] = c.color[1];
    colors_fatal = c.errors_fatal;
    // Their last owner, if it kept its counters for the next cut (it carried traffic): every member
    // just agreed that all it ever sent was delivered, so the epoch's counts of every member balance
    // without it, and every member drops it here, between the same two safe points. (Else a loop
    // that uses and frees communicators between checkpoints would pile up such entries.)
    if (mpi::CommEntry* last = comms_.find_id(protocol::CommId{pooled}); last && last->released)
      drop_messages_of(*comms_.take(*last));
  } else if (!e->inter) {
    e->color[0] = shadow(app, "PMPI_Comm_create(color 0)");
    e->color[1] = shadow(app, "PMPI_Comm_create(color 1)");
  }
  mpi::CommEntry* raw = e.get();
  finish_entry(std::move(e), agree_id, colors_fatal);
  return *raw;
}

void Runtime::free_colors(mpi::CommEntry& e) {
  if (e.one_color()) e.color[1] = MPI_COMM_NULL;
  for (MPI_Comm& c : e.color)
    if (c != MPI_COMM_NULL) PMPI_Comm_free(&c);
}

// ------------------------------------------------------------------ progress

void Runtime::refresh_mode() noexcept {
  slow_recv_ = emulate_all_ || engine_->draining() || !queue_.empty() || window_->has_pending();
  busy_ = engine_->active() || pipeline_->commits_pending() || (tiers_ && tiers_->busy()) || !pending_regs_.empty();
  no_window_ = !busy_ && !slow_recv_;
  blocks_in_mpi_ = no_window_ && !polls_;
  comms_.set_gates(!busy_, !slow_recv_, !snapshots_possible_, watched_);
}

void Runtime::progress() {
  if (!pending_regs_.empty()) advance_registrations();
  engine_->progress();
  if (engine_->draining()) window_->drain();
  window_->pass();
  if (pipeline_->current()) {
    using Phase = protocol::SnapshotEngine::Phase;
    if (engine_->phase() == Phase::Closed && pipeline_->awaiting_write()) on_channels_closed();
    if (pipeline_->written() && (!tiers_ || tiers_->partners_done(*pipeline_)))
      engine_->start_done(pipeline_->done_record(engine_->sent_before_total(), engine_->received_before_total()));
    if (engine_->phase() == Phase::Complete) {
      free_retired(pipeline_->close(engine_->finish()));
      if (tiers_) tiers_->closed(*pipeline_);
    }
  }
  if (tiers_ && tiers_->busy()) tiers_->poll(*pipeline_);
  if (pipeline_->commits_pending()) pipeline_->poll();
  refresh_mode();
}

namespace {

// The blocking point-to-point call a loop of wait_until stands for, as the watch names it (the
// others - constructors, the send half of a Sendrecv - stay in the loop).
bool watched_kind(const char* call, watch::Call::Kind& kind) noexcept {
  if (std::strcmp(call, "MPI_Recv") == 0) kind = watch::Call::Recv;
  else if (std::strcmp(call, "MPI_Send") == 0) kind = watch::Call::Send;
  else if (std::strcmp(call, "MPI_Ssend") == 0) kind = watch::Call::Ssend;
  else return false;
  return true;
}

}  // namespace

int Runtime::wait_until(MPI_Request* req, MPI_Status* status, const WaitTarget* targets, int ntargets,
                        const char* call) {
  WaitEpisode ep(call);
  unsigned spins = 0;
  for (;;) {
    if (busy_ || slow_recv_) progress();
    int flag = 0;
    const int rc = mpi::test_for(ntargets > 0 ? targets[0].comm->errors_to() : MPI_COMM_NULL, req, &flag, status);
    if (rc != MPI_SUCCESS || flag) return rc;
    // Nothing of the library's needs this rank to poll any more (its snapshot completed, its
    // window closed): the rest of the wait is MPI's own, as the call made now would be - published
    // where the watch looks on, so that a deadlock that began while the snapshot was under way is
    // seen too. (A receive is counted by the caller, after it returns, as a direct one is.)
    watch::Call::Kind kind;
    if (blocks_in_mpi_ && ntargets == 1 && targets[0].comm->errors_fatal && watched_kind(call, kind)) {
      const watch::Call c{targets[0].comm, targets[0].source, targets[0].tag, kind};
      return in_mpi(c, [&] { return PMPI_Wait(req, status); });
    }
    if (snapshots_possible_ && (++spins & 63u) == 0) idle_check(targets, ntargets, ep);
  }
}

int Runtime::wait_collective(MPI_Request* req, mpi::CommEntry* e, const char* name) {
  WaitEpisode ep(name);
  unsigned spins = 0;
  while (!blocks_in_mpi_) {
    if (busy_ || slow_recv_) progress();
    int flag = 0;
    const int rc = mpi::test_for(MPI_COMM_NULL, req, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS || flag) return rc;
    if ((++spins & 63u) == 0) idle_check(nullptr, 0, ep);
  }
  watch::Call c;
  c.object = e;
  c.kind = watch::Call::Collective;
  c.name = name;
  return in_mpi(c, [&] { return PMPI_Wait(req, MPI_STATUS_IGNORE); });
}

// After the Session started, the application's own handles carry no traffic (it goes over the
// colors): a message found on one was sent before the Session, and nothing of mpisnap will ever
// receive it. Found at the start (check_early_messages) or while a rank waits (idle_check).
namespace {

std::string early_message_text(const mpi::CommEntry& e, const MPI_Status& st) {
  const int world = st.MPI_SOURCE >= 0 && e.valid_peer(st.MPI_SOURCE) ? protocol::value(e.world_of(st.MPI_SOURCE)) : -1;
  return "a message from rank " + std::to_string(world) + " (tag " + std::to_string(st.MPI_TAG) + ", communicator " +
         std::to_string(protocol::value(e.id)) +
         ") was sent before the mpisnap Session started and was not received before it: mpisnap carries only "
         "messages sent after the Session starts, so this one would never arrive. Create the Session right after "
         "MPI_Init, before any point-to-point communication (or receive every message sent before it, before "
         "creating it)";
}

}  // namespace

void Runtime::early_message(const mpi::CommEntry& e, const MPI_Status& st) {
  throw diag::error(early_message_text(e, st));
}

void Runtime::check_early_messages() {
  std::string found;
  comms_.for_each([&](mpi::CommEntry& e) {
    if (e.app == MPI_COMM_NULL || !found.empty()) return;
    int flag = 0;
    MPI_Status st;
    mpi::check(PMPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, e.app, &flag, &st), "PMPI_Iprobe(early)");
    if (flag) found = early_message_text(e, st);
  });
  // Every rank stops alike (the one that found it says what).
  mpi::MpiCollectivePort port(control_);
  if (!port.all(found.empty()))
    throw diag::error(found.empty() ? "another rank found a message sent before the Session started (see its message)"
                                    : found);
}

void Runtime::idle_check(const WaitTarget* targets, int ntargets, WaitEpisode& ep) {
  double& first_seen = ep.first_seen;
  for (int i = 0; i < ntargets; ++i) {
    if (targets[i].send || !targets[i].comm || targets[i].comm->app == MPI_COMM_NULL) continue;
    int flag = 0;
    MPI_Status st;
    mpi::check(PMPI_Iprobe(targets[i].source, targets[i].tag, targets[i].comm->app, &flag, &st), "PMPI_Iprobe(early)");
    if (flag) early_message(*targets[i].comm, st);
  }
  engine_->progress();  // markers for the next snapshot arrive here
  if (engine_->draining()) return;
  const protocol::SnapshotSeq next = engine_->seq() + 1;
  for (int i = 0; i < ntargets; ++i) {
    const WaitTarget& t = targets[i];
    if (t.send || !t.comm || t.source < 0 || !t.comm->valid_peer(t.source)) continue;
    const auto announced = engine_->announced(next, {t.comm->id, t.comm->world_of(t.source)});
    if (announced) {
      if (t.comm->peers.received(t.source) >= *announced) misplaced(t);
      continue;
    }
    // No marker: the source may have sent nothing before its snapshot. A matching message it sent
    // after it, waiting while no marker follows, means the same.
    int flag = 0;
    mpi::check(PMPI_Iprobe(t.source, t.tag, t.comm->old_color(), &flag, MPI_STATUS_IGNORE), "PMPI_Iprobe(idle)");
    if (!flag) continue;
    const double now = PMPI_Wtime();
    if (first_seen < 0) first_seen = now;
    else if (now - first_seen > config_.misplaced_grace) misplaced(t);
  }
}

void Runtime::misplaced(const WaitTarget& t) {
  const int world = protocol::value(t.comm->world_of(t.source));
  throw diag::error("misplaced safe point: this rank waits for a message from rank " +
              std::to_string(world) + " (tag " + (t.tag == MPI_ANY_TAG ? std::string("any") : std::to_string(t.tag)) +
              ", communicator " + std::to_string(protocol::value(t.comm->id)) + ") that rank " + std::to_string(world) +
              " sends only after its safe point " + std::to_string(next_due_safe_point()) +
              ", where it took the next checkpoint; this rank must get there first and cannot. "
              "Reaching safe point k must never need a message that another rank sends after its own safe point k: "
              "move checkpoint_point() so that every rank passes it between the same communication steps.");
}

void Runtime::fatal(const std::string& what) noexcept {
  diag::set_rank(mpi::world_rank());
  const std::string msg = diag::with_rank(what);
  std::fprintf(stderr, "%s\n", msg.c_str());
  std::fflush(stderr);
  int init = 0, fin = 0;
  PMPI_Initialized(&init);
  PMPI_Finalized(&fin);
  if (init && !fin) {
    // The message is in the pipe to the launcher's I/O forwarder; MPICH's hydra tears the job down
    // on an abort without draining it (seen under load: status 70 and no message). A moment first.
    ::usleep(200 * 1000);
    PMPI_Abort(MPI_COMM_WORLD, 70);
  }
  std::_Exit(70);
}

// ------------------------------------------------------------------ communicators and finalize

mpi::CommEntry* Runtime::lookup(MPI_Comm comm) {
  if (mpi::CommEntry* e = known(comm)) return e;
  if (comm == MPI_COMM_NULL) return nullptr;  // MPI reports the error
  throw diag::error("point-to-point on a communicator mpisnap does not know: it was not made by an MPI "
              "call mpisnap intercepts (dup, split, create, cartesian, graph, ...), or it was freed");
}

// Before waiting for the snapshots in progress, the ranks agree (non-blockingly, while the protocol
// keeps moving) that they all took the same number of them: a rank that passed fewer safe points
// would otherwise leave the others waiting forever for its part of a snapshot.
void Runtime::agree_at_finalize() {
  const std::uint64_t begun = engine_->seq();
  triggers_->finishing();  // any round still open is joined as finishing, so it is cancelled
  std::uint64_t mine[3] = {begun, ~begun, triggers_->rounds_started()}, all[3] = {0, 0, 0};
  MPI_Request req;
  mpi::check(PMPI_Iallreduce(mine, all, 3, MPI_UINT64_T, MPI_MAX, finalize_, &req), "PMPI_Iallreduce(finalize)");
  for (;;) {
    progress();
    int flag = 0;
    mpi::check(PMPI_Test(&req, &flag, MPI_STATUS_IGNORE), "PMPI_Test(finalize)");
    if (flag) break;
  }
  // Every agreement round the coordinator started is joined and reduced before the communicators go.
  triggers_->settle(all[2]);
  const std::uint64_t most = all[0], fewest = ~all[1];
  if (most != fewest)
    throw diag::error("at MPI_Finalize the ranks have taken between " + std::to_string(fewest) + " and " +
                std::to_string(most) + " checkpoints (this rank: " + std::to_string(begun) + ", after " +
                std::to_string(safe_point_) + " safe points): every rank must pass the same sequence of safe points");
}

bool Runtime::shutdown() {
  settle_all();
  agree_at_finalize();
  finish_all_snapshots();
  if (tiers_) tiers_->finish(*pipeline_, [this] { progress(); });  // the newest checkpoint on the global tier
  const bool stopped = should_exit_;
  triggers_->restore_signals();
  triggers_->closing();  // every rank is past the agreement: a neighbour's helper may stop from here
  if (window_->has_pending())
    diag::warn(std::to_string(window_->pending()) + " receive(s) were still pending at MPI_Finalize");
  if (!queue_.empty() && !should_exit_)  // after a stop signal, messages in flight are expected
    diag::warn(std::to_string(queue_.size()) + " restored or recorded message(s) were never received by the application");
  const checkpoint::Stats& st = pipeline_->stats();
  if (config_.verbose && rank_ == 0 && st.checkpoints > 0)
    diag::say(std::to_string(st.checkpoints) + " checkpoint(s) this run, mean pause " +
              diag::fixed(st.total_pause_seconds / static_cast<double>(st.checkpoints), 4) + " s on rank 0");
  pipeline_.reset();
  tiers_.reset();
  lease_.reset();  // after the last commit: the directory is free for the next job
  requests_.clear();
  held_messages_.clear();
  comms_.for_each([this](mpi::CommEntry& e) { free_colors(e); });
  color_pool_.clear([](mpi::ColorPool::Colors& c) {
    for (MPI_Comm& x : c.color) PMPI_Comm_free(&x);
  });
  triggers_.reset();
  PMPI_Comm_free(&control_);
  PMPI_Comm_free(&finalize_);
  PMPI_Op_free(&agree_op_);
  PMPI_Type_free(&agree_type_);
  return stopped;
}

int Runtime::finalize() {
  // An error in shutdown() aborts the job (guarded) with the runtime still in place to report it.
  const bool stopped = instance_->shutdown();
  std::unique_ptr<Runtime>(std::exchange(instance_, nullptr)).reset();  // every call goes to PMPI from here
  const int rc = PMPI_Finalize();
  // A run stopped by the stop signal after its checkpoint committed tells its launcher to run again.
  if (stopped) std::exit(Session::kExitCheckpointed);
  return rc;
}

void Runtime::stop() {
  finalize();
  std::exit(Session::kExitCheckpointed);
}

}  // namespace mpisnap
