// A rank blocked in a send must still take part in the trigger agreement.
//
// Rank 3 sends rank 2 a large message (rendezvous: the send returns only once rank 2 receives it)
// before each of its safe points; rank 2 receives it after its own. Rank 0 requests checkpoints
// over and over. The news of a round goes down a tree: rank 0 tells ranks 1 and 2, rank 1 tells
// rank 3, and rank 1 is slow (it computes between safe points), so rank 2 usually hears first. It
// must then stop at its next safe point until every rank has contributed, while rank 3 is inside
// the send that rank 2 takes only after that safe point: unless rank 3 keeps the agreement moving
// while it waits, neither can go on.
//   --mode send|ssend|isend_wait: how rank 3 sends (MPI_Send, MPI_Ssend, MPI_Isend + MPI_Wait)
// Prints "checkpoints N" on rank 0 at the end, and fails if a message arrived wrong.
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <mpisnap/mpisnap.hpp>

struct Counter {
  long long i = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(i));
  }
};

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  std::string mode = "send";
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--mode")) mode = argv[i + 1];
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 4) {
    if (rank == 0) std::fprintf(stderr, "run on 4 ranks\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  mpisnap::Config cfg = mpisnap::Config::defaults();
  if (rank == 0) std::filesystem::remove_all(cfg.directory);  // a fresh start, whatever ran before
  MPI_Barrier(MPI_COMM_WORLD);
  cfg.keep = 1;
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};

  constexpr int kIters = 200;
  constexpr std::size_t kWords = (1 << 20) / sizeof(long long);  // well past any eager limit
  std::vector<long long> buf(kWords);
  Counter c;
  int bad = 0;
  for (; c.i < kIters;) {
    if (rank == 1) ::usleep(2000);
    if (rank == 3) {
      for (std::size_t w = 0; w < kWords; w += 4096) buf[w] = c.i * 7 + static_cast<long long>(w);
      if (mode == "ssend") {
        MPI_Ssend(buf.data(), static_cast<int>(kWords), MPI_LONG_LONG, 2, 3, MPI_COMM_WORLD);
      } else if (mode == "isend_wait") {
        MPI_Request r;
        MPI_Isend(buf.data(), static_cast<int>(kWords), MPI_LONG_LONG, 2, 3, MPI_COMM_WORLD, &r);
        MPI_Wait(&r, MPI_STATUS_IGNORE);
      } else {
        MPI_Send(buf.data(), static_cast<int>(kWords), MPI_LONG_LONG, 2, 3, MPI_COMM_WORLD);
      }
    }
    if (rank == 0 && c.i % 10 == 5) snap.request_checkpoint();
    const long long sent = c.i;
    ++c.i;
    snap.checkpoint_point(c);
    if (rank == 2) {
      MPI_Recv(buf.data(), static_cast<int>(kWords), MPI_LONG_LONG, 3, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      for (std::size_t w = 0; w < kWords; w += 4096)
        if (buf[w] != sent * 7 + static_cast<long long>(w)) ++bad;
    }
  }
  snap.flush();
  unsigned long long taken = snap.stats().checkpoints, least = 0;
  MPI_Allreduce(&taken, &least, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  int bad_total = 0;
  MPI_Allreduce(&bad, &bad_total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) std::printf("checkpoints %llu bad %d\n", least, bad_total);
  if (least == 0) std::fprintf(stderr, "rank %d took %llu checkpoint(s) in %lld safe points\n", rank, taken, c.i);
  MPI_Finalize();
  return bad_total == 0 && least > 0 ? 0 : 1;
}
