// The trigger agreement's traffic: small messages on the control communicator (tag 2) and the
// max-reduction on a communicator of its own, so its collectives never interleave with the
// snapshot engine's.
#pragma once

#include <mpi.h>

#include <array>
#include <deque>
#include <vector>

#include "protocol/trigger_agreement.hpp"

namespace mpisnap::mpi {

class MpiAgreementPort final : public protocol::AgreementPort {
 public:
  MpiAgreementPort(MPI_Comm control, MPI_Comm reduce) : control_(control), reduce_(reduce) {}
  ~MpiAgreementPort() override;

  void send(int to, const protocol::AgreementMessage& m) override;
  bool poll(protocol::AgreementMessage& m) override;
  void start_reduce(const std::uint64_t in[3]) override;
  bool reduce_done(std::uint64_t out[3]) override;

  // Completes every send (at MPI_Finalize).
  void drain_sends();
  std::uint64_t messages_sent() const noexcept { return sent_; }

 private:
  static constexpr int kTag = 2;
  void reap_sends();

  MPI_Comm control_;
  MPI_Comm reduce_;
  std::deque<std::array<std::uint64_t, 3>> bufs_;
  std::deque<MPI_Request> sends_;
  std::uint64_t in_[3] = {};
  std::uint64_t out_[3] = {};
  MPI_Request reduction_ = MPI_REQUEST_NULL;
  std::uint64_t sent_ = 0;
};

}  // namespace mpisnap::mpi
