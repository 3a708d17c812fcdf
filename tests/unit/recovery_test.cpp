// Recovery on N ranks (threads) over a fake collective port, against real checkpoint directories:
// every rank reaches the same decision — the newest checkpoint that verifies everywhere, a skip
// with the reason, or the same error.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <fcntl.h>

#include <cereal/types/vector.hpp>
#include <mpisnap/archive.hpp>

#include "recovery/recovery.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"
#include "storage/tiered_store.hpp"
#include "common/node_map.hpp"
#include "temp_dir.hpp"

namespace mpisnap::recovery {
namespace {

// The collectives of N threads: a generation barrier, and a slot per operation.
class FakeCollectives {
 public:
  explicit FakeCollectives(int n) : n_(n) {}
  void sync() {
    std::unique_lock<std::mutex> lock(m_);
    const std::uint64_t gen = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      // A rank that skipped a collective leaves the others waiting: fail the test, do not hang it.
      if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return generation_ != gen; }))
        throw std::runtime_error("fake port: a rank did not join a collective (collectives out of step)");
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  int n_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
  std::vector<std::uint64_t> words_;
  std::string text_;
  bool any_false_ = false;
  std::vector<std::vector<std::uint64_t>> gathered_;
  std::map<std::pair<int, int>, std::vector<char>> mail_;  // (from, to) -> bytes
  int operations_ = 0;  // rank 0's count, to check every rank called the same sequence
};

class FakePort final : public protocol::CollectivePort {
 public:
  FakePort(FakeCollectives& c, int rank) : c_(c), rank_(rank) {}
  void broadcast(std::vector<std::uint64_t>& words) override { share(words, c_.words_); }
  void broadcast(std::string& text) override { share(text, c_.text_); }
  bool all(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(c_.m_);
      c_.any_false_ = true;
    }
    c_.sync();
    const bool every = !c_.any_false_;
    c_.sync();
    if (rank_ == 0) c_.any_false_ = false;
    c_.sync();
    ++operations;
    return every;
  }
  std::vector<std::vector<std::uint64_t>> gather(const std::vector<std::uint64_t>& words) override {
    {
      std::lock_guard<std::mutex> lock(c_.m_);
      c_.gathered_.resize(static_cast<std::size_t>(c_.n_));
      c_.gathered_[static_cast<std::size_t>(rank_)] = words;
    }
    c_.sync();
    std::vector<std::vector<std::uint64_t>> out;
    if (rank_ == 0) out = c_.gathered_;
    c_.sync();
    ++operations;
    return out;
  }
  void broadcast_from(int root, std::vector<std::uint64_t>& words) override { share(words, c_.words_, root); }
  void broadcast_from(int root, std::string& text) override { share(text, c_.text_, root); }
  std::vector<std::vector<char>> exchange(const std::vector<std::pair<int, std::vector<char>>>& sends,
                                          const std::vector<int>& from) override {
    {
      std::lock_guard<std::mutex> lock(c_.m_);
      for (const auto& [to, bytes] : sends) c_.mail_[{rank_, to}] = bytes;
    }
    c_.sync();
    std::vector<std::vector<char>> out;
    {
      std::lock_guard<std::mutex> lock(c_.m_);
      for (int f : from) out.push_back(c_.mail_.at({f, rank_}));
    }
    c_.sync();
    if (rank_ == 0) c_.mail_.clear();
    c_.sync();
    ++operations;
    return out;
  }
  int operations = 0;

 private:
  // The root's `value` through `slot` to every rank.
  template <class T>
  void share(T& value, T& slot, int root = 0) {
    if (rank_ == root) {
      std::lock_guard<std::mutex> lock(c_.m_);
      slot = value;
    }
    c_.sync();
    value = slot;
    c_.sync();
    ++operations;
  }

  FakeCollectives& c_;
  int rank_;
};

struct RankResult {
  bool threw = false;
  std::string error;
  std::uint64_t next_id = 0;
  std::uint64_t restored_id = 0;  // 0: fresh
  std::int64_t restored_step = -1;
  std::vector<std::string> reports;
  int operations = 0;
};

struct State {
  std::int64_t step = 0;
  std::vector<double> v;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(v));
  }
};

class RecoveryTest : public ::testing::Test {
 protected:

  // A checkpoint of `nranks` ranks whose state is step = 100 * id + rank; committed with a manifest.
  void write_checkpoint(std::uint64_t id, int nranks, bool commit = true, const std::string& program = "sim") {
    storage::DirectoryStore store(root_, /*direct_io=*/false);
    storage::Manifest m;
    m.program = program;
    m.checkpoint_id = id;
    m.safe_point = id * 10;
    m.nranks = nranks;
    for (int r = 0; r < nranks; ++r) {
      RankCheckpoint cp;
      cp.checkpoint_id = id;
      cp.safe_point = id * 10;
      cp.rank = r;
      cp.nranks = nranks;
      State s{static_cast<std::int64_t>(100 * id + static_cast<std::uint64_t>(r)), {1.5, 2.5}};
      cp.state = to_tree(s);
      const storage::RankFileInfo info = store.write_rank(cp);
      m.rank_digest.push_back(info.digest);
      m.rank_bytes.push_back(info.file_bytes);
      m.rank_messages.push_back(0);
    }
    if (commit) store.commit(m);
  }
  // Truncates rank `r`'s file of checkpoint `id`.
  void damage(std::uint64_t id, int r) {
    const std::string f = storage::checkpoint_path(root_, id) + "/" + storage::rank_file_name(r);
    ASSERT_EQ(truncate(f.c_str(), 100), 0);
  }

  std::vector<RankResult> run(int nranks, bool fresh_if_corrupt = false, Options options = Options{}) {
    options.fresh_if_corrupt = options.fresh_if_corrupt || fresh_if_corrupt;
    if (options.program.empty()) options.program = "sim";
    FakeCollectives c(nranks);
    std::vector<RankResult> results(static_cast<std::size_t>(nranks));
    std::vector<std::thread> threads;
    for (int r = 0; r < nranks; ++r)
      threads.emplace_back([&, r] {
        RankResult& res = results[static_cast<std::size_t>(r)];
        FakePort port(c, r);
        storage::DirectoryStore store(root_, /*direct_io=*/false);
        Recovery recovery(port, store, r, nranks, options,
                          [&](const std::string& line) { res.reports.push_back(line); });
        try {
          Outcome o = recovery.discover();
          res.next_id = o.next_checkpoint_id;
          if (o.restored) {
            res.restored_id = o.restored->cp.checkpoint_id;
            State s;
            from_tree(o.restored->cp.state, s);
            res.restored_step = s.step;
            EXPECT_EQ(o.restored_dir, storage::checkpoint_path(root_, res.restored_id));
          }
        } catch (const Error& e) {
          res.threw = true;
          res.error = e.what();
        } catch (const std::runtime_error& e) {
          ADD_FAILURE() << "rank " << r << ": " << e.what();
        }
        res.operations = port.operations;
      });
    for (auto& t : threads) t.join();
    for (const RankResult& r : results) EXPECT_EQ(r.operations, results[0].operations) << "collectives out of step";
    return results;
  }

  static bool any_report(const RankResult& r, const std::string& needle) {
    for (const std::string& s : r.reports)
      if (s.find(needle) != std::string::npos) return true;
    return false;
  }

  testing::TempDir tmp_{"recovery"};
  std::string root_ = tmp_.path();
};

// The job identity: a checkpoint another program wrote is refused on every rank, naming both
// programs; the override restores it; a manifest that names no program (older) is anyone's.
TEST_F(RecoveryTest, AnotherProgramsCheckpointIsRefusedUnlessIgnored) {
  write_checkpoint(1, 2, true, "ring");
  for (const RankResult& r : run(2)) {
    EXPECT_TRUE(r.threw);
    EXPECT_NE(r.error.find("was written by program 'ring', this is 'sim'"), std::string::npos) << r.error;
  }
  Options ignore;
  ignore.ignore_identity = true;
  for (const RankResult& r : run(2, false, ignore)) {
    EXPECT_FALSE(r.threw) << r.error;
    EXPECT_EQ(r.restored_id, 1u);
  }
  write_checkpoint(2, 2, true, "");
  for (const RankResult& r : run(2)) {
    EXPECT_FALSE(r.threw) << r.error;
    EXPECT_EQ(r.restored_id, 2u);
  }
}

TEST_F(RecoveryTest, EmptyDirectoryStartsFresh) {
  for (const RankResult& r : run(3)) {
    EXPECT_FALSE(r.threw) << r.error;
    EXPECT_EQ(r.next_id, 1u);
    EXPECT_EQ(r.restored_id, 0u);
  }
}

TEST_F(RecoveryTest, NewestCommittedCheckpointIsRestoredOnEveryRank) {
  write_checkpoint(1, 3);
  write_checkpoint(2, 3);
  write_checkpoint(3, 3, /*commit=*/false);  // in progress when the job died: ignored, its id not reused
  const auto results = run(3);
  for (int rank = 0; rank < 3; ++rank) {
    const RankResult& r = results[static_cast<std::size_t>(rank)];
    EXPECT_FALSE(r.threw) << r.error;
    EXPECT_EQ(r.next_id, 4u);
    EXPECT_EQ(r.restored_id, 2u);
    EXPECT_EQ(r.restored_step, 200 + rank) << "each rank gets its own file";
    EXPECT_TRUE(r.reports.empty());
  }
}

TEST_F(RecoveryTest, OneDamagedRankFileSkipsTheCheckpointEverywhere) {
  write_checkpoint(1, 3);
  write_checkpoint(2, 3);
  damage(2, 1);
  const auto results = run(3);
  for (const RankResult& r : results) {
    EXPECT_FALSE(r.threw) << r.error;
    EXPECT_EQ(r.restored_id, 1u) << "the ranks agree on the older checkpoint";
  }
  EXPECT_TRUE(any_report(results[1], "rank 1: checkpoint 2 does not verify"));
  EXPECT_FALSE(any_report(results[2], "does not verify"));
  EXPECT_TRUE(any_report(results[0], "skipping checkpoint 2: it does not verify on every rank"));
}

TEST_F(RecoveryTest, RankFileOfAnotherCheckpointIsCaughtByTheManifestDigest) {
  // A valid file in the wrong place (a hurried `cp` between checkpoint directories): every
  // dataset checks out, only the manifest's digest tells.
  write_checkpoint(1, 2);
  write_checkpoint(2, 2);
  const std::string from = storage::checkpoint_path(root_, 1) + "/" + storage::rank_file_name(1);
  const std::string to = storage::checkpoint_path(root_, 2) + "/" + storage::rank_file_name(1);
  ASSERT_EQ(std::system(("cp " + from + " " + to).c_str()), 0);
  const auto results = run(2);
  for (const RankResult& r : results) {
    EXPECT_FALSE(r.threw) << r.error;
    EXPECT_EQ(r.restored_id, 1u);
  }
  EXPECT_TRUE(any_report(results[1], "does not match the manifest's digest"));
}

TEST_F(RecoveryTest, DamagedManifestIsSkippedWithTheReason) {
  write_checkpoint(1, 2);
  write_checkpoint(2, 2);
  const std::string manifest = storage::checkpoint_path(root_, 2) + "/manifest.h5";
  ASSERT_EQ(truncate(manifest.c_str(), 64), 0);
  const auto results = run(2);
  for (const RankResult& r : results) EXPECT_EQ(r.restored_id, 1u);
  EXPECT_TRUE(any_report(results[0], "skipping checkpoint 2: "));
}

TEST_F(RecoveryTest, OtherRankCountIsTheSameErrorOnEveryRank) {
  write_checkpoint(1, 2);
  const auto results = run(3);
  for (int rank = 0; rank < 3; ++rank) {
    const RankResult& r = results[static_cast<std::size_t>(rank)];
    ASSERT_TRUE(r.threw);
    EXPECT_NE(r.error.find("rank " + std::to_string(rank) + ": checkpoint 1"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("written by 2 ranks but this job has 3"), std::string::npos) << r.error;
  }
}

TEST_F(RecoveryTest, NothingVerifiesRefusesUnlessToldToStartFresh) {
  write_checkpoint(1, 2);
  write_checkpoint(2, 2);
  damage(1, 0);
  damage(2, 1);
  for (const RankResult& r : run(2)) {
    ASSERT_TRUE(r.threw);
    EXPECT_NE(r.error.find("no committed checkpoint in " + root_ + " verifies"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("MPISNAP_FRESH_IF_CORRUPT"), std::string::npos);
  }
  EXPECT_TRUE(fs::exists(storage::checkpoint_path(root_, 2))) << "a damaged checkpoint is never deleted";
  const auto fresh = run(2, /*fresh_if_corrupt=*/true);
  for (const RankResult& r : fresh) {
    EXPECT_FALSE(r.threw) << r.error;
    EXPECT_EQ(r.restored_id, 0u);
    EXPECT_EQ(r.next_id, 3u) << "new checkpoints do not reuse the ids of the damaged ones";
  }
  EXPECT_TRUE(any_report(fresh[0], "starting fresh"));
}

TEST_F(RecoveryTest, UnusableDirectoryIsTheSameErrorOnEveryRank) {
  const std::string file = root_ + "/not-a-directory";
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  root_ = file;  // (the temporary directory holding it is removed after the test)
  const auto results = run(2);
  for (int rank = 0; rank < 2; ++rank) {
    const RankResult& r = results[static_cast<std::size_t>(rank)];
    ASSERT_TRUE(r.threw);
    EXPECT_NE(r.error.find("mpisnap: rank " + std::to_string(rank) + ": "), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("not-a-directory"), std::string::npos) << r.error;
  }
}

// ---- two tiers: 4 ranks on 2 nodes (0,1 | 2,3), each node with its own local storage.
class TieredRecoveryTest : public RecoveryTest {
 protected:
  const std::vector<int> leaders_ = {0, 0, 2, 2};
  std::string local_of(int node_leader) const { return root_ + "/local/node" + std::to_string(node_leader); }
  storage::TieredStore store_of(int rank) const {
    return storage::TieredStore(root_ + "/global", local_of(leaders_[static_cast<std::size_t>(rank)]), false, 2);
  }
  // Checkpoint `id` as the library leaves it: every rank's file on its node and (partner) on the
  // other node, committed on both nodes; on the global tier too when `flushed`.
  void write_tiered(std::uint64_t id, bool flushed) {
    const NodeMap nodes(leaders_);
    storage::Manifest m;
    m.program = "sim";
    m.checkpoint_id = id;
    m.safe_point = id * 10;
    m.nranks = 4;
    for (int r = 0; r < 4; ++r) {
      RankCheckpoint cp;
      cp.checkpoint_id = id;
      cp.safe_point = id * 10;
      cp.rank = r;
      cp.nranks = 4;
      State s{static_cast<std::int64_t>(100 * id + static_cast<std::uint64_t>(r)), {1.5, 2.5}};
      cp.state = to_tree(s);
      storage::TieredStore own = store_of(r);
      const storage::RankFileInfo info = own.write_rank(cp);
      m.rank_digest.push_back(info.digest);
      m.rank_bytes.push_back(info.file_bytes);
      m.rank_messages.push_back(0);
      const std::string file = own.location(id) + "/" + storage::rank_file_name(r);
      std::vector<char> bytes;
      FILE* f = std::fopen(file.c_str(), "rb");
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
      std::fclose(f);
      store_of(nodes.holder(r)).write_copy(id, r, bytes.data(), bytes.size());
      if (flushed) {
        const int fd = ::open(file.c_str(), O_RDONLY);
        own.flush_rank(id, r, fd);
        ::close(fd);
      }
    }
    store_of(0).commit(m);
    store_of(2).commit(m);
    if (flushed) store_of(0).commit_global(m, 100, 0, 5);
  }
  void wipe_node(int leader) { fs::remove_tree(local_of(leader)); }

  struct TieredResult {
    RankResult r;
    Outcome::Source source = Outcome::Source::None;
  };
  std::vector<TieredResult> run_tiered() {
    Options options;
    options.program = "sim";
    options.leader_of = leaders_;
    FakeCollectives c(4);
    std::vector<TieredResult> results(4);
    std::vector<std::thread> threads;
    for (int r = 0; r < 4; ++r)
      threads.emplace_back([&, r] {
        TieredResult& res = results[static_cast<std::size_t>(r)];
        FakePort port(c, r);
        storage::TieredStore store = store_of(r);
        Recovery recovery(port, store, r, 4, options, [&](const std::string& line) { res.r.reports.push_back(line); });
        try {
          Outcome o = recovery.discover();
          res.r.next_id = o.next_checkpoint_id;
          res.source = o.source;
          if (o.restored) {
            res.r.restored_id = o.restored->cp.checkpoint_id;
            State s;
            from_tree(o.restored->cp.state, s);
            res.r.restored_step = s.step;
          }
        } catch (const Error& e) {
          res.r.threw = true;
          res.r.error = e.what();
        } catch (const std::runtime_error& e) {
          ADD_FAILURE() << "rank " << r << ": " << e.what();
        }
        res.r.operations = port.operations;
      });
    for (auto& t : threads) t.join();
    for (const auto& t : results) EXPECT_EQ(t.r.operations, results[0].r.operations) << "collectives out of step";
    return results;
  }
};

TEST_F(TieredRecoveryTest, EveryRankRestoresFromItsOwnNodeWhenItCan) {
  write_tiered(1, true);
  write_tiered(2, false);  // newer, only on the local tiers
  const auto results = run_tiered();
  for (int r = 0; r < 4; ++r) {
    const auto& t = results[static_cast<std::size_t>(r)];
    EXPECT_FALSE(t.r.threw) << t.r.error;
    EXPECT_EQ(t.r.restored_id, 2u);
    EXPECT_EQ(t.r.restored_step, 200 + r);
    EXPECT_EQ(t.source, Outcome::Source::Local);
    EXPECT_EQ(t.r.next_id, 3u);
  }
  EXPECT_TRUE(any_report(results[0].r, "restoring checkpoint 2 from: own node's local tier (rank 0,1,2,3)"));
}

TEST_F(TieredRecoveryTest, ALostNodesRanksComeBackFromTheirPartnerCopies) {
  write_tiered(1, true);
  write_tiered(2, false);
  wipe_node(2);  // ranks 2 and 3's node is gone, with its local storage
  const auto results = run_tiered();
  for (int r = 0; r < 4; ++r) {
    const auto& t = results[static_cast<std::size_t>(r)];
    EXPECT_FALSE(t.r.threw) << t.r.error;
    EXPECT_EQ(t.r.restored_id, 2u) << "rank " << r;
    EXPECT_EQ(t.r.restored_step, 200 + r);
    EXPECT_EQ(t.source, r < 2 ? Outcome::Source::Local : Outcome::Source::Partner) << "rank " << r;
  }
  EXPECT_TRUE(any_report(results[0].r, "partner copies on other nodes (rank 2,3)"));
  // The copies are on the new node again: a second restart finds them there.
  for (const auto& t : run_tiered()) EXPECT_EQ(t.source, Outcome::Source::Local);
}

TEST_F(TieredRecoveryTest, RankZerosNodeLostStillFindsTheManifestElsewhere) {
  write_tiered(1, false);
  wipe_node(0);
  const auto results = run_tiered();
  for (int r = 0; r < 4; ++r) {
    const auto& t = results[static_cast<std::size_t>(r)];
    EXPECT_FALSE(t.r.threw) << t.r.error;
    EXPECT_EQ(t.r.restored_id, 1u);
    EXPECT_EQ(t.source, r < 2 ? Outcome::Source::Partner : Outcome::Source::Local) << "rank " << r;
  }
}

TEST_F(TieredRecoveryTest, EveryNodeLostRestoresTheNewestCompleteGlobalCheckpoint) {
  write_tiered(1, true);
  write_tiered(2, true);
  write_tiered(3, false);
  // Checkpoint 3's flush was cut off: two rank files reached the global tier, no manifest.
  for (int r = 0; r < 2; ++r) {
    storage::TieredStore own = store_of(r);
    const int fd = ::open((own.location(3) + "/" + storage::rank_file_name(r)).c_str(), O_RDONLY);
    own.flush_rank(3, r, fd);
    ::close(fd);
  }
  wipe_node(0);
  wipe_node(2);
  const auto results = run_tiered();
  for (const auto& t : results) {
    EXPECT_FALSE(t.r.threw) << t.r.error;
    EXPECT_EQ(t.r.restored_id, 2u);
    EXPECT_EQ(t.source, Outcome::Source::Global);
    EXPECT_EQ(t.r.next_id, 4u);  // (the cut-off checkpoint's id is not reused)
  }
}

TEST_F(TieredRecoveryTest, ACorruptLocalCopyFallsBackToTheGlobalTier) {
  write_tiered(1, true);
  const std::string f = store_of(2).location(1) + "/" + storage::rank_file_name(3);
  ASSERT_EQ(truncate(f.c_str(), 100), 0);
  const auto results = run_tiered();
  for (int r = 0; r < 4; ++r) {
    const auto& t = results[static_cast<std::size_t>(r)];
    EXPECT_FALSE(t.r.threw) << t.r.error;
    EXPECT_EQ(t.r.restored_id, 1u);
    EXPECT_EQ(t.source, r == 3 ? Outcome::Source::Global : Outcome::Source::Local) << "rank " << r;
  }
}

TEST_F(TieredRecoveryTest, AFileThatIsNowhereSkipsTheCheckpointWithTheReason) {
  write_tiered(1, true);
  write_tiered(2, false);
  // Rank 3's file of checkpoint 2 and its partner copy are both gone; checkpoint 2 is not global.
  fs::remove_tree(store_of(3).location(2) + "/" + storage::rank_file_name(3));
  fs::remove_tree(store_of(0).location(2) + "/" + storage::rank_file_name(3));
  const auto results = run_tiered();
  for (const auto& t : results) {
    EXPECT_FALSE(t.r.threw) << t.r.error;
    EXPECT_EQ(t.r.restored_id, 1u);
  }
  EXPECT_TRUE(any_report(results[0].r, "skipping checkpoint 2: rank 3's file is on no node's local tier"));
}

}  // namespace
}  // namespace mpisnap::recovery
