// Random point-to-point traffic on three communicators (MPI_COMM_WORLD, a duplicate, and a split
// into even and odd ranks) with a checkpoint every few safe points. Messages sent in step t are
// received in step t+1, so every cut has messages in flight. Receives use every strategy the
// foundation intercepts: blocking specific, blocking wildcard, Irecv + Waitall, Irecv + Test loops,
// Probe + Recv, Iprobe polling. Checks:
//  * every message arrives once, with the right payload, and per (source, communicator, tag) in
//    send order (MPI's non-overtaking rule, as the application sees it);
//  * every committed checkpoint balances on every channel (sent = received + recorded);
//  * some checkpoint recorded messages in flight.
// The seed comes from MPISNAP_TEST_SEED (default 1).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <map>
#include <random>

#include <mpisnap/mpisnap.hpp>

#include "checkpoint_inspect.hpp"
#include "storage/fs.hpp"

namespace mpisnap::testing {
namespace {

struct Planned {
  int src, dst, tag;   // ranks in the communicator; tag without the step parity
  std::int64_t seq;    // position among (src, dst, tag) messages, counted over the whole run
  int words;           // payload size
};

struct Comm {
  MPI_Comm comm;
  int key;             // which communicator (0 world, 1 dup, 2 split)
  int color;           // split color, so members agree on the plan
  int rank, size;
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The same on every member of `c`: the messages of step `t`.
std::vector<Planned> plan(const Comm& c, std::uint64_t seed, std::int64_t t,
                          std::map<std::tuple<int, int, int>, std::int64_t>& seq) {
  std::mt19937_64 rng(mix(mix(seed, static_cast<std::uint64_t>(t)), static_cast<std::uint64_t>(c.key * 16 + c.color)));
  std::vector<Planned> out;
  for (int s = 0; s < c.size; ++s)
    for (int d = 0; d < c.size; ++d) {
      const int n = static_cast<int>(rng() % 3);
      for (int k = 0; k < n; ++k) {
        const int tag = static_cast<int>(rng() % 4);
        const int words = 3 + static_cast<int>(rng() % 100);  // <= 824 bytes: eager (MPI may not buffer more)
        out.push_back({s, d, tag, seq[{s, d, tag}]++, words});
      }
    }
  return out;
}

// Unique per step: a wildcard-source receive must not match a later step's message (a rank with no
// traffic from another can run any number of steps ahead of it).
int wire_tag(int tag, std::int64_t step) { return tag + 4 * static_cast<int>(step); }

std::vector<std::int64_t> payload(const Planned& p, std::int64_t step, int key) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(p.words));
  v[0] = p.src;
  v[1] = p.seq;
  v[2] = step * 100 + key;
  for (std::size_t i = 3; i < v.size(); ++i) v[i] = static_cast<std::int64_t>(mix(static_cast<std::uint64_t>(p.seq), i));
  return v;
}

struct State {
  std::int64_t step = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step));
  }
};

TEST(RandomTraffic, EveryCutBalancesAndOrderHolds) {
  const std::uint64_t seed = std::getenv("MPISNAP_TEST_SEED") ? std::strtoull(std::getenv("MPISNAP_TEST_SEED"), nullptr, 10) : 1;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Config cfg;
  const char* d = std::getenv("MPISNAP_DIR");
  cfg.directory = d ? d : "mpisnap-traffic-checkpoints";
  cfg.every = std::getenv("MPISNAP_TEST_EVERY") ? std::strtoull(std::getenv("MPISNAP_TEST_EVERY"), nullptr, 10) : 3;
  cfg.keep = 1000;
  if (rank == 0) mpisnap::fs::remove_tree(cfg.directory);
  MPI_Barrier(MPI_COMM_WORLD);
  // A step's messages are received in the next step, after the sender waited for its sends. Only a
  // buffered send to self completes before it is received everywhere (MPICH completes a standard
  // send to self only when it is matched): messages to self are MPI_Ibsend.
  std::vector<char> attached(std::size_t{4} << 20);
  MPI_Buffer_attach(attached.data(), static_cast<int>(attached.size()));

  Session snap{MPI_COMM_WORLD, cfg};
  std::vector<Comm> comms(3);
  comms[0].comm = MPI_COMM_WORLD;
  MPI_Comm_dup(MPI_COMM_WORLD, &comms[1].comm);
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &comms[2].comm);
  for (int k = 0; k < 3; ++k) {
    comms[static_cast<std::size_t>(k)].key = k;
    comms[static_cast<std::size_t>(k)].color = k == 2 ? rank % 2 : 0;
    MPI_Comm_rank(comms[static_cast<std::size_t>(k)].comm, &comms[static_cast<std::size_t>(k)].rank);
    MPI_Comm_size(comms[static_cast<std::size_t>(k)].comm, &comms[static_cast<std::size_t>(k)].size);
  }

  const std::int64_t steps = 60;
  std::vector<std::map<std::tuple<int, int, int>, std::int64_t>> send_seq(3);
  std::map<std::tuple<int, int, int>, std::int64_t> expected_seq;  // (comm, src, tag) -> next seq
  std::vector<std::vector<Planned>> previous(3);                   // step t-1's plan, per communicator
  std::mt19937_64 strategy_rng(mix(seed, static_cast<std::uint64_t>(rank) + 77));
  std::uint64_t received = 0;
  State s;

  auto check = [&](int key, const std::vector<std::int64_t>& v, int src_seen, int tag_seen, std::int64_t step) {
    ASSERT_GE(v.size(), 3u);
    EXPECT_EQ(v[0], src_seen);
    EXPECT_EQ(v[2], step * 100 + key) << "rank " << rank << " iteration " << s.step << " src " << src_seen << " tag " << tag_seen << " seq " << v[1];
    auto& next = expected_seq[{key, src_seen, tag_seen}];
    EXPECT_EQ(v[1], next) << "rank " << rank << " step " << step << ": out of order on communicator " << key << " from " << src_seen << " tag " << tag_seen;
    next = v[1] + 1;
    ++received;
  };

  auto receive_step = [&](std::int64_t t) {  // receive everything planned in step t
    for (std::size_t k = 0; k < comms.size(); ++k) {
      const Comm& c = comms[k];
      std::vector<Planned> mine;
      for (const Planned& p : previous[k])
        if (p.dst == c.rank) mine.push_back(p);
      if (mine.empty()) continue;
      int strategy = static_cast<int>(strategy_rng() % 5);
      if (const char* f = std::getenv("MPISNAP_TEST_STRATEGY")) strategy = std::atoi(f);
      const int max_words = 103;
      if (strategy == 0) {  // blocking, specific source, in plan order
        for (const Planned& p : mine) {
          std::vector<std::int64_t> v(static_cast<std::size_t>(p.words));
          MPI_Status st;
          MPI_Recv(v.data(), p.words, MPI_INT64_T, p.src, wire_tag(p.tag, t), c.comm, &st);
          check(c.key, v, st.MPI_SOURCE, p.tag, t);
        }
      } else if (strategy == 1) {  // blocking wildcard source, one tag at a time
        for (int tag = 0; tag < 4; ++tag) {
          const auto n = std::count_if(mine.begin(), mine.end(), [&](const Planned& p) { return p.tag == tag; });
          for (long i = 0; i < n; ++i) {
            std::vector<std::int64_t> v(max_words);
            MPI_Status st;
            MPI_Recv(v.data(), max_words, MPI_INT64_T, MPI_ANY_SOURCE, wire_tag(tag, t), c.comm, &st);
            int count = 0;
            MPI_Get_count(&st, MPI_INT64_T, &count);
            v.resize(static_cast<std::size_t>(count));
            check(c.key, v, st.MPI_SOURCE, tag, t);
          }
        }
      } else if (strategy == 2 || strategy == 3) {  // Irecv all, then Waitall or a Test loop
        std::vector<std::vector<std::int64_t>> bufs(mine.size());
        std::vector<MPI_Request> reqs(mine.size());
        for (std::size_t i = 0; i < mine.size(); ++i) {
          bufs[i].resize(static_cast<std::size_t>(mine[i].words));
          MPI_Irecv(bufs[i].data(), mine[i].words, MPI_INT64_T, mine[i].src, wire_tag(mine[i].tag, t), c.comm, &reqs[i]);
        }
        std::vector<MPI_Status> sts(mine.size());
        if (strategy == 2) {
          MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), sts.data());
        } else {
          for (std::size_t i = 0; i < reqs.size(); ++i) {
            int flag = 0;
            while (!flag) MPI_Test(&reqs[i], &flag, &sts[i]);
            EXPECT_EQ(reqs[i], MPI_REQUEST_NULL);
          }
        }
        for (std::size_t i = 0; i < mine.size(); ++i) check(c.key, bufs[i], sts[i].MPI_SOURCE, mine[i].tag, t);
      } else {  // Probe(ANY_SOURCE) per tag, then receive exactly what was probed
        for (int tag = 0; tag < 4; ++tag) {
          const auto n = std::count_if(mine.begin(), mine.end(), [&](const Planned& p) { return p.tag == tag; });
          for (long i = 0; i < n; ++i) {
            MPI_Status st;
            if (i % 2) {
              MPI_Probe(MPI_ANY_SOURCE, wire_tag(tag, t), c.comm, &st);
            } else {
              int flag = 0;
              while (!flag) MPI_Iprobe(MPI_ANY_SOURCE, wire_tag(tag, t), c.comm, &flag, &st);
            }
            int count = 0;
            MPI_Get_count(&st, MPI_INT64_T, &count);
            std::vector<std::int64_t> v(static_cast<std::size_t>(count));
            MPI_Status st2;
            MPI_Recv(v.data(), count, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG, c.comm, &st2);
            EXPECT_EQ(st2.MPI_SOURCE, st.MPI_SOURCE);
            check(c.key, v, st.MPI_SOURCE, tag, t);
          }
        }
      }
    }
  };

  for (s.step = 0; s.step < steps;) {
    std::vector<std::vector<std::int64_t>> out;
    std::vector<MPI_Request> sends;
    std::vector<std::vector<Planned>> current(3);
    for (std::size_t k = 0; k < comms.size(); ++k) {
      current[k] = plan(comms[k], seed, s.step, send_seq[k]);
      for (const Planned& p : current[k]) {
        if (p.src != comms[k].rank) continue;
        out.push_back(payload(p, s.step, comms[k].key));
      }
    }
    sends.resize(out.size());
    std::size_t i = 0;
    for (std::size_t k = 0; k < comms.size(); ++k)
      for (const Planned& p : current[k]) {
        if (p.src != comms[k].rank) continue;
        (p.dst == comms[k].rank ? MPI_Ibsend : MPI_Isend)(out[i].data(), p.words, MPI_INT64_T, p.dst,
                                                          wire_tag(p.tag, s.step), comms[k].comm, &sends[i]);
        ++i;
      }
    if (s.step > 0) receive_step(s.step - 1);
    MPI_Waitall(static_cast<int>(sends.size()), sends.data(), MPI_STATUSES_IGNORE);
    previous = current;
    ++s.step;
    snap.checkpoint_point(s);
  }
  receive_step(steps - 1);
  snap.flush();
  void* detached = nullptr;
  int detached_size = 0;
  MPI_Buffer_detach(&detached, &detached_size);

  std::uint64_t total_received = 0;
  MPI_Reduce(&received, &total_received, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    const auto cps = load_committed(cfg.directory);
    EXPECT_EQ(cps.size(), static_cast<std::size_t>(steps / cfg.every));
    std::uint64_t in_flight = 0, channels = 0;
    for (const auto& cp : cps) {
      const auto report = storage::check_channel_balance(cp.ranks);
      EXPECT_TRUE(report.ok()) << "checkpoint " << cp.id << ": " << (report.violations.empty() ? "" : report.violations[0]);
      in_flight += report.in_flight;
      channels += report.channels;
    }
    EXPECT_GT(in_flight, 0u);
    std::printf("random traffic: %zu checkpoints, %llu channels, %llu in-flight messages checked, %llu messages\n",
                cps.size(), static_cast<unsigned long long>(channels), static_cast<unsigned long long>(in_flight),
                static_cast<unsigned long long>(total_received));
  }
  MPI_Comm_free(&comms[1].comm);
  MPI_Comm_free(&comms[2].comm);
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace mpisnap::testing
