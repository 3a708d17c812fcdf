// Point-to-point latency and bandwidth between ranks 0 and 1, the median of --reps repetitions.
// Built twice: bench_p2p knows nothing of mpisnap (run it plain for the baseline, or with
// LD_PRELOAD + MPISNAP_PRELOAD_SESSION=1 for the library outside snapshot windows);
// bench_p2p_snapshots links mpisnap, creates a Session and passes a safe point after every
// iteration with a snapshot at each one (MPISNAP_EVERY=1): the library with snapshots taken
// continuously.
//   pingpong <bytes> <one-way latency, microseconds>
//   stream   <bytes> <bandwidth, MB/s>   (64 messages in flight, then a short reply)
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef MPISNAP_BENCH_SESSION
#include <mpisnap/mpisnap.hpp>
#endif

namespace {

struct Nothing {
  template <class Ar>
  void serialize(Ar&) {}
};

#ifdef MPISNAP_BENCH_SESSION
mpisnap::Session* g_snap = nullptr;
Nothing g_state;
inline void safe_point() { g_snap->checkpoint_point(g_state); }
#else
inline void safe_point() {}
#endif

int g_rank = 0;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double pingpong(std::vector<char>& buf, int bytes, int iters) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) {
    if (g_rank == 0) {
      MPI_Send(buf.data(), bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
      MPI_Recv(buf.data(), bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (g_rank == 1) {
      MPI_Recv(buf.data(), bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf.data(), bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
    }
    safe_point();
  }
  return (MPI_Wtime() - t0) / iters / 2 * 1e6;
}

double stream(std::vector<char>& buf, int bytes, int iters) {
  const int window = 64;
  std::vector<MPI_Request> reqs(window);
  char ack = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) {
    if (g_rank == 0) {
      for (int k = 0; k < window; ++k) MPI_Isend(buf.data(), bytes, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &reqs[static_cast<std::size_t>(k)]);
      MPI_Waitall(window, reqs.data(), MPI_STATUSES_IGNORE);
      MPI_Recv(&ack, 1, MPI_BYTE, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (g_rank == 1) {
      for (int k = 0; k < window; ++k) MPI_Irecv(buf.data(), bytes, MPI_BYTE, 0, 2, MPI_COMM_WORLD, &reqs[static_cast<std::size_t>(k)]);
      MPI_Waitall(window, reqs.data(), MPI_STATUSES_IGNORE);
      MPI_Send(&ack, 1, MPI_BYTE, 0, 3, MPI_COMM_WORLD);
    }
    safe_point();
  }
  const double seconds = MPI_Wtime() - t0;
  return static_cast<double>(bytes) * window * iters / seconds / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  int reps = 7;
  double scale = 1.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--scale")) scale = std::atof(argv[i + 1]);
  }
#ifdef MPISNAP_BENCH_SESSION
  mpisnap::Session snap{MPI_COMM_WORLD};
  g_snap = &snap;
#endif
  std::vector<char> buf(4 << 20, 1);
  struct Case {
    const char* kind;
    int bytes;
    int iters;
  };
  const Case cases[] = {{"pingpong", 0, 20000}, {"pingpong", 8, 20000}, {"pingpong", 1024, 10000},
                        {"pingpong", 65536, 2000}, {"stream", 65536, 1000}, {"stream", 1 << 20, 100},
                        {"stream", 4 << 20, 25}};
  for (const Case& c : cases) {
    const int iters = std::max(1, static_cast<int>(c.iters * scale));
    std::vector<double> samples;
    (std::strcmp(c.kind, "pingpong") == 0 ? pingpong : stream)(buf, c.bytes, std::max(1, iters / 10));  // warm up
    for (int r = 0; r < reps; ++r)
      samples.push_back((std::strcmp(c.kind, "pingpong") == 0 ? pingpong : stream)(buf, c.bytes, iters));
    if (g_rank == 0) std::printf("%s %d %.4f\n", c.kind, c.bytes, median(samples));
  }
  MPI_Finalize();
  return 0;
}
