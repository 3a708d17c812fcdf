#!/usr/bin/env python3
"""Reliability scenarios through a real mpirun: crashes at chosen moments of a checkpoint's life,
storage faults (through the MPISNAP_TEST_FAULT seam), damaged checkpoints, and bad input. Each
scenario runs the bank example and checks three things: the job ends the way it must (finishes, or
fails with an error naming rank, file and cause, never hangs), no good checkpoint was deleted, and
the run that finally completes prints the answer of a run that was never disturbed.

    reliability.py --mpiexec M --bank B --ring R --cli C --workdir W SCENARIO
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import h5py

import mpirun_util as mu

NP = 2
BANK_ARGS = ["--steps", "120", "--work-us", "1500"]
EVERY = 10  # 12 checkpoints over the run


class Check:
    def __init__(self):
        self.problems = []

    def that(self, ok, what):
        print(("ok      " if ok else "PROBLEM ") + what)
        if not ok:
            self.problems.append(what)


def committed(ck):
    if not os.path.isdir(ck):
        return []
    return sorted(int(n[5:]) for n in os.listdir(ck)
                  if n.startswith("ckpt-") and os.path.exists(os.path.join(ck, n, "manifest.h5")))


def ckpt(ck, cid):
    return os.path.join(ck, f"ckpt-{cid:08d}")


def rank_file(ck, cid, rank):
    return os.path.join(ckpt(ck, cid), f"rank-{rank:06d}.h5")


class Scenario:
    def __init__(self, a):
        self.a = a
        self.c = Check()
        self.dir = os.path.join(a.workdir, a.scenario)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.ck = os.path.join(self.dir, "ck")
        self.runs = 0

    def bank(self, np=NP, extra_env=None, exe=None, args=None, timeout=120):
        env = {"MPISNAP_DIR": self.ck, "MPISNAP_EVERY": EVERY, "MPISNAP_KEEP": 1000}
        env.update(extra_env or {})
        env = {k: v for k, v in env.items() if v is not None}
        cmd = mu.mpiexec(self.a.mpiexec, np) + [exe or self.a.bank] + (BANK_ARGS if args is None else args)
        self.runs += 1
        t0 = time.time()
        rc, out, err = mu.run(cmd, mu.environment(env), timeout)
        print(f"run {self.runs}: exit {rc} after {time.time() - t0:.1f} s; committed now {committed(self.ck)}")
        for line in (out + err).splitlines():
            if line.startswith("mpisnap") or line.startswith("resumed"):
                print(f"    {line}")
        return rc, out, err

    def reference(self):
        rc, out, _ = mu.run(mu.mpiexec(self.a.mpiexec, NP) + [self.a.bank] + BANK_ARGS,
                            mu.environment({"MPISNAP_DIR": os.path.join(self.dir, "reference")}), 120)
        assert rc == 0 and mu.results(out), "the reference run failed"
        return mu.results(out)

    def verify(self, cid):
        p = subprocess.run([self.a.cli, "verify", self.ck, str(cid)], capture_output=True, text=True)
        return p.returncode == 0, p.stdout + p.stderr

    def finishes_like_reference(self, ref, resumed_from=None, env=None):
        rc, out, err = self.bank(extra_env=env)
        self.c.that(rc == 0, f"the restarted job finishes (exit {rc})")
        self.c.that(mu.results(out) == ref, "its answer equals the undisturbed run's")
        if resumed_from is not None:
            self.c.that(f"resumed from checkpoint {resumed_from} " in out,
                        f"it resumed from checkpoint {resumed_from}")
        return out + err


# -------------------------------------------------------------------------------------------------
# Crashes (SIGKILL from inside the library at a precise moment) and storage faults.

def crash(s, fault, resumed_from, expect_uncommitted):
    ref = s.reference()
    rc, out, err = s.bank(extra_env={"MPISNAP_TEST_FAULT": fault})
    s.c.that(rc != 0, f"the job with {fault} died (exit {rc})")
    left = committed(s.ck)
    s.c.that(left and left[-1] == resumed_from, f"the newest committed checkpoint is {resumed_from} ({left})")
    s.c.that(expect_uncommitted not in left, f"checkpoint {expect_uncommitted} is not committed")
    for cid in left:
        ok, text = s.verify(cid)
        s.c.that(ok, f"committed checkpoint {cid} verifies")
    s.finishes_like_reference(ref, resumed_from=resumed_from)


def crash_rank_write(s):
    # Rank 1 dies while its 3rd rank file is written (data in the .tmp file, before fsync/rename).
    crash(s, "fsync@rank-:kill:1:3", resumed_from=2, expect_uncommitted=3)


def crash_commit(s):
    # Rank 0 dies with the 3rd manifest written to its temporary name, just before the rename.
    crash(s, "rename@manifest.h5:kill:0:3", resumed_from=2, expect_uncommitted=3)


def crash_prune(s):
    # KEEP=1: rank 0 commits checkpoint 2, then dies while removing checkpoint 1.
    ref = s.reference()
    rc, _, _ = s.bank(extra_env={"MPISNAP_KEEP": 1, "MPISNAP_TEST_FAULT": "unlink@manifest.h5:kill:0:1"})
    s.c.that(rc != 0, f"the job died while pruning (exit {rc})")
    s.c.that(committed(s.ck)[-1:] == [2], f"checkpoint 2 is committed ({committed(s.ck)})")
    s.c.that(s.verify(2)[0], "and verifies")
    s.finishes_like_reference(ref, resumed_from=2, env={"MPISNAP_KEEP": 1})


def storage_error(s, fault, message, failed_ids, keep=1000):
    ref = s.reference()
    rc, out, err = s.bank(extra_env={"MPISNAP_TEST_FAULT": fault, "MPISNAP_KEEP": keep})
    s.c.that(rc == 0, f"the job with {fault} finished anyway (exit {rc})")
    s.c.that(mu.results(out) == ref, "with the undisturbed answer")
    s.c.that(message in err and "rank" in err, f"stderr names the rank and says '{message}'")
    left = committed(s.ck)
    for cid in failed_ids:
        s.c.that(cid not in left, f"checkpoint {cid} is not committed")
    return left, ref


def enospc(s):
    left, ref = storage_error(s, "fsync@rank-:ENOSPC:*:3", "No space left on device", [3])
    s.c.that(left and left[-1] > 3, f"a later checkpoint committed ({left})")
    s.finishes_like_reference(ref, resumed_from=left[-1])


def disk_stays_full(s):
    # From the 2nd checkpoint on every rank file fails; KEEP=1 must not delete checkpoint 1.
    left, ref = storage_error(s, "fsync@rank-:ENOSPC:*:2+", "No space left on device", range(2, 13), keep=1)
    s.c.that(left == [1], f"checkpoint 1, the last good one, is still there ({left})")
    s.c.that(s.verify(1)[0], "and verifies")
    s.finishes_like_reference(ref, resumed_from=1, env={"MPISNAP_KEEP": 1})


def permission_denied(s):
    # Each rank file's temporary name is opened once (created, written and fsynced through that
    # descriptor): the 2nd open on rank 1 creates checkpoint 2's file.
    left, ref = storage_error(s, "open@rank-000001.h5.tmp:EACCES:1:2", "Permission denied", [2])
    s.c.that(left and left[-1] > 2, f"a later checkpoint committed ({left})")


def manifest_rename_fails(s):
    left, ref = storage_error(s, "rename@manifest.h5:EIO:0:2", "Input/output error", [2])
    s.c.that(1 in left and left[-1] > 2, f"checkpoints before and after committed ({left})")


def directory_deleted(s):
    ref = s.reference()
    env = mu.environment({"MPISNAP_DIR": s.ck, "MPISNAP_EVERY": EVERY, "MPISNAP_KEEP": 1000})
    log = os.path.join(s.dir, "job.log")
    job = mu.Job(mu.mpiexec(s.a.mpiexec, NP) + [s.a.bank] + BANK_ARGS, env, log)
    deadline = time.time() + 60
    while time.time() < deadline and len(committed(s.ck)) < 2:
        time.sleep(0.02)
    shutil.rmtree(s.ck, ignore_errors=True)
    print("deleted the checkpoint directory under the running job")
    code = job.wait(120)
    if code is None:
        job.kill_all()
    job.reap()
    with open(log) as f:
        text = f.read()
    s.c.that(code == 0, f"the job finished (exit {code})")
    s.c.that(mu.results(text) == ref, "with the undisturbed answer")
    s.c.that(len(committed(s.ck)) >= 1, f"later checkpoints were committed into a new directory ({committed(s.ck)})")
    s.finishes_like_reference(ref, resumed_from=committed(s.ck)[-1] if committed(s.ck) else None)


# -------------------------------------------------------------------------------------------------
# Damaged checkpoints: restart falls back to the newest one that verifies and says why.

def damage_newest(s, how):
    ref = s.reference()
    rc, out, _ = s.bank()
    assert rc == 0
    ids = committed(s.ck)
    newest = ids[-1]
    print(f"damaging checkpoint {newest}: {how.__doc__}")
    how(s, newest)
    ok, text = s.verify(newest)
    s.c.that(not ok, "mpisnap verify fails on it: " + " ".join(text.split())[:200])
    text = s.finishes_like_reference(ref, resumed_from=ids[-2])
    return text, newest


def flipped_state_byte(s, cid):
    """one byte of rank 1's state flipped"""
    path = rank_file(s.ck, cid, 1)
    with h5py.File(path, "r") as f:
        names = []
        f["state"].visit(lambda n: names.append(n) if isinstance(f["state"][n], h5py.Dataset) else None)
        big = max(names, key=lambda n: f["state"][n].size)
    mu.flip_byte(path, "state/" + big)


def truncated_rank_file(s, cid):
    """rank 0's file cut in half"""
    path = rank_file(s.ck, cid, 0)
    os.truncate(path, os.path.getsize(path) // 2)


def deleted_rank_file(s, cid):
    """rank 1's file deleted"""
    os.remove(rank_file(s.ck, cid, 1))


def damaged_manifest(s, cid):
    """the manifest's superblock overwritten"""
    with open(os.path.join(ckpt(s.ck, cid), "manifest.h5"), "r+b") as f:
        f.write(b"\0" * 64)


def mixed_files(s, cid):
    """rank 1's file replaced by rank 1's file of the checkpoint before"""
    shutil.copyfile(rank_file(s.ck, cid - 1, 1), rank_file(s.ck, cid, 1))


def corruption(s, how):
    text, newest = damage_newest(s, how)
    s.c.that(f"skipping checkpoint {newest}" in text, f"the restart says it skipped checkpoint {newest}")
    s.c.that(os.path.isdir(ckpt(s.ck, newest)), "and left the damaged checkpoint for inspection")


def deleted_manifest(s):
    ref = s.reference()
    s.bank()
    ids = committed(s.ck)
    os.remove(os.path.join(ckpt(s.ck, ids[-1]), "manifest.h5"))
    s.finishes_like_reference(ref, resumed_from=ids[-2])


def none_valid(s):
    ref = s.reference()
    s.bank(extra_env={"MPISNAP_KEEP": 2})
    ids = committed(s.ck)
    for cid in ids:
        truncated_rank_file(s, cid)
    rc, out, err = s.bank(extra_env={"MPISNAP_KEEP": 2}, timeout=60)
    s.c.that(rc != 0, f"restart with no valid checkpoint fails (exit {rc})")
    s.c.that("no committed checkpoint" in err and "MPISNAP_FRESH_IF_CORRUPT" in err and "rank" in err,
             "with a message naming the rank, the cause and the way out")
    s.c.that(committed(s.ck) == ids, "and deletes nothing")
    s.finishes_like_reference(ref, env={"MPISNAP_FRESH_IF_CORRUPT": 1, "MPISNAP_KEEP": 2})


# -------------------------------------------------------------------------------------------------
# Bad input.

def expect_error(s, rc, err, *needles):
    s.c.that(rc != 0, f"the job fails (exit {rc})")
    for n in needles:
        s.c.that(n in err, f"stderr says '{n}'")


def wrong_rank_count(s):
    s.bank()
    rc, _, err = s.bank(np=3, timeout=60)
    expect_error(s, rc, err, "written by 2 ranks but this job has 3", "rank")


def other_program(s):
    # ring's checkpoints under bank: the job identity (the program recorded in the manifest) refuses
    # them at the start, every rank alike; with the override the state itself does not fit.
    rc, _, _ = s.bank(exe=s.a.ring, args=["--steps", "40", "--work-us", "0"])
    assert rc == 0
    before = committed(s.ck)
    rc, _, err = s.bank(timeout=60)
    expect_error(s, rc, err, "was written by program 'ring', this is 'bank'", "MPISNAP_IGNORE_IDENTITY", "rank")
    s.c.that(committed(s.ck) == before, "the refused job changed nothing")
    rc, _, err = s.bank(extra_env={"MPISNAP_IGNORE_IDENTITY": 1}, timeout=60)
    expect_error(s, rc, err, "cannot restore", "rank-", "into this program's state")


def bad_environment(s):
    for var, value, needle in [("MPISNAP_INTERVAL", "-5", "MPISNAP_INTERVAL"),
                               ("MPISNAP_EVERY", "ten", "MPISNAP_EVERY"),
                               ("MPISNAP_KEEP", "0", "MPISNAP_KEEP"),
                               ("MPISNAP_DIR", "/etc/hostname/checkpoints", "is not writable"),
                               ("MPISNAP_TEST_FAULT", "write:kill", "MPISNAP_TEST_FAULT")]:
        rc, _, err = s.bank(extra_env={var: value}, timeout=60)
        expect_error(s, rc, err, needle)


def api_misuse(s):
    for mode, needle in [("twice", "second Session"), ("pending", "not yet completed"),
                         ("pending_quiet", "no checkpoint was due here"),
                         ("early_send", "was sent before the mpisnap Session started"),
                         ("early_send_off", "was sent before the mpisnap Session started"),
                         ("before_init", "before MPI_Init"), ("after_finalize", "after MPI_Finalize")]:
        rc, _, err = s.bank(exe=s.a.misuse, args=[mode], timeout=60)
        expect_error(s, rc, err, needle)
        # The default: a message and MPI_Abort with status 70, as an MPI error; no uncaught exception.
        s.c.that(rc == 70, f"{mode}: status 70 (got {rc})")
        s.c.that("terminate called" not in err, f"{mode}: no std::terminate")
    # With MPISNAP_EXCEPTIONS=1 the program's own handler gets an mpisnap::Error (misuse_app: status 1).
    rc, _, err = s.bank(exe=s.a.misuse, args=["twice"], extra_env={"MPISNAP_EXCEPTIONS": 1}, timeout=60)
    expect_error(s, rc, err, "second Session")
    s.c.that(rc == 1, f"MPISNAP_EXCEPTIONS=1: the program caught the error (status {rc})")


def capi_misuse(s):
    # The C API: argument errors come back as codes with messages (and the session goes on); a
    # checkpoint restored into a buffer of another shape ends the job with status 70 by default and
    # comes back as MPISNAP_ERR_SESSION with MPISNAP_ERRORS_RETURN, the message naming both shapes.
    rc, out, err = s.bank(exe=s.a.capi, args=["args"], timeout=60)
    s.c.that(rc == 0 and "args: ok" in out, f"every argument error returned its code and message (exit {rc}):\n{err}")
    rc, _, _ = s.bank(exe=s.a.capi, args=["write"], extra_env={"MPISNAP_EVERY": 2}, timeout=60)
    s.c.that(rc == 0 and committed(s.ck), f"the writing run left checkpoints (exit {rc}, {committed(s.ck)})")
    shapes = "'u' was saved with the shape 4 x 3 but is loaded as 3 x 4"
    rc, _, err = s.bank(exe=s.a.capi, args=["reshape"], timeout=60)
    expect_error(s, rc, err, shapes, "rank")
    s.c.that(rc == 70, f"reshape: status 70 (got {rc})")
    rc, out, err = s.bank(exe=s.a.capi, args=["reshape_return"], timeout=60)
    s.c.that(rc == 0 and "returned 4: " in out and shapes in out,
             f"with MPISNAP_ERRORS_RETURN, mpisnap_restore returned MPISNAP_ERR_SESSION and the message (exit {rc}):\n{out}{err}")


def forgotten_restore(s):
    # A program that never calls restore(): its first run checkpoints; the second finds them and must
    # refuse at its first safe point instead of starting over and pruning them away; with
    # MPISNAP_FRESH it starts over and keeps them.
    one = {"MPISNAP_KEEP": 1}
    rc, _, err = s.bank(exe=s.a.misuse, args=["forget_restore"], extra_env=one, timeout=60)
    s.c.that(rc == 0, f"the first run succeeds (exit {rc})")
    before = committed(s.ck)
    s.c.that(len(before) == 1, f"it left one committed checkpoint ({before})")
    rc, _, err = s.bank(exe=s.a.misuse, args=["forget_restore"], extra_env=one, timeout=60)
    expect_error(s, rc, err, "restore() was not called", "MPISNAP_FRESH", "rank")
    s.c.that(committed(s.ck) == before, f"the refused run changed nothing ({committed(s.ck)})")
    rc, _, err = s.bank(exe=s.a.misuse, args=["forget_restore"], extra_env=dict(one, MPISNAP_FRESH=1), timeout=60)
    s.c.that(rc == 0, f"with MPISNAP_FRESH=1 the run starts over (exit {rc})")
    after = committed(s.ck)
    s.c.that(before[0] in after and len(after) == 2, f"and keeps the checkpoint it did not supersede ({after})")
    for cid in after:
        ok, text = s.verify(cid)
        s.c.that(ok, f"checkpoint {cid} verifies: {text.strip()[-200:]}")


def two_jobs(s):
    # Two jobs on one directory: while one lives, the other is refused (status 70, naming it) and
    # the first finishes undisturbed; a job killed with kill -9 (its lease left behind) does not
    # hold the directory: the next job takes it over and resumes from its checkpoint.
    args = ["--steps", "3000", "--work-us", "3000"]
    env = {"MPISNAP_DIR": s.ck, "MPISNAP_EVERY": 200, "MPISNAP_KEEP": 1000}
    rc, out, _ = mu.run(mu.mpiexec(s.a.mpiexec, NP) + [s.a.bank] + args,
                        mu.environment({"MPISNAP_DIR": os.path.join(s.dir, "reference-long")}), 120)
    ref = mu.results(out)
    assert rc == 0 and ref, "the reference run failed"
    lease = os.path.join(s.ck, "mpisnap.lock")

    def start():
        return subprocess.Popen(mu.mpiexec(s.a.mpiexec, NP) + [s.a.bank] + args, env=mu.environment(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def wait_for(cond, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline and not cond():
            time.sleep(0.05)
        return cond()

    first = start()
    s.c.that(wait_for(lambda: os.path.exists(lease), 30), "the first job holds the directory's lease")
    rc, _, err = s.bank(args=args, extra_env={"MPISNAP_EVERY": 200}, timeout=60)
    expect_error(s, rc, err, "is in use by another running job 'bank' with 2 rank(s)", "mpisnap.lock")
    s.c.that(rc == 70, f"the second job is refused with status 70 (got {rc})")
    out, err = first.communicate(timeout=120)
    s.c.that(first.returncode == 0 and mu.results(out) == ref,
             f"the first job finished undisturbed (exit {first.returncode})")
    s.c.that(not os.path.exists(lease), "and gave the directory back")

    shutil.rmtree(s.ck)
    victim = start()
    s.c.that(wait_for(lambda: len(committed(s.ck)) >= 2, 60), "the job to be killed committed checkpoints")
    mu.kill_session(victim.pid)
    victim.communicate(timeout=60)
    s.c.that(os.path.exists(lease), "kill -9 left its lease behind")
    last = committed(s.ck)[-1]
    rc, out, err = s.bank(args=args, extra_env={"MPISNAP_EVERY": 200}, timeout=120)
    s.c.that(rc == 0 and mu.results(out) == ref, f"the next job finishes with the reference answer (exit {rc})")
    s.c.that("which is gone; this job takes it over" in err, "it took the dead job's lease over, and said so")
    s.c.that("resumed from checkpoint" in out, "it resumed from the dead job's checkpoint")
    s.c.that("found, read and verified in" in err, "rank 0 said where it resumed from and how long that took")
    for cid in committed(s.ck):
        ok, text = s.verify(cid)
        s.c.that(ok, f"checkpoint {cid} verifies")
    s.c.that(last in committed(s.ck), f"the dead job's newest checkpoint {last} is still there")


SKIPPED = 77  # ctest's SKIP_RETURN_CODE for this suite


def tiny_disk(s):
    # MPISNAP_DIR on a 512 KiB tmpfs that fills after some checkpoints: the job must finish with the
    # right answer and a clean exit (no crash in HDF5's exit handler), each failure must say "no
    # space left on device", no partial checkpoint may stay behind, and every committed checkpoint
    # must verify and restore.
    mnt = os.path.join(s.dir, "tiny")
    os.makedirs(mnt, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt], capture_output=True).returncode != 0:
        print("tiny_disk: skipped: cannot mount a tmpfs here (it needs root)")
        return SKIPPED
    try:
        args = ["--steps", "600", "--work-us", "100"]
        rc, out, _ = mu.run(mu.mpiexec(s.a.mpiexec, NP) + [s.a.bank] + args,
                            mu.environment({"MPISNAP_DIR": os.path.join(s.dir, "reference")}), 120)
        ref = mu.results(out)
        s.ck = os.path.join(mnt, "ck")
        for attempt in ("first run", "restart on the still full disk"):
            rc, out, err = s.bank(args=args, extra_env={"MPISNAP_EVERY": 10}, timeout=120)
            s.c.that(rc == 0, f"{attempt}: the job exits cleanly (exit {rc})")
            s.c.that(mu.results(out) == ref, f"{attempt}: its answer is the reference")
            s.c.that("no space left on device" in err, f"{attempt}: the failures say 'no space left on device'")
            s.c.that("H5_term_library" not in err and "Segmentation" not in err, f"{attempt}: no crash in HDF5")
            ls = json.loads(subprocess.run([s.a.cli, "ls", s.ck, "--json"], capture_output=True, text=True).stdout)
            s.c.that(ls and all(e["state"] == "committed" for e in ls),
                     f"{attempt}: no partial checkpoint left ({[(e['id'], e['state']) for e in ls]})")
            for cid in committed(s.ck):
                ok, text = s.verify(cid)
                s.c.that(ok, f"{attempt}: checkpoint {cid} verifies")
        s.c.that("resumed from checkpoint" in out, "the restart resumed from the last checkpoint that fit")
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


SCENARIOS = {
    "crash_rank_write": crash_rank_write, "crash_commit": crash_commit, "crash_prune": crash_prune,
    "enospc": enospc, "disk_stays_full": disk_stays_full, "permission_denied": permission_denied,
    "manifest_rename_fails": manifest_rename_fails, "directory_deleted": directory_deleted,
    "flipped_state_byte": lambda s: corruption(s, flipped_state_byte),
    "truncated_rank_file": lambda s: corruption(s, truncated_rank_file),
    "deleted_rank_file": lambda s: corruption(s, deleted_rank_file),
    "damaged_manifest": lambda s: corruption(s, damaged_manifest),
    "mixed_files": lambda s: corruption(s, mixed_files),
    "deleted_manifest": deleted_manifest, "none_valid": none_valid,
    "wrong_rank_count": wrong_rank_count, "other_program": other_program,
    "bad_environment": bad_environment, "api_misuse": api_misuse, "capi_misuse": capi_misuse, "forgotten_restore": forgotten_restore,
    "two_jobs": two_jobs, "tiny_disk": tiny_disk,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--bank", required=True)
    ap.add_argument("--ring", required=True)
    ap.add_argument("--misuse", required=True)
    ap.add_argument("--capi", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    s = Scenario(a)
    if SCENARIOS[a.scenario](s) == SKIPPED:
        return SKIPPED
    if s.c.problems:
        print(f"{a.scenario}: {len(s.c.problems)} problem(s)")
        return 1
    print(f"{a.scenario}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
