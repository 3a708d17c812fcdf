// Channel state on crafted patterns, at any rank count: rank 0 receives, every other rank sends.
//
// checkpoint 1 (blocking calls):
//   sender j:  Send(a, tag 1)  Send(b, tag 2)  | safe point |  Send(c, tag 3)
//   rank 0:    Recv(j, tag 1)                  | safe point |  Recv(j, tag 2)  Recv(j, tag 3)
//   => rank 0's channel state is exactly {b from every j}: a was received before the cut, c was
//      sent after it.
// checkpoint 2 (non-blocking, wildcards, probes):
//   sender j:  Isend(d, tag 4) Wait            | safe point |  Isend(e, tag 5) Wait
//   rank 0:                                    | safe point |  Irecv(ANY, tag 4) x (n-1) + Waitall;
//                                                              Probe(ANY, tag 5) + Recv
//   => exactly {d from every j}.
// checkpoint 3 (MPI_Rsend/MPI_Irsend to receives posted in the window of checkpoint 2, then
//   MPI_Sendrecv around a ring, all before the cut) => nothing in flight.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include <mpisnap/mpisnap.hpp>

#include "checkpoint_inspect.hpp"
#include "storage/fs.hpp"

namespace mpisnap::testing {
namespace {

struct Nothing {
  template <class Ar>
  void serialize(Ar&) {}
};

enum Kind : std::int64_t { A = 1, B, C, D, E, F };

std::string fresh_dir() {
  const char* d = std::getenv("MPISNAP_DIR");
  std::string dir = d ? d : "mpisnap-test-checkpoints";
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) mpisnap::fs::remove_tree(dir);
  MPI_Barrier(MPI_COMM_WORLD);
  return dir;
}

// (source, kind) of every recorded message in one rank's log.
std::multiset<std::pair<std::int64_t, std::int64_t>> recorded(const RankCheckpoint& cp) {
  std::multiset<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& m : cp.channel) {
    std::int64_t v[2];
    EXPECT_EQ(m.bytes.size(), sizeof v);
    std::memcpy(v, m.bytes.data(), sizeof v);
    EXPECT_EQ(v[0], m.source) << "payload names its sender";
    out.insert({v[0], v[1]});
  }
  return out;
}

TEST(ChannelExactness, CraftedPatterns) {
  const std::string dir = fresh_dir();
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ASSERT_GE(size, 2);
  Config cfg;
  cfg.directory = dir;
  cfg.every = 1;
  cfg.keep = 10;
  Session snap{MPI_COMM_WORLD, cfg};
  Nothing state;
  auto msg = [&](Kind k) { return std::array<std::int64_t, 2>{rank, k}; };
  auto expect = [&](const std::array<std::int64_t, 2>& got, int from, Kind k) {
    EXPECT_EQ(got[0], from);
    EXPECT_EQ(got[1], k);
  };

  // --- checkpoint 1
  if (rank != 0) {
    auto a = msg(A), b = msg(B);
    MPI_Send(a.data(), 2, MPI_INT64_T, 0, 1, MPI_COMM_WORLD);
    MPI_Send(b.data(), 2, MPI_INT64_T, 0, 2, MPI_COMM_WORLD);
  } else {
    for (int j = 1; j < size; ++j) {
      std::array<std::int64_t, 2> got{};
      MPI_Recv(got.data(), 2, MPI_INT64_T, j, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      expect(got, j, A);
    }
  }
  snap.checkpoint_point(state);
  if (rank != 0) {
    auto c = msg(C);
    MPI_Send(c.data(), 2, MPI_INT64_T, 0, 3, MPI_COMM_WORLD);
  } else {
    for (int j = 1; j < size; ++j) {
      std::array<std::int64_t, 2> got{};
      MPI_Status st;
      MPI_Recv(got.data(), 2, MPI_INT64_T, j, 2, MPI_COMM_WORLD, &st);
      expect(got, j, B);
      int count = -1;
      MPI_Get_count(&st, MPI_INT64_T, &count);
      EXPECT_EQ(count, 2);
      EXPECT_EQ(st.MPI_SOURCE, j);
      EXPECT_EQ(st.MPI_TAG, 2);
      MPI_Recv(got.data(), 2, MPI_INT64_T, j, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      expect(got, j, C);
    }
  }

  // --- checkpoint 2
  if (rank != 0) {
    auto d = msg(D);
    MPI_Request r;
    MPI_Isend(d.data(), 2, MPI_INT64_T, 0, 4, MPI_COMM_WORLD, &r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  snap.checkpoint_point(state);
  if (rank != 0) {
    auto e = msg(E);
    MPI_Request r;
    MPI_Isend(e.data(), 2, MPI_INT64_T, 0, 5, MPI_COMM_WORLD, &r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  } else {
    std::vector<std::array<std::int64_t, 2>> got(static_cast<std::size_t>(size - 1));
    std::vector<MPI_Request> reqs(got.size());
    for (std::size_t i = 0; i < got.size(); ++i)
      MPI_Irecv(got[i].data(), 2, MPI_INT64_T, MPI_ANY_SOURCE, 4, MPI_COMM_WORLD, &reqs[i]);
    std::vector<MPI_Status> sts(got.size());
    MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), sts.data());
    std::set<std::int64_t> from;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i][1], D);
      EXPECT_EQ(sts[i].MPI_SOURCE, got[i][0]);
      from.insert(got[i][0]);
      EXPECT_EQ(reqs[i], MPI_REQUEST_NULL);
    }
    EXPECT_EQ(from.size(), got.size());
    for (int k = 1; k < size; ++k) {
      MPI_Status st;
      MPI_Probe(MPI_ANY_SOURCE, 5, MPI_COMM_WORLD, &st);
      int count = -1;
      MPI_Get_count(&st, MPI_INT64_T, &count);
      EXPECT_EQ(count, 2);
      std::array<std::int64_t, 2> e{};
      MPI_Recv(e.data(), 2, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      expect(e, st.MPI_SOURCE, E);
    }
  }

  // --- checkpoint 3: ready-mode sends to posted receives, then a ring of MPI_Sendrecv, before the cut
  if (rank == 0) {
    std::vector<std::array<std::int64_t, 2>> got(static_cast<std::size_t>(size - 1));
    std::vector<MPI_Request> reqs(got.size());
    for (int j = 1; j < size; ++j)
      MPI_Irecv(got[static_cast<std::size_t>(j - 1)].data(), 2, MPI_INT64_T, j, 9, MPI_COMM_WORLD,
                &reqs[static_cast<std::size_t>(j - 1)]);
    for (int j = 1; j < size; ++j) MPI_Send(nullptr, 0, MPI_INT64_T, j, 8, MPI_COMM_WORLD);  // "posted"
    MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    for (int j = 1; j < size; ++j) expect(got[static_cast<std::size_t>(j - 1)], j, F);
  } else {
    MPI_Status st;
    MPI_Recv(nullptr, 0, MPI_INT64_T, 0, 8, MPI_COMM_WORLD, &st);
    int count = -1;
    MPI_Get_count(&st, MPI_INT64_T, &count);
    EXPECT_EQ(count, 0) << "a zero-byte message";
    auto f = msg(F);
    if (rank % 2) {
      MPI_Rsend(f.data(), 2, MPI_INT64_T, 0, 9, MPI_COMM_WORLD);
    } else {
      MPI_Request r;
      MPI_Irsend(f.data(), 2, MPI_INT64_T, 0, 9, MPI_COMM_WORLD, &r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
  }
  {
    auto f = msg(F);
    std::array<std::int64_t, 2> got{};
    const int right = (rank + 1) % size, left = (rank + size - 1) % size;
    MPI_Status st;
    MPI_Sendrecv(f.data(), 2, MPI_INT64_T, right, 6, got.data(), 2, MPI_INT64_T, left, 6, MPI_COMM_WORLD, &st);
    expect(got, left, F);
  }
  snap.checkpoint_point(state);
  snap.flush();

  if (rank == 0) {
    const auto cps = load_committed(dir);
    ASSERT_EQ(cps.size(), 3u);
    std::multiset<std::pair<std::int64_t, std::int64_t>> want_b, want_d;
    for (int j = 1; j < size; ++j) {
      want_b.insert({j, B});
      want_d.insert({j, D});
    }
    EXPECT_EQ(recorded(cps[0].ranks[0]), want_b);
    EXPECT_EQ(recorded(cps[1].ranks[0]), want_d);
    EXPECT_TRUE(recorded(cps[2].ranks[0]).empty());
    for (const auto& cp : cps) {
      for (int j = 1; j < size; ++j) EXPECT_TRUE(cp.ranks[static_cast<std::size_t>(j)].channel.empty());
      const auto report = storage::check_channel_balance(cp.ranks);
      EXPECT_TRUE(report.ok()) << (report.violations.empty() ? "" : report.violations[0]);
      EXPECT_EQ(cp.manifest.safe_point, cp.id - cps[0].id + 1);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace mpisnap::testing
