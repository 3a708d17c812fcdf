// The MPI side of two storage tiers (the storage side is storage::TieredStore, the pipeline's):
//  * which ranks share a node (MPI_Comm_split_type SHARED) and who keeps whose partner copy (NodeMap);
//  * the partner copies of a snapshot: once this rank's local file is written, it goes to its
//    holder on another node, and the copies this rank keeps come in and are written by its
//    writer; the rank joins the snapshot's done gather only after both (so a committed checkpoint
//    has every file on two nodes);
//  * rank 0's decision about each snapshot, sent to the other nodes' leaders, who commit it on
//    their local tier;
//  * at the end (MPI_Finalize, the stop signal): the newest checkpoint flushed to the global tier.
// Every message goes over its own communicator; nothing here blocks the application except finish().
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "checkpoint/pipeline.hpp"
#include "common/node_map.hpp"

namespace mpisnap {

class Tiers {
 public:
  // Collective over MPI_COMM_WORLD. `partner`: Config::partner.
  Tiers(int rank, bool partner);
  ~Tiers();
  Tiers(const Tiers&) = delete;
  Tiers& operator=(const Tiers&) = delete;

  const NodeMap& nodes() const noexcept { return nodes_; }
  // Called while the open snapshot's own file is written: moves the partner exchange; true once
  // it is complete (every copy sent and every copy this rank keeps written or failed).
  bool partners_done(checkpoint::Pipeline& pipeline);
  // The engine completed a snapshot and the pipeline closed it.
  void closed(checkpoint::Pipeline& pipeline);
  bool busy() const noexcept { return expected_ > 0 || !decision_sends_.empty(); }
  void poll(checkpoint::Pipeline& pipeline);
  // Collective, at the end: every decision received, then the newest committed checkpoint flushed
  // and (rank 0) committed on the global tier. Throws on rank 0 when it could not be.
  template <class Progress>
  void finish(checkpoint::Pipeline& pipeline, Progress progress) {
    while (busy()) progress();
    pipeline.drain();
    finish_flush(pipeline);
  }

 private:
  struct Incoming {
    int from = 0;
    std::uint64_t header[3] = {0, 0, 0};  // checkpoint id, bytes, failed
    MPI_Request header_req = MPI_REQUEST_NULL;
    std::vector<MPI_Request> data_reqs;
    bool data_posted = false;
    storage::BackgroundWriter::Ticket write;
    bool done = false;
  };
  void start_exchange(checkpoint::Pipeline& pipeline);
  void release_send() noexcept;
  bool send_more();  // posts pieces of this rank's copy as earlier ones complete; true once all are sent
  void finish_flush(checkpoint::Pipeline& pipeline);

  int rank_;
  bool partner_;
  MPI_Comm comm_ = MPI_COMM_NULL;  // partner copies and decisions
  NodeMap nodes_;
  int holder_ = -1;
  std::vector<int> held_;
  // the exchange of the open snapshot
  std::uint64_t exchange_id_ = 0;  // 0: none started
  bool exchange_done_ = false;
  std::uint64_t send_header_[3] = {0, 0, 0};
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  std::uint64_t send_bytes_ = 0, send_off_ = 0;  // this rank's copy: its size, how much of it is posted
  MPI_Request header_req_ = MPI_REQUEST_NULL;
  std::vector<MPI_Request> send_reqs_;  // the pieces in flight (at most kWindow)
  std::vector<Incoming> incoming_;
  // The copies this rank keeps arrive here, one buffer per rank held, kept from one checkpoint to
  // the next (fresh memory would be mapped and zeroed again each time); the writer reads it until
  // its ticket finishes, and the exchange waits for that.
  std::vector<std::shared_ptr<std::vector<char>>> received_;
  // decisions
  std::uint64_t expected_ = 0;  // leaders but rank 0: decisions not yet received
  std::deque<std::pair<std::shared_ptr<std::vector<std::uint64_t>>, MPI_Request>> decision_sends_;
};

}  // namespace mpisnap
