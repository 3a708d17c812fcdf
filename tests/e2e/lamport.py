#!/usr/bin/env python3
"""lamport_mutex's checks on consistent global states, live (--check 1: rank 0 reads every committed
checkpoint with mpisnap::GlobalState) and offline (scripts/lamport_check.py, the Python reader).

  broken1   a process that enters without waiting for acknowledgements: the live check stops the
            job (status 3, mutual exclusion or grant order named) and the offline check agrees
  broken2   a release not sent to every process: caught as a replicated queue/log that differs
  deadlock  --locks 2 over several seeds at 2 and 4 ranks: each run ends either with the RESULT of
            a completed run, and then no checkpoint of it shows a deadlock or a broken invariant,
            or with a deadlock reported live (status 4, processes and locks named) that the offline
            check finds in the same checkpoint. Both outcomes must occur. One deadlocking seed also
            runs without the live check until killed: the offline check finds the deadlock.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import mpirun_util as mu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--checker", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("scenario", choices=["broken1", "broken2", "deadlock"])
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    problems = []

    def job(name, np, args, every, keep=1000, timeout=90):
        ckdir = os.path.join(a.workdir, f"{a.scenario}-{name}")
        shutil.rmtree(ckdir, ignore_errors=True)
        env = mu.environment({"MPISNAP_DIR": ckdir, "MPISNAP_EVERY": every, "MPISNAP_KEEP": keep})
        try:
            rc, out, err = mu.run(mu.mpiexec(a.mpiexec, np) + [a.app] + args, env, timeout)
        except subprocess.TimeoutExpired:
            return None, "", ckdir
        return rc, out + err, ckdir

    def offline(ckdir, *flags):
        p = subprocess.run([a.python, a.checker, ckdir, *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        return p.returncode, p.stdout

    if a.scenario.startswith("broken"):
        variant = a.scenario[-1]
        expect = {"1": r"mutual exclusion|grant order", "2": r"replicated (queue|log)"}[variant]
        # The bug shows only when two requests cross (a rank enters before another's earlier request
        # reaches it): a matter of timing, so up to four runs, and at least one must be caught. A run in
        # which the live check saw nothing must be one the offline check passes too.
        for attempt in range(1, 5):
            rc, out, ckdir = job(f"np4-{attempt}", 4, ["--check", "1", "--broken", variant, "--seed", str(attempt)],
                                 every=1)
            lines = [x for x in out.splitlines() if x.startswith("INVARIANT VIOLATED")]
            print(f"broken variant {variant}, run {attempt}: exit {rc}; {lines[0] if lines else 'no violation reported'}")
            orc, oout = offline(ckdir)
            print("    offline: " + (oout.strip().splitlines() or [""])[-1])
            if rc == 0 and not lines:
                if orc != 0:
                    problems.append(f"run {attempt}: the live check saw every checkpoint hold, the offline check did "
                                    f"not (exit {orc}):\n{oout}")
                    break
                continue
            if rc != 3 or not any(re.search(expect, x) for x in lines):
                problems.append(f"the live check did not stop broken variant {variant} with status 3 naming "
                                f"/{expect}/:\n{out}")
            if orc != 1 or not re.search(expect, oout):
                problems.append(f"the offline check did not find /{expect}/ in broken variant {variant} "
                                f"(exit {orc}):\n{oout}")
            break
        else:
            problems.append(f"broken variant {variant} ran to the end four times without a violation caught")
        return mu.report(a.scenario, problems)

    outcomes = {"completed": 0, "deadlock": 0}
    deadlocking = None
    for np in (2, 4):
        for seed in range(1, 6):
            name = f"np{np}-seed{seed}"
            rc, out, ckdir = job(name, np, ["--check", "1", "--locks", "2", "--seed", str(seed), "--rounds", "12"], every=2)
            live = [x for x in out.splitlines() if x.startswith("DEADLOCK")]
            if rc == 0 and any(x.startswith("RESULT lamport grants") for x in out.splitlines()):
                outcomes["completed"] += 1
                orc, oout = offline(ckdir)
                summary = oout.strip().splitlines()[-1] if oout.strip() else ""
                print(f"{name}: completed; offline over every checkpoint: {summary}")
                if orc != 0 or "DEADLOCK" in oout:
                    problems.append(f"{name}: a completed run's checkpoints were judged deadlocked or broken:\n{oout}")
            elif rc == 4 and live:
                outcomes["deadlock"] += 1
                deadlocking = deadlocking or (np, seed)
                m = re.search(r"DEADLOCK in checkpoint (\d+) .*: (process .*)$", live[0])
                print(f"{name}: {live[0]}")
                if not m or "waits for lock" not in live[0]:
                    problems.append(f"{name}: the deadlock report names no processes and locks: {live[0]}")
                    continue
                orc, oout = offline(ckdir)
                found = [x for x in oout.splitlines() if f"ckpt-{int(m.group(1)):08d}" in x and "DEADLOCK" in x]
                if not found or m.group(2) not in found[0]:
                    problems.append(f"{name}: the offline check does not report the same deadlock in checkpoint "
                                    f"{m.group(1)}:\n{oout}")
            else:
                problems.append(f"{name}: neither completed nor reported a deadlock (exit {rc}):\n{out[-3000:]}")
    print(f"deadlock scenario: {outcomes['completed']} completed, {outcomes['deadlock']} deadlocked")
    if not outcomes["completed"] or not outcomes["deadlock"]:
        problems.append("the seeds did not give both outcomes (the test would prove nothing)")
    if deadlocking:
        # Offline only: the job spins in its deadlock until killed; its checkpoints show why.
        np, seed = deadlocking
        ckdir = os.path.join(a.workdir, "offline-only")
        shutil.rmtree(ckdir, ignore_errors=True)
        env = mu.environment({"MPISNAP_DIR": ckdir, "MPISNAP_EVERY": 2, "MPISNAP_KEEP": 3})
        j = mu.Job(mu.mpiexec(a.mpiexec, np) + [a.app, "--locks", "2", "--seed", str(seed), "--rounds", "12"], env,
                   os.path.join(a.workdir, "offline-only.log"))
        finished = j.wait(8) is not None
        j.kill_all()
        j.reap()
        orc, oout = offline(ckdir, "--last")
        print(f"np {np} seed {seed} without the live check: {'finished' if finished else 'still running after 8 s, killed'}; "
              f"offline: {oout.strip().splitlines()[-1] if oout.strip() else '?'}")
        if finished or orc != 4:
            problems.append(f"the deadlocking seed without the live check: finished={finished}, offline exit {orc}:\n{oout}")
    return mu.report(a.scenario, problems)


if __name__ == "__main__":
    sys.exit(main())
