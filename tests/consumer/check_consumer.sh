#!/usr/bin/env bash
# Installs the build into a private prefix, builds tests/consumer/project against it twice (CMake's
# find_package and pkg-config), and runs it: interrupted once, then resumed to the same answer.
set -euo pipefail
build_dir=$1 source_dir=$2 work=$3 mpiexec=$4
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null

libdir=$(dirname "$(find "$work/prefix" -name 'libmpisnap.so' | head -n 1)")
export PKG_CONFIG_PATH="$libdir/pkgconfig"
mpicxx -std=c++17 "$source_dir/consumer.cpp" -o "$work/consumer-pkgconfig" $(pkg-config --cflags --libs mpisnap) \
  -Wl,-rpath,"$libdir"

run() { "$mpiexec" --oversubscribe -np 2 "$@"; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MPISNAP_EVERY=5
for exe in "$work/build/consumer" "$work/consumer-pkgconfig"; do
  export MPISNAP_DIR="$work/ckpt-$(basename "$exe")"
  reference=$(MPISNAP_EVERY=0 run "$exe" 20)
  first=$(run "$exe" 20 12)
  second=$(run "$exe" 20)
  echo "$(basename "$exe"): reference [$reference] interrupted [$first] resumed [$second]"
  [[ "$first" == *"resumed=0 step=12"* ]]
  [[ "$second" == *"resumed=1 step=20"* ]]
  [[ "${second#*total=}" == "${reference#*total=}" ]]
done
echo "consumer: find_package and pkg-config builds resume to the reference answer"
