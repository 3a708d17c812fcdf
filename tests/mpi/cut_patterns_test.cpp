// Patterns that once broke the cut or the trigger agreement, each reduced to a small program.
//
//   WindowOrder.WildcardProbeKeepsSenderOrder: rank 1 sends tags 1, 2, 3 to rank 0; rank 0 probes
//     (any source, tag 2) and then receives from rank 1 with any tag. Holding the tag-2 message in
//     the window must not let it overtake the tag-1 message still inside MPI (MPI's non-overtaking
//     rule). MPISNAP_TEST_PROBE picks the probe: iprobe (spin), probe, improbe (spin; the matched
//     message is received with MPI_Mrecv, so the others must still come in order).
//   WindowOrder.HeldBeforeDrained: under receive emulation a rank sends itself 1, probes it (the
//     window holds it), sends itself 2, and passes a safe point that snapshots: 1 must still come
//     before 2 (the held entry is older than what the snapshot drains).
//   TriggerRound.ConstructorWhileRoundPending (>= 3 ranks): the last rank sits in a communicator
//     constructor (MPISNAP_TEST_CTOR: dup, split, create, cart, split_type) while the others wait
//     at their safe point for a trigger round it must join first.
//   TriggerRound.SpinWaitWhileRoundPending (>= 3 ranks): the last rank waits for a message by
//     spinning on a non-blocking call (MPISNAP_TEST_SPIN: iprobe, improbe, test, testany, testsome,
//     testall) while rank 0, which sends that message only after its safe point, waits there for
//     the round.
//   TriggerRound.FlushWhileRoundPending: ranks in Session::flush() give their word on a round that
//     a lagging rank waits for at its safe point.
//   CommPhases.Phase1 / Phase2: one communicator per phase (dup, then splits over other sub-groups),
//     freed at the end of its phase, a message in flight on it at each phase's checkpoint. Phase1
//     stops after phase 3's checkpoint as if killed; Phase2 restarts: the phase-3 communicator,
//     made anew, must get the message recorded on the old one. With MPISNAP_TEST_IDUP=1 the
//     duplicates are made by MPI_Comm_idup; with MPISNAP_TEST_MISMATCH=1 the restarted run makes
//     phase 3's communicator from another parent, and must be stopped with a message, not hang.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <mpisnap/mpisnap.hpp>

#include "storage/fs.hpp"

namespace mpisnap::testing {
namespace {

struct Step {
  std::int64_t step = 0;
  std::int64_t sum = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(sum));
  }
};

std::string env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// A fresh directory (rank 0 empties it) and the config of the test: every N safe points from
// MPISNAP_TEST_EVERY (default 1), triggers as the environment says.
Config fresh_config(bool wipe = true) {
  Config cfg = Config::defaults();
  cfg.every = std::strtoull(env("MPISNAP_TEST_EVERY", "1").c_str(), nullptr, 10);
  cfg.keep = 2;
  if (wipe) {
    if (world_rank() == 0) fs::remove_tree(cfg.directory);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  return cfg;
}

TEST(WindowOrder, WildcardProbeKeepsSenderOrder) {
  const int rank = world_rank();
  const std::string probe = env("MPISNAP_TEST_PROBE", "iprobe");
  const Config cfg = fresh_config();
  Session snap{MPI_COMM_WORLD, cfg};
  Step s;
  constexpr int kRounds = 40;
  for (int i = 0; i < kRounds; ++i) {
    if (rank == 1) {
      for (int tag = 1; tag <= 3; ++tag) {
        const std::int64_t v = i * 10 + tag;
        MPI_Send(&v, 1, MPI_INT64_T, 0, tag, MPI_COMM_WORLD);
      }
    } else if (rank == 0) {
      std::int64_t got[3] = {};
      int tags[3] = {};
      int n = 0;
      MPI_Status st;
      if (probe == "probe") {
        MPI_Probe(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &st);
        EXPECT_EQ(st.MPI_TAG, 2);
      } else if (probe == "improbe") {
        // One attempt: in the window it may hold the tag-2 message and match nothing.
        int flag = 0;
        MPI_Message m;
        MPI_Improbe(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &flag, &m, &st);
        if (flag) {
          MPI_Mrecv(&got[n], 1, MPI_INT64_T, &m, &st);
          tags[n++] = st.MPI_TAG;
        }
      } else {
        int flag = 0;
        while (!flag) MPI_Iprobe(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &flag, &st);
        EXPECT_EQ(st.MPI_TAG, 2);
      }
      while (n < 3) {
        MPI_Recv(&got[n], 1, MPI_INT64_T, 1, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        tags[n++] = st.MPI_TAG;
      }
      if (probe == "improbe" && tags[0] == 2) {  // matched at once; the rest in sender order
        EXPECT_EQ(tags[1], 1) << "round " << i << ": the tag-1 message is older than the tag-3 one";
        EXPECT_EQ(tags[2], 3) << "round " << i;
      } else {
        for (int k = 0; k < 3; ++k) EXPECT_EQ(tags[k], k + 1) << "round " << i << ": sender order broken";
      }
      for (int k = 0; k < 3; ++k) EXPECT_EQ(got[k], i * 10 + tags[k]) << "round " << i;
    }
    ++s.step;
    snap.checkpoint_point(s);
  }
  snap.flush();
  if (cfg.every > 0) EXPECT_GT(snap.stats().checkpoints, 0u);
}

TEST(WindowOrder, HeldBeforeDrained) {
  const int rank = world_rank();
  Session snap{MPI_COMM_WORLD, fresh_config()};
  Step s;
  for (int i = 0; i < 20; ++i) {
    const std::int64_t first = 2 * i + 1, second = 2 * i + 2;
    MPI_Send(&first, 1, MPI_INT64_T, rank, 5, MPI_COMM_WORLD);
    int flag = 0;
    MPI_Status st;
    while (!flag) MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    MPI_Send(&second, 1, MPI_INT64_T, rank, 5, MPI_COMM_WORLD);
    ++s.step;
    snap.checkpoint_point(s);
    std::int64_t a = 0, b = 0;
    MPI_Recv(&a, 1, MPI_INT64_T, rank, MPI_ANY_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Recv(&b, 1, MPI_INT64_T, MPI_ANY_SOURCE, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    EXPECT_EQ(a, first) << "round " << i << ": a rank's messages to itself came out of order";
    EXPECT_EQ(b, second) << "round " << i;
  }
  snap.flush();
  EXPECT_GT(snap.stats().checkpoints, 0u);
}

// Ranks 0 and 1 lag: they sleep, rank 0 (the agreement's coordinator) starts a round, and both
// reach their safe point, where they must wait for every rank's word on the round. The last rank
// is long past that safe point, inside what comes next, and must give its word from there.
void lag_and_request(Session& snap, int i) {
  if (world_rank() <= 1) {
    ::usleep(5000);
    if (world_rank() == 0 && i % 2 == 0) snap.request_checkpoint();
  }
}

MPI_Comm make_comm(const std::string& kind, int i) {
  MPI_Comm c = MPI_COMM_NULL;
  const int rank = world_rank(), size = world_size();
  if (kind == "split") {
    MPI_Comm_split(MPI_COMM_WORLD, (rank + i) % 2, size - rank, &c);
  } else if (kind == "create") {
    MPI_Group g;
    MPI_Comm_group(MPI_COMM_WORLD, &g);
    MPI_Comm_create(MPI_COMM_WORLD, g, &c);
    MPI_Group_free(&g);
  } else if (kind == "cart") {
    int dims[1] = {size}, periods[1] = {1};
    MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &c);
  } else if (kind == "split_type") {
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &c);
  } else {
    MPI_Comm_dup(MPI_COMM_WORLD, &c);
  }
  return c;
}

TEST(TriggerRound, ConstructorWhileRoundPending) {
  const std::string kind = env("MPISNAP_TEST_CTOR", "dup");
  Config cfg = fresh_config();
  cfg.every = 0;
  Session snap{MPI_COMM_WORLD, cfg};
  Step s;
  for (int i = 0; i < 40; ++i) {
    MPI_Comm c = make_comm(kind, i);
    ASSERT_NE(c, MPI_COMM_NULL);
    int n = 0;
    MPI_Comm_size(c, &n);
    s.sum += n;
    MPI_Comm_free(&c);
    lag_and_request(snap, i);
    ++s.step;
    snap.checkpoint_point(s);
  }
  snap.flush();
  unsigned long long taken = snap.stats().checkpoints, least = 0;
  MPI_Allreduce(&taken, &least, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  EXPECT_GT(least, 0u);
}

TEST(TriggerRound, SpinWaitWhileRoundPending) {
  const std::string spin = env("MPISNAP_TEST_SPIN", "iprobe");
  const int rank = world_rank();
  Config cfg = fresh_config();
  cfg.every = 0;
  Session snap{MPI_COMM_WORLD, cfg};
  Step s;
  for (int i = 0; i < 40; ++i) {
    lag_and_request(snap, i);
    ++s.step;
    snap.checkpoint_point(s);
    // Rank 0, which joined the round before its safe point and waited there for every rank's word,
    // sends only after it; the last rank waits for that message by spinning.
    const int last = world_size() - 1;
    std::int64_t v = i, got = -1;
    if (rank == 0) {
      MPI_Send(&v, 1, MPI_INT64_T, last, 9, MPI_COMM_WORLD);
    } else if (rank == last) {
      int flag = 0;
      MPI_Status st;
      if (spin == "iprobe" || spin == "improbe") {
        MPI_Message m = MPI_MESSAGE_NULL;
        while (!flag) {
          if (spin == "iprobe") MPI_Iprobe(0, 9, MPI_COMM_WORLD, &flag, &st);
          else MPI_Improbe(0, 9, MPI_COMM_WORLD, &flag, &m, &st);
        }
        if (spin == "iprobe") MPI_Recv(&got, 1, MPI_INT64_T, 0, 9, MPI_COMM_WORLD, &st);
        else MPI_Mrecv(&got, 1, MPI_INT64_T, &m, &st);
      } else {
        MPI_Request r;
        MPI_Irecv(&got, 1, MPI_INT64_T, 0, 9, MPI_COMM_WORLD, &r);
        int index = 0, outcount = 0;
        while (!flag) {
          if (spin == "test") {
            MPI_Test(&r, &flag, &st);
          } else if (spin == "testany") {
            MPI_Testany(1, &r, &index, &flag, &st);
          } else if (spin == "testsome") {
            MPI_Testsome(1, &r, &outcount, &index, &st);
            flag = outcount > 0;
          } else {
            MPI_Testall(1, &r, &flag, &st);
          }
        }
      }
      EXPECT_EQ(got, v);
      s.sum += got;
    }
  }
  snap.flush();
  unsigned long long taken = snap.stats().checkpoints, least = 0;
  MPI_Allreduce(&taken, &least, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  EXPECT_GT(least, 0u);
}

// Every rank but 0 passes its one safe point and goes into Session::flush(); rank 0 lags, starts a
// round, and waits at that safe point for everyone's word, which the others give from flush().
TEST(TriggerRound, FlushWhileRoundPending) {
  const int rank = world_rank();
  Config cfg = fresh_config();
  cfg.every = 0;
  Session snap{MPI_COMM_WORLD, cfg};
  Step s;
  if (rank == 0) {
    ::usleep(100000);
    snap.request_checkpoint();
  }
  ++s.step;
  snap.checkpoint_point(s);
  snap.flush();
  EXPECT_EQ(snap.safe_point(), 1u);
}

// Constructors on a parent whose MPI_Comm_idup calls are still in flight (MPICH comm_idup_comm),
// and MPI_Request_get_status on MPI_REQUEST_NULL filling the whole empty status (MPICH rqstatus).
TEST(Constructors, WhileIdupsInFlight) {
  Config cfg = fresh_config();
  cfg.every = 0;
  Session snap{MPI_COMM_WORLD, cfg};
  MPI_Comm idups[2], dup = MPI_COMM_NULL, split = MPI_COMM_NULL;
  MPI_Request reqs[2];
  for (int i = 0; i < 2; ++i) MPI_Comm_idup(MPI_COMM_WORLD, &idups[i], &reqs[i]);
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  MPI_Comm_split(MPI_COMM_WORLD, world_rank() % 2, 0, &split);
  MPI_Waitall(2, reqs, MPI_STATUSES_IGNORE);
  for (MPI_Comm* c : {&idups[0], &idups[1], &dup, &split}) {
    int n = 0;
    MPI_Comm_size(*c, &n);
    EXPECT_GT(n, 0);
    MPI_Comm_free(c);
  }
  MPI_Status st;
  st.MPI_SOURCE = 5;
  st.MPI_TAG = 7;
  st.MPI_ERROR = 12345;
  int flag = 0;
  MPI_Request_get_status(MPI_REQUEST_NULL, &flag, &st);
  EXPECT_TRUE(flag);
  EXPECT_EQ(st.MPI_SOURCE, MPI_ANY_SOURCE);
  EXPECT_EQ(st.MPI_TAG, MPI_ANY_TAG);
  EXPECT_EQ(st.MPI_ERROR, MPI_SUCCESS);
}

// Phase p's communicator: a duplicate of the world (MPI_Comm_idup with MPISNAP_TEST_IDUP=1, and
// of `other` instead when given), or a split over other sub-groups.
MPI_Comm phase_comm(int p, MPI_Comm other = MPI_COMM_NULL) {
  const int rank = world_rank(), size = world_size();
  MPI_Comm c = MPI_COMM_NULL;
  MPI_Request r;
  switch (p % 3) {
    case 0:
      if (other != MPI_COMM_NULL) {
        MPI_Comm_dup(other, &c);
      } else if (env("MPISNAP_TEST_IDUP", "0") == "1") {
        MPI_Comm_idup(MPI_COMM_WORLD, &c, &r);
        MPI_Wait(&r, MPI_STATUS_IGNORE);
      } else {
        MPI_Comm_dup(MPI_COMM_WORLD, &c);
      }
      break;
    case 1: MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &c); break;
    default: MPI_Comm_split(MPI_COMM_WORLD, rank < size / 2, -rank, &c); break;
  }
  return c;
}

// The world rank of this rank's left neighbour in the ring over `c`.
int left_neighbour_in_world(MPI_Comm c) {
  int r = 0, n = 1;
  MPI_Comm_rank(c, &r);
  MPI_Comm_size(c, &n);
  int left = (r + n - 1) % n, left_world = 0;
  MPI_Group g, wg;
  MPI_Comm_group(c, &g);
  MPI_Comm_group(MPI_COMM_WORLD, &wg);
  MPI_Group_translate_ranks(g, 1, &left, wg, &left_world);
  MPI_Group_free(&g);
  MPI_Group_free(&wg);
  return left_world;
}

constexpr int kPhases = 6;
constexpr int kStopAfter = 3;

// Returns false when it stopped as if killed.
bool run_phases(Session& snap, Step& s, bool resumed, bool stop) {
  MPI_Comm keep = MPI_COMM_NULL;  // a communicator that lives through every phase
  MPI_Comm_dup(MPI_COMM_WORLD, &keep);
  // MPISNAP_TEST_MISMATCH=1: the restarted run makes phase 3's communicator from another parent.
  const bool mismatch = resumed && env("MPISNAP_TEST_MISMATCH", "0") == "1";
  for (int p = static_cast<int>(s.step); p < kPhases; ++p) {
    MPI_Comm c = phase_comm(p, mismatch && p == kStopAfter ? keep : MPI_COMM_NULL);
    int r = 0, n = 1;
    MPI_Comm_rank(c, &r);
    MPI_Comm_size(c, &n);
    const int right = (r + 1) % n, left = (r + n - 1) % n;
    MPI_Request sent = MPI_REQUEST_NULL;
    std::int64_t v = (p + 1) * 1000 + world_rank();
    if (!resumed) {
      // In flight at the checkpoint below. Sent without waiting for it there: on a communicator of one
      // rank this is a message to self, which a blocking send need not complete before it is received
      // (MPICH's does not); the snapshot drains it, and the wait after the receive (or the flush) ends.
      MPI_Isend(&v, 1, MPI_INT64_T, right, p, c, &sent);
      const std::int64_t w = -v;
      MPI_Send(&w, 1, MPI_INT64_T, (world_rank() + 1) % world_size(), 77, keep);
      s.step = p;
      snap.checkpoint_point(s);
    }
    resumed = false;
    if (stop && p == kStopAfter) {
      snap.flush();
      MPI_Wait(&sent, MPI_STATUS_IGNORE);
      return false;
    }
    std::int64_t got = 0, got_keep = 0;
    MPI_Status st;
    MPI_Recv(&got, 1, MPI_INT64_T, left, p, c, &st);
    const int keep_left = (world_rank() + world_size() - 1) % world_size();
    MPI_Recv(&got_keep, 1, MPI_INT64_T, keep_left, 77, keep, &st);
    MPI_Wait(&sent, MPI_STATUS_IGNORE);
    EXPECT_EQ(got, (p + 1) * 1000 + left_neighbour_in_world(c)) << "phase " << p;
    EXPECT_EQ(got_keep, -((p + 1) * 1000 + keep_left)) << "phase " << p;
    s.sum += got;
    MPI_Comm_free(&c);
  }
  MPI_Comm_free(&keep);
  return true;
}

TEST(CommPhases, Phase1) {
  Session snap{MPI_COMM_WORLD, fresh_config()};
  Step s;
  ASSERT_FALSE(snap.restore(s));
  EXPECT_FALSE(run_phases(snap, s, false, true));
  MPI_Barrier(MPI_COMM_WORLD);
  // The job ends here with phase 3's messages in flight: as if it had been killed after the commit.
}

TEST(CommPhases, Phase2) {
  Session snap{MPI_COMM_WORLD, fresh_config(false)};
  Step s;
  ASSERT_TRUE(snap.restore(s));
  EXPECT_EQ(s.step, kStopAfter);
  EXPECT_TRUE(run_phases(snap, s, true, false));
  snap.flush();
  // Every phase's message arrived exactly once, the restored ones included: the sum carried in the
  // state (phases before the checkpoint) plus the phases after it is the sum over all phases.
  std::int64_t expect = 0;
  for (int p = 0; p < kPhases; ++p) {
    MPI_Comm c = phase_comm(p);
    expect += (p + 1) * 1000 + left_neighbour_in_world(c);
    MPI_Comm_free(&c);
  }
  EXPECT_EQ(s.sum, expect);
}

}  // namespace
}  // namespace mpisnap::testing
