/* heat2d in C, on mpisnap's C API (mpisnap/mpisnap.h): the same Jacobi iteration as heat2d.cpp (an
 * n x n grid split into horizontal strips, non-blocking halo exchange, the top edge held at 1.0),
 * the same RESULT line for the same options, bit for bit, and the same checkpoint file layout
 * (/state/iter, /state/u and /state/v: (rows + 2) x n, halos included).
 *
 * The two grids swap every iteration; the protected names follow the pointers (mpisnap_protect_array
 * again replaces what a name refers to).
 *
 * Options: --n grid size, --iters iterations, --work-us extra microseconds per iteration,
 *          --checkpoint-every k (sets MPISNAP_EVERY). */
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpisnap/mpisnap.h>

static uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const unsigned char* p = (const unsigned char*)data;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static void check(int rc, const char* call) {
  if (rc != MPISNAP_SUCCESS) {
    fprintf(stderr, "heat2d_c: %s: %s\n", call, mpisnap_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

static void work(long us) {
  if (us <= 0) return;
  struct timespec t = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&t, NULL);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  long long n = 256, iters = 400, work_us = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--n")) n = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--iters")) iters = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--work-us")) work_us = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--checkpoint-every")) setenv("MPISNAP_EVERY", argv[i + 1], 1);
    else {
      fprintf(stderr, "heat2d_c: unknown option %s\n", argv[i]);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (n < size) {
    if (rank == 0) fprintf(stderr, "heat2d_c: --n must be at least the number of ranks\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const long long row0 = n * rank / size, row1 = n * (rank + 1) / size, rows = row1 - row0;
  const int up = rank > 0 ? rank - 1 : MPI_PROC_NULL;
  const int down = rank + 1 < size ? rank + 1 : MPI_PROC_NULL;
  const size_t width = (size_t)n, cells = (size_t)(rows + 2) * width;

  mpisnap_session* snap = NULL;
  check(mpisnap_init(MPI_COMM_WORLD, &snap), "mpisnap_init");

  int64_t iter = 0;
  double* u = calloc(cells, sizeof(double));
  double* v = calloc(cells, sizeof(double));
  if (!u || !v) MPI_Abort(MPI_COMM_WORLD, 3);
  if (rank == 0)
    for (size_t j = 0; j < width; ++j) u[width + j] = 1.0; /* the hot top edge (first real row) */
  memcpy(v, u, cells * sizeof(double));

  const int64_t shape[2] = {rows + 2, n};
  check(mpisnap_protect_scalar(snap, "iter", &iter, MPISNAP_INT64), "protect iter");
  check(mpisnap_protect_array(snap, "u", u, MPISNAP_DOUBLE, 2, shape, MPISNAP_ROW_MAJOR), "protect u");
  check(mpisnap_protect_array(snap, "v", v, MPISNAP_DOUBLE, 2, shape, MPISNAP_ROW_MAJOR), "protect v");
  int resumed = 0;
  check(mpisnap_restore(snap, &resumed), "mpisnap_restore");
  if (resumed && rank == 0) {
    uint64_t id = 0, sp = 0;
    check(mpisnap_resume_info(snap, &id, &sp), "mpisnap_resume_info");
    printf("resumed from checkpoint %" PRIu64 " at safe point %" PRIu64 " (iteration %" PRId64 ")\n", id, sp, iter);
  }

  while (iter < iters) {
    MPI_Request reqs[4];
    MPI_Irecv(&u[0], (int)n, MPI_DOUBLE, up, 1, MPI_COMM_WORLD, &reqs[0]);
    MPI_Irecv(&u[(size_t)(rows + 1) * width], (int)n, MPI_DOUBLE, down, 0, MPI_COMM_WORLD, &reqs[1]);
    MPI_Isend(&u[width], (int)n, MPI_DOUBLE, up, 0, MPI_COMM_WORLD, &reqs[2]);
    MPI_Isend(&u[(size_t)rows * width], (int)n, MPI_DOUBLE, down, 1, MPI_COMM_WORLD, &reqs[3]);
    MPI_Status statuses[4];
    MPI_Waitall(4, reqs, statuses);
    for (long long i = 1; i <= rows; ++i) {
      const long long global = row0 + i - 1;
      for (long long j = 0; j < n; ++j) {
        const size_t c = (size_t)i * width + (size_t)j;
        if (global == 0 || global == n - 1 || j == 0 || j == n - 1)
          v[c] = u[c]; /* fixed boundary */
        else
          v[c] = 0.25 * (u[c - width] + u[c + width] + u[c - 1] + u[c + 1]);
      }
    }
    double* t = u;
    u = v;
    v = t;
    check(mpisnap_protect_array(snap, "u", u, MPISNAP_DOUBLE, 2, shape, MPISNAP_ROW_MAJOR), "protect u");
    check(mpisnap_protect_array(snap, "v", v, MPISNAP_DOUBLE, 2, shape, MPISNAP_ROW_MAJOR), "protect v");
    work(work_us);
    ++iter;
    check(mpisnap_checkpoint_point(snap), "mpisnap_checkpoint_point");
  }

  /* Checksum: FNV-1a over the bytes of every rank's rows, combined in rank order, and the sum. */
  const uint64_t mine = fnv1a(&u[width], (size_t)rows * width * sizeof(double), 0xcbf29ce484222325ULL);
  double local_sum = 0;
  for (long long i = 1; i <= rows; ++i)
    for (long long j = 0; j < n; ++j) local_sum += u[(size_t)i * width + (size_t)j];
  uint64_t* hashes = malloc((size_t)size * sizeof(uint64_t));
  double* sums = malloc((size_t)size * sizeof(double));
  MPI_Gather(&mine, 1, MPI_UINT64_T, hashes, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  MPI_Gather(&local_sum, 1, MPI_DOUBLE, sums, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    const uint64_t h = fnv1a(hashes, (size_t)size * sizeof(uint64_t), 0xcbf29ce484222325ULL);
    double total = 0;
    for (int r = 0; r < size; ++r) total += sums[r];
    printf("RESULT heat2d n %lld iterations %lld checksum %016" PRIx64 " sum %.17g\n", n, iters, h, total);
  }
  free(hashes);
  free(sums);
  check(mpisnap_finalize(&snap), "mpisnap_finalize");
  MPI_Finalize();
  free(u);
  free(v);
  return 0;
}
