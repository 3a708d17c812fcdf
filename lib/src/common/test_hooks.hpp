// TestHooks: the testing aids of lib/DESIGN.md ("Testing aids"), read from the environment once,
// in one place, as strictly as Config (a malformed value is an mpisnap::Error naming the variable).
// None of them is for production; the runtime applies them where they belong.
#pragma once

#include <cstdint>
#include <string>

namespace mpisnap {

struct TestHooks {
  bool preload_session = false;   // MPISNAP_PRELOAD_SESSION: a session starts in MPI_Init
  bool emulate_receives = false;  // MPISNAP_EMULATE_RECEIVES: every receive through the window's emulation
  std::uint64_t chaos_seed = 0;   // MPISNAP_TEST_CHAOS: drain old-color messages late, one at a time (0: off)
  std::string faults;             // MPISNAP_TEST_FAULT: storage fault rules (storage/fault_injection.hpp)
  bool faults_set = false;        // MPISNAP_TEST_FAULT is set (even empty)

  static TestHooks from_environment();
};

}  // namespace mpisnap
