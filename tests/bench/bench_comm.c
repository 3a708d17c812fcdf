/* The cost of making and freeing communicators: microseconds per cycle, the median of --reps
 * repetitions of --cycles cycles each (after a warm-up repetition). Knows nothing of mpisnap: run it
 * plain for the baseline and with LD_PRELOAD + MPISNAP_PRELOAD_SESSION=1 for the library.
 *   dup <us per MPI_Comm_dup + MPI_Comm_free of MPI_COMM_WORLD>
 *   split <us per MPI_Comm_split (two colours) + MPI_Comm_free>
 *   dup_used <us per MPI_Comm_dup + one message each way on it + MPI_Comm_free>  (the pairs 2k, 2k+1;
 *            --used-cycles per repetition, 100 by default: before the library pooled a used communicator's
 *            colours at MPI_Comm_free, each kept two context ids until a snapshot, and MPICH has 2,048)
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static void cycle(const char* kind, int rank, int size) {
  MPI_Comm c;
  if (!strcmp(kind, "split")) {
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, size - rank, &c);
  } else {
    MPI_Comm_dup(MPI_COMM_WORLD, &c);
  }
  if (!strcmp(kind, "dup_used")) {
    const int peer = rank ^ 1;
    char out = 1, in = 0;
    if (peer < size) MPI_Sendrecv(&out, 1, MPI_CHAR, peer, 5, &in, 1, MPI_CHAR, peer, 5, c, MPI_STATUS_IGNORE);
  }
  MPI_Comm_free(&c);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int reps = 7, cycles = 2000, used_cycles = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--cycles")) cycles = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--used-cycles")) used_cycles = atoi(argv[i + 1]);
  }
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char* kinds[] = {"dup", "split", "dup_used"};
  double* t = malloc(sizeof(double) * (size_t)reps);
  for (int k = 0; k < 3; ++k) {
    const int n = k == 2 ? used_cycles : cycles;
    for (int r = -1; r < reps; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = MPI_Wtime();
      for (int i = 0; i < n; ++i) cycle(kinds[k], rank, size);
      double dt = (MPI_Wtime() - t0) / n * 1e6, worst = 0;
      MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (r >= 0) t[r] = worst;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp);
    if (rank == 0) printf("%s %.3f\n", kinds[k], t[reps / 2]);
  }
  free(t);
  MPI_Finalize();
  return 0;
}
