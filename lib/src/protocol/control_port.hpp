// What the snapshot engine needs from the outside world. The MPI implementation lives in
// src/mpi/mpi_control_port.*; tests use an in-process fake with many ranks.
#pragma once

#include <vector>

#include "protocol/types.hpp"

namespace mpisnap::protocol {

class ControlPort {
 public:
  virtual ~ControlPort() = default;

  // Synchronous-mode send: markers_delivered() turns true once every marker sent for the current
  // snapshot has been received by its destination.
  virtual void send_marker(WorldRank to, const Marker& m) = 0;
  virtual bool markers_delivered() = 0;
  // A marker that arrived, if any (any snapshot number; the engine sorts them).
  virtual bool poll_marker(WorldRank& from, Marker& m) = 0;

  // The NBX barrier: entered once this rank's markers are delivered; complete when every rank entered.
  virtual void start_marker_barrier() = 0;
  virtual bool marker_barrier_done() = 0;

  // Gather of done records to rank 0 plus a barrier; done_complete() fills `at_root` on rank 0.
  virtual void start_done(const DoneRecord& mine) = 0;
  virtual bool done_complete(std::vector<DoneRecord>& at_root) = 0;
};

}  // namespace mpisnap::protocol
