#include "mpi/mpi_collective_port.hpp"

#include "mpi/pmpi.hpp"

#include <algorithm>

namespace mpisnap::mpi {

void MpiCollectivePort::broadcast(std::vector<std::uint64_t>& words) { broadcast_from(0, words); }

void MpiCollectivePort::broadcast(std::string& text) { broadcast_from(0, text); }

void MpiCollectivePort::broadcast_from(int root, std::vector<std::uint64_t>& words) {
  std::uint64_t n = words.size();
  check(PMPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "PMPI_Bcast");
  words.resize(n);
  if (n) check(PMPI_Bcast(words.data(), static_cast<int>(n), MPI_UINT64_T, root, comm_), "PMPI_Bcast");
}

void MpiCollectivePort::broadcast_from(int root, std::string& text) {
  std::uint64_t n = text.size();
  check(PMPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "PMPI_Bcast");
  text.resize(n);
  if (n) check(PMPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, root, comm_), "PMPI_Bcast");
}

std::vector<std::vector<std::uint64_t>> MpiCollectivePort::gather(const std::vector<std::uint64_t>& words) {
  int rank = 0, size = 1;
  PMPI_Comm_rank(comm_, &rank);
  PMPI_Comm_size(comm_, &size);
  int n = static_cast<int>(words.size());
  std::vector<int> counts(rank == 0 ? static_cast<std::size_t>(size) : 0), displs(counts.size());
  check(PMPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm_), "PMPI_Gather");
  std::vector<std::uint64_t> all;
  int total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    displs[r] = total;
    total += counts[r];
  }
  all.resize(static_cast<std::size_t>(total));
  check(PMPI_Gatherv(words.data(), n, MPI_UINT64_T, all.data(), counts.data(), displs.data(), MPI_UINT64_T, 0, comm_),
        "PMPI_Gatherv");
  std::vector<std::vector<std::uint64_t>> out(counts.size());
  for (std::size_t r = 0; r < counts.size(); ++r)
    out[r].assign(all.begin() + displs[r], all.begin() + displs[r] + counts[r]);
  return out;
}

std::vector<std::vector<char>> MpiCollectivePort::exchange(const std::vector<std::pair<int, std::vector<char>>>& sends,
                                                           const std::vector<int>& from) {
  constexpr std::uint64_t kChunk = std::uint64_t{1} << 30;
  constexpr int kSize = 41, kData = 42;
  std::vector<MPI_Request> reqs;
  std::vector<std::uint64_t> sizes(sends.size());
  reqs.reserve(sends.size() * 2);
  for (std::size_t i = 0; i < sends.size(); ++i) {
    const auto& [to, bytes] = sends[i];
    sizes[i] = bytes.size();
    reqs.emplace_back();
    check(PMPI_Isend(&sizes[i], 1, MPI_UINT64_T, to, kSize, comm_, &reqs.back()), "PMPI_Isend");
    for (std::uint64_t off = 0; off < bytes.size(); off += kChunk) {
      reqs.emplace_back();
      const int n = static_cast<int>(std::min<std::uint64_t>(kChunk, bytes.size() - off));
      check(PMPI_Isend(bytes.data() + off, n, MPI_BYTE, to, kData, comm_, &reqs.back()), "PMPI_Isend");
    }
  }
  std::vector<std::vector<char>> out(from.size());
  for (std::size_t i = 0; i < from.size(); ++i) {
    std::uint64_t n = 0;
    check(PMPI_Recv(&n, 1, MPI_UINT64_T, from[i], kSize, comm_, MPI_STATUS_IGNORE), "PMPI_Recv");
    out[i].resize(n);
    for (std::uint64_t off = 0; off < n; off += kChunk) {
      const int c = static_cast<int>(std::min<std::uint64_t>(kChunk, n - off));
      check(PMPI_Recv(out[i].data() + off, c, MPI_BYTE, from[i], kData, comm_, MPI_STATUS_IGNORE), "PMPI_Recv");
    }
  }
  if (!reqs.empty()) check(PMPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE), "PMPI_Waitall");
  return out;
}

bool MpiCollectivePort::all(bool ok) {
  int mine = ok ? 1 : 0, every = 0;
  check(PMPI_Allreduce(&mine, &every, 1, MPI_INT, MPI_MIN, comm_), "PMPI_Allreduce");
  return every != 0;
}

}  // namespace mpisnap::mpi
