// The blocking call the main thread is inside, published for the helper thread (watch/watch.hpp).
//
// While checkpoints are possible and no snapshot work is pending, a blocking call (MPI_Recv,
// MPI_Send, MPI_Wait, ...) is MPI's own: the main thread blocks inside MPI and polls nothing. Two
// things still have to see such a rank: deadlock detection (what it waits for, its message counts)
// and the misplaced-safe-point diagnosis (it waits for a message its peer sends only after its
// snapshot). The helper does both, from what the main thread publishes here:
//   - entering, the call's description (`Call`: three or four plain stores), then the episode word made
//     odd (a release store): "inside call e";
//   - leaving, the word incremented (even: outside) by one atomic add. If the helper was reading
//     meanwhile (its bit set), the main thread waits until it is done: whatever the helper reads
//     while it holds an episode (the description, the runtime's counters) stays unchanged.
// About a dozen instructions per blocking call and no lock; the helper's side is rare (a call that lasts).
#pragma once

#include <atomic>
#include <cstdint>

namespace mpisnap::watch {

// What a blocking call waits for, as the main thread can say it in a few stores: `object` is the
// communicator's entry (receives, sends, probes) or the application's request array (waits);
// the runtime interprets it (Reader in watch.hpp).
struct Call {
  enum Kind : std::uint32_t { Recv, Probe, Send, Ssend, Sendrecv, SendrecvReplace, Wait, Waitall, Waitany, Waitsome, Collective };
  const void* object = nullptr;
  int peer = 0;                 // receive: the source (or MPI_ANY_SOURCE); send: the destination; waits: the count
  int tag = 0;
  Kind kind = Recv;
  int send_peer = 0;            // Sendrecv(_replace): the send's destination and tag
  int send_tag = 0;
  const char* name = nullptr;   // Collective: the call's name ("MPI_Allreduce")
};

// Whether the call ends when any one of what it waits for completes (MPI_Waitany, MPI_Waitsome);
// the others need every one.
inline bool ends_with_any(const Call& c) noexcept { return c.kind == Call::Waitany || c.kind == Call::Waitsome; }

inline const char* call_name(const Call& c) noexcept {
  constexpr const char* names[] = {"MPI_Recv",     "MPI_Probe",            "MPI_Send", "MPI_Ssend",  "MPI_Sendrecv",
                                   "MPI_Sendrecv_replace", "MPI_Wait", "MPI_Waitall", "MPI_Waitany",
                                   "MPI_Waitsome", "a collective call"};
  return c.kind == Call::Collective && c.name ? c.name : names[c.kind];
}

class BlockedCall {
 public:
  static constexpr std::uint64_t kReading = std::uint64_t{1} << 63;

  // Main thread: inside the call from publish() (or enter(), after filling call()) to leave().
  // Outside an episode call().kind is Recv (leave() puts it back), so that the receive, the most
  // frequent call, publishes without storing it (publish_recv).
  void publish(const void* object, int peer, int tag, Call::Kind kind) noexcept {
    call_.kind = kind;
    publish_recv(object, peer, tag);
  }
  void publish_recv(const void* object, int peer, int tag) noexcept {
    call_.object = object;
    call_.peer = peer;
    call_.tag = tag;
    enter();
  }
  Call& call() noexcept { return call_; }
  void enter() noexcept {
    // Even here, and only this thread changes an even word: a plain increment will do, a release
    // store (after the description's stores). On x86 one instruction (a store is a release there).
#if defined(__x86_64__)
    asm volatile("addq $1, %0" : "+m"(word_) : : "memory");
#else
    word_.store(word_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
#endif
  }
  void leave() noexcept {
    if (!leave_fast()) [[unlikely]]
      wait_for_reader();
    call_.kind = Call::Recv;  // (left: the helper holds no episode now)
  }
  // leave() in two halves, for a receive published by publish_recv (kind left Recv) that keeps its
  // own cold path: false means the helper is reading, and wait_for_reader() must follow. (The reading bit, if it was set when the call
  // returned, stays set until the helper is done; one set later is impossible, since the helper
  // holds only an odd word.)
  bool leave_fast() noexcept { return !(word_.fetch_add(1, std::memory_order_acq_rel) & kReading); }
  [[gnu::cold, gnu::noinline]] void wait_for_reader() noexcept {
    while (word_.load(std::memory_order_acquire) & kReading) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  // Helper thread. The episode the main thread is inside (0: none).
  std::uint64_t inside() const noexcept {
    const std::uint64_t w = word_.load(std::memory_order_acquire) & ~kReading;
    return (w & 1) ? w : 0;
  }
  // Holds episode `e` if the main thread is still inside it: until release() the main thread does
  // not return from it, and call() and everything the call left alone may be read.
  bool hold(std::uint64_t e) noexcept {
    std::uint64_t expected = e;
    return word_.compare_exchange_strong(expected, e | kReading, std::memory_order_acq_rel);
  }
  const Call& held_call() const noexcept { return call_; }
  // (The main thread may have left meanwhile and be waiting for this.)
  void release() noexcept { word_.fetch_and(~kReading, std::memory_order_release); }

 private:
  alignas(64) std::atomic<std::uint64_t> word_{0};
  Call call_;
};

}  // namespace mpisnap::watch
