#include <gtest/gtest.h>

#include "channel/replay_queue.hpp"

namespace mpisnap::channel {
namespace {

RecordedMessage msg(int source, int tag, std::uint8_t id, std::uint64_t comm = 0) {
  RecordedMessage m;
  m.comm = comm;
  m.source = source;
  m.tag = tag;
  m.bytes = {std::byte(id)};
  return m;
}

std::uint8_t id_of(const RecordedMessage& m) { return static_cast<std::uint8_t>(m.bytes.at(0)); }

const ReplayQueue::ClosedFn kAllClosed = [](std::uint64_t, int) { return true; };

TEST(ReplayQueue, OldestMatchFirst) {
  ReplayQueue q;
  q.push_recorded(msg(1, 5, 1));
  q.push_recorded(msg(2, 5, 2));
  q.push_recorded(msg(1, 5, 3));
  q.push_recorded(msg(1, 6, 4));
  EXPECT_EQ(id_of(q.take(q.find(0, 1, 6, kAllClosed))), 4);
  EXPECT_EQ(id_of(q.take(q.find(0, kAnySource, 5, kAllClosed))), 1);
  EXPECT_EQ(id_of(q.take(q.find(0, 1, kAnyTag, kAllClosed))), 3);
  EXPECT_EQ(q.find(0, 1, kAnyTag, kAllClosed), q.end());
  EXPECT_EQ(q.find(1, kAnySource, kAnyTag, kAllClosed), q.end()) << "other communicator";
  EXPECT_EQ(q.size(), 1u);
}

TEST(ReplayQueue, HeldEntriesWaitForTheirChannel) {
  ReplayQueue q;
  q.push_held(msg(1, 5, 10));
  bool closed = false;
  auto is_closed = [&](std::uint64_t, int s) { return s != 1 || closed; };
  EXPECT_EQ(q.find(0, 1, 5, is_closed), q.end());
  EXPECT_EQ(q.find(0, kAnySource, kAnyTag, is_closed), q.end());
  // An older message from the same source is drained after the held one was taken: it goes first.
  q.push_recorded(msg(1, 5, 9));
  q.push_recorded(msg(2, 5, 11));
  EXPECT_EQ(id_of(q.take(q.find(0, 1, 5, is_closed))), 9);
  closed = true;
  EXPECT_EQ(id_of(q.take(q.find(0, 1, 5, is_closed))), 10);
  EXPECT_EQ(q.held(), 0u);
}

TEST(ReplayQueue, RecordedGoesBeforeFirstHeldOfItsSourceOnly) {
  ReplayQueue q;
  q.push_held(msg(1, 0, 1));
  q.push_held(msg(2, 0, 2));
  q.push_recorded(msg(2, 0, 3));
  q.push_recorded(msg(3, 0, 4));
  const auto all = q.copy_all();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(id_of(all[0]), 1);
  EXPECT_EQ(id_of(all[1]), 3);
  EXPECT_EQ(id_of(all[2]), 2);
  EXPECT_EQ(id_of(all[3]), 4);
  q.release_held();
  EXPECT_EQ(q.held(), 0u);
  auto never = [](std::uint64_t, int) { return false; };
  EXPECT_EQ(id_of(q.take(q.find(0, 1, 0, never))), 1) << "released entries are ordinary";
}

}  // namespace
}  // namespace mpisnap::channel
