// The communicator table and its gates, and the flat map under it (and under the request table):
// no MPI is initialized, the handles are made-up values.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <unordered_map>

#include "fake_handles.hpp"
#include "mpi/comm_table.hpp"
#include "mpi/flat_map.hpp"

namespace mpisnap::mpi {
namespace {

using testing::fake_handle;

TEST(FlatMap, AgreesWithUnorderedMapUnderRandomOperations) {
  FlatMap<MPI_Request, int> map;
  std::unordered_map<std::uintptr_t, int> model;
  std::mt19937_64 rng(12345);
  for (int op = 0; op < 200000; ++op) {
    const std::uintptr_t k = rng() % 600;  // few keys: many overwrites, erasures, tombstones
    const MPI_Request h = fake_handle<MPI_Request>(k);
    switch (rng() % 3) {
      case 0: {
        const int v = static_cast<int>(rng() % 1000000);
        map.put(h, v);
        model[k] = v;
        break;
      }
      case 1:
        EXPECT_EQ(map.erase(h), model.erase(k) == 1) << "op " << op;
        break;
      default: {
        const int* v = map.find(h);
        auto it = model.find(k);
        ASSERT_EQ(v != nullptr, it != model.end()) << "op " << op;
        if (v) EXPECT_EQ(*v, it->second);
      }
    }
    ASSERT_EQ(map.size(), model.size());
  }
  std::size_t visited = 0;
  map.for_each([&](int&) { ++visited; });
  EXPECT_EQ(visited, model.size());
}

TEST(FlatMap, GrowsAndKeepsEverything) {
  FlatMap<MPI_Request, std::uint64_t> map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.find(fake_handle<MPI_Request>(1)), nullptr);
  for (std::uint64_t i = 0; i < 10000; ++i) map.put(fake_handle<MPI_Request>(i), i * 7);
  EXPECT_EQ(map.size(), 10000u);
  for (std::uint64_t i = 0; i < 10000; i += 2) EXPECT_TRUE(map.erase(fake_handle<MPI_Request>(i)));
  for (std::uint64_t i = 0; i < 10000; ++i) {
    const std::uint64_t* v = map.find(fake_handle<MPI_Request>(i));
    if (i % 2) {
      ASSERT_NE(v, nullptr) << i;
      EXPECT_EQ(*v, i * 7);
    } else {
      EXPECT_EQ(v, nullptr) << i;
    }
  }
  EXPECT_FALSE(map.erase(fake_handle<MPI_Request>(0))) << "erased twice";
}

// Put and erase the same few keys forever: tombstones must be reclaimed (a table full of them
// would make every miss loop for ever).
TEST(FlatMap, ChurnDoesNotFillTheTableWithTombstones) {
  FlatMap<MPI_Request, int> map;
  for (int round = 0; round < 100000; ++round) {
    const MPI_Request h = fake_handle<MPI_Request>(static_cast<std::uintptr_t>(round));
    map.put(h, round);
    EXPECT_TRUE(map.erase(h));
  }
  EXPECT_EQ(map.find(fake_handle<MPI_Request>(999999)), nullptr);
  EXPECT_TRUE(map.empty());
}

std::unique_ptr<CommEntry> entry(std::uintptr_t handle, std::uint64_t id, bool fatal = true) {
  auto e = std::make_unique<CommEntry>();
  e->app = fake_handle<MPI_Comm>(handle);
  e->id = protocol::CommId{id};
  e->size = 4;
  e->errors_fatal = fatal;
  return e;
}

TEST(CommTable, GatesOpenOnlyInOrderAndOnlyForTheCachedEntry) {
  CommTable t;
  const MPI_Comm a = fake_handle<MPI_Comm>(1), b = fake_handle<MPI_Comm>(2);
  CommEntry& ea = t.add(entry(1, 10));
  CommEntry& eb = t.add(entry(2, 11));
  // Nothing cached yet: every gate is closed even when open.
  t.set_gates(true, true, true, false);
  EXPECT_EQ(t.gated<CommTable::kIdle>(a), nullptr);
  EXPECT_EQ(t.find(a), &ea);  // caches a
  EXPECT_EQ(t.gated<CommTable::kIdle>(a), &ea);
  EXPECT_EQ(t.gated<CommTable::kNoWindow>(a), &ea);
  EXPECT_EQ(t.gated<CommTable::kDirect>(a), &ea);
  EXPECT_EQ(t.gated<CommTable::kIdle>(b), nullptr) << "only the cached entry passes a gate";
  // Each gate is open only when the ones before it are.
  t.set_gates(true, false, true, false);
  EXPECT_EQ(t.gated<CommTable::kIdle>(a), &ea);
  EXPECT_EQ(t.gated<CommTable::kNoWindow>(a), nullptr);
  EXPECT_EQ(t.gated<CommTable::kDirect>(a), nullptr) << "direct needs no-window";
  t.set_gates(false, true, true, false);
  EXPECT_EQ(t.gated<CommTable::kIdle>(a), nullptr);
  EXPECT_EQ(t.gated<CommTable::kNoWindow>(a), nullptr);
  EXPECT_EQ(t.gated<CommTable::kDirect>(a), nullptr);
  t.set_gates(true, true, false, false);
  EXPECT_EQ(t.gated<CommTable::kNoWindow>(a), &ea);
  EXPECT_EQ(t.gated<CommTable::kDirect>(a), nullptr);
  EXPECT_EQ(t.gated<CommTable::kWatched>(a), nullptr) << "watched only when the watch runs";
  // Watched: where direct is closed only because a snapshot is possible, and the watch runs.
  t.set_gates(true, true, false, true);
  EXPECT_EQ(t.gated<CommTable::kWatched>(a), &ea);
  EXPECT_EQ(t.gated<CommTable::kDirect>(a), nullptr);
  t.set_gates(true, true, true, true);
  EXPECT_EQ(t.gated<CommTable::kWatched>(a), nullptr) << "direct and watched never both";
  EXPECT_EQ(t.gated<CommTable::kDirect>(a), &ea);
  t.set_gates(true, false, false, true);
  EXPECT_EQ(t.gated<CommTable::kWatched>(a), nullptr) << "watched needs no-window";
  t.set_gates(false, true, false, true);
  EXPECT_EQ(t.gated<CommTable::kWatched>(a), nullptr) << "watched needs idle";
  // A lookup of another communicator moves the cache; the gates follow it.
  t.set_gates(true, true, true, false);
  EXPECT_EQ(t.find(b), &eb);
  EXPECT_EQ(t.gated<CommTable::kDirect>(b), &eb);
  EXPECT_EQ(t.gated<CommTable::kDirect>(a), nullptr);
  // MPI_COMM_NULL and unknown handles never pass.
  EXPECT_EQ(t.gated<CommTable::kIdle>(MPI_COMM_NULL), nullptr);
  EXPECT_EQ(t.find(fake_handle<MPI_Comm>(99)), nullptr);
  EXPECT_EQ(t.gated<CommTable::kIdle>(fake_handle<MPI_Comm>(99)), nullptr);
}

TEST(CommTable, RetiredCommunicatorsLeaveTheGatesAndTheHandleMap) {
  CommTable t;
  const MPI_Comm a = fake_handle<MPI_Comm>(1);
  t.add(entry(1, 10));
  t.add(entry(2, 11));
  t.set_gates(true, true, true, false);
  ASSERT_NE(t.find(a), nullptr);
  ASSERT_NE(t.gated<CommTable::kIdle>(a), nullptr);
  CommEntry* r = t.retire(a, 3);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->retired);
  EXPECT_EQ(r->retired_epoch, 3u);
  EXPECT_EQ(t.gated<CommTable::kIdle>(a), nullptr) << "a freed handle (which MPI may reuse) must not hit the cache";
  EXPECT_EQ(t.find(a), nullptr);
  EXPECT_EQ(t.find_id(protocol::CommId{10}), r) << "still found by id: its messages may be in flight";
  EXPECT_TRUE(t.take_retired(3).empty()) << "freed in epoch 3: kept until a snapshot after it";
  auto gone = t.take_retired(4);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(t.find_id(protocol::CommId{10}), nullptr);
  EXPECT_EQ(t.size(), 1u);
  t.keep_retired(std::move(gone[0]));
  EXPECT_NE(t.find_id(protocol::CommId{10}), nullptr);
  EXPECT_THROW(t.add(entry(5, 11)), Error) << "ids are unique";
}

// The counting rule for sends (CommEntry::counted_send): a send MPI refused counts only where errors
// are fatal (the job ends anyway); otherwise it counts only once accepted.
TEST(CommTable, SendsCountOnlyWhenAcceptedWhereErrorsReturn) {
  auto fatal = entry(1, 10, true);
  auto returning = entry(2, 11, false);
  for (CommEntry* e : {fatal.get(), returning.get()}) {
    EXPECT_EQ(e->counted_send(1, [](MPI_Comm) { return MPI_SUCCESS; }), MPI_SUCCESS);
    EXPECT_EQ(e->counted_send(1, [](MPI_Comm) { return MPI_ERR_TAG; }), MPI_ERR_TAG);
    EXPECT_EQ(e->counted_send(MPI_PROC_NULL, [](MPI_Comm) { return MPI_SUCCESS; }), MPI_SUCCESS);
  }
  EXPECT_EQ(fatal->peers.at(1).sent, 2u);
  EXPECT_EQ(returning->peers.at(1).sent, 1u);
  EXPECT_EQ(returning->peers.peers(), 1u) << "MPI_PROC_NULL has no counters";
  // The call is made on the current color.
  returning->current = fake_handle<MPI_Comm>(77);
  MPI_Comm seen = MPI_COMM_NULL;
  returning->counted_send(0, [&](MPI_Comm c) {
    seen = c;
    return MPI_SUCCESS;
  });
  EXPECT_EQ(seen, returning->current);
}

// Per-peer counters follow the peers a rank talks to, not the communicator's size: a 26-neighbour
// stencil on a communicator of 65,536 ranks holds 26 entries, and a snapshot's epoch fold visits
// those only. Entries never move (the fast path holds one across a blocking receive).
TEST(PeerCounters, FollowPeersKeepAddressesAndFoldEpochs) {
  auto e = entry(1, 10);
  e->size = 65536;
  e->world.resize(65536);
  for (int r = 0; r < 65536; ++r) e->world[static_cast<std::size_t>(r)] = 65535 - r;
  std::vector<int> stencil;
  for (int k = 0; k < 26; ++k) stencil.push_back((k * 2521 + 7) % 65536);
  std::uint64_t* first = e->received_counter(stencil[0]);
  for (int round = 0; round < 3; ++round)
    for (int p : stencil) {
      e->count_sent(p);
      e->count_received(p);
    }
  e->count_held(stencil[1]);     // taken into the replay queue: received, not delivered
  e->count_sent(65536);          // not a rank: nothing
  e->count_received(-1);
  EXPECT_EQ(e->peers.peers(), 26u);
  EXPECT_EQ(first, e->received_counter(stencil[0])) << "an entry moved when others were added";
  EXPECT_EQ(*first, 3u);
  EXPECT_EQ(e->peers.received(stencil[1]), 4u);
  EXPECT_EQ(e->peers.received(12345), 0u);
  EXPECT_EQ(e->peers.find(12345), nullptr) << "a lookup for reading makes no entry";

  CommTable t;
  t.add(std::move(e));
  const CommTable::EpochCounts cut = t.begin_epoch(1);
  EXPECT_EQ(cut.sent.size(), 26u);
  EXPECT_EQ(cut.received.size(), 26u);
  for (const auto& [to, counts] : cut.sent) {
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].count, 3u) << "to world rank " << protocol::value(to);
  }
  for (const auto& [ch, n] : cut.received)  // world ranks, translated from communicator ranks
    EXPECT_EQ(n, protocol::value(ch.source) == 65535 - stencil[1] ? 4u : 3u);
  CommEntry* back = t.find_id(protocol::CommId{10});
  ASSERT_NE(back, nullptr);
  back->peers.for_each([&](const PeerCount& c) {
    EXPECT_EQ(c.sent, 0u);
    EXPECT_EQ(c.received, 0u);
    EXPECT_EQ(c.held_in, 0u);
    EXPECT_EQ(c.sent_total, 3u);
    EXPECT_EQ(c.delivered_total, 3u) << "peer " << c.peer << ": the held message is not delivered";
  });
  back->count_delivered(stencil[1]);  // the held message reaches the application
  EXPECT_EQ(back->peers.at(stencil[1]).delivered_total, 4u);
  EXPECT_TRUE(t.begin_epoch(0).sent.empty());
}

// The fast path's counting (interpose/fast_path.hpp): the wrapper's `_if_cached` counts only the
// peer last counted, `other_peer`'s `_if_seen` any peer with counters; neither makes counters, and a
// false answer counts nothing (the slow path then counts through count_sent / count_receipt, once).
TEST(PeerCounters, TheFastPathCountsOnlyPeersItHasCountersForAndMakesNone) {
  auto e = entry(1, 10);
  EXPECT_FALSE(e->count_sent_if_cached(2)) << "no counters yet";
  EXPECT_FALSE(e->count_sent_if_seen(2)) << "no counters yet";
  EXPECT_EQ(e->peers.peers(), 0u) << "the fast path made counters";
  EXPECT_TRUE(e->count_sent_if_cached(MPI_PROC_NULL)) << "a non-rank counts nothing and needs nothing";
  EXPECT_TRUE(e->count_received_if_seen(-7));
  EXPECT_EQ(e->peers.peers(), 0u);

  e->count_sent(2);  // the slow path: makes peer 2's counters, which become the cached ones
  e->count_received(3);  // peer 3's, now cached
  EXPECT_FALSE(e->count_sent_if_cached(2)) << "peer 2 is not the cached peer any more";
  EXPECT_EQ(e->peers.find(2)->sent, 1u) << "a false answer counted";  // (find: moves no cache)
  EXPECT_TRUE(e->count_received_if_cached(3));
  EXPECT_TRUE(e->count_sent_if_seen(2)) << "the probe finds peer 2";
  EXPECT_TRUE(e->count_sent_if_cached(2)) << "the probe made peer 2 the cached one";
  EXPECT_FALSE(e->count_sent_if_seen(1)) << "peer 1 never had counters";
  EXPECT_EQ(e->peers.peers(), 2u);
  EXPECT_EQ(e->peers.find(2)->sent, 3u);
  EXPECT_EQ(e->peers.find(3)->received, 2u);
  EXPECT_EQ(e->peers.find(2)->received + e->peers.find(3)->sent, 0u) << "a count went to the wrong field";
}

}  // namespace
}  // namespace mpisnap::mpi
