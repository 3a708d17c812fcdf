#include "mpi/mpi_agreement_port.hpp"

#include "mpi/pmpi.hpp"

namespace mpisnap::mpi {

MpiAgreementPort::~MpiAgreementPort() = default;

void MpiAgreementPort::reap_sends() {
  while (!sends_.empty()) {
    int flag = 0;
    check(PMPI_Test(&sends_.front(), &flag, MPI_STATUS_IGNORE), "PMPI_Test(agreement)");
    if (!flag) break;
    sends_.pop_front();
    bufs_.pop_front();
  }
}

void MpiAgreementPort::send(int to, const protocol::AgreementMessage& m) {
  reap_sends();
  bufs_.push_back({static_cast<std::uint64_t>(m.type), m.round, m.kind_or_ok});
  MPI_Request req;
  check(PMPI_Isend(bufs_.back().data(), 3, MPI_UINT64_T, to, kTag, control_, &req), "PMPI_Isend(agreement)");
  sends_.push_back(req);
  ++sent_;
}

bool MpiAgreementPort::poll(protocol::AgreementMessage& m) {
  reap_sends();
  int flag = 0;
  MPI_Message msg;
  MPI_Status st;
  check(PMPI_Improbe(MPI_ANY_SOURCE, kTag, control_, &flag, &msg, &st), "PMPI_Improbe(agreement)");
  if (!flag) return false;
  std::uint64_t w[3];
  check(PMPI_Mrecv(w, 3, MPI_UINT64_T, &msg, MPI_STATUS_IGNORE), "PMPI_Mrecv(agreement)");
  m.type = static_cast<protocol::AgreementMessage::Type>(w[0]);
  m.round = w[1];
  m.kind_or_ok = w[2];
  m.from = st.MPI_SOURCE;
  return true;
}

void MpiAgreementPort::start_reduce(const std::uint64_t in[3]) {
  for (int i = 0; i < 3; ++i) in_[i] = in[i];
  check(PMPI_Iallreduce(in_, out_, 3, MPI_UINT64_T, MPI_MAX, reduce_, &reduction_), "PMPI_Iallreduce(agreement)");
}

bool MpiAgreementPort::reduce_done(std::uint64_t out[3]) {
  int flag = 0;
  check(PMPI_Test(&reduction_, &flag, MPI_STATUS_IGNORE), "PMPI_Test(agreement)");
  if (!flag) return false;
  for (int i = 0; i < 3; ++i) out[i] = out_[i];
  return true;
}

void MpiAgreementPort::drain_sends() {
  while (!sends_.empty()) {
    check(PMPI_Wait(&sends_.front(), MPI_STATUS_IGNORE), "PMPI_Wait(agreement)");
    sends_.pop_front();
    bufs_.pop_front();
  }
}

}  // namespace mpisnap::mpi
