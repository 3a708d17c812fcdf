// The pool of freed communicators' colours (lib/src/mpi/color_pool.hpp): what a rank offers a new
// communicator, what it takes, and what it hands back to be freed.
#include <gtest/gtest.h>

#include <vector>

#include "fake_handles.hpp"
#include "mpi/color_pool.hpp"

namespace mpisnap::mpi {
namespace {

ColorPool::Colors pair(std::uintptr_t k) {
  return {{testing::fake_handle<MPI_Comm>(2 * k), testing::fake_handle<MPI_Comm>(2 * k + 1)}};
}

TEST(ColorPool, OffersTheNewestPairWithTheSameMembersAndBoundsWhatItHolds) {
  ColorPool pool;
  const std::vector<int> all = {0, 1, 2, 3}, evens = {0, 2};
  EXPECT_EQ(pool.offer(all), 0u) << "empty: new colours";
  ColorPool::Colors used = pair(7);
  used.sent = 3;
  used.delivered = 2;
  EXPECT_FALSE(pool.put(7, all, used));
  EXPECT_FALSE(pool.put(9, evens, pair(9)));
  EXPECT_FALSE(pool.put(5, all, pair(5)));  // pooled later, made earlier (a smaller id)
  EXPECT_EQ(pool.offer(all), 7u) << "the newest communicator's pair, whatever the order of the frees";
  EXPECT_EQ(pool.offer(evens), 9u);
  EXPECT_EQ(pool.offer({0, 1, 2}), 0u) << "other members: nothing to offer";
  EXPECT_EQ(pool.offer({2, 0}), 0u) << "the same members in another order are another communicator";
  ASSERT_TRUE(pool.find(7));
  EXPECT_EQ(pool.find(7)->sent, 3u) << "the counts the members' agreement sums";
  EXPECT_EQ(pool.find(7)->delivered, 2u);
  EXPECT_FALSE(pool.find(8));
  const ColorPool::Colors c = pool.take(7);
  EXPECT_EQ(c.color[0], pair(7).color[0]);
  EXPECT_EQ(c.color[1], pair(7).color[1]);
  EXPECT_EQ(pool.offer(all), 5u);
  for (std::uint64_t t = 10; pool.size() < ColorPool::kMax; ++t) EXPECT_FALSE(pool.put(t, all, pair(t)));
  const auto evicted = pool.put(100, all, pair(100));
  ASSERT_TRUE(evicted) << "full: the oldest pair is handed back to be freed";
  EXPECT_EQ(evicted->color[0], pair(9).color[0]);
  EXPECT_EQ(pool.offer(evens), 0u);
  std::vector<MPI_Comm> released;
  pool.clear([&](ColorPool::Colors& x) { released.insert(released.end(), x.color, x.color + 2); });
  EXPECT_EQ(released.size(), 2 * ColorPool::kMax);
  EXPECT_EQ(pool.size(), 0u);
}

}  // namespace
}  // namespace mpisnap::mpi
