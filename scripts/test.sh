#!/usr/bin/env bash
# Every test: installs what is missing, builds from scratch in build-test/ against Open MPI and runs
# ctest (unit tests, MPI tests at several rank counts, the oracle, kill/restart end-to-end tests, the
# installed-package consumer); builds again against MPICH in build-mpich/ and runs the tests labelled
# `both` there (README, "Two MPIs": which, and why); then builds with AddressSanitizer and
# UndefinedBehaviorSanitizer in build-sanitize/ (Open MPI) and runs the unit, MPI and oracle tests.
# MPISNAP_SKIP_MPICH=1 and MPISNAP_SKIP_SANITIZE=1 skip those parts. Extra arguments go to the first ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase says how long it took (CI's time is budgeted: README, "Tests").
phase_start=$SECONDS
phase() { echo "test.sh: $1 took $((SECONDS - phase_start)) s (total $SECONDS s)"; phase_start=$SECONDS; }

bash scripts/install-deps.sh
phase "installing dependencies"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)

# Each MPI by its own compiler wrappers and launcher: Debian's alternatives decide what the bare
# names mean when both are installed.
openmpi=(-DMPI_C_COMPILER=mpicc.openmpi -DMPI_CXX_COMPILER=mpicxx.openmpi -DMPI_Fortran_COMPILER=mpifort.openmpi
         -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.openmpi)")
mpich=(-DMPI_C_COMPILER=mpicc.mpich -DMPI_CXX_COMPILER=mpicxx.mpich -DMPI_Fortran_COMPILER=mpifort.mpich
       -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.mpich)")

# The default build type's code (RelWithDebInfo: -O2 -DNDEBUG) without its debug information, which
# takes a third of the compile time and serves no test; the sanitized build keeps line tables (-g1)
# for its reports.
nodebug=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG"
         -DCMAKE_Fortran_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG")

build=${MPISNAP_TEST_BUILD_DIR:-build-test}
rm -rf "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${nodebug[@]}" "${openmpi[@]}" ${MPISNAP_CMAKE_ARGS:-}
cmake --build "$build" -j"$jobs"
phase "the Open MPI build"
# Two tests at a time: most of a test's time is waiting (launches, the examples' sleeps, restarts).
# The tests that measure time are RUN_SERIAL (tests/CMakeLists.txt, MPISNAP_TIMED_TESTS): ctest runs
# each of them alone.
ctest_jobs=2
(cd "$build" && ctest --output-on-failure --timeout 600 -j"$ctest_jobs" "$@")
phase "the Open MPI tests"

if [ "${MPISNAP_SKIP_MPICH:-0}" != 1 ]; then
  mpich_build=${MPISNAP_MPICH_BUILD_DIR:-build-mpich}
  rm -rf "$mpich_build"
  # (the unit tests use no MPI and run on Open MPI: not built here)
  cmake -S . -B "$mpich_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${nodebug[@]}" -DMPISNAP_UNIT_TESTS=OFF "${mpich[@]}"
  cmake --build "$mpich_build" -j"$jobs"
  phase "the MPICH build"
  (cd "$mpich_build" && ctest --output-on-failure --timeout 600 -j"$ctest_jobs" -L both)
  phase "the MPICH tests"
fi

if [ "${MPISNAP_SKIP_SANITIZE:-0}" != 1 ]; then
  sanitize=${MPISNAP_SANITIZE_BUILD_DIR:-build-sanitize}
  rm -rf "$sanitize"
  # (no Fortran here: no unit, MPI or oracle test is a Fortran program)
  cmake -S . -B "$sanitize" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1 \
    -DMPISNAP_SANITIZE=ON -DMPISNAP_FORTRAN=OFF "${openmpi[@]}"
  # Only what the sanitized tests run: the unit tests and the programs the MPI and oracle tests
  # launch, as ctest lists them (not the examples, benchmarks and end-to-end programs).
  # Left out: the same code paths at more ranks, which only multiply the instrumented CPU (the
  # oracle at 4 and 8 ranks but its kill/restart run, random traffic at 8 ranks and its unchaotic
  # seeds at 4, the semantics at 4), the oracle's repeated chaos seeds at 3 ranks, and the timed
  # trigger run at 4 ranks (its 3-rank chaos run stays).
  sanitized_tests=(-L "unit|mpi|oracle"
                   -E 'no_session_passthrough|^oracle\.np[48]\.|^oracle\.np3\.seed[23]|random_traffic\.np8|random_traffic\.np4\.seed|^mpi\.semantics\.np4')
  mapfile -t targets < <(cd "$sanitize" && ctest --show-only=json-v1 "${sanitized_tests[@]}" | python3 -c '
import json, os, sys
here = os.getcwd() + "/"
found = {os.path.basename(c) for t in json.load(sys.stdin)["tests"] for c in t.get("command", [])
         if c.startswith(here) and not c.startswith(here + "test-work/")}
print("\n".join(sorted(found | {"unit_tests"})))')
  cmake --build "$sanitize" -j"$jobs" --target "${targets[@]}"
  phase "the sanitized build (${#targets[@]} targets)"
  # Open MPI's own allocations are never freed before exit: leak checking would report them.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  # (The LD_PRELOAD test is left out here: an instrumented library can only be preloaded after
  # libasan itself, which is not what it tests.)
  (cd "$sanitize" && ctest --output-on-failure --timeout 900 -j"$ctest_jobs" "${sanitized_tests[@]}")
  phase "the sanitized tests"
fi
