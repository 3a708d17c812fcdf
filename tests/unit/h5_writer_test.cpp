// Rank files written and read without the HDF5 library (storage/h5_writer.hpp, h5_reader.hpp): the
// HDF5 library reads back every kind of node exactly as it reads what it wrote itself, with the same
// digest, and so does the reader here; h5dump accepts the file; what the writer cannot write goes
// to the library, what the reader cannot read too; failures and damage are named.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>

#include <mpisnap/archive.hpp>

#include "storage/checkpoint_files.hpp"
#include "storage/fs.hpp"
#include "storage/h5_reader.hpp"
#include "storage/h5_writer.hpp"
#include "storage/hdf5.hpp"
#include "storage/node_build.hpp"
#include "storage/tree_io.hpp"
#include "temp_dir.hpp"

extern "C" std::uint32_t H5_checksum_lookup3(const void* key, std::size_t length, std::uint32_t initval);

namespace mpisnap::storage {
namespace {

Node leaf(std::string name, Node::Kind kind, ScalarType type, std::uint64_t count, std::size_t bytes, unsigned seed) {
  Node n;
  n.name = std::move(name);
  n.kind = kind;
  n.type = type;
  n.count = count;
  n.data.resize(bytes);
  std::mt19937 rng(seed);
  for (auto& b : n.data) b = std::byte(rng() & 0xff);
  if (type == ScalarType::Bool)
    for (auto& b : n.data) b = std::byte(static_cast<unsigned>(b) & 1);
  return n;
}

// Every kind of node the archive makes: scalars and arrays of every type, empty arrays, shapes,
// blocks of global arrays, characters, strings (empty too), tables with char and array members,
// groups with size tags and roles, nesting, a name longer than 255 bytes, and an array large
// enough to go past the metadata (raw_io).
Node every_kind() {
  Node root = group_node("");
  Node state = group_node("state");
  const ScalarType types[] = {ScalarType::Int8,  ScalarType::UInt8,   ScalarType::Int16,   ScalarType::UInt16,
                              ScalarType::Int32, ScalarType::UInt32,  ScalarType::Int64,   ScalarType::UInt64,
                              ScalarType::Float32, ScalarType::Float64, ScalarType::Bool, ScalarType::Char};
  unsigned seed = 1;
  Node scalars = group_node("scalars");
  Node arrays = group_node("arrays");
  arrays.has_size = true;
  arrays.size = 12;
  for (ScalarType t : types) {
    scalars.children.push_back(leaf(std::string("s_") + to_string(t), Node::Kind::Scalar, t, 1, size_of(t), seed++));
    if (t == ScalarType::Char) continue;  // (an array of chars is a string: below)
    arrays.children.push_back(leaf(std::string("a_") + to_string(t), Node::Kind::Array, t, 37, 37 * size_of(t), seed++));
    arrays.children.push_back(leaf(std::string("empty_") + to_string(t), Node::Kind::Array, t, 0, 0, seed++));
  }
  state.children.push_back(std::move(scalars));
  state.children.push_back(std::move(arrays));

  Node grid = leaf("grid", Node::Kind::Array, ScalarType::Float64, 6 * 5 * 4, 6 * 5 * 4 * 8, seed++);
  grid.shape = {6, 5, 4};
  grid.global_offset = {6, 0, 0};
  grid.global_extent = {12, 5, 4};
  state.children.push_back(std::move(grid));
  Node block = leaf("block", Node::Kind::Array, ScalarType::Int32, 10, 40, seed++);
  block.global_offset = {30};
  block.global_extent = {100};
  state.children.push_back(std::move(block));

  Node text = leaf("name", Node::Kind::Array, ScalarType::Char, 11, 11, 0);
  std::memcpy(text.data.data(), "heat\tflow\n!", 11);
  state.children.push_back(std::move(text));
  state.children.push_back(leaf("nothing", Node::Kind::Array, ScalarType::Char, 0, 0, 0));

  Node table;  // struct { double x; char c; int32 v[3]; bool on; } with padding
  table.name = "particles";
  table.kind = Node::Kind::Table;
  table.record_bytes = 32;
  table.fields = {{"x", 0, ScalarType::Float64, 1},
                  {"c", 8, ScalarType::Char, 1},
                  {"v", 12, ScalarType::Int32, 3},
                  {"pos.on", 24, ScalarType::Bool, 1}};
  table.count = 9;
  table.data.resize(9 * 32);
  std::mt19937 rng(7);
  for (auto& b : table.data) b = std::byte(rng() & 0xff);
  for (std::size_t r = 0; r < 9; ++r) table.data[r * 32 + 24] = std::byte(r & 1);
  state.children.push_back(table);
  Node empty_table = table;
  empty_table.name = "no_particles";
  empty_table.count = 0;
  empty_table.data.clear();
  state.children.push_back(std::move(empty_table));

  Node map = group_node("index");
  map.role = "map";
  map.has_size = true;
  map.size = 2;
  map.children.push_back(leaf("keys", Node::Kind::Array, ScalarType::Int64, 2, 16, seed++));
  map.children.push_back(leaf("values", Node::Kind::Array, ScalarType::Float64, 2, 16, seed++));
  Node deep = group_node("deeper");
  deep.children.push_back(group_node("empty_group"));
  deep.children.push_back(leaf(std::string(300, 'n'), Node::Kind::Scalar, ScalarType::Int64, 1, 8, seed++));
  map.children.push_back(std::move(deep));
  state.children.push_back(std::move(map));

  state.children.push_back(leaf("big", Node::Kind::Array, ScalarType::Float64, (5 << 20) / 8, 5 << 20, seed++));
  Node big_table = table;
  big_table.name = "many_particles";
  big_table.count = (1 << 20) / 32 + 3;
  big_table.data.assign(big_table.count * 32, std::byte{1});
  state.children.push_back(std::move(big_table));
  root.children.push_back(std::move(state));
  return root;
}

void expect_same(const Node& a, const Node& b, const std::string& path) {
  SCOPED_TRACE(path);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.kind, b.kind);
  if (a.kind != Node::Kind::Group) {
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.count, b.count);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(a.global_offset, b.global_offset);
    EXPECT_EQ(a.global_extent, b.global_extent);
    EXPECT_TRUE(a.data == b.data);
  }
  EXPECT_EQ(a.has_size, b.has_size);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.record_bytes, b.record_bytes);
  EXPECT_TRUE(a.fields == b.fields);
  ASSERT_EQ(a.children.size(), b.children.size());
  for (std::size_t i = 0; i < a.children.size(); ++i) expect_same(a.children[i], b.children[i], path + "/" + a.children[i].name);
}

struct Read {
  Node tree;
  std::uint64_t digest;
  TreeStats stats;
};

Read read_back(const std::string& path) {
  Read r;
  Xxh64 d;
  h5::Handle f = h5::open_file_readonly(path);
  r.tree = read_tree(f.get(), path, d, r.stats);
  f.close(path);
  r.digest = d.digest();
  return r;
}

class H5Writer : public ::testing::Test {
 protected:
  void TearDown() override { fs::reset_ops(); }
  testing::TempDir dir{"h5writer"};
};

TEST_F(H5Writer, ChecksumIsHdf5sOwn) {
  std::mt19937 rng(3);
  std::vector<std::uint8_t> buf(200);
  for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
  for (std::size_t n = 0; n <= buf.size(); ++n)
    ASSERT_EQ(h5format::lookup3(buf.data(), n), H5_checksum_lookup3(buf.data(), n, 0)) << n << " bytes";
}

TEST_F(H5Writer, EveryKindOfNodeReadsBackAsTheLibraryWroteIt) {
  const Node tree = every_kind();
  ASSERT_TRUE(can_write_plain({&tree}));
  // The writer here, and the HDF5 library through tree_io, with the direct I/O of large arrays.
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "O_DIRECT" : "buffered");
    const std::string mine = dir.path() + "/plain.h5", theirs = dir.path() + "/library.h5";
    Xxh64 d_mine, d_theirs;
    TreeStats s_mine, s_theirs;
    write_plain_file(mine, {{"mpisnap_format_major", 1}, {"answer", 42}}, {&tree}, d_mine, s_mine, direct);
    {
      h5::Handle f = h5::create_file(theirs);
      write_tree(f.get(), tree, theirs, d_theirs, s_theirs, direct);
      f.close(theirs);
    }
    EXPECT_EQ(d_mine.digest(), d_theirs.digest());
    EXPECT_EQ(s_mine.datasets, s_theirs.datasets);
    EXPECT_EQ(s_mine.bytes, s_theirs.bytes);
    EXPECT_EQ(s_mine.direct_bytes, s_theirs.direct_bytes);
    if (direct) EXPECT_GT(s_mine.direct_bytes, 0u);
    const Read a = read_back(mine), b = read_back(theirs);
    EXPECT_EQ(a.digest, d_mine.digest());
    EXPECT_EQ(b.digest, d_theirs.digest());
    expect_same(tree.children[0], a.tree.children[0], "/state");
    expect_same(b.tree.children[0], a.tree.children[0], "/state");
    h5::Handle f = h5::open_file_readonly(mine);
    EXPECT_EQ(h5::read_attr_u64(f.get(), "answer", mine), 42u);
    // Large arrays start on a 4 KiB boundary (a restart reads them with O_DIRECT).
    h5::Handle ds = h5::dataset(H5Dopen2(f.get(), "/state/big", H5P_DEFAULT));
    EXPECT_EQ(H5Dget_offset(ds.get()) % 4096, 0u);
  }
}

TEST_F(H5Writer, Hdf5sOwnToolsReadTheFile) {
  if (::access("/usr/bin/h5dump", X_OK) != 0) GTEST_SKIP() << "no h5dump (Debian: hdf5-tools)";
  const Node tree = every_kind();
  const std::string file = dir.path() + "/plain.h5";
  Xxh64 d;
  TreeStats s;
  write_plain_file(file, {}, {&tree}, d, s);
  const std::string cmd = "/usr/bin/h5dump " + file + " > " + dir.path() + "/dump.txt 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "h5dump failed: see " << dir.path() << "/dump.txt";
  // (Python's h5py reads rank files too: tests/e2e/analysis.py.)
}

TEST_F(H5Writer, WhatItCannotWriteGoesToTheLibrary) {
  Node strings = group_node("names");  // a std::vector<std::string>: variable-length strings
  strings.has_size = true;
  strings.size = 2;
  for (const char* s : {"alpha", "beta"}) {
    Node c = leaf("value" + std::to_string(strings.children.size()), Node::Kind::Array, ScalarType::Char,
                  std::strlen(s), std::strlen(s), 0);
    std::memcpy(c.data.data(), s, std::strlen(s));
    strings.children.push_back(std::move(c));
  }
  Node wide = group_node("wide");  // more members than a header should list
  for (int i = 0; i < 300; ++i) wide.children.push_back(scalar_node("m" + std::to_string(i), std::int64_t{i}));
  Node table;  // a struct whose type message is near the 64 KiB a header message holds
  table.name = "many_members";
  table.kind = Node::Kind::Table;
  for (std::uint32_t i = 0; i < 1900; ++i) table.fields.push_back({"member_" + std::to_string(i), 4 * i, ScalarType::Int32, 1});
  table.record_bytes = 4 * 1900;
  table.count = 2;
  table.data.assign(2 * table.record_bytes, std::byte{7});
  for (Node* special : {&strings, &wide, &table}) {
    SCOPED_TRACE(special->name);
    RankCheckpoint cp;
    cp.nranks = 1;
    cp.state = group_node("");
    Node state = group_node("state");
    state.children.push_back(*special);
    cp.state.children.push_back(std::move(state));
    EXPECT_FALSE(can_write_plain({&cp.state}));
    const RankFileInfo w = write_rank_file(dir.path() + "/" + special->name, cp);
    const LoadedRankFile r = read_rank_file(dir.path() + "/" + special->name, 0);
    EXPECT_EQ(r.info.digest, w.digest);
    expect_same(cp.state.children[0], r.cp.state.children[0], "/state");
  }
}

TEST_F(H5Writer, AFailedWriteIsNamedAndLeavesNoFile) {
  const Node tree = every_kind();
  const std::string file = dir.path() + "/plain.h5";
  for (int err : {ENOSPC, EIO}) {
    fs::ops().fsync = [](int) {
      errno = ENOSPC;
      return -1;
    };
    if (err == EIO)
      fs::ops().fsync = [](int) {
        errno = EIO;
        return -1;
      };
    Xxh64 d;
    TreeStats s;
    try {
      write_plain_file(file, {}, {&tree}, d, s);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(file), std::string::npos) << what;
      EXPECT_NE(what.find(err == ENOSPC ? "no space left on device" : "Input/output error"), std::string::npos) << what;
    }
    EXPECT_FALSE(fs::exists(file));
    fs::reset_ops();
  }
  fs::ops().open = [](const char*, int, mode_t) {
    errno = EACCES;
    return -1;
  };
  Xxh64 d;
  TreeStats s;
  EXPECT_THROW(write_plain_file(file, {}, {&tree}, d, s), Error);
}

void flip(const std::string& file, std::uint64_t offset) {
  const int fd = ::open(file.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  unsigned char b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(offset)), 1);
  b ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

TEST_F(H5Writer, TheReaderReadsWhatTheLibraryReads) {
  const Node tree = every_kind();
  const std::string mine = dir.path() + "/plain.h5", theirs = dir.path() + "/library.h5";
  Xxh64 d_w;
  TreeStats s_w;
  write_plain_file(mine, {{"mpisnap_format_major", 1}, {"answer", 42}}, {&tree}, d_w, s_w);
  {
    h5::Handle f = h5::create_file(theirs);
    h5::write_attr_u64(f.get(), "answer", 42, theirs);
    write_tree(f.get(), tree, theirs, d_w, s_w);
    f.close(theirs);
  }
  // A tree whose groups have at most 8 members, which the library keeps in their headers as here:
  // the reader reads the library's own file too.
  Node compact = group_node("");
  Node st = group_node("state");
  for (std::size_t i : {0, 2, 4, 6, 9, 10, 11}) st.children.push_back(tree.children[0].children[1].children[i]);
  st.children.push_back(tree.children[0].children[tree.children[0].children.size() - 2]);  // big
  compact.children.push_back(std::move(st));
  Node more = group_node("more");
  for (std::size_t i = 2; i < 8; ++i) more.children.push_back(tree.children[0].children[i]);
  compact.children.push_back(std::move(more));
  const std::string small = dir.path() + "/library-compact.h5";
  {
    h5::Handle f = h5::create_file(small);
    h5::write_attr_u64(f.get(), "answer", 42, small);
    write_tree(f.get(), compact, small, d_w, s_w);
    f.close(small);
  }
  bool read_a_library_file = false;
  for (const std::string& file : {mine, theirs, small}) {
    for (bool direct : {true, false}) {
      SCOPED_TRACE(file + (direct ? " O_DIRECT" : " buffered"));
      const Read lib = read_back(file);
      Xxh64 d;
      TreeStats s;
      const std::optional<PlainFile> p = read_plain_file(file, d, s, direct);
      if (file == theirs && !p) continue;  // (groups of more than 8 members: the library indexes them)
      read_a_library_file |= file == small;
      ASSERT_TRUE(p);
      EXPECT_EQ(d.digest(), lib.digest);
      EXPECT_EQ(s.datasets, lib.stats.datasets);
      EXPECT_EQ(s.bytes, lib.stats.bytes);
      if (direct && file == mine) EXPECT_GT(s.direct_bytes, 0u);
      expect_same(lib.tree, p->root, "");
      bool answer = false;
      for (const auto& [name, v] : p->root_attrs) answer |= name == "answer" && v == 42;
      EXPECT_TRUE(answer);
    }
  }
  EXPECT_TRUE(read_a_library_file);
}

TEST_F(H5Writer, TheReaderLeavesWhatItDoesNotReadToTheLibrary) {
  Node strings = group_node("names");  // variable-length strings, written by the library
  strings.has_size = true;
  strings.size = 1;
  Node c = leaf("value0", Node::Kind::Array, ScalarType::Char, 3, 3, 0);
  std::memcpy(c.data.data(), "abc", 3);
  strings.children.push_back(std::move(c));
  Node root = group_node("");
  root.children.push_back(std::move(strings));
  const std::string file = dir.path() + "/strings.h5";
  Xxh64 d;
  TreeStats s;
  {
    h5::Handle f = h5::create_file(file);
    write_tree(f.get(), root, file, d, s);
    f.close(file);
  }
  Xxh64 before = d;
  EXPECT_FALSE(read_plain_file(file, d, s));
  EXPECT_EQ(d.digest(), before.digest()) << "a file it does not read adds nothing to the digest";
}

TEST_F(H5Writer, DamageIsNamed) {
  const Node tree = every_kind();
  const std::string file = dir.path() + "/plain.h5";
  auto expect_error = [&](const char* what, const char* text) {
    SCOPED_TRACE(what);
    Xxh64 d;
    TreeStats s;
    try {
      read_plain_file(file, d, s);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  auto fresh = [&] {
    Xxh64 d;
    TreeStats s;
    write_plain_file(file, {}, {&tree}, d, s);
  };
  fresh();
  flip(file, 20);  // the superblock
  expect_error("superblock", "superblock is corrupt");
  fresh();
  flip(file, 48 + 40);  // the root group's header
  expect_error("root header", "object header of / ");
  fresh();
  {
    h5::Handle f = h5::open_file_readonly(file);
    h5::Handle ds = h5::dataset(H5Dopen2(f.get(), "/state/big", H5P_DEFAULT));
    const haddr_t big = H5Dget_offset(ds.get());
    ds = h5::dataset(H5Dopen2(f.get(), "/state/grid", H5P_DEFAULT));
    const haddr_t grid = H5Dget_offset(ds.get());
    f.close(file);
    flip(file, big + 12345);
    expect_error("large array", "checksum mismatch in " );
    fresh();
    flip(file, grid + 3);
    expect_error("small array", "/state/grid");
  }
  fresh();
  ASSERT_EQ(::truncate(file.c_str(), static_cast<off_t>(fs::file_size(file) - 100)), 0);
  expect_error("truncated", "truncated");
  ASSERT_EQ(::truncate(file.c_str(), 30), 0);
  expect_error("no superblock", "truncated");
  ::unlink(file.c_str());
  expect_error("missing", "is missing");
}

TEST_F(H5Writer, AManifestsRanksLinkToTheirFiles) {
  const std::string ck = dir.path() + "/ckpt-00000007";
  Manifest m;
  m.checkpoint_id = 7;
  m.nranks = 2;
  m.program = "heat";
  for (int r = 0; r < 2; ++r) {
    RankCheckpoint cp;
    cp.rank = r;
    cp.nranks = 2;
    cp.checkpoint_id = 7;
    cp.state = group_node("");
    Node st = group_node("state");
    st.children.push_back(scalar_node("step", std::int64_t{40 + r}));
    cp.state.children.push_back(std::move(st));
    const RankFileInfo w = write_rank_file(ck, cp);
    m.rank_digest.push_back(w.digest);
    m.rank_bytes.push_back(w.file_bytes);
    m.rank_messages.push_back(0);
  }
  write_manifest(ck, m);
  const Manifest back = read_manifest(ck);
  EXPECT_EQ(back.checkpoint_id, 7u);
  EXPECT_EQ(back.rank_digest, m.rank_digest);
  EXPECT_EQ(back.program, "heat");
  // Through the external links, with the HDF5 library: /ranks/rank-000001 is rank 1's file.
  const std::string file = ck + "/manifest.h5";
  h5::Handle f = h5::open_file_readonly(file);
  H5L_info_t info;
  ASSERT_GE(H5Lget_info(f.get(), "/ranks/rank-000001", &info, H5P_DEFAULT), 0);
  EXPECT_EQ(info.type, H5L_TYPE_EXTERNAL);
  h5::Handle step = h5::dataset(H5Dopen2(f.get(), "/ranks/rank-000001/state/step", H5P_DEFAULT));
  ASSERT_TRUE(step);
  std::int64_t v = 0;
  ASSERT_GE(H5Dread(step.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v), 0);
  EXPECT_EQ(v, 41);
  f.close(file);
  if (::access("/usr/bin/h5dump", X_OK) == 0) {
    const std::string cmd = "cd " + ck + " && /usr/bin/h5dump manifest.h5 > dump.txt 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "h5dump failed: see " << ck << "/dump.txt";
  }
}

// Any byte of a file flipped, or the file cut anywhere: the reader reports an error or (a byte no
// structure uses: padding) reads the same tree - never another tree, never a crash (run under the
// sanitizers in CI).
TEST_F(H5Writer, RandomDamageIsAnErrorOrHarmless) {
  Node tree = group_node("");
  Node st = every_kind().children[0];
  st.children.pop_back();  // (the large arrays: to keep the file small)
  st.children.pop_back();
  tree.children.push_back(std::move(st));
  const std::string file = dir.path() + "/plain.h5";
  Xxh64 d0;
  TreeStats s0;
  const std::uint64_t size = write_plain_file(file, {}, {&tree}, d0, s0);
  std::vector<char> good(size);
  {
    const int fd = ::open(file.c_str(), O_RDONLY);
    ASSERT_EQ(::pread(fd, good.data(), size, 0), static_cast<ssize_t>(size));
    ::close(fd);
  }
  auto put = [&](const std::vector<char>& bytes) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  };
  std::mt19937 rng(11);
  int errors = 0, harmless = 0;
  for (int k = 0; k < 400; ++k) {
    std::vector<char> bad = good;
    if (k % 4 == 3) {
      bad.resize(rng() % size);
    } else {
      bad[rng() % size] ^= static_cast<char>(1 + rng() % 255);
    }
    put(bad);
    Xxh64 d;
    TreeStats s;
    try {
      const std::optional<PlainFile> p = read_plain_file(file, d, s);
      if (p) {
        EXPECT_EQ(d.digest(), d0.digest()) << "damage " << k << " read as another tree";
        ++harmless;
      }
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 300);
  (void)harmless;
}

TEST_F(H5Writer, AManifestOfMoreRanksThanAHeaderHoldsGoesToTheLibrary) {
  const std::string ck = dir.path() + "/ckpt-00000002";
  fs::make_dirs(ck);
  Manifest m;
  m.checkpoint_id = 2;
  m.nranks = static_cast<std::int32_t>(kMaxPlainLinks) + 44;
  m.rank_digest.assign(static_cast<std::size_t>(m.nranks), 5);
  m.rank_bytes.assign(static_cast<std::size_t>(m.nranks), 6);
  m.rank_messages.assign(static_cast<std::size_t>(m.nranks), 0);
  write_manifest(ck, m);
  const Manifest back = read_manifest(ck);
  EXPECT_EQ(back.nranks, m.nranks);
  EXPECT_EQ(back.rank_bytes, m.rank_bytes);
  h5::Handle f = h5::open_file_readonly(ck + "/manifest.h5");
  H5L_info_t info;
  ASSERT_GE(H5Lget_info(f.get(), "/ranks/rank-000299", &info, H5P_DEFAULT), 0);
  EXPECT_EQ(info.type, H5L_TYPE_EXTERNAL);
}

// A file whose groups are not a tree (a link back to an ancestor, two links to one subtree) or nest
// deeper than any state mpisnap writes: both readers refuse it by name instead of recursing until the
// stack ends (a cycle) or walking an exponential number of paths (shared subtrees).
TEST_F(H5Writer, GroupsThatAreNotATreeOrTooDeepAreRefused) {
  auto expect_refused = [](const std::string& file, const std::string& words) {
    SCOPED_TRACE(file);
    for (int plain : {1, 0}) {
      try {
        if (plain) {
          Xxh64 d;
          TreeStats s;
          ASSERT_TRUE(read_plain_file(file, d, s)) << "the reader leaves these structures to the library";
        } else {
          read_back(file);
        }
        ADD_FAILURE() << (plain ? "read_plain_file" : "read_tree") << " read it";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      }
    }
  };
  auto with_file = [](const std::string& file, const std::function<void(hid_t)>& build) {
    h5::Handle f = h5::create_file(file);
    build(f.get());
    f.close(file);
  };
  auto make_group = [](hid_t where, const char* name) {
    h5::Handle gcpl = h5::ordered_group_plist();
    return h5::group(H5Gcreate2(where, name, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT));
  };
  const std::string cycle = dir.path() + "/cycle.h5", shared = dir.path() + "/shared.h5",
                    deep = dir.path() + "/deep.h5";
  with_file(cycle, [&](hid_t f) {
    h5::Handle a = make_group(f, "a");
    h5::Handle b = make_group(a.get(), "b");
    ASSERT_GE(H5Lcreate_hard(f, "/a", b.get(), "back", H5P_DEFAULT, H5P_DEFAULT), 0);
  });
  expect_refused(cycle, "reached before");
  with_file(shared, [&](hid_t f) {
    h5::Handle a = make_group(f, "a");
    h5::Handle x = make_group(a.get(), "x");
    ASSERT_GE(H5Lcreate_hard(a.get(), "x", a.get(), "y", H5P_DEFAULT, H5P_DEFAULT), 0);
  });
  expect_refused(shared, "reached before");
  with_file(deep, [&](hid_t f) {
    std::vector<h5::Handle> chain;
    for (std::size_t depth = 1; depth <= rules::kMaxDepth + 1; ++depth)
      chain.push_back(make_group(chain.empty() ? f : chain.back().get(), "g"));
  });
  expect_refused(deep, "deeper than 1000");

  // The writer refuses what the readers would refuse, and writes what they read.
  for (std::size_t levels : {rules::kMaxDepth, rules::kMaxDepth + 1}) {
    SCOPED_TRACE(levels);
    RankCheckpoint cp;
    cp.nranks = 1;
    cp.state = group_node("");
    Node inner = leaf("x", Node::Kind::Scalar, ScalarType::Int32, 1, 4, 3);
    for (std::size_t k = levels; k >= 1; --k) {  // the first level is /state
      Node g = group_node(k == 1 ? "state" : "level" + std::to_string(k));
      g.children.push_back(std::move(inner));
      inner = std::move(g);
    }
    cp.state.children.push_back(std::move(inner));
    const std::string ck = dir.path() + "/levels" + std::to_string(levels);
    if (levels > rules::kMaxDepth) {
      try {
        write_rank_file(ck, cp);
        ADD_FAILURE() << "a state too deep to read back was written";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("deeper than 1000 levels"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("level1001"), std::string::npos) << e.what();
      }
      EXPECT_FALSE(fs::exists(ck + "/rank-000000.h5"));
    } else {
      const RankFileInfo w = write_rank_file(ck, cp);
      const LoadedRankFile r = read_rank_file(ck, 0);
      EXPECT_EQ(r.info.digest, w.digest);
      expect_same(cp.state, r.cp.state, "");
    }
  }
}

}  // namespace
}  // namespace mpisnap::storage
