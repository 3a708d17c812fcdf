// Session: the public face, a thin shell over the Runtime. Every call passes one boundary: an error
// ends the job as an MPI error would (message, MPI_Abort with status 70: Runtime::fatal), or is
// thrown as mpisnap::Error when the program asked for exceptions (Config::exceptions).
#include <mpisnap/mpisnap.hpp>

#include <cstdlib>
#include <cstring>
#include <exception>

#include "common/diagnostics.hpp"
#include "runtime.hpp"

namespace mpisnap {
namespace {

Runtime& runtime(const char* what) {
  Runtime* rt = Runtime::get();
  if (!rt) throw Error(std::string("mpisnap: ") + what + " called after MPI_Finalize");
  return *rt;
}

template <class F>
decltype(auto) at_boundary(bool exceptions, F&& f) {
  if (exceptions) return f();
  try {
    return f();
  } catch (const std::exception& e) {
    Runtime::fatal(e.what());
  }
}

// The environment's settings. A malformed variable ends the job with its message, unless
// MPISNAP_EXCEPTIONS itself asks for exceptions.
Config environment_settings() {
  try {
    return Config::defaults();
  } catch (const std::exception& e) {
    const char* v = std::getenv("MPISNAP_EXCEPTIONS");
    for (const char* yes : {"1", "true", "yes", "on"})
      if (v && !std::strcmp(v, yes)) throw;
    Runtime::fatal(e.what());
  }
}

}  // namespace

Session::Session(MPI_Comm comm) : Session(comm, environment_settings()) {}

Session::Session(MPI_Comm comm, Config config) : config_(std::move(config)) {
  at_boundary(config_.exceptions, [&] { Runtime::start(comm, config_); });
}

Session::~Session() {
  if (Runtime* rt = Runtime::get()) rt->session_ended();
}

const Node* Session::pending_state() const {
  const Runtime* rt = Runtime::get();
  return rt ? rt->restorable_state() : nullptr;
}

const Node* Session::begin_restore() {
  return at_boundary(config_.exceptions, [] { return runtime("Session::restore()").restorable_state(); });
}

void Session::fail_restore(const char* what) {
  at_boundary(config_.exceptions, [&] { runtime("Session::restore()").fail_restore(what); });
  std::abort();  // (unreachable: fail_restore throws)
}

void Session::fail_snapshot(const char* what) {
  at_boundary(config_.exceptions, [&] {
    throw diag::error(std::string("checkpoint_point(): the state could not be serialized: ") + what);
  });
  std::abort();  // (unreachable)
}

void Session::finish_restore() {
  at_boundary(config_.exceptions, [&] { runtime("Session::restore()").finish_restore(info_); });
}

bool Session::safe_point_due() {
  if (on_commit_) run_commit_hook();  // (first: its time is not the snapshot's pause)
  return at_boundary(config_.exceptions, [] {
    Runtime& rt = runtime("Session::checkpoint_point()");
    if (rt.should_exit()) Runtime::stop();  // the program went on after should_exit(): leave now
    return rt.safe_point_due();
  });
}

void Session::on_commit(std::function<void(const Committed&)> hook) {
  at_boundary(config_.exceptions, [] { runtime("Session::on_commit()").watch_commits(); });
  on_commit_ = std::move(hook);
}

// The application's own code: what it throws is its own (outside the boundary).
void Session::run_commit_hook() {
  std::vector<Committed> done = at_boundary(config_.exceptions, [] { return runtime("Session").take_commits(); });
  for (const Committed& c : done) on_commit_(c);
}

BufferSource* Session::buffers() {
  return at_boundary(config_.exceptions, [] { return &runtime("Session::checkpoint_point()").buffers(); });
}

BufferSource* Session::buffer_planner() {
  return at_boundary(config_.exceptions, [] { return runtime("Session::restore()").buffer_planner(); });
}

void Session::map_planned_buffers() {
  at_boundary(config_.exceptions, [] { runtime("Session::restore()").map_planned_buffers(); });
}

void Session::take_snapshot(Node&& tree) {
  at_boundary(config_.exceptions, [&] { runtime("Session::checkpoint_point()").take_snapshot(std::move(tree)); });
}

void Session::flush() {
  at_boundary(config_.exceptions, [] { runtime("Session::flush()").flush(); });
  if (on_commit_) run_commit_hook();
}

void Session::request_checkpoint() {
  at_boundary(config_.exceptions, [] { runtime("Session::request_checkpoint()").request_checkpoint(); });
}

bool Session::should_exit() const noexcept {
  Runtime* rt = Runtime::get();
  return rt && rt->should_exit();
}

CheckpointStats Session::stats() const {
  Runtime* rt = Runtime::get();
  return rt ? rt->stats() : CheckpointStats{};
}

std::uint64_t Session::safe_point() const noexcept {
  Runtime* rt = Runtime::get();
  return rt ? rt->safe_point() : 0;
}

}  // namespace mpisnap
