#!/usr/bin/env python3
"""heat2d in C++, C and Fortran: one computation, one answer, one file. Each is run to the same
iteration with a checkpoint at the end; their RESULT lines must be equal (bit for bit), and their
newest checkpoints must hold, per rank, the same datasets under /state (iter, u, v) with the same
type, shape ((rows + 2) x n: the Fortran grid u(0:n-1, 0:rows+1) stored with its dimensions
reversed) and the same values, read with h5py alone."""
import argparse
import os
import shutil

import h5py
import numpy as np

import mpirun_util as mu


def newest(ck):
    ckpts = sorted(d for d in os.listdir(ck) if d.startswith("ckpt-"))
    return os.path.join(ck, ckpts[-1]) if ckpts else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--exe", action="append", required=True, help="heat2d, heat2d_c, heat2d_f (the first is the reference)")
    ap.add_argument("--np", type=int, default=3)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    problems, runs = [], []
    for exe in a.exe:
        name = os.path.basename(exe)
        ck = os.path.join(a.workdir, f"languages-{name}")
        shutil.rmtree(ck, ignore_errors=True)
        env = mu.environment({"MPISNAP_DIR": ck, "MPISNAP_KEEP": 1})
        rc, out, err = mu.run(mu.mpiexec(a.mpiexec, a.np) + [exe, "--n", "40", "--iters", "30", "--checkpoint-every", "15"],
                              env, 120)
        if rc != 0:
            problems.append(f"{name} failed ({rc}):\n{out}\n{err}")
            continue
        runs.append((name, mu.results(out), newest(ck)))
    if problems:
        return mu.report("languages", problems)
    ref_name, ref_result, ref_ck = runs[0]
    print(f"{ref_name}: {ref_result}")
    for name, result, ck in runs[1:]:
        print(f"{name}: {result}")
        if result != ref_result or not result:
            problems.append(f"{name}'s RESULT {result} is not {ref_name}'s {ref_result}")
        if not ck or not ref_ck:
            problems.append(f"{name} or {ref_name} left no checkpoint")
            continue
        for r in range(a.np):
            f_ref = h5py.File(os.path.join(ref_ck, f"rank-{r:06d}.h5"), "r")
            f = h5py.File(os.path.join(ck, f"rank-{r:06d}.h5"), "r")
            names, ref_names = sorted(f["state"].keys()), sorted(f_ref["state"].keys())
            if names != ref_names:
                problems.append(f"{name} rank {r}: /state holds {names}, {ref_name}'s {ref_names}")
                continue
            for d in names:
                x, y = f_ref["state"][d], f["state"][d]
                if x.dtype != y.dtype or x.shape != y.shape:
                    problems.append(f"{name} rank {r}: /state/{d} is {y.dtype} {y.shape}, {ref_name}'s {x.dtype} {x.shape}")
                elif not np.array_equal(x[()], y[()]):
                    problems.append(f"{name} rank {r}: /state/{d} differs from {ref_name}'s")
            rows = f["state"]["u"].shape
            print(f"{name} rank {r}: /state/u {rows} {f['state']['u'].dtype}, iter {int(f['state']['iter'][()])}: as {ref_name}'s")
    return mu.report("languages", problems)


if __name__ == "__main__":
    raise SystemExit(main())
