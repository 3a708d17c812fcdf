// protocol::CollectivePort over a private communicator (blocking PMPI collectives: recovery runs
// inside the collective Session constructor, before any application traffic).
#pragma once

#include <mpi.h>

#include "protocol/collective_port.hpp"

namespace mpisnap::mpi {

class MpiCollectivePort final : public protocol::CollectivePort {
 public:
  explicit MpiCollectivePort(MPI_Comm comm) : comm_(comm) {}
  void broadcast(std::vector<std::uint64_t>& words) override;
  void broadcast(std::string& text) override;
  bool all(bool ok) override;
  std::vector<std::vector<std::uint64_t>> gather(const std::vector<std::uint64_t>& words) override;
  void broadcast_from(int root, std::vector<std::uint64_t>& words) override;
  void broadcast_from(int root, std::string& text) override;
  std::vector<std::vector<char>> exchange(const std::vector<std::pair<int, std::vector<char>>>& sends,
                                          const std::vector<int>& from) override;

 private:
  MPI_Comm comm_;
};

}  // namespace mpisnap::mpi
