// mpisnap::Config: what a Session does, from built-in defaults and the MPISNAP_* environment
// variables. Every setting the library reads is parsed here, once, strictly: a malformed value is an
// mpisnap::Error naming the variable, never a silent default.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>

#include <mpisnap/error.hpp>
#include <mpisnap/export.hpp>

namespace mpisnap {

struct MPISNAP_API Config {
  std::string directory = "mpisnap-checkpoints";  // MPISNAP_DIR
  std::uint64_t every = 0;                        // MPISNAP_EVERY: snapshot every N safe points; 0 = never
  double interval = 0;                            // MPISNAP_INTERVAL: and every T seconds (rank 0's clock); 0 = never
  bool signals = true;                            // MPISNAP_SIGNALS: SIGUSR1 checkpoints; SIGTERM and exit_signal checkpoint and stop
  bool triggers = true;                           // MPISNAP_TRIGGERS: signals, interval and request_checkpoint() may start checkpoints
  int exit_signal = SIGUSR2;                      // MPISNAP_EXIT_SIGNAL: the scheduler's warning signal
  unsigned keep = 2;                              // MPISNAP_KEEP: committed checkpoints kept (>= 1)
  bool verbose = false;                           // MPISNAP_VERBOSE: one line per checkpoint on rank 0
  bool reuse_buffers = true;                      // MPISNAP_REUSE_BUFFERS: keep one snapshot's buffers for the next
  bool direct_io = true;                          // MPISNAP_DIRECT_IO: large arrays to and from the disk with O_DIRECT where possible
  bool fresh_if_corrupt = false;                  // MPISNAP_FRESH_IF_CORRUPT: start fresh when no checkpoint verifies
  bool exceptions = false;                        // MPISNAP_EXCEPTIONS: Session's errors are thrown (mpisnap::Error), not message + MPI_Abort(70)
  bool ignore_identity = false;                   // MPISNAP_IGNORE_IDENTITY: restore a checkpoint another program wrote
  bool fresh = false;                             // MPISNAP_FRESH: start from the beginning although checkpoints exist (they are kept)
  double misplaced_grace = 2.0;                   // MPISNAP_MISPLACED_GRACE: seconds before a wait on a silent peer is called misplaced
  double deadlock_after = 10.0;                   // MPISNAP_DEADLOCK: seconds a rank waits before its wait is examined for a deadlock; 0 = off

  // Two tiers (README, "Storage tiers"): with local_directory set, checkpoints commit on node-local
  // storage (each rank's file also kept by a partner rank on another node) and are copied in the
  // background to `directory`, the global tier.
  std::string local_directory;                    // MPISNAP_LOCAL_DIR: node-local storage (/dev/shm, a local SSD); empty = one tier
  unsigned flush_every = 1;                       // MPISNAP_FLUSH: every (1), every k-th (k), or "stop" (0: at the stop signal and MPI_Finalize only)
  unsigned keep_local = 2;                        // MPISNAP_KEEP_LOCAL: committed checkpoints kept on the local tier (>= 1); `keep` counts the global tier's
  bool partner = true;                            // MPISNAP_PARTNER: keep a copy of each rank's local file on another node

  // The built-in defaults above, overridden by the MPISNAP_* environment variables that are set.
  static Config defaults();
  // Overrides this config's fields with the MPISNAP_* variables that are set; throws
  // mpisnap::Error naming the variable when one is malformed.
  Config& apply_environment();
};

}  // namespace mpisnap
