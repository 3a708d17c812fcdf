// The request table (request_table.hpp). No MPI call but the datatype a persistent operation owns.
#include "requests/request_table.hpp"

namespace mpisnap::requests {

PersistentOp::~PersistentOp() {
  if (owns_type) PMPI_Type_free(&type);
}

void RequestTable::add_receive(RequestInfo::Kind kind, MPI_Request r, mpi::CommEntry* comm, int source, int tag) {
  RequestInfo info;
  info.kind = kind;
  info.comm = comm;
  info.source = source;
  info.tag = tag;
  map_.put(r, info);
}

void RequestTable::add_idup(MPI_Request r, MPI_Comm* out, std::uint64_t id) {
  RequestInfo info;
  info.kind = RequestInfo::CommIdup;
  info.idup_out = out;
  info.idup_id = id;
  map_.put(r, info);
}

PersistentOp& RequestTable::add_persistent(MPI_Request r, std::unique_ptr<PersistentOp> op) {
  PersistentOp& ref = *op;
  RequestInfo info;
  info.kind = RequestInfo::Persistent;
  info.persistent = &ref;
  ops_.emplace(&ref, std::move(op));
  map_.put(r, info);
  return ref;
}

PairOp& RequestTable::add_pair(MPI_Request r, std::unique_ptr<PairOp> op) {
  PairOp& ref = *op;
  RequestInfo info;
  info.kind = RequestInfo::Pair;
  info.pair = &ref;
  pairs_.emplace(&ref, std::move(op));
  map_.put(r, info);
  return ref;
}

void RequestTable::remove(MPI_Request r) {
  RequestInfo* info = find(r);
  if (!info) return;
  if (info->kind == RequestInfo::Persistent) ops_.erase(info->persistent);
  if (info->kind == RequestInfo::Pair) pairs_.erase(info->pair);
  map_.erase(r);
}

void RequestTable::clear() {
  map_ = {};
  ops_.clear();
  pairs_.clear();
  noted_.clear();
}

bool RequestTable::any_tracked(int count, const MPI_Request* reqs) const noexcept {
  if (map_.empty()) return false;
  for (int i = 0; i < count; ++i)
    if (find(reqs[i])) return true;
  return false;
}

bool RequestTable::only_real_receives(int count, const MPI_Request* reqs, bool proxies) const noexcept {
  if (map_.empty()) return true;
  for (int i = 0; i < count; ++i) {
    const RequestInfo* info = find(reqs[i]);
    if (!info || info->kind == RequestInfo::FastRecv) continue;
    if (proxies && info->kind == RequestInfo::Persistent && !info->persistent->emulated) continue;
    return false;
  }
  return true;
}

bool RequestTable::real_requests(int count, const MPI_Request* reqs, std::vector<MPI_Request>& inner) const {
  if (ops_.empty()) return false;
  bool any = false;
  for (int i = 0; i < count; ++i) {
    const RequestInfo* info = find(reqs[i]);
    if (!info || info->kind != RequestInfo::Persistent) continue;
    if (!any) inner.assign(reqs, reqs + count);  // (the others as they are)
    any = true;
    inner[static_cast<std::size_t>(i)] = info->persistent->active ? info->persistent->real : MPI_REQUEST_NULL;
  }
  return any;
}

bool RequestTable::is_active(MPI_Request r) const noexcept {
  if (r == MPI_REQUEST_NULL) return false;
  const RequestInfo* info = find(r);
  return !info || info->kind != RequestInfo::Persistent || info->persistent->active;
}

std::size_t RequestTable::pending() const noexcept {
  std::size_t n = 0;
  map_.for_each([&](const RequestInfo& info) {
    if (info.kind != RequestInfo::Persistent || info.persistent->active) ++n;
  });
  return n;
}

void RequestTable::receive_targets(int count, const MPI_Request* reqs, std::vector<WaitTarget>& out,
                                   bool emulated) const {
  if (map_.empty()) return;
  for (int i = 0; i < count; ++i) {
    const RequestInfo* info = find(reqs[i]);
    if (!info) continue;
    const bool receive = info->kind == RequestInfo::FastRecv || (emulated && info->kind == RequestInfo::Emulated);
    if (receive && info->comm) out.push_back({info->comm, info->source, info->tag});
    const PersistentOp* op = info->kind == RequestInfo::Persistent ? info->persistent : nullptr;
    if (op && op->kind == PersistentOp::Recv && op->active) out.push_back({op->comm, op->peer, op->tag});
  }
}

bool RequestTable::refers_to(const mpi::CommEntry& e) const {
  bool used = false;
  map_.for_each([&](const RequestInfo& info) {
    used = used || info.comm == &e || (info.kind == RequestInfo::Persistent && info.persistent->comm == &e);
  });
  return used;
}

bool RequestTable::note_direct(int count, const MPI_Request* reqs) {
  noted_.clear();
  if (map_.empty()) return false;
  for (int i = 0; i < count; ++i) {
    const RequestInfo* info = find(reqs[i]);
    if (info && info->kind != RequestInfo::Persistent) noted_.push_back({i, reqs[i], *info});
  }
  return !noted_.empty();
}

}  // namespace mpisnap::requests
