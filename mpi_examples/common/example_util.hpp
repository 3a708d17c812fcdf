// Small helpers shared by the examples: --key value options, a deterministic RNG, FNV-1a hashing,
// a simulated amount of work per step, and the benchmarks' estimate of what checkpoints cost.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace example {

class Options {
 public:
  Options(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0 || i + 1 >= argc) {
        std::fprintf(stderr, "usage: %s [--name value]...\n", argv[0]);
        std::exit(2);
      }
      values_[a.substr(2)] = argv[++i];
    }
  }
  std::int64_t get(const std::string& name, std::int64_t fallback) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    char* end = nullptr;
    const long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (*end) {
      std::fprintf(stderr, "option --%s: '%s' is not an integer\n", name.c_str(), it->second.c_str());
      std::exit(2);
    }
    return v;
  }
  bool has(const std::string& name) const { return values_.count(name) != 0; }

 private:
  std::map<std::string, std::string> values_;
};

// splitmix64: tiny, deterministic, and its whole state is one integer (easy to checkpoint).
inline std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Stands in for the computation of a real step (and makes runs long enough to be killed).
inline void work(std::int64_t microseconds) {
  if (microseconds > 0) std::this_thread::sleep_for(std::chrono::microseconds(microseconds));
}

// What the checkpoints cost the iterations around them, for the benchmarks: for each checkpointed
// iteration c, the sum over the iterations c, c+1, ... that fall within `window` seconds of it of
// their excess over the median of the iterations of the `window` seconds before c; the total over
// all checkpoints. Noise of single iterations averages out in the sum, and a machine that slows
// down or speeds up over minutes (a shared one does) moves both sides alike.
inline double excess_after(const std::vector<double>& seconds, const std::vector<std::size_t>& checkpointed,
                           double window) {
  auto median_of = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  if (seconds.empty()) return 0;
  const double overall = median_of(seconds);
  double total = 0;
  for (std::size_t c : checkpointed) {
    std::vector<double> before;
    double span = 0;
    for (std::size_t i = c; i > 0 && span < window; --i) {
      before.push_back(seconds[i - 1]);
      span += seconds[i - 1];
    }
    const double baseline = before.empty() ? overall : median_of(before);
    double elapsed = 0;
    for (std::size_t i = c; i < seconds.size() && elapsed < window; ++i) {
      total += seconds[i] - baseline;
      elapsed += seconds[i];
    }
  }
  return total;
}

// Runs an example's body; an error (mpisnap::Error names rank, file and cause) is printed and the
// whole job stopped with exit status 1, instead of std::terminate's abort and core dump.
inline int guarded_main(int argc, char** argv, int (*body)(int, char**)) {
  try {
    return body(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::fflush(stderr);
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}

}  // namespace example
