// MPI-4 point-to-point calls under a Session (built where the MPI has them: MPICH 4). Mode `counts`:
// a ring whose message crosses every safe point, sent with MPI_Send_c / MPI_Isend_c and received
// with MPI_Recv, or sent with MPI_Send and received with MPI_Recv_c / MPI_Irecv_c, checkpoints every
// 2 safe points: had a large-count form bypassed the library, the two sides would use different
// handles and the job would hang (the deadlock check ends it); it prints "mpi4 counts: ok". Mode `isendrecv`: MPI_Isendrecv is refused with status 70 and its name.
#include <mpi.h>

#include <cstdio>
#include <cstring>

#include <mpisnap/mpisnap.hpp>

struct Step {
  long long i = 0, sum = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(CEREAL_NVP(i), CEREAL_NVP(sum));
  }
};

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const char* mode = argc > 1 ? argv[1] : "counts";
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  mpisnap::Config cfg = mpisnap::Config::defaults();
  cfg.every = 2;
  mpisnap::Session snap{MPI_COMM_WORLD, cfg};
  Step s;
  snap.restore(s);
  if (!std::strcmp(mode, "isendrecv")) {
    long long out = rank, in = -1;
    MPI_Request r;
    MPI_Isendrecv(&out, 1, MPI_LONG_LONG, right, 1, &in, 1, MPI_LONG_LONG, left, 1, MPI_COMM_WORLD, &r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
    std::printf("mpi4 isendrecv: not refused\n");
    MPI_Finalize();
    return 1;
  }
  long long outs[12] = {}, in = 0;  // (one buffer per send: a freed send request may still read it)
  for (; s.i < 12; ++s.i) {
    long long& out = outs[s.i];
    out = s.i * 100 + rank;
    // Each message is sent by one kind of call and received by the other (the large-count form on
    // one side, the int form, which the library surely carries, on the other): had the large-count
    // forms bypassed the library, sender and receiver would be on different handles and never meet.
    const bool large_send = s.i % 2 == 0;
    if (large_send) {
      if (s.i % 4 == 0) {
        MPI_Send_c(&out, 1, MPI_LONG_LONG, right, 7, MPI_COMM_WORLD);  // eager: in flight at the safe point
      } else {
        MPI_Request r;
        MPI_Isend_c(&out, 1, MPI_LONG_LONG, right, 7, MPI_COMM_WORLD, &r);
        MPI_Request_free(&r);
      }
    } else {
      MPI_Send(&out, 1, MPI_LONG_LONG, right, 7, MPI_COMM_WORLD);
    }
    snap.checkpoint_point(s);
    if (large_send) {
      MPI_Recv(&in, 1, MPI_LONG_LONG, left, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (s.i % 4 == 1) {
      MPI_Recv_c(&in, 1, MPI_LONG_LONG, left, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Request r;
      MPI_Irecv_c(&in, 1, MPI_LONG_LONG, left, 7, MPI_COMM_WORLD, &r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
    if (in != s.i * 100 + left) {
      std::printf("mpi4 counts: step %lld got %lld, expected %lld\n", s.i, in, s.i * 100 + left);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    s.sum += in;
  }
  snap.flush();
  if (rank == 0) std::printf("mpi4 counts: ok (%lld)\n", s.sum);
  MPI_Finalize();
  return 0;
}
