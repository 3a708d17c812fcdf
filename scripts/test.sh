#!/usr/bin/env bash
# Every test: installs what is missing, builds from scratch in build-test/, runs ctest (unit tests,
# MPI tests at several rank counts, kill/restart end-to-end tests, the installed-package consumer).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
build=${MPISNAP_TEST_BUILD_DIR:-build-test}
rm -rf "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${MPISNAP_CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$build"
ctest --output-on-failure --timeout 600 "$@"
