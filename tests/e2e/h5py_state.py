#!/usr/bin/env python3
"""The file as a scientist reads it, without the library: layouts_app's checkpoint opened with h5py
alone. Every kind of member is checked for its name, type and shape:
  - vectors and C arrays of plain structs: one compound dataset each, with the struct's member names
    (`cloud`: x as 3 doubles, id as int32, hot as bool);
  - complex numbers in a vector: h5py's complex (a compound of r and i);
  - C arrays of rank 2 and 3, nested std::array, a vector of std::array<double, 3>: N-D datasets;
  - an array_view with its place in the global field: a 4 x 6 dataset with global_offset/global_extent
    (rank 1 of 2: rows 4..7 of 8);
  - a list of strings: one dataset of strings; a string: a string;
  - maps: a group of `keys` and `values` (strings, numbers, a table);
  - booleans: bool; an enum: its underlying integer.
Then the mpisnap Python reader: structured arrays, dicts for maps, lists of str, and assemble()
putting the ranks' blocks of `field` together."""
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
    ck = os.path.join(a.workdir, "h5py-state")
    shutil.rmtree(ck, ignore_errors=True)
    env = mu.environment({"MPISNAP_DIR": ck, "MPISNAP_EVERY": 5, "MPISNAP_KEEP": 1})
    rc, out, err = mu.run(mu.mpiexec(a.mpiexec, 2) + [a.app, "--steps", "12", "--work-us", "0"], env, 120)
    problems = []
    if rc != 0:
        return mu.report("h5py_state", [f"layouts_app failed ({rc}):\n{out}\n{err}"])
    newest = sorted(d for d in os.listdir(ck) if d.startswith("ckpt-"))[-1]
    path = os.path.join(ck, newest, "rank-000001.h5")

    def expect(what, ok, shown):
        print(f"{what}: {shown}")
        if not ok:
            problems.append(f"{what} is {shown}")

    with h5py.File(path, "r") as f:
        st = f["state"]
        cloud = st["cloud"]
        expect("state/cloud", isinstance(cloud, h5py.Dataset) and cloud.dtype.names == ("x", "id", "hot")
               and cloud.dtype["x"].shape == (3,) and cloud.dtype["x"].base == np.dtype("<f8")
               and cloud.dtype["id"] == np.dtype("<i4") and cloud.dtype["hot"] == np.dtype(bool)
               and cloud.ndim == 1, f"{cloud.dtype} {cloud.shape}")
        if isinstance(cloud, h5py.Dataset) and cloud.dtype.names:
            expect("cloud['x']", cloud["x"].shape == (cloud.shape[0], 3), cloud["x"].shape)
        expect("state/parts", st["parts"].dtype.names == ("x", "id", "hot") and st["parts"].shape == (2,),
               f"{st['parts'].dtype} {st['parts'].shape}")
        expect("state/zs", st["zs"].dtype == np.dtype("<c8") and st["zs"].ndim == 1, f"{st['zs'].dtype} {st['zs'].shape}")
        for name, dtype, shape in (("g", "<f8", (3, 4)), ("cube", "<i4", (2, 2, 2)), ("aa", "<f8", (2, 3)),
                                   ("a", "<f8", (4,)), ("points", "<f8", (3, 3)), ("field", "<f8", (4, 6)),
                                   ("seen", "bool", (7,)), ("phase", "<i2", ()), ("step", "<i8", ())):
            d = st[name]
            expect(f"state/{name}", d.dtype == np.dtype(dtype) and d.shape == shape, f"{d.dtype} {d.shape}")
        fld = st["field"]
        expect("state/field global_offset/global_extent",
               list(fld.attrs.get("global_offset", [])) == [4, 0] and list(fld.attrs.get("global_extent", [])) == [8, 6],
               f"{list(fld.attrs.get('global_offset', []))} {list(fld.attrs.get('global_extent', []))}")
        log = st["log"]
        expect("state/log", h5py.check_string_dtype(log.dtype) is not None and log.ndim == 1
               and all(x.decode().startswith("step ") for x in log[()]), f"{log.dtype} {list(log[()])}")
        expect("state/name", st["name"][()].decode().startswith("rank1@"), st["name"][()])
        for name, keys, values in (("counts", "str", "<i8"), ("sparse", "<i8", "<f8"), ("by_id", "<i4", "table")):
            g = st[name]
            ok = isinstance(g, h5py.Group) and set(g.keys()) == {"keys", "values"}
            if ok:
                k, v = g["keys"], g["values"]
                ok = (h5py.check_string_dtype(k.dtype) is not None if keys == "str" else k.dtype == np.dtype(keys))
                ok = ok and (v.dtype.names == ("x", "id", "hot") if values == "table" else v.dtype == np.dtype(values))
                ok = ok and k.shape == v.shape and k.ndim == 1
                shown = f"keys {k.dtype} {k.shape}, values {v.dtype} {v.shape}"
            else:
                shown = f"{g}"
            expect(f"state/{name}", ok, shown)
    sys.path.insert(0, a.reader)
    import mpisnap
    g = mpisnap.open(ck)
    s = g.state(1)
    expect("reader: cloud", isinstance(s["cloud"], np.ndarray) and s["cloud"].dtype.names == ("x", "id", "hot")
           and s["cloud"]["hot"].dtype == np.dtype(bool), type(s["cloud"]))
    expect("reader: counts", isinstance(s["counts"], dict) and all(isinstance(k, str) for k in s["counts"])
           and all(isinstance(v, int) for v in s["counts"].values()), s["counts"])
    expect("reader: by_id", isinstance(s["by_id"], dict) and all(isinstance(k, int) for k in s["by_id"]), s["by_id"])
    expect("reader: log", isinstance(s["log"], list) and all(isinstance(x, str) for x in s["log"]), s["log"])
    expect("reader: seen", isinstance(s["seen"], np.ndarray) and s["seen"].dtype == np.dtype(bool), s["seen"])
    field = g.assemble("field")
    rows = np.arange(8)[:, None] * 100 + np.arange(6)[None, :]  # (2 ranks of 4 rows)
    expect("reader: assemble('field')", field.shape == (8, 6) and np.allclose(field, rows, atol=1e-2),
           f"{field.shape}, row 5: {field[5]}")
    return mu.report("h5py_state", problems)


if __name__ == "__main__":
    sys.exit(main())
