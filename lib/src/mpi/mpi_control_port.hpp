// The snapshot engine's control traffic on the library's private duplicate of MPI_COMM_WORLD:
// markers as synchronous sends, the NBX barrier, the done gather and barrier.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <vector>

#include "protocol/control_port.hpp"

namespace mpisnap::mpi {

class MpiControlPort final : public protocol::ControlPort {
 public:
  MpiControlPort(MPI_Comm control, int rank) : comm_(control), rank_(rank) {}

  void send_marker(protocol::WorldRank to, const protocol::Marker& m) override;
  bool markers_delivered() override;
  bool poll_marker(protocol::WorldRank& from, protocol::Marker& m) override;
  void start_marker_barrier() override;
  bool marker_barrier_done() override;
  void start_done(const protocol::DoneRecord& mine) override;
  bool done_complete(std::vector<protocol::DoneRecord>& at_root) override;

  std::uint64_t markers_sent() const noexcept { return markers_sent_; }

 private:
  static constexpr int kMarkerTag = 1;

  MPI_Comm comm_;
  int rank_;
  std::deque<std::vector<std::uint64_t>> marker_bufs_;  // alive until their sends complete
  std::vector<MPI_Request> marker_reqs_;
  MPI_Request barrier_ = MPI_REQUEST_NULL;
  MPI_Request gather_ = MPI_REQUEST_NULL;
  MPI_Request done_barrier_ = MPI_REQUEST_NULL;
  std::uint64_t mine_[protocol::DoneRecord::kWords] = {};
  std::vector<std::uint64_t> all_;
  std::uint64_t markers_sent_ = 0;
};

}  // namespace mpisnap::mpi
