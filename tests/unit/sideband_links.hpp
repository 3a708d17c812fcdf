// Every rank's side-channel links for tests that play a job's ranks as threads of this process:
// one listener per "rank" on this host's addresses, and one thread per rank connecting its tree, as
// each rank of a job does at start-up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "sideband/port.hpp"

namespace mpisnap::testing {

inline std::vector<sideband::Links> connect_all(int n, std::uint64_t job = 42) {
  std::vector<std::unique_ptr<sideband::Listener>> listeners;
  std::vector<sideband::Endpoint> all;
  for (int r = 0; r < n; ++r) {
    listeners.push_back(std::make_unique<sideband::Listener>());
    all.push_back(listeners.back()->endpoint());
  }
  std::vector<sideband::Links> links(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      links[static_cast<std::size_t>(r)] = sideband::connect_tree(r, n, job, *listeners[static_cast<std::size_t>(r)], all, 20);
    });
  for (auto& t : threads) t.join();
  return links;
}

}  // namespace mpisnap::testing
