#!/usr/bin/env python3
"""Audit the bank example's checkpoints, as in the lecture: for every committed checkpoint,

    sum of the balances in the ranks' states + sum of the amounts in recorded channels
        == number of ranks * initial balance

Reads the HDF5 files with h5py only (no mpisnap code): state/balance of each rank, and each recorded
message of channel/ on communicator 0 with the transfer tag (its first 8 bytes are the amount).
Exit status 0 when every checkpoint balances; with --require-in-flight, also require that at least
one checkpoint recorded money in flight (otherwise the audit proves nothing about channels)."""
import argparse
import os
import sys

import h5py
import numpy as np

TRANSFER_TAG = 7


def committed(directory):
    out = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        path = os.path.join(directory, name)
        if name.startswith("ckpt-") and os.path.exists(os.path.join(path, "manifest.h5")):
            out.append(path)
    return out


def audit(path, initial):
    with h5py.File(os.path.join(path, "manifest.h5"), "r") as m:
        nranks = int(m["checkpoint/nranks"][()])
        safe_point = int(m["checkpoint/safe_point"][()])
    balances = 0
    in_flight = 0
    messages = 0
    for r in range(nranks):
        with h5py.File(os.path.join(path, f"rank-{r:06d}.h5"), "r") as f:
            balances += int(f["state/balance"][()])
            comm = f["channel/comm"][:]
            tag = f["channel/tag"][:]
            length = f["channel/length"][:]
            payload = f["channel/payload"][:].tobytes()
            offset = 0
            for c, t, n in zip(comm, tag, length):
                n = int(n)
                if int(c) == 0 and int(t) == TRANSFER_TAG:
                    in_flight += int(np.frombuffer(payload[offset:offset + 8], dtype="<i8")[0])
                    messages += 1
                offset += n
    total = balances + in_flight
    return nranks, safe_point, balances, in_flight, messages, total == nranks * initial, total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory", help="the checkpoint directory (MPISNAP_DIR)")
    ap.add_argument("--initial", type=int, default=1000000, help="initial balance per rank")
    ap.add_argument("--require-in-flight", action="store_true")
    a = ap.parse_args()
    paths = committed(a.directory)
    if not paths:
        print(f"bank audit: no committed checkpoint in {a.directory}")
        return 0 if not a.require_in_flight else 1
    bad = 0
    with_channels = 0
    for path in paths:
        nranks, sp, balances, flight, msgs, ok, total = audit(path, a.initial)
        with_channels += 1 if msgs else 0
        bad += 0 if ok else 1
        print(f"{os.path.basename(path)} (safe point {sp}, {nranks} ranks): balances {balances} + in flight {flight} "
              f"({msgs} transfers) = {total} {'OK' if ok else 'MISMATCH, expected %d' % (nranks * a.initial)}")
    print(f"bank audit: {len(paths)} checkpoint(s), {with_channels} with money in flight, {bad} mismatch(es)")
    if bad:
        return 1
    if a.require_in_flight and with_channels == 0:
        print("bank audit: no checkpoint recorded money in flight")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
