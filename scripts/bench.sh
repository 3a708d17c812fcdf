#!/usr/bin/env bash
# Benchmarks (by hand, not in CI): builds a Release tree, runs tests/bench and the heat2d example
# against baselines measured in the same run, prints the table and writes BENCHMARKS.md.
#   bash scripts/bench.sh [--quick] [--build build-bench] [--out BENCHMARKS.md] [--only SECTION]
# --quick shrinks every case (a smoke run of the script itself, not numbers to quote).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-bench args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
bash scripts/install-deps.sh
if ! command -v valgrind >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends valgrind || echo "bench: no valgrind; the instruction-count rows are skipped"
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMPI_C_COMPILER=mpicc.openmpi -DMPI_CXX_COMPILER=mpicxx.openmpi \
  -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.openmpi)" >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_p2p bench_p2p_snapshots bench_triple bench_checkpoint bench_restart bench_scale_sim bench_comm heat2d hydro3d mpisnap >/dev/null
# The instruction counts are measured on MPICH as well (a second tree, the library and bench_triple only).
mpich=()
if command -v mpicc.mpich >/dev/null; then
  cmake -S . -B "$build-mpich" -DCMAKE_BUILD_TYPE=Release -DMPI_C_COMPILER=mpicc.mpich -DMPI_CXX_COMPILER=mpicxx.mpich \
    -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.mpich)" >/dev/null
  cmake --build "$build-mpich" -j"$(nproc)" --target bench_triple bench_comm mpisnap >/dev/null
  mpich=(--mpich-build "$build-mpich")
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec python3 scripts/bench.py --build "$build" "${mpich[@]}" "${args[@]}"
