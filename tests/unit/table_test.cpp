// Vectors of plain structs as tables (one record per element, one block, an HDF5 compound dataset):
// which structs qualify (and why the others do not), the round trip through the archive and through
// a real HDF5 rank file, loading into a changed struct by member name, and the errors.
#include <gtest/gtest.h>

#include <array>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include <cereal/types/array.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/vector.hpp>
#include <mpisnap/archive.hpp>

#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "temp_dir.hpp"

namespace mpisnap {
namespace {

enum class Species : std::int16_t { Electron = 1, Ion = 7 };

struct Particle {  // padding after `id` and after `alive`
  double x = 0, y = 0, z = 0;
  std::int32_t id = 0;
  double v[3] = {0, 0, 0};
  bool alive = false;
  Species species = Species::Electron;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(x), CEREAL_NVP(y), CEREAL_NVP(z), CEREAL_NVP(id), CEREAL_NVP(v), CEREAL_NVP(alive), CEREAL_NVP(species));
  }
};

struct Vec3 {
  float a = 0, b = 0, c = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(a), CEREAL_NVP(b), CEREAL_NVP(c));
  }
};
struct Nested {
  Vec3 pos;
  std::array<std::int64_t, 2> cell{};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(pos), CEREAL_NVP(cell));
  }
};

struct Skips {  // `cache` is left out of serialize(): not a table (cereal would leave it alone)
  double value = 0;
  double cache = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(value));
  }
};

struct Computed {  // saves a value computed on the fly: not a table
  double x = 0;
  template <class Ar>
  void save(Ar& ar) const {
    ar(cereal::make_nvp("twice", 2 * x));
  }
  template <class Ar>
  void load(Ar& ar) {
    double t = 0;
    ar(cereal::make_nvp("twice", t));
    x = t / 2;
  }
};

template <class T>
struct Holder {
  std::vector<T> items;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(items));
  }
};

std::vector<Particle> particles(std::size_t n) {
  std::vector<Particle> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    Particle& p = v[i];
    p.x = 0.5 * static_cast<double>(i);
    p.y = -1.0 * static_cast<double>(i);
    p.z = 3;
    p.id = static_cast<std::int32_t>(i * 7);
    p.v[0] = 1;
    p.v[1] = 2;
    p.v[2] = static_cast<double>(i);
    p.alive = i % 2 == 0;
    p.species = i % 3 ? Species::Ion : Species::Electron;
  }
  return v;
}

bool same(const Particle& a, const Particle& b) {
  return a.x == b.x && a.y == b.y && a.z == b.z && a.id == b.id && a.v[0] == b.v[0] && a.v[1] == b.v[1] &&
         a.v[2] == b.v[2] && a.alive == b.alive && a.species == b.species;
}

TEST(Tables, LayoutOfAPlainStruct) {
  const detail::RecordLayout& l = detail::record_layout<Particle>();
  ASSERT_TRUE(l.ok) << l.why;
  EXPECT_EQ(l.record_bytes, sizeof(Particle));
  std::vector<std::string> names;
  for (const Field& f : l.fields) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"x", "y", "z", "id", "v", "alive", "species"}));
  EXPECT_EQ(l.fields[4].count, 3u);
  EXPECT_EQ(l.fields[4].offset, offsetof(Particle, v));
  EXPECT_EQ(l.fields[5].type, ScalarType::Bool);
  EXPECT_EQ(l.fields[6].type, ScalarType::Int16);  // an enum: its underlying type
  EXPECT_EQ(l.fields[6].offset, offsetof(Particle, species));

  const detail::RecordLayout& n = detail::record_layout<Nested>();
  ASSERT_TRUE(n.ok) << n.why;
  names.clear();
  for (const Field& f : n.fields) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"pos.a", "pos.b", "pos.c", "cell"}));
  EXPECT_EQ(n.fields[3].count, 2u);

  const detail::RecordLayout& c = detail::record_layout<std::complex<double>>();
  ASSERT_TRUE(c.ok) << c.why;
  EXPECT_EQ(c.fields.size(), 2u);
  EXPECT_EQ(c.fields[0].name, "r");  // (h5py reads a compound of r and i as complex)
  EXPECT_EQ(c.fields[1].name, "i");
  EXPECT_EQ(c.fields[1].offset, 8u);
}

TEST(Tables, StructsThatCannotBeTablesSayWhy) {
  const detail::RecordLayout& s = detail::record_layout<Skips>();
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.why.find("bytes 8..15 of the struct are not saved by serialize()"), std::string::npos) << s.why;
  const detail::RecordLayout& c = detail::record_layout<Computed>();
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.why.find("member 'twice' is a value serialize() computes"), std::string::npos) << c.why;
  // ... and still round-trip, one group per element.
  Holder<Skips> h;
  h.items = {{1.5, 9}, {2.5, 9}};
  const Node tree = to_tree(h);
  ASSERT_EQ(tree.children[0].children[0].kind, Node::Kind::Group);
  Holder<Skips> back;
  from_tree(tree, back);
  ASSERT_EQ(back.items.size(), 2u);
  EXPECT_EQ(back.items[1].value, 2.5);
  EXPECT_EQ(back.items[1].cache, 0);  // left alone, as cereal does
  Holder<Computed> hc;
  hc.items = {{3}, {4}};
  Holder<Computed> bc;
  from_tree(to_tree(hc), bc);
  EXPECT_EQ(bc.items[1].x, 4);
}

TEST(Tables, OneBlockInTheTreeAndThroughARankFile) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{40000}}) {  // 40000 x 64 B: past HDF5 (raw I/O)
    Holder<Particle> h;
    h.items = particles(n);
    RankCheckpoint cp;
    cp.checkpoint_id = 1;
    cp.nranks = 1;
    cp.state = to_tree(h);
    const Node& items = cp.state.children[0].children[0];
    ASSERT_EQ(items.kind, Node::Kind::Table);
    EXPECT_EQ(items.name, "items");
    EXPECT_EQ(items.count, n);
    EXPECT_EQ(items.data.size(), n * sizeof(Particle));
    testing::TempDir tmp("tables");
    const std::string dir = storage::checkpoint_path(tmp.path(), 1);
    storage::write_rank_file(dir, cp);
    const storage::LoadedRankFile f = storage::read_rank_file(dir, 0);
    const Node& read = f.cp.state.children[0].children[0];
    ASSERT_EQ(read.kind, Node::Kind::Table);
    EXPECT_EQ(read.fields, items.fields);
    Holder<Particle> back;
    from_tree(f.cp.state, back);
    ASSERT_EQ(back.items.size(), n);
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(same(back.items[i], h.items[i])) << "record " << i;
  }
}

TEST(Tables, VectorsOfComplexAndOfArrays) {
  Holder<std::complex<double>> c;
  c.items = {{1, 2}, {3, -4}};
  Holder<std::complex<double>> cb;
  const Node tc = to_tree(c);
  EXPECT_EQ(tc.children[0].children[0].kind, Node::Kind::Table);
  from_tree(tc, cb);
  EXPECT_EQ(cb.items, c.items);
  Holder<std::array<double, 3>> a;
  a.items = {{1, 2, 3}, {4, 5, 6}};
  Holder<std::array<double, 3>> ab;
  const Node ta = to_tree(a);
  // A record of one run of numbers is a dimension more, not a table of one member.
  ASSERT_EQ(ta.children[0].children[0].kind, Node::Kind::Array);
  EXPECT_EQ(ta.children[0].children[0].shape, (std::vector<std::uint64_t>{2, 3}));
  from_tree(ta, ab);
  EXPECT_EQ(ab.items, a.items);
}

struct Fixed {
  Vec3 corners[4];
  std::array<Particle, 2> pair{};
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(corners), CEREAL_NVP(pair));
  }
};

TEST(Tables, FixedSizeArraysOfStructs) {
  Fixed f;
  for (int i = 0; i < 4; ++i) f.corners[i] = {1.f * i, 2.f * i, 3.f * i};
  f.pair[1] = particles(2)[1];
  const Node tree = to_tree(f);
  const Node& corners = tree.children[0].children[0];
  ASSERT_EQ(corners.kind, Node::Kind::Table);
  EXPECT_EQ(corners.name, "corners");
  EXPECT_EQ(corners.count, 4u);
  EXPECT_EQ(tree.children[0].children[1].kind, Node::Kind::Table);
  Fixed back;
  from_tree(tree, back);
  EXPECT_EQ(back.corners[3].c, 9.f);
  EXPECT_TRUE(same(back.pair[1], f.pair[1]));
}

// The struct changed between the run that wrote the checkpoint and this one: members are matched
// by name (here reordered, one dropped); a member missing or of another type is an error.
struct Reordered {
  std::int32_t id = 0;
  double z = 0, x = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(id), CEREAL_NVP(z), CEREAL_NVP(x));
  }
};
struct Retyped {
  float x = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(x));
  }
};
struct Extra {
  double x = 0, w = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(x), CEREAL_NVP(w));
  }
};

TEST(Tables, AChangedStructLoadsByMemberName) {
  Holder<Particle> h;
  h.items = particles(5);
  const Node tree = to_tree(h);
  Holder<Reordered> r;
  from_tree(tree, r);
  ASSERT_EQ(r.items.size(), 5u);
  EXPECT_EQ(r.items[4].id, 28);
  EXPECT_EQ(r.items[4].x, 2.0);
  EXPECT_EQ(r.items[4].z, 3.0);
  auto error_of = [&](auto holder) {
    try {
      from_tree(tree, holder);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of(Holder<Retyped>{}).find("member 'x' of table 'items' was saved as 1 x float64 but is loaded as 1 x float32"),
            std::string::npos);
  EXPECT_NE(error_of(Holder<Extra>{}).find("table 'items' has no member 'w'"), std::string::npos);
  EXPECT_NE(error_of(Holder<Skips>{}).find("saved as a table of records, but this program's element type cannot be one"),
            std::string::npos);
}

// What format 1.1 wrote for a vector of structs (a group per element, as a struct that is not
// plain still gets) loads into a vector of plain structs: old checkpoints restore.
struct ParticleAsBefore {  // the same members; a virtual destructor makes it not a table
  double x = 0, y = 0, z = 0;
  std::int32_t id = 0;
  double v[3] = {0, 0, 0};
  bool alive = false;
  Species species = Species::Electron;
  virtual ~ParticleAsBefore() = default;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(x), CEREAL_NVP(y), CEREAL_NVP(z), CEREAL_NVP(id), CEREAL_NVP(v), CEREAL_NVP(alive), CEREAL_NVP(species));
  }
};

TEST(Tables, GroupsPerElementStillLoad) {
  Holder<ParticleAsBefore> old;
  old.items.resize(3);
  for (int i = 0; i < 3; ++i) {
    old.items[static_cast<std::size_t>(i)].x = i;
    old.items[static_cast<std::size_t>(i)].id = 10 + i;
    old.items[static_cast<std::size_t>(i)].v[2] = -i;
    old.items[static_cast<std::size_t>(i)].species = Species::Ion;
  }
  RankCheckpoint cp;
  cp.checkpoint_id = 1;
  cp.nranks = 1;
  cp.state = to_tree(old);
  ASSERT_EQ(cp.state.children[0].children[0].kind, Node::Kind::Group);
  testing::TempDir tmp("tables-old");
  const std::string dir = storage::checkpoint_path(tmp.path(), 1);
  storage::write_rank_file(dir, cp);
  Holder<Particle> now;
  from_tree(storage::read_rank_file(dir, 0).cp.state, now);
  ASSERT_EQ(now.items.size(), 3u);
  EXPECT_EQ(now.items[2].x, 2);
  EXPECT_EQ(now.items[2].id, 12);
  EXPECT_EQ(now.items[2].v[2], -2);
  EXPECT_EQ(now.items[2].species, Species::Ion);
}

}  // namespace
}  // namespace mpisnap
