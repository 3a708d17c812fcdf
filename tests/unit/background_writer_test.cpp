// The background writer: jobs in submission order, errors kept for the submitter, and the bounded
// wait a rank with nothing else to do sleeps in while its writer works.
#include "storage/background_writer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using mpisnap::storage::BackgroundWriter;
using namespace std::chrono_literals;

TEST(BackgroundWriter, RunsJobsInSubmissionOrderAndKeepsTheirErrors) {
  BackgroundWriter w;
  std::vector<int> order;
  auto a = w.submit([&] { order.push_back(1); });
  auto b = w.submit([] { throw std::runtime_error("disk on fire"); });
  auto c = w.submit([&] { order.push_back(3); });
  w.drain();
  EXPECT_EQ(order, (std::vector<int>{1, 3}));
  EXPECT_TRUE(a->finished && b->finished && c->finished);
  EXPECT_EQ(a->error_text(), "");
  EXPECT_EQ(b->error_text(), "disk on fire");
}

TEST(BackgroundWriter, WaitIdleForReturnsAtOnceWhenIdleAndWhenTheJobEndsNotAtTheTimeout) {
  BackgroundWriter w;
  EXPECT_TRUE(w.wait_idle_for(0us));  // nothing submitted: idle

  std::atomic<bool> release{false};
  auto job = w.submit([&] {
    while (!release.load()) std::this_thread::sleep_for(1ms);
  });
  // Busy: the wait times out and says so.
  EXPECT_FALSE(w.wait_idle_for(2ms));
  EXPECT_FALSE(job->finished);

  // The job ends long before a generous timeout: the waiter is woken by it.
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    release = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(w.wait_idle_for(60s));
  const auto waited = std::chrono::steady_clock::now() - t0;
  releaser.join();
  EXPECT_TRUE(job->finished);
  EXPECT_LT(waited, 30s);  // woken by the job's end, not by the timeout
}

TEST(BackgroundWriter, WaitIdleForCoversEveryQueuedJobNotOnlyTheRunningOne) {
  BackgroundWriter w;
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i)
    w.submit([&] {
      std::this_thread::sleep_for(5ms);
      ++done;
    });
  while (!w.wait_idle_for(1ms)) {
  }
  EXPECT_EQ(done.load(), 3);
}

}  // namespace
