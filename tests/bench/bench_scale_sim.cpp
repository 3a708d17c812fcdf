// The protocol at 1,024..65,536 simulated ranks (tests/sim/scale_sim.hpp): one JSON line per run,
// for scripts/bench.py's table and fit.
//   bench_scale_sim [--ranks 1024,16384,65536] [--checkpoints 2] [--storm]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "scale_sim.hpp"

using namespace mpisnap::sim;

namespace {

struct Summary {
  double max = 0, mean = 0;
};

template <class F>
Summary over_ranks(const Result& r, bool skip_root, F f) {
  Summary s;
  std::size_t n = 0;
  for (std::size_t i = skip_root ? 1 : 0; i < r.ranks.size(); ++i, ++n) {
    const double v = f(r.ranks[i]);
    s.max = std::max(s.max, v);
    s.mean += v;
  }
  s.mean /= static_cast<double>(n);
  return s;
}

int most(const std::vector<int>& v) {
  int m = 0;
  for (int x : v) m = std::max(m, x);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1024, 4096, 16384, 65536};
  int checkpoints = 2;
  bool storm = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--ranks") && i + 1 < argc) {
      sizes.clear();
      for (char* s = std::strtok(argv[++i], ","); s; s = std::strtok(nullptr, ",")) sizes.push_back(std::atoi(s));
    } else if (!std::strcmp(argv[i], "--checkpoints") && i + 1 < argc) {
      checkpoints = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--storm")) {
      storm = true;
    } else {
      std::fprintf(stderr, "usage: bench_scale_sim [--ranks 1024,16384] [--checkpoints N] [--storm]\n");
      return 2;
    }
  }
  for (Pattern pattern : {Pattern::Ring, Pattern::Stencil3d, Pattern::RandomSparse}) {
    for (int p : sizes) {
      Config c;
      c.ranks = p;
      c.pattern = pattern;
      c.checkpoints = checkpoints;
      c.every_rank_triggers = storm;
      const auto t0 = std::chrono::steady_clock::now();
      const Result r = run(c);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double k = r.checkpoints;
      auto peers = over_ranks(r, false, [](const RankStats& s) { return s.peers; });
      auto ours_msgs = over_ranks(r, true, [&](const RankStats& s) { return (s.ours_sent.messages + s.ours_received.messages) / k; });
      auto ours_bytes = over_ranks(r, true, [&](const RankStats& s) { return (s.ours_sent.bytes + s.ours_received.bytes) / k; });
      auto mpi_msgs = over_ranks(r, true, [&](const RankStats& s) { return (s.mpi_sent.messages + s.mpi_received.messages) / k; });
      auto mpi_bytes = over_ranks(r, true, [&](const RankStats& s) { return (s.mpi_sent.bytes + s.mpi_received.bytes) / k; });
      auto peak = over_ranks(r, true, [](const RankStats& s) { return static_cast<double>(s.peak_bytes); });
      auto peak_per_peer = over_ranks(r, true, [](const RankStats& s) { return static_cast<double>(s.peak_bytes) / s.peers; });
      auto counters = over_ranks(r, false, [](const RankStats& s) { return static_cast<double>(s.counter_bytes); });
      auto counters_per_peer = over_ranks(r, false, [](const RankStats& s) { return static_cast<double>(s.counter_bytes) / s.peers; });
      const RankStats& root = r.ranks[0];
      std::printf(
          "{\"pattern\": \"%s\", \"ranks\": %d, \"storm\": %s, \"checkpoints\": %d, \"peers_max\": %.0f, \"peers_mean\": %.2f, "
          "\"ours_msgs_max\": %.2f, \"ours_msgs_mean\": %.2f, \"ours_bytes_max\": %.0f, \"mpi_msgs_max\": %.2f, "
          "\"mpi_bytes_max\": %.0f, \"peak_max\": %.0f, \"peak_mean\": %.0f, \"peak_per_peer_max\": %.1f, "
          "\"counters_max\": %.0f, \"counters_per_peer_max\": %.1f, "
          "\"root_ours_msgs\": %.2f, \"root_mpi_bytes\": %.0f, \"root_peak\": %llu, \"requests_at_root\": %llu, "
          "\"agreement_rounds\": %d, \"completion_rounds\": %d, \"total_rounds\": %d, \"seconds\": %.2f}\n",
          name(pattern), p, storm ? "true" : "false", r.checkpoints, peers.max, peers.mean, ours_msgs.max, ours_msgs.mean,
          ours_bytes.max, mpi_msgs.max, mpi_bytes.max, peak.max, peak.mean, peak_per_peer.max,
          counters.max, counters_per_peer.max,
          (root.ours_sent.messages + root.ours_received.messages) / k, (root.mpi_sent.bytes + root.mpi_received.bytes) / k,
          static_cast<unsigned long long>(root.peak_bytes), static_cast<unsigned long long>(r.requests_at_root),
          most(r.agreement_rounds), most(r.completion_rounds), most(r.total_rounds), secs);
      std::fflush(stdout);
    }
  }
  return 0;
}
