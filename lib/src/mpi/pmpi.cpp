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

#if defined(MPICH_VERSION)
namespace {
// Runs `call` (a PMPI call that completes a receive) with MPI_COMM_WORLD's handler returning, and
// gives its error to `app`'s handler.
template <class Call>
int with_errors_to(MPI_Comm app, Call&& call) {
  if (app == MPI_COMM_NULL) return call();
  MPI_Errhandler world = MPI_ERRHANDLER_NULL;
  PMPI_Comm_get_errhandler(MPI_COMM_WORLD, &world);
  PMPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int rc = call();
  PMPI_Comm_set_errhandler(MPI_COMM_WORLD, world);
  PMPI_Errhandler_free(&world);
  if (rc != MPI_SUCCESS) PMPI_Comm_call_errhandler(app, rc);
  return rc;
}
}  // namespace

int test_for(MPI_Comm app, MPI_Request* req, int* flag, MPI_Status* st) {
  return with_errors_to(app, [&] { return test_once(req, flag, st); });
}

int mrecv_for(MPI_Comm app, void* buf, int count, MPI_Datatype type, MPI_Message* msg, MPI_Status* st) {
  return with_errors_to(app, [&] { return PMPI_Mrecv(buf, count, type, msg, st); });
}
#endif

}  // namespace mpisnap::mpi
