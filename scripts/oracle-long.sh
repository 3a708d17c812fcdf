#!/usr/bin/env bash
# The oracle's long mode (by hand): runs tests/oracle over many seeds and rank counts, half of them
# with MPISNAP_TEST_CHAOS, until at least --checkpoints checkpoints have been checked; prints one
# line per run and the totals. Exits non-zero at the first violation or hang (a run over 900 s).
# Every run has triggers firing (every 50 ms on rank 0's clock, and SIGUSR1 from a thread every
# 20 ms), and takes its snapshots only from them, or also every safe point, or every 3rd (cycling);
# every 5th run instead every 200 ms, with one rank per step 20 ms late (--stall-us);
# --no-triggers runs the plain mode (every safe point, no trigger).
#   bash scripts/oracle-long.sh [--checkpoints 10000] [--steps 200] [--np "2 3 4 8"] [--build build] [--no-triggers]
set -euo pipefail
cd "$(dirname "$0")/.."
target=10000 steps=200 nps="2 3 4 8" build=build triggers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --checkpoints) target=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --np) nps=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --no-triggers) triggers=0; shift ;;
    *) echo "usage: $0 [--checkpoints N] [--steps S] [--np \"2 3 4 8\"] [--build DIR] [--no-triggers]"; exit 2 ;;
  esac
done
if [ ! -x "$build/tests/oracle/oracle" ]; then
  bash scripts/install-deps.sh
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPI_C_COMPILER=mpicc.openmpi -DMPI_CXX_COMPILER=mpicxx.openmpi \
    -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.openmpi)" >/dev/null
  cmake --build "$build" -j"$(nproc)" --target oracle >/dev/null
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/mpisnap-oracle-XXXXXX)
total_ckpt=0 total_msgs=0 total_flight=0 total_channels=0 runs=0 seed=0
start=$(date +%s)
while [ "$total_ckpt" -lt "$target" ]; do
  for np in $nps; do
    seed=$((seed + 1))
    chaos=""
    if [ $((seed % 2)) -eq 0 ]; then chaos=$seed; fi
    mode=()
    if [ "$triggers" = 1 ]; then
      every=$(( (seed / 2) % 3 )); [ "$every" = 2 ] && every=3
      mode=(--every "$every" --interval 0.05 --sigusr1-ms 20 --work-us 500)
      # every 5th run: triggers far apart and one rank per step 20 ms late (in MPI_Iprobe), so that
      # waits last across the end of snapshots and are handed to MPI
      if [ $((seed % 5)) -eq 0 ]; then mode=(--every 0 --interval 0.2 --work-us 500 --stall-us 20000); fi
    fi
    # (MPISNAP_TEST_CHAOS only when set: the library refuses an empty value, as it does any bad one)
    out=$(env MPISNAP_DIR="$work/run" ${chaos:+MPISNAP_TEST_CHAOS=$chaos} timeout 900 \
      mpirun.openmpi --oversubscribe --bind-to none -np "$np" "$build/tests/oracle/oracle" --steps "$steps" --seed "$seed" \
      "${mode[@]}" --fresh 1 2>&1) || {
      echo "$out" | grep -E "VIOLATION|oracle:" | head -20
      echo "oracle-long: run np $np seed $seed FAILED"
      exit 1
    }
    if echo "$out" | grep -q "mpisnap: rank"; then  # a refused commit or a diagnosis: not silent
      echo "$out" | grep "mpisnap: rank" | head -5
      echo "oracle-long: run np $np seed $seed FAILED"
      exit 1
    fi
    line=$(echo "$out" | grep '^oracle:')
    read -r c ch fl ms <<<"$(echo "$line" | sed -E 's/oracle: ([0-9]+) checkpoints, ([0-9]+) channels, ([0-9]+) in-flight messages, ([0-9]+) messages.*/\1 \2 \3 \4/')"
    total_ckpt=$((total_ckpt + c)) total_channels=$((total_channels + ch)) total_flight=$((total_flight + fl)) total_msgs=$((total_msgs + ms))
    runs=$((runs + 1))
    echo "np $np seed $seed${chaos:+ (chaos)}${mode[*]:+ ${mode[*]}}: $line"
    rm -rf "$work/run"
  done
done
rm -rf "$work"
echo "oracle-long: $runs runs, $total_ckpt checkpoints, $total_channels channels, $total_flight in-flight messages," \
  "$total_msgs messages checked, 0 violations, $(( $(date +%s) - start )) s"
