/* mpisnap's C API: checkpoint/restart for MPI programs that keep their state in arrays.
 *
 *   mpisnap_session* snap;
 *   MPI_Init(&argc, &argv);
 *   mpisnap_init(MPI_COMM_WORLD, &snap);                       collective, right after MPI_Init
 *   mpisnap_protect_scalar(snap, "iter", &iter, MPISNAP_INT64);
 *   int64_t shape[2] = {rows, n};
 *   mpisnap_protect_array(snap, "u", u, MPISNAP_DOUBLE, 2, shape, MPISNAP_ROW_MAJOR);
 *   int resumed;
 *   mpisnap_restore(snap, &resumed);                           fills every protected buffer
 *   while (iter < iters) {
 *     ... compute, communicate ...
 *     mpisnap_checkpoint_point(snap);                          a safe point (see mpisnap.hpp)
 *   }
 *   mpisnap_finalize(&snap);
 *   MPI_Finalize();
 *
 * Protected buffers are named: a checkpoint holds one dataset per name under /state (an N-D dataset
 * of the given shape), read back by name. Protecting a name again replaces what it refers to
 * (pointer, type, shape): a buffer that is reallocated, or grows or shrinks between checkpoints, is
 * protected again before the next safe point. Before mpisnap_restore, mpisnap_stored_shape tells
 * the extents a name has in the checkpoint about to be restored, so its buffer can be allocated
 * first. Every call returns MPISNAP_SUCCESS or an error code; mpisnap_last_error() gives the
 * message. Nothing throws. Errors of the checkpoint machinery itself (a checkpoint that cannot be
 * restored, a misplaced safe point) end the job with a message and status 70, as an MPI error does,
 * unless the session was made with MPISNAP_ERRORS_RETURN (or MPISNAP_EXCEPTIONS=1): then they come
 * back as MPISNAP_ERR_SESSION on the rank that saw them.
 *
 * The settings come from the MPISNAP_* environment (README). Link with -lmpisnap before MPI's
 * libraries (pkg-config --libs mpisnap, or CMake's mpisnap::mpisnap). */
#ifndef MPISNAP_H
#define MPISNAP_H

#include <mpi.h>
#include <stdint.h>

#if defined(__GNUC__)
#define MPISNAP_C_API __attribute__((visibility("default")))
#else
#define MPISNAP_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mpisnap_session mpisnap_session;

/* Element types of protected buffers. MPISNAP_BOOL is a 1-byte C bool; Fortran's default logical is
 * 4 bytes: protect it as MPISNAP_INT32. Complex numbers are pairs of float or double (C99 _Complex,
 * Fortran complex), stored as h5py's complex (a compound of r and i). */
enum mpisnap_type {
  MPISNAP_INT8 = 1, MPISNAP_UINT8, MPISNAP_INT16, MPISNAP_UINT16, MPISNAP_INT32, MPISNAP_UINT32,
  MPISNAP_INT64, MPISNAP_UINT64, MPISNAP_FLOAT, MPISNAP_DOUBLE, MPISNAP_BOOL, MPISNAP_CHAR,
  MPISNAP_COMPLEX_FLOAT, MPISNAP_COMPLEX_DOUBLE
};

/* How a multi-dimensional buffer lies in memory. A column-major (Fortran) array a(n1, n2, ..., nk) is
 * stored with its dimensions reversed, (nk, ..., n2, n1), which is the same bytes in row-major order
 * and what h5py shows (as HDF5's own Fortran API writes it). */
enum mpisnap_order { MPISNAP_ROW_MAJOR = 0, MPISNAP_COLUMN_MAJOR = 1 };

enum mpisnap_error {
  MPISNAP_SUCCESS = 0,
  MPISNAP_ERR_ARG = 1,      /* a null pointer, a negative extent, an unknown type or order, ... */
  MPISNAP_ERR_NAME = 2,     /* an empty name or one with '/'; a name not protected / not in the checkpoint */
  MPISNAP_ERR_ORDER = 3,    /* a call at the wrong time (restore twice, stored_shape with nothing to restore) */
  MPISNAP_ERR_SESSION = 4,  /* the checkpoint machinery failed (with MPISNAP_ERRORS_RETURN) */
  MPISNAP_ERR_MEMORY = 5
};

#define MPISNAP_MAX_RANK 32
/* mpisnap_init_flags: errors of the checkpoint machinery come back as codes instead of ending the job. */
#define MPISNAP_ERRORS_RETURN 1

/* Collective over comm (MPI_COMM_WORLD): starts the library and finds the newest checkpoint that
 * verifies on every rank. */
MPISNAP_C_API int mpisnap_init(MPI_Comm comm, mpisnap_session** session);
MPISNAP_C_API int mpisnap_init_flags(MPI_Comm comm, int flags, mpisnap_session** session);
/* For the Fortran module (`use mpisnap`): comm as a Fortran handle (MPI_Comm_f2c), or MPI_COMM_WORLD
 * when world is nonzero. */
MPISNAP_C_API int mpisnap_init_fortran(MPI_Fint comm, int world, int flags, mpisnap_session** session);
/* Frees the handle and sets *session to NULL (before or after MPI_Finalize; MPI_Finalize finishes the
 * checkpoints in flight). */
MPISNAP_C_API int mpisnap_finalize(mpisnap_session** session);

/* One value. */
MPISNAP_C_API int mpisnap_protect_scalar(mpisnap_session* s, const char* name, void* data, int type);
/* count values (a one-dimensional array; data may be NULL when count is 0). */
MPISNAP_C_API int mpisnap_protect(mpisnap_session* s, const char* name, void* data, int64_t count, int type);
/* An array of rank dimensions (1..MPISNAP_MAX_RANK) of the given extents, in `order`. */
MPISNAP_C_API int mpisnap_protect_array(mpisnap_session* s, const char* name, void* data, int type, int rank,
                                        const int64_t* extents, int order);
/* Optional, after protect: where this rank's block lies in a global array (offset and the global
 * extent per dimension, in the order of the protect call), written as the dataset's global_offset
 * and global_extent attributes (the Python reader's assemble() uses them). */
MPISNAP_C_API int mpisnap_protect_global(mpisnap_session* s, const char* name, const int64_t* offset,
                                         const int64_t* extent);
/* No longer part of the state. */
MPISNAP_C_API int mpisnap_unprotect(mpisnap_session* s, const char* name);

/* Whether a checkpoint is about to be restored (before mpisnap_restore). */
MPISNAP_C_API int mpisnap_will_restore(mpisnap_session* s, int* flag);
/* Before mpisnap_restore: the extents `name` has in that checkpoint, in `order` (*rank 0: a scalar). */
MPISNAP_C_API int mpisnap_stored_shape(mpisnap_session* s, const char* name, int order, int* rank, int64_t* extents);
/* Collective. If a checkpoint was found, fills every protected buffer from it (each must have the
 * stored type and shape), queues this rank's in-flight messages for delivery before anything new,
 * and sets *resumed to 1; else 0. Call it before any communication of the computation. */
MPISNAP_C_API int mpisnap_restore(mpisnap_session* s, int* resumed);
/* The checkpoint restored and the safe points passed when it was taken (0 and 0 when not resumed). */
MPISNAP_C_API int mpisnap_resume_info(mpisnap_session* s, uint64_t* checkpoint_id, uint64_t* safe_point);

/* A safe point: copies the protected buffers into a snapshot when one is due (written in the
 * background). Every rank passes the same safe points, with no non-blocking operation pending. */
MPISNAP_C_API int mpisnap_checkpoint_point(mpisnap_session* s);
/* *flag = 1 once a checkpoint requested by SIGTERM (or MPISNAP_EXIT_SIGNAL) committed: leave the loop
 * and call MPI_Finalize, which ends the process with status 75. */
MPISNAP_C_API int mpisnap_should_exit(mpisnap_session* s, int* flag);
/* Asks for a checkpoint as soon as possible (any rank). */
MPISNAP_C_API int mpisnap_request_checkpoint(mpisnap_session* s);
/* Collective: returns once every checkpoint taken so far is committed. */
MPISNAP_C_API int mpisnap_flush(mpisnap_session* s);

/* A fixed description of an error code; the calling thread's last error message ("" if none). */
MPISNAP_C_API const char* mpisnap_error_string(int code);
MPISNAP_C_API const char* mpisnap_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MPISNAP_H */
