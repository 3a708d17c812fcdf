// Point-to-point latency and bandwidth between ranks 0 and 1, the median of --reps repetitions.
// Built twice: bench_p2p knows nothing of mpisnap (run it plain for the baseline, or with
// LD_PRELOAD + MPISNAP_PRELOAD_SESSION=1 for the library outside snapshot windows);
// bench_p2p_snapshots links mpisnap, creates a Session and passes a safe point after every
// iteration with a snapshot at each one (MPISNAP_EVERY=1): the library with snapshots taken
// continuously.
//   pingpong <bytes> <one-way latency, microseconds>
//   stream   <bytes> <bandwidth, MB/s>   (64 messages in flight, then a short reply)
//
// --kind pingpong|stream runs only those cases.
// --ab: in one process, each repetition measures the case twice, once through MPI_* (the library,
// when it is preloaded) and once through PMPI_* (Open MPI itself, the library bypassed), in
// alternating order, and prints the median over repetitions of the ratio library / bypassed
// (latency: time ratio; stream: bandwidth ratio):
//   ab <kind> <bytes> <ratio>
// Process-to-process noise (where the ranks landed, a slow minute of a shared machine) then weighs
// on both sides alike. Without the library preloaded both sides are the same calls: the ratio
// shows the method's own noise.
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

// The calls a measurement makes: through the MPI_* names (intercepted when the library is
// loaded) or straight to PMPI_* (never intercepted).
struct Mpi {
  static int send(const void* b, int n, int dest, int tag) { return MPI_Send(b, n, MPI_BYTE, dest, tag, MPI_COMM_WORLD); }
  static int recv(void* b, int n, int src, int tag) {
    return MPI_Recv(b, n, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  static int isend(const void* b, int n, int dest, int tag, MPI_Request* r) {
    return MPI_Isend(b, n, MPI_BYTE, dest, tag, MPI_COMM_WORLD, r);
  }
  static int irecv(void* b, int n, int src, int tag, MPI_Request* r) {
    return MPI_Irecv(b, n, MPI_BYTE, src, tag, MPI_COMM_WORLD, r);
  }
  static int waitall(int n, MPI_Request* r) { return MPI_Waitall(n, r, MPI_STATUSES_IGNORE); }
};
struct Pmpi {
  static int send(const void* b, int n, int dest, int tag) { return PMPI_Send(b, n, MPI_BYTE, dest, tag, MPI_COMM_WORLD); }
  static int recv(void* b, int n, int src, int tag) {
    return PMPI_Recv(b, n, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  static int isend(const void* b, int n, int dest, int tag, MPI_Request* r) {
    return PMPI_Isend(b, n, MPI_BYTE, dest, tag, MPI_COMM_WORLD, r);
  }
  static int irecv(void* b, int n, int src, int tag, MPI_Request* r) {
    return PMPI_Irecv(b, n, MPI_BYTE, src, tag, MPI_COMM_WORLD, r);
  }
  static int waitall(int n, MPI_Request* r) { return PMPI_Waitall(n, r, MPI_STATUSES_IGNORE); }
};

template <class C>
double pingpong(std::vector<char>& buf, int bytes, int iters) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) {
    if (g_rank == 0) {
      C::send(buf.data(), bytes, 1, 1);
      C::recv(buf.data(), bytes, 1, 1);
    } else if (g_rank == 1) {
      C::recv(buf.data(), bytes, 0, 1);
      C::send(buf.data(), bytes, 0, 1);
    }
    safe_point();
  }
  return (MPI_Wtime() - t0) / iters / 2 * 1e6;
}

template <class C>
double stream(std::vector<char>& buf, int bytes, int iters) {
  const int window = 64;
  std::vector<MPI_Request> reqs(window);
  char ack = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) {
    if (g_rank == 0) {
      for (int k = 0; k < window; ++k) C::isend(buf.data(), bytes, 1, 2, &reqs[static_cast<std::size_t>(k)]);
      C::waitall(window, reqs.data());
      C::recv(&ack, 1, 1, 3);
    } else if (g_rank == 1) {
      for (int k = 0; k < window; ++k) C::irecv(buf.data(), bytes, 0, 2, &reqs[static_cast<std::size_t>(k)]);
      C::waitall(window, reqs.data());
      C::send(&ack, 1, 0, 3);
    }
    safe_point();
  }
  const double seconds = MPI_Wtime() - t0;
  return static_cast<double>(bytes) * window * iters / seconds / 1e6;
}

template <class C>
double measure(bool is_pingpong, std::vector<char>& buf, int bytes, int iters) {
  return is_pingpong ? pingpong<C>(buf, bytes, iters) : stream<C>(buf, bytes, iters);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  int reps = 7;
  double scale = 1.0;
  bool ab = false;
  const char* only = nullptr;  // --kind pingpong|stream: only those cases
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--ab")) ab = true;
    if (i + 1 >= argc) continue;
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--scale")) scale = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--kind")) only = argv[i + 1];
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
    if (only && std::strcmp(only, c.kind) != 0) continue;
    const int iters = std::max(1, static_cast<int>(c.iters * scale));
    const bool pp = std::strcmp(c.kind, "pingpong") == 0;
    measure<Mpi>(pp, buf, c.bytes, std::max(1, iters / 10));  // warm up
    std::vector<double> samples;
    if (!ab) {
      for (int r = 0; r < reps; ++r) samples.push_back(measure<Mpi>(pp, buf, c.bytes, iters));
      if (g_rank == 0) std::printf("%s %d %.4f\n", c.kind, c.bytes, median(samples));
      continue;
    }
    measure<Pmpi>(pp, buf, c.bytes, std::max(1, iters / 10));
    for (int r = 0; r < reps; ++r) {
      double lib = 0, bypassed = 0;
      if (r % 2 == 0) {
        lib = measure<Mpi>(pp, buf, c.bytes, iters);
        bypassed = measure<Pmpi>(pp, buf, c.bytes, iters);
      } else {
        bypassed = measure<Pmpi>(pp, buf, c.bytes, iters);
        lib = measure<Mpi>(pp, buf, c.bytes, iters);
      }
      samples.push_back(lib / bypassed);
    }
    if (g_rank == 0) std::printf("ab %s %d %.4f\n", c.kind, c.bytes, median(samples));
  }
  MPI_Finalize();
  return 0;
}
