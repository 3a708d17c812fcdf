#!/usr/bin/env python3
"""A test on the simulated cluster (simcluster.py): brings the cluster up, runs a command with
@MPIEXEC@ replaced by the cluster's mpiexec and @LOCALDIR@ by the path of the nodes' local storage, brings it down whatever happened. Exits 77 (skip) where
namespaces cannot be made (not root, no `ip netns`)."""
import argparse
import os
import subprocess
import sys

import simcluster


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--family", choices=["openmpi", "mpich"], required=True)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command and a.command[0] == "--" else a.command
    why = simcluster.can_run()
    if why:
        print(f"cluster test {a.name}: SKIP: {why}")
        return simcluster.SKIP
    directory = os.path.join(a.workdir, f"cluster-{a.name}")
    try:
        wrapper = simcluster.up(a.name, a.nodes, a.slots, a.family, directory)
        local = simcluster.local_dir(directory)
        cmd = [wrapper if c == "@MPIEXEC@" else local if c == "@LOCALDIR@" else c for c in cmd]
        sys.stdout.flush()
        return subprocess.run(cmd).returncode
    finally:
        simcluster.down(a.name, a.nodes)


if __name__ == "__main__":
    raise SystemExit(main())
