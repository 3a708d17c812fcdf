// The request table (src/requests/): which requests the library tracks and what the completion
// calls learn from it. No MPI is initialized; the handles are made-up values.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "fake_handles.hpp"
#include "requests/request_table.hpp"

namespace mpisnap::requests {
namespace {

using testing::fake_handle;

MPI_Request req(std::uintptr_t n) { return fake_handle<MPI_Request>(n); }

std::unique_ptr<PersistentOp> persistent_op(PersistentOp::Kind kind, mpi::CommEntry* comm, bool active) {
  auto op = std::make_unique<PersistentOp>();
  op->kind = kind;
  op->comm = comm;
  op->peer = 3;
  op->tag = 7;
  op->active = active;
  return op;
}

// Real receives req(1) .. req(n) on `c`, the tag of each its number.
void add_receives(RequestTable& t, mpi::CommEntry* c, int n) {
  for (int k = 1; k <= n; ++k) t.add_receive(req(static_cast<std::uintptr_t>(k)), c, 0, k);
}

TEST(RequestTable, KnowsOnlyWhatItTracks) {
  RequestTable t;
  mpi::CommEntry c;
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.find(MPI_REQUEST_NULL), nullptr);
  EXPECT_EQ(t.find(req(1)), nullptr);
  t.add_receive(req(1), &c, 2, 5);
  t.add_emulated(req(2), &c, MPI_ANY_SOURCE, 6);
  MPI_Comm out = MPI_COMM_NULL;
  t.add_idup(req(3), &out, 42);
  EXPECT_FALSE(t.empty());
  EXPECT_EQ(t.size(), 3u);
  ASSERT_NE(t.find(req(1)), nullptr);
  EXPECT_EQ(t.find(req(1))->kind, RequestInfo::FastRecv);
  EXPECT_EQ(t.find(req(1))->comm, &c);
  EXPECT_EQ(t.find(req(2))->kind, RequestInfo::Emulated);
  EXPECT_EQ(t.find(req(3))->kind, RequestInfo::CommIdup);
  EXPECT_EQ(t.find(req(3))->idup_out, &out);
  EXPECT_EQ(t.find(req(3))->idup_id, 42u);
  EXPECT_EQ(t.find(MPI_REQUEST_NULL), nullptr) << "MPI_REQUEST_NULL is never tracked";
  EXPECT_EQ(t.persistent(req(1)), nullptr) << "only proxies have a persistent operation";

  const MPI_Request untracked[] = {MPI_REQUEST_NULL, req(9), req(10)};
  EXPECT_FALSE(t.any_tracked(3, untracked));
  const MPI_Request mixed[] = {req(9), MPI_REQUEST_NULL, req(2)};
  EXPECT_TRUE(t.any_tracked(3, mixed));

  t.remove(req(1));
  t.remove(req(1));  // twice: nothing happens
  t.remove(req(77));
  EXPECT_EQ(t.find(req(1)), nullptr);
  EXPECT_EQ(t.size(), 2u);
  t.clear();
  EXPECT_TRUE(t.empty());
}

TEST(RequestTable, PersistentOperationsAreOwnedAndLeaveWithTheirProxy) {
  RequestTable t;
  mpi::CommEntry c;
  PersistentOp& op = t.add_persistent(req(1), persistent_op(PersistentOp::Recv, &c, false));
  EXPECT_EQ(t.persistent(req(1)), &op);
  EXPECT_EQ(t.persistent_ops(), 1u);
  // An inactive persistent request is not pending and not active; started, it is both.
  EXPECT_FALSE(t.is_active(req(1)));
  EXPECT_EQ(t.pending(), 0u);
  op.active = true;
  EXPECT_TRUE(t.is_active(req(1)));
  EXPECT_EQ(t.pending(), 1u);
  t.remove(req(1));
  EXPECT_EQ(t.persistent_ops(), 0u) << "the operation goes with its proxy";
  EXPECT_EQ(t.persistent(req(1)), nullptr);
  t.add_persistent(req(2), persistent_op(PersistentOp::Send, &c, true));
  t.clear();
  EXPECT_EQ(t.persistent_ops(), 0u);
}

// MPI_Isendrecv's generalized request: pending until completed, never a real receive (MPI's own
// wait must not complete it), not a receive target (its wait is not described to deadlock
// detection); removing it destroys the operation.
TEST(RequestTable, PairsArePendingOwnedAndNeverWaitedForByMpi) {
  RequestTable t;
  mpi::CommEntry c;
  t.add_receive(req(1), &c, 2, 5);  // the pair's receive, tracked on its own
  auto op = std::make_unique<PairOp>();
  op->recv = req(1);
  op->send = req(2);
  PairOp* raw = op.get();
  PairOp& added = t.add_pair(req(3), std::move(op));
  EXPECT_EQ(&added, raw);
  ASSERT_NE(t.find(req(3)), nullptr);
  EXPECT_EQ(t.find(req(3))->kind, RequestInfo::Pair);
  EXPECT_EQ(t.find(req(3))->pair, raw);
  EXPECT_EQ(t.persistent(req(3)), nullptr);
  EXPECT_TRUE(t.is_active(req(3)));
  EXPECT_EQ(t.pending(), 2u);
  const MPI_Request pair_only[] = {req(3)};
  EXPECT_FALSE(t.only_real_receives(1, pair_only));
  std::vector<WaitTarget> targets;
  t.receive_targets(1, pair_only, targets);
  EXPECT_TRUE(targets.empty());
  t.remove(req(3));
  EXPECT_EQ(t.find(req(3)), nullptr);
  EXPECT_EQ(t.pending(), 1u);
}

TEST(RequestTable, ActiveAndPendingFollowMpiRules) {
  RequestTable t;
  mpi::CommEntry c;
  EXPECT_FALSE(t.is_active(MPI_REQUEST_NULL));
  EXPECT_TRUE(t.is_active(req(50))) << "an untracked request (a send, the application's own) is active";
  t.add_receive(req(1), &c, 0, 0);
  t.add_emulated(req(2), &c, 0, 0);
  t.add_persistent(req(3), persistent_op(PersistentOp::Send, &c, false));
  t.add_persistent(req(4), persistent_op(PersistentOp::Recv, &c, true));
  MPI_Comm out;
  t.add_idup(req(5), &out, 0);
  EXPECT_EQ(t.pending(), 4u) << "all but the inactive persistent request";
}

TEST(RequestTable, MpiOwnWaitOnlyForRealReceives) {
  RequestTable t;
  mpi::CommEntry c;
  const MPI_Request none[] = {req(7), MPI_REQUEST_NULL};
  EXPECT_TRUE(t.only_real_receives(2, none));
  t.add_receive(req(1), &c, 0, 0);
  t.add_emulated(req(2), &c, 0, 0);
  t.add_persistent(req(3), persistent_op(PersistentOp::Recv, &c, false));
  MPI_Comm out;
  t.add_idup(req(4), &out, 0);
  const MPI_Request real[] = {req(1), req(7), MPI_REQUEST_NULL};
  EXPECT_TRUE(t.only_real_receives(3, real));
  for (MPI_Request other : {req(2), req(3), req(4)}) {
    const MPI_Request reqs[] = {req(1), other};
    EXPECT_FALSE(t.only_real_receives(2, reqs)) << "the window's, a proxy's or an idup's completion needs the library";
  }
  // MPI_Wait/MPI_Waitall may wait on a persistent operation's real request, not on an emulated one.
  const MPI_Request proxy[] = {req(1), req(3)};
  EXPECT_TRUE(t.only_real_receives(2, proxy, true));
  int window_receive = 0;  // (only its address: the operation is reset before it is destroyed)
  t.persistent(req(3))->emulated = reinterpret_cast<channel::PendingRecv*>(&window_receive);
  EXPECT_FALSE(t.only_real_receives(2, proxy, true)) << "a receive the window emulates completes in the library";
  t.persistent(req(3))->emulated = nullptr;
  const MPI_Request window[] = {req(2)};
  EXPECT_FALSE(t.only_real_receives(1, window, true));
}

// MPI_Wait/MPI_Waitall on persistent proxies: MPI waits on the operations' real requests; after
// it, what completed is inactive (a receive counted), the rest as it was.
TEST(RequestTable, ProxiesAreWaitedForThroughTheirRealRequests) {
  RequestTable t;
  mpi::CommEntry c;
  PersistentOp& recv = t.add_persistent(req(1), persistent_op(PersistentOp::Recv, &c, true));
  recv.real = req(11);
  PersistentOp& send = t.add_persistent(req(2), persistent_op(PersistentOp::Send, &c, true));
  send.real = req(12);
  t.add_persistent(req(3), persistent_op(PersistentOp::Recv, &c, false));
  t.add_receive(req(4), &c, 0, 4);
  MPI_Request reqs[] = {req(1), req(2), req(3), req(4), req(9)};
  std::vector<MPI_Request> inner;
  const MPI_Request plain[] = {req(4), req(9)};
  EXPECT_FALSE(t.real_requests(2, plain, inner)) << "no proxy: MPI waits on the application's array";
  ASSERT_TRUE(t.real_requests(5, reqs, inner));
  EXPECT_EQ(inner, (std::vector<MPI_Request>{req(11), req(12), MPI_REQUEST_NULL, req(4), req(9)}));
  ASSERT_TRUE(t.note_direct(5, reqs));
  // The wait: the persistent receive and the real receive completed, the send did not
  // (MPI_ERR_IN_STATUS), the untracked one did.
  MPI_Status st[5] = {};
  st[1].MPI_ERROR = MPI_ERR_PENDING;
  inner = {MPI_REQUEST_NULL, req(12), MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  std::vector<std::pair<mpi::CommEntry*, int>> done;  // (communicator, tag)
  auto counted = [&](const RequestInfo& info, const MPI_Status&, int) { done.push_back({info.comm, info.tag}); };
  t.settle_real(5, reqs, inner.data(), st, MPI_ERR_IN_STATUS, false, counted);
  t.settle_direct(MPI_ERR_IN_STATUS, st, false, counted);
  ASSERT_EQ(done.size(), 2u) << "the persistent receive and the real one; not the send";
  EXPECT_EQ(done[0].first, &c);
  EXPECT_EQ(done[1].second, 4);
  EXPECT_FALSE(recv.active);
  EXPECT_EQ(recv.real, MPI_REQUEST_NULL);
  EXPECT_TRUE(send.active) << "a send MPI did not complete stays active";
  EXPECT_EQ(send.real, req(12));
  EXPECT_EQ(reqs[0], req(1)) << "the proxies stay with the application";
  EXPECT_EQ(reqs[1], req(2));
  EXPECT_EQ(reqs[2], req(3));
  EXPECT_EQ(reqs[3], MPI_REQUEST_NULL) << "a completed request's handle is null";
  EXPECT_EQ(reqs[4], MPI_REQUEST_NULL);
  EXPECT_EQ(t.find(req(4)), nullptr);
  EXPECT_NE(t.persistent(req(1)), nullptr);
}

// MPI_Waitany/MPI_Waitsome: only the requests at the returned indices completed.
TEST(RequestTable, SomeCompletedSettlesTheIndicesMpiReturned) {
  RequestTable t;
  mpi::CommEntry c;
  add_receives(t, &c, 3);
  MPI_Request reqs[] = {req(1), req(2), req(8), req(3)};
  ASSERT_TRUE(t.note_direct(4, reqs));
  const int indices[] = {3, 2};  // (MPI's order)
  MPI_Status st[2] = {};
  st[0].MPI_ERROR = MPI_ERR_TRUNCATE;
  std::vector<std::pair<int, int>> done;  // (tag, rc)
  t.settle_completed(MPI_ERR_IN_STATUS, 2, indices, st, false,
                     [&](const RequestInfo& info, const MPI_Status&, int rc) { done.push_back({info.tag, rc}); });
  ASSERT_EQ(done.size(), 1u) << "index 2 is the untracked request";
  EXPECT_EQ(done[0], std::make_pair(3, static_cast<int>(MPI_ERR_TRUNCATE)));
  EXPECT_NE(t.find(req(1)), nullptr);
  EXPECT_NE(t.find(req(2)), nullptr);
  EXPECT_EQ(t.find(req(3)), nullptr);
  // MPI_Waitany that found nothing active: MPI_UNDEFINED, nothing settles.
  ASSERT_TRUE(t.note_direct(4, reqs));
  const int undefined = MPI_UNDEFINED;
  done.clear();
  t.settle_completed(MPI_SUCCESS, MPI_UNDEFINED, &undefined, st, true,
                     [&](const RequestInfo& info, const MPI_Status&, int rc) { done.push_back({info.tag, rc}); });
  EXPECT_TRUE(done.empty());
  EXPECT_EQ(t.size(), 2u);
}

TEST(RequestTable, ReceiveTargetsAreTheReceivesStillAwaited) {
  RequestTable t;
  mpi::CommEntry a, b;
  t.add_receive(req(1), &a, 4, 9);
  t.add_receive(req(2), nullptr, 0, 0);  // a matched receive: nothing to wait for on a channel
  t.add_persistent(req(3), persistent_op(PersistentOp::Recv, &b, true));
  t.add_persistent(req(4), persistent_op(PersistentOp::Recv, &b, false));
  t.add_persistent(req(5), persistent_op(PersistentOp::Send, &b, true));
  const MPI_Request reqs[] = {req(1), req(2), req(3), req(4), req(5), req(6), MPI_REQUEST_NULL};
  std::vector<WaitTarget> out;
  t.receive_targets(7, reqs, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].comm, &a);
  EXPECT_EQ(out[0].source, 4);
  EXPECT_EQ(out[0].tag, 9);
  EXPECT_EQ(out[1].comm, &b);
  EXPECT_EQ(out[1].source, 3);
  EXPECT_EQ(out[1].tag, 7);
}

TEST(RequestTable, TheWatchAlsoSeesTheWindowsReceives) {
  // The polling loop's misplaced check judges real receives only; a wait handed to MPI on the real
  // receives behind the window's requests is described by those requests (the watch's view).
  RequestTable t;
  mpi::CommEntry a;
  t.add_receive(req(1), &a, 1, 5);
  t.add_emulated(req(2), &a, 2, 6);
  const MPI_Request reqs[] = {req(1), req(2)};
  std::vector<WaitTarget> polled, watched;
  t.receive_targets(2, reqs, polled);
  t.receive_targets(2, reqs, watched, true);
  ASSERT_EQ(polled.size(), 1u);
  EXPECT_EQ(polled[0].source, 1);
  ASSERT_EQ(watched.size(), 2u);
  EXPECT_EQ(watched[1].comm, &a);
  EXPECT_EQ(watched[1].source, 2);
  EXPECT_EQ(watched[1].tag, 6);
  EXPECT_FALSE(t.only_real_receives(2, reqs)) << "the window's requests are not MPI's to wait for as they are";
}

TEST(RequestTable, RefersToKeepsAFreedCommunicatorAlive) {
  RequestTable t;
  mpi::CommEntry a, b, c;
  t.add_receive(req(1), &a, 0, 0);
  t.add_persistent(req(2), persistent_op(PersistentOp::Send, &b, false));
  EXPECT_TRUE(t.refers_to(a));
  EXPECT_TRUE(t.refers_to(b)) << "an inactive persistent request still names its communicator";
  EXPECT_FALSE(t.refers_to(c));
  t.remove(req(2));
  EXPECT_FALSE(t.refers_to(b));
}

// MPI's own wait: what completed leaves the table and is accounted once, with its own code; what
// MPI reports MPI_ERR_PENDING for stays; untracked requests are never handed back.
TEST(RequestTable, DirectWaitSettlesExactlyWhatCompleted) {
  RequestTable t;
  mpi::CommEntry c;
  add_receives(t, &c, 3);
  MPI_Request reqs[] = {req(1), req(8), req(2), req(3)};
  const MPI_Request none[] = {req(8)};
  EXPECT_FALSE(t.note_direct(1, none)) << "nothing tracked: nothing to settle";
  ASSERT_TRUE(t.note_direct(4, reqs));
  // The wait: request 1 failed, 2 is still pending, 3 succeeded (MPI_ERR_IN_STATUS).
  MPI_Status st[4] = {};
  st[0].MPI_ERROR = MPI_ERR_TRUNCATE;
  st[1].MPI_ERROR = MPI_SUCCESS;
  st[2].MPI_ERROR = MPI_ERR_PENDING;
  st[3].MPI_ERROR = MPI_SUCCESS;
  std::vector<std::pair<int, int>> done;  // (tag, rc)
  t.settle_direct(MPI_ERR_IN_STATUS, st, false,
                  [&](const RequestInfo& info, const MPI_Status&, int rc) { done.push_back({info.tag, rc}); });
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], std::make_pair(1, static_cast<int>(MPI_ERR_TRUNCATE)));
  EXPECT_EQ(done[1], std::make_pair(3, static_cast<int>(MPI_SUCCESS)));
  EXPECT_EQ(t.find(req(1)), nullptr);
  EXPECT_NE(t.find(req(2)), nullptr) << "a request MPI did not complete stays tracked";
  EXPECT_EQ(t.find(req(3)), nullptr);
  // MPI_Wait: the call's code is the request's own, whatever its status says.
  MPI_Request one[] = {req(2)};
  ASSERT_TRUE(t.note_direct(1, one));
  MPI_Status s1 = {};
  done.clear();
  t.settle_direct(MPI_ERR_TRUNCATE, &s1, true,
                  [&](const RequestInfo& info, const MPI_Status&, int rc) { done.push_back({info.tag, rc}); });
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], std::make_pair(2, static_cast<int>(MPI_ERR_TRUNCATE)));
  EXPECT_TRUE(t.empty());
}

// Against a model under random operations: the table and a std::map agree on every question.
TEST(RequestTable, AgreesWithAModelUnderRandomOperations) {
  RequestTable t;
  mpi::CommEntry comms[3];
  struct Model {
    RequestInfo::Kind kind;
    bool active;
  };
  std::map<std::uintptr_t, Model> model;
  std::mt19937_64 rng(2026);
  for (int step = 0; step < 20000; ++step) {
    const std::uintptr_t k = rng() % 64;
    mpi::CommEntry* c = &comms[rng() % 3];
    switch (rng() % 5) {
      case 0:
        if (model.count(k)) break;  // MPI never hands out a live handle twice
        t.add_receive(req(k), c, 0, 0);
        model[k] = {RequestInfo::FastRecv, true};
        break;
      case 1:
        if (model.count(k)) break;
        t.add_emulated(req(k), c, 0, 0);
        model[k] = {RequestInfo::Emulated, true};
        break;
      case 2: {
        if (model.count(k)) break;
        const bool active = rng() % 2;
        t.add_persistent(req(k), persistent_op(PersistentOp::Recv, c, active));
        model[k] = {RequestInfo::Persistent, active};
        break;
      }
      default:
        t.remove(req(k));
        model.erase(k);
    }
    std::size_t pending = 0, ops = 0;
    for (const auto& [key, m] : model) {
      pending += m.kind != RequestInfo::Persistent || m.active;
      ops += m.kind == RequestInfo::Persistent;
    }
    ASSERT_EQ(t.size(), model.size()) << "step " << step;
    ASSERT_EQ(t.pending(), pending) << "step " << step;
    ASSERT_EQ(t.persistent_ops(), ops) << "step " << step;
    const std::uintptr_t probe = rng() % 64;
    const auto it = model.find(probe);
    const RequestInfo* info = t.find(req(probe));
    ASSERT_EQ(info != nullptr, it != model.end()) << "step " << step;
    if (info) EXPECT_EQ(info->kind, it->second.kind);
    EXPECT_EQ(t.is_active(req(probe)), it == model.end() || it->second.active);
  }
}

}  // namespace
}  // namespace mpisnap::requests
