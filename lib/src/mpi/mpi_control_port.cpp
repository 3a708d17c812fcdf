#include "mpi/mpi_control_port.hpp"

#include "mpi/pmpi.hpp"

namespace mpisnap::mpi {

void MpiControlPort::send_marker(protocol::WorldRank to, const protocol::Marker& m) {
  marker_bufs_.push_back(protocol::encode(m));
  auto& buf = marker_bufs_.back();
  MPI_Request req;
  check(PMPI_Issend(buf.data(), static_cast<int>(buf.size()), MPI_UINT64_T, protocol::value(to), kMarkerTag,
                    comm_, &req),
        "PMPI_Issend(marker)");
  marker_reqs_.push_back(req);
  ++markers_sent_;
}

bool MpiControlPort::markers_delivered() {
  if (marker_reqs_.empty()) return true;
  int flag = 0;
  check(PMPI_Testall(static_cast<int>(marker_reqs_.size()), marker_reqs_.data(), &flag, MPI_STATUSES_IGNORE),
        "PMPI_Testall(markers)");
  if (!flag) return false;
  marker_reqs_.clear();
  marker_bufs_.clear();
  return true;
}

bool MpiControlPort::poll_marker(protocol::WorldRank& from, protocol::Marker& m) {
  int flag = 0;
  MPI_Message msg;
  MPI_Status st;
  check(PMPI_Improbe(MPI_ANY_SOURCE, kMarkerTag, comm_, &flag, &msg, &st), "PMPI_Improbe(marker)");
  if (!flag) return false;
  int n = 0;
  check(PMPI_Get_count(&st, MPI_UINT64_T, &n), "PMPI_Get_count(marker)");
  std::vector<std::uint64_t> words(static_cast<std::size_t>(n));
  check(PMPI_Mrecv(words.data(), n, MPI_UINT64_T, &msg, MPI_STATUS_IGNORE), "PMPI_Mrecv(marker)");
  from = protocol::WorldRank{st.MPI_SOURCE};
  m = protocol::decode_marker(words.data(), words.size());
  return true;
}

void MpiControlPort::start_marker_barrier() { check(PMPI_Ibarrier(comm_, &barrier_), "PMPI_Ibarrier(markers)"); }

bool MpiControlPort::marker_barrier_done() {
  if (barrier_ == MPI_REQUEST_NULL) return true;
  int flag = 0;
  check(PMPI_Test(&barrier_, &flag, MPI_STATUS_IGNORE), "PMPI_Test(marker barrier)");
  return flag != 0;
}

void MpiControlPort::start_done(const protocol::DoneRecord& r) {
  r.to_words(mine_);
  int size = 0;
  PMPI_Comm_size(comm_, &size);
  all_.assign(rank_ == 0 ? static_cast<std::size_t>(size) * protocol::DoneRecord::kWords : 0, 0);
  check(PMPI_Igather(mine_, protocol::DoneRecord::kWords, MPI_UINT64_T, rank_ == 0 ? all_.data() : nullptr,
                     protocol::DoneRecord::kWords, MPI_UINT64_T, 0, comm_, &gather_),
        "PMPI_Igather(done)");
  check(PMPI_Ibarrier(comm_, &done_barrier_), "PMPI_Ibarrier(done)");
}

bool MpiControlPort::done_complete(std::vector<protocol::DoneRecord>& at_root) {
  int flag = 0;
  if (gather_ != MPI_REQUEST_NULL) {
    check(PMPI_Test(&gather_, &flag, MPI_STATUS_IGNORE), "PMPI_Test(done gather)");
    if (!flag) return false;
  }
  if (done_barrier_ != MPI_REQUEST_NULL) {
    check(PMPI_Test(&done_barrier_, &flag, MPI_STATUS_IGNORE), "PMPI_Test(done barrier)");
    if (!flag) return false;
  }
  at_root.clear();
  for (std::size_t i = 0; i + protocol::DoneRecord::kWords <= all_.size(); i += protocol::DoneRecord::kWords)
    at_root.push_back(protocol::DoneRecord::from_words(&all_[i]));
  return true;
}

}  // namespace mpisnap::mpi
