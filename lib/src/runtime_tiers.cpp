// Tiers: the MPI side of two storage tiers (tiers.hpp).
#include "tiers.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <mpisnap/error.hpp>

#include "common/diagnostics.hpp"
#include "mpi/pmpi.hpp"
#include "storage/directory.hpp"

namespace mpisnap {
namespace {

constexpr int kHeaderTag = 1, kDataTag = 2, kDecisionTag = 3;
// A copy goes in pieces of 512 KiB, two in flight: the application's own messages to that node
// share the connection (over TCP, one socket per pair of processes) and wait behind at most
// this much (sent all at once, a 32 MiB copy held every halo exchange behind it for the whole
// transfer: 340 ms per checkpoint of heat2d on the simulated cluster, against ~85 ms paced).
constexpr std::uint64_t kChunk = std::uint64_t{512} << 10;
constexpr std::size_t kWindow = 2;

bool test(MPI_Request& r) {
  if (r == MPI_REQUEST_NULL) return true;
  int done = 0;
  mpi::check(PMPI_Test(&r, &done, MPI_STATUS_IGNORE), "PMPI_Test(partner copy)");
  return done != 0;
}

bool test_all(std::vector<MPI_Request>& reqs) {
  if (reqs.empty()) return true;
  int done = 0;
  mpi::check(PMPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE),
             "PMPI_Testall(partner copy)");
  if (done) reqs.clear();
  return done != 0;
}

}  // namespace

Tiers::Tiers(int rank, bool partner) : rank_(rank), partner_(partner) {
  mpi::check(PMPI_Comm_dup(MPI_COMM_WORLD, &comm_), "PMPI_Comm_dup(tiers)");
  MPI_Comm node = MPI_COMM_NULL;
  mpi::check(PMPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node),
             "PMPI_Comm_split_type(MPI_COMM_TYPE_SHARED)");
  int node_rank = 0;
  PMPI_Comm_rank(node, &node_rank);
  int leader = node_rank == 0 ? rank : -1;
  mpi::check(PMPI_Bcast(&leader, 1, MPI_INT, 0, node), "PMPI_Bcast(node leader)");
  PMPI_Comm_free(&node);
  int size = 1;
  PMPI_Comm_size(comm_, &size);
  std::vector<int> leader_of(static_cast<std::size_t>(size));
  mpi::check(PMPI_Allgather(&leader, 1, MPI_INT, leader_of.data(), 1, MPI_INT, comm_), "PMPI_Allgather(node leaders)");
  nodes_ = NodeMap(leader_of);
  if (partner_) {
    holder_ = nodes_.holder(rank_);
    held_ = nodes_.held_by(rank_);
    for (std::size_t i = 0; i < held_.size(); ++i) received_.push_back(std::make_shared<std::vector<char>>());
  }
}

Tiers::~Tiers() {
  release_send();
  if (comm_ != MPI_COMM_NULL) PMPI_Comm_free(&comm_);
}

void Tiers::release_send() noexcept {
  if (map_) ::munmap(map_, map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
}

void Tiers::start_exchange(checkpoint::Pipeline& pipeline) {
  checkpoint::Snapshot& s = *pipeline.current();
  exchange_id_ = s.checkpoint_id;
  exchange_done_ = false;
  incoming_.clear();
  s.partner_error.clear();
  if (holder_ >= 0) {
    // This rank's file as it is on the local tier (mapped: on a RAM disk, no copy is made).
    const bool failed = static_cast<bool>(s.write->error);
    std::uint64_t bytes = 0;
    if (!failed) {
      const std::string path = pipeline.store().location(s.checkpoint_id) + "/" + storage::rank_file_name(rank_);
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st{};
      if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size > 0) {
        map_bytes_ = static_cast<std::size_t>(st.st_size);
        // (populated at once: cheaper than a fault per page as MPI reads it)
        map_ = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (map_ == MAP_FAILED) map_ = nullptr;
      }
      if (fd >= 0) ::close(fd);
      if (!map_) s.partner_error = "cannot map " + path + " to send it to its partner rank " + std::to_string(holder_);
      else bytes = map_bytes_;
    }
    send_header_[0] = exchange_id_;
    send_header_[1] = map_ ? bytes : 0;
    send_header_[2] = map_ ? 0 : 1;
    mpi::check(PMPI_Isend(send_header_, 3, MPI_UINT64_T, holder_, kHeaderTag, comm_, &header_req_), "PMPI_Isend(partner)");
    send_bytes_ = map_ ? bytes : 0;
    send_off_ = 0;
    send_more();
  }
  incoming_.resize(held_.size());
  for (std::size_t i = 0; i < held_.size(); ++i) {
    Incoming& in = incoming_[i];
    in.from = held_[i];
    mpi::check(PMPI_Irecv(in.header, 3, MPI_UINT64_T, in.from, kHeaderTag, comm_, &in.header_req), "PMPI_Irecv(partner)");
  }
}

bool Tiers::send_more() {
  if (!send_reqs_.empty()) {
    int index = MPI_UNDEFINED, flag = 0;
    do {
      mpi::check(PMPI_Testany(static_cast<int>(send_reqs_.size()), send_reqs_.data(), &index, &flag, MPI_STATUS_IGNORE),
                 "PMPI_Testany(partner copy)");
      if (flag && index != MPI_UNDEFINED) send_reqs_.erase(send_reqs_.begin() + index);
    } while (flag && index != MPI_UNDEFINED && !send_reqs_.empty());
  }
  while (send_off_ < send_bytes_ && send_reqs_.size() < kWindow) {
    const std::uint64_t n = std::min(kChunk, send_bytes_ - send_off_);
    send_reqs_.emplace_back();
    mpi::check(PMPI_Isend(static_cast<char*>(map_) + send_off_, static_cast<int>(n), MPI_BYTE, holder_, kDataTag, comm_,
                          &send_reqs_.back()),
               "PMPI_Isend(partner)");
    send_off_ += n;
  }
  return test(header_req_) && send_reqs_.empty() && send_off_ == send_bytes_;
}

bool Tiers::partners_done(checkpoint::Pipeline& pipeline) {
  if (holder_ < 0 && held_.empty()) return true;
  checkpoint::Snapshot& s = *pipeline.current();
  if (exchange_id_ != s.checkpoint_id) start_exchange(pipeline);
  if (exchange_done_) return true;
  bool done = send_more();
  for (std::size_t i = 0; i < incoming_.size(); ++i) {
    Incoming& in = incoming_[i];
    std::vector<char>& data = *received_[i];
    if (in.done) continue;
    if (!test(in.header_req)) {
      done = false;
      continue;
    }
    if (in.header[0] != exchange_id_)
      throw diag::error("internal: rank " + std::to_string(in.from) + " sent its copy of checkpoint " +
                        std::to_string(in.header[0]) + " during checkpoint " + std::to_string(exchange_id_));
    if (in.header[2]) {  // its own write failed: the checkpoint will not commit (it says why)
      in.done = true;
      continue;
    }
    if (!in.data_posted) {
      data.resize(in.header[1]);
      for (std::uint64_t off = 0; off < in.header[1]; off += kChunk) {
        in.data_reqs.emplace_back();
        mpi::check(PMPI_Irecv(data.data() + off, static_cast<int>(std::min(kChunk, in.header[1] - off)), MPI_BYTE,
                              in.from, kDataTag, comm_, &in.data_reqs.back()),
                   "PMPI_Irecv(partner)");
      }
      in.data_posted = true;
    }
    if (!in.write) {
      if (!test_all(in.data_reqs)) {
        done = false;
        continue;
      }
      in.write = pipeline.write_copy(in.from, received_[i]);
    }
    if (!in.write->finished.load(std::memory_order_acquire)) {
      done = false;
      continue;
    }
    if (in.write->error && s.partner_error.empty())
      s.partner_error = "the partner copy of rank " + std::to_string(in.from) + "'s file could not be written: " +
                        in.write->error_text();
    in.done = true;
  }
  if (!done) return false;
  release_send();
  incoming_.clear();
  exchange_done_ = true;
  return true;
}

void Tiers::closed(checkpoint::Pipeline& pipeline) {
  if (rank_ == 0) {
    auto words = std::make_shared<std::vector<std::uint64_t>>(pipeline.take_decision());
    if (words->empty()) return;
    for (int l : nodes_.leaders()) {
      if (l == 0) continue;
      MPI_Request r;
      mpi::check(PMPI_Isend(words->data(), static_cast<int>(words->size()), MPI_UINT64_T, l, kDecisionTag, comm_, &r),
                 "PMPI_Isend(decision)");
      decision_sends_.emplace_back(words, r);
    }
  } else if (nodes_.is_leader(rank_)) {
    ++expected_;
  }
}

void Tiers::poll(checkpoint::Pipeline& pipeline) {
  while (!decision_sends_.empty() && test(decision_sends_.front().second)) decision_sends_.pop_front();
  while (expected_ > 0) {
    int flag = 0;
    MPI_Status st;
    mpi::check(PMPI_Iprobe(0, kDecisionTag, comm_, &flag, &st), "PMPI_Iprobe(decision)");
    if (!flag) return;
    int n = 0;
    PMPI_Get_count(&st, MPI_UINT64_T, &n);
    std::vector<std::uint64_t> words(static_cast<std::size_t>(n));
    mpi::check(PMPI_Recv(words.data(), n, MPI_UINT64_T, 0, kDecisionTag, comm_, MPI_STATUS_IGNORE), "PMPI_Recv(decision)");
    --expected_;
    pipeline.commit_local(words);
  }
}

void Tiers::finish_flush(checkpoint::Pipeline& pipeline) {
  std::uint64_t id = rank_ == 0 ? pipeline.unflushed_newest() : 0;
  mpi::check(PMPI_Bcast(&id, 1, MPI_UINT64_T, 0, comm_), "PMPI_Bcast(flush)");
  pipeline.flush_now(id);
  pipeline.finish_flush();
}

}  // namespace mpisnap
