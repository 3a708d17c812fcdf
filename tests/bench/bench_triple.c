/* For callgrind: N times MPI_Isend of 8 bytes to self, MPI_Recv, MPI_Wait. Run with N and 2N:
 * the difference of the instruction counts divided by N is the cost of one triple, without the
 * start-up and shutdown of MPI. */
#include <mpi.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const long n = argc > 1 ? atol(argv[1]) : 1000;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  double out = 1.0, in = 0.0;
  for (long i = 0; i < n; ++i) {
    MPI_Request r;
    MPI_Isend(&out, 1, MPI_DOUBLE, rank, 7, MPI_COMM_WORLD, &r);
    MPI_Recv(&in, 1, MPI_DOUBLE, rank, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  MPI_Finalize();
  return in == 1.0 ? 0 : 1;
}
