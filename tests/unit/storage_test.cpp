// The storage layer on its own: files round-trip, every corruption is detected and named, the
// commit is atomic, pruning never touches the newest committed checkpoint, and system-call
// failures surface as errors that leave no committed-looking debris.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <mpisnap/archive.hpp>

#include "storage/channel_balance.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/checkpoint_store.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"
#include "storage/hdf5.hpp"
#include "storage/node_build.hpp"
#include "storage/raw_io.hpp"
#include "storage/tree_io.hpp"
#include "temp_dir.hpp"

namespace mpisnap::storage {
namespace {

struct AppState {
  std::int64_t step = 41;
  std::vector<double> grid = {1, 2, 3, 4, 5, 6, 7, 8};
  std::string name = "heat";
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(step), CEREAL_NVP(grid), CEREAL_NVP(name));
  }
};

class StorageTest : public ::testing::Test {
 protected:
  void TearDown() override { fs::reset_ops(); }

  // The manifest of a one-rank checkpoint `id` (its digest and size are not checked here).
  static Manifest one_rank_manifest(std::uint64_t id) {
    Manifest m;
    m.checkpoint_id = id;
    m.nranks = 1;
    m.rank_digest = {1};
    m.rank_bytes = {1};
    m.rank_messages = {0};
    return m;
  }

  RankCheckpoint sample(int rank, std::uint64_t id = 3) {
    RankCheckpoint cp;
    cp.checkpoint_id = id;
    cp.safe_point = 40;
    cp.rank = rank;
    cp.nranks = 2;
    cp.created_unix = 1700000000.5;
    AppState s;
    s.step += rank;
    cp.state = to_tree(s);
    RecordedMessage m1;
    m1.comm = 0;
    m1.source = 1;
    m1.tag = 7;
    m1.bytes.resize(16);
    for (std::size_t i = 0; i < 16; ++i) m1.bytes[i] = std::byte(i);
    RecordedMessage m2 = m1;
    m2.comm = 2;
    m2.tag = 9;
    m2.bytes.clear();  // a zero-byte message
    cp.channel = {m1, m2};
    cp.counters = {{0, {0, 1}, {0, 1}, {5, 6}, {7, 8}}, {2, {1, 0}, {0, 1}, {1, 0}, {0, 1}}};
    cp.counters[1].parent = 0;  // made from communicator 0, the second live one with its members
    cp.counters[1].slot = 1;
    cp.counters[1].idups = 4;
    cp.counters[1].live = false;
    return cp;
  }

  // Flips one byte of a dataset's raw data, found through HDF5 itself.
  void flip_dataset_byte(const std::string& file, const char* dataset) {
    haddr_t offset;
    {
      h5::Handle f = h5::open_file_readonly(file);
      h5::Handle d = h5::dataset(H5Dopen2(f.get(), dataset, H5P_DEFAULT));
      ASSERT_TRUE(d);
      offset = H5Dget_offset(d.get());
      ASSERT_NE(offset, HADDR_UNDEF);
    }
    const int fd = ::open(file.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    unsigned char b;
    ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(offset)), 1);
    b ^= 0xFF;
    ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(offset)), 1);
    ::close(fd);
  }

  testing::TempDir tmp_{"storage"};
  std::string root_ = tmp_.path();
};

// The checkpoint store (what the runtime, recovery and the command use): a checkpoint is in the
// listing as incomplete once its rank files are written and committed exactly once its commit ran;
// it reads back by id; a manifest in the wrong place is refused by id; prune and verify go through.
TEST_F(StorageTest, DirectoryStoreWritesCommitsListsAndLoadsById) {
  DirectoryStore store(root_, /*direct_io=*/false);
  EXPECT_EQ(store.where(), root_);
  EXPECT_EQ(store.location(3), checkpoint_path(root_, 3));
  store.check_writable();
  Manifest m;
  m.checkpoint_id = 3;
  m.safe_point = 40;
  m.nranks = 2;
  for (int r = 0; r < 2; ++r) {
    const RankFileInfo info = store.write_rank(sample(r, 3));
    m.rank_digest.push_back(info.digest);
    m.rank_bytes.push_back(info.file_bytes);
    m.rank_messages.push_back(info.messages);
  }
  auto all = store.list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_FALSE(all[0].committed) << "rank files alone do not commit a checkpoint";
  store.commit(m);
  all = store.list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all[0].committed);
  EXPECT_EQ(store.manifest(3).rank_digest, m.rank_digest);
  EXPECT_EQ(store.load_rank(3, 1).cp.rank, 1);
  // (sample()'s counters are made up: verify reads every rank's file and finds they do not balance)
  const VerifyReport report = store.verify(3);
  EXPECT_TRUE(report.committed);
  ASSERT_FALSE(report.problems.empty());
  EXPECT_NE(report.problems[0].find("does not balance"), std::string::npos) << report.problems[0];
  EXPECT_TRUE(store.prune(1, 0).removed.empty()) << "the newest committed checkpoint stays";

  // Checkpoint 4: the same files, and checkpoint 3's manifest copied in by hand.
  for (int r = 0; r < 2; ++r) store.write_rank(sample(r, 4));
  ASSERT_EQ(std::system(("cp " + store.location(3) + "/" + kManifestName + " " + store.location(4)).c_str()), 0);
  try {
    store.manifest(4);
    ADD_FAILURE() << "a manifest of checkpoint 3 read as checkpoint 4's";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds the manifest of checkpoint 3"), std::string::npos) << e.what();
  }
}

TEST_F(StorageTest, RankFileRoundTrips) {
  const std::string dir = checkpoint_path(root_, 3);
  const RankCheckpoint cp = sample(1);
  const RankFileInfo written = write_rank_file(dir, cp);
  EXPECT_GT(written.file_bytes, 0u);
  EXPECT_EQ(written.messages, 2u);
  const LoadedRankFile back = read_rank_file(dir, 1);
  EXPECT_EQ(back.info.digest, written.digest);
  EXPECT_EQ(back.cp.checkpoint_id, 3u);
  EXPECT_EQ(back.cp.safe_point, 40u);
  EXPECT_EQ(back.cp.nranks, 2);
  ASSERT_EQ(back.cp.channel.size(), 2u);
  EXPECT_EQ(back.cp.channel[0].bytes, cp.channel[0].bytes);
  EXPECT_EQ(back.cp.channel[0].tag, 7);
  EXPECT_EQ(back.cp.channel[1].comm, 2u);
  EXPECT_TRUE(back.cp.channel[1].bytes.empty());
  ASSERT_EQ(back.cp.counters.size(), 2u);
  EXPECT_EQ(back.cp.counters[1].world_ranks, (std::vector<std::int32_t>{1, 0}));
  EXPECT_EQ(back.cp.counters[0].sent_total, (std::vector<std::uint64_t>{5, 6}));
  EXPECT_EQ(back.cp.counters[0].parent, CommCounters::kNoParent);
  EXPECT_TRUE(back.cp.counters[0].live);
  EXPECT_EQ(back.cp.counters[1].parent, 0u);
  EXPECT_EQ(back.cp.counters[1].slot, 1u);
  EXPECT_EQ(back.cp.counters[1].idups, 4u);
  EXPECT_FALSE(back.cp.counters[1].live);
  EXPECT_TRUE(back.cp.counters[1].local_world_ranks.empty());
  AppState s;
  from_tree(back.cp.state, s);
  EXPECT_EQ(s.step, 42);
  EXPECT_EQ(s.grid, AppState{}.grid);
  EXPECT_EQ(s.name, "heat");
  EXPECT_FALSE(fs::exists(dir + "/" + rank_file_name(1) + ".tmp"));
}

TEST_F(StorageTest, FlippedDataByteIsNamed) {
  const std::string dir = checkpoint_path(root_, 3);
  write_rank_file(dir, sample(0));
  const std::string file = dir + "/" + rank_file_name(0);
  flip_dataset_byte(file, "/state/grid");
  try {
    read_rank_file(dir, 0);
    FAIL() << "a flipped byte must be detected";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/state/grid"), std::string::npos) << msg;
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
  }
}

TEST_F(StorageTest, FlippedChannelPayloadIsNamed) {
  const std::string dir = checkpoint_path(root_, 3);
  write_rank_file(dir, sample(0));
  flip_dataset_byte(dir + "/" + rank_file_name(0), "/channel/payload");
  try {
    read_rank_file(dir, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/channel/payload"), std::string::npos) << e.what();
  }
}

TEST_F(StorageTest, TruncatedAndMissingFilesAreErrors) {
  const std::string dir = checkpoint_path(root_, 3);
  write_rank_file(dir, sample(0));
  const std::string file = dir + "/" + rank_file_name(0);
  ASSERT_EQ(::truncate(file.c_str(), static_cast<off_t>(fs::file_size(file) / 2)), 0);
  EXPECT_THROW(read_rank_file(dir, 0), Error);
  try {
    read_rank_file(dir, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is missing"), std::string::npos) << e.what();
  }
}

TEST_F(StorageTest, FileOfAnotherRankIsRejected) {
  const std::string dir = checkpoint_path(root_, 3);
  write_rank_file(dir, sample(0));
  ASSERT_EQ(std::rename((dir + "/" + rank_file_name(0)).c_str(), (dir + "/" + rank_file_name(1)).c_str()), 0);
  try {
    read_rank_file(dir, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0's data"), std::string::npos) << e.what();
  }
}

TEST_F(StorageTest, FilesFromTwoCheckpointsHaveDifferentDigests) {
  const RankFileInfo a = write_rank_file(checkpoint_path(root_, 3), sample(0, 3));
  const RankFileInfo b = write_rank_file(checkpoint_path(root_, 4), sample(0, 4));
  EXPECT_NE(a.digest, b.digest);
}

TEST_F(StorageTest, NewerMajorFormatIsRejected) {
  const std::string dir = checkpoint_path(root_, 3);
  write_rank_file(dir, sample(0));
  const std::string file = dir + "/" + rank_file_name(0);
  {
    h5::Handle f = h5::file(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_TRUE(f);
    H5Adelete(f.get(), "mpisnap_format_major");
    h5::write_attr_u64(f.get(), "mpisnap_format_major", 2, file);
  }
  try {
    read_rank_file(dir, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format version 2." + std::to_string(kFormatMinor)), std::string::npos)
        << e.what();
  }
}

// Rewrites `file`'s /counters in the layout of formats 1.0-1.4, a group per communicator
// (comm_<id>), and marks the file 1.<minor>: 1.0 has no lineage and one total per member (dense),
// 1.1-1.3 lineage and dense totals, 1.4 lineage and the peers with their totals (sparse).
void rewrite_counters_as(const std::string& file, const std::vector<CommCounters>& counters, std::uint64_t minor) {
  Node root = group_node("");
  Node g = group_node("counters");
  for (const CommCounters& c : counters) {
    Node cg = group_node("comm_" + std::to_string(c.comm));
    cg.children.push_back(scalar_node("id", c.comm));
    cg.children.push_back(array_node("world_ranks", c.world_ranks));
    if (minor >= 4) {
      cg.children.push_back(array_node("peers", c.peers));
      cg.children.push_back(array_node("sent_total", c.sent_total));
      cg.children.push_back(array_node("delivered_total", c.delivered_total));
    } else {
      std::vector<std::uint64_t> sent, delivered;
      for (std::int32_t m = 0; m < static_cast<std::int32_t>(c.world_ranks.size()); ++m) {
        sent.push_back(c.sent_to(m));
        delivered.push_back(c.delivered_from(m));
      }
      cg.children.push_back(array_node("sent_total", sent));
      cg.children.push_back(array_node("delivered_total", delivered));
    }
    cg.children.push_back(scalar_node("collectives", c.collectives));
    if (minor >= 1) {
      cg.children.push_back(scalar_node("parent", c.parent));
      cg.children.push_back(scalar_node("slot", c.slot));
      cg.children.push_back(array_node("local_world_ranks", c.local_world_ranks));
      cg.children.push_back(scalar_node("live", std::uint64_t{c.live ? 1u : 0u}));
      cg.children.push_back(scalar_node("idups", c.idups));
    }
    g.children.push_back(std::move(cg));
  }
  root.children.push_back(std::move(g));
  h5::Handle f = h5::file(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
  ASSERT_TRUE(f);
  ASSERT_GE(H5Ldelete(f.get(), "/counters", H5P_DEFAULT), 0);
  Xxh64 digest;
  TreeStats stats;
  write_tree(f.get(), root, file, digest, stats, false);
  H5Adelete(f.get(), "mpisnap_format_minor");
  h5::write_attr_u64(f.get(), "mpisnap_format_minor", minor, file);
}

// Rewrites `file`'s library records in the layout of format 1.5 (a group /meta of five scalars, the
// channel in four arrays, a peer's rank and totals in three) and marks it 1.5.
void rewrite_as_format_1_5(const std::string& file, const RankCheckpoint& cp) {
  Node root = group_node("");
  Node meta = group_node("meta");
  meta.children.push_back(scalar_node("checkpoint_id", cp.checkpoint_id));
  meta.children.push_back(scalar_node("safe_point", cp.safe_point));
  meta.children.push_back(scalar_node("rank", cp.rank));
  meta.children.push_back(scalar_node("nranks", cp.nranks));
  meta.children.push_back(scalar_node("created_unix", cp.created_unix));
  root.children.push_back(std::move(meta));
  Node channel = group_node("channel");
  std::vector<std::uint64_t> comm, length;
  std::vector<std::int32_t> source, tag;
  std::vector<std::uint8_t> payload;
  for (const RecordedMessage& m : cp.channel) {
    comm.push_back(m.comm);
    source.push_back(m.source);
    tag.push_back(m.tag);
    length.push_back(m.bytes.size());
    for (std::byte b : m.bytes) payload.push_back(static_cast<std::uint8_t>(b));
  }
  channel.children.push_back(array_node("comm", comm));
  channel.children.push_back(array_node("source", source));
  channel.children.push_back(array_node("tag", tag));
  channel.children.push_back(array_node("length", length));
  channel.children.push_back(array_node("payload", payload));
  root.children.push_back(std::move(channel));
  Node counters = group_node("counters");
  std::vector<std::uint64_t> rows, sent, delivered;
  std::vector<std::int32_t> world, local_world, peers;
  for (const CommCounters& c : cp.counters) {
    rows.insert(rows.end(), {c.comm, c.parent, c.slot, c.collectives, c.idups, std::uint64_t{c.live ? 1u : 0u},
                             c.world_ranks.size(), c.local_world_ranks.size(), c.peers.size()});
    world.insert(world.end(), c.world_ranks.begin(), c.world_ranks.end());
    local_world.insert(local_world.end(), c.local_world_ranks.begin(), c.local_world_ranks.end());
    peers.insert(peers.end(), c.peers.begin(), c.peers.end());
    sent.insert(sent.end(), c.sent_total.begin(), c.sent_total.end());
    delivered.insert(delivered.end(), c.delivered_total.begin(), c.delivered_total.end());
  }
  counters.children.push_back(u64_table_node(
      "comms", {"id", "parent", "slot", "collectives", "idups", "live", "members", "local_members", "peers"}, rows));
  counters.children.push_back(array_node("world_ranks", world));
  counters.children.push_back(array_node("local_world_ranks", local_world));
  counters.children.push_back(array_node("peers", peers));
  counters.children.push_back(array_node("sent_total", sent));
  counters.children.push_back(array_node("delivered_total", delivered));
  root.children.push_back(std::move(counters));
  h5::Handle f = h5::file(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
  ASSERT_TRUE(f);
  for (const char* path : {"/meta", "/channel", "/counters"}) ASSERT_GE(H5Ldelete(f.get(), path, H5P_DEFAULT), 0) << path;
  Xxh64 digest;
  TreeStats stats;
  write_tree(f.get(), root, file, digest, stats, false);
  H5Adelete(f.get(), "mpisnap_format_minor");
  h5::write_attr_u64(f.get(), "mpisnap_format_minor", 5, file);
}

// A format 1.5 file reads as it was written: its metadata, its channel and its counters.
TEST_F(StorageTest, FormatOneFiveReads) {
  const std::string dir = checkpoint_path(root_, 3);
  const RankCheckpoint cp = sample(1);
  write_rank_file(dir, cp);
  rewrite_as_format_1_5(dir + "/" + rank_file_name(1), cp);
  {
    h5::Handle f = h5::open_file_readonly(dir + "/" + rank_file_name(1));
    EXPECT_EQ(h5::read_attr_u64(f.get(), "mpisnap_format_minor", "test"), 5u);
    EXPECT_GT(H5Lexists(f.get(), "/channel/tag", H5P_DEFAULT), 0);
  }
  const LoadedRankFile back = read_rank_file(dir, 1);
  EXPECT_EQ(back.cp.checkpoint_id, cp.checkpoint_id);
  EXPECT_EQ(back.cp.safe_point, cp.safe_point);
  EXPECT_EQ(back.cp.rank, 1);
  EXPECT_EQ(back.cp.nranks, cp.nranks);
  EXPECT_EQ(back.cp.created_unix, cp.created_unix);
  ASSERT_EQ(back.cp.channel.size(), 2u);
  EXPECT_EQ(back.cp.channel[0].bytes, cp.channel[0].bytes);
  EXPECT_EQ(back.cp.channel[1].comm, 2u);
  EXPECT_EQ(back.cp.channel[1].tag, 9);
  EXPECT_TRUE(back.cp.channel[1].bytes.empty());
  ASSERT_EQ(back.cp.counters.size(), 2u);
  EXPECT_EQ(back.cp.counters[0].peers, cp.counters[0].peers);
  EXPECT_EQ(back.cp.counters[0].sent_total, cp.counters[0].sent_total);
  EXPECT_EQ(back.cp.counters[1].delivered_total, cp.counters[1].delivered_total);
  EXPECT_EQ(back.cp.counters[1].parent, 0u);
  AppState st;
  from_tree(back.cp.state, st);
  EXPECT_EQ(st.step, 42);
  EXPECT_EQ(st.name, "heat");
}

// Arrays from 1 MiB go past HDF5; only those of kDirectWriteMin or more with O_DIRECT (below it
// the device's wait and the fsync's second one cost more than the page cache's copy saves). Both
// read back as written, and with direct I/O off nothing goes that way.
TEST_F(StorageTest, OnlyLargeArraysAreWrittenWithDirectIo) {
  const std::string probe = root_ + "/probe";
  const int pfd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0644);
  if (pfd < 0) GTEST_SKIP() << root_ << " does not support O_DIRECT";
  ::close(pfd);
  std::vector<double> small(kDirectWriteMin / 2 / sizeof(double)), large(kDirectWriteMin / sizeof(double));
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<double>(i) * 0.5;
  for (std::size_t i = 0; i < small.size(); ++i) small[i] = static_cast<double>(i) * 3.0;
  Node root = group_node("");
  root.children.push_back(array_node("small", small));
  root.children.push_back(array_node("large", large));
  for (const bool allow : {true, false}) {
    const std::string file = root_ + (allow ? "/direct.h5" : "/buffered.h5");
    TreeStats stats;
    {
      h5::Handle f = h5::create_file(file);
      Xxh64 digest;
      write_tree(f.get(), root, file, digest, stats, allow);
      f.close(file);
    }
    EXPECT_EQ(stats.direct_bytes, allow ? large.size() * sizeof(double) : 0u) << file;
    h5::Handle f = h5::open_file_readonly(file);
    Xxh64 digest;
    TreeStats read_stats;
    const Node back = read_tree(f.get(), file, digest, read_stats, false);
    ASSERT_EQ(back.children.size(), 2u);
    EXPECT_EQ(array_values<double>(back, "small", file), small);
    EXPECT_EQ(array_values<double>(back, "large", file), large);
  }
}

// Format 1.6 keeps the library's own records in seven datasets, whatever the number of
// communicators and messages (HDF5's cost is per object): /meta, /channel/{messages,payload} and
// /counters/{comms,world_ranks,local_world_ranks,peer_totals}.
TEST_F(StorageTest, LibraryRecordsAreSevenDatasetsWhateverTheNumberOfCommunicators) {
  const std::string dir = checkpoint_path(root_, 3);
  RankCheckpoint cp = sample(0);
  for (std::uint64_t id = 3; id < 40; ++id) {
    CommCounters c{id, {0, 1, 2}, {2}, {id}, {id + 1}};
    c.parent = 0;
    c.local_world_ranks = id % 2 ? std::vector<std::int32_t>{} : std::vector<std::int32_t>{1};
    cp.counters.push_back(c);
  }
  write_rank_file(dir, cp);
  const std::string file = dir + "/" + rank_file_name(0);
  {
    h5::Handle f = h5::open_file_readonly(file);
    for (const auto& [group, links] : std::vector<std::pair<const char*, hsize_t>>{{"/counters", 4}, {"/channel", 2}}) {
      h5::Handle g = h5::group(H5Gopen2(f.get(), group, H5P_DEFAULT));
      ASSERT_TRUE(g) << group;
      H5G_info_t info{};
      ASSERT_GE(H5Gget_info(g.get(), &info), 0);
      EXPECT_EQ(info.nlinks, links) << group;
    }
    H5O_info_t meta{};
    ASSERT_GE(H5Oget_info_by_name2(f.get(), "/meta", &meta, H5O_INFO_BASIC, H5P_DEFAULT), 0);
    EXPECT_EQ(meta.type, H5O_TYPE_DATASET);
  }
  const LoadedRankFile back = read_rank_file(dir, 0);
  ASSERT_EQ(back.cp.counters.size(), cp.counters.size());
  for (std::size_t i = 0; i < cp.counters.size(); ++i) {
    const CommCounters &a = cp.counters[i], &b = back.cp.counters[i];
    EXPECT_EQ(b.comm, a.comm);
    EXPECT_EQ(b.world_ranks, a.world_ranks) << i;
    EXPECT_EQ(b.local_world_ranks, a.local_world_ranks) << i;
    EXPECT_EQ(b.peers, a.peers) << i;
    EXPECT_EQ(b.sent_total, a.sent_total) << i;
    EXPECT_EQ(b.delivered_total, a.delivered_total) << i;
    EXPECT_EQ(b.parent, a.parent) << i;
    EXPECT_EQ(b.slot, a.slot) << i;
    EXPECT_EQ(b.idups, a.idups) << i;
    EXPECT_EQ(b.live, a.live) << i;
  }
  EXPECT_EQ(back.cp.checkpoint_id, cp.checkpoint_id);
  EXPECT_EQ(back.cp.safe_point, cp.safe_point);
  EXPECT_EQ(back.cp.rank, cp.rank);
  EXPECT_EQ(back.cp.nranks, cp.nranks);
  EXPECT_EQ(back.cp.created_unix, cp.created_unix);
  ASSERT_EQ(back.cp.channel.size(), cp.channel.size());
  for (std::size_t i = 0; i < cp.channel.size(); ++i) {
    EXPECT_EQ(back.cp.channel[i].comm, cp.channel[i].comm) << i;
    EXPECT_EQ(back.cp.channel[i].source, cp.channel[i].source) << i;
    EXPECT_EQ(back.cp.channel[i].tag, cp.channel[i].tag) << i;
    EXPECT_EQ(back.cp.channel[i].bytes, cp.channel[i].bytes) << i;
  }
}

// A format 1.0 file has no communicator lineage: it still reads, and names no parent (its
// communicators are matched by creation order only, as the 1.0 library did).
TEST_F(StorageTest, FormatOneZeroWithoutLineageReads) {
  const std::string dir = checkpoint_path(root_, 3);
  const RankCheckpoint cp = sample(0);
  write_rank_file(dir, cp);
  rewrite_counters_as(dir + "/" + rank_file_name(0), cp.counters, 0);
  const LoadedRankFile back = read_rank_file(dir, 0);
  ASSERT_EQ(back.cp.counters.size(), 2u);
  for (const CommCounters& c : back.cp.counters) EXPECT_EQ(c.parent, CommCounters::kNoParent);
  EXPECT_EQ(back.cp.counters[1].world_ranks, (std::vector<std::int32_t>{1, 0}));
  // Before 1.4 the totals were one per member: read, they are the members with a nonzero total.
  EXPECT_EQ(back.cp.counters[0].peers, (std::vector<std::int32_t>{0, 1}));
  EXPECT_EQ(back.cp.counters[0].sent_to(1), 6u);
  EXPECT_EQ(back.cp.counters[0].delivered_from(0), 7u);
  EXPECT_EQ(back.cp.counters[1].sent_to(0), 1u);
  EXPECT_EQ(back.cp.counters[1].sent_to(1), 0u);
  EXPECT_EQ(back.cp.counters[1].delivered_from(1), 1u);
}

// Formats 1.1-1.4 (a group per communicator, with lineage) read as they were written.
TEST_F(StorageTest, FormatsWithAGroupPerCommunicatorRead) {
  for (std::uint64_t minor : {1u, 4u}) {
    const std::string dir = checkpoint_path(root_, 3);
    const RankCheckpoint cp = sample(0);
    write_rank_file(dir, cp);
    rewrite_counters_as(dir + "/" + rank_file_name(0), cp.counters, minor);
    const LoadedRankFile back = read_rank_file(dir, 0);
    ASSERT_EQ(back.cp.counters.size(), 2u) << minor;
    EXPECT_EQ(back.cp.counters[1].parent, 0u) << minor;
    EXPECT_EQ(back.cp.counters[1].slot, 1u) << minor;
    EXPECT_EQ(back.cp.counters[1].idups, 4u) << minor;
    EXPECT_FALSE(back.cp.counters[1].live) << minor;
    EXPECT_EQ(back.cp.counters[0].sent_to(1), 6u) << minor;
    EXPECT_EQ(back.cp.counters[1].delivered_from(1), 1u) << minor;
    EXPECT_EQ(back.cp.counters[1].delivered_from(0), 0u) << minor;
  }
}

// Sparse counters (1.4 on) name peers that are members, once each, in increasing order: anything
// else is a damaged file, named with the communicator, not counts given to the wrong channel. So
// are counts of values that do not add up to what is stored.
TEST_F(StorageTest, CountersOfPeersThatAreNotMembersAreAnError) {
  const std::string dir = checkpoint_path(root_, 3);
  const std::vector<std::pair<std::vector<std::int32_t>, const char*>> bad = {
      {{0, 2}, "peer 2 is not a member"}, {{1, 0}, "peer 0 is not a member in increasing order"},
      {{1, 1}, "peer 1 is not a member in increasing order"}, {{-1, 0}, "peer -1"}};
  for (std::uint64_t minor : {6u, 5u, 4u}) {
    for (const auto& [peers, expected] : bad) {
      RankCheckpoint cp = sample(0);
      cp.counters[0].peers = peers;
      write_rank_file(dir, cp);
      if (minor == 5) rewrite_as_format_1_5(dir + "/" + rank_file_name(0), cp);
      if (minor == 4) rewrite_counters_as(dir + "/" + rank_file_name(0), cp.counters, 4);
      try {
        read_rank_file(dir, 0);
        ADD_FAILURE() << "peers " << peers[0] << "," << peers[1] << " read (format 1." << minor << ")";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(minor == 4 ? "/counters/comm_0" : "/counters/comms[0] (communicator 0)"),
                  std::string::npos)
            << e.what();
      }
    }
  }
  // Totals that disagree with the peers are not written (1.6 has a record per peer), and a 1.5
  // file holding such arrays does not read.
  RankCheckpoint cp = sample(0);
  cp.counters[0].sent_total.pop_back();
  EXPECT_THROW(write_rank_file(dir, cp), Error);
  write_rank_file(dir, sample(0));
  rewrite_as_format_1_5(dir + "/" + rank_file_name(0), cp);
  EXPECT_THROW(read_rank_file(dir, 0), Error);
}

// The concatenated values of 1.5 and 1.6 must be exactly what the communicators' counts say.
TEST_F(StorageTest, CountersWhoseCountsDoNotAddUpAreAnError) {
  const std::string dir = checkpoint_path(root_, 3);
  const std::string file = dir + "/" + rank_file_name(0);
  for (const char* extra : {"world_ranks", "peer_totals"}) {
    const RankCheckpoint cp = sample(0);
    write_rank_file(dir, cp);
    {
      // One value more than the records account for.
      h5::Handle f = h5::file(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
      ASSERT_TRUE(f);
      const std::string path = std::string("/counters/") + extra;
      ASSERT_GE(H5Ldelete(f.get(), path.c_str(), H5P_DEFAULT), 0);
      Node more;
      if (std::string(extra) == "world_ranks") {
        std::vector<std::int32_t> v;
        for (const CommCounters& c : cp.counters) v.insert(v.end(), c.world_ranks.begin(), c.world_ranks.end());
        v.push_back(0);
        more = array_node(extra, v);
      } else {
        std::vector<std::uint64_t> cells;
        for (const CommCounters& c : cp.counters)
          for (std::size_t k = 0; k < c.peers.size(); ++k)
            cells.insert(cells.end(), {cell(std::int64_t{c.peers[k]}), c.sent_total[k], c.delivered_total[k]});
        cells.insert(cells.end(), {0, 0, 0});
        more = table_node(extra, {{"peer", ScalarType::Int64}, {"sent", ScalarType::UInt64}, {"delivered", ScalarType::UInt64}},
                          cells);
      }
      Node root = group_node("");
      Node g = group_node("counters");
      g.children.push_back(std::move(more));
      root.children.push_back(std::move(g));
      h5::Handle counters = h5::group(H5Gopen2(f.get(), "/counters", H5P_DEFAULT));
      Xxh64 digest;
      TreeStats stats;
      write_tree(counters.get(), root.children[0], file, digest, stats, false);
    }
    try {
      read_rank_file(dir, 0);
      ADD_FAILURE() << "an extra value in " << extra << " read";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("/counters"), std::string::npos) << what;
      EXPECT_TRUE(what.find("beyond what the communicators' counts cover") != std::string::npos ||
                  what.find("disagree on the number of peers") != std::string::npos)
          << what;
    }
  }
  // Counts that claim more than is stored.
  RankCheckpoint cp = sample(0);
  write_rank_file(dir, cp);
  {
    h5::Handle f = h5::file(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_TRUE(f);
    ASSERT_GE(H5Ldelete(f.get(), "/counters/world_ranks", H5P_DEFAULT), 0);
    Node ranks = array_node("world_ranks", std::vector<std::int32_t>{0, 1, 1});  // 4 needed
    h5::Handle counters = h5::group(H5Gopen2(f.get(), "/counters", H5P_DEFAULT));
    Node g = group_node("");
    g.children.push_back(std::move(ranks));
    Xxh64 digest;
    TreeStats stats;
    write_tree(counters.get(), g, file, digest, stats, false);
  }
  try {
    read_rank_file(dir, 0);
    ADD_FAILURE() << "counts beyond the stored world_ranks read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("add up to more than the 3 stored"), std::string::npos) << e.what();
  }
}

TEST_F(StorageTest, ManifestRoundTripsAndCommits) {
  const std::string dir = checkpoint_path(root_, 5);
  write_rank_file(dir, sample(0, 5));
  write_rank_file(dir, sample(1, 5));
  EXPECT_FALSE(list_checkpoints(root_).at(0).committed);
  Manifest m;
  m.checkpoint_id = 5;
  m.safe_point = 40;
  m.nranks = 2;
  m.rank_digest = {11, 22};
  m.rank_bytes = {100, 200};
  m.rank_messages = {2, 0};
  write_manifest(dir, m);
  EXPECT_TRUE(list_checkpoints(root_).at(0).committed);
  const Manifest back = read_manifest(dir);
  EXPECT_EQ(back.checkpoint_id, 5u);
  EXPECT_EQ(back.rank_digest, m.rank_digest);
  EXPECT_EQ(back.rank_messages, m.rank_messages);
  EXPECT_FALSE(fs::exists(dir + "/manifest.h5.tmp"));
}

TEST_F(StorageTest, CorruptManifestIsAnError) {
  const std::string dir = checkpoint_path(root_, 5);
  const Manifest m = one_rank_manifest(5);
  fs::make_dirs(dir);
  write_manifest(dir, m);
  flip_dataset_byte(dir + "/manifest.h5", "/checkpoint/rank_digest");
  EXPECT_THROW(read_manifest(dir), Error);
}

void touch_checkpoint(const std::string& root, std::uint64_t id, bool committed) {
  const std::string dir = checkpoint_path(root, id);
  fs::make_dirs(dir);
  std::ofstream(dir + "/rank-000000.h5") << "x";
  if (committed) std::ofstream(dir + "/manifest.h5") << "x";
}

TEST_F(StorageTest, PruneKeepsNewestCommittedAndInProgress) {
  touch_checkpoint(root_, 1, true);
  touch_checkpoint(root_, 2, false);  // a crashed run's partial checkpoint
  touch_checkpoint(root_, 3, true);
  touch_checkpoint(root_, 4, true);
  touch_checkpoint(root_, 5, false);  // being written now
  const PruneResult r = prune(root_, 2);
  EXPECT_EQ(r.removed, (std::vector<std::uint64_t>{1, 2}));
  std::vector<std::uint64_t> left;
  for (const auto& e : list_checkpoints(root_)) left.push_back(e.id);
  EXPECT_EQ(left, (std::vector<std::uint64_t>{3, 4, 5}));
  EXPECT_EQ(next_checkpoint_id(root_), 6u);
  prune(root_, 0);  // keep is at least 1: the newest committed one survives
  left.clear();
  for (const auto& e : list_checkpoints(root_)) left.push_back(e.id);
  EXPECT_EQ(left, (std::vector<std::uint64_t>{4, 5}));
}

// A run that started fresh beside older checkpoints (MPISNAP_FRESH, or none verified) prunes only
// its own: the floor is its first checkpoint id.
TEST_F(StorageTest, PruneNeverRemovesWhatTheRunDidNotSupersede) {
  touch_checkpoint(root_, 1, true);
  touch_checkpoint(root_, 2, true);  // the older job's checkpoints
  for (std::uint64_t id = 3; id <= 6; ++id) touch_checkpoint(root_, id, true);  // this run's, from 3
  const PruneResult r = prune(root_, 2, 3);
  EXPECT_EQ(r.removed, (std::vector<std::uint64_t>{3, 4}));
  std::vector<std::uint64_t> left;
  for (const auto& e : list_checkpoints(root_)) left.push_back(e.id);
  EXPECT_EQ(left, (std::vector<std::uint64_t>{1, 2, 5, 6}));
}

TEST_F(StorageTest, ListingIgnoresForeignNames) {
  fs::make_dirs(root_ + "/ckpt-abc");
  fs::make_dirs(root_ + "/notes");
  std::ofstream(root_ + "/ckpt-00000009") << "a file, not a directory";
  touch_checkpoint(root_, 7, true);
  const auto all = list_checkpoints(root_);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, 7u);
  EXPECT_TRUE(list_checkpoints(root_ + "/does-not-exist").empty());
}

TEST_F(StorageTest, FailedRenameLeavesNoFinalFile) {
  fs::ops().rename = [](const char*, const char*) {
    errno = ENOSPC;
    return -1;
  };
  const std::string dir = checkpoint_path(root_, 3);
  try {
    write_rank_file(dir, sample(0));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir + "/" + rank_file_name(0)));
}

// Rank files are renamed into place without a sync of their directory; the commit syncs it once
// for all of them, before the manifest's rename: a manifest is never durable before the names of the
// files it lists.
std::vector<std::string> g_calls;
TEST_F(StorageTest, TheCommitSyncsTheRankFilesNamesBeforeTheManifests) {
  const std::string dir = checkpoint_path(root_, 3);
  g_calls.clear();
  fs::ops().open = [](const char* path, int flags, mode_t mode) {
    g_calls.push_back(std::string("open ") + path);
    return ::open(path, flags, mode);
  };
  fs::ops().fsync = [](int fd) {
    g_calls.push_back("fsync");
    return ::fsync(fd);
  };
  fs::ops().rename = [](const char* from, const char* to) {
    g_calls.push_back(std::string("rename ") + to);
    return ::rename(from, to);
  };
  write_rank_file(dir, sample(0));
  const std::size_t rank_file_calls = g_calls.size();
  const Manifest m = one_rank_manifest(3);
  write_manifest(dir, m);
  auto dir_synced = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i + 1 < to; ++i)
      if (g_calls[i] == "open " + dir && g_calls[i + 1] == "fsync") return true;
    return false;
  };
  std::size_t manifest_rename = g_calls.size();
  for (std::size_t i = rank_file_calls; i < g_calls.size(); ++i)
    if (g_calls[i] == "rename " + dir + "/" + kManifestName) manifest_rename = i;
  ASSERT_LT(manifest_rename, g_calls.size());
  EXPECT_TRUE(dir_synced(rank_file_calls, manifest_rename)) << "the directory is synced before the manifest's rename";
  EXPECT_TRUE(dir_synced(manifest_rename, g_calls.size())) << "and after it";
  EXPECT_TRUE(list_checkpoints(root_).at(0).committed);
}

TEST_F(StorageTest, FailedFsyncStopsTheCommit) {
  const std::string dir = checkpoint_path(root_, 3);
  fs::ops().fsync = [](int) {
    errno = EIO;
    return -1;
  };
  const Manifest m = one_rank_manifest(3);
  fs::make_dirs(dir);
  EXPECT_THROW(write_manifest(dir, m), Error);
  EXPECT_FALSE(list_checkpoints(root_).at(0).committed);
}


// Three messages from rank 0 to rank 1 on communicator 7, one received: a violation while rank 1
// holds the communicator; abandoned (2) once rank 1 had freed it (Runtime::release_colors); more
// received than sent is wrong either way.
TEST(ChannelBalance, AReceiverThatFreedTheCommunicatorMayHaveLeftMessages) {
  auto counters = [](std::int32_t self, bool live, std::uint64_t sent, std::uint64_t delivered) {
    CommCounters c;
    c.comm = 7;
    c.world_ranks = {0, 1};
    c.live = live;
    c.add_peer(1 - self, sent, delivered);
    return c;
  };
  std::vector<RankCheckpoint> ranks(2);
  ranks[0].counters.push_back(counters(0, true, 3, 0));
  ranks[1].counters.push_back(counters(1, true, 0, 1));
  EXPECT_FALSE(check_channel_balance(ranks).ok());
  ranks[1].counters[0].live = false;
  const BalanceReport freed = check_channel_balance(ranks);
  EXPECT_TRUE(freed.ok()) << freed.violations.front();
  EXPECT_EQ(freed.abandoned, 2u);
  ranks[1].counters[0] = counters(1, false, 0, 4);
  EXPECT_FALSE(check_channel_balance(ranks).ok());
}

}  // namespace
}  // namespace mpisnap::storage
