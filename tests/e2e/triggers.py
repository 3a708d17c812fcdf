#!/usr/bin/env python3
"""Checkpoints that are not every N safe points, through a real mpirun: every T seconds, SIGUSR1,
request_checkpoint() from a non-zero rank, a stop signal (SIGUSR2, the default exit signal, and
SIGTERM) that checkpoints and stops the job with status 75 (with two storage tiers: only once the
checkpoint is on the global tier), and ranks running at different speeds.
Every committed checkpoint must be at one common safe point (the manifest's and every rank file's),
and a job stopped by a stop signal must resume from its checkpoint to the answer of a run that was
never stopped.

usage: triggers.py --mpiexec MPIEXEC --app trigger_app --workdir DIR [--python PY] SCENARIO"""
import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py

import mpirun_util as mu

NP = 3


def committed(ckdir):
    return sorted(p for p in glob.glob(os.path.join(ckdir, "ckpt-*")) if os.path.exists(os.path.join(p, "manifest.h5")))


def safe_points(ckpt):
    with h5py.File(os.path.join(ckpt, "manifest.h5"), "r") as m:
        manifest = int(m["checkpoint/safe_point"][()])
        nranks = int(m["checkpoint/nranks"][()])
    ranks = []
    for r in range(nranks):
        with h5py.File(os.path.join(ckpt, f"rank-{r:06d}.h5"), "r") as f:
            ranks.append(int(f["meta"]["safe_point"][0]))  # (format 1.6: /meta is one record)
    return manifest, ranks


def check_common(ckdir, expect_min, expect_max=None):
    cps = committed(ckdir)
    problems = []
    if len(cps) < expect_min or (expect_max is not None and len(cps) > expect_max):
        problems.append(f"{len(cps)} committed checkpoint(s), expected {expect_min}..{expect_max}")
    for c in cps:
        m, ranks = safe_points(c)
        print(f"    {os.path.basename(c)}: manifest safe point {m}, ranks {ranks}")
        if any(r != m for r in ranks):
            problems.append(f"{os.path.basename(c)}: ranks disagree on the safe point")
    return problems


class Runner:
    def __init__(self, a):
        self.a = a

    def cmd(self, *app_args, mca=()):
        return mu.mpiexec(self.a.mpiexec, NP) + list(mca) + [self.a.app] + [str(x) for x in app_args]

    def run(self, ckdir, env, *app_args, timeout=120):
        e = {"MPISNAP_DIR": ckdir, "MPISNAP_VERBOSE": 1}
        e.update(env)
        return mu.run(self.cmd(*app_args), mu.environment(e), timeout)

    def run_signalled(self, ckdir, env, sig, after, *app_args):
        e = {"MPISNAP_DIR": ckdir, "MPISNAP_VERBOSE": 1}
        e.update(env)
        p = subprocess.Popen(self.cmd(*app_args), env=mu.environment(e), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
        time.sleep(after)
        p.send_signal(sig)  # to mpirun, which passes it on to the ranks
        out, _ = p.communicate(timeout=120)
        return p.returncode, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("scenario")
    a = ap.parse_args()
    r = Runner(a)
    ck = os.path.join(a.workdir, a.scenario)
    shutil.rmtree(ck, ignore_errors=True)
    os.makedirs(a.workdir, exist_ok=True)
    steps = ("--steps", 200, "--work-us", 10000)
    refdir = ck + "-reference"
    shutil.rmtree(refdir, ignore_errors=True)
    rc, out, err = r.run(refdir, {"MPISNAP_TRIGGERS": 0}, *steps)
    reference = mu.results(out)
    if rc != 0 or not reference:
        print(f"reference run failed: {rc}\n{out}\n{err}")
        return 1
    problems = []

    if a.scenario == "interval":
        rc, out, err = r.run(ck, {"MPISNAP_INTERVAL": 0.4}, *steps)
        problems += check_common(ck, 2)
    elif a.scenario == "sigusr1":
        rc, out = r.run_signalled(ck, {}, signal.SIGUSR1, 1.2, *steps)
        problems += check_common(ck, 1, 1)
    elif a.scenario == "request":
        rc, out, err = r.run(ck, {}, *steps, "--request-rank", 2, "--request-step", 60)
        problems += check_common(ck, 1, 1)
        if committed(ck) and safe_points(committed(ck)[0])[0] < 61:
            problems.append("the requested checkpoint is before the request")
    elif a.scenario == "slow_rank":
        # One rank sleeps 30 ms more every step; checkpoints every 0.3 s must still be agreed on.
        rc, out, err = r.run(ck, {"MPISNAP_INTERVAL": 0.3}, "--steps", 120, "--work-us", 2000, "--slow-rank", 1,
                             "--slow-us", 30000)
        problems += check_common(ck, 2)
        reference = None  # a different run length: only completion and agreement are checked here
    elif a.scenario in ("stop_usr2", "stop_term"):
        sig = signal.SIGUSR2 if a.scenario == "stop_usr2" else signal.SIGTERM
        rc, out = r.run_signalled(ck, {}, sig, 1.2, *steps)
        print(f"    stopped: exit {rc}")
        # mpirun passes the ranks' status 75 on; after SIGTERM to mpirun itself it exits 1.
        if rc != (75 if sig == signal.SIGUSR2 else 1):
            problems.append(f"exit status {rc}")
        if "stopping at step" not in out:
            problems.append("the job did not stop at the checkpoint")
        problems += check_common(ck, 1, 1)
        rc, out, err = r.run(ck, {}, *steps)
        if "resumed from checkpoint" not in out:
            problems.append("the next run did not resume")
    elif a.scenario == "stop_tiers":
        # Two tiers, flushed only at the stop signal: status 75 means the stop's checkpoint is
        # committed on the global tier; when its flush fails the status is not 75 and says why, and
        # the next run still resumes (from the node-local tier).
        local = ck + "-local"
        shutil.rmtree(local, ignore_errors=True)
        tiers = {"MPISNAP_LOCAL_DIR": local, "MPISNAP_FLUSH": "stop"}
        rc, out = r.run_signalled(ck, tiers, signal.SIGUSR2, 1.2, *steps)
        print(f"    stopped: exit {rc}")
        if rc != 75 or "stopping at step" not in out:
            problems.append(f"the stop with two tiers: exit {rc}\n{out}")
        problems += check_common(ck, 1, 1)  # the stop's checkpoint alone reached the global tier
        rc, out, err = r.run(ck, tiers, *steps)
        if "resumed from checkpoint" not in out or mu.results(out) != reference:
            problems.append(f"the run after the stop did not resume to the reference answer:\n{out}\n{err}")
        broken = ck + "-broken"
        shutil.rmtree(broken, ignore_errors=True)
        shutil.rmtree(local, ignore_errors=True)
        fault = dict(tiers, MPISNAP_TEST_FAULT=f"fsync@{os.path.basename(broken)}/ckpt-:EIO:*:1+")
        rc, out = r.run_signalled(broken, fault, signal.SIGUSR2, 1.2, *steps)
        print(f"    stopped with the global flush failing: exit {rc}")
        if rc in (0, 75) or "did not reach the global tier" not in out:
            problems.append(f"a stop whose checkpoint never reached the global tier: exit {rc}\n{out}")
        if committed(broken):
            problems.append(f"a checkpoint whose flush failed is committed on the global tier: {committed(broken)}")
        rc, out, err = r.run(broken, tiers, *steps)
        if "resumed from checkpoint" not in out or mu.results(out) != reference:
            problems.append(f"the run after the failed flush did not resume from the local tier:\n{out}\n{err}")
    else:
        print(f"unknown scenario {a.scenario}")
        return 2
    if rc != 0:
        problems.append(f"final run exit {rc}")
    if reference is not None and mu.results(out) != reference:
        problems.append(f"RESULT lines differ from the reference:\n{mu.results(out)}\n{reference}")
    return mu.report(a.scenario, problems)


if __name__ == "__main__":
    sys.exit(main())
