// Runtime: requests. Every completion call (Wait*, Test*, Request_get_status) is built on one
// primitive, test_one(), which knows the four kinds of request the library tracks:
//   FastRecv    a real receive: counted against its communicator when it completes;
//   Emulated    a generalized request the receive window completes;
//   Persistent  the proxy of a persistent operation (the handle stays valid after completion);
//   CommIdup    MPI_Comm_idup: the new communicator's colors are started when it completes (runtime_comms.cpp);
//   Pair        MPI_Isendrecv(_replace): a generalized request completed once its receive and send are.
// Requests the library does not track (sends, collectives, I/O, the application's own generalized
// requests) are tested with PMPI directly. The fast paths call the PMPI function itself when none
// of the requests is tracked and no snapshot is in progress.
#include <algorithm>
#include <vector>

#include "mpi/pmpi.hpp"
#include "common/diagnostics.hpp"
#include "runtime.hpp"

namespace mpisnap {
namespace {

void empty_status(MPI_Status* st) {
  st->MPI_SOURCE = MPI_ANY_SOURCE;
  st->MPI_TAG = MPI_ANY_TAG;
  st->MPI_ERROR = MPI_SUCCESS;
  PMPI_Status_set_elements_x(st, MPI_BYTE, 0);
  PMPI_Status_set_cancelled(st, 0);
}

// The generalized request of an MPI_Isendrecv: its status is the receive's; it cannot be cancelled
// once started (MPI_Cancel then has no effect, as the standard allows); the PairOp is the table's.
int pair_query(void* extra, MPI_Status* st) {
  *st = static_cast<const requests::PairOp*>(extra)->status;
  return MPI_SUCCESS;
}
int pair_free(void*) { return MPI_SUCCESS; }
int pair_cancel(void*, int) { return MPI_SUCCESS; }

}  // namespace

void Runtime::account_completion(const RequestInfo& info, const MPI_Status& st, int rc) noexcept {
  if (info.kind != RequestInfo::FastRecv || !info.comm) return;
  int cancelled = 0;
  PMPI_Test_cancelled(&st, &cancelled);
  if (!cancelled) info.comm->count_receipt(rc, st);
}

MPI_Status* Runtime::status_array(int count, MPI_Status* statuses) {
  if (statuses != MPI_STATUSES_IGNORE && statuses != MPI_STATUS_IGNORE) return statuses;
  if (wait_statuses_.size() < static_cast<std::size_t>(count)) wait_statuses_.resize(static_cast<std::size_t>(count));
  return wait_statuses_.data();
}

bool Runtime::waits_directly(int count, const MPI_Request* reqs, bool proxies) noexcept {
  return !polls_ && !busy_ && !slow_recv_ && requests_.only_real_receives(count, reqs, proxies);
}

int Runtime::wait_direct(int count, MPI_Request* reqs, MPI_Status* statuses, bool single) {
  // Persistent operations among them: MPI waits on their real requests (wait_inner_); the
  // application's array, with the proxies, is what the watch reads.
  const bool proxies = requests_.real_requests(count, reqs, wait_inner_);
  MPI_Request* on = proxies ? wait_inner_.data() : reqs;
  auto plain = [&](MPI_Status* st) { return single ? PMPI_Wait(on, st) : PMPI_Waitall(count, on, st); };
  // (published only when a tracked request is among them)
  if (!requests_.note_direct(count, reqs) && !proxies) return plain(statuses);
  MPI_Status* sts = status_array(count, statuses);
  const int rc =
      in_mpi({reqs, count, 0, single ? watch::Call::Wait : watch::Call::Waitall}, [&] { return plain(sts); });
  auto counted = [this](const RequestInfo& info, const MPI_Status& st, int own) {
    account_completion(info, st, own);  // as test_one does
  };
  if (proxies) requests_.settle_real(count, reqs, on, sts, rc, single, counted);
  requests_.settle_direct(rc, sts, single, counted);
  return rc;
}

int Runtime::wait_some_direct(int count, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses, bool any) {
  auto plain = [&](MPI_Status* sts) {
    if (!any) return PMPI_Waitsome(count, reqs, outcount, indices, sts);
    const int rc = PMPI_Waitany(count, reqs, indices, sts);
    *outcount = *indices == MPI_UNDEFINED ? 0 : 1;
    return rc;
  };
  // (published only when a tracked receive is among them, as in wait_direct; the watch then knows
  // that any one completing ends the call)
  if (!requests_.note_direct(count, reqs)) return plain(statuses);
  MPI_Status* sts = status_array(count, statuses);
  const int rc = in_mpi({reqs, count, 0, any ? watch::Call::Waitany : watch::Call::Waitsome}, [&] { return plain(sts); });
  requests_.settle_completed(rc, *outcount, indices, sts, any, [this](const RequestInfo& info, const MPI_Status& st, int own) {
    account_completion(info, st, own);
  });
  return rc;
}

bool Runtime::hand_over_wait(int count, MPI_Request* reqs, MPI_Status* statuses, bool single, int* rc) {
  if (!window_quiet()) return false;
  if (blocks_in_mpi_ && waits_directly(count, reqs, true)) {
    *rc = wait_direct(count, reqs, statuses, single);
    return true;
  }
  if (!window_requests(count, reqs)) return false;
  *rc = wait_window_direct(count, reqs, statuses, single);
  return true;
}

bool Runtime::hand_over_some(int count, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses,
                             bool any, int* rc) {
  if (!window_quiet()) return false;
  if (blocks_in_mpi_ && waits_directly(count, reqs)) {
    *rc = wait_some_direct(count, reqs, outcount, indices, statuses, any);
    return true;
  }
  if (!window_requests(count, reqs)) return false;
  *rc = wait_some_window_direct(count, reqs, outcount, indices, statuses, any);
  return true;
}

bool Runtime::queue_settled() {
  bool settled = true;
  queue_.for_each([&](const RecordedMessage& m) { settled = settled && comms_.find_id(protocol::CommId{m.comm}); });
  return settled;
}

bool Runtime::window_requests(int count, const MPI_Request* reqs) {
  if (!window_->all_real() || !queue_settled()) return false;
  window_on_.assign(reqs, reqs + count);
  window_recv_.assign(static_cast<std::size_t>(count), nullptr);
  for (int i = 0; i < count; ++i) {
    const RequestInfo* info = requests_.find(reqs[i]);
    if (!info || info->kind == RequestInfo::FastRecv) continue;
    if (info->kind != RequestInfo::Emulated) return false;
    // (one the window completed already is MPI's to finish: settle_direct forgets it)
    channel::PendingRecv* p = window_->pending_for(reqs[i]);
    if (!p) continue;
    if (p->inner == MPI_REQUEST_NULL || !p->comm->errors_fatal) return false;
    window_on_[static_cast<std::size_t>(i)] = p->inner;
    window_recv_[static_cast<std::size_t>(i)] = p;
  }
  return true;
}

void Runtime::settle_window(int i, MPI_Request* reqs, MPI_Status& st, int rc) {
  const auto k = static_cast<std::size_t>(i);
  channel::PendingRecv* p = window_recv_[k];
  if (!p) {
    reqs[i] = window_on_[k];  // (null if it completed)
    return;
  }
  // Its real receive completed: the window counts it and completes the application's request, which
  // MPI then frees, giving its status (the receive's).
  const MPI_Request handle = reqs[i];
  window_->settle(*p, rc, st);
  mpi::check(PMPI_Wait(&reqs[i], &st), "PMPI_Wait");
  requests_.remove(handle);
}

int Runtime::wait_window_direct(int count, MPI_Request* reqs, MPI_Status* statuses, bool single) {
  MPI_Status* sts = status_array(count, statuses);
  MPI_Request* on = window_on_.data();
  requests_.note_direct(count, on);
  // (published with the application's requests: the watch describes the window's receives by them)
  const int rc = in_mpi({reqs, count, 0, single ? watch::Call::Wait : watch::Call::Waitall},
                        [&] { return single ? PMPI_Wait(on, sts) : PMPI_Waitall(count, on, sts); });
  requests_.settle_direct(rc, sts, single, [this](const RequestInfo& info, const MPI_Status& st, int own) {
    account_completion(info, st, own);
  });
  for (int i = 0; i < count; ++i)
    settle_window(i, reqs, sts[i], single || rc != MPI_ERR_IN_STATUS ? rc : sts[i].MPI_ERROR);
  return rc;
}

int Runtime::wait_some_window_direct(int count, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses,
                                     bool any) {
  MPI_Status* sts = status_array(count, statuses);
  MPI_Request* on = window_on_.data();
  requests_.note_direct(count, on);
  const int rc = in_mpi({reqs, count, 0, any ? watch::Call::Waitany : watch::Call::Waitsome}, [&] {
    if (!any) return PMPI_Waitsome(count, on, outcount, indices, sts);
    const int r = PMPI_Waitany(count, on, indices, sts);
    *outcount = *indices == MPI_UNDEFINED ? 0 : 1;
    return r;
  });
  requests_.settle_completed(rc, *outcount, indices, sts, any, [this](const RequestInfo& info, const MPI_Status& st, int own) {
    account_completion(info, st, own);
  });
  for (int k = 0; k < *outcount; ++k)
    settle_window(indices[k], reqs, sts[k], any || rc != MPI_ERR_IN_STATUS ? rc : sts[k].MPI_ERROR);
  return rc;
}

// Only receives still pending count: one that completed while others are waited for must not be
// taken for a wait on a message that can no longer come.
void Runtime::idle_check_requests(int count, const MPI_Request* reqs, WaitEpisode& ep) {
  std::vector<WaitTarget> targets;
  requests_.receive_targets(count, reqs, targets);
  idle_check(targets.data(), static_cast<int>(targets.size()), ep);
}

bool Runtime::test_persistent(PersistentOp& op, MPI_Status* st, int* rc) {
  if (!op.active) {
    empty_status(st);
    return true;
  }
  if (op.emulated) {
    if (!op.emulated->done) return false;
    channel::copy_status(st, op.emulated->status);
    PMPI_Status_set_cancelled(st, op.emulated->cancelled ? 1 : 0);
    *rc = op.emulated->error;
    delete op.emulated;
    op.emulated = nullptr;
    op.active = false;
    return true;
  }
  int flag = 0;
  *rc = PMPI_Test(&op.real, &flag, st);
  if (!flag && *rc == MPI_SUCCESS) return false;
  if (op.kind == PersistentOp::Recv) {
    RequestInfo info;
    info.comm = op.comm;
    account_completion(info, *st, *rc);
  }
  op.active = false;
  return true;
}

bool Runtime::test_one(MPI_Request* req, MPI_Status* st, int* rc) {
  *rc = MPI_SUCCESS;
  if (*req == MPI_REQUEST_NULL) {
    empty_status(st);
    return true;
  }
  RequestInfo* info = requests_.find(*req);
  int flag = 0;
  if (!info) {
    *rc = PMPI_Test(req, &flag, st);
    return flag || *rc != MPI_SUCCESS;
  }
  if (info->kind == RequestInfo::Persistent) return test_persistent(*info->persistent, st, rc);
  if (info->kind == RequestInfo::Pair) {
    requests::PairOp& op = *info->pair;
    if (!settle_pair(*req, op)) return false;
    const MPI_Request handle = *req;
    const int own = op.rc;
    *rc = PMPI_Wait(req, st);  // (completed: the status comes from pair_query)
    if (*rc == MPI_SUCCESS) *rc = own;
    requests_.remove(handle);
    return true;
  }
  const RequestInfo copy = *info;
  const MPI_Request handle = *req;
  *rc = PMPI_Test(req, &flag, st);
  if (!flag && *rc == MPI_SUCCESS) return false;
  requests_.remove(handle);
  account_completion(copy, *st, *rc);
  if (copy.kind == RequestInfo::CommIdup) idup_completed(copy.idup_out, copy.idup_id);
  return true;
}

bool Runtime::settle_pair(MPI_Request handle, requests::PairOp& op) {
  if (op.completed) return true;
  int rc = MPI_SUCCESS;
  if (op.recv != MPI_REQUEST_NULL) {
    if (!test_one(&op.recv, &op.status, &rc)) return false;
    if (op.rc == MPI_SUCCESS) op.rc = rc;
  }
  if (op.send != MPI_REQUEST_NULL) {
    MPI_Status st;
    if (!test_one(&op.send, &st, &rc)) return false;
    if (op.rc == MPI_SUCCESS) op.rc = rc;
  }
  op.status.MPI_ERROR = op.rc;
  mpi::check(PMPI_Grequest_complete(handle), "PMPI_Grequest_complete");
  op.completed = true;
  return true;
}

int Runtime::Isendrecv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag, void* recvbuf,
                       int recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm,
                       MPI_Request* request) {
  return start_pair(std::make_unique<requests::PairOp>(), sendbuf, sendcount, sendtype, dest, sendtag, recvbuf,
                    recvcount, recvtype, source, recvtag, comm, request);
}

int Runtime::Isendrecv_replace(void* buf, int count_, MPI_Datatype datatype, int dest, int sendtag, int source,
                               int recvtag, MPI_Comm comm, MPI_Request* request) {
  // What goes out is packed first; the receive then lands in the buffer itself.
  auto op = std::make_unique<requests::PairOp>();
  int size = 0;
  int rc = PMPI_Pack_size(count_, datatype, comm, &size);
  if (rc != MPI_SUCCESS) return rc;
  op->packed.resize(static_cast<std::size_t>(size));
  int pos = 0;
  rc = PMPI_Pack(buf, count_, datatype, op->packed.data(), size, &pos, comm);
  if (rc != MPI_SUCCESS) return rc;
  const void* packed = op->packed.data();
  return start_pair(std::move(op), packed, pos, MPI_PACKED, dest, sendtag, buf, count_, datatype, source, recvtag,
                    comm, request);
}

int Runtime::start_pair(std::unique_ptr<requests::PairOp> op, const void* sendbuf, int sendcount,
                        MPI_Datatype sendtype, int dest, int sendtag, void* recvbuf, int recvcount,
                        MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm, MPI_Request* request) {
  int rc = Irecv(recvbuf, recvcount, recvtype, source, recvtag, comm, &op->recv);
  if (rc != MPI_SUCCESS) return rc;
  rc = Isend(sendbuf, sendcount, sendtype, dest, sendtag, comm, &op->send);
  if (rc != MPI_SUCCESS) {  // the receive is posted: take it back before failing
    Cancel(&op->recv);
    Wait(&op->recv, MPI_STATUS_IGNORE);
    return rc;
  }
  mpi::check(PMPI_Grequest_start(pair_query, pair_free, pair_cancel, op.get(), request), "PMPI_Grequest_start");
  requests_.add_pair(*request, std::move(op));
  return MPI_SUCCESS;
}

bool Runtime::peek_complete(MPI_Request req) {
  if (req == MPI_REQUEST_NULL) return true;
  if (const requests::RequestInfo* info = requests_.find(req); info && info->kind == RequestInfo::Pair) {
    const requests::PairOp& op = *info->pair;
    return op.completed || (peek_complete(op.recv) && peek_complete(op.send));
  }
  MPI_Request probe = req;
  if (PersistentOp* persistent = requests_.persistent(req)) {
    PersistentOp& op = *persistent;
    if (!op.active) return true;
    if (op.emulated) return op.emulated->done;
    probe = op.real;
  }
  int flag = 0;
  mpi::check(PMPI_Request_get_status(probe, &flag, MPI_STATUS_IGNORE), "PMPI_Request_get_status");
  return flag != 0;
}

// ------------------------------------------------------------------ one request

int Runtime::Wait(MPI_Request* request, MPI_Status* status) {
  if (!request || *request == MPI_REQUEST_NULL) return PMPI_Wait(request, status);
  if (busy_) progress();
  if (waits_directly(1, request, true)) return wait_direct(1, request, status, true);
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  WaitEpisode ep("MPI_Wait");
  unsigned spins = 0;
  for (;;) {
    if (busy_ || slow_recv_) progress();
    int rc = MPI_SUCCESS;
    if (test_one(request, st, &rc)) return rc;
    if (hand_over_wait(1, request, status, true, &rc)) return rc;
    if (snapshots_possible_ && (++spins & 63u) == 0) idle_check_requests(1, request, ep);
  }
}

int Runtime::Test(MPI_Request* request, int* flag, MPI_Status* status) {
  if (busy_ || slow_recv_ || spin_poll_due()) progress();
  if (!request || !requests_.any_tracked(1, request)) return PMPI_Test(request, flag, status);
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  int rc = MPI_SUCCESS;
  *flag = test_one(request, st, &rc) ? 1 : 0;
  return rc;
}

int Runtime::Request_get_status(MPI_Request request, int* flag, MPI_Status* status) {
  if (request == MPI_REQUEST_NULL) {  // MPI's empty status, all of it (Open MPI leaves MPI_ERROR alone)
    *flag = 1;
    if (status != MPI_STATUS_IGNORE) empty_status(status);
    return MPI_SUCCESS;
  }
  if (busy_ || slow_recv_ || spin_poll_due()) progress();
  if (const RequestInfo* info = requests_.find(request); info && info->kind == RequestInfo::Pair) {
    // (completes the generalized request once both halves are done; MPI then reports it complete)
    if (!peek_complete(request) || !settle_pair(request, *info->pair)) {
      *flag = 0;
      return MPI_SUCCESS;
    }
    return PMPI_Request_get_status(request, flag, status);
  }
  PersistentOp* persistent = requests_.persistent(request);
  if (!persistent) return PMPI_Request_get_status(request, flag, status);
  PersistentOp& op = *persistent;
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  if (!op.active) {
    *flag = 1;
    empty_status(st);
    return MPI_SUCCESS;
  }
  if (op.emulated) {
    *flag = op.emulated->done ? 1 : 0;
    if (*flag) channel::copy_status(st, op.emulated->status);
    return MPI_SUCCESS;
  }
  return PMPI_Request_get_status(op.real, flag, status);
}

int Runtime::Cancel(MPI_Request* request) {
  PersistentOp* persistent = request ? requests_.persistent(*request) : nullptr;
  if (!persistent) return PMPI_Cancel(request);  // grequests: cancel_fn
  PersistentOp& op = *persistent;
  if (!op.active) return MPI_SUCCESS;
  if (op.emulated) {
    window_->cancel(op.emulated);
    return MPI_SUCCESS;
  }
  return PMPI_Cancel(&op.real);
}

int Runtime::Request_free(MPI_Request* request) {
  RequestInfo* info = request ? requests_.find(*request) : nullptr;
  if (!info) return PMPI_Request_free(request);
  const MPI_Request handle = *request;
  switch (info->kind) {
    case RequestInfo::FastRecv:
    case RequestInfo::Emulated:
    case RequestInfo::Pair:
      if (!peek_complete(handle))
        throw diag::error(
            "MPI_Request_free on a receive that has not completed is not supported (mpisnap could not "
            "account for the message it will receive); complete it, or cancel it and complete it, first");
      // A completed receive: its message was taken; count it as if it had been waited for.
      {
        MPI_Status st;
        int rc = MPI_SUCCESS;
        MPI_Request copy = handle;
        test_one(&copy, &st, &rc);
        *request = MPI_REQUEST_NULL;
        return rc;
      }
    case RequestInfo::CommIdup:
      throw diag::error(
          "MPI_Request_free on an MPI_Comm_idup request is not supported; wait for it");
    case RequestInfo::Persistent: {
      PersistentOp* op = info->persistent;
      if (op->active) {
        if (op->kind == PersistentOp::Recv)
          throw diag::error(
              "MPI_Request_free on an active persistent receive is not supported; complete it first");
        PMPI_Request_free(&op->real);  // an active send completes on its own
      }
      requests_.remove(handle);  // and the operation with it
      return PMPI_Request_free(request);
    }
  }
  return PMPI_Request_free(request);
}

// ------------------------------------------------------------------ arrays

int Runtime::Waitall(int count, MPI_Request* reqs, MPI_Status* statuses) {
  if (busy_) progress();
  if (waits_directly(count, reqs, true)) return wait_direct(count, reqs, statuses, false);
  std::vector<MPI_Status> local;
  MPI_Status* sts = statuses;
  if (statuses == MPI_STATUSES_IGNORE) {
    local.resize(static_cast<std::size_t>(count));
    sts = local.data();
  }
  std::vector<char> done(static_cast<std::size_t>(count), 0);
  std::vector<int> rcs(static_cast<std::size_t>(count), MPI_SUCCESS);
  int remaining = count;
  bool failed = false;
  WaitEpisode ep("MPI_Waitall");
  unsigned spins = 0;
  unsigned retry_in = 0;  // turns until a hand-over that could not be made is tried again
  while (remaining > 0) {
    if (busy_ || slow_recv_) progress();
    for (int i = 0; i < count; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (done[k]) continue;
      if (test_one(&reqs[i], &sts[i], &rcs[k])) {
        done[k] = 1;
        --remaining;
        retry_in = 0;
        failed = failed || rcs[k] != MPI_SUCCESS;
      }
    }
    if (remaining && (retry_in == 0 || --retry_in == 0) && window_quiet()) {
      // The requests still pending, waited for inside MPI if they may be (hand_over_wait); those
      // that completed keep their statuses.
      std::vector<MPI_Request> rest;
      std::vector<int> at;
      for (int i = 0; i < count; ++i)
        if (!done[static_cast<std::size_t>(i)]) {
          rest.push_back(reqs[i]);
          at.push_back(i);
        }
      std::vector<MPI_Status> rsts(rest.size());
      int rc = MPI_SUCCESS;
      if (hand_over_wait(static_cast<int>(rest.size()), rest.data(), rsts.data(), false, &rc)) {
        for (std::size_t j = 0; j < rest.size(); ++j) {
          const auto k = static_cast<std::size_t>(at[j]);
          reqs[at[j]] = rest[j];
          sts[at[j]] = rsts[j];
          rcs[k] = rc == MPI_ERR_IN_STATUS ? rsts[j].MPI_ERROR : rc;
          failed = failed || rcs[k] != MPI_SUCCESS;
        }
        remaining = 0;
        break;
      }
      retry_in = 64;  // (not built again at every turn while the same requests cannot)
    }
    if (remaining && snapshots_possible_ && (++spins & 63u) == 0) idle_check_requests(count, reqs, ep);
  }
  if (!failed) return MPI_SUCCESS;
  if (statuses != MPI_STATUSES_IGNORE)
    for (int i = 0; i < count; ++i) statuses[i].MPI_ERROR = rcs[static_cast<std::size_t>(i)];
  return MPI_ERR_IN_STATUS;
}

int Runtime::Testall(int count, MPI_Request* reqs, int* flag, MPI_Status* statuses) {
  if (busy_ || slow_recv_ || spin_poll_due()) progress();
  if (!requests_.any_tracked(count, reqs)) return PMPI_Testall(count, reqs, flag, statuses);
  // All or nothing: complete none unless every one is complete.
  for (int i = 0; i < count; ++i) {
    if (!peek_complete(reqs[i])) {
      *flag = 0;
      return MPI_SUCCESS;
    }
  }
  *flag = 1;
  std::vector<MPI_Status> local(statuses == MPI_STATUSES_IGNORE ? static_cast<std::size_t>(count) : 0);
  MPI_Status* sts = statuses == MPI_STATUSES_IGNORE ? local.data() : statuses;
  bool failed = false;
  std::vector<int> rcs(static_cast<std::size_t>(count), MPI_SUCCESS);
  for (int i = 0; i < count; ++i) {
    test_one(&reqs[i], &sts[i], &rcs[static_cast<std::size_t>(i)]);
    failed = failed || rcs[static_cast<std::size_t>(i)] != MPI_SUCCESS;
  }
  if (!failed) return MPI_SUCCESS;
  if (statuses != MPI_STATUSES_IGNORE)
    for (int i = 0; i < count; ++i) statuses[i].MPI_ERROR = rcs[static_cast<std::size_t>(i)];
  return MPI_ERR_IN_STATUS;
}

int Runtime::Waitany(int count, MPI_Request* reqs, int* index, MPI_Status* status) {
  if (busy_) progress();
  if (waits_directly(count, reqs)) {
    int outcount = 0;
    return wait_some_direct(count, reqs, &outcount, index, status, true);
  }
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  bool any = false;
  for (int i = 0; i < count && !any; ++i) any = requests_.is_active(reqs[i]);
  if (!any) {
    *index = MPI_UNDEFINED;
    empty_status(st);
    return MPI_SUCCESS;
  }
  WaitEpisode ep("MPI_Waitany");
  unsigned spins = 0;
  for (;;) {
    if (busy_ || slow_recv_) progress();
    for (int i = 0; i < count; ++i) {
      if (!requests_.is_active(reqs[i])) continue;
      int rc = MPI_SUCCESS;
      if (test_one(&reqs[i], st, &rc)) {
        *index = i;
        return rc;
      }
    }
    if (int outcount = 0, rc = MPI_SUCCESS; hand_over_some(count, reqs, &outcount, index, status, true, &rc)) return rc;
    if (snapshots_possible_ && (++spins & 63u) == 0) idle_check_requests(count, reqs, ep);
  }
}

int Runtime::Testany(int count, MPI_Request* reqs, int* index, int* flag, MPI_Status* status) {
  if (busy_ || slow_recv_ || spin_poll_due()) progress();
  if (!requests_.any_tracked(count, reqs)) return PMPI_Testany(count, reqs, index, flag, status);
  MPI_Status local;
  MPI_Status* st = status == MPI_STATUS_IGNORE ? &local : status;
  bool any = false;
  for (int i = 0; i < count; ++i) {
    if (!requests_.is_active(reqs[i])) continue;
    any = true;
    int rc = MPI_SUCCESS;
    if (test_one(&reqs[i], st, &rc)) {
      *index = i;
      *flag = 1;
      return rc;
    }
  }
  *index = MPI_UNDEFINED;
  *flag = any ? 0 : 1;
  if (!any) empty_status(st);
  return MPI_SUCCESS;
}

namespace {

// Waitsome and Testsome share this pass: complete every active request that is complete now.
template <class TestOne, class IsActive>
int complete_some(int incount, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses,
                  TestOne&& test_one, IsActive&& is_active, bool& any_active) {
  any_active = false;
  int n = 0;
  bool failed = false;
  for (int i = 0; i < incount; ++i) {
    if (!is_active(reqs[i])) continue;
    any_active = true;
    MPI_Status st;
    int rc = MPI_SUCCESS;
    if (!test_one(&reqs[i], &st, &rc)) continue;
    indices[n] = i;
    if (statuses != MPI_STATUSES_IGNORE) {
      statuses[n] = st;
      statuses[n].MPI_ERROR = rc;
    }
    failed = failed || rc != MPI_SUCCESS;
    ++n;
  }
  *outcount = any_active ? n : MPI_UNDEFINED;
  return failed ? MPI_ERR_IN_STATUS : MPI_SUCCESS;
}

}  // namespace

int Runtime::Waitsome(int incount, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses) {
  if (busy_) progress();
  if (waits_directly(incount, reqs)) return wait_some_direct(incount, reqs, outcount, indices, statuses, false);
  WaitEpisode ep("MPI_Waitsome");
  unsigned spins = 0;
  for (;;) {
    if (busy_ || slow_recv_) progress();
    bool any_active = false;
    const int rc = complete_some(
        incount, reqs, outcount, indices, statuses,
        [this](MPI_Request* r, MPI_Status* s, int* c) { return test_one(r, s, c); },
        [this](MPI_Request r) { return requests_.is_active(r); }, any_active);
    if (!any_active || *outcount > 0) return rc;
    if (int some = MPI_SUCCESS; hand_over_some(incount, reqs, outcount, indices, statuses, false, &some)) return some;
    if (snapshots_possible_ && (++spins & 63u) == 0) idle_check_requests(incount, reqs, ep);
  }
}

int Runtime::Testsome(int incount, MPI_Request* reqs, int* outcount, int* indices, MPI_Status* statuses) {
  if (busy_ || slow_recv_ || spin_poll_due()) progress();
  if (!requests_.any_tracked(incount, reqs)) return PMPI_Testsome(incount, reqs, outcount, indices, statuses);
  bool any_active = false;
  return complete_some(
      incount, reqs, outcount, indices, statuses,
      [this](MPI_Request* r, MPI_Status* s, int* c) { return test_one(r, s, c); },
      [this](MPI_Request r) { return requests_.is_active(r); }, any_active);
}

}  // namespace mpisnap
