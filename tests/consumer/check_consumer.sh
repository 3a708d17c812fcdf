#!/usr/bin/env bash
# Installs the build into a private prefix, builds tests/consumer/project against it four times
# (CMake's find_package; the same from a project that lists MPI's libraries first, which the target's
# link options put right; the same from an old project with an old cmake_minimum_required and no C++
# standard, tests/consumer/old_project; pkg-config, with no rpath or environment of our own), the C
# API's tests/consumer/c_project twice (a C-only CMake project; mpicc with pkg-config) and the Fortran
# module's tests/consumer/fortran_project twice (a Fortran-only CMake project; mpifort with pkg-config), and runs
# each: interrupted once, then resumed to the same answer. Then the installed mpisnap-run and mpisnap
# as the README's batch script uses them, and a binary linked MPI-first, which must be refused.
set -euo pipefail
shopt -s extglob
build_dir=$1 source_dir=$2 work=$3 mpiexec=$4
# The MPI family of the build: its own compiler wrappers and launcher options (a bare mpicc is what
# Debian's alternatives chose, which need not be the build's MPI).
if [[ "$(basename "$mpiexec") $(basename "$(readlink -f "$mpiexec")")" == *@(mpich|hydra)* ]]; then
  family=mpich mpicc=mpicc.mpich mpicxx=mpicxx.mpich mpifort=mpifort.mpich launch=("$mpiexec" -n 2)
  mpi_compile=$(mpicxx.mpich -compile_info | cut -d' ' -f2-) mpi_link=$(mpicxx.mpich -link_info | cut -d' ' -f2-)
  fc_compile=$(mpifort.mpich -compile_info | cut -d' ' -f2-) fc_link=$(mpifort.mpich -link_info | cut -d' ' -f2-)
else
  family=openmpi mpicc=mpicc.openmpi mpicxx=mpicxx.openmpi mpifort=mpifort.openmpi launch=("$mpiexec" --oversubscribe -np 2)
  mpi_compile=$(mpicxx.openmpi --showme:compile) mpi_link=$(mpicxx.openmpi --showme:link)
  fc_compile=$(mpifort.openmpi --showme:compile) fc_link=$(mpifort.openmpi --showme:link)
fi
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
cmake -S "$source_dir/../old_project" -B "$work/old" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null 2>"$work/old.log" \
  || { cat "$work/old.log"; exit 1; }
cmake --build "$work/old" >/dev/null
cp "$work/old/consumer" "$work/consumer-old-project"
# (this project finds MPI itself before mpisnap: it names the build's MPI, which the others get from
# the package, whatever Debian's alternatives chose)
cmake -S "$source_dir/../mpi_first_project" -B "$work/mpi-first" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DMPI_C_COMPILER="$(command -v "$mpicc")" -DMPI_CXX_COMPILER="$(command -v "$mpicxx")" >/dev/null
cmake --build "$work/mpi-first" >/dev/null
cp "$work/mpi-first/consumer" "$work/consumer-cmake-mpi-first"
cmake -S "$source_dir/../c_project" -B "$work/c" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/c" >/dev/null
cp "$work/c/consumer" "$work/consumer-c-cmake"
fortran=()
if [[ -e "$(find "$work/prefix" -name mpisnap.mod | head -n 1)" ]]; then  # (a build with MPISNAP_FORTRAN)
  cmake -S "$source_dir/../fortran_project" -B "$work/fortran" -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DMPI_Fortran_COMPILER="$(command -v "$mpifort")" >/dev/null
  cmake --build "$work/fortran" >/dev/null
  cp "$work/fortran/consumer" "$work/consumer-fortran-cmake"
  fortran=("$work/consumer-fortran-cmake" "$work/consumer-fortran-pkgconfig")
fi

libdir=$(dirname "$(find "$work/prefix" -name 'libmpisnap.so' | head -n 1)")
export PKG_CONFIG_PATH="$libdir/pkgconfig"
$mpicxx -std=c++17 "$source_dir/consumer.cpp" -o "$work/consumer-pkgconfig" $(pkg-config --cflags --libs mpisnap)
$mpicc "$source_dir/../c_project/consumer.c" -o "$work/consumer-c-pkgconfig" $(pkg-config --cflags --libs mpisnap)
if [[ ${#fortran[@]} -gt 0 ]]; then
  $mpifort "$source_dir/../fortran_project/consumer.f90" -o "$work/consumer-fortran-pkgconfig" $(pkg-config --cflags --libs mpisnap)
fi

run() { "${launch[@]}" "$@"; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MPISNAP_EVERY=5
for exe in "$work/build/consumer" "$work/consumer-old-project" "$work/consumer-cmake-mpi-first" "$work/consumer-pkgconfig" \
           "$work/consumer-c-cmake" "$work/consumer-c-pkgconfig" "${fortran[@]}"; do
  export MPISNAP_DIR="$work/ckpt-$(basename "$exe")"
  reference=$(MPISNAP_EVERY=0 run "$exe" 20)
  first=$(run "$exe" 20 12)
  second=$(run "$exe" 20)
  echo "$(basename "$exe"): reference [$reference] interrupted [$first] resumed [$second]"
  [[ "$first" == *"resumed=0 step=12"* ]]
  [[ "$second" == *"resumed=1 step=20"* ]]
  [[ "${second#*total=}" == "${reference#*total=}" ]]
done
echo "consumer: find_package (new and old project, a C project${fortran:+, a Fortran project}) and pkg-config builds (C++, C${fortran:+, Fortran}) resume to the reference answer"

# The README's batch script, from the installed package alone: mpisnap-run and mpisnap from PATH.
export MPISNAP_DIR="$work/ckpt-run"
PATH="$work/prefix/bin:$PATH" mpisnap-run --retries 1 --log "$work/run.log" -- \
  "${launch[@]}" "$work/consumer-pkgconfig" 20 >/dev/null
PATH="$work/prefix/bin:$PATH" mpisnap ls "$MPISNAP_DIR" | grep -q committed
grep -q "attempt 1: finished" "$work/run.log"
echo "consumer: the installed mpisnap-run and mpisnap run the job and list its checkpoints"

# The installed Python reader, from the prefix alone (no source tree on the path): the newest
# checkpoint of that job, read as the README shows.
pkg=$(find "$work/prefix" -path '*/dist-packages/mpisnap/__init__.py' | head -n 1)
[[ -n "$pkg" ]] || { echo "consumer: the Python package was not installed"; exit 1; }
(cd / && PYTHONPATH="$(dirname "$(dirname "$pkg")")" /usr/bin/python3 - "$MPISNAP_DIR" <<'PY'
import sys
import mpisnap
g = mpisnap.open(sys.argv[1])
steps = [int(g.state(r)["step"]) for r in range(g.nranks)]
assert g.nranks == 2 and steps[0] == steps[1] > 0, (g, steps)
assert "/prefix/" in mpisnap.__file__, mpisnap.__file__
print(f"consumer: import mpisnap (installed) reads {g}: steps {steps}")
PY
)

# Linked the wrong way round (MPI's libraries before libmpisnap, as a build that appends mpisnap
# after \${MPI_CXX_LIBRARIES} does): nothing would be intercepted. The Session must refuse, say how
# to fix the link, and end the job with status 70.
g++ -std=c++17 $mpi_compile $(pkg-config --cflags mpisnap) "$source_dir/consumer.cpp" -o "$work/consumer-mpi-first" \
  $mpi_link $(pkg-config --libs mpisnap) -Wl,-rpath,"$libdir"
export MPISNAP_DIR="$work/ckpt-mpi-first"
set +e
out=$(run "$work/consumer-mpi-first" 20 2>&1)
status=$?
set -e
if [[ $status -ne 70 || "$out" != *"not to mpisnap's wrappers"* || "$out" != *"Link libmpisnap first"* ]]; then
  echo "consumer: an MPI-first link was not refused (status $status):"
  echo "$out" | head -20
  exit 1
fi
echo "consumer: an MPI-first link is refused with status 70 and says how to fix it"

# The same for a Fortran program: MPI's Fortran libraries ahead of libmpisnap would bind its Fortran
# calls (and MPI_INIT) to MPI's own entry points, which call PMPI_* directly.
if [[ ${#fortran[@]} -gt 0 ]]; then
  gfortran $fc_compile $(pkg-config --cflags mpisnap) "$source_dir/../fortran_project/consumer.f90" \
    -J "$work" -o "$work/consumer-fortran-mpi-first" $fc_link $(pkg-config --libs mpisnap) -Wl,-rpath,"$libdir"
  export MPISNAP_DIR="$work/ckpt-fortran-mpi-first"
  set +e
  out=$(run "$work/consumer-fortran-mpi-first" 20 2>&1)
  status=$?
  set -e
  if [[ $status -ne 70 || "$out" != *"not to mpisnap's wrappers"* ]]; then
    echo "consumer: a Fortran program linked MPI-first was not refused (status $status):"
    echo "$out" | head -20
    exit 1
  fi
  echo "consumer: a Fortran program linked MPI-first is refused with status 70"
fi
