// Misuses the API on purpose, one way per mode; the reliability test expects a clear error and a
// non-zero exit from each, never a hang.
//   twice           a second Session while the first is alive
//   pending         checkpoint_point() (MPISNAP_EVERY=1) with an MPI_Irecv still pending
//   pending_quiet   the same with no checkpoint due (every-N off, triggers armed): refused at the first
//                   safe point all the same, since a signal could make it a checkpoint
//   forget_restore  three safe points, checkpoints every one, without ever calling restore()
//   early_send      rank 0 sends to rank 1 before the Session, rank 1 receives after it
//   early_send_off  the same with every checkpoint off (every-N 0, triggers off): nothing polls
//   before_init     a Session before MPI_Init
//   after_finalize  a Session method after MPI_Finalize
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <exception>

#include <mpisnap/mpisnap.hpp>

namespace {

struct Nothing {
  int x = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(x);
  }
};

int run(const char* mode) {
  if (!std::strcmp(mode, "before_init")) {
    mpisnap::Session early{MPI_COMM_WORLD};
    return 0;
  }
  MPI_Init(nullptr, nullptr);
  mpisnap::Config config = mpisnap::Config::defaults();
  config.every = std::strcmp(mode, "pending_quiet") ? 1 : 0;
  const bool early = !std::strcmp(mode, "early_send") || !std::strcmp(mode, "early_send_off");
  if (!std::strcmp(mode, "early_send_off")) {
    config.every = 0;
    config.triggers = false;
  }
  int rank = 0, token = 42;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (early && rank == 0) MPI_Send(&token, 1, MPI_INT, 1, 5, MPI_COMM_WORLD);
  auto* snap = new mpisnap::Session{MPI_COMM_WORLD, config};
  if (early && rank == 1) MPI_Recv(&token, 1, MPI_INT, 0, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  Nothing state;
  if (!std::strcmp(mode, "twice")) {
    mpisnap::Session second{MPI_COMM_WORLD, config};
  } else if (!std::strcmp(mode, "pending") || !std::strcmp(mode, "pending_quiet")) {
    int buf = 0;
    MPI_Request r;
    MPI_Irecv(&buf, 1, MPI_INT, MPI_ANY_SOURCE, 99, MPI_COMM_WORLD, &r);
    snap->checkpoint_point(state);
  } else if (early) {
  } else if (!std::strcmp(mode, "forget_restore")) {
    for (int i = 0; i < 3; ++i) snap->checkpoint_point(state);
  } else if (!std::strcmp(mode, "after_finalize")) {
    MPI_Finalize();
    snap->checkpoint_point(state);
    return 0;
  } else {
    std::fprintf(stderr, "misuse_app: unknown mode %s\n", mode);
    return 2;
  }
  delete snap;
  MPI_Finalize();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc > 1 ? argv[1] : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}
