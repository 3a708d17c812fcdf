// The state of one process of lamport_mutex (the lecture's mutual exclusion by a replicated request
// queue), shared by the example and by its checker (lamport_check.hpp), which reads it back from
// checkpoints through mpisnap::GlobalState.
#pragma once

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <vector>

#include <cereal/types/vector.hpp>

namespace lamport {

constexpr int kTag = 11;  // one tag and one communicator: MPI's non-overtaking rule makes channels FIFO
enum Type : std::int64_t { kRequest = 1, kAck = 2, kRelease = 3, kDone = 4 };

// A protocol message: six int64 (MPI_INT64_T).
struct Msg {
  std::int64_t type = 0, ts = 0, sender = 0, lock = 0;
  std::int64_t grant_ts = 0;  // release: the timestamp of the request it ends
  std::int64_t value = 0;     // release: what the critical section added to the replicated total
};
static_assert(sizeof(Msg) == 6 * sizeof(std::int64_t));

// A request in a queue, or a grant in the log; ordered by (lock, timestamp, process).
struct Entry {
  std::int64_t lock = 0, ts = 0, proc = 0, value = 0;
  bool operator<(const Entry& o) const { return std::tie(lock, ts, proc) < std::tie(o.lock, o.ts, o.proc); }
  bool operator==(const Entry& o) const {
    return lock == o.lock && ts == o.ts && proc == o.proc && value == o.value;
  }
};

inline void insert_sorted(std::vector<Entry>& v, const Entry& e) { v.insert(std::upper_bound(v.begin(), v.end(), e), e); }
inline void remove_request(std::vector<Entry>& q, std::int64_t lock, std::int64_t proc) {
  q.erase(std::remove_if(q.begin(), q.end(), [&](const Entry& e) { return e.lock == lock && e.proc == proc; }),
          q.end());
}

struct State {
  // Settings (kept in the state so that a checker needs nothing else).
  std::int64_t me = 0, n = 1, nlocks = 1, rounds = 0, hold = 0, broken = 0;
  std::int64_t clock = 0;                  // the Lamport clock
  std::int64_t round = 0;                  // critical sections completed
  std::int64_t phase = 0;                  // 0 idle, 1 acquiring order[step], 2 in the critical section
  std::int64_t step = 0;
  std::int64_t cs_left = 0;                // safe points still to pass inside the critical section
  std::int64_t reversed = 0;               // takes the locks in the opposite order
  std::uint64_t rng = 0;
  std::int64_t value = 0;                  // this round's contribution
  std::vector<std::int64_t> req_ts;        // per lock: my pending or granted request's timestamp, -1 none
  std::vector<std::int64_t> holding;       // per lock: 1 while I hold it
  std::vector<std::int64_t> last_ts;       // per process: timestamp of the latest message from it, -1 none
  std::vector<Entry> queue;                // every lock's request queue, sorted
  std::vector<Entry> log;                  // the replicated log of completed grants, sorted
  std::int64_t total = 0;                  // replicated: the sum of the log's values
  std::int64_t acks_pending = 0, done_from = 0, sent_done = 0, iterations = 0;

  std::int64_t lock_at(std::int64_t k) const { return reversed ? nlocks - 1 - k : k; }

  // The queues and the log as parallel arrays of numbers: one dataset per field in the file.
  template <class Archive>
  void save(Archive& ar) const {
    numbers_before(*this, ar);
    save_entries(ar, "queue", queue);
    save_entries(ar, "log", log);
    numbers_after(*this, ar);
  }
  template <class Archive>
  void load(Archive& ar) {
    numbers_before(*this, ar);
    load_entries(ar, "queue", queue);
    load_entries(ar, "log", log);
    numbers_after(*this, ar);
  }

 private:
  // The plain members, in file order around the queues and the log; one list for both directions
  // (`self` is const when saving).
  template <class Self, class Archive>
  static void numbers_before(Self& self, Archive& ar) {
    ar(cereal::make_nvp("me", self.me), cereal::make_nvp("n", self.n), cereal::make_nvp("nlocks", self.nlocks),
       cereal::make_nvp("rounds", self.rounds), cereal::make_nvp("hold", self.hold),
       cereal::make_nvp("broken", self.broken), cereal::make_nvp("clock", self.clock),
       cereal::make_nvp("round", self.round), cereal::make_nvp("phase", self.phase), cereal::make_nvp("step", self.step),
       cereal::make_nvp("cs_left", self.cs_left), cereal::make_nvp("reversed", self.reversed),
       cereal::make_nvp("rng", self.rng), cereal::make_nvp("value", self.value), cereal::make_nvp("req_ts", self.req_ts),
       cereal::make_nvp("holding", self.holding), cereal::make_nvp("last_ts", self.last_ts));
  }
  template <class Self, class Archive>
  static void numbers_after(Self& self, Archive& ar) {
    ar(cereal::make_nvp("total", self.total), cereal::make_nvp("acks_pending", self.acks_pending),
       cereal::make_nvp("done_from", self.done_from), cereal::make_nvp("sent_done", self.sent_done),
       cereal::make_nvp("iterations", self.iterations));
  }
  template <class Archive>
  static void save_entries(Archive& ar, const std::string& name, const std::vector<Entry>& v) {
    std::vector<std::int64_t> lock, ts, proc, value;
    for (const Entry& e : v) {
      lock.push_back(e.lock);
      ts.push_back(e.ts);
      proc.push_back(e.proc);
      value.push_back(e.value);
    }
    ar(cereal::make_nvp(name + "_lock", lock), cereal::make_nvp(name + "_ts", ts),
       cereal::make_nvp(name + "_proc", proc), cereal::make_nvp(name + "_value", value));
  }
  template <class Archive>
  static void load_entries(Archive& ar, const std::string& name, std::vector<Entry>& v) {
    std::vector<std::int64_t> lock, ts, proc, value;
    ar(cereal::make_nvp(name + "_lock", lock), cereal::make_nvp(name + "_ts", ts),
       cereal::make_nvp(name + "_proc", proc), cereal::make_nvp(name + "_value", value));
    v.clear();
    for (std::size_t i = 0; i < lock.size() && i < ts.size() && i < proc.size() && i < value.size(); ++i)
      v.push_back(Entry{lock[i], ts[i], proc[i], value[i]});
  }
};

}  // namespace lamport
