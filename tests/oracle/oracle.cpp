// The oracle: seeded random point-to-point traffic that mixes every intercepted call, with a unique
// id in every payload and snapshots at random safe points, then an exact check of every committed
// checkpoint of the run (and of the runs it resumed from).
//
// Traffic. At each step every member of each communicator (MPI_COMM_WORLD, a duplicate, an
// even/odd split, a 2-D cartesian one) sends a planned set of messages; the plan is a function of
// (seed, step, communicator), so every rank knows what it will receive and when. Each message is
// received 0, 1 or 2 steps after it was sent, by a strategy picked at random: blocking receive by
// source, wildcard source, wildcard tag, Irecv + Waitall / Waitany / Waitsome / Testany / Testsome /
// Testall, Probe / Iprobe + Recv, Mprobe / Improbe + Mrecv / Imrecv, persistent Recv_init + Start.
// Sends are Send, Isend, Issend (same-step only), Bsend and persistent Send_init + Start.
// Wildcard-tag receives from a source are sometimes preceded by a probe for (any source, the tag
// of a later message of that source), which the window must not let overtake the older ones.
// A fifth communicator lives for one phase of kPhaseLen steps and is freed at its end; each phase
// makes it anew, by MPI_Comm_dup, a split over other sub-groups, MPI_Comm_create over a group
// without one rank, or MPI_Comm_idup, so communicators come and go while triggers fire and a
// resumed run must give the current one back its recorded id.
//
// Triggers (--interval T: every T seconds; --sigusr1-ms N: a thread of rank 0 raises SIGUSR1
// every N ms; --every K: every K-th safe point, 0 for triggers only) pick the checkpoints; ranks
// then wait for each other's word at safe points while others sit in constructors, collectives,
// blocking calls or loops of Iprobe/Test*. (--stall-us N: one rank per step probes for N µs before
// it sends, so that the others' waits last across the end of snapshots.)
//
// Checks, during the run: every message arrives once, with its payload, in send order per
// (source, communicator, tag) and, for wildcard-tag receives, per source. At the end, with the
// logs of every rank (which are part of the checkpointed state, so a resumed run has the whole
// history): for every committed checkpoint at safe point P and every rank i, the recorded channel
// state is exactly { m addressed to i : sent before the sender's safe point P, received by i after
// its own safe point P }, each once; nothing is received before it was sent (no orphan); and every
// channel balances. RESULT lines depend only on what was received, so a killed and resumed run
// must print the same ones as an uninterrupted run.
#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <cereal/types/vector.hpp>
#include <mpisnap/mpisnap.hpp>

#include "storage/channel_balance.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"

namespace {

int g_rank = 0, g_size = 1;
long g_violations = 0;

#define ORACLE_CHECK(cond, ...)                                                \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++g_violations;                                                          \
      if (g_violations < 20) {                                                 \
        std::fprintf(stderr, "oracle: rank %d: VIOLATION: ", g_rank);          \
        std::fprintf(stderr, __VA_ARGS__);                                     \
        std::fprintf(stderr, "\n");                                            \
      }                                                                        \
    }                                                                          \
  } while (0)

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

enum SendKind { kSend, kIsend, kIssend, kBsend, kPersistentSend, kSendKinds };
enum RecvKind {
  kRecvSource, kRecvAnySource, kRecvAnyTag, kIrecvWaitall, kIrecvWaitany, kIrecvWaitsome, kIrecvTestany,
  kIrecvTestsome, kIrecvTestall, kProbeRecv, kMprobe, kPersistentRecv, kWildProbeAnyTag, kRecvKinds
};

// Payload words: id, source (world rank), communicator key, tag, send safe point, then filler.
constexpr int kHeader = 5;
constexpr int kStreamTag = 1 << 20;  // above every step-encoded tag

struct Planned {
  std::uint64_t id;
  int src, dst;        // ranks in the communicator
  int tag;
  int send_step, recv_step;
  int words;
  SendKind kind;
};

struct Comm {
  MPI_Comm comm = MPI_COMM_NULL;
  int key = 0, color = 0, rank = 0, size = 0;
  int phase = -1;          // the phase communicator: the phase it belongs to (-1: lives all run)
  std::vector<int> world;  // communicator rank -> world rank
};

constexpr int kPhaseLen = 4;  // steps per phase of the phase communicator
constexpr int kPhaseKey = 4;

// The state a checkpoint keeps (and a restart restores): where we are and the logs so far.
struct State {
  std::int64_t step = 0;
  std::uint64_t safe_points = 0;
  std::vector<std::uint64_t> sent;      // triples: id, destination (world rank), safe points passed when sent
  std::vector<std::uint64_t> received;  // pairs: id, safe points passed when received
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(safe_points), CEREAL_NVP(sent), CEREAL_NVP(received));
  }
};

std::uint64_t g_seed = 1;

int wire_tag(const Planned& p, int base) { return ((p.send_step * 3 + (p.recv_step - p.send_step)) * 4 + base); }

// The messages of `step` on communicator `c`: the same list on every member.
std::vector<Planned> plan(const Comm& c, int step) {
  std::vector<Planned> out;
  if (c.phase >= 0 && step / kPhaseLen != c.phase) return out;  // sent on another phase's communicator
  std::mt19937_64 rng(mix(mix(g_seed, static_cast<std::uint64_t>(step)),
                          static_cast<std::uint64_t>(c.key * 64 + c.color) ^ (static_cast<std::uint64_t>(c.phase + 1) << 32)));
  std::uint64_t counter = 0;
  for (int s = 0; s < c.size; ++s)
    for (int d = 0; d < c.size; ++d) {
      const int n = static_cast<int>(rng() % 3);
      for (int k = 0; k < n; ++k) {
        Planned p;
        p.src = s;
        p.dst = d;
        const int base = static_cast<int>(rng() % 4);
        // A third of the messages are "stream" messages: the same tag every step and always received
        // one step later, so messages on both sides of a cut share (source, tag) and the window
        // must keep them in order.
        bool stream = rng() % 3 == 0;
        int lag = stream ? 1 : static_cast<int>(rng() % 3);
        if (c.phase >= 0) {  // received before the phase ends, when its communicator is freed
          stream = false;
          lag = std::min(lag, (c.phase + 1) * kPhaseLen - 1 - step);
        }
        p.send_step = step;
        p.recv_step = step + lag;
        p.tag = stream ? kStreamTag + base : wire_tag(p, base);
        p.words = kHeader + static_cast<int>(rng() % 90);
        p.kind = static_cast<SendKind>(rng() % kSendKinds);
        if (p.kind == kIssend && lag != 0) p.kind = kIsend;  // a synchronous send must be received this step
        p.id = (static_cast<std::uint64_t>(c.world[static_cast<std::size_t>(s)]) << 48) |
               (static_cast<std::uint64_t>(c.key) << 44) | (static_cast<std::uint64_t>(step) << 16) | counter++;
        out.push_back(p);
      }
    }
  return out;
}

std::vector<std::int64_t> payload(const Planned& p, const Comm& c, std::uint64_t sp) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(p.words));
  v[0] = static_cast<std::int64_t>(p.id);
  v[1] = c.world[static_cast<std::size_t>(p.src)];
  v[2] = c.key;
  v[3] = p.tag;
  v[4] = static_cast<std::int64_t>(sp);
  for (std::size_t i = kHeader; i < v.size(); ++i) v[i] = static_cast<std::int64_t>(mix(p.id, i));
  return v;
}

class Oracle {
 public:
  Oracle(std::vector<Comm>& comms, State& s, int steps) : comms_(comms), s_(s), steps_(steps) {}

  void send_step(int step, std::vector<MPI_Request>& reqs, std::vector<std::vector<std::int64_t>>& bufs) {
    for (Comm& c : comms_) {
      if (c.comm == MPI_COMM_NULL) continue;
      for (const Planned& p : plan(c, step)) {
        if (p.src != c.rank) continue;
        bufs.push_back(payload(p, c, s_.safe_points));
        std::int64_t* b = bufs.back().data();
        s_.sent.insert(s_.sent.end(), {p.id, static_cast<std::uint64_t>(c.world[static_cast<std::size_t>(p.dst)]), s_.safe_points});
        MPI_Request r = MPI_REQUEST_NULL;
        // A standard send to self may complete only once it is received (MPICH's does), and most are
        // received steps later: those go buffered. (Issend is received in the same step.)
        const int kind = p.dst == c.rank && p.kind != kIssend ? kBsend : p.kind;
        switch (kind) {
          case kSend: MPI_Send(b, p.words, MPI_INT64_T, p.dst, p.tag, c.comm); break;
          case kIsend: MPI_Isend(b, p.words, MPI_INT64_T, p.dst, p.tag, c.comm, &r); break;
          case kIssend: MPI_Issend(b, p.words, MPI_INT64_T, p.dst, p.tag, c.comm, &r); break;
          case kBsend: MPI_Bsend(b, p.words, MPI_INT64_T, p.dst, p.tag, c.comm); break;
          case kPersistentSend:
            MPI_Send_init(b, p.words, MPI_INT64_T, p.dst, p.tag, c.comm, &r);
            MPI_Start(&r);
            persistent_.push_back(r);
            r = MPI_REQUEST_NULL;
            break;
          default: break;
        }
        if (r != MPI_REQUEST_NULL) reqs.push_back(r);
      }
    }
  }

  void finish_sends(std::vector<MPI_Request>& reqs) {
    // Out of order on purpose: Testsome until done, then the persistent ones by Waitall + free.
    std::vector<int> idx(reqs.size());
    int done = 0;
    while (done < static_cast<int>(reqs.size())) {
      int n = 0;
      MPI_Testsome(static_cast<int>(reqs.size()), reqs.data(), &n, idx.data(), MPI_STATUSES_IGNORE);
      if (n == MPI_UNDEFINED) break;
      done += n;
    }
    MPI_Waitall(static_cast<int>(persistent_.size()), persistent_.data(), MPI_STATUSES_IGNORE);
    for (MPI_Request& r : persistent_) MPI_Request_free(&r);
    persistent_.clear();
    reqs.clear();
  }

  // Receives every message planned for `step`.
  void receive_step(int step) {
    for (Comm& c : comms_) {
      if (c.comm == MPI_COMM_NULL) continue;
      std::vector<Planned> due;
      outstanding_.clear();
      for (int t = std::max(0, step - 2); t <= std::min(step, steps_ - 1); ++t)  // nothing is sent after the last step
        for (const Planned& p : plan(c, t))
          if (p.dst == c.rank && p.recv_step >= step) {
            outstanding_[p.src].push_back(p);
            if (p.recv_step == step) due.push_back(p);
          }
      expected_.clear();
      for (const Planned& p : due) expected_[{p.src, p.tag}].push_back(p.id);
      std::mt19937_64 rng(mix(mix(g_seed ^ 0x5bd1e995, static_cast<std::uint64_t>(step)), static_cast<std::uint64_t>(c.key * 1024 + g_rank)));
      // Group by source; each group gets its own strategy.
      std::map<int, std::vector<Planned>> by_source;
      for (const Planned& p : due) by_source[p.src].push_back(p);
      std::vector<int> sources;
      for (auto& [src, v] : by_source) sources.push_back(src);
      std::shuffle(sources.begin(), sources.end(), rng);
      for (int src : sources) receive_group(c, step, src, by_source[src], static_cast<RecvKind>(rng() % kRecvKinds), rng);
      for (auto& [key, ids] : expected_)
        ORACLE_CHECK(ids.empty(), "step %d comm %d: %zu message(s) from %d tag %d never received", step, c.key, ids.size(),
                     key.first, key.second);
    }
  }

 private:
  // Checks a received payload against the plan and logs it.
  void accept(const Comm& c, int step, const std::int64_t* v, int words, int src, int tag) {
    auto& queue = expected_[{src, tag}];
    ORACLE_CHECK(!queue.empty(), "step %d comm %d: unexpected message from %d tag %d", step, c.key, src, tag);
    if (queue.empty()) return;
    const std::uint64_t id = static_cast<std::uint64_t>(v[0]);
    ORACLE_CHECK(id == queue.front(), "step %d comm %d: from %d tag %d got id %" PRIx64 ", expected %" PRIx64
                 " (out of order)", step, c.key, src, tag, id, queue.front());
    queue.pop_front();
    ORACLE_CHECK(v[1] == c.world[static_cast<std::size_t>(src)] && v[2] == c.key && v[3] == tag,
                 "step %d: header of message %" PRIx64 " does not match its envelope", step, id);
    for (int i = kHeader; i < words; ++i)
      if (v[i] != static_cast<std::int64_t>(mix(id, static_cast<std::uint64_t>(i)))) {
        ORACLE_CHECK(false, "step %d: payload of message %" PRIx64 " is damaged at word %d", step, id, i);
        break;
      }
    auto& out = outstanding_[src];
    auto it = std::find_if(out.begin(), out.end(), [&](const Planned& p) { return p.id == id; });
    if (it != out.end()) out.erase(it);
    s_.received.insert(s_.received.end(), {id, s_.safe_points});
  }

  void receive_group(const Comm& c, int step, int src, const std::vector<Planned>& msgs, RecvKind kind,
                     std::mt19937_64& rng) {
    const int n = static_cast<int>(msgs.size());
    if (std::getenv("ORACLE_DEBUG")) {
      std::fprintf(stderr, "rank %d step %d comm %d from %d kind %d:", g_rank, step, c.key, src, static_cast<int>(kind));
      for (const Planned& p : msgs) std::fprintf(stderr, " (tag %d sent %d)", p.tag, p.send_step);
      std::fprintf(stderr, "\n");
    }
    std::vector<std::vector<std::int64_t>> bufs(msgs.size());
    for (std::size_t i = 0; i < msgs.size(); ++i) bufs[i].resize(static_cast<std::size_t>(msgs[i].words));
    // A wildcard source is deterministic only if no other source has a message due with the same
    // tag; a wildcard tag only if this step's messages are the oldest outstanding ones from src.
    if (kind == kRecvAnySource) {
      for (const auto& [key, ids] : expected_)
        for (const Planned& p : msgs)
          if ((key.first != src && key.second == p.tag && !ids.empty()) || p.tag >= kStreamTag) kind = kRecvSource;
    }
    if (kind == kRecvAnyTag || kind == kWildProbeAnyTag) {
      const auto& out = outstanding_[src];
      for (int i = 0; i < n && kind != kRecvSource; ++i)
        if (out.size() <= static_cast<std::size_t>(i) || out[static_cast<std::size_t>(i)].recv_step != step) kind = kRecvSource;
    }
    if (kind == kWildProbeAnyTag) {
      // Probe (any source, the tag of this source's last message due now), then receive its
      // messages with any tag: each must still be the oldest one (non-overtaking).
      MPI_Status st;
      if (rng() % 2) {
        MPI_Probe(MPI_ANY_SOURCE, msgs.back().tag, c.comm, &st);
      } else {
        int flag = 0;
        while (!flag) MPI_Iprobe(MPI_ANY_SOURCE, msgs.back().tag, c.comm, &flag, &st);
      }
      ORACLE_CHECK(st.MPI_TAG == msgs.back().tag, "step %d comm %d: a probe for tag %d reports tag %d", step, c.key,
                   msgs.back().tag, st.MPI_TAG);
      kind = kRecvAnyTag;
    }
    std::vector<MPI_Request> reqs(msgs.size(), MPI_REQUEST_NULL);
    std::vector<MPI_Status> sts(msgs.size());
    auto post_all = [&] {
      for (int i = 0; i < n; ++i)
        MPI_Irecv(bufs[static_cast<std::size_t>(i)].data(), msgs[static_cast<std::size_t>(i)].words, MPI_INT64_T, src,
                  msgs[static_cast<std::size_t>(i)].tag, c.comm, &reqs[static_cast<std::size_t>(i)]);
    };
    auto accept_all = [&] {
      for (int i = 0; i < n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        ORACLE_CHECK(sts[k].MPI_SOURCE == src && sts[k].MPI_TAG == msgs[k].tag, "status of a completed receive is wrong");
        accept(c, step, bufs[k].data(), msgs[k].words, src, msgs[k].tag);
      }
    };
    switch (kind) {
      case kRecvSource:
      case kRecvAnySource:
      case kRecvAnyTag:
        for (int i = 0; i < n; ++i) {
          const auto k = static_cast<std::size_t>(i);
          std::vector<std::int64_t> v(100);
          MPI_Status st;
          const int from = kind == kRecvAnySource ? MPI_ANY_SOURCE : src;
          const int tag = kind == kRecvAnyTag ? MPI_ANY_TAG : msgs[k].tag;
          const std::uint64_t oldest = outstanding_[src].empty() ? 0 : outstanding_[src].front().id;
          MPI_Recv(v.data(), 100, MPI_INT64_T, from, tag, c.comm, &st);
          int count = 0;
          MPI_Get_count(&st, MPI_INT64_T, &count);
          if (kind == kRecvAnyTag)
            ORACLE_CHECK(static_cast<std::uint64_t>(v[0]) == oldest, "step %d comm %d: a wildcard-tag receive from %d got %"
                         PRIx64 ", not the oldest message %" PRIx64 " (non-overtaking)", step, c.key, src,
                         static_cast<std::uint64_t>(v[0]), oldest);
          accept(c, step, v.data(), count, st.MPI_SOURCE, st.MPI_TAG);
        }
        break;
      case kIrecvWaitall:
        post_all();
        MPI_Waitall(n, reqs.data(), sts.data());
        accept_all();
        break;
      case kIrecvWaitany:
      case kIrecvTestany: {
        post_all();
        for (int done = 0; done < n;) {
          int index = MPI_UNDEFINED, flag = 1;
          MPI_Status st;
          if (kind == kIrecvWaitany) MPI_Waitany(n, reqs.data(), &index, &st);
          else MPI_Testany(n, reqs.data(), &index, &flag, &st);
          if (!flag || index == MPI_UNDEFINED) continue;
          sts[static_cast<std::size_t>(index)] = st;
          ++done;
        }
        accept_all();
        break;
      }
      case kIrecvWaitsome:
      case kIrecvTestsome: {
        post_all();
        std::vector<int> idx(msgs.size());
        std::vector<MPI_Status> got(msgs.size());
        for (int done = 0; done < n;) {
          int outcount = 0;
          if (kind == kIrecvWaitsome) MPI_Waitsome(n, reqs.data(), &outcount, idx.data(), got.data());
          else MPI_Testsome(n, reqs.data(), &outcount, idx.data(), got.data());
          if (outcount == MPI_UNDEFINED) break;
          for (int k = 0; k < outcount; ++k) sts[static_cast<std::size_t>(idx[static_cast<std::size_t>(k)])] = got[static_cast<std::size_t>(k)];
          done += outcount;
        }
        accept_all();
        break;
      }
      case kIrecvTestall: {
        post_all();
        int flag = 0;
        while (!flag) MPI_Testall(n, reqs.data(), &flag, sts.data());
        accept_all();
        break;
      }
      case kProbeRecv:
      case kMprobe:
        for (int i = 0; i < n; ++i) {
          const auto k = static_cast<std::size_t>(i);
          MPI_Status st;
          const bool blocking = rng() % 2;
          if (kind == kProbeRecv) {
            if (blocking) {
              MPI_Probe(src, msgs[k].tag, c.comm, &st);
            } else {
              int flag = 0;
              while (!flag) MPI_Iprobe(src, msgs[k].tag, c.comm, &flag, &st);
            }
            int count = 0;
            MPI_Get_count(&st, MPI_INT64_T, &count);
            ORACLE_CHECK(count == msgs[k].words, "probe reports %d words, message has %d", count, msgs[k].words);
            std::vector<std::int64_t> v(static_cast<std::size_t>(count));
            MPI_Recv(v.data(), count, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG, c.comm, MPI_STATUS_IGNORE);
            accept(c, step, v.data(), count, st.MPI_SOURCE, st.MPI_TAG);
          } else {
            MPI_Message m;
            if (blocking) {
              MPI_Mprobe(src, msgs[k].tag, c.comm, &m, &st);
            } else {
              int flag = 0;
              while (!flag) MPI_Improbe(src, msgs[k].tag, c.comm, &flag, &m, &st);
            }
            int count = 0;
            MPI_Get_count(&st, MPI_INT64_T, &count);
            std::vector<std::int64_t> v(static_cast<std::size_t>(count));
            if (rng() % 2) {
              MPI_Mrecv(v.data(), count, MPI_INT64_T, &m, MPI_STATUS_IGNORE);
            } else {
              MPI_Request r;
              MPI_Imrecv(v.data(), count, MPI_INT64_T, &m, &r);
              MPI_Wait(&r, MPI_STATUS_IGNORE);
            }
            accept(c, step, v.data(), count, st.MPI_SOURCE, st.MPI_TAG);
          }
        }
        break;
      case kPersistentRecv:
        for (int i = 0; i < n; ++i)
          MPI_Recv_init(bufs[static_cast<std::size_t>(i)].data(), msgs[static_cast<std::size_t>(i)].words, MPI_INT64_T, src,
                        msgs[static_cast<std::size_t>(i)].tag, c.comm, &reqs[static_cast<std::size_t>(i)]);
        MPI_Startall(n, reqs.data());
        MPI_Waitall(n, reqs.data(), sts.data());
        for (MPI_Request& r : reqs) MPI_Request_free(&r);
        accept_all();
        break;
      default:
        break;
    }
  }

  std::vector<Comm>& comms_;
  State& s_;
  int steps_;
  std::vector<MPI_Request> persistent_;
  std::map<int, std::deque<Planned>> outstanding_;          // per source, in send order
  std::map<std::pair<int, int>, std::deque<std::uint64_t>> expected_;  // (source, tag) -> ids due now
};

}  // namespace

namespace {

std::vector<std::uint64_t> gather(const std::vector<std::uint64_t>& mine) {
  int n = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<std::size_t>(g_size)), displs(static_cast<std::size_t>(g_size));
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < g_size && g_rank == 0; ++r) {
    displs[static_cast<std::size_t>(r)] = total;
    total += counts[static_cast<std::size_t>(r)];
  }
  std::vector<std::uint64_t> all(static_cast<std::size_t>(total));
  MPI_Gatherv(mine.data(), n, MPI_UINT64_T, all.data(), counts.data(), displs.data(), MPI_UINT64_T, 0, MPI_COMM_WORLD);
  return all;
}

struct Fate {
  std::uint64_t dest = 0, send_sp = 0, recv_sp = ~0ull;
  int received = 0;
};

// Rank 0: every committed checkpoint against the logs of the whole (possibly resumed) history.
void check_checkpoints(const std::string& dir, const std::vector<std::uint64_t>& sent,
                       const std::vector<std::uint64_t>& received) {
  std::map<std::uint64_t, Fate> fate;
  for (std::size_t i = 0; i + 2 < sent.size(); i += 3) {
    Fate& f = fate[sent[i]];
    f.dest = sent[i + 1];
    f.send_sp = sent[i + 2];
  }
  for (std::size_t i = 0; i + 1 < received.size(); i += 2) {
    auto it = fate.find(received[i]);
    ORACLE_CHECK(it != fate.end(), "message %" PRIx64 " received but never sent", received[i]);
    if (it == fate.end()) continue;
    it->second.received += 1;
    it->second.recv_sp = received[i + 1];
  }
  for (const auto& [id, f] : fate) {
    ORACLE_CHECK(f.received == 1, "message %" PRIx64 " received %d times", id, f.received);
    ORACLE_CHECK(f.send_sp <= f.recv_sp, "orphan: message %" PRIx64 " received at safe point %" PRIu64
                 " before it was sent at safe point %" PRIu64, id, f.recv_sp, f.send_sp);
  }
  std::uint64_t checkpoints = 0, channels = 0, in_flight = 0;
  for (const auto& e : mpisnap::storage::list_checkpoints(dir)) {
    if (!e.committed) continue;
    const auto m = mpisnap::storage::read_manifest(e.path);
    std::vector<mpisnap::RankCheckpoint> ranks;
    for (int r = 0; r < m.nranks; ++r) ranks.push_back(mpisnap::storage::read_rank_file(e.path, r).cp);
    const std::uint64_t P = m.safe_point;
    for (int r = 0; r < m.nranks; ++r) {
      std::multiset<std::uint64_t> recorded;
      for (const auto& msg : ranks[static_cast<std::size_t>(r)].channel) {
        std::uint64_t id = 0;
        if (msg.bytes.size() >= sizeof id) std::memcpy(&id, msg.bytes.data(), sizeof id);
        recorded.insert(id);
      }
      std::multiset<std::uint64_t> expected;
      for (const auto& [id, f] : fate)
        if (f.dest == static_cast<std::uint64_t>(r) && f.send_sp < P && P <= f.recv_sp) expected.insert(id);
      if (recorded != expected) {
        std::size_t missing = 0, extra = 0;
        for (auto id : expected) missing += recorded.count(id) ? 0 : 1;
        for (auto id : recorded) extra += expected.count(id) ? 0 : 1;
        ORACLE_CHECK(false, "checkpoint %" PRIu64 " (safe point %" PRIu64 ") rank %d: %zu recorded, %zu expected: %zu "
                     "missing, %zu that should not be there (or duplicates)", e.id, P, r, recorded.size(),
                     expected.size(), missing, extra);
      }
      in_flight += recorded.size();
    }
    const auto balance = mpisnap::storage::check_channel_balance(ranks);
    for (const auto& v : balance.violations) ORACLE_CHECK(false, "checkpoint %" PRIu64 ": %s", e.id, v.c_str());
    channels += balance.channels;
    ++checkpoints;
  }
  std::printf("oracle: %" PRIu64 " checkpoints, %" PRIu64 " channels, %" PRIu64 " in-flight messages, %zu messages checked, "
              "%ld violations\n", checkpoints, channels, in_flight, fate.size(), g_violations);
}

std::int64_t option(int argc, char** argv, const char* name, std::int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::strtoll(argv[i + 1], nullptr, 10);
  return fallback;
}

double option_seconds(int argc, char** argv, const char* name, double fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::strtod(argv[i + 1], nullptr);
  return fallback;
}

// Rank, size and world ranks of c.comm.
void describe(Comm& c) {
  MPI_Comm_rank(c.comm, &c.rank);
  MPI_Comm_size(c.comm, &c.size);
  MPI_Group g, wg;
  MPI_Comm_group(c.comm, &g);
  MPI_Comm_group(MPI_COMM_WORLD, &wg);
  std::vector<int> local(static_cast<std::size_t>(c.size));
  for (int i = 0; i < c.size; ++i) local[static_cast<std::size_t>(i)] = i;
  c.world.resize(local.size());
  MPI_Group_translate_ranks(g, c.size, local.data(), wg, c.world.data());
  MPI_Group_free(&g);
  MPI_Group_free(&wg);
}

// The phase communicator: the previous one freed, this phase's made a different way each phase.
void make_phase_comm(Comm& c, int phase) {
  if (c.comm != MPI_COMM_NULL) MPI_Comm_free(&c.comm);
  c = Comm{};
  c.key = kPhaseKey;
  c.phase = phase;
  switch (phase % 4) {
    case 0:
      MPI_Comm_dup(MPI_COMM_WORLD, &c.comm);
      break;
    case 1:  // two halves that change from phase to phase
      c.color = (g_rank + phase) % 2;
      MPI_Comm_split(MPI_COMM_WORLD, c.color, g_size - g_rank, &c.comm);
      break;
    case 2: {  // everyone but one rank, another one each time
      MPI_Group wg, g;
      MPI_Comm_group(MPI_COMM_WORLD, &wg);
      const int out = phase % g_size;
      MPI_Group_excl(wg, 1, &out, &g);
      MPI_Comm_create(MPI_COMM_WORLD, g, &c.comm);
      MPI_Group_free(&g);
      MPI_Group_free(&wg);
      break;
    }
    default: {
      MPI_Request r;
      MPI_Comm_idup(MPI_COMM_WORLD, &c.comm, &r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
      break;
    }
  }
  if (c.comm != MPI_COMM_NULL) describe(c);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  const int steps = static_cast<int>(option(argc, argv, "--steps", 120));
  g_seed = static_cast<std::uint64_t>(option(argc, argv, "--seed", 1));
  const std::int64_t work_us = option(argc, argv, "--work-us", 0);
  // --stall-us N: at each step one rank (a function of seed and step) spends N µs in MPI_Iprobe
  // before it sends, so the others wait in their receives across the end of a snapshot (their waits
  // begin polling and are handed to MPI once the snapshot is done).
  const std::int64_t stall_us = option(argc, argv, "--stall-us", 0);
  std::vector<char> bsend_buffer(8 << 20);
  MPI_Buffer_attach(bsend_buffer.data(), static_cast<int>(bsend_buffer.size()));

  mpisnap::Config cfg = mpisnap::Config::defaults();
  if (option(argc, argv, "--fresh", 0)) {  // start from nothing, whatever an earlier run left
    if (g_rank == 0) mpisnap::fs::remove_tree(cfg.directory);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  // By default every safe point the oracle chooses is a snapshot; with --every 0 only triggers pick.
  cfg.every = static_cast<std::uint64_t>(option(argc, argv, "--every", 1));
  cfg.interval = option_seconds(argc, argv, "--interval", cfg.interval);
  cfg.keep = 1000000;  // all of them are checked at the end
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};
  // SIGUSR1 from a thread of rank 0 (only after the Session installed its handler).
  const std::int64_t sigusr1_ms = option(argc, argv, "--sigusr1-ms", 0);
  std::atomic<bool> stop_signals{false};
  std::thread signaller;
  if (sigusr1_ms > 0 && g_rank == 0)
    signaller = std::thread([&] {
      while (!stop_signals.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(sigusr1_ms));
        if (!stop_signals.load()) ::kill(::getpid(), SIGUSR1);  // to the process, as a scheduler does
      }
    });

  std::vector<Comm> comms(5);
  comms[0].comm = MPI_COMM_WORLD;
  MPI_Comm_dup(MPI_COMM_WORLD, &comms[1].comm);
  MPI_Comm_split(MPI_COMM_WORLD, g_rank % 2, g_rank, &comms[2].comm);
  comms[2].color = g_rank % 2;
  int dims[2] = {0, 0}, periods[2] = {1, 0};
  MPI_Dims_create(g_size, 2, dims);
  MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &comms[3].comm);
  for (int k = 0; k < 4; ++k) {
    Comm& c = comms[static_cast<std::size_t>(k)];
    c.key = k;
    describe(c);
  }
  comms[kPhaseKey].key = kPhaseKey;  // made at the first step of each phase (or after a restore)

  State s;
  if (snap.restore(s) && g_rank == 0)
    std::printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (step %" PRId64 ")\n",
                snap.resume_info().checkpoint_id, snap.resume_info().safe_point, s.step);
  Oracle oracle(comms, s, steps);
  std::vector<MPI_Request> reqs;
  std::vector<std::vector<std::int64_t>> bufs;
  while (s.step < steps) {
    const int step = static_cast<int>(s.step);
    if (comms[kPhaseKey].phase != step / kPhaseLen) make_phase_comm(comms[kPhaseKey], step / kPhaseLen);
    if (stall_us > 0 && static_cast<int>(mix(g_seed * 17 + 3, static_cast<std::uint64_t>(step)) % static_cast<std::uint64_t>(g_size)) == g_rank) {
      // (in MPI meanwhile - probing for a tag nobody sends - so that snapshots still complete)
      const double until = MPI_Wtime() + static_cast<double>(stall_us) * 1e-6;
      for (int flag = 0; MPI_Wtime() < until;) MPI_Iprobe(MPI_ANY_SOURCE, 32000, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    }
    oracle.send_step(step, reqs, bufs);
    oracle.receive_step(step);
    oracle.finish_sends(reqs);
    bufs.clear();
    if (work_us > 0) {
      const double until = MPI_Wtime() + static_cast<double>(work_us) * 1e-6;
      while (MPI_Wtime() < until) {
      }
    }
    ++s.step;
    if (mix(g_seed * 31 + 7, static_cast<std::uint64_t>(step)) % 2 == 0) {  // a random safe point, the same on every rank
      ++s.safe_points;
      snap.checkpoint_point(s);
    }
  }
  for (int step = steps; step < steps + 2; ++step) oracle.receive_step(step);  // what is still in flight
  stop_signals.store(true);
  if (signaller.joinable()) signaller.join();
  snap.flush();

  // RESULT lines depend only on what each rank received.
  std::uint64_t digest = 0, n = 0;
  for (std::size_t i = 0; i < s.received.size(); i += 2, ++n) digest += mix(s.received[i], 77);
  std::vector<std::uint64_t> digests(static_cast<std::size_t>(g_size) * 2);
  const std::uint64_t mine[2] = {n, digest};
  MPI_Gather(mine, 2, MPI_UINT64_T, digests.data(), 2, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  const auto sent = gather(s.sent);
  const auto received = gather(s.received);
  if (g_rank == 0) {
    for (int r = 0; r < g_size; ++r)
      std::printf("RESULT oracle rank %d received %" PRIu64 " digest %016" PRIx64 "\n", r,
                  digests[static_cast<std::size_t>(2 * r)], digests[static_cast<std::size_t>(2 * r + 1)]);
    check_checkpoints(cfg.directory, sent, received);
  }
  long total = 0;
  MPI_Allreduce(&g_violations, &total, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  if (g_rank == 0) std::printf("RESULT oracle violations %ld\n", total);
  for (std::size_t k = 1; k < comms.size(); ++k)
    if (comms[k].comm != MPI_COMM_NULL) MPI_Comm_free(&comms[k].comm);
  void* b;
  int size;
  MPI_Buffer_detach(&b, &size);
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
