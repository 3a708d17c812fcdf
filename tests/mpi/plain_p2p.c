/* A plain MPI program that knows nothing of mpisnap: a ring exchange with blocking, non-blocking,
 * wildcard and probe calls on MPI_COMM_WORLD and a duplicate. Run with and without the library
 * (linked or LD_PRELOADed, no Session): the output must be the same. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm dup;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  long sum = 0;
  for (int step = 0; step < 50; ++step) {
    long out = rank * 1000 + step, in = 0;
    MPI_Request r;
    MPI_Isend(&out, 1, MPI_LONG, right, step, MPI_COMM_WORLD, &r);
    MPI_Status st;
    MPI_Probe(MPI_ANY_SOURCE, step, MPI_COMM_WORLD, &st);
    MPI_Recv(&in, 1, MPI_LONG, st.MPI_SOURCE, step, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
    sum += in;
    MPI_Sendrecv(&out, 1, MPI_LONG, left, 0, &in, 1, MPI_LONG, right, 0, dup, MPI_STATUS_IGNORE);
    sum += in;
  }
  long total = 0;
  MPI_Reduce(&sum, &total, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("RESULT plain total %ld\n", total);
  MPI_Comm_free(&dup);
  MPI_Finalize();
  return 0;
}
