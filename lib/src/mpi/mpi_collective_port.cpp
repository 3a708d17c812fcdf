#include "mpi/mpi_collective_port.hpp"

#include "mpi/pmpi.hpp"

namespace mpisnap::mpi {

void MpiCollectivePort::broadcast(std::vector<std::uint64_t>& words) {
  std::uint64_t n = words.size();
  check(PMPI_Bcast(&n, 1, MPI_UINT64_T, 0, comm_), "PMPI_Bcast");
  words.resize(n);
  if (n) check(PMPI_Bcast(words.data(), static_cast<int>(n), MPI_UINT64_T, 0, comm_), "PMPI_Bcast");
}

void MpiCollectivePort::broadcast(std::string& text) {
  std::uint64_t n = text.size();
  check(PMPI_Bcast(&n, 1, MPI_UINT64_T, 0, comm_), "PMPI_Bcast");
  text.resize(n);
  if (n) check(PMPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, 0, comm_), "PMPI_Bcast");
}

bool MpiCollectivePort::all(bool ok) {
  int mine = ok ? 1 : 0, every = 0;
  check(PMPI_Allreduce(&mine, &every, 1, MPI_INT, MPI_MIN, comm_), "PMPI_Allreduce");
  return every != 0;
}

}  // namespace mpisnap::mpi
