#include "mpi/pmpi.hpp"

namespace mpisnap::mpi {

void fail(int code, const char* call) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (PMPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  throw Error("mpisnap: rank " + std::to_string(world_rank()) + ": " + call + " failed: " +
              std::string(text, static_cast<std::size_t>(len)));
}

MPI_Datatype retain_type(MPI_Datatype t, bool* owned) {
  *owned = false;
  int nints = 0, naddrs = 0, ntypes = 0, combiner = MPI_COMBINER_NAMED;
  check(PMPI_Type_get_envelope(t, &nints, &naddrs, &ntypes, &combiner), "PMPI_Type_get_envelope");
  if (combiner == MPI_COMBINER_NAMED) return t;
  MPI_Datatype copy;
  check(PMPI_Type_dup(t, &copy), "PMPI_Type_dup");
  *owned = true;
  return copy;
}

bool consumed_despite_error(int rc) noexcept {
  int cls = MPI_SUCCESS;
  return PMPI_Error_class(rc, &cls) == MPI_SUCCESS && cls == MPI_ERR_TRUNCATE;
}

int world_rank() noexcept {
  int init = 0, fin = 0;
  PMPI_Initialized(&init);
  PMPI_Finalized(&fin);
  if (!init || fin) return -1;
  int r = -1;
  PMPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

}  // namespace mpisnap::mpi
