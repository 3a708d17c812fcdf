// Point-to-point on an intercommunicator is refused with a clear message (mpisnap cannot color it).
#include <mpi.h>

#include <mpisnap/mpisnap.hpp>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  mpisnap::Session snap{MPI_COMM_WORLD};
  MPI_Comm half, inter;
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
  MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, rank % 2 == 0 ? 1 : 0, 5, &inter);
  int v = rank;
  if (rank % 2 == 0) MPI_Send(&v, 1, MPI_INT, 0, 0, inter);
  else MPI_Recv(&v, 1, MPI_INT, 0, 0, inter, MPI_STATUS_IGNORE);
  MPI_Finalize();
  return 0;
}
