// Messages the library holds for the application, oldest first:
//  * recorded: drained from the old color after this rank's snapshot (channel state), or loaded
//    from a checkpoint at restart;
//  * held: taken from the new color while the sender's channel was still open. A held entry may
//    only be delivered once that channel is closed, because an older message from the same sender
//    may still be drained, and MPI's non-overtaking rule must hold as the application sees it.
// Per (communicator, source) the queue keeps send order: a recorded entry is inserted before the
// first held entry of its source. That needs every held entry to be newer than every recorded one:
// held entries come from the current color, and a snapshot releases them (release_held) before it
// drains the color they came from.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <vector>

#include "common/checkpoint_data.hpp"

namespace mpisnap::channel {

inline constexpr int kAnySource = -1;  // the queue's own wildcard values (not MPI's)
inline constexpr int kAnyTag = -1;

class ReplayQueue {
 public:
  struct Entry {
    RecordedMessage msg;
    bool held = false;
  };
  using Iterator = std::list<Entry>::iterator;
  // Is the channel (communicator id, source rank in it) closed for the snapshot in progress?
  using ClosedFn = std::function<bool(std::uint64_t comm, int source)>;

  void push_recorded(RecordedMessage m);
  void push_held(RecordedMessage m);

  // Oldest eligible entry matching (comm, source, tag); source/tag may be kAnySource/kAnyTag.
  // Returns end() when none.
  Iterator find(std::uint64_t comm, int source, int tag, const ClosedFn& closed);
  Iterator end() { return entries_.end(); }
  RecordedMessage take(Iterator it);

  // The snapshot in progress closed every channel: held entries become ordinary ones.
  void release_held();

  // The application freed communicator `comm` and its entry leaves the table: its messages here
  // can never be received. Removes them; returns how many.
  std::size_t drop_comm(std::uint64_t comm);

  // Copies of the undelivered entries, oldest first: in flight as the application sees it.
  std::vector<RecordedMessage> copy_all() const;

  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : entries_) f(e.msg);
  }

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t held() const noexcept { return held_; }

 private:
  std::list<Entry> entries_;
  std::size_t held_ = 0;
};

}  // namespace mpisnap::channel
