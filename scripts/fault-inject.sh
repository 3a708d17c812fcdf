#!/usr/bin/env bash
# Fault injection, long mode (by hand): kill/restart trials across the examples and rank counts
# until --trials trials have run. Each trial is one seed of tests/e2e/kill_restart.py: a fresh
# checkpoint directory, --kills SIGKILLs at random moments (the whole job; one rank; a rank while it
# writes its rank file; rank 0 while it commits the manifest), then a run to completion whose answer
# must equal a run that was never killed. Reproducible: trial seeds are 1, 2, 3, ...
#   bash scripts/fault-inject.sh [--trials 200] [--kills 3] [--np "2 4 8"] [--build build]
# Prints one line per batch and "N trials, N identical, 0 lost"; exits non-zero on any loss.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=200 kills=3 nps="2 4 8" build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --trials) trials=$2; shift 2 ;;
    --kills) kills=$2; shift 2 ;;
    --np) nps=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: $0 [--trials N] [--kills K] [--np \"2 4 8\"] [--build DIR]"; exit 2 ;;
  esac
done
if [ ! -x "$build/mpi_examples/bank" ]; then
  bash scripts/install-deps.sh
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)" --target bank ring heat2d >/dev/null
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3  # Debian's, which has h5py for the bank audit
work=$(mktemp -d /tmp/mpisnap-faults-XXXXXX)
declare -A args=([bank]="--steps 300 --work-us 3000" [ring]="--steps 300 --work-us 3000"
                 [heat2d]="--n 256 --iters 300 --work-us 3000")
total=0 identical=0 lost=0 seed=1 batch=5 start=$(date +%s)
while [ "$total" -lt "$trials" ]; do
  for example in bank ring heat2d; do
    for np in $nps; do
      [ "$total" -ge "$trials" ] && break
      n=$(( trials - total < batch ? trials - total : batch ))
      audit=()
      [ "$example" = bank ] && audit=(--audit scripts/bank_audit.py --python "$py")
      set +e
      out=$("$py" tests/e2e/kill_restart.py --mpiexec mpirun --exe "$build/mpi_examples/$example" --np "$np" \
              --args "${args[$example]}" --every 10 --seeds "$n" --first-seed "$seed" --kills "$kills" \
              --crash-points --expected-checkpoints 30 --workdir "$work/$example.np$np.$seed" "${audit[@]}" 2>&1)
      set -e
      summary=$(echo "$out" | tail -1)
      echo "$summary (seeds $seed..$((seed + n - 1)))"
      if ! [[ "$summary" =~ ([0-9]+)\ trials,\ ([0-9]+)\ identical,\ ([0-9]+)\ lost ]]; then
        echo "$out"; echo "fault-inject: unexpected output above"; exit 1
      fi
      total=$((total + BASH_REMATCH[1])); identical=$((identical + BASH_REMATCH[2])); lost=$((lost + BASH_REMATCH[3]))
      [ "${BASH_REMATCH[3]}" = 0 ] || echo "$out"
      rm -rf "$work/$example.np$np.$seed"
      seed=$((seed + n))
    done
  done
done
rm -rf "$work"
echo "$total trials, $identical identical, $lost lost ($(( $(date +%s) - start )) s)"
[ "$lost" -eq 0 ] && [ "$identical" -eq "$total" ]
