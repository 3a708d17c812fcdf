// Session: the public face, a thin shell over the Runtime.
#include <mpisnap/mpisnap.hpp>

#include "runtime.hpp"

namespace mpisnap {
namespace {

Runtime& runtime(const char* what) {
  Runtime* rt = Runtime::get();
  if (!rt) throw Error(std::string("mpisnap: ") + what + " called after MPI_Finalize");
  return *rt;
}

}  // namespace

Session::Session(MPI_Comm comm, Config config) : config_(std::move(config)) { Runtime::start(comm, config_); }

Session::~Session() {
  if (Runtime* rt = Runtime::get()) rt->session_ended();
}

const Node* Session::begin_restore() { return runtime("Session::restore()").restorable_state(); }

void Session::fail_restore(const char* what) { runtime("Session::restore()").fail_restore(what); }

void Session::finish_restore() { runtime("Session::restore()").finish_restore(info_); }

bool Session::safe_point_due() {
  Runtime& rt = runtime("Session::checkpoint_point()");
  if (rt.should_exit()) Runtime::stop();  // the program went on after should_exit(): leave now
  return rt.safe_point_due();
}

BufferSource* Session::buffers() { return &runtime("Session::checkpoint_point()").buffers(); }

void Session::take_snapshot(Node&& tree) { runtime("Session::checkpoint_point()").take_snapshot(std::move(tree)); }

void Session::flush() { runtime("Session::flush()").flush(); }

void Session::request_checkpoint() { runtime("Session::request_checkpoint()").request_checkpoint(); }

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
