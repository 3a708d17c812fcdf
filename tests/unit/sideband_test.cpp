// The side channel (sideband/port.hpp) and the trigger helper over it (triggers/triggers.hpp), with
// "ranks" as threads of this process talking TCP over this host's addresses: the tree connects
// (and refuses a stranger), the reduction and the messages go along it, and a rank whose main
// thread is away (asleep here; blocked inside MPI in a job) still takes part in a round, so the
// others' checkpoint is decided without it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <mpisnap/error.hpp>

#include "sideband/port.hpp"
#include "sideband_links.hpp"
#include "triggers/triggers.hpp"

namespace mpisnap::testing {
namespace {

using sideband::Endpoint;
using sideband::Links;
using sideband::Listener;
using sideband::Port;

TEST(Sideband, TheTreeConnectsEveryRankToItsParentAndChildren) {
  std::vector<Links> links = connect_all(6);
  EXPECT_EQ(links[0].parent, -1);
  EXPECT_EQ(links[0].children, (std::vector<int>{1, 2}));
  EXPECT_EQ(links[2].parent, 0);
  EXPECT_EQ(links[2].children, (std::vector<int>{5}));
  EXPECT_EQ(links[5].parent, 2);
  EXPECT_TRUE(links[5].children.empty());
  for (int r = 0; r < 6; ++r) {
    std::size_t expected = links[static_cast<std::size_t>(r)].children.size() + (r > 0 ? 1 : 0);
    EXPECT_EQ(links[static_cast<std::size_t>(r)].fd.size(), expected) << "rank " << r;
  }
}

TEST(Sideband, AListenerOfAnotherJobRefusesAndTheErrorNamesTheRanks) {
  // Rank 1 of job 7 finds, at rank 0's address, a rank 0 of job 8: refused; it says so in time.
  Listener l0, l1;
  std::vector<Endpoint> all = {l0.endpoint(), l1.endpoint()};
  std::thread parent([&] {
    try {
      sideband::connect_tree(0, 2, 8, l0, all, 2);
    } catch (const Error&) {
      // (its child never comes)
    }
  });
  try {
    sideband::connect_tree(1, 2, 7, l1, all, 1.5);
    ADD_FAILURE() << "connected to the wrong job";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rank 1"), std::string::npos) << what;
    EXPECT_NE(what.find("could not connect to rank 0"), std::string::npos) << what;
  }
  parent.join();
}

TEST(Sideband, TheReductionAndTheMessagesGoAlongTheTree) {
  constexpr int n = 7;
  std::vector<Links> links = connect_all(n);
  std::vector<std::unique_ptr<Port>> ports;
  for (int r = 0; r < n; ++r) ports.push_back(std::make_unique<Port>(r, std::move(links[static_cast<std::size_t>(r)])));
  // Two reductions in a row, the ranks starting them in different orders of time.
  for (std::uint64_t round = 1; round <= 2; ++round) {
    std::vector<std::thread> threads;
    std::vector<std::array<std::uint64_t, 3>> got(n);
    for (int r = 0; r < n; ++r)
      threads.emplace_back([&, r] {
        Port& p = *ports[static_cast<std::size_t>(r)];
        std::this_thread::sleep_for(std::chrono::milliseconds((n - r) * 3));
        const std::uint64_t in[3] = {static_cast<std::uint64_t>(r) * round, round, r == 3 ? 1u : 0u};
        p.start_reduce(in);
        std::uint64_t out[3];
        while (!p.reduce_done(out)) {
          p.wait(50, -1);
          ASSERT_TRUE(p.read()) << p.failure();
        }
        got[static_cast<std::size_t>(r)] = {out[0], out[1], out[2]};
      });
    for (auto& t : threads) t.join();
    for (int r = 0; r < n; ++r)
      EXPECT_EQ(got[static_cast<std::size_t>(r)], (std::array<std::uint64_t, 3>{6 * round, round, 1})) << "rank " << r;
  }
  // A message down to a child, one up to a parent.
  ports[0]->send(2, {protocol::AgreementMessage::Start, 9, 1, 0});
  ports[6]->send(2, {protocol::AgreementMessage::Request, 4, 2, 6});
  protocol::AgreementMessage m;
  std::vector<protocol::AgreementMessage> seen;
  for (int i = 0; i < 100 && seen.size() < 2; ++i) {
    ports[2]->wait(50, -1);
    ASSERT_TRUE(ports[2]->read());
    while (ports[2]->poll(m)) seen.push_back(m);
  }
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& s : seen) {
    if (s.from == 0) {
      EXPECT_EQ(s.type, protocol::AgreementMessage::Start);
      EXPECT_EQ(s.round, 9u);
    } else {
      EXPECT_EQ(s.from, 6);
      EXPECT_EQ(s.type, protocol::AgreementMessage::Request);
      EXPECT_EQ(s.kind_or_ok, 2u);
    }
  }
  EXPECT_EQ(ports[0]->messages_sent(), 1u);
}

TEST(Sideband, AClosedLinkIsAFailureUntilTheJobIsClosing) {
  std::vector<Links> links = connect_all(3);
  auto p0 = std::make_unique<Port>(0, std::move(links[0]));
  auto p1 = std::make_unique<Port>(1, std::move(links[1]));
  auto p2 = std::make_unique<Port>(2, std::move(links[2]));
  p1.reset();  // rank 1 is gone
  p0->wait(1000, -1);
  EXPECT_FALSE(p0->read());
  EXPECT_NE(p0->failure().find("rank 1 closed its connection"), std::string::npos) << p0->failure();
  p0->closing();
  p2->closing();
  p0.reset();
  p2->wait(1000, -1);
  EXPECT_TRUE(p2->read()) << p2->failure();
}

// The helper: ranks 0..4 run safe points; rank 3's main thread goes away (no safe point, no call
// into the library) for a second just after rank 0 asks for a checkpoint. The others must get
// their decision while it is away (its helper contributed for it), and every rank snapshots at the
// same safe point.
TEST(TriggerHelper, ARankWhoseMainThreadIsAwayStillTakesPart) {
  constexpr int n = 5;
  std::vector<Links> links = connect_all(n);
  std::vector<std::unique_ptr<triggers::Triggers>> t;
  triggers::Options options;
  options.signals = false;
  for (int r = 0; r < n; ++r) {
    t.push_back(std::make_unique<triggers::Triggers>(std::make_unique<Port>(r, std::move(links[static_cast<std::size_t>(r)])),
                                                     r, n, options, [] {}));
    t.back()->start_counting(0);
  }
  std::atomic<bool> away{false}, back{false}, requested{false};
  std::vector<std::uint64_t> snapshot_at(n, 0);
  std::vector<bool> decided_while_away(n, false);
  std::vector<std::thread> mains;
  for (int r = 0; r < n; ++r)
    mains.emplace_back([&, r] {
      triggers::Triggers& me = *t[static_cast<std::size_t>(r)];
      for (std::uint64_t sp = 1; sp <= 4000 && !snapshot_at[static_cast<std::size_t>(r)]; ++sp) {
        if (r == 3 && sp == 20) {
          away = true;
          while (!requested) std::this_thread::yield();
          std::this_thread::sleep_for(std::chrono::seconds(1));
          back = true;
        }
        if (r == 0 && sp == 30) {
          while (!away) std::this_thread::yield();
          me.request();
          requested = true;
        }
        if (me.snapshot_here(sp)) {
          snapshot_at[static_cast<std::size_t>(r)] = sp;
          decided_while_away[static_cast<std::size_t>(r)] = !back;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  for (auto& m : mains) m.join();
  for (int r = 0; r < n; ++r) {
    EXPECT_GT(snapshot_at[static_cast<std::size_t>(r)], 0u) << "rank " << r;
    EXPECT_EQ(snapshot_at[static_cast<std::size_t>(r)], snapshot_at[0]) << "rank " << r;
    if (r != 3) EXPECT_TRUE(decided_while_away[static_cast<std::size_t>(r)]) << "rank " << r;
  }
  for (auto& x : t) x->closing();
  t.clear();
}

}  // namespace
}  // namespace mpisnap::testing
