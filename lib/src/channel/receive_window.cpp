#include "channel/receive_window.hpp"

#include <memory>

#include "common/mutation.hpp"

namespace mpisnap::channel {
namespace {

int queue_source(int mpi_source) { return mpi_source == MPI_ANY_SOURCE ? kAnySource : mpi_source; }
int queue_tag(int mpi_tag) { return mpi_tag == MPI_ANY_TAG ? kAnyTag : mpi_tag; }

bool matches(const PendingRecv& p, const mpi::CommEntry& comm, int source, int tag) {
  return p.comm == &comm && (p.source == MPI_ANY_SOURCE || p.source == source) &&
         (p.tag == MPI_ANY_TAG || p.tag == tag);
}

}  // namespace

bool ReceiveWindow::closed(std::uint64_t comm_id, int source) {
  if (!engine_.draining()) return true;
  mpi::CommEntry* e = comms_.find_id(protocol::CommId{comm_id});
  if (!e || !e->valid_peer(source)) return true;
  return engine_.channel_closed({e->id, e->world_of(source)});
}

std::size_t ReceiveWindow::drain() {
  if (!engine_.draining()) return 0;
  std::size_t drained = 0;
  if (chaos_) {
    chaos_ = chaos_ * 6364136223846793005ULL + 1442695040888963407ULL;
    if ((chaos_ >> 33) % 4 != 0) return 0;  // late: most calls drain nothing
  }
  comms_.for_each([&](mpi::CommEntry& e) {
    if (e.released) return;  // no colours left: its channels close without draining (SnapshotEngine)
    for (;;) {
      if (chaos_ && drained > 0) break;  // and one message at a time
      MPI_Message msg;
      MPI_Status st;
      if (!port_.improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, e.old_color(), &msg, &st)) break;
      RecordedMessage m;
      m.comm = protocol::value(e.id);
      m.source = st.MPI_SOURCE;
      m.tag = st.MPI_TAG;
      m.bytes = port_.mrecv_bytes(&msg, st);
      if (log_) log_->push_back(m);
      queue_.push_recorded(std::move(m));
      engine_.on_drained({e.id, e.world_of(st.MPI_SOURCE)});
      ++drained;
    }
  });
  return drained;
}

void ReceiveWindow::post(PendingRecv* p) {
  pending_.push_back(p);
  pass();
}

MPI_Request ReceiveWindow::post_nonblocking(mpi::CommEntry& comm, void* buf, int count, MPI_Datatype type,
                                            int source, int tag) {
  auto owned = std::make_unique<PendingRecv>();
  PendingRecv* p = owned.get();
  p->comm = &comm;
  p->buf = buf;
  p->count = count;
  p->source = source;
  p->tag = tag;
  p->greq = port_.start_request(p, type);  // the request owns p from here
  owned.release();
  MPI_Request handle = p->greq;
  post(p);  // may complete (and the application may free) it right away; `handle` stays valid
  return handle;
}

bool ReceiveWindow::try_queue(PendingRecv& p) {
  auto it = queue_.find(protocol::value(p.comm->id), queue_source(p.source), queue_tag(p.tag),
                        [this](std::uint64_t c, int s) { return closed(c, s); });
  if (it == queue_.end()) return false;
  RecordedMessage m = queue_.take(it);
  p.comm->count_delivered(m.source);
  p.error = port_.deliver(m, p.buf, p.count, p.type, p.comm->current, &p.status);
  p.done = true;
  return true;
}

PendingRecv* ReceiveWindow::earliest_match(const mpi::CommEntry& comm, int source, int tag) {
  for (PendingRecv* q : pending_)
    if (!q->done && q->inner == MPI_REQUEST_NULL && matches(*q, comm, source, tag)) return q;
  return nullptr;
}

void ReceiveWindow::receive_into(PendingRecv& p, MPI_Message msg, const MPI_Status& st) {
  p.error = port_.mrecv(p.buf, p.count, p.type, &msg, &p.status, p.comm->errors_to());
  p.comm->count_received(st.MPI_SOURCE);
  p.done = true;
}

void ReceiveWindow::hold(mpi::CommEntry& comm, MPI_Message msg, const MPI_Status& st) {
  RecordedMessage m;
  m.comm = protocol::value(comm.id);
  m.source = st.MPI_SOURCE;
  m.tag = st.MPI_TAG;
  m.bytes = port_.mrecv_bytes(&msg, st);
  comm.count_held(st.MPI_SOURCE);
  queue_.push_held(std::move(m));
}

bool ReceiveWindow::peek(mpi::CommEntry& comm, int source, int tag, MPI_Status* st) {
  return port_.iprobe(source, tag, comm.current, st);
}

void ReceiveWindow::hold_through(mpi::CommEntry& comm, int source, int tag) {
  for (;;) {
    MPI_Message msg;
    MPI_Status st;
    if (!port_.improbe(source, MPI_ANY_TAG, comm.current, &msg, &st)) return;  // cannot happen: the caller's probe saw a message of this sender
    const int got = st.MPI_TAG;
    hold(comm, msg, st);
    if (got == tag) return;
  }
}

MPI_Message ReceiveWindow::match_seen(mpi::CommEntry& comm, MPI_Status& st) {
  // The oldest message of this sender with this tag: the one the probe saw (non-overtaking).
  MPI_Message msg = MPI_MESSAGE_NULL;
  if (!port_.improbe(st.MPI_SOURCE, st.MPI_TAG, comm.current, &msg, &st)) throw Error("mpisnap: a probed message vanished before it was matched (another thread receiving?)");
  return msg;
}

bool ReceiveWindow::try_network(PendingRecv& p) {
  mpi::CommEntry& comm = *p.comm;
  if (p.source != MPI_ANY_SOURCE && !closed(protocol::value(comm.id), p.source)) return false;
  for (;;) {
    MPI_Status st;
    if (!peek(comm, p.source, p.tag, &st)) return false;
    if (!closed(protocol::value(comm.id), st.MPI_SOURCE) && !mutation::on(mutation::Kind::WildcardTakesOpenChannel)) {
      hold_through(comm, st.MPI_SOURCE, st.MPI_TAG);  // only a wildcard receive gets here
      continue;
    }
    MPI_Message msg = match_seen(comm, st);
    PendingRecv* q = earliest_match(comm, st.MPI_SOURCE, st.MPI_TAG);
    receive_into(*q, msg, st);  // q is p or an earlier receive that also matches
    if (q == &p) return true;
  }
}

void ReceiveWindow::convert(PendingRecv& p) {
  port_.irecv(p.buf, p.count, p.type, p.source, p.tag, p.comm->current, &p.inner);
}

void ReceiveWindow::pass() {
  for (PendingRecv* p : pending_) {
    if (p->done) continue;
    if (p->inner != MPI_REQUEST_NULL) {
      bool flag = false;
      p->error = port_.test(&p->inner, &flag, &p->status, p->comm->errors_to());
      if (flag) {
        p->comm->count_received(p->status.MPI_SOURCE);
        p->done = true;
      }
      continue;
    }
    if (try_queue(*p)) continue;
    if (!emulating()) {
      convert(*p);
      continue;
    }
    try_network(*p);
  }
  sweep();
}

void ReceiveWindow::settle(PendingRecv& p, int rc, const MPI_Status& st) {
  p.error = rc;
  p.status = st;
  p.comm->count_received(st.MPI_SOURCE);
  p.done = true;
  sweep();
}

void ReceiveWindow::sweep() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    PendingRecv* p = *it;
    if (!p->done) {
      ++it;
      continue;
    }
    it = pending_.erase(it);
    if (p->greq != MPI_REQUEST_NULL) port_.complete_request(*p);
  }
}

bool ReceiveWindow::probe(mpi::CommEntry& comm, int source, int tag, MPI_Status* status) {
  auto find = [&] {
    return queue_.find(protocol::value(comm.id), queue_source(source), queue_tag(tag),
                       [this](std::uint64_t c, int s) { return closed(c, s); });
  };
  auto it = find();
  if (it == queue_.end() && emulating()) {
    if (source != MPI_ANY_SOURCE) {
      if (!closed(protocol::value(comm.id), source)) return false;
    } else {
      // Take every matching new-color message into the queue (held while its channel is open),
      // each with the older messages of its sender, then answer from the queue, which knows what
      // is deliverable.
      MPI_Status st;
      while (peek(comm, source, tag, &st)) hold_through(comm, st.MPI_SOURCE, st.MPI_TAG);
      it = find();
      if (it == queue_.end()) return false;
    }
  }
  if (it != queue_.end()) {
    describe(status, it->msg);
    return true;
  }
  return port_.iprobe(source, tag, comm.current, status);
}

void ReceiveWindow::describe(MPI_Status* status, const RecordedMessage& m) {
  if (status != MPI_STATUS_IGNORE) port_.describe(status, m.source, m.tag, m.bytes.size(), false);
}

bool ReceiveWindow::cancel(PendingRecv* p) {
  if (p->done) return false;
  if (p->inner != MPI_REQUEST_NULL) {
    if (!port_.cancel(&p->inner, &p->status)) {  // it matched before the cancel arrived
      p->comm->count_received(p->status.MPI_SOURCE);
      p->done = true;
      sweep();
      return false;
    }
  }
  p->cancelled = true;
  p->done = true;
  p->error = MPI_SUCCESS;
  p->status.MPI_ERROR = MPI_SUCCESS;
  port_.describe(&p->status, MPI_ANY_SOURCE, MPI_ANY_TAG, 0, true);
  sweep();
  return true;
}

ReceiveWindow::Taken ReceiveWindow::take_matched(mpi::CommEntry& comm, int source, int tag, RecordedMessage* out,
                                                 MPI_Message* msg, MPI_Status* status) {
  pass();  // receives posted earlier get their messages first
  auto find = [&] {
    return queue_.find(protocol::value(comm.id), queue_source(source), queue_tag(tag),
                       [this](std::uint64_t c, int s) { return closed(c, s); });
  };
  auto from_queue = [&](ReplayQueue::Iterator it) {
    *out = queue_.take(it);
    comm.count_delivered(out->source);
    describe(status, *out);
    return Taken::Queued;
  };
  auto it = find();
  if (it != queue_.end()) return from_queue(it);
  if (emulating() && source != MPI_ANY_SOURCE && !closed(protocol::value(comm.id), source)) return Taken::None;
  for (;;) {
    MPI_Status st;
    if (!peek(comm, source, tag, &st)) break;
    if (emulating() && !closed(protocol::value(comm.id), st.MPI_SOURCE)) {
      hold_through(comm, st.MPI_SOURCE, st.MPI_TAG);  // a wildcard met a message from an open channel
      continue;
    }
    *msg = match_seen(comm, st);
    if (PendingRecv* q = earliest_match(comm, st.MPI_SOURCE, st.MPI_TAG)) {
      receive_into(*q, *msg, st);  // it arrived just now, and an earlier receive wants it
      sweep();
      continue;
    }
    comm.count_received(st.MPI_SOURCE);
    copy_status(status, st);  // MPI_ERROR is left alone, as single-completion calls do
    return Taken::Real;
  }
  it = find();
  if (it != queue_.end()) return from_queue(it);
  return Taken::None;
}

}  // namespace mpisnap::channel
