// One thread that runs storage jobs (rank files, manifests, pruning) in submission order, so the
// application's thread pays only for serializing its state into memory. The thread never calls MPI.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace mpisnap::storage {

class BackgroundWriter {
 public:
  struct Job {
    std::function<void()> work;
    std::atomic<bool> finished{false};
    std::exception_ptr error;  // read only after finished
    std::string error_text() const;
  };
  using Ticket = std::shared_ptr<Job>;

  BackgroundWriter();
  ~BackgroundWriter();  // finishes queued jobs, then joins
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  Ticket submit(std::function<void()> work);
  // Blocks until every job submitted so far has finished.
  void drain();
  // Blocks until the writer is idle or `timeout` passed; true when it is idle. A thread that waits
  // for the writer's work and has nothing else to do sleeps here instead of spinning: where the
  // ranks and their writers share the cores, a spinning rank takes the core its writer needs.
  bool wait_idle_for(std::chrono::microseconds timeout);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Ticket> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mpisnap::storage
