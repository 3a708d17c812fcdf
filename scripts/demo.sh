#!/usr/bin/env bash
# The main job: build mpisnap, run the bank example on 4 ranks with a checkpoint every 20 steps,
# kill the whole job with SIGKILL half way, restart it with the same command, and show that it
# resumed from the newest committed checkpoint and ended with exactly the answer of a run that was
# never killed. Finally audit every checkpoint (money in states + money in flight is constant).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-deps.sh
build=${MPISNAP_BUILD_DIR:-build}
# Open MPI, named explicitly (with MPICH installed beside it, Debian's alternatives decide what a bare
# mpicc or mpirun means).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMPI_C_COMPILER=mpicc.openmpi -DMPI_CXX_COMPILER=mpicxx.openmpi \
  -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.openmpi)" >/dev/null
cmake --build "$build" -j"$(nproc)" --target bank >/dev/null

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/mpisnap-demo-XXXXXX)
app=("$build/mpi_examples/bank" --steps 600 --work-us 4000)
run=(mpirun.openmpi --oversubscribe --bind-to none -np 4 "${app[@]}")

echo "== 1. a run that is never killed (the reference answer)"
MPISNAP_DIR="$work/reference" "${run[@]}" | grep '^RESULT' | tee "$work/reference.txt"

echo
echo "== 2. the same job with checkpoints every 20 steps, killed with SIGKILL after 1.5 s"
export MPISNAP_DIR="$work/checkpoints" MPISNAP_EVERY=20 MPISNAP_KEEP=100 MPISNAP_VERBOSE=1
setsid "${run[@]}" >"$work/killed.txt" 2>&1 &
job=$!
sleep 1.5
pkill -KILL -s "$job" || true
wait "$job" 2>/dev/null || true
echo "killed. committed checkpoints:"
ls "$MPISNAP_DIR" | grep "^ckpt-" | while read -r d; do
  if [ -f "$MPISNAP_DIR/$d/manifest.h5" ]; then echo "  $d (committed)"; else echo "  $d (not committed: the kill interrupted it)"; fi
done

echo
echo "== 3. the same command again: it resumes"
"${run[@]}" 2>&1 | tee "$work/resumed.txt" | grep -E '^(resumed|RESULT)|mpisnap: resumed'
grep '^RESULT' "$work/resumed.txt" >"$work/resumed-results.txt"

echo
echo "== 4. audit of every committed checkpoint (lecture's bank invariant)"
/usr/bin/python3 scripts/bank_audit.py "$MPISNAP_DIR" --require-in-flight | tail -n 4

echo
if ! grep -q '^resumed from checkpoint' "$work/resumed.txt"; then
  echo "DEMO FAILED: the restarted job did not resume from a checkpoint"
  exit 1
fi
if diff -u "$work/reference.txt" "$work/resumed-results.txt"; then
  echo "DEMO OK: killed at 1.5 s, resumed from the newest committed checkpoint, same answer bit for bit."
  echo "(files: $work; inspect with h5dump $MPISNAP_DIR/ckpt-*/manifest.h5)"
else
  echo "DEMO FAILED: the resumed job's answer differs from the reference"
  exit 1
fi
