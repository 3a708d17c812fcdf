// Every message names its rank the same way, whichever layer raised it.
#include <gtest/gtest.h>

#include "common/diagnostics.hpp"

namespace mpisnap::diag {
namespace {

TEST(Diagnostics, MessagesNameTheRankOnceItIsKnown) {
  set_rank(-1);
  EXPECT_EQ(rank_prefix(), "mpisnap: ");
  EXPECT_EQ(with_rank("mpisnap: /ck/ckpt-3: No space left on device"), "mpisnap: /ck/ckpt-3: No space left on device");
  set_rank(3);
  EXPECT_EQ(rank_prefix(), "mpisnap: rank 3: ");
  EXPECT_STREQ(error("misplaced safe point").what(), "mpisnap: rank 3: misplaced safe point");
  // A text from a layer that knows no rank gets it; one that names a rank keeps its own.
  EXPECT_EQ(with_rank("mpisnap: /ck/ckpt-3: No space left on device"), "mpisnap: rank 3: /ck/ckpt-3: No space left on device");
  EXPECT_EQ(with_rank("bad_alloc"), "mpisnap: rank 3: bad_alloc");
  EXPECT_EQ(with_rank("mpisnap: rank 1: checkpoint 2 does not verify"), "mpisnap: rank 1: checkpoint 2 does not verify");
  EXPECT_EQ(fixed(0.123456, 4), "0.1235");
  set_rank(-1);
}

TEST(Diagnostics, BytesForPeople) {
  EXPECT_EQ(diag::bytes(0), "0 B");
  EXPECT_EQ(diag::bytes(1023), "1023 B");
  EXPECT_EQ(diag::bytes(1536), "1.50 KiB");
  EXPECT_EQ(diag::bytes(std::uint64_t{64} << 20), "64.0 MiB");
  EXPECT_EQ(diag::bytes(std::uint64_t{1} << 30), "1.00 GiB");
  EXPECT_EQ(diag::bytes(std::uint64_t{700} << 30), "700 GiB");
}

}  // namespace
}  // namespace mpisnap::diag
