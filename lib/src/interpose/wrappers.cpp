// The PMPI wrappers, generated from calls.def; the few that need more are written below.
// Each wrapper is a pass-through until a Session exists; at the C boundary an exception becomes a
// message on stderr and MPI_Abort (see Runtime::fatal).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "interpose/fast_path.hpp"
#include "interpose/guarded.hpp"
#include "runtime.hpp"

using mpisnap::guarded;
using mpisnap::Runtime;

namespace {

void after_init() {
  guarded([] {
    if (mpisnap::TestHooks::from_environment().preload_session) Runtime::start_preloaded();
    return 0;
  });
}

}  // namespace

// The MPI_* symbols are the library's interface to programs (everything else is hidden).
#pragma GCC visibility push(default)
extern "C" {

#define MPISNAP_CALL(name, params, args)           \
  int MPI_##name params {                          \
    Runtime* rt = Runtime::get();                  \
    if (!rt) return PMPI_##name args;              \
    return guarded([&] { return rt->name args; }); \
  }
#define MPISNAP_EXPAND(...) __VA_ARGS__
#define MPISNAP_FAST_CALL(name, params, args) \
  int MPI_##name params { return mpisnap::fast::name args; }
#define MPISNAP_COMM_CONSTRUCTOR(name, params, args, out)                                                \
  int MPI_##name params {                                                                                \
    Runtime* rt = Runtime::get();                                                                        \
    if (rt) return guarded([&] { return rt->name args; });                                               \
    const int rc = PMPI_##name args;                                                                     \
    if (rc == MPI_SUCCESS) guarded([&] { Runtime::note_comm_created_before_session(*(out)); return 0; }); \
    return rc;                                                                                           \
  }
#define MPISNAP_COLLECTIVE(name, params, args, comm)                                  \
  int MPI_##name params {                                                             \
    if (Runtime* rt = Runtime::get())                                                 \
      guarded([&] {                                                                   \
        rt->count_collective(comm);                                                   \
        return MPI_SUCCESS;                                                           \
      });                                                                             \
    return PMPI_##name args;                                                          \
  }
#define MPISNAP_BLOCKING_COLLECTIVE(name, iname, params, args, comm)                                  \
  int MPI_##name params {                                                                             \
    Runtime* rt = Runtime::get();                                                                     \
    if (!rt) return PMPI_##name args;                                                                 \
    return guarded([&] {                                                                              \
      return rt->blocking_collective(                                                                 \
          comm, "MPI_" #name, [&] { return PMPI_##name args; },                                       \
          [&](MPI_Request* req) { return PMPI_##iname(MPISNAP_EXPAND args, req); });                  \
    });                                                                                               \
  }
#include "interpose/calls.def"

namespace {
// This library was compiled against one MPI family's mpi.h: its handles, constants and structs are
// that family's. Linked or preloaded into a program of the other family (the wrong package
// installed, LD_PRELOAD of the wrong build), every call would pass one MPI's handles to the other:
// refuse before MPI starts, naming both. (MPI_Get_library_version may be called before MPI_Init.)
void refuse_another_mpi() {
#if defined(OPEN_MPI)
  const char* built_for = "Open MPI";
  const char* marks[] = {"Open MPI"};
#elif defined(MPICH_VERSION)
  const char* built_for = "MPICH";
  const char* marks[] = {"MPICH", "Intel(R) MPI", "MVAPICH", "CRAY MPICH"};  // (the MPICH family's own names)
#else
  const char* built_for = nullptr;
  const char* marks[] = {""};
#endif
  if (!built_for) return;
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  if (PMPI_Get_library_version(version, &len) != MPI_SUCCESS) return;
  for (const char* m : marks)
    if (std::strstr(version, m)) return;
  std::string first_line(version, std::min<std::size_t>(std::strcspn(version, "\n"), sizeof version));
  std::fprintf(stderr,
               "mpisnap: this libmpisnap was built for %s, but the program runs on another MPI (\"%s\"): use an "
               "mpisnap built for that MPI (configured with its compiler wrapper: -DMPI_C_COMPILER=mpicc.mpich or "
               "mpicc.openmpi)\n",
               built_for, first_line.c_str());
  std::fflush(stderr);
  std::_Exit(70);
}
}  // namespace

int MPI_Init(int* argc, char*** argv) {
  refuse_another_mpi();
  const int rc = PMPI_Init(argc, argv);
  if (rc == MPI_SUCCESS) {
    Runtime::note_init(MPI_THREAD_SINGLE);
    after_init();
  }
  return rc;
}

int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  refuse_another_mpi();
  const int rc = PMPI_Init_thread(argc, argv, required, provided);
  if (rc == MPI_SUCCESS) {
    // What the program may do is what it asked for: an MPI may provide more (MPICH with
    // MPIR_CVAR_ASYNC_PROGRESS=1 provides MPI_THREAD_MULTIPLE to a program that asked for SINGLE,
    // for its own progress thread). The levels are ordered (MPI 4.0, 11.6.1).
    Runtime::note_init(std::min(required, *provided));
    after_init();
  }
  return rc;
}

int MPI_Finalize(void) {
  if (!Runtime::get()) return PMPI_Finalize();
  return guarded([] { return Runtime::finalize(); });
}

int MPI_Comm_idup(MPI_Comm comm, MPI_Comm* newcomm, MPI_Request* request) {
  Runtime* rt = Runtime::get();
  if (rt) return guarded([&] { return rt->Comm_idup(comm, newcomm, request); });
  // Before a Session the communicator is remembered once it exists (Open MPI fills the handle at
  // completion; a Session created later registers whatever is valid by then).
  return PMPI_Comm_idup(comm, newcomm, request);
}

}  // extern "C"
#pragma GCC visibility pop
