/* The C API from a C project: counts to argv[1] with a checkpoint every few safe points (the history
 * of sums grows, so its buffer is protected again as it moves); prints whether it resumed and the sum. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpisnap/mpisnap.h>

static void check(int rc, const char* what) {
  if (rc != MPISNAP_SUCCESS) {
    fprintf(stderr, "consumer.c: %s: %s (%s)\n", what, mpisnap_last_error(), mpisnap_error_string(rc));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const long steps = argc > 1 ? atol(argv[1]) : 20;
  const long stop_after = argc > 2 ? atol(argv[2]) : steps; /* leave early, as if killed */
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  mpisnap_session* snap;
  check(mpisnap_init(MPI_COMM_WORLD, &snap), "init");
  int64_t step = 0;
  int64_t* history = NULL;
  int will = 0;
  check(mpisnap_will_restore(snap, &will), "will_restore");
  if (will) { /* size the history from the checkpoint before restoring into it */
    int rank_of = 0;
    int64_t extents[MPISNAP_MAX_RANK];
    check(mpisnap_stored_shape(snap, "history", MPISNAP_ROW_MAJOR, &rank_of, extents), "stored_shape");
    history = malloc((size_t)(extents[0] + 1) * sizeof(int64_t));
    check(mpisnap_protect(snap, "history", history, extents[0], MPISNAP_INT64), "protect history");
  } else {
    check(mpisnap_protect(snap, "history", history, 0, MPISNAP_INT64), "protect history");
  }
  check(mpisnap_protect_scalar(snap, "step", &step, MPISNAP_INT64), "protect step");
  int resumed = 0;
  check(mpisnap_restore(snap, &resumed), "restore");
  while (step < steps && step < stop_after) {
    long mine = step * (rank + 1), sum = 0;
    MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    history = realloc(history, (size_t)(step + 1) * sizeof(int64_t));
    history[step] = sum;
    ++step;
    check(mpisnap_protect(snap, "history", history, step, MPISNAP_INT64), "protect history");
    check(mpisnap_checkpoint_point(snap), "checkpoint_point");
  }
  long total = 0;
  for (long i = 0; i < step; ++i) total += history[i];
  if (rank == 0) printf("consumer: resumed=%d step=%ld total=%ld\n", resumed, (long)step, total);
  check(mpisnap_finalize(&snap), "finalize");
  free(history);
  MPI_Finalize();
  return 0;
}
