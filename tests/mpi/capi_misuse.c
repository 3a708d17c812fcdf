/* The C API's mistakes and errors, one mode per run (tests/e2e/reliability.py, capi_misuse):
 *   args            every argument error returns its code and a message naming the buffer; nothing
 *                   aborts, the session still works afterwards (prints "args: ok")
 *   write           protects u as 4 x 3 and passes 6 safe points (checkpoints with MPISNAP_EVERY)
 *   reshape         restores that checkpoint into u protected as 3 x 4: the job ends with status 70
 *                   and a message naming u and both shapes
 *   reshape_return  the same with MPISNAP_ERRORS_RETURN: mpisnap_restore returns MPISNAP_ERR_SESSION
 *                   and the message (prints "returned <code>: <message>", exits 0) */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include <mpisnap/mpisnap.h>

static int failures = 0;

static void expect(int got, int want, const char* what, const char* needle) {
  if (got != want || (needle && !strstr(mpisnap_last_error(), needle))) {
    fprintf(stderr, "capi_misuse: %s: got %d (%s) '%s', expected %d%s%s\n", what, got, mpisnap_error_string(got),
            mpisnap_last_error(), want, needle ? " naming " : "", needle ? needle : "");
    ++failures;
  }
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const char* mode = argc > 1 ? argv[1] : "args";
  const int errors_return = !strcmp(mode, "reshape_return");
  mpisnap_session* snap = NULL;
  if (mpisnap_init_flags(MPI_COMM_WORLD, errors_return ? MPISNAP_ERRORS_RETURN : 0, &snap) != MPISNAP_SUCCESS) {
    fprintf(stderr, "capi_misuse: init: %s\n", mpisnap_last_error());
    return 1;
  }
  double u[12] = {0};
  int64_t ext[2] = {4, 3};
  if (!strcmp(mode, "args")) {
    int64_t bad[2] = {4, -3}, off[2] = {1, 0}, glob[2] = {4, 3};
    int rank = 0;
    int64_t got[MPISNAP_MAX_RANK];
    expect(mpisnap_protect_array(snap, NULL, u, MPISNAP_DOUBLE, 2, ext, MPISNAP_ROW_MAJOR), MPISNAP_ERR_ARG, "NULL name", "NULL");
    expect(mpisnap_protect_array(snap, "a/b", u, MPISNAP_DOUBLE, 2, ext, MPISNAP_ROW_MAJOR), MPISNAP_ERR_NAME, "a name with /", "a/b");
    expect(mpisnap_protect_array(snap, "u", u, 77, 2, ext, MPISNAP_ROW_MAJOR), MPISNAP_ERR_ARG, "unknown type", "77");
    expect(mpisnap_protect_array(snap, "u", u, MPISNAP_DOUBLE, 2, bad, MPISNAP_ROW_MAJOR), MPISNAP_ERR_ARG, "negative extent", "'u'");
    expect(mpisnap_protect_array(snap, "u", u, MPISNAP_DOUBLE, 0, ext, MPISNAP_ROW_MAJOR), MPISNAP_ERR_ARG, "rank 0", "rank 0");
    expect(mpisnap_protect_array(snap, "u", NULL, MPISNAP_DOUBLE, 2, ext, MPISNAP_ROW_MAJOR), MPISNAP_ERR_ARG, "NULL data", "'u'");
    expect(mpisnap_protect_scalar(NULL, "x", u, MPISNAP_DOUBLE), MPISNAP_ERR_ARG, "NULL session", "session");
    expect(mpisnap_unprotect(snap, "nothing"), MPISNAP_ERR_NAME, "unprotect unknown", "nothing");
    expect(mpisnap_stored_shape(snap, "u", MPISNAP_ROW_MAJOR, &rank, got), MPISNAP_ERR_ORDER, "stored_shape, nothing to restore", "no checkpoint");
    expect(mpisnap_protect_array(snap, "u", u, MPISNAP_DOUBLE, 2, ext, MPISNAP_ROW_MAJOR), MPISNAP_SUCCESS, "a good protect", NULL);
    expect(mpisnap_protect_global(snap, "u", off, glob), MPISNAP_ERR_ARG, "a block outside its global array", "does not fit");
    int resumed = 1;
    expect(mpisnap_restore(snap, &resumed), MPISNAP_SUCCESS, "restore with nothing to restore", NULL);
    for (int i = 0; i < 4; ++i) expect(mpisnap_checkpoint_point(snap), MPISNAP_SUCCESS, "a safe point", NULL);
    expect(mpisnap_finalize(&snap), MPISNAP_SUCCESS, "finalize", NULL);
    expect(snap == NULL, 1, "finalize clears the handle", NULL);
    MPI_Finalize();
    if (failures == 0) printf("args: ok\n");
    return failures ? 1 : 0;
  }
  if (!strcmp(mode, "write")) {
    mpisnap_protect_array(snap, "u", u, MPISNAP_DOUBLE, 2, ext, MPISNAP_ROW_MAJOR);
    int resumed = 0;
    mpisnap_restore(snap, &resumed);
    for (int i = 0; i < 6; ++i) {
      u[i % 12] += i;
      if (mpisnap_checkpoint_point(snap) != MPISNAP_SUCCESS) return 1;
    }
    mpisnap_finalize(&snap);
    MPI_Finalize();
    return 0;
  }
  /* reshape, reshape_return */
  int64_t other[2] = {3, 4};
  mpisnap_protect_array(snap, "u", u, MPISNAP_DOUBLE, 2, other, MPISNAP_ROW_MAJOR);
  int resumed = 0;
  const int rc = mpisnap_restore(snap, &resumed);
  printf("returned %d: %s\n", rc, mpisnap_last_error());
  fflush(stdout);
  MPI_Finalize();
  return rc == MPISNAP_ERR_SESSION ? 0 : 1;
}
