#include "storage/background_writer.hpp"

#include <pthread.h>
#include <sched.h>

#include <stdexcept>

#include "storage/hdf5.hpp"

namespace mpisnap::storage {

std::string BackgroundWriter::Job::error_text() const {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

namespace {
// A rank hands its snapshot to the writer inside the application's pause. Woken as a normal thread,
// the writer would preempt the rank's own thread right there wherever the ranks fill the cores (the
// scheduler favours the thread it wakes), and the pause would last a time slice of writing. So the
// writer waits for work as SCHED_BATCH (Linux: no wake-up preference, nothing else) and writes as a
// normal thread, whose wake-ups after each I/O keep the write at the rate of the disk. Where the
// policy is refused, nothing changes.
void set_waking_politely(bool polite) {
  sched_param none{};
  pthread_setschedparam(pthread_self(), polite ? SCHED_BATCH : SCHED_OTHER, &none);
}
}  // namespace

BackgroundWriter::BackgroundWriter() : thread_([this] { run(); }) {}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

BackgroundWriter::Ticket BackgroundWriter::submit(std::function<void()> work) {
  auto job = std::make_shared<Job>();
  job->work = std::move(work);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
  }
  cv_.notify_one();
  return job;
}

void BackgroundWriter::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

bool BackgroundWriter::wait_idle_for(std::chrono::microseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

void BackgroundWriter::run() {
  h5::quiet_this_thread();

  for (;;) {
    Ticket job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      set_waking_politely(true);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      set_waking_politely(false);
      if (queue_.empty()) return;  // stop requested and nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    try {
      job->work();
    } catch (...) {
      job->error = std::current_exception();
    }
    job->work = nullptr;  // release captured buffers on this thread
    job->finished.store(true, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_ = false;
    }
    idle_cv_.notify_all();
  }
}

}  // namespace mpisnap::storage
