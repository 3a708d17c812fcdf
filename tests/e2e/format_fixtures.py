#!/usr/bin/env python3
"""Checkpoints of older file formats still restore: each checked-in fixture (tests/fixtures/format-1.<m>,
written by the library of that format from format_fixture_app at safe point 5, one message per channel
in flight) is copied to a fresh directory and restored by today's library, which then runs on to the
end. The final digests must equal a run of today's library that was never stopped, so the old
file's state (its vector of structs and map in the old per-element layout included) and its channel
state come back exactly. The fixture must also pass `mpisnap verify`, and the Python reader must
find its channel state (one message per channel, each sender named by its world rank). `current`
writes such a checkpoint with today's library first and checks it alike."""
import argparse
import os
import shutil
import subprocess
import sys

import mpirun_util as mu

STEPS = 12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--cli", required=True, help="the mpisnap command")
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--reader", help="lib/python, for the Python reader's view of the fixture")
    ap.add_argument("minor", help="the format's minor version (a fixture directory format-1.<minor>), or "
                    "'current': a fixture written by today's library first")
    a = ap.parse_args()
    problems = []
    work = os.path.join(a.workdir, f"format-1.{a.minor}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cmd = mu.mpiexec(a.mpiexec, 2) + [a.app, "--steps", str(STEPS)]

    fresh = os.path.join(work, "fresh")
    rc, out, err = mu.run(cmd, mu.environment({"MPISNAP_DIR": fresh, "MPISNAP_EVERY": 0}), 120)
    if rc != 0:
        return mu.report(f"format_fixtures 1.{a.minor}", [f"the reference run failed ({rc}):\n{out}\n{err}"])
    reference = mu.results(out)

    old = os.path.join(work, "old")
    if a.minor == "current":
        # Today's format, written as the fixtures were: the same checks then cover the reader of
        # the newest layout (the Python reader's included).
        rc, out, err = mu.run(mu.mpiexec(a.mpiexec, 2) + [a.app, "--steps", "7"],
                              mu.environment({"MPISNAP_DIR": old, "MPISNAP_EVERY": 5, "MPISNAP_KEEP": 1}), 120)
        if rc != 0 or not os.path.isdir(os.path.join(old, "ckpt-00000001")):
            return mu.report("format_fixtures current", [f"writing today's fixture failed ({rc}):\n{out}\n{err}"])
    else:
        shutil.copytree(os.path.join(a.fixtures, f"format-1.{a.minor}"), old)
    v = subprocess.run([a.cli, "verify", old], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(v.stdout.strip())
    if v.returncode != 0:
        problems.append(f"mpisnap verify refuses the format 1.{a.minor} fixture:\n{v.stdout}")
    if a.reader:
        sys.path.insert(0, a.reader)
        import mpisnap
        g = mpisnap.open(old)
        seen = sorted((m.source_world, m.dest, m.tag, len(m.payload)) for m in g.messages)
        print(f"python reader: {seen}")
        if seen != [(0, 1, 4, 8), (1, 0, 4, 8)]:
            problems.append(f"the Python reader finds {seen} in the format 1.{a.minor} fixture's channels, "
                            "not one 8-byte message of tag 4 each way")
    rc, out, err = mu.run(cmd, mu.environment({"MPISNAP_DIR": old, "MPISNAP_EVERY": 0}), 120)
    print(out.strip())
    if rc != 0:
        problems.append(f"restoring the format 1.{a.minor} fixture failed ({rc}):\n{out}\n{err}")
    elif "resumed from checkpoint 1 at safe point 5 (step 5)" not in out:
        problems.append(f"the run did not resume from the fixture's checkpoint:\n{out}\n{err}")
    elif mu.results(out) != reference:
        problems.append(f"restored from format 1.{a.minor}: {mu.results(out)}, never stopped: {reference}")
    return mu.report(f"format_fixtures 1.{a.minor}", problems)


if __name__ == "__main__":
    sys.exit(main())
