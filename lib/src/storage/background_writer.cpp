#include "storage/background_writer.hpp"

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

void BackgroundWriter::run() {
  h5::quiet_this_thread();
  for (;;) {
    Ticket job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
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
