// Storage faults on demand, for the reliability tests: MPISNAP_TEST_FAULT installs rules into the
// file-system seam (fs::ops()) so that a chosen call on a chosen rank fails with an errno or kills
// the process outright, at a precise moment of a checkpoint's life.
//
//   MPISNAP_TEST_FAULT=rule[,rule...]      rule = op[@text]:effect[:rank[:nth[+]]]
//     op      open | fsync | close | rename | mkdir | unlink | rmdir
//     @text   only calls whose path contains text (e.g. rename@manifest, fsync@rank-)
//     effect  kill (SIGKILL this process) or an errno name: ENOSPC EACCES EIO EROFS EDQUOT ENOENT
//     rank    the world rank it applies on, or * (default)
//     nth     the nth matching call on that rank (default 1); nth+ means that one and every later one
// Examples: rename@manifest:kill:0:2 (rank 0 dies committing the 2nd checkpoint of the run);
// fsync@rank-:ENOSPC:*:3 (every rank's 3rd rank-file fsync reports a full disk).
#pragma once

#include <string>

namespace mpisnap::storage {

// Parses `spec` and installs it for `rank`; throws mpisnap::Error naming the bad rule. An empty
// spec removes every rule and restores the real system calls.
void install_faults(const std::string& spec, int rank);

}  // namespace mpisnap::storage
