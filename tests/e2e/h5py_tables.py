#!/usr/bin/env python3
"""The file as a scientist reads it, without the library: layouts_app's checkpoint opened with h5py
alone. Its vectors of plain structs are one compound dataset each, with the struct's member names
and types (`cloud`: x as 3 doubles, id as int32, hot as uint8; `zs`: complex<float> as real and
imag), of one record per element; and the mpisnap Python reader returns them as numpy structured
arrays (hot as bool)."""
import argparse
import os
import shutil
import sys

import h5py
import numpy as np

import mpirun_util as mu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--reader", required=True, help="lib/python (the mpisnap package)")
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    ck = os.path.join(a.workdir, "h5py-tables")
    shutil.rmtree(ck, ignore_errors=True)
    env = mu.environment({"MPISNAP_DIR": ck, "MPISNAP_EVERY": 5, "MPISNAP_KEEP": 1})
    rc, out, err = mu.run(mu.mpiexec(a.mpiexec, 2) + [a.app, "--steps", "12", "--work-us", "0"], env, 120)
    problems = []
    if rc != 0:
        return mu.report("h5py_tables", [f"layouts_app failed ({rc}):\n{out}\n{err}"])
    newest = sorted(d for d in os.listdir(ck) if d.startswith("ckpt-"))[-1]
    path = os.path.join(ck, newest, "rank-000001.h5")
    with h5py.File(path, "r") as f:
        cloud = f["state/cloud"]
        print(f"state/cloud: {cloud.dtype}, shape {cloud.shape}")
        if not isinstance(cloud, h5py.Dataset) or cloud.dtype.names != ("x", "id", "hot"):
            problems.append(f"state/cloud is not one table of (x, id, hot): {cloud}")
        else:
            if cloud.dtype["x"].shape != (3,) or cloud.dtype["x"].base != np.dtype("<f8") or cloud.dtype["id"] != np.dtype("<i4"):
                problems.append(f"state/cloud members have the wrong types: {cloud.dtype}")
            if cloud.ndim != 1 or cloud.shape[0] < 1:
                problems.append(f"state/cloud has shape {cloud.shape}")
            x = cloud["x"]
            print(f"    cloud['x'][0] = {x[0]}, cloud['id'] = {cloud['id'][:]}")
            if x.shape != (cloud.shape[0], 3):
                problems.append(f"cloud['x'] reads as {x.shape}")
        zs = f["state/zs"]
        print(f"state/zs: {zs.dtype}, shape {zs.shape}")
        if zs.dtype.names != ("real", "imag") or zs.dtype["real"] != np.dtype("<f4"):
            problems.append(f"state/zs is not a table of (real, imag) float32: {zs.dtype}")
    sys.path.insert(0, a.reader)
    import mpisnap
    s = mpisnap.open(ck).state(1)
    if not isinstance(s["cloud"], np.ndarray) or s["cloud"].dtype.names != ("x", "id", "hot"):
        problems.append(f"the Python reader gives cloud as {type(s['cloud'])}")
    elif s["cloud"]["hot"].dtype != np.dtype(bool):
        problems.append(f"the Python reader gives cloud['hot'] as {s['cloud']['hot'].dtype}, not bool")
    else:
        print(f"mpisnap.open(...).state(1)['cloud']: id {s['cloud']['id']}, hot {s['cloud']['hot']}")
    return mu.report("h5py_tables", problems)


if __name__ == "__main__":
    sys.exit(main())
