#!/usr/bin/env python3
"""Audit the bank example's checkpoints, as in the lecture: for every committed checkpoint,

    sum of the balances in the ranks' states + sum of the amounts in flight == ranks * initial

through the mpisnap reader (`import mpisnap`; from this source tree when it is not installed).
Exit status 0 when every checkpoint balances; with --require-in-flight, also require that at least
one checkpoint recorded money in flight (otherwise the audit proves nothing about channels)."""
import argparse
import os
import sys

try:
    import mpisnap
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "python"))
    import mpisnap

TRANSFER_TAG = 7  # bank.cpp: a transfer is two int64, the amount first


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory", help="the checkpoint directory (MPISNAP_DIR)")
    ap.add_argument("--initial", type=int, default=1000000, help="initial balance per rank")
    ap.add_argument("--require-in-flight", action="store_true")
    a = ap.parse_args()
    bad = with_money = 0
    ids = mpisnap.checkpoints(a.directory)
    for cid in ids:
        g = mpisnap.open(a.directory, cid)
        balances = sum(int(s["balance"]) for s in g.states())
        transfers = [int(m.as_("<i8")[0]) for m in g.messages if m.comm == 0 and m.tag == TRANSFER_TAG]
        total, expected = balances + sum(transfers), g.nranks * a.initial
        bad += total != expected
        with_money += bool(transfers)
        print(f"ckpt-{cid:08d} (safe point {g.safe_point}, {g.nranks} ranks): balances {balances} + in flight "
              f"{sum(transfers)} ({len(transfers)} transfers) = {total} "
              f"{'OK' if total == expected else f'MISMATCH, expected {expected}'}")
    print(f"bank audit: {len(ids)} checkpoint(s), {with_money} with money in flight, {bad} mismatch(es)")
    return 1 if bad or (a.require_in_flight and with_money == 0) else 0


if __name__ == "__main__":
    sys.exit(main())
