#!/usr/bin/env python3
"""Two storage tiers on the simulated cluster (3 nodes x 2 ranks, each node its own local storage):

  node lost   a run with MPISNAP_FLUSH=stop (nothing reaches the global tier before the end) loses
              node 2 mid-run: its processes are killed and its local storage is wiped. The restart
              must restore the newest checkpoint from the other nodes' local tiers and node 2's
              ranks' partner copies, and end with the reference run's RESULT lines.
  all lost    a run flushing every checkpoint loses every node and all local storage; in addition
              the newest checkpoint's flush is cut off (the global tier has some of its rank files
              and no manifest). The restart must restore the newest complete checkpoint from the
              global tier, never the cut-off one, and end with the reference RESULT lines.

Exits 77 (skip) where namespaces cannot be made."""
import argparse
import glob
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import mpirun_util as mu  # noqa: E402
import simcluster  # noqa: E402

NODES, SLOTS = 3, 2


def committed(directory):
    return sorted(int(m.group(1)) for p in glob.glob(os.path.join(directory, "ckpt-*", "manifest.h5"))
                  if (m := re.search(r"ckpt-(\d+)", p)))


def local_committed(workdir, node):
    return committed(os.path.join(simcluster.node_storage(workdir, node), "mpisnap-*"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=["openmpi", "mpich"], required=True)
    ap.add_argument("--exe", required=True)
    ap.add_argument("--args", default="")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--timeout", type=float, default=180)
    a = ap.parse_args()
    why = simcluster.can_run()
    if why:
        print(f"tiers test: SKIP: {why}")
        return simcluster.SKIP
    name = f"tiers-{a.family}"
    cluster = os.path.join(os.path.abspath(a.workdir), "cluster")
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    problems = []
    try:
        wrapper = simcluster.up(name, NODES, SLOTS, a.family, cluster)
        cmd = mu.mpiexec(wrapper, NODES * SLOTS) + [a.exe] + a.args.split()
        exe = os.path.basename(a.exe)
        local = simcluster.local_dir(cluster)

        rc, out, err = mu.run(cmd, mu.environment({"MPISNAP_DIR": os.path.join(a.workdir, "reference")}), a.timeout)
        reference = mu.results(out)
        if rc != 0 or not reference:
            print(f"reference run failed (exit {rc}):\n{out}\n{err}")
            return 1

        def wipe_all():
            for i in range(1, NODES + 1):
                simcluster.wipe_node(cluster, i)

        def run_until(env, log, ready, what):
            """Starts the job, waits until ready() (polling), then returns the job (still running)."""
            job = mu.Job(cmd, env, log)
            deadline = time.time() + a.timeout
            while time.time() < deadline and job.proc.poll() is None and not ready():
                time.sleep(0.05)
            if job.proc.poll() is not None:
                problems.append(f"{what}: the job ended before the kill (see {log})")
            return job

        def restart(env, log, expect):
            job = mu.Job(cmd, env, log)
            code = job.wait(a.timeout)
            if code is None:
                job.kill_all()
            else:
                job.reap()
            with open(log) as f:
                text = f.read()
            restoring = [l for l in text.splitlines() if "restoring checkpoint" in l]
            print(f"  restart: exit {code}; {restoring[0] if restoring else 'no restoring line'}")
            if code != 0:
                problems.append(f"restart exited {code} (see {log})")
            if mu.results(text) != reference:
                problems.append(f"restart's RESULT lines differ from the reference (see {log})")
            if not restoring or not re.search(expect, restoring[0]):
                problems.append(f"restart did not restore as expected ({expect!r}; see {log})")
            return restoring[0] if restoring else ""

        # -- node lost: nothing on the global tier; node 2's ranks come back from their partner copies.
        wipe_all()
        gdir = os.path.join(a.workdir, "node-lost")
        env = mu.environment({"MPISNAP_DIR": gdir, "MPISNAP_LOCAL_DIR": local, "MPISNAP_EVERY": a.every,
                              "MPISNAP_FLUSH": "stop", "MPISNAP_KEEP_LOCAL": 2})
        job = run_until(env, os.path.join(a.workdir, "node-lost-run.log"),
                        lambda: len(local_committed(cluster, 3)) >= 1 and local_committed(cluster, 1)
                        and max(local_committed(cluster, 1)) >= 3, "node lost")
        simcluster.kill_node(name, 2)
        simcluster.wipe_node(cluster, 2)
        newest = max(local_committed(cluster, 1) or [0])
        if job.wait(30) is None:
            job.kill_all()
        else:
            job.reap()
        print(f"node lost: node 2 killed and wiped; newest local checkpoint on node 1: {newest}; "
              f"global tier: {committed(gdir)}")
        if committed(gdir):
            problems.append(f"node lost: the global tier has checkpoints {committed(gdir)} although MPISNAP_FLUSH=stop")
        line = restart(env, os.path.join(a.workdir, "node-lost-restart.log"),
                       r"partner copies on other nodes \(rank 2,3\)")
        m = re.search(r"restoring checkpoint (\d+)", line)
        if m and int(m.group(1)) < newest:
            problems.append(f"node lost: restored checkpoint {m.group(1)}, older than the newest committed ({newest})")

        # -- all lost: every node and all local storage gone; the newest flush cut off half way.
        wipe_all()
        gdir = os.path.join(a.workdir, "all-lost")
        env = mu.environment({"MPISNAP_DIR": gdir, "MPISNAP_LOCAL_DIR": local, "MPISNAP_EVERY": a.every,
                              "MPISNAP_FLUSH": "every", "MPISNAP_KEEP": 1000})
        job = run_until(env, os.path.join(a.workdir, "all-lost-run.log"), lambda: len(committed(gdir)) >= 3, "all lost")
        job.kill_all()
        for i in range(1, NODES + 1):
            simcluster.kill_node(name, i, quiet=True)
        wipe_all()
        done = committed(gdir)
        # A flush interrupted by the loss: the newest checkpoint's directory with some rank files and
        # no manifest (what a kill between the copies and the global commit leaves).
        cut = done[-1]
        cut_dir = os.path.join(gdir, f"ckpt-{cut:08d}")
        os.remove(os.path.join(cut_dir, "manifest.h5"))
        for f in sorted(glob.glob(os.path.join(cut_dir, "rank-*.h5")))[3:]:
            os.remove(f)
        print(f"all lost: every node killed and wiped; global tier {done}, checkpoint {cut}'s flush cut off")
        line = restart(env, os.path.join(a.workdir, "all-lost-restart.log"), r"global tier .*\(rank 0,1,2,3,4,5\)")
        m = re.search(r"restoring checkpoint (\d+)", line)
        if m and int(m.group(1)) != done[-2]:
            problems.append(f"all lost: restored checkpoint {m.group(1)}, not {done[-2]} (the newest complete one)")
    finally:
        simcluster.down(name, NODES)
    return mu.report("tiers on the simulated cluster", problems)


if __name__ == "__main__":
    sys.exit(main())
