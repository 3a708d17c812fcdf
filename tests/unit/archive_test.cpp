// The cereal <-> tree archive: typed round trips, the shape of the tree (what h5py will see), and
// clear errors when a checkpoint does not fit the program's state.
#include <gtest/gtest.h>

#include <array>
#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/memory.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/vector.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/variant.hpp>
#include <complex>
#include <cstring>
#include <variant>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include <mpisnap/archive.hpp>

#include "common/checkpoint_data.hpp"
#include "storage/checkpoint_files.hpp"
#include "temp_dir.hpp"

namespace mpisnap {
namespace {

struct Inner {
  std::int16_t a = 0;
  std::string label;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(a), CEREAL_NVP(label));
  }
  bool operator==(const Inner& o) const { return a == o.a && label == o.label; }
};

struct Everything {
  std::int8_t i8 = 0;
  std::uint8_t u8 = 0;
  std::int32_t i32 = 0;
  std::uint64_t u64 = 0;
  long long ll = 0;
  bool flag = false;
  char letter = 0;
  float f = 0;
  double d = 0;
  std::string text;
  std::string empty;
  std::vector<double> grid;
  std::vector<std::int32_t> none;
  std::array<int, 4> fixed{};
  std::vector<std::string> words;
  std::vector<Inner> inners;
  std::map<std::string, int> dict;
  std::optional<double> maybe;
  std::unique_ptr<Inner> owned;
  std::pair<int, double> pair{};
  Inner nested;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(i8), CEREAL_NVP(u8), CEREAL_NVP(i32), CEREAL_NVP(u64), CEREAL_NVP(ll), CEREAL_NVP(flag),
       CEREAL_NVP(letter), CEREAL_NVP(f), CEREAL_NVP(d), CEREAL_NVP(text), CEREAL_NVP(empty), CEREAL_NVP(grid),
       CEREAL_NVP(none), CEREAL_NVP(fixed), CEREAL_NVP(words), CEREAL_NVP(inners), CEREAL_NVP(dict),
       CEREAL_NVP(maybe), CEREAL_NVP(owned), CEREAL_NVP(pair), CEREAL_NVP(nested));
  }
};

Everything sample() {
  Everything e;
  e.i8 = -5;
  e.u8 = 250;
  e.i32 = -123456;
  e.u64 = std::numeric_limits<std::uint64_t>::max();
  e.ll = -9;
  e.flag = true;
  e.letter = 'q';
  e.f = 1.5f;
  e.d = 0.1;
  e.text = std::string("with\0nul", 8);
  e.grid = {1.0, 2.5, -0.0, 1e300};
  e.fixed = {4, 3, 2, 1};
  e.words = {"alpha", "", "gamma"};
  e.inners = {{1, "one"}, {2, "two"}};
  e.dict = {{"x", 1}, {"y", 2}};
  e.maybe = 3.25;
  e.owned = std::make_unique<Inner>(Inner{7, "seven"});
  e.pair = {11, 12.5};
  e.nested = {-3, "nest"};
  return e;
}

const Node* find(const Node& n, const std::string& name) {
  for (const Node& c : n.children)
    if (c.name == name) return &c;
  return nullptr;
}

TEST(Archive, RoundTripsEveryKindOfValue) {
  Everything in = sample();
  const Node tree = to_tree(in);
  Everything out;
  from_tree(tree, out);
  EXPECT_EQ(out.i8, in.i8);
  EXPECT_EQ(out.u8, in.u8);
  EXPECT_EQ(out.i32, in.i32);
  EXPECT_EQ(out.u64, in.u64);
  EXPECT_EQ(out.ll, in.ll);
  EXPECT_EQ(out.flag, in.flag);
  EXPECT_EQ(out.letter, in.letter);
  EXPECT_EQ(out.f, in.f);
  EXPECT_EQ(out.d, in.d);
  EXPECT_EQ(out.text, in.text);
  EXPECT_EQ(out.empty, in.empty);
  EXPECT_EQ(out.grid, in.grid);
  EXPECT_EQ(out.none, in.none);
  EXPECT_EQ(out.fixed, in.fixed);
  EXPECT_EQ(out.words, in.words);
  EXPECT_EQ(out.inners, in.inners);
  EXPECT_EQ(out.dict, in.dict);
  EXPECT_EQ(out.maybe, in.maybe);
  ASSERT_TRUE(out.owned);
  EXPECT_EQ(*out.owned, *in.owned);
  EXPECT_EQ(out.pair, in.pair);
  EXPECT_EQ(out.nested, in.nested);
}

// What a C++ HPC code keeps besides vectors: C arrays of any rank, std::array (nested), std::complex,
// enums, variants, structs inside arrays. Each must come back as it was saved.
enum class Phase : std::int16_t { Solid = 1, Liquid = 2, Gas = 3 };

struct Particle {
  double x[3] = {};
  std::int32_t id = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(x), CEREAL_NVP(id));
  }
  bool operator==(const Particle& o) const {
    return x[0] == o.x[0] && x[1] == o.x[1] && x[2] == o.x[2] && id == o.id;
  }
};

struct Layouts {
  double a[4] = {};
  double g[3][4] = {};
  std::int32_t cube[2][2][2] = {};
  std::array<std::array<double, 3>, 2> aa{};
  std::complex<double> z;
  std::vector<std::complex<float>> zs;
  Phase phase = Phase::Solid;
  std::variant<int, std::string> v;
  Particle parts[2];
  std::vector<Particle> cloud;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(a), CEREAL_NVP(g), CEREAL_NVP(cube), CEREAL_NVP(aa), CEREAL_NVP(z), CEREAL_NVP(zs), CEREAL_NVP(phase),
       CEREAL_NVP(v), CEREAL_NVP(parts), CEREAL_NVP(cloud));
  }
};

TEST(Archive, CArraysOfAnyRankAndOtherHpcMembersRoundTrip) {
  Layouts in;
  for (int i = 0; i < 4; ++i) in.a[i] = 0.5 * i;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) in.g[i][j] = 10 * i + j;
  for (int i = 0; i < 8; ++i) (&in.cube[0][0][0])[i] = -i;
  in.aa = {{{1, 2, 3}, {4, 5, 6}}};
  in.z = {1.5, -2.5};
  in.zs = {{1, 2}, {3, 4}};
  in.phase = Phase::Gas;
  in.v = std::string("liquid");
  in.parts[0] = {{1, 2, 3}, 7};
  in.parts[1] = {{4, 5, 6}, 8};
  in.cloud = {{{0.1, 0.2, 0.3}, 1}, {{0.4, 0.5, 0.6}, 2}};
  const Node tree = to_tree(in);
  Layouts out;
  from_tree(tree, out);
  EXPECT_EQ(std::memcmp(out.a, in.a, sizeof in.a), 0);
  EXPECT_EQ(std::memcmp(out.g, in.g, sizeof in.g), 0);
  EXPECT_EQ(std::memcmp(out.cube, in.cube, sizeof in.cube), 0);
  EXPECT_EQ(out.aa, in.aa);
  EXPECT_EQ(out.z, in.z);
  EXPECT_EQ(out.zs, in.zs);
  EXPECT_EQ(out.phase, in.phase);
  EXPECT_EQ(out.v, in.v);
  EXPECT_EQ(out.parts[0], in.parts[0]);
  EXPECT_EQ(out.parts[1], in.parts[1]);
  EXPECT_EQ(out.cloud, in.cloud);
  // A C array of numbers, of any rank, is one array of all its elements (what h5py will see).
  const Node* g = find(*find(tree, "state"), "g");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->kind, Node::Kind::Array);
  EXPECT_EQ(g->type, ScalarType::Float64);
  EXPECT_EQ(g->count, 12u);
}

// The same state through a rank file (HDF5) and back: what a killed job restores.
TEST(Archive, CArraysAndTheRestSurviveTheRankFile) {
  Layouts in;
  for (int i = 0; i < 12; ++i) (&in.g[0][0])[i] = i * 1.25;
  in.z = {3, 4};
  in.v = 42;
  in.cloud = {{{7, 8, 9}, 3}};
  testing::TempDir dir("layouts");
  RankCheckpoint cp;
  cp.checkpoint_id = 1;
  cp.nranks = 1;
  cp.state = to_tree(in);
  storage::write_rank_file(dir.path(), cp, false);
  const storage::LoadedRankFile back = storage::read_rank_file(dir.path(), 0, false);
  Layouts out;
  from_tree(back.cp.state, out);
  EXPECT_EQ(std::memcmp(out.g, in.g, sizeof in.g), 0);
  EXPECT_EQ(out.z, in.z);
  EXPECT_EQ(out.v, in.v);
  EXPECT_EQ(out.cloud, in.cloud);
}

struct Small {
  double a[3] = {};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(a));
  }
};
struct Large {
  double a[5] = {};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(a));
  }
};

TEST(Archive, CArrayOfAnotherSizeIsAClearError) {
  Large large;
  Small small;
  const Node from_large = to_tree(large);
  const Node from_small = to_tree(small);
  for (auto [tree, what] : {std::pair{&from_large, "holds 5 elements but 3 are loaded"},
                            std::pair{&from_small, "holds 3 elements but 5 are loaded"}}) {
    std::string e;
    try {
      if (tree == &from_large) from_tree(*tree, small);
      else from_tree(*tree, large);
    } catch (const Error& err) {
      e = err.what();
    }
    EXPECT_NE(e.find(what), std::string::npos) << e;
  }
}

TEST(Archive, ArraysBecomeOneNamedLeaf) {
  Everything in = sample();
  const Node tree = to_tree(in);
  const Node* state = find(tree, "state");
  ASSERT_NE(state, nullptr);
  const Node* grid = find(*state, "grid");
  ASSERT_NE(grid, nullptr);
  EXPECT_EQ(grid->kind, Node::Kind::Array);
  EXPECT_EQ(grid->type, ScalarType::Float64);
  EXPECT_EQ(grid->count, 4u);
  const Node* text = find(*state, "text");
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(text->kind, Node::Kind::Array);
  EXPECT_EQ(text->type, ScalarType::Char);
  EXPECT_EQ(text->count, 8u);
  const Node* words = find(*state, "words");
  ASSERT_NE(words, nullptr);
  EXPECT_EQ(words->kind, Node::Kind::Group);
  EXPECT_TRUE(words->has_size);
  EXPECT_EQ(words->size, 3u);
  const Node* i32 = find(*state, "i32");
  ASSERT_NE(i32, nullptr);
  EXPECT_EQ(i32->kind, Node::Kind::Scalar);
  EXPECT_EQ(i32->type, ScalarType::Int32);
}

struct Narrow {
  std::int32_t step = 0;
  template <class Ar>
  void serialize(Ar& ar) { ar(CEREAL_NVP(step)); }
};
struct Wide {
  std::int64_t step = 0;
  template <class Ar>
  void serialize(Ar& ar) { ar(CEREAL_NVP(step)); }
};
struct Renamed {
  std::int32_t iteration = 0;
  template <class Ar>
  void serialize(Ar& ar) { ar(CEREAL_NVP(iteration)); }
};

TEST(Archive, TypeChangeIsAClearError) {
  Narrow n{5};
  const Node tree = to_tree(n);
  Wide w;
  try {
    from_tree(tree, w);
    FAIL() << "loading int32 into int64 must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'step' was saved as int32 but is loaded as int64"), std::string::npos) << e.what();
  }
}

TEST(Archive, MissingFieldIsAClearError) {
  Narrow n{5};
  const Node tree = to_tree(n);
  Renamed r;
  try {
    from_tree(tree, r);
    FAIL() << "a missing field must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no field named 'iteration'"), std::string::npos) << e.what();
  }
}

template <std::size_t N>
struct Fixed {
  std::array<double, N> v{};
  template <class Ar>
  void serialize(Ar& ar) { ar(CEREAL_NVP(v)); }
};

TEST(Archive, ArraySizeMismatchIsAnError) {
  Fixed<3> a;
  const Node tree = to_tree(a);
  Fixed<4> b;
  EXPECT_THROW(from_tree(tree, b), Error);
}

}  // namespace
}  // namespace mpisnap
