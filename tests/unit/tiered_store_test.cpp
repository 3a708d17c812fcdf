// Two storage tiers without MPI: who keeps whose partner copy (NodeMap), the manifest's words, and
// the TieredStore's local commit, flush, global commit (which waits for every rank's file, stops at
// a rank that says its flush failed, and names the missing ones at its timeout) and pruning per tier.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <set>

#include <cereal/types/vector.hpp>
#include <mpisnap/archive.hpp>

#include "common/node_map.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"
#include "storage/tiered_store.hpp"
#include "temp_dir.hpp"

namespace mpisnap {
namespace {

TEST(NodeMapTest, EveryCopyIsKeptOnAnotherNodeAndSpreadEvenly) {
  // 3 nodes of 2, listed out of order: ranks 0,3 | 1,4 | 2,5.
  const NodeMap m({0, 1, 2, 0, 1, 2});
  EXPECT_EQ(m.nodes(), 3);
  std::vector<int> kept(6, 0);
  for (int r = 0; r < 6; ++r) {
    const int h = m.holder(r);
    ASSERT_GE(h, 0);
    EXPECT_NE(m.leader(h), m.leader(r)) << "rank " << r << "'s copy stays on its own node";
    ++kept[static_cast<std::size_t>(h)];
    const auto held = m.held_by(h);
    EXPECT_NE(std::find(held.begin(), held.end(), r), held.end());
  }
  for (int k : kept) EXPECT_EQ(k, 1);
  // Uneven nodes (4 + 1): the lone rank keeps all four copies of the big node, the big node one copy.
  const NodeMap u({0, 0, 0, 0, 4});
  for (int r = 0; r < 4; ++r) EXPECT_EQ(u.holder(r), 4);
  EXPECT_EQ(u.holder(4), 0);
  // One node: nobody to keep a copy.
  const NodeMap one({0, 0, 0});
  EXPECT_EQ(one.holder(1), -1);
  EXPECT_TRUE(one.held_by(0).empty());
}

struct State {
  std::vector<double> v;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(v));
  }
};

class TieredStoreTest : public ::testing::Test {
 protected:
  RankCheckpoint sample(int rank, std::uint64_t id) {
    RankCheckpoint cp;
    cp.checkpoint_id = id;
    cp.safe_point = id * 10;
    cp.rank = rank;
    cp.nranks = 2;
    State s{{1.0 * rank, 2.0, 3.0 * static_cast<double>(id)}};
    cp.state = to_tree(s);
    return cp;
  }
  storage::Manifest written(storage::TieredStore& store, std::uint64_t id) {
    storage::Manifest m;
    m.checkpoint_id = id;
    m.safe_point = id * 10;
    m.nranks = 2;
    m.program = "sim";
    for (int r = 0; r < 2; ++r) {
      const auto info = store.write_rank(sample(r, id));
      m.rank_digest.push_back(info.digest);
      m.rank_bytes.push_back(info.file_bytes);
      m.rank_messages.push_back(0);
    }
    return m;
  }
  void flush(storage::TieredStore& store, std::uint64_t id, int rank) {
    const int fd = ::open((store.location(id) + "/" + storage::rank_file_name(rank)).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    store.flush_rank(id, rank, fd);
    ::close(fd);
  }
  testing::TempDir tmp_{"tiers"};
  std::string global_ = tmp_.path() + "/global";
  std::string local_ = tmp_.path() + "/local";
};

TEST_F(TieredStoreTest, ManifestWordsRoundTrip) {
  storage::Manifest m;
  m.checkpoint_id = 7;
  m.safe_point = 70;
  m.nranks = 3;
  m.created_unix = 1.5e9;
  m.commit_seconds = 0.25;
  m.program = "heat2d";
  m.rank_digest = {1, 2, 3};
  m.rank_bytes = {10, 20, 30};
  m.rank_messages = {0, 5, 0};
  const storage::Manifest back = storage::manifest_from_words(storage::manifest_words(m));
  EXPECT_EQ(back.checkpoint_id, 7u);
  EXPECT_EQ(back.safe_point, 70u);
  EXPECT_EQ(back.nranks, 3);
  EXPECT_EQ(back.created_unix, 1.5e9);
  EXPECT_EQ(back.commit_seconds, 0.25);
  EXPECT_EQ(back.program, "heat2d");
  EXPECT_EQ(back.rank_digest, m.rank_digest);
  EXPECT_EQ(back.rank_bytes, m.rank_bytes);
  EXPECT_EQ(back.rank_messages, m.rank_messages);
  auto words = storage::manifest_words(m);
  words.pop_back();
  EXPECT_THROW(storage::manifest_from_words(words), Error);
}

TEST_F(TieredStoreTest, CommitsLocallyThenGloballyAfterEveryRankFlushed) {
  storage::TieredStore store(global_, local_, false, 2);
  EXPECT_EQ(store.location(1).rfind(storage::local_tier_dir(local_, global_), 0), 0u);
  // Another global directory gets another place on the same node-local storage.
  EXPECT_NE(storage::local_tier_dir(local_, global_), storage::local_tier_dir(local_, global_ + "2"));
  const storage::Manifest m = written(store, 1);
  store.commit(m);
  EXPECT_TRUE(store.local().list().at(0).committed);
  EXPECT_TRUE(store.global().list().empty());
  flush(store, 1, 0);
  // Rank 1's file is not there: the global commit waits, then names it.
  try {
    store.commit_global(m, 2, 0, 0.2);
    FAIL() << "committed globally without rank 1's file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("1 rank file(s) missing (rank 1)"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store.global().list().at(0).committed);
  flush(store, 1, 1);
  store.commit_global(m, 2, 0, 5);
  ASSERT_TRUE(store.global().list().at(0).committed);
  EXPECT_TRUE(store.global().verify(1).ok());
  EXPECT_EQ(store.global().load_rank(1, 1).info.digest, m.rank_digest[1]);
}

TEST_F(TieredStoreTest, AFailedFlushStopsTheGlobalCommitWithItsReason) {
  storage::TieredStore store(global_, local_, false, 2);
  const storage::Manifest m = written(store, 1);
  store.commit(m);
  flush(store, 1, 0);
  store.flush_failed(1, 1, "No space left on device");
  try {
    store.commit_global(m, 2, 0, 60);
    FAIL() << "committed globally although rank 1's flush failed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1: No space left on device"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store.global().list().at(0).committed);
}

TEST_F(TieredStoreTest, EachTierIsPrunedToItsOwnCount) {
  storage::TieredStore store(global_, local_, false, 1);  // one kept locally
  for (std::uint64_t id = 1; id <= 4; ++id) {
    const storage::Manifest m = written(store, id);
    store.commit(m);
    store.prune(3, 0);  // (the global count does not apply to the local tier)
    flush(store, id, 0);
    flush(store, id, 1);
    store.commit_global(m, 3, 0, 5);
  }
  std::vector<std::uint64_t> local, global;
  for (const auto& e : store.local().list()) local.push_back(e.id);
  for (const auto& e : store.global().list()) global.push_back(e.id);
  EXPECT_EQ(local, (std::vector<std::uint64_t>{4}));
  EXPECT_EQ(global, (std::vector<std::uint64_t>{2, 3, 4}));
  // Reading looks at the local tier first, then at the global one.
  EXPECT_EQ(store.manifest(2).checkpoint_id, 2u);
  EXPECT_EQ(store.load_rank(2, 1).cp.checkpoint_id, 2u);
  EXPECT_EQ(store.load_rank(4, 1).cp.checkpoint_id, 4u);
}

TEST_F(TieredStoreTest, PartnerCopyIsTheSameFileUnderItsRanksName) {
  storage::TieredStore a(global_, local_ + "/a", false, 2), b(global_, local_ + "/b", false, 2);
  const auto info = a.write_rank(sample(1, 5));
  std::vector<char> bytes;
  {
    const std::string path = a.location(5) + "/" + storage::rank_file_name(1);
    FILE* f = std::fopen(path.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    std::fclose(f);
  }
  b.write_copy(5, 1, bytes.data(), bytes.size());
  EXPECT_EQ(b.local().load_rank(5, 1).info.digest, info.digest);
}

}  // namespace
}  // namespace mpisnap
