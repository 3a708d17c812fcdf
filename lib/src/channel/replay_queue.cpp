#include "channel/replay_queue.hpp"

#include "common/mutation.hpp"

namespace mpisnap::channel {

void ReplayQueue::push_recorded(RecordedMessage m) {
  if (held_ > 0 && !mutation::on(mutation::Kind::RecordedAfterHeld)) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->held && it->msg.comm == m.comm && it->msg.source == m.source) {
        entries_.insert(it, Entry{std::move(m), false});
        return;
      }
    }
  }
  entries_.push_back(Entry{std::move(m), false});
}

void ReplayQueue::push_held(RecordedMessage m) {
  entries_.push_back(Entry{std::move(m), true});
  ++held_;
}

ReplayQueue::Iterator ReplayQueue::find(std::uint64_t comm, int source, int tag, const ClosedFn& closed) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const RecordedMessage& m = it->msg;
    if (m.comm != comm) continue;
    if (source != kAnySource && m.source != source) continue;
    if (tag != kAnyTag && m.tag != tag) continue;
    if (it->held && !closed(m.comm, m.source) && !mutation::on(mutation::Kind::HeldAlwaysDeliverable)) continue;
    return it;
  }
  return entries_.end();
}

RecordedMessage ReplayQueue::take(Iterator it) {
  if (it->held) --held_;
  RecordedMessage m = std::move(it->msg);
  entries_.erase(it);
  return m;
}

void ReplayQueue::release_held() {
  for (Entry& e : entries_) e.held = false;
  held_ = 0;
}

std::size_t ReplayQueue::drop_comm(std::uint64_t comm) {
  std::size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->msg.comm != comm) {
      ++it;
      continue;
    }
    if (it->held) --held_;
    it = entries_.erase(it);
    ++n;
  }
  return n;
}

std::vector<RecordedMessage> ReplayQueue::copy_all() const {
  std::vector<RecordedMessage> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) out.push_back(e.msg);
  return out;
}

}  // namespace mpisnap::channel
