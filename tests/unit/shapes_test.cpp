// State as scientists' data (format 1.3): C arrays and mpisnap::array_view with their shapes (and a
// block's place in a global array), a record of one run of numbers as one more dimension, maps as
// key and value columns, lists of strings as one string dataset, booleans as one block. Each kind
// round-trips through the archive and through a real HDF5 rank file (whose digest must be the one
// written), older layouts still load, and a mismatch is an error that names both sides.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/vector.hpp>
#include <mpisnap/array_view.hpp>

#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "temp_dir.hpp"

namespace mpisnap {
namespace {

const Node& child(const Node& n, const std::string& name) {
  for (const Node& c : n.children)
    if (c.name == name) return c;
  static const Node none;
  ADD_FAILURE() << "no child " << name << " in " << n.name;
  return none;
}

// The tree written to a rank file and read back: the digest read must be the one written.
Node through_file(const Node& state, const char* tag) {
  RankCheckpoint cp;
  cp.checkpoint_id = 1;
  cp.nranks = 1;
  cp.state = state;
  testing::TempDir tmp(tag);
  const std::string dir = storage::checkpoint_path(tmp.path(), 1);
  const storage::RankFileInfo written = storage::write_rank_file(dir, cp);
  storage::LoadedRankFile f = storage::read_rank_file(dir, 0);
  EXPECT_EQ(f.info.digest, written.digest) << "the file's digest changed on the way";
  return std::move(f.cp.state);
}

template <class T>
std::string load_error(const Node& tree, T& into) {
  try {
    from_tree(tree, into);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

struct Grids {
  double g[3][4] = {};
  std::int32_t cube[2][3][2] = {};
  bool mask[5] = {};
  std::array<std::array<float, 4>, 3> aa{};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(g), CEREAL_NVP(cube), CEREAL_NVP(mask), CEREAL_NVP(aa));
  }
};

TEST(Shapes, CArraysAndNestedStdArraysKeepTheirShape) {
  Grids in;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) {
      in.g[i][j] = i * 10 + j + 0.5;
      in.aa[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = static_cast<float>(i - j);
    }
  for (int i = 0; i < 12; ++i) (&in.cube[0][0][0])[i] = i * i;
  in.mask[1] = in.mask[4] = true;
  for (const char* where : {"tree", "file"}) {
    SCOPED_TRACE(where);
    const Node tree = std::string(where) == "tree" ? to_tree(in) : through_file(to_tree(in), "shapes-c");
    const Node& state = tree.children[0];
    EXPECT_EQ(child(state, "g").kind, Node::Kind::Array);
    EXPECT_EQ(child(state, "g").shape, (std::vector<std::uint64_t>{3, 4}));
    EXPECT_EQ(child(state, "cube").shape, (std::vector<std::uint64_t>{2, 3, 2}));
    EXPECT_TRUE(child(state, "mask").shape.empty());  // one dimension: no shape
    EXPECT_EQ(child(state, "mask").type, ScalarType::Bool);
    EXPECT_EQ(child(state, "aa").shape, (std::vector<std::uint64_t>{3, 4}));
    Grids back;
    from_tree(tree, back);
    EXPECT_EQ(0, std::memcmp(back.g, in.g, sizeof in.g));
    EXPECT_EQ(0, std::memcmp(back.cube, in.cube, sizeof in.cube));
    EXPECT_EQ(0, std::memcmp(back.mask, in.mask, sizeof in.mask));
    EXPECT_EQ(back.aa, in.aa);
  }
}

struct Transposed {  // g with the same 12 elements as 4 x 3
  double g[4][3] = {};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(g));
  }
};
struct Flat {  // g as one dimension of 12, as every C array was stored before format 1.3
  double g[12] = {};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(g));
  }
};
struct OnlyG {
  double g[3][4] = {};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(g));
  }
};

TEST(Shapes, AnotherShapeIsAnErrorAndOneDimensionLoadsIntoAny) {
  OnlyG in;
  for (int i = 0; i < 12; ++i) (&in.g[0][0])[i] = i;
  Transposed t;
  EXPECT_NE(load_error(to_tree(in), t).find("'g' was saved with the shape 3 x 4 but is loaded as 4 x 3"), std::string::npos)
      << load_error(to_tree(in), t);
  Flat flat;
  for (int i = 0; i < 12; ++i) flat.g[i] = 100 + i;
  OnlyG back;
  from_tree(through_file(to_tree(flat), "shapes-flat"), back);
  EXPECT_EQ(back.g[2][3], 111);
}

// A rank's block of a 2-D field, with its place in the global field.
struct Field2D {
  std::size_t nx = 3, ny = 5, x0 = 6, y0 = 0, NX = 12, NY = 5;
  std::vector<double> u = std::vector<double>(nx * ny);
  std::vector<std::array<double, 3>> pos;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(cereal::make_nvp("u", array_view(u.data(), {nx, ny}).global({x0, y0}, {NX, NY})), CEREAL_NVP(pos));
  }
};

TEST(Shapes, ArrayViewWithItsPlaceInTheGlobalArray) {
  Field2D in;
  for (std::size_t i = 0; i < in.u.size(); ++i) in.u[i] = 0.25 * static_cast<double>(i);
  in.pos = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {10, 11, 12}};
  for (std::size_t big : {std::size_t{0}, std::size_t{400}}) {  // 400 x 400 doubles: past HDF5 (raw I/O)
    if (big) {
      in.nx = in.ny = in.NY = big;
      in.x0 = big;
      in.NX = 2 * big;
      in.u.assign(big * big, 1.5);
      in.u[big * big - 1] = -7;
    }
    const Node tree = through_file(to_tree(in), "shapes-view");
    const Node& u = child(tree.children[0], "u");
    EXPECT_EQ(u.shape, (std::vector<std::uint64_t>{in.nx, in.ny}));
    EXPECT_EQ(u.global_offset, (std::vector<std::uint64_t>{in.x0, 0}));
    EXPECT_EQ(u.global_extent, (std::vector<std::uint64_t>{in.NX, in.NY}));
    const Node& pos = child(tree.children[0], "pos");
    EXPECT_EQ(pos.kind, Node::Kind::Array);
    EXPECT_EQ(pos.shape, (std::vector<std::uint64_t>{4, 3}));
    Field2D back = in;  // (the same geometry; nothing of the values)
    back.u.assign(in.u.size(), 0);
    back.pos.clear();
    from_tree(tree, back);
    EXPECT_EQ(back.u, in.u);
    EXPECT_EQ(back.pos, in.pos);
  }
  // Restored into a view of other extents: the error names both.
  Field2D small;
  Field2D other;
  other.nx = 5;
  other.ny = 3;
  EXPECT_NE(load_error(to_tree(small), other).find("'u' was saved with the shape 3 x 5 but is loaded as 5 x 3"),
            std::string::npos);
}

TEST(Shapes, ArrayViewRefusesWhatCannotBe) {
  double d[6] = {};
  auto error_of = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of([&] { array_view(d, {2, 3}).global({0, 1}, {2, 3}); }).find("in dimension 1 the block (offset 1, extent 3) does not fit in the global extent 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { array_view(d, {2, 3}).global({0}, {2}); }).find("the block has 2 dimensions but the offset has 1"),
            std::string::npos);
  std::vector<double> v(7);
  EXPECT_NE(error_of([&] { view(v, {2, 3}); }).find("a vector of 7 elements cannot have extents whose product is 6"),
            std::string::npos);
  EXPECT_NE(error_of([&] { array_view<double>(nullptr, {2}); }).find("no memory"), std::string::npos);
}

struct Cell {  // a plain struct: a table, here with a 2-D shape
  double rho = 0;
  std::int32_t flag = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(rho), CEREAL_NVP(flag));
  }
};
struct Cells {
  Cell mesh[2][3];
  std::vector<Cell> flat = std::vector<Cell>(6);
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(mesh), cereal::make_nvp("view", view(flat, {3, 2})));
  }
};

TEST(Shapes, TablesWithAShape) {
  Cells in;
  for (int i = 0; i < 6; ++i) {
    (&in.mesh[0][0])[i] = {i * 1.5, -i};
    in.flat[static_cast<std::size_t>(i)] = {i * 2.5, i};
  }
  const Node tree = through_file(to_tree(in), "shapes-tables");
  EXPECT_EQ(child(tree.children[0], "mesh").kind, Node::Kind::Table);
  EXPECT_EQ(child(tree.children[0], "mesh").shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(child(tree.children[0], "view").shape, (std::vector<std::uint64_t>{3, 2}));
  Cells back;
  from_tree(tree, back);
  EXPECT_EQ(back.mesh[1][2].rho, 7.5);
  EXPECT_EQ(back.mesh[1][2].flag, -5);
  EXPECT_EQ(back.flat[5].rho, 12.5);
}

struct Maps {
  std::map<std::string, std::int64_t> counts;
  std::map<std::int32_t, Cell> cells;
  std::unordered_map<std::int64_t, double> sparse;
  std::map<std::string, std::vector<double>> series;  // values that are not one block: a group per value
  std::map<std::int32_t, bool> flags;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(counts), CEREAL_NVP(cells), CEREAL_NVP(sparse), CEREAL_NVP(series), CEREAL_NVP(flags));
  }
};

TEST(Maps, KeysAndValuesAreColumns) {
  Maps in;
  in.counts = {{"alpha", 1}, {"beta", -2}, {"gamma", 3}};
  in.cells = {{7, {0.5, 1}}, {-3, {2.5, 0}}};
  for (std::int64_t k = 0; k < 50; ++k) in.sparse[k * 1000003] = static_cast<double>(k) / 3;
  in.series = {{"a", {1, 2}}, {"b", {}}};
  in.flags = {{1, true}, {2, false}};
  const Node tree = through_file(to_tree(in), "maps");
  const Node& counts = child(tree.children[0], "counts");
  EXPECT_EQ(counts.role, "map");
  ASSERT_EQ(counts.children.size(), 2u);
  EXPECT_EQ(counts.children[0].name, "keys");
  EXPECT_EQ(counts.children[1].name, "values");
  EXPECT_EQ(counts.children[1].kind, Node::Kind::Array);
  EXPECT_EQ(counts.children[1].type, ScalarType::Int64);
  EXPECT_EQ(child(child(tree.children[0], "cells"), "values").kind, Node::Kind::Table);
  EXPECT_EQ(child(child(tree.children[0], "sparse"), "keys").count, 50u);
  Maps back;
  from_tree(tree, back);
  EXPECT_EQ(back.counts, in.counts);
  ASSERT_EQ(back.cells.size(), 2u);
  EXPECT_EQ(back.cells[-3].rho, 2.5);
  EXPECT_EQ(back.sparse, in.sparse);
  EXPECT_EQ(back.series, in.series);
  EXPECT_EQ(back.flags, in.flags);
  Maps empty;
  Maps empty_back;
  empty_back.counts = {{"stale", 1}};
  from_tree(through_file(to_tree(empty), "maps-empty"), empty_back);
  EXPECT_TRUE(empty_back.counts.empty());
}

// A map as cereal (and so mpisnap up to format 1.2) saved it: a size and one group per pair.
struct PairsAsBefore {
  const std::map<std::string, std::int64_t>* m;
  template <class Ar>
  void save(Ar& ar) const {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(m->size())));
    for (const auto& kv : *m) ar(cereal::make_map_item(kv.first, kv.second));
  }
};
struct OldCounts {
  std::map<std::string, std::int64_t> counts;
  template <class Ar>
  void save(Ar& ar) const {
    ar(cereal::make_nvp("counts", PairsAsBefore{&counts}));
  }
};
struct NewCounts {
  std::map<std::string, std::int64_t> counts;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(counts));
  }
};

TEST(Maps, PairsOfOlderFormatsStillLoad) {
  OldCounts old;
  old.counts = {{"x", 5}, {"y", 6}};
  const Node tree = through_file(to_tree(old), "maps-old");
  EXPECT_TRUE(child(tree.children[0], "counts").role.empty());
  NewCounts now;
  from_tree(tree, now);
  EXPECT_EQ(now.counts, old.counts);
}

struct Texts {
  std::vector<std::string> names;
  std::vector<std::string> binary;  // a NUL inside: kept one dataset per string
  std::vector<std::string> none;
  std::vector<bool> bits;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(names), CEREAL_NVP(binary), CEREAL_NVP(none), CEREAL_NVP(bits));
  }
};

TEST(Strings, AListOfStringsIsOneDatasetAndBoolsOneBlock) {
  Texts in;
  in.names = {"hydrogen", "", "helium — He", std::string(300, 'x')};
  in.binary = {std::string("a\0b", 3), "c"};
  in.bits = {true, false, true, true, false};
  const Node tree = through_file(to_tree(in), "strings");
  const Node& names = child(tree.children[0], "names");
  EXPECT_EQ(names.kind, Node::Kind::Group);
  EXPECT_EQ(names.size, 4u);
  EXPECT_EQ(child(tree.children[0], "bits").kind, Node::Kind::Array);
  EXPECT_EQ(child(tree.children[0], "bits").type, ScalarType::Bool);
  Texts back;
  from_tree(tree, back);
  EXPECT_EQ(back.names, in.names);
  EXPECT_EQ(back.binary, in.binary);
  EXPECT_TRUE(back.none.empty());
  EXPECT_EQ(back.bits, in.bits);
}

// std::vector<bool> as cereal saved it before: one value per element.
struct BitsAsBefore {
  std::vector<bool> bits;
  template <class Ar>
  void save(Ar& ar) const {
    ar(cereal::make_nvp("bits", Elements{&bits}));
  }
  struct Elements {
    const std::vector<bool>* v;
    template <class A2>
    void save(A2& ar) const {
      ar(cereal::make_size_tag(static_cast<cereal::size_type>(v->size())));
      for (bool b : *v) ar(static_cast<bool>(b));
    }
  };
};
struct Bits {
  std::vector<bool> bits;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(bits));
  }
};

TEST(Strings, BoolsOfOlderFormatsStillLoad) {
  BitsAsBefore old;
  old.bits = {false, true, true};
  Bits now;
  from_tree(through_file(to_tree(old), "bits-old"), now);
  EXPECT_EQ(now.bits, old.bits);
}

}  // namespace
}  // namespace mpisnap
