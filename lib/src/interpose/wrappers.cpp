// The PMPI wrappers. Generated ones come from calls.def; the few that need more are below.
// Each wrapper is a pass-through until a Session exists; at the C boundary an exception becomes a
// message on stderr and MPI_Abort (see Runtime::fatal).
#include <mpi.h>

#include <exception>

#include "runtime.hpp"

using mpisnap::Runtime;

namespace {

template <class F>
int guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    Runtime::fatal(e.what());
  } catch (...) {
    Runtime::fatal("mpisnap: unknown exception");
  }
}

}  // namespace

extern "C" {

#define MPISNAP_CALL(name, params, args)                 \
  int MPI_##name params {                                \
    Runtime* rt = Runtime::get();                        \
    if (!rt) return PMPI_##name args;                    \
    return guarded([&] { return rt->name args; });       \
  }
#include "interpose/calls.def"
#undef MPISNAP_CALL

int MPI_Init(int* argc, char*** argv) {
  const int rc = PMPI_Init(argc, argv);
  if (rc == MPI_SUCCESS) Runtime::note_init(MPI_THREAD_SINGLE);
  return rc;
}

int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  const int rc = PMPI_Init_thread(argc, argv, required, provided);
  if (rc == MPI_SUCCESS) Runtime::note_init(*provided);
  return rc;
}

int MPI_Finalize(void) {
  Runtime* rt = Runtime::get();
  if (!rt) return PMPI_Finalize();
  return guarded([&] { return rt->Finalize(); });
}

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm* newcomm) {
  Runtime* rt = Runtime::get();
  if (rt) return guarded([&] { return rt->Comm_dup(comm, newcomm); });
  const int rc = PMPI_Comm_dup(comm, newcomm);
  if (rc == MPI_SUCCESS) guarded([&] { Runtime::note_comm_created_before_session(*newcomm); return 0; });
  return rc;
}

int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm* newcomm) {
  Runtime* rt = Runtime::get();
  if (rt) return guarded([&] { return rt->Comm_split(comm, color, key, newcomm); });
  const int rc = PMPI_Comm_split(comm, color, key, newcomm);
  if (rc == MPI_SUCCESS) guarded([&] { Runtime::note_comm_created_before_session(*newcomm); return 0; });
  return rc;
}

int MPI_Comm_free(MPI_Comm* comm) {
  Runtime* rt = Runtime::get();
  if (rt) return guarded([&] { return rt->Comm_free(comm); });
  if (comm) Runtime::note_comm_freed_before_session(*comm);
  return PMPI_Comm_free(comm);
}

}  // extern "C"
