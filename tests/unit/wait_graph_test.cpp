// Deadlock detection's decision (deadlock/wait_graph.hpp) on made-up reports: the deadlocks of the
// issue's test set are found with their cycle, what only looks stuck is not, and the wire format
// round-trips.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "deadlock/wait_graph.hpp"

namespace mpisnap::deadlock {
namespace {

Wait recv(int from, int tag = 0, std::uint64_t comm = 0) { return Wait{false, comm, from, tag, {}}; }
Wait recv_any(std::vector<int> members, int tag = kAnyTag) { return Wait{false, 0, kAnySource, tag, std::move(members)}; }
Wait send(int to, int tag = 0, std::uint64_t comm = 0) { return Wait{true, comm, to, tag, {}}; }
// A blocking collective: the `round`th collective call on `comm`, whose members are `members`.
Wait coll(std::uint64_t round, std::vector<int> members, std::uint64_t comm = 0) {
  Wait w;
  w.collective = true;
  w.comm = comm;
  w.round = round;
  w.member_runs = runs_of(std::move(members), 256);
  return w;
}

Report report(int rank, std::string call, std::vector<Wait> waits, std::vector<Count> counts = {}) {
  Report r;
  r.rank = rank;
  r.episode = 7;
  r.call = std::move(call);
  r.waits = std::move(waits);
  r.counts = std::move(counts);
  return r;
}

std::map<int, Report> of(std::vector<Report> rs) {
  std::map<int, Report> m;
  for (Report& r : rs) m[r.rank] = std::move(r);
  return m;
}

TEST(WaitGraph, HeadToHeadSendsAreStuck) {
  const auto reports = of({report(0, "MPI_Send", {send(1)}, {{0, 1, 1, 0}}), report(1, "MPI_Send", {send(0)}, {{0, 0, 1, 0}})});
  EXPECT_EQ(stuck_ranks(reports), (std::vector<int>{0, 1}));
  const std::string text = describe(reports, stuck_ranks(reports));
  EXPECT_NE(text.find("cycle 0 -> 1 -> 0"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 0 in MPI_Send: a send to rank 1 (tag 0, communicator 0)"), std::string::npos) << text;
}

TEST(WaitGraph, ASendIsFreedByAMatchingReceiveOnly) {
  // Rank 1 waits in a receive from rank 0 with the send's tag: the send will complete.
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Send", {send(1, 5)}), report(1, "MPI_Recv", {recv(0, 5)})})).empty());
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Send", {send(1, 5)}), report(1, "MPI_Recv", {recv_any({0, 1})})})).empty());
  // ... but not one with another tag, and then nothing is in flight to rank 1 either.
  EXPECT_EQ(stuck_ranks(of({report(0, "MPI_Send", {send(1, 5)}), report(1, "MPI_Recv", {recv(0, 6)})})),
            (std::vector<int>{0, 1}));
}

TEST(WaitGraph, AReceiveFromTheWrongRank) {
  // 0 waits for 2, 2 for 1, 1 for 0; rank 1's message to 0 is in flight but 0 does not accept it.
  const auto reports = of({report(0, "MPI_Recv", {recv(2)}, {{0, 1, 0, 0}}),
                           report(1, "MPI_Recv", {recv(0)}, {{0, 0, 1, 0}}),
                           report(2, "MPI_Recv", {recv(1)})});
  EXPECT_EQ(stuck_ranks(reports), (std::vector<int>{0, 1, 2}));
  EXPECT_NE(describe(reports, {0, 1, 2}).find("cycle 0 -> 2 -> 1 -> 0"), std::string::npos);
}

TEST(WaitGraph, AMessageOnItsWayWakesItsReceiver) {
  // Rank 1 sent rank 0 one message that rank 0 has not taken yet: rank 0 will get it.
  const auto reports = of({report(0, "MPI_Recv", {recv(1)}, {{0, 1, 0, 3}}), report(1, "MPI_Recv", {recv(0)}, {{0, 0, 4, 0}})});
  EXPECT_TRUE(stuck_ranks(reports).empty());
}

TEST(WaitGraph, AWildcardNobodySendsToIsAKnot) {
  const std::vector<int> all = {0, 1, 2};
  const auto reports = of({report(0, "MPI_Recv", {recv_any(all)}), report(1, "MPI_Recv", {recv(0)}),
                           report(2, "MPI_Recv", {recv(0)})});
  EXPECT_EQ(stuck_ranks(reports), all);
  // One member still computing (no report) may send: nobody is stuck.
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Recv", {recv_any(all)}), report(1, "MPI_Recv", {recv(0)})})).empty());
}

TEST(WaitGraph, ARingOfSynchronousSends) {
  std::vector<Report> rs;
  for (int r = 0; r < 4; ++r) rs.push_back(report(r, "MPI_Ssend", {send((r + 1) % 4)}, {{0, (r + 1) % 4, 1, 0}}));
  const auto reports = of(rs);
  EXPECT_EQ(stuck_ranks(reports), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_NE(describe(reports, stuck_ranks(reports)).find("cycle 0 -> 1 -> 2 -> 3 -> 0"), std::string::npos);
}

TEST(WaitGraph, WhatOnlyLooksStuckIsNot) {
  // A late sender (rank 1 sleeps: no report); a rank in a wait the library cannot describe; and a
  // stuck-looking pair whose reports come from different epochs (inconsistent).
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Recv", {recv(1)})})).empty());
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Recv", {recv(1)}), report(1, "MPI_Wait", {})})).empty());
  auto reports = of({report(0, "MPI_Send", {send(1)}), report(1, "MPI_Send", {send(0)})});
  reports[1].epoch = 1;
  EXPECT_TRUE(stuck_ranks(reports).empty());
  // Those waiting on a stuck pair are stuck too, and listed after the cycle.
  auto chain = of({report(0, "MPI_Send", {send(1)}), report(1, "MPI_Send", {send(0)}), report(2, "MPI_Recv", {recv(1)})});
  EXPECT_EQ(stuck_ranks(chain), (std::vector<int>{0, 1, 2}));
  EXPECT_NE(describe(chain, {0, 1, 2}).find("and, waiting on them:\n  rank 2 in MPI_Recv"), std::string::npos);
}

TEST(WaitGraph, ACollectiveWaitsForEveryMember) {
  // Rank 0 in MPI_Barrier, rank 1 in a receive from rank 0 that rank 0 sends only after it.
  const auto pair = of({report(0, "MPI_Barrier", {coll(3, {0, 1})}), report(1, "MPI_Recv", {recv(0, 8)})});
  EXPECT_EQ(stuck_ranks(pair), (std::vector<int>{0, 1}));
  const std::string text = describe(pair, stuck_ranks(pair));
  EXPECT_NE(text.find("cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Barrier: collective call 3 on communicator 0, which rank 1 "
                      "never joins\n  rank 1 in MPI_Recv: a receive from rank 0 (tag 8, communicator 0)"),
            std::string::npos)
      << text;
  // Everyone in the same call (a slow collective): it ends. A member not reporting (computing) may
  // still come; a member in the same call on another communicator, or in another call, never does.
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Allreduce", {coll(3, {0, 1, 2})}), report(1, "MPI_Allreduce", {coll(3, {0, 1, 2})}),
                              report(2, "MPI_Allreduce", {coll(3, {0, 1, 2})})}))
                  .empty());
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Barrier", {coll(3, {0, 1, 2})}), report(1, "MPI_Barrier", {coll(3, {0, 1, 2})})}))
                  .empty());
  const auto other_comm = of({report(0, "MPI_Barrier", {coll(3, {0, 1})}), report(1, "MPI_Barrier", {coll(3, {0, 1}, 7)})});
  EXPECT_EQ(stuck_ranks(other_comm), (std::vector<int>{0, 1}));
  const auto other_round = of({report(0, "MPI_Bcast", {coll(4, {0, 1})}), report(1, "MPI_Bcast", {coll(5, {0, 1})})});
  EXPECT_EQ(stuck_ranks(other_round), (std::vector<int>{0, 1}));
  // Members of the collective's communicator only: ranks 2 and 3 (not members) stuck on each other
  // do not block the collective of ranks 0 and 1.
  EXPECT_EQ(stuck_ranks(of({report(0, "MPI_Barrier", {coll(1, {0, 1}, 4)}), report(1, "MPI_Barrier", {coll(1, {0, 1}, 4)}),
                            report(2, "MPI_Recv", {recv(3, 1)}), report(3, "MPI_Recv", {recv(2, 1)})})),
            (std::vector<int>{2, 3}));
  // Two in a collective, the third in a receive from one of them: all stuck; the cycle goes through
  // the absent member, and the other rank in the collective waits on them.
  const auto three = of({report(0, "MPI_Allreduce", {coll(9, {0, 1, 2})}), report(1, "MPI_Allreduce", {coll(9, {0, 1, 2})}),
                         report(2, "MPI_Recv", {recv(0, 1)})});
  EXPECT_EQ(stuck_ranks(three), (std::vector<int>{0, 1, 2}));
  EXPECT_NE(describe(three, {0, 1, 2}).find("cycle 0 -> 2 -> 0:"), std::string::npos) << describe(three, {0, 1, 2});
  // Members too scattered to send: never judged stuck.
  Wait unknown = coll(1, {});
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Barrier", {unknown}), report(1, "MPI_Recv", {recv(0)})})).empty());
}

TEST(WaitGraph, MembersGoAsRuns) {
  const auto runs = runs_of({7, 1, 2, 3, 9, 8, 3, 20}, 8);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].first, 1);
  EXPECT_EQ(runs[0].count, 3);
  EXPECT_EQ(runs[1].first, 7);
  EXPECT_EQ(runs[1].count, 3);
  EXPECT_EQ(runs[2].first, 20);
  EXPECT_EQ(runs[2].count, 1);
  EXPECT_TRUE(runs_of({0, 2, 4, 6}, 3).empty()) << "more runs than allowed: unknown";
  std::vector<int> world(65536);
  for (int i = 0; i < 65536; ++i) world[static_cast<std::size_t>(i)] = 65535 - i;
  EXPECT_EQ(runs_of(world, 1).size(), 1u);
}

// MPI_Waitall needs every receive: one stuck receive keeps it, whatever the others (and the send
// requests it does not describe) do. MPI_Waitany and MPI_Waitsome need one: stuck only when all are.
TEST(WaitGraph, AWaitallIsStuckOnOneReceiveAWaitanyOnAllOfThem) {
  // Rank 0 waits for rank 1 (which waits for rank 0) and for rank 2 (computing: no report).
  Report waitall = report(0, "MPI_Waitall", {recv(2, 4), recv(1, 3)});
  waitall.all = true;
  const auto reports = of({waitall, report(1, "MPI_Recv", {recv(0, 3)})});
  EXPECT_EQ(stuck_ranks(reports), (std::vector<int>{0, 1}));
  const std::string text = describe(reports, stuck_ranks(reports));
  // (only what holds it: the receive from rank 2 may yet complete)
  EXPECT_NE(text.find("cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Waitall: a receive from rank 1 (tag 3, communicator 0)\n"),
            std::string::npos)
      << text;
  EXPECT_TRUE(stuck_ranks(of({report(0, "MPI_Waitany", {recv(2, 4), recv(1, 3)}), report(1, "MPI_Recv", {recv(0, 3)})})).empty());
  // Both receives of the MPI_Waitall stuck: both named, joined by "and".
  waitall.waits = {recv(2, 4), recv(1, 3)};
  const auto both = of({waitall, report(1, "MPI_Recv", {recv(0, 3)}), report(2, "MPI_Recv", {recv(0, 4)})});
  EXPECT_EQ(stuck_ranks(both), (std::vector<int>{0, 1, 2}));
  EXPECT_NE(describe(both, {0, 1, 2}).find("rank 0 in MPI_Waitall: a receive from rank 2 (tag 4, communicator 0) and a "
                                           "receive from rank 1 (tag 3, communicator 0)"),
            std::string::npos)
      << describe(both, {0, 1, 2});
  // A message on its way to each receive: the MPI_Waitall completes.
  waitall.counts = {{0, 1, 0, 0}, {0, 2, 0, 0}};
  EXPECT_TRUE(stuck_ranks(of({waitall, report(1, "MPI_Recv", {recv(0, 3)}, {{0, 0, 1, 0}}),
                              report(2, "MPI_Recv", {recv(0, 4)}, {{0, 0, 1, 0}})}))
                  .empty());
}

TEST(WaitGraph, ReportsRoundTripOnTheWire) {
  Report r = report(3, "MPI_Waitany", {recv_any({0, 1, 2, 3}, 9), send(2, kAnyTag, 5), coll(1ull << 40, {4, 5, 6, 9}, 2)},
                    {{5, 2, 10, 11}, {0, 1, 0, 4}});
  r.episode = 123456789;
  r.epoch = 4;
  const std::vector<std::uint64_t> w = encode(r);
  const Report back = decode(w.data(), w.size());
  EXPECT_EQ(back.rank, 3);
  EXPECT_EQ(back.episode, r.episode);
  EXPECT_EQ(back.epoch, 4u);
  EXPECT_EQ(back.call, "MPI_Waitany");
  EXPECT_FALSE(back.all);
  r.all = true;
  EXPECT_TRUE(decode(encode(r).data(), encode(r).size()).all);
  ASSERT_EQ(back.waits.size(), 3u);
  EXPECT_TRUE(back.waits[2].collective);
  EXPECT_FALSE(back.waits[1].collective);
  EXPECT_EQ(back.waits[2].round, 1ull << 40);
  EXPECT_EQ(back.waits[2].comm, 2u);
  ASSERT_EQ(back.waits[2].member_runs.size(), 2u);
  EXPECT_EQ(back.waits[2].member_runs[1].first, 9);
  EXPECT_EQ(back.waits[2].member_runs[0].count, 3);
  EXPECT_EQ(back.waits[0].peer, kAnySource);
  EXPECT_EQ(back.waits[0].members, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(back.waits[1].tag, kAnyTag);
  EXPECT_TRUE(back.waits[1].send);
  ASSERT_EQ(back.counts.size(), 2u);
  EXPECT_EQ(back.counts[0].received, 11u);
  EXPECT_THROW(decode(w.data(), w.size() - 1), std::runtime_error);
}

}  // namespace
}  // namespace mpisnap::deadlock

namespace mpisnap::deadlock {
namespace {

// The monitor: a stuck set is a deadlock only when every member confirms it is still in the
// episode it reported; a stale report (its rank went on) is dropped, and so is a silent rank's.
TEST(DeadlockMonitor, ConfirmsBeforeItConcludes) {
  Monitor m;
  Monitor::Question q;
  EXPECT_FALSE(m.propose(0, q));
  m.report(report(0, "MPI_Send", {send(1)}));
  EXPECT_FALSE(m.propose(0, q));  // rank 1 has not reported: it may receive
  m.report(report(1, "MPI_Send", {send(0)}));
  ASSERT_TRUE(m.propose(1.0, q));
  EXPECT_EQ(q.episodes.size(), 2u);
  Monitor::Question again;
  EXPECT_FALSE(m.propose(1.1, again));  // one question at a time
  m.answer(0, q.round, 7, true);
  EXPECT_EQ(m.verdict(), "");
  m.answer(1, q.round, 7, true);
  EXPECT_NE(m.verdict().find("cycle 0 -> 1 -> 0"), std::string::npos);
}

TEST(DeadlockMonitor, AStaleReportEndsTheRound) {
  Monitor m;
  Monitor::Question q;
  m.report(report(0, "MPI_Send", {send(1)}));
  m.report(report(1, "MPI_Send", {send(0)}));
  ASSERT_TRUE(m.propose(0, q));
  m.answer(0, q.round, 7, true);
  m.answer(1, q.round, 7, false);  // rank 1 left that call
  EXPECT_EQ(m.verdict(), "");
  EXPECT_FALSE(m.propose(0, q));  // its report is gone: nothing stuck
  // An answer to an older round is ignored.
  m.report(report(1, "MPI_Send", {send(0)}));
  ASSERT_TRUE(m.propose(2, q));
  m.answer(0, q.round - 1, 7, true);
  m.answer(1, q.round - 1, 7, true);
  EXPECT_EQ(m.verdict(), "");
  // Unanswered for too long: the silent ranks' reports are dropped.
  m.expire(2.5, 1.0);
  EXPECT_FALSE(m.propose(3, q));
  m.answer(0, q.round, 7, true);
  m.expire(10, 1.0);
  EXPECT_FALSE(m.propose(11, q));
}

}  // namespace
}  // namespace mpisnap::deadlock
