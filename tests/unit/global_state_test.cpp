// The global-state reader (mpisnap/global_state.hpp) over files the storage layer wrote: states come
// back as the application's type, in-flight messages with their envelope and world source, and a
// checkpoint that is not committed, missing or damaged is refused with a message that names it.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <mpisnap/global_state.hpp>

#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "temp_dir.hpp"

namespace mpisnap {
namespace {

struct Account {
  std::int64_t balance = 0;
  std::vector<double> history;
  std::string owner;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(balance), CEREAL_NVP(history), CEREAL_NVP(owner));
  }
};

struct NarrowAccount {  // the same name, another type
  std::int32_t balance = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(balance));
  }
};

class GlobalStateTest : public ::testing::Test {
 protected:
  // Checkpoint `id` of 3 ranks on communicators 0 (world) and 5 (ranks 2 and 0, in that order).
  void write(std::uint64_t id, bool commit = true) {
    const std::string dir = storage::checkpoint_path(root_, id);
    storage::Manifest m;
    m.checkpoint_id = id;
    m.safe_point = 10 * id;
    m.nranks = 3;
    m.program = "bank";
    for (int r = 0; r < 3; ++r) {
      RankCheckpoint cp;
      cp.checkpoint_id = id;
      cp.safe_point = m.safe_point;
      cp.rank = r;
      cp.nranks = 3;
      Account a{100 * r + static_cast<std::int64_t>(id), {0.5 * r, 1.5}, "rank" + std::to_string(r)};
      cp.state = to_tree(a);
      cp.counters = {{0, {0, 1, 2}}, {5, {2, 0}}};  // members only: no messages counted
      if (r == 1) {  // two transfers in flight to rank 1: from world rank 2 (on 0), from world rank 0 (on 5)
        RecordedMessage x;
        x.comm = 0;
        x.source = 2;
        x.tag = 7;
        const std::int64_t v[2] = {42, -1};
        x.bytes.resize(sizeof v);
        std::memcpy(x.bytes.data(), v, sizeof v);
        RecordedMessage y = x;
        y.comm = 5;
        y.source = 1;  // rank 1 of communicator 5 is world rank 0
        y.tag = 3;
        y.bytes.resize(12);
        cp.channel = {x, y};
      }
      const storage::RankFileInfo info = storage::write_rank_file(dir, cp, false);
      m.rank_digest.push_back(info.digest);
      m.rank_bytes.push_back(info.file_bytes);
      m.rank_messages.push_back(info.messages);
    }
    if (commit) storage::write_manifest(dir, m);
  }

  testing::TempDir tmp_{"global-state"};
  std::string root_ = tmp_.path();
};

TEST_F(GlobalStateTest, ReadsStatesAndMessagesOfTheNewestCommitted) {
  write(3);
  write(4);
  write(5, /*commit=*/false);  // newer but not committed: never chosen
  EXPECT_EQ(GlobalState::committed(root_), (std::vector<std::uint64_t>{3, 4}));
  GlobalState g(root_);
  EXPECT_EQ(g.checkpoint_id(), 4u);
  EXPECT_EQ(g.safe_point(), 40u);
  EXPECT_EQ(g.nranks(), 3);
  EXPECT_EQ(g.program(), "bank");
  for (int r = 0; r < 3; ++r) {
    const Account a = g.state<Account>(r);
    EXPECT_EQ(a.balance, 100 * r + 4);
    EXPECT_EQ(a.history, (std::vector<double>{0.5 * r, 1.5}));
    EXPECT_EQ(a.owner, "rank" + std::to_string(r));
  }
  ASSERT_EQ(g.messages().size(), 2u);
  const InFlightMessage& x = g.messages()[0];
  EXPECT_EQ(x.comm, 0u);
  EXPECT_EQ(x.source, 2);
  EXPECT_EQ(x.source_world, 2);
  EXPECT_EQ(x.dest, 1);
  EXPECT_EQ(x.tag, 7);
  EXPECT_EQ(x.as<std::int64_t>(), (std::vector<std::int64_t>{42, -1}));
  const InFlightMessage& y = g.messages()[1];
  EXPECT_EQ(y.comm, 5u);
  EXPECT_EQ(y.source_world, 0);
  EXPECT_EQ(y.as<std::int32_t>().size(), 3u);
  EXPECT_THROW(y.as<std::int64_t>(), Error);  // 12 bytes are not whole int64s
  EXPECT_EQ(g.messages_to(1).size(), 2u);
  EXPECT_TRUE(g.messages_to(0).empty());
  EXPECT_EQ(g.comm_members(5), (std::vector<int>{2, 0}));
  EXPECT_TRUE(g.comm_members(77).empty());

  GlobalState older(root_, 3);
  EXPECT_EQ(older.state<Account>(2).balance, 203);
}

TEST_F(GlobalStateTest, RefusesWhatCannotBeReadWithTheReason) {
  auto message_of = [&](std::uint64_t id) {
    try {
      GlobalState g(root_, id);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message_of(0).find("no committed checkpoint in " + root_), std::string::npos) << message_of(0);
  write(2, /*commit=*/false);
  EXPECT_NE(message_of(2).find("checkpoint 2 in " + root_ + " is not committed"), std::string::npos) << message_of(2);
  write(6);
  GlobalState g(root_, 6);
  EXPECT_THROW(g.state<Account>(3), Error);
  EXPECT_THROW(g.state<NarrowAccount>(0), Error);  // saved as int64: the same check as a restore
  // A damaged rank file: its checksum no longer matches.
  const std::string file = storage::checkpoint_path(root_, 6) + "/" + storage::rank_file_name(2);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    std::string all(static_cast<std::size_t>(size), '\0');
    f.seekg(0);
    f.read(all.data(), size);
    const std::size_t at = all.find("rank2");  // the owner string's bytes
    ASSERT_NE(at, std::string::npos);
    f.seekp(static_cast<std::streamoff>(at));
    f.put('X');
  }
  EXPECT_NE(message_of(6).find(storage::rank_file_name(2)), std::string::npos) << message_of(6);
}

}  // namespace
}  // namespace mpisnap
