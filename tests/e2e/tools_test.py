#!/usr/bin/env python3
"""The tools around the library, end to end.

  cli          `mpisnap ls/show/verify/prune` (text and --json) on a real checkpoint directory;
               verify passes on good checkpoints and fails, naming file and dataset, on a flipped
               byte, a truncated file, a file of another checkpoint and a missing manifest; then
               ls/verify --local on a job with two storage tiers.
  mpisnap_run  scripts/mpisnap-run brings back a job whose ranks are SIGKILLed three times in a row
               and the job finishes with the answer of a run that was never killed.
"""
import argparse
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import mpirun_util as mu


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def cli_scenario(a):
    problems = []
    ck = os.path.join(a.workdir, "cli")
    shutil.rmtree(ck, ignore_errors=True)
    env = mu.environment({"MPISNAP_DIR": ck, "MPISNAP_EVERY": 40, "MPISNAP_KEEP": 100, "MPISNAP_VERBOSE": 1})
    rc, out, err = mu.run(mu.mpiexec(a.mpiexec, 3) + [a.app, "--steps", "200", "--work-us", "0"], env, 120)
    if rc != 0:
        return [f"the job failed: {err}"]
    # MPISNAP_VERBOSE: one line per checkpoint with state and file sizes, the slowest rank's pause
    # and the write rate.
    lines = [l for l in err.splitlines() if " committed: safe point " in l]
    if len(lines) != 5 or not all("pause at most" in l and "(rank " in l and "written at" in l and "state " in l
                                  for l in lines):
        problems.append("verbose checkpoint lines: " + "\n".join(lines))
    ls = sh([a.cli, "ls", ck, "--json"])
    entries = json.loads(ls.stdout)
    human = sh([a.cli, "ls", ck]).stdout
    print(human)
    if "KiB" not in human or " ago " not in human:
        problems.append(f"ls does not show sizes and ages for people: {human}")
    if len(entries) != 5 or any(e["state"] != "committed" for e in entries):
        problems.append(f"ls: {ls.stdout}")
    show = json.loads(sh([a.cli, "show", ck, "--json"]).stdout)
    if len(show["ranks"]) != 3 or show["safe_point"] != 200:
        problems.append(f"show: {show}")
    good = sh([a.cli, "verify", ck])
    print(good.stdout.strip())
    if good.returncode != 0:
        problems.append(f"verify fails on good checkpoints: {good.stdout}")

    # A mistyped directory is an error, not an empty listing; --keep 0 is refused, not read as 1.
    for cmd in (["ls", ck + "-typo"], ["verify", ck + "-typo"], ["prune", ck + "-typo", "--keep", "1"]):
        r = sh([a.cli] + cmd)
        if r.returncode == 0 or "no checkpoint directory" not in r.stderr:
            problems.append(f"mpisnap {' '.join(cmd)}: exit {r.returncode}: {r.stdout}{r.stderr}")
    r = sh([a.cli, "prune", ck, "--keep", "0"])
    if r.returncode == 0 or "--keep" not in r.stdout + r.stderr or len(json.loads(sh([a.cli, "ls", ck, "--json"]).stdout)) != 5:
        problems.append(f"prune --keep 0: exit {r.returncode}: {r.stdout}{r.stderr}")

    ids = sorted(glob.glob(os.path.join(ck, "ckpt-*")))

    def expect_failure(what, target_dir, needle):
        r = sh([a.cli, "verify", ck, str(int(os.path.basename(target_dir)[5:]))])
        print(f"  {what}: exit {r.returncode}: {r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()}")
        if r.returncode == 0 or needle not in (r.stdout + r.stderr):
            problems.append(f"{what}: expected a failure mentioning {needle!r}, got:\n{r.stdout}{r.stderr}")

    f1 = os.path.join(ids[0], "rank-000001.h5")
    mu.flip_byte(f1, "/state/history")
    expect_failure("flipped byte", ids[0], "rank-000001.h5:/state/history")
    f2 = os.path.join(ids[1], "rank-000002.h5")
    os.truncate(f2, os.path.getsize(f2) // 2)
    expect_failure("truncated file", ids[1], "rank-000002.h5")
    shutil.copy(os.path.join(ids[2], "rank-000000.h5"), os.path.join(ids[3], "rank-000000.h5"))
    expect_failure("file of another checkpoint", ids[3], "does not match the manifest")
    os.remove(os.path.join(ids[4], "manifest.h5"))
    expect_failure("missing manifest", ids[4], "not committed")
    whole = sh([a.cli, "verify", ck, "--json"])
    report = json.loads(whole.stdout)
    if whole.returncode == 0 or [r["ok"] for r in report] != [False, False, True, False]:
        problems.append(f"verify --json: {whole.stdout}")
    pr = json.loads(sh([a.cli, "prune", ck, "--keep", "1", "--json"]).stdout)
    left = [e["id"] for e in json.loads(sh([a.cli, "ls", ck, "--json"]).stdout)]
    print(f"  prune --keep 1 removed {pr['removed']}, left {left}")
    if left != [4, 5]:  # 4: the newest committed; 5: uncommitted but newer (it could be in progress)
        problems.append(f"prune left {left}")
    empty = os.path.join(a.workdir, "empty-dir")
    os.makedirs(empty, exist_ok=True)
    bad = sh([a.cli, "verify", empty])
    if bad.returncode == 0 or "no committed checkpoint" not in bad.stderr:
        problems.append(f"verify of an empty directory: {bad.stderr}")
    return problems


def cli_tiers(a):
    """ls/verify --local on a job with two tiers: both tiers listed, the local tier's rank files
    verified, a flipped byte there found while the global tier stays good."""
    problems = []
    ck, local = os.path.join(a.workdir, "cli-global"), os.path.join(a.workdir, "cli-local")
    for d in (ck, local):
        shutil.rmtree(d, ignore_errors=True)
    env = mu.environment({"MPISNAP_DIR": ck, "MPISNAP_LOCAL_DIR": local, "MPISNAP_EVERY": 40, "MPISNAP_KEEP": 100,
                          "MPISNAP_FLUSH": 2, "MPISNAP_KEEP_LOCAL": 2})
    rc, out, err = mu.run(mu.mpiexec(a.mpiexec, 3) + [a.app, "--steps", "200", "--work-us", "0"], env, 120)
    if rc != 0:
        return [f"the job with two tiers failed: {err}"]
    listing = json.loads(sh([a.cli, "ls", ck, "--local", local, "--json"]).stdout)
    tiers = {t: [e["id"] for e in listing if e["tier"] == t and e["state"] == "committed"] for t in ("global", "local")}
    print(sh([a.cli, "ls", ck, "--local", local]).stdout)
    # every 2nd checkpoint flushed, and the newest at MPI_Finalize; the local tier keeps 2
    if tiers != {"global": [2, 4, 5], "local": [4, 5]}:
        problems.append(f"ls --local: {tiers}")
    good = sh([a.cli, "verify", ck, "--local", local])
    if good.returncode != 0 or good.stdout.count("(node-local tier): OK, this node holds rank 0,1,2 of 3") != 2:
        problems.append(f"verify --local on good tiers: exit {good.returncode}: {good.stdout}{good.stderr}")
    newest = max(glob.glob(os.path.join(local, "mpisnap-*", "ckpt-*")))
    mu.flip_byte(os.path.join(newest, "rank-000002.h5"), "/state/history")
    bad = sh([a.cli, "verify", ck, "--local", local])
    print(f"  flipped byte on the local tier: exit {bad.returncode}")
    if bad.returncode == 0 or "rank-000002.h5:/state/history" not in bad.stdout:
        problems.append(f"verify --local missed a flipped byte on the local tier: {bad.stdout}")
    if sh([a.cli, "verify", ck]).returncode != 0:
        problems.append("the global tier fails verify after a local file was damaged")
    nowhere = sh([a.cli, "ls", ck, "--local", local + "-typo"])
    if "holds no local tier" not in nowhere.stderr:
        problems.append(f"ls --local with a wrong local directory: {nowhere.stderr}")
    return problems


def mpisnap_run_scenario(a):
    problems = []
    ck = os.path.join(a.workdir, "mpisnap_run")
    shutil.rmtree(ck, ignore_errors=True)
    args = ["--steps", "3000", "--work-us", "3000"]
    rc, out, err = mu.run(mu.mpiexec(a.mpiexec, 4) + [a.bank] + args,
                          mu.environment({"MPISNAP_DIR": os.path.join(a.workdir, "mpisnap_run_ref")}), 120)
    reference = mu.results(out)
    env = mu.environment({"MPISNAP_DIR": ck, "MPISNAP_EVERY": 20, "PATH": os.path.dirname(a.cli) + ":" + os.environ["PATH"]})
    log = os.path.join(a.workdir, "mpisnap_run.log")
    if os.path.exists(log):
        os.remove(log)
    job = subprocess.Popen([a.python, a.runner, "--retries", "5", "--log", log, "--"] + mu.mpiexec(a.mpiexec, 4) + [a.bank] + args,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    rng = random.Random(7)
    kills = 0

    def killer():
        # Three times: wait for a new attempt (a new launcher under mpisnap-run) to have its 4 ranks
        # up, let it run a moment, SIGKILL one of that launcher's ranks, and wait until the launcher
        # is gone. (Ranks are told apart by their launcher: a rank of an attempt being torn down is
        # never taken for one of the next attempt.)
        nonlocal kills
        seen = set()
        while kills < 3 and job.poll() is None:
            procs = mu.session_processes(job.pid)
            launchers = [p for p, (ppid, _) in procs.items() if ppid == job.pid and p not in seen]
            ranks = mu.descendants(procs, launchers[0], "bank") if launchers else []
            if len(ranks) < 4:
                time.sleep(0.05)
                continue
            launcher = launchers[0]
            seen.add(launcher)
            time.sleep(rng.uniform(0.8, 1.5))
            alive = mu.descendants(mu.session_processes(job.pid), launcher, "bank")
            if len(alive) < 4:
                continue  # (this attempt ended by itself meanwhile)
            os.kill(rng.choice(alive), signal.SIGKILL)
            kills += 1
            deadline = time.time() + 30
            while time.time() < deadline and launcher in mu.session_processes(job.pid):
                time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    out, _ = job.communicate(timeout=600)
    t.join()
    mu.kill_session(job.pid)
    lines = open(log).read().splitlines()
    print("\n".join(lines))
    relaunches = [l for l in lines if "relaunching" in l]
    resumed = [l for l in lines if "starting from checkpoint" in l]
    if kills != 3 or len(relaunches) != 3:
        problems.append(f"{kills} kills, {len(relaunches)} relaunches")
    if len(resumed) < 1:
        problems.append("no attempt resumed from a checkpoint")
    if job.returncode != 0:
        problems.append(f"mpisnap-run exit {job.returncode}")
    if mu.results(out) != reference:
        problems.append(f"RESULT lines differ:\n{mu.results(out)}\n{reference}")
    # A deterministic failure is not retried: the checkpoints are 4 ranks', the relaunch has 3;
    # mpisnap refuses (status 70) and mpisnap-run stops after that one attempt.
    os.remove(log)
    p = subprocess.run([a.python, a.runner, "--retries", "5", "--log", log, "--"] + mu.mpiexec(a.mpiexec, 3) + [a.bank] + args,
                       env=env, capture_output=True, text=True, timeout=300)
    lines = open(log).read().splitlines()
    print("\n".join(lines))
    attempts = [l for l in lines if ": starting from " in l]
    if p.returncode != 70 or len(attempts) != 1 or not any("not relaunching" in l for l in lines):
        problems.append(f"wrong rank count under mpisnap-run: exit {p.returncode}, {len(attempts)} attempt(s)")
    if "this job has 3" not in p.stderr:
        problems.append("the refusal does not say why: " + p.stderr[-300:])
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--app", help="trigger_app")
    ap.add_argument("--bank")
    ap.add_argument("--cli", required=True)
    ap.add_argument("--runner", help="scripts/mpisnap-run")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("scenario")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    problems = cli_scenario(a) + cli_tiers(a) if a.scenario == "cli" else mpisnap_run_scenario(a)
    return mu.report(a.scenario, problems)


if __name__ == "__main__":
    sys.exit(main())
