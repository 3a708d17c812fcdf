#!/usr/bin/env python3
"""Deadlock detection in MPI programs (MPISNAP_DEADLOCK): tests/mpi/deadlock_app.cpp's programs that
deadlock must each be reported, with the right cycle (ranks, calls, peers and tags; collective calls
and the members that never join them; MPI_Waitany/MPI_Waitsome, any of whose receives would end them; a cycle that begins while a snapshot is
under way), within a few seconds, and end with status 72; the programs
that only look stuck (a late sender, a long compute phase, a late MPI_Isend, an imbalanced pipeline,
ranks waiting in collectives for one that computes, an MPI_Waitany that one of its sources ends while
the other is stuck, a receive begun during a snapshot whose sender is late, and whose rank's part of that snapshot - the
commit - must move on while it waits) must finish untouched. Each runs over shared memory
and over TCP (--mca btl tcp,self). MPISNAP_DEADLOCK=0 turns the check off (the job then hangs: killed
by the test), and the default threshold (10 s) reports too.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import mpirun_util as mu

DEADLOCKS = {
    "head_to_head": (2, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Send: a send to rank 1 \(tag 0, communicator 0\)\n"
                        r"  rank 1 in MPI_Send: a send to rank 0 \(tag 0, communicator 0\)"),
    "wrong_rank": (3, r"cycle 0 -> 2 -> 1 -> 0:\n  rank 0 in MPI_Recv: a receive from rank 2 \(tag 1, communicator 0\)\n"
                      r"  rank 2 in MPI_Recv: a receive from rank 1 \(tag 1, communicator 0\)\n"
                      r"  rank 1 in MPI_Recv: a receive from rank 0 \(tag 1, communicator 0\)"),
    "wildcard": (3, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Recv: a receive from any rank \(tag 5, communicator 0\)\n"
                    r"  rank 1 in MPI_Recv: a receive from rank 0 \(tag 6, communicator 0\)\n"
                    r"  and, waiting on them:\n  rank 2 in MPI_Recv: a receive from rank 0 \(tag 6, communicator 0\)"),
    "ssend_ring": (4, r"cycle 0 -> 1 -> 2 -> 3 -> 0:\n  rank 0 in MPI_Ssend: a send to rank 1 \(tag 2, communicator 0\)\n"
                      r"  rank 1 in MPI_Ssend: a send to rank 2 .*\n  rank 2 in MPI_Ssend: a send to rank 3 .*\n"
                      r"  rank 3 in MPI_Ssend: a send to rank 0 \(tag 2, communicator 0\)"),
    "wait_cycle": (2, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Wait: a receive from rank 1 \(tag 3, communicator 0\)\n"
                      r"  rank 1 in MPI_Wait: a receive from rank 0 \(tag 3, communicator 0\)"),
    "barrier_recv": (2, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Barrier: collective call \d+ on communicator 0, which rank 1 never joins\n"
                        r"  rank 1 in MPI_Recv: a receive from rank 0 \(tag 8, communicator 0\)"),
    "allreduce_recv": (3, r"cycle 0 -> 2 -> 0:\n  rank 0 in MPI_Allreduce: collective call \d+ on communicator 0, which rank 2 never joins\n"
                          r"  rank 2 in MPI_Recv: a receive from rank 0 \(tag 9, communicator 0\)"
                          # (rank 1, in the same MPI_Allreduce, is listed after them when its report
                          # reached rank 0 before the stuck set was confirmed)
                          r"(\n  and, waiting on them:\n  rank 1 in MPI_Allreduce: collective call \d+ on communicator 0, which rank 2 never joins)?"),
    "waitany_cycle": (2, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Waitany: a receive from rank 1 \(tag 10, communicator 0\) or "
                         r"a receive from rank 1 \(tag 11, communicator 0\)\n"
                         r"  rank 1 in MPI_Waitany: a receive from rank 0 \(tag 10, communicator 0\) or "
                         r"a receive from rank 0 \(tag 11, communicator 0\)"),
    # (rank 0's MPI_Waitall also waits on a send request, which the library does not describe: it
    # cannot free a rank that needs a stuck receive too; rank 2 waits in the final MPI_Barrier)
    "halo_waitall": (3, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Waitall: a receive from rank 1 \(tag 20, communicator 0\)\n"
                        r"  rank 1 in MPI_Recv: a receive from rank 0 \(tag 21, communicator 0\)"),
    # (the receives begin while each rank's snapshot is under way: they poll until it completed,
    # then wait inside MPI, watched)
    "after_checkpoint": (2, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Recv: a receive from rank 1 \(tag 4, communicator 0\)\n"
                            r"  rank 1 in MPI_Recv: a receive from rank 0 \(tag 4, communicator 0\)"),
    "after_checkpoint_waitall": (2, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Waitall: a receive from rank 1 \(tag 7, communicator 0\)\n"
                                    r"  rank 1 in MPI_Waitall: a receive from rank 0 \(tag 7, communicator 0\)"),
    "after_checkpoint_waitany": (2, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Waitany: a receive from rank 1 \(tag 10, communicator 0\) or "
                                    r"a receive from rank 1 \(tag 11, communicator 0\)\n"
                                    r"  rank 1 in MPI_Waitany: a receive from rank 0 \(tag 10, communicator 0\) or "
                                    r"a receive from rank 0 \(tag 11, communicator 0\)"),
    "persistent": (2, r"cycle 0 -> 1 -> 0:\n  rank 0 in MPI_Wait: a receive from rank 1 \(tag 30, communicator 0\)\n"
                      r"  rank 1 in MPI_Wait: a receive from rank 0 \(tag 30, communicator 0\)"),
    # (any one of rank 0's receives would end its MPI_Waitsome: reported only because both sources are stuck)
    "waitsome_fan": (3, r"cycle 0 -> [12] -> 0:\n  rank 0 in MPI_Waitsome: a receive from rank 1 \(tag 12, communicator 0\) or "
                        r"a receive from rank 2 \(tag 12, communicator 0\)\n"
                        r"  rank [12] in MPI_Recv: a receive from rank 0 \(tag 12, communicator 0\)\n"
                        r"  and, waiting on them:\n  rank [12] in MPI_Recv: a receive from rank 0 \(tag 12, communicator 0\)"),
}
FINISH = {"late_sender": 2, "long_compute": 3, "late_isend": 2, "pipeline": 4, "slow_collective": 3, "waitany_other": 3,
          "persistent_late": 2, "after_checkpoint_late": 2, "after_checkpoint_halo_late": 2,
          "commit_while_blocked": 2}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--tcp", action="store_true", help="--mca btl tcp,self")
    ap.add_argument("group", choices=["deadlocks", "finish", "settings"])
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    problems = []
    extra = ["--mca", "btl", "tcp,self"] if a.tcp else []

    def run(scenario, np, threshold="1", timeout=60):
        ckdir = os.path.join(a.workdir, scenario)
        shutil.rmtree(ckdir, ignore_errors=True)  # (an aborted run leaves its lease: taken over, and said so)
        env = mu.environment({"MPISNAP_DIR": ckdir, "MPISNAP_DEADLOCK": threshold})
        cmd = mu.mpiexec(a.mpiexec, np) + extra + [a.app, scenario]
        t0 = time.time()
        try:
            rc, out, err = mu.run(cmd, env, timeout)
        except subprocess.TimeoutExpired:
            return None, "", time.time() - t0
        return rc, out + err, time.time() - t0

    if a.group == "deadlocks":
        for scenario, (np, cycle) in DEADLOCKS.items():
            rc, out, took = run(scenario, np)
            report = re.search(r"mpisnap: deadlock: .*?(?=\nmpisnap: ending)", out, re.S)
            print(f"{scenario} (np {np}): exit {rc} after {took:.1f} s")
            if report:
                print("    " + report.group(0).replace("\n", "\n    "))
            if rc != 72 or not report or not re.search(cycle, report.group(0)):
                problems.append(f"{scenario}: expected status 72 and the cycle /{cycle}/, got exit {rc}:\n{out[-3000:]}")
            elif took > 20:
                problems.append(f"{scenario}: reported only after {took:.1f} s")
    elif a.group == "finish":
        for scenario, np in FINISH.items():
            rc, out, took = run(scenario, np)
            print(f"{scenario} (np {np}): exit {rc} after {took:.1f} s")
            if rc != 0 or "finished" not in out or "mpisnap: deadlock" in out:
                problems.append(f"{scenario}: a program that only looks stuck did not finish cleanly (exit {rc}):\n{out[-3000:]}")
    else:
        rc, out, took = run("head_to_head", 2, threshold="0", timeout=8)
        print(f"head_to_head with MPISNAP_DEADLOCK=0: {'hangs (killed after 8 s)' if rc is None else f'exit {rc}'}")
        if rc is not None:
            problems.append(f"MPISNAP_DEADLOCK=0 did not turn the check off (exit {rc}):\n{out[-2000:]}")
        shutil.rmtree(os.path.join(a.workdir, "default"), ignore_errors=True)
        env = mu.environment({"MPISNAP_DIR": os.path.join(a.workdir, "default")})
        t0 = time.time()
        rc, out, err = mu.run(mu.mpiexec(a.mpiexec, 2) + extra + [a.app, "head_to_head"], env, 60)
        took = time.time() - t0
        print(f"head_to_head with the default threshold: exit {rc} after {took:.1f} s")
        if rc != 72 or "more than 10.0 s" not in out + err or took < 10:
            problems.append(f"the default threshold (10 s) did not report the deadlock (exit {rc}, {took:.1f} s):\n{(out + err)[-2000:]}")
    return mu.report(a.group + (" (tcp)" if a.tcp else ""), problems)


if __name__ == "__main__":
    sys.exit(main())
