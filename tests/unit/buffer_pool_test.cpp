// The state buffer pool (a snapshot's copy reuses the previous snapshot's memory) and the storage
// fault rules (MPISNAP_TEST_FAULT), both without MPI.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <mpisnap/archive.hpp>
#include <mpisnap/error.hpp>
#include <cereal/types/vector.hpp>

#include "state/buffer_pool.hpp"
#include "storage/fault_injection.hpp"
#include "storage/fs.hpp"

namespace mpisnap {
namespace {

Node tree_with(std::size_t a, std::size_t b) {
  Node root;
  Node x, y;
  x.kind = y.kind = Node::Kind::Array;
  x.data.resize(a);
  y.data.resize(b);
  root.children.push_back(std::move(x));
  root.children.push_back(std::move(y));
  return root;
}

TEST(BufferPool, NextSnapshotCopiesIntoTheLastOnesMemory) {
  state::BufferPool pool;
  Node old = tree_with(1 << 20, 3 << 20);
  const std::byte* small = old.children[0].data.data();
  const std::byte* large = old.children[1].data.data();
  pool.recycle(std::move(old));
  EXPECT_EQ(pool.bytes_held(), std::size_t{4} << 20);
  // Best fit: each request gets the smallest buffer that holds it.
  Bytes b = pool.take(3 << 20);
  EXPECT_EQ(b.data(), large);
  EXPECT_EQ(b.size(), std::size_t{3} << 20);
  Bytes a = pool.take((1 << 20) - 100);
  EXPECT_EQ(a.data(), small);
  EXPECT_EQ(pool.bytes_held(), 0u);
  // Nothing left: a new buffer.
  EXPECT_EQ(pool.take(1 << 20).size(), std::size_t{1} << 20);
}

struct Field {
  std::vector<double> field = std::vector<double>(1 << 17, 1.5);  // 1 MiB
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(field));
  }
};

// The archive copies a state's arrays into the buffers it is given (the session passes the
// pipeline's pool), and into fresh memory when it is given none.
TEST(BufferPool, TheArchiveTakesFromThePoolItIsGiven) {
  Field s;
  state::BufferPool pool;
  Node first = to_tree(s, &pool);
  const Node* leaf = &first.children.at(0).children.at(0);
  ASSERT_EQ(leaf->data.size(), std::size_t{1} << 20);
  const std::byte* memory = leaf->data.data();
  pool.recycle(std::move(first));
  Node second = to_tree(s, &pool);
  EXPECT_EQ(second.children.at(0).children.at(0).data.data(), memory) << "the next copy reuses the last one's memory";
  EXPECT_EQ(pool.bytes_held(), 0u);
  pool.recycle(std::move(second));
  Node unpooled = to_tree(s);
  EXPECT_EQ(pool.bytes_held(), std::size_t{1} << 20) << "an archive without a pool leaves the pool alone";
  EXPECT_EQ(std::memcmp(unpooled.children.at(0).children.at(0).data.data(), s.field.data(), 1 << 20), 0);
}

// A fresh run's first snapshot: the state is measured by an archive pass that copies nothing, and
// buffers of those sizes are mapped on a helper thread before the snapshot asks for them.
TEST(BufferPool, MapsTheFirstSnapshotsBuffersAhead) {
  Field s;
  s.field[7] = 9.0;
  state::BufferPool pool;
  Node shapes = to_tree(s, &pool.planner());
  const Node& leaf = shapes.children.at(0).children.at(0);
  EXPECT_EQ(leaf.count, std::size_t{1} << 17) << "the measuring pass keeps the shapes";
  EXPECT_TRUE(leaf.data.empty()) << "and copies nothing";
  EXPECT_EQ(pool.bytes_held(), 0u);
  pool.map_planned();
  Bytes small = pool.take(100);  // (waits for the helper; too small to come from the pool)
  EXPECT_EQ(pool.bytes_held(), std::size_t{1} << 20) << "the helper mapped one buffer of the field's size";
  EXPECT_GT(pool.planned_map_seconds(), 0.0);
  Node first = to_tree(s, &pool);
  EXPECT_EQ(pool.bytes_held(), 0u) << "the first snapshot copied into it";
  EXPECT_EQ(std::memcmp(first.children.at(0).children.at(0).data.data(), s.field.data(), 1 << 20), 0);
  // Sizes the pool already holds are not mapped twice.
  pool.recycle(std::move(first));
  (void)to_tree(s, &pool.planner());
  pool.map_planned();
  (void)pool.take(100);
  EXPECT_EQ(pool.bytes_held(), std::size_t{1} << 20);
}

// A source that hands out a buffer of the wrong size is a bug, never a silent short copy.
TEST(BufferPool, AWrongSizedBufferIsAnError) {
  struct Short final : BufferSource {
    Bytes take(std::size_t bytes) override { return Bytes(bytes / 2); }
  } wrong;
  Field s;
  EXPECT_THROW((void)to_tree(s, &wrong), Error);
}

TEST(BufferPool, HoldsOneSnapshotAndSkipsMisfits) {
  state::BufferPool pool;
  pool.recycle(tree_with(1 << 20, 1 << 20));
  pool.recycle(tree_with(2 << 20, 1000));  // replaces the first; tiny payloads are not kept
  EXPECT_EQ(pool.bytes_held(), std::size_t{2} << 20);
  Bytes far_smaller = pool.take(100 << 10);  // would waste more than half of the 2 MiB buffer
  EXPECT_EQ(pool.bytes_held(), std::size_t{2} << 20);
  Bytes larger = pool.take(3 << 20);  // does not fit
  EXPECT_EQ(pool.bytes_held(), std::size_t{2} << 20);
  pool.clear();
  EXPECT_EQ(pool.bytes_held(), 0u);
}

class FaultRules : public ::testing::Test {
 protected:
  void TearDown() override { storage::install_faults("", 0); }
  std::string dir_ = ::testing::TempDir() + "/mpisnap-fault-rules";
};

TEST_F(FaultRules, NthMatchingCallOnTheRightRankFails) {
  fs::make_dirs(dir_);
  storage::install_faults("open@victim:ENOSPC:3:2", 3);
  EXPECT_NO_THROW(fs::create_file(dir_ + "/bystander"));
  EXPECT_NO_THROW(fs::create_file(dir_ + "/victim"));  // 1st match
  try {
    fs::create_file(dir_ + "/victim");  // 2nd match fails
    ADD_FAILURE() << "the 2nd matching open did not fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::strerror(ENOSPC)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("victim"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(fs::create_file(dir_ + "/victim"));  // 3rd: only the 2nd was asked for
  storage::install_faults("open@victim:EACCES:2:1+", 3);  // another rank's rule
  EXPECT_NO_THROW(fs::create_file(dir_ + "/victim"));
  storage::install_faults("open@victim:EACCES:*:1+", 3);
  EXPECT_THROW(fs::create_file(dir_ + "/victim"), Error);
  EXPECT_THROW(fs::create_file(dir_ + "/victim"), Error);
  storage::install_faults("", 3);
  EXPECT_NO_THROW(fs::create_file(dir_ + "/victim"));
  fs::remove_tree(dir_);
}

TEST_F(FaultRules, BadRulesAreNamed) {
  for (const char* bad : {"write:kill", "open:EPERM", "open", "open:kill:x", "open:kill:1:0", "open:kill:1:2:3"}) {
    try {
      storage::install_faults(bad, 0);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace mpisnap
