// The C API's protected buffers (src/capi/registry): every element type, one value, 1-D, N-D in both
// orders (a column-major array stored with its dimensions reversed), a global place, re-protection
// of a buffer that moved and grew, the stored shape a restart sizes its buffers by, and the
// argument errors with their codes. Through the archive and a real rank file.
#include <gtest/gtest.h>

#include <complex>
#include <cstring>
#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include <mpisnap/mpisnap.h>

#include "capi/registry.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "temp_dir.hpp"

namespace mpisnap::capi {
namespace {

Node through_file(const Node& state) {
  RankCheckpoint cp;
  cp.checkpoint_id = 1;
  cp.nranks = 1;
  cp.state = state;
  testing::TempDir tmp("capi");
  const std::string dir = storage::checkpoint_path(tmp.path(), 1);
  storage::write_rank_file(dir, cp);
  return std::move(storage::read_rank_file(dir, 0).cp.state);
}

const Node& state_child(const Node& root, const std::string& name) {
  for (const Node& c : root.children[0].children)
    if (c.name == name) return c;
  static const Node none;
  ADD_FAILURE() << "no " << name;
  return none;
}

int code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CodedError& e) {
    return e.code();
  }
  return MPISNAP_SUCCESS;
}

TEST(CApiRegistry, EveryKindRoundTripsThroughARankFile) {
  std::int64_t step = 42;
  double grid[3][4];
  for (int i = 0; i < 12; ++i) (&grid[0][0])[i] = i * 0.5;
  float fortran[2][3];  // a(3, 2) in Fortran: column-major extents {3, 2}
  for (int i = 0; i < 6; ++i) (&fortran[0][0])[i] = static_cast<float>(-i);
  std::complex<double> z[2] = {{1, 2}, {3, 4}};
  bool flags[3] = {true, false, true};
  std::int32_t none_yet = 0;
  Registry r;
  r.protect("step", &step, MPISNAP_INT64, {}, MPISNAP_ROW_MAJOR, true);
  r.protect("grid", grid, MPISNAP_DOUBLE, {3, 4}, MPISNAP_ROW_MAJOR, false);
  r.protect("a", fortran, MPISNAP_FLOAT, {3, 2}, MPISNAP_COLUMN_MAJOR, false);
  r.protect("z", z, MPISNAP_COMPLEX_DOUBLE, {2}, MPISNAP_ROW_MAJOR, false);
  r.protect("flags", flags, MPISNAP_BOOL, {3}, MPISNAP_ROW_MAJOR, false);
  r.protect("empty", nullptr, MPISNAP_INT32, {0}, MPISNAP_ROW_MAJOR, false);
  r.set_global("grid", {6, 0}, {12, 4});
  (void)none_yet;
  const Node tree = through_file(to_tree(r));
  EXPECT_EQ(state_child(tree, "step").kind, Node::Kind::Scalar);
  EXPECT_EQ(state_child(tree, "grid").shape, (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(state_child(tree, "grid").global_offset, (std::vector<std::uint64_t>{6, 0}));
  EXPECT_EQ(state_child(tree, "a").shape, (std::vector<std::uint64_t>{2, 3}));  // reversed
  EXPECT_EQ(state_child(tree, "z").kind, Node::Kind::Table);
  EXPECT_EQ(state_child(tree, "flags").type, ScalarType::Bool);
  EXPECT_EQ(Registry::stored_shape(tree, "a", MPISNAP_COLUMN_MAJOR), (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(Registry::stored_shape(tree, "a", MPISNAP_ROW_MAJOR), (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(Registry::stored_shape(tree, "step", MPISNAP_ROW_MAJOR).empty());
  EXPECT_EQ(code_of([&] { Registry::stored_shape(tree, "nope", MPISNAP_ROW_MAJOR); }), MPISNAP_ERR_NAME);

  std::int64_t step2 = 0;
  double grid2[3][4] = {};
  float fortran2[2][3] = {};
  std::complex<double> z2[2];
  bool flags2[3] = {};
  Registry back;
  back.protect("step", &step2, MPISNAP_INT64, {}, MPISNAP_ROW_MAJOR, true);
  back.protect("grid", grid2, MPISNAP_DOUBLE, {3, 4}, MPISNAP_ROW_MAJOR, false);
  back.protect("a", fortran2, MPISNAP_FLOAT, {3, 2}, MPISNAP_COLUMN_MAJOR, false);
  back.protect("z", z2, MPISNAP_COMPLEX_DOUBLE, {2}, MPISNAP_ROW_MAJOR, false);
  back.protect("flags", flags2, MPISNAP_BOOL, {3}, MPISNAP_ROW_MAJOR, false);
  back.protect("empty", nullptr, MPISNAP_INT32, {0}, MPISNAP_ROW_MAJOR, false);
  from_tree(tree, back);
  EXPECT_EQ(step2, 42);
  EXPECT_EQ(0, std::memcmp(grid2, grid, sizeof grid));
  EXPECT_EQ(0, std::memcmp(fortran2, fortran, sizeof fortran));
  EXPECT_EQ(z2[1], z[1]);
  EXPECT_EQ(0, std::memcmp(flags2, flags, sizeof flags));

  // Restored into a buffer of another shape: an error that names both shapes.
  double wrong[4][3];
  Registry other;
  other.protect("grid", wrong, MPISNAP_DOUBLE, {4, 3}, MPISNAP_ROW_MAJOR, false);
  try {
    from_tree(tree, other);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'grid' was saved with the shape 3 x 4 but is loaded as 4 x 3"), std::string::npos)
        << e.what();
  }
}

TEST(CApiRegistry, ProtectingANameAgainFollowsTheBuffer) {
  std::vector<double> small(3, 1.0), large(5, 2.0);
  Registry r;
  r.protect("particles", small.data(), MPISNAP_DOUBLE, {3}, MPISNAP_ROW_MAJOR, false);
  std::int32_t k = 7;
  r.protect("k", &k, MPISNAP_INT32, {}, MPISNAP_ROW_MAJOR, true);
  r.protect("particles", large.data(), MPISNAP_DOUBLE, {5}, MPISNAP_ROW_MAJOR, false);  // grew and moved
  EXPECT_EQ(r.size(), 2u);
  const Node tree = to_tree(r);
  EXPECT_EQ(tree.children[0].children[0].name, "particles");  // (first protection's place)
  EXPECT_EQ(tree.children[0].children[0].count, 5u);
  EXPECT_EQ(Registry::stored_shape(tree, "particles", MPISNAP_ROW_MAJOR), (std::vector<std::int64_t>{5}));
  r.unprotect("k");
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(code_of([&] { r.unprotect("k"); }), MPISNAP_ERR_NAME);
}

TEST(CApiRegistry, ArgumentErrorsHaveTheirCodes) {
  double d[4] = {};
  Registry r;
  EXPECT_EQ(code_of([&] { r.protect(nullptr, d, MPISNAP_DOUBLE, {4}, MPISNAP_ROW_MAJOR, false); }), MPISNAP_ERR_ARG);
  EXPECT_EQ(code_of([&] { r.protect("a/b", d, MPISNAP_DOUBLE, {4}, MPISNAP_ROW_MAJOR, false); }), MPISNAP_ERR_NAME);
  EXPECT_EQ(code_of([&] { r.protect("", d, MPISNAP_DOUBLE, {4}, MPISNAP_ROW_MAJOR, false); }), MPISNAP_ERR_NAME);
  EXPECT_EQ(code_of([&] { r.protect("d", d, 99, {4}, MPISNAP_ROW_MAJOR, false); }), MPISNAP_ERR_ARG);
  EXPECT_EQ(code_of([&] { r.protect("d", d, MPISNAP_DOUBLE, {-1}, MPISNAP_ROW_MAJOR, false); }), MPISNAP_ERR_ARG);
  EXPECT_EQ(code_of([&] { r.protect("d", d, MPISNAP_DOUBLE, {4}, 7, false); }), MPISNAP_ERR_ARG);
  EXPECT_EQ(code_of([&] { r.protect("d", nullptr, MPISNAP_DOUBLE, {4}, MPISNAP_ROW_MAJOR, false); }), MPISNAP_ERR_ARG);
  EXPECT_EQ(code_of([&] { r.protect("d", d, MPISNAP_DOUBLE, {}, MPISNAP_ROW_MAJOR, false); }), MPISNAP_ERR_ARG);
  EXPECT_EQ(r.size(), 0u);  // (nothing half-protected)
  r.protect("d", d, MPISNAP_DOUBLE, {2, 2}, MPISNAP_ROW_MAJOR, false);
  EXPECT_EQ(code_of([&] { r.set_global("d", {1, 0}, {2, 2}); }), MPISNAP_ERR_ARG);  // does not fit
  EXPECT_EQ(code_of([&] { r.set_global("e", {0, 0}, {2, 2}); }), MPISNAP_ERR_NAME);
  EXPECT_EQ(code_of([&] { r.set_global("d", {0, 0}, {4, 2}); }), MPISNAP_SUCCESS);
}

}  // namespace
}  // namespace mpisnap::capi
