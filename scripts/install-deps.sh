#!/usr/bin/env bash
# Installs the Debian 12 packages mpisnap needs to build, test and run its examples.
# Idempotent: only packages that are missing are installed; nothing is done when all are present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config gfortran
  openmpi-bin libopenmpi-dev
  mpich libmpich-dev
  libhdf5-dev hdf5-tools
  libcereal-dev
  libgtest-dev googletest
  libcli11-dev
  python3 python3-h5py python3-numpy
  procps
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq || echo "install-deps: apt-get update failed; trying the cached package lists"
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
