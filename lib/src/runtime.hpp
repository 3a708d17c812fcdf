// The one object that owns every piece of mpisnap in a process (lib/DESIGN.md): the communicator
// and request tables, the snapshot engine and its control port, the replay queue and the receive
// window, the background writer, the snapshot in progress and the restored checkpoint.
//
// The PMPI wrappers reach it through Runtime::get(), which is null until the first Session: a
// program that never creates one runs exactly as without the library.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <mpisnap/mpisnap.hpp>

#include "channel/mpi_message_port.hpp"
#include "channel/receive_window.hpp"
#include "channel/replay_queue.hpp"
#include "checkpoint/pipeline.hpp"
#include "deadlock/wait_graph.hpp"
#include "common/checkpoint_data.hpp"
#include "common/test_hooks.hpp"
#include "mpi/color_pool.hpp"
#include "mpi/comm_table.hpp"
#include "mpi/mpi_control_port.hpp"
#include "protocol/snapshot_engine.hpp"
#include "requests/request_table.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/lease.hpp"
#include "tiers.hpp"
#include "triggers/triggers.hpp"
#include "watch/blocked_call.hpp"
#include "watch/watch.hpp"

namespace mpisnap {

class Runtime : private watch::Reader {
 public:
  // Words of a new communicator's agreement (IdAgreement, below), one element of agree_type_.
  static constexpr int kAgreeWords = 7;
  // ---- lifecycle (called from the hand-written wrappers and from Session)
  static Runtime* get() noexcept { return instance_; }
  static void note_init(int thread_level) noexcept;
  // Communicators created before the first Session get their colors when it starts.
  static void note_comm_created_before_session(MPI_Comm comm);
  static void note_comm_freed_before_session(MPI_Comm comm);
  // Collective over MPI_COMM_WORLD; the first Session creates the runtime.
  static Runtime& start(MPI_Comm comm, const Config& config);
  void session_ended() noexcept { session_alive_ = false; }

  // ---- what Session needs
  const Node* restorable_state() const noexcept;
  void finish_restore(ResumeInfo& info);
  [[noreturn]] void fail_restore(const char* what);
  bool safe_point_due();
  void take_snapshot(Node&& state);
  std::uint64_t safe_point() const noexcept { return safe_point_; }
  CheckpointStats stats() const;
  void flush();
  int rank() const noexcept { return rank_; }
  BufferSource& buffers() noexcept { return pipeline_->buffers(); }
  // Session::restore on a fresh run (state/buffer_pool.hpp): null when no snapshot is possible or
  // buffers are not kept.
  BufferSource* buffer_planner() noexcept { return fills_pool_ahead() ? &pipeline_->buffers().planner() : nullptr; }
  void map_planned_buffers() { pipeline_->buffers().map_planned(); }
  // The first snapshot's buffers are prepared before it (a snapshot is possible and buffers are kept).
  bool fills_pool_ahead() const noexcept { return snapshots_possible_ && config_.reuse_buffers; }
  // Session::on_commit: rank 0 remembers the checkpoints it sees committed until they are taken.
  void watch_commits() noexcept;
  std::vector<Committed> take_commits();

  // ---- the intercepted calls (one method per line of interpose/calls.def)
#define MPISNAP_CALL(name, params, args) int name params;
#define MPISNAP_COMM_CONSTRUCTOR(name, params, args, out) int name params;
#include "interpose/calls.def"
  // MPI_Finalize: the runtime shuts down (collectively: the last snapshots finish, the ranks agree
  // they took the same ones), is destroyed, and MPI is finalized. After a stop round's checkpoint
  // committed, the process then exits with Session::kExitCheckpointed.
  static int finalize();
  // The program went on after should_exit() was true: finalize and exit with kExitCheckpointed
  // (every rank is at the same safe point, the one after the committed checkpoint). Called from
  // Session, outside any member of the runtime it destroys.
  [[noreturn]] static void stop();
  int Comm_idup(MPI_Comm comm, MPI_Comm* newcomm, MPI_Request* request);
  // MPI-4's MPI_Isendrecv(_replace) (interpose/mpi4.cpp, where the MPI has them): the library's Irecv
  // and Isend behind one generalized request (runtime_requests.cpp).
  int Isendrecv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag, void* recvbuf,
                int recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm, MPI_Request* request);
  int Isendrecv_replace(void* buf, int count, MPI_Datatype datatype, int dest, int sendtag, int source, int recvtag,
                        MPI_Comm comm, MPI_Request* request);
  // MPI-4's constructors from groups (MPI_Comm_create_from_group, MPI_Intercomm_create_from_groups):
  // no parent communicator; the new one is registered as any other (`rc`: the constructor's).
  int made_from_groups(int rc, MPI_Comm* newcomm) {
    if (rc == MPI_SUCCESS && *newcomm != MPI_COMM_NULL) register_comm(*newcomm, -1, CommCounters::kFromGroups);
    return rc;
  }
  // Counts a collective call on `comm` (the cut's collective check; deadlock detection's round);
  // its entry (null: a communicator the library does not know).
  mpi::CommEntry* count_collective(MPI_Comm comm);
  // A blocking collective (calls.def), counted. Without snapshots, MPI's own call; else every member
  // starts its non-blocking form `start` (whether a rank could block inside MPI now is its own state,
  // and a blocking and a non-blocking collective never match) and waits for it in wait_collective.
  template <class Blocking, class Start>
  int blocking_collective(MPI_Comm comm, const char* name, Blocking&& blocking, Start&& start) {
    mpi::CommEntry* e = count_collective(comm);
    if (!snapshots_possible_) return blocking();
    MPI_Request req;
    const int rc = start(&req);
    return rc == MPI_SUCCESS ? wait_collective(&req, e, name) : rc;
  }
  // As the point-to-point calls wait: inside MPI (PMPI_Wait), published for the watch as the
  // communicator's collective call (deadlock detection sees it), while no snapshot work is pending
  // (blocks_in_mpi_); until then in the loop that progresses the protocol.
  int wait_collective(MPI_Request* req, mpi::CommEntry* e, const char* name);

  // ---- the fast path (interpose/fast_path.hpp): the one-entry communicator cache behind three gates
  // (mpi::CommTable::gated, opened and closed by refresh_mode). Null sends the call down the slow
  // path, which looks the communicator up (and caches it).
  // The entry of `comm` when no protocol work is pending on this rank.
  mpi::CommEntry* idle_comm(MPI_Comm comm) const noexcept { return comms_.gated<mpi::CommTable::kIdle>(comm); }
  // As idle_comm, and no receive goes through the window either: a blocking call may be started as
  // the non-blocking one and tested once; only if that finds it incomplete must the slow path wait.
  mpi::CommEntry* no_window_comm(MPI_Comm comm) const noexcept {
    return comms_.gated<mpi::CommTable::kNoWindow>(comm);
  }
  // As no_window_comm, for calls that may block inside MPI: also no snapshot is possible that would
  // need this rank to poll while it waits.
  mpi::CommEntry* direct_blocking_comm(MPI_Comm comm) const noexcept {
    return comms_.gated<mpi::CommTable::kDirect>(comm);
  }
  // As direct_blocking_comm where a snapshot is possible and the helper watches blocking calls: the
  // call blocks inside MPI, published in blocked_call() (watch/blocked_call.hpp).
  mpi::CommEntry* watched_comm(MPI_Comm comm) const noexcept { return comms_.gated<mpi::CommTable::kWatched>(comm); }
  static watch::BlockedCall& blocked_call() noexcept { return blocked_call_; }
  bool watched() const noexcept { return watched_; }
  // MPI_Wait may go straight to PMPI_Wait: blocking is direct and no request needs accounting.
  // (Where the watch looks on, such a wait need not be published: no request in it is a receive the
  // library tracks, so the watch could neither describe it nor judge it misplaced.)
  bool direct_wait() const noexcept { return blocks_in_mpi_ && requests_.empty(); }
  // MPI_Wait may first try PMPI_Test: no request needs accounting and no receive goes through the
  // window (a wait that finds its request complete has nothing to poll for).
  bool test_before_wait() const noexcept { return no_window_ && requests_.empty(); }
  // The slow halves of the blocking calls the fast path started (no_window_comm) and found
  // incomplete: wait for `req`, polling; a receive is then counted.
  int finish_send(MPI_Request* req, mpi::CommEntry* e, int dest, int tag, bool sync) {
    const WaitTarget target{e, dest, tag, true};
    return wait_until(req, MPI_STATUS_IGNORE, &target, 1, sync ? "MPI_Ssend" : "MPI_Send");
  }
  int finish_recv(MPI_Request* req, mpi::CommEntry* e, int source, int tag, MPI_Status* st);

  // ---- triggers (runtime_triggers.cpp)
  void request_checkpoint();
  bool should_exit() const noexcept { return should_exit_; }

  // An automatic session for programs that do not create one (MPISNAP_PRELOAD_SESSION, for running
  // foreign MPI test suites through the interposition).
  static void start_preloaded();

  // Prints "mpisnap: rank R: <what>" and aborts the job (used at the C boundary).
  [[noreturn]] static void fatal(const std::string& what) noexcept;

  ~Runtime();  // (public for std::unique_ptr; only start() and finalize() hold one)

 private:
  Runtime(const Config& config);

  using PersistentOp = requests::PersistentOp;
  using RequestInfo = requests::RequestInfo;
  using WaitTarget = requests::WaitTarget;

  // One blocking call that polls, from its loop's start to its return: the misplaced-safe-point
  // check's clock. Lives on the loop's stack.
  struct WaitEpisode {
    explicit WaitEpisode(const char* call) noexcept : call(call) {}
    const char* call;
    double first_seen = -1;    // the misplaced check
  };
  // A blocking call made inside MPI: where the watch looks on, `c` published for the call's duration.
  template <class F>
  int in_mpi(const watch::Call& c, F&& call) {
    if (!watched_) return call();
    blocked_call_.call() = c;
    blocked_call_.enter();
    const int rc = call();
    blocked_call_.leave();
    return rc;
  }

  // A message taken out of MPI by the window and handed to MPI_Mprobe/MPI_Improbe under a handle
  // of the library's (the application only passes it back to MPI_Mrecv/MPI_Imrecv): held_handle().
  struct HeldMessage {
    RecordedMessage msg;
    mpi::CommEntry* comm = nullptr;
    std::uint32_t id = 0;  // where handles are integers (MPICH): the handle
  };
  MPI_Message held_handle(const HeldMessage& h) const noexcept;
  std::uint32_t next_held_id_ = 0;

  // --- setup and communicators (runtime.cpp, runtime_comms.cpp)
  void setup_world();
  // Colors, rank map and counters for `app`; its id is `fixed_id`, or agreed by its members (-1).
  // `parent`: the id of the communicator it was made from (its lineage), or kNoParent.
  mpi::CommEntry& register_comm(MPI_Comm app, std::int64_t fixed_id, std::uint64_t parent = kNoParent);
  void comm_created(MPI_Comm comm, MPI_Comm parent);
  // A constructor blocks inside MPI until every member of `parent` has called it, and a member may
  // need this rank inside the library meanwhile (its snapshot's messages). So while checkpoints are possible the members first meet in a non-blocking barrier,
  // completed in the polling loop; the constructor and the registration then wait only for ranks
  // already past it. (The trigger agreement no longer needs it: it runs on the helper thread.)
  // MPI_Comm_dup's arrival is its id agreement, and the communicator is made in the same loop
  // (PMPI_Comm_idup, in flight together with the agreement): then its return code, else nothing.
  enum class Ctor { Dup, DupWithInfo, CreateGroup, IntercommCreate, Other };
  static constexpr Ctor ctor_kind(std::string_view name) noexcept {
    return name == "Comm_dup"            ? Ctor::Dup
           : name == "Comm_dup_with_info" ? Ctor::DupWithInfo
           : name == "Comm_create_group"  ? Ctor::CreateGroup
           : name == "Intercomm_create"   ? Ctor::IntercommCreate
                                          : Ctor::Other;
  }
  std::optional<int> arrive_at_constructor(MPI_Comm parent, Ctor kind, MPI_Comm* out);
  void free_colors(mpi::CommEntry& e);
  // Frees the communicators freed by the application before epoch `bound` that nothing refers to
  // any more (a receive still pending on a freed communicator completes normally in MPI).
  void free_retired(std::uint64_t bound);
  // Every kRetiredSweep frees: frees those freed communicators that never carried traffic.
  void free_unused_retired();
  // The application freed `e` (retired): when no snapshot is under way and nothing refers to it,
  // its colours join the pool (mpi/color_pool.hpp) with its sent and delivered totals; its entry
  // goes if it never carried anything on this rank, else stays released (counters for the next
  // cut). False: it keeps its colours.
  bool pool_colors(mpi::CommEntry& e);
  // The application freed `e` (an intercommunicator: never pooled) while no snapshot is under way
  // and nothing refers to it: its colours go now (two context ids each; a loop that uses and frees
  // communicators between checkpoints would run MPI out of them), its counters stay until the next
  // snapshot completes. A message sent to this rank on it and never received is then abandoned at
  // that cut (protocol::SnapshotEngine::set_abandoned), as the program abandoned it.
  void release_colors(mpi::CommEntry& e);
  // `e` leaves the table: the messages the library holds for it (drained or restored, never received
  // by the application, which freed it) go too, else every later checkpoint would record them
  // without a counter to account for them.
  void drop_messages_of(const mpi::CommEntry& e);
  // The engine's question at a marker: will this rank drain nothing from communicator `id`?
  bool abandoned(protocol::CommId id);
  void idup_completed(MPI_Comm* out, std::uint64_t id);

  // --- lineage (runtime_comms.cpp): communicator ids that survive a restart. A communicator is
  // named by (parent id, members, slot); the checkpoint records that for every live communicator,
  // and a restarted run gives a communicator of the same lineage the recorded id (it agrees on it
  // like on a fresh one, and stops with a message when the members disagree).
  static constexpr std::uint64_t kNoParent = CommCounters::kNoParent;
  struct RecordedComm {
    std::uint64_t id;
    std::uint64_t parent;
    std::uint64_t slot;
    std::vector<int> world, local_world;
    bool claimed;
  };
  std::vector<RecordedComm> recorded_comms_;  // from the checkpoint found at start
  // An MPI_Comm_idup started and not completed: its slot is taken from the moment of the call (the
  // calls are in the same order on every member; their completions need not be).
  struct StartedIdup {
    MPI_Comm* out;
    std::uint64_t parent;
    std::uint64_t slot;
    std::vector<int> world;
  };
  std::vector<StartedIdup> idups_started_;
  std::uint64_t free_slot(std::uint64_t parent, const std::vector<int>& world, const std::vector<int>& local_world);
  // The id the checkpoint gave the communicator of this lineage (claimed now), or 0.
  std::uint64_t recorded_id(const mpi::CommEntry& e) { return recorded_id(e.parent, e.slot, e.world, e.local_world); }
  std::uint64_t recorded_id(std::uint64_t parent, std::uint64_t slot, const std::vector<int>& world,
                            const std::vector<int>& local_world);
  // A new communicator's agreement (register_comm): each member's proposal is {recorded id, its
  // complement, next id, pooled colours offered, complement, messages sent and delivered by their
  // last owner}, reduced by agree_op_ (the maximum of the first five, the sum of the last two).
  // MPI_Comm_dup's is made in its arrival, over the parent (the same members), which saves a collective.
  struct IdAgreement {
    bool made = false;
    std::uint64_t recorded = 0;  // this rank's proposal of a recorded id (0: new)
    std::uint64_t all[kAgreeWords] = {};
    // MPI_Comm_dup's: the parent, whose members, rank and lineage slot the new one has (it is not
    // freed while the dup runs), so its description is copied instead of asked of MPI again.
    const mpi::CommEntry* members_of = nullptr;
    std::uint64_t slot = 0;
  };
  IdAgreement proposal(std::uint64_t recorded, const std::vector<int>& world, bool inter,
                       std::uint64_t (&mine)[kAgreeWords]);
  // Whether the agreement `all` lets every member take over the pooled pair it names (its token, or 0).
  static std::uint64_t agreed_pair(const std::uint64_t (&all)[kAgreeWords]) noexcept {
    return all[3] != 0 && all[3] == ~all[4] && all[5] == all[6] ? all[3] : 0;
  }
  IdAgreement pre_agreed_;
  void load_lineage(const RankCheckpoint& cp);
  std::string describe_members(const mpi::CommEntry& e) const;
  // A restarted rank blocked in a receive on a communicator that is not in the checkpoint, while
  // restored messages wait for a checkpoint communicator with the same members that no
  // communicator of this run has become: the program made its communicators differently. After
  // 5 x Config::misplaced_grace this stops the job with a message instead of waiting forever.
  void orphan_check(const mpi::CommEntry& waiting, double& first_seen);
  // Finishes the pending registration of `comm` (if any; polling, with progress) and returns its
  // entry, or nullptr.
  mpi::CommEntry* settle(MPI_Comm comm);
  void settle_all();
  mpi::CommEntry* known(MPI_Comm comm) { return pending_regs_.empty() ? comms_.find(comm) : settle(comm); }
  std::unique_ptr<mpi::CommEntry> describe(MPI_Comm app);
  std::unique_ptr<mpi::CommEntry> describe_as(MPI_Comm app, const mpi::CommEntry& same_members);
  void finish_entry(std::unique_ptr<mpi::CommEntry> e, bool restored, bool colors_fatal = false);
  static constexpr unsigned kRetiredSweep = 32;
  bool referenced(const mpi::CommEntry& e);
  int raise(mpi::CommEntry& e, int rc);  // an error of an emulated operation, through the comm's handler

  // --- progress (runtime.cpp)
  void progress();
  void refresh_mode() noexcept;
  // Completes `req` while keeping the protocol moving; returns what PMPI_Test returned.
  int wait_until(MPI_Request* req, MPI_Status* status, const WaitTarget* targets, int ntargets,
                 const char* call = "MPI_Wait");
  void idle_check(const WaitTarget* targets, int ntargets, WaitEpisode& ep);
  // A message sent before the Session, found on an application handle: the error naming it.
  [[noreturn]] void early_message(const mpi::CommEntry& e, const MPI_Status& st);
  void check_early_messages();
  [[noreturn]] void misplaced(const WaitTarget& t);

  // --- triggers (runtime_triggers.cpp; the triggers themselves are triggers::Triggers)
  void setup_triggers();
  // A stop round's checkpoint: wait until it committed (then leave at the next safe point) or not.
  void wait_for_stop_commit(std::uint64_t round);
  // Everything finalize() does before the runtime is destroyed; returns whether the run stopped
  // after a stop round's checkpoint.
  bool shutdown();

  // --- snapshots (runtime_snapshot.cpp; their way to commit is checkpoint::Pipeline)
  void begin_snapshot(Node&& state, std::uint64_t stop_round);
  void on_channels_closed();
  // Progress until the snapshot in flight (if any) completed on every rank; between rounds of
  // progress this rank sleeps while its writer works (up to kWriterWait, less when it finishes).
  void wait_snapshot_complete();
  static constexpr std::chrono::microseconds kWriterWait{200};
  void finish_all_snapshots();
  void agree_at_finalize();
  std::uint64_t next_due_safe_point() const noexcept;
  void check_safe_point();
  static std::uint64_t collective_check(const mpi::CommEntry& e, int world_rank);

  // --- restart (runtime_restart.cpp)
  // Rank 0 takes the checkpoint directory's lease (storage/lease.hpp) for this job, waiting out a
  // stale one; every rank's store then checks it before each write. The same error on every rank
  // when a live job holds it.
  void take_directory();
  void discover_checkpoint();
  // A checkpoint was found and nobody restored it: refuse at the first safe point (unless MPISNAP_FRESH).
  [[noreturn]] void refuse_unrestored();
  void apply_restored_counters(mpi::CommEntry& e);

  // --- point-to-point (runtime_p2p.cpp)
  int recv_window(void* buf, int count, MPI_Datatype type, int source, int tag, mpi::CommEntry& e,
                  MPI_Status* status);
  // A blocking receive of the window that may finish inside MPI: every pending receive of the
  // window is a real one now, and nothing else of the library's needs polling.
  bool window_waits_directly(const channel::PendingRecv& p) {
    return window_quiet() && p.comm->errors_fatal && p.inner != MPI_REQUEST_NULL && window_->all_real() &&
           queue_settled();
  }
  // Every entry still in the queue belongs to a communicator of this run. (One that waits for a
  // communicator a restarted run has not made, or made differently, keeps the wait in the loop,
  // whose orphan_check names it.)
  bool queue_settled();
  int send_blocking(const void* buf, int count, MPI_Datatype type, int dest, int tag, mpi::CommEntry& e, bool sync);
  // The body of every send that completes without waiting for its receiver (Bsend, Isend, Issend,
  // Ibsend): `start(comm)` makes the PMPI call on the communicator it is given.
  template <class Call>  // (not "Start": that is MPI_Start's method)
  int send_started(MPI_Comm comm, int dest, Call&& start);
  // The body of the sends that may wait for their receiver (Send, Ssend; `sync` for Ssend).
  template <class Call>
  int send_waiting(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, bool sync,
                   Call&& call);
  // A rank may wait by spinning on non-blocking calls (Iprobe, Improbe, Test*): while blocking calls
  // poll (every-N checkpoints with triggers off, no helper), every 64th such call progresses, so
  // that the spinning rank still joins a round that a peer waits for at its safe point
  // (mpi.spin_wait_trigger hangs otherwise). One increment and a test; nothing at all otherwise
  // (the helper joins rounds for a spinning rank as for a blocked one).
  bool spin_poll_due() noexcept { return polls_ && (++spin_calls_ & 63u) == 0; }
  // Emulated receives pending (slow_recv_) may be what a blocking call waits for: it must progress them.
  bool blocking_needs_loop() const noexcept { return polls_ || slow_recv_ || busy_ || engine_->draining(); }
  mpi::CommEntry* lookup(MPI_Comm comm);
  // The held message `*m` names, taken out of held_messages_ (null: not one the library holds).
  std::unique_ptr<HeldMessage> take_held(MPI_Message m);

  // --- requests (runtime_requests.cpp)
  // A receive request completed with `st`; `rc` is its own error code (MPI_ERROR of a status of a
  // multiple completion that failed with MPI_ERR_IN_STATUS).
  void account_completion(const RequestInfo& info, const MPI_Status& st, int rc) noexcept;
  // Nothing to poll for and every tracked request among `reqs` a real receive: MPI's own wait
  // will do, the receives counted from the statuses afterwards (wait_direct).
  // `proxies`: persistent operations may be among them (MPI_Wait, MPI_Waitall: wait_direct waits on
  // their real requests).
  bool waits_directly(int count, const MPI_Request* reqs, bool proxies = false) noexcept;
  // A completion call's polling loop gives the rest of its wait to MPI once what made it poll -
  // this rank's snapshot work, the window - is over, so that a deadlock that began meanwhile is seen
  // by the watch too: wait_direct / wait_some_direct when it may (waits_directly), else the same on
  // the real receives behind the window's requests among them (wait_window_direct). True when it
  // did, with the call's return code in `rc`. (window_quiet first: a few loads per turn of the loop.)
  bool hand_over_wait(int count, MPI_Request* reqs, MPI_Status* statuses, bool single, int* rc);
  bool hand_over_some(int count, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses, bool any,
                      int* rc);
  // Nothing but the window's own pending receives keeps this rank polling: no snapshot work, nothing
  // to drain, not polling by configuration. (Queue entries the application has not received yet
  // may remain - a receive the window made real cannot take one any more - if queue_settled.)
  bool window_quiet() const noexcept { return !polls_ && !busy_ && !emulate_all_ && !engine_->draining(); }
  // The requests MPI may wait on for `reqs` (window_on_): the window's non-blocking receives among
  // them replaced by their real receives (window_recv_[i]: that receive, else null). False when
  // one is neither (persistent, pair, idup, a receive the window still emulates) or errors return.
  bool window_requests(int count, const MPI_Request* reqs);
  // wait_direct and wait_some_direct over window_on_; each window receive that completed is handed
  // back to the window (settled, its request completed) and its request waited for, which frees it.
  int wait_window_direct(int count, MPI_Request* reqs, MPI_Status* statuses, bool single);
  int wait_some_window_direct(int count, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses,
                              bool any);
  void settle_window(int i, MPI_Request* reqs, MPI_Status& st, int rc);
  // `statuses`, or the runtime's scratch array of `count` when the application ignores them.
  MPI_Status* status_array(int count, MPI_Status* statuses);
  // `single`: MPI_Wait's error semantics (the error returned, not MPI_ERR_IN_STATUS).
  int wait_direct(int count, MPI_Request* reqs, MPI_Status* statuses, bool single);
  // The same for MPI_Waitany (`any`: one index and status; outcount 0 or 1) and MPI_Waitsome.
  int wait_some_direct(int count, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses, bool any);
  bool peek_complete(MPI_Request req);
  bool test_one(MPI_Request* req, MPI_Status* st, int* rc);
  bool test_persistent(PersistentOp& op, MPI_Status* st, int* rc);
  // A pair's receive and send complete (each tested once more if not yet): then the generalized
  // request is completed, its status the receive's. False while either is pending.
  bool settle_pair(MPI_Request handle, requests::PairOp& op);
  int start_pair(std::unique_ptr<requests::PairOp> op, const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                 int dest, int sendtag, void* recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag,
                 MPI_Comm comm, MPI_Request* request);
  int start_persistent(PersistentOp& op);
  int persistent_init(PersistentOp::Kind kind, const void* sbuf, void* rbuf, int count, MPI_Datatype type, int peer,
                      int tag, MPI_Comm comm, MPI_Request* request);
  void idle_check_requests(int count, const MPI_Request* reqs, WaitEpisode& ep);

  // --- the watch over blocked calls (runtime_watch.cpp; watch/watch.hpp does the watching on the
  // helper thread): deadlock detection and the misplaced-safe-point diagnosis of a rank blocked
  // inside MPI. The runtime reads a held call for it (watch::Reader, on the helper thread while the
  // main thread is inside the call and cannot change what is read).
  void setup_watch();
  bool describe(const watch::Call& c, deadlock::Report& r) override;
  void sources(const watch::Call& c, std::vector<watch::Source>& out) override;
  void held_targets(const watch::Call& c, std::vector<WaitTarget>& out, int& pending);
  // What this rank sent on each channel before its snapshot now begun (the watch answers peers' questions).
  void publish_cut(std::uint64_t seq, const protocol::SnapshotEngine::SentCounts& sent);

  // The runtime, from the first Session to MPI_Finalize: start() creates it, finalize() takes it back
  // (a std::unique_ptr at both ends) and destroys it. A process that exits without MPI_Finalize
  // leaves it alone: MPI is not finalized either, and the writer thread may be inside HDF5.
  [[gnu::visibility("hidden")]] static Runtime* instance_;  // hidden: one load on the fast path, not via the GOT
  static int thread_level_;
  static std::vector<MPI_Comm>* pre_session_comms_;

  Config config_;
  TestHooks hooks_;
  int rank_ = 0;
  int size_ = 1;
  bool session_alive_ = false;
  MPI_Comm control_ = MPI_COMM_NULL;
  MPI_Comm finalize_ = MPI_COMM_NULL;  // only for the agreement at MPI_Finalize (its own collective order)
  MPI_Datatype agree_type_ = MPI_DATATYPE_NULL;  // kAgreeWords uint64 as one element (the op sees whole proposals)
  MPI_Op agree_op_ = MPI_OP_NULL;
  std::unique_ptr<triggers::Triggers> triggers_;  // signals, interval, request_checkpoint(); the agreement
  bool should_exit_ = false;
  std::unique_ptr<mpi::MpiControlPort> port_;
  std::unique_ptr<protocol::SnapshotEngine> engine_;
  mpi::CommTable comms_;
  requests::RequestTable requests_;  // the requests the library tracks, and the persistent operations
  channel::ReplayQueue queue_;
  std::unique_ptr<channel::MpiMessagePort> message_port_;
  std::unique_ptr<channel::ReceiveWindow> window_;
  std::unique_ptr<storage::Lease> lease_;  // rank 0: the directory's lease, renewed while the job runs
  std::unique_ptr<checkpoint::Pipeline> pipeline_;  // the store, the writer, snapshots on their way to commit
  std::unique_ptr<Tiers> tiers_;  // two storage tiers (Config::local_directory): partner copies, decisions, the last flush
  std::uint64_t next_comm_id_ = 2;  // 0 = MPI_COMM_WORLD, 1 = MPI_COMM_SELF
  mpi::ColorPool color_pool_;       // colours of freed, never-used communicators, for the next with their members

  // Mode flags, recomputed by refresh_mode(): the fast path checks one of them per call.
  bool slow_recv_ = false;   // receives go through the window
  bool busy_ = false;        // protocol work pending: progress at every intercepted call
  unsigned retired_since_sweep_ = 0;
  // Communicators made by MPI_Comm_idup whose colors are being created (non-blocking, so ranks
  // that complete their idups in different orders never wait on each other). Its id needs no
  // agreement: it is derived from the parent's id and the parent's idup count, the same on every
  // member. Color 0 is an idup of the communicator, color 1 an idup of color 0 started when that
  // one completed (advance_registrations; two idups of one communicator in flight at once can hang
  // Open MPI 4.1). Any pending makes the runtime busy_, so every rank that waits in the library
  // keeps advancing them. It enters the table when both colors exist (at its first use, or sooner).
  struct PendingRegistration {
    std::unique_ptr<mpi::CommEntry> entry;
    MPI_Request request = MPI_REQUEST_NULL;  // the idup in flight
    bool second = false;                     // it makes color 1
  };
  std::vector<PendingRegistration> pending_regs_;
  void advance_registrations();
  bool snapshots_possible_ = false;  // every > 0 or triggers on: a blocking call polls (polls_) or is watched (watched_)
  unsigned spin_calls_ = 0;     // non-blocking calls counted by spin_poll_due()
  bool no_window_ = false;        // not busy, and no receive goes through the window
  bool blocks_in_mpi_ = false;    // and not polling either: a blocking call blocks in MPI (published where watched)
  bool emulate_all_ = false;    // MPISNAP_EMULATE_RECEIVES: every receive through the window (testing)
  std::vector<MPI_Request> window_on_;             // window_requests' answer
  std::vector<channel::PendingRecv*> window_recv_;
  bool preloaded_ = false;      // started by MPISNAP_PRELOAD_SESSION
  std::vector<std::unique_ptr<HeldMessage>> held_messages_;  // handed out by MPI_(I)mprobe, not yet received
  // wait_direct's scratch, kept so that a wait allocates nothing once warm.
  std::vector<MPI_Status> wait_statuses_;
  std::vector<MPI_Request> wait_inner_;  // wait_direct's: the real requests behind persistent proxies

  // The watch (with the helper thread: triggers on). Blocking calls then block inside MPI even while
  // a snapshot is possible (polls_ false), published in blocked_call_. (Static, as instance_ is: one
  // per process, and the fast path reaches it at a fixed address, without the runtime's pointer.)
  [[gnu::visibility("hidden")]] static watch::BlockedCall blocked_call_;
  std::unique_ptr<watch::Watch> watch_;
  bool watched_ = false;          // watch_ runs
  bool polls_ = false;            // a blocking call must poll while it waits (a snapshot is possible, no watch)

  std::uint64_t safe_point_ = 0;
  double due_at_ = 0;  // when the current safe point decided to snapshot (take_snapshot measures the pause from it)

  // Restart.
  std::unique_ptr<storage::LoadedRankFile> restored_;
  std::string restored_dir_;
  std::vector<CommCounters> restored_counters_;
  bool restore_done_ = false;
  double discover_seconds_ = 0;  // how long finding, reading and verifying the checkpoint took (rank 0's view)

};

}  // namespace mpisnap
