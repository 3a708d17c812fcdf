#!/usr/bin/env python3
"""Check lamport_mutex's committed checkpoints as consistent global states (the lecture's uses of a
snapshot), through the mpisnap reader (`import mpisnap`; from this source tree when not installed):

  mutual exclusion     at most one process holds each lock
  grant order          every request granted so far precedes, in (timestamp, process) order, every
                       request still waiting (grants held, in the logs, or released in flight)
  replicated queue     every process's queue and log, once the messages in flight to it are applied
                       in order, are the same
  deadlock             a cycle of processes each waiting for a lock the next one holds, with no
                       release of an awaited lock in flight: stable, so reported as a deadlock

Exit status: 0 all hold and no deadlock, 1 an invariant is broken, 4 a deadlock (the newest
checkpoint's; --last checks only that one). --require-in-flight also fails (1) when no checkpoint
had protocol messages in flight."""
import argparse
import bisect
import os
import sys

try:
    import mpisnap
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "python"))
    import mpisnap

TAG = 11  # lamport_state.hpp
REQUEST, ACK, RELEASE, DONE = 1, 2, 3, 4
MSG = [("type", "<i8"), ("ts", "<i8"), ("sender", "<i8"), ("lock", "<i8"), ("grant_ts", "<i8"), ("value", "<i8")]


def entries(s, name):
    return sorted(zip(*(map(int, s[f"{name}_{f}"]) for f in ("lock", "ts", "proc", "value"))))


def check(g):
    """(violations, deadlock text or "", protocol messages in flight) for one GlobalState."""
    states = g.states()
    n, nlocks = g.nranks, int(states[0]["nlocks"])
    inbox = [[] for _ in range(n)]
    in_flight = 0
    for m in g.messages:
        if m.comm == 0 and m.tag == TAG:
            inbox[m.dest].extend(m.as_(MSG))
            in_flight += 1
    violations = []
    holder = {}
    for lk in range(nlocks):
        holders = [p for p in range(n) if int(states[p]["holding"][lk])]
        if len(holders) > 1:
            violations.append(f"mutual exclusion: lock {lk} is held by processes {', '.join(map(str, holders))}")
        if holders:
            holder[lk] = holders[0]
    for lk in range(nlocks):
        granted, waiting = [], []
        for p, s in enumerate(states):
            granted += [(ts, proc) for (lock, ts, proc, _) in entries(s, "log") if lock == lk]
            granted += [(int(m["grant_ts"]), int(m["sender"])) for m in inbox[p]
                        if m["type"] == RELEASE and m["lock"] == lk]
            ts = int(s["req_ts"][lk])
            if ts >= 0:
                (granted if int(s["holding"][lk]) else waiting).append((ts, p))
        if granted and waiting and min(waiting) < max(granted):
            (gt, gp), (wt, wp) = max(granted), min(waiting)
            violations.append(f"grant order: lock {lk} was granted to request (ts {gt}, process {gp}) while the "
                              f"earlier request (ts {wt}, process {wp}) still waits")
    queues, logs = [], []
    for p, s in enumerate(states):
        q = [e[:3] for e in entries(s, "queue")]
        lg = entries(s, "log")
        for m in inbox[p]:
            t, lock, sender = int(m["type"]), int(m["lock"]), int(m["sender"])
            if t == REQUEST:
                bisect.insort(q, (lock, int(m["ts"]), sender))
            elif t == RELEASE:
                q = [e for e in q if not (e[0] == lock and e[2] == sender)]
                bisect.insort(lg, (lock, int(m["grant_ts"]), sender, int(m["value"])))
        queues.append(q)
        logs.append(lg)
    for p in range(1, n):
        if queues[p] != queues[0]:
            violations.append(f"replicated queue: process {p} has {len(queues[p])} request(s) queued, process 0 has "
                              f"{len(queues[0])}, or different ones (messages in flight applied)")
        if logs[p] != logs[0]:
            violations.append(f"replicated log: process {p} has {len(logs[p])} grant(s), process 0 has "
                              f"{len(logs[0])}, or different ones (messages in flight applied)")
    waits = {}
    for p, s in enumerate(states):
        for lk in range(nlocks):
            if int(s["req_ts"][lk]) >= 0 and not int(s["holding"][lk]) and holder.get(lk, p) != p:
                waits[p] = (lk, holder[lk])
    deadlock = ""
    for start in sorted(waits):
        path, p = [], start
        while p in waits and p not in path:
            path.append(p)
            p = waits[p][1]
        if p != start or min(path) != start:
            continue
        if any(m["type"] == RELEASE and int(m["lock"]) == waits[q][0] for q in path for m in inbox[q]):
            continue
        deadlock = "; ".join(
            f"process {q} holds lock {', '.join(str(lk) for lk in range(nlocks) if int(states[q]['holding'][lk]))} "
            f"and waits for lock {waits[q][0]} (held by process {waits[q][1]})" for q in path)
        break
    return violations, deadlock, in_flight


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory")
    ap.add_argument("--last", action="store_true", help="only the newest committed checkpoint")
    ap.add_argument("--require-in-flight", action="store_true")
    a = ap.parse_args()
    ids = mpisnap.checkpoints(a.directory)
    if a.last:
        ids = ids[-1:]
    bad = with_messages = 0
    deadlock = ""
    for cid in ids:
        g = mpisnap.open(a.directory, cid)
        violations, deadlock, in_flight = check(g)
        with_messages += in_flight > 0
        bad += bool(violations)
        for v in violations:
            print(f"ckpt-{cid:08d} (safe point {g.safe_point}): INVARIANT VIOLATED: {v}")
        if deadlock:
            print(f"ckpt-{cid:08d} (safe point {g.safe_point}): DEADLOCK: {deadlock}")
    print(f"lamport check: {len(ids)} checkpoint(s), {with_messages} with messages in flight, {bad} violating, "
          f"{'deadlock in the newest' if deadlock else 'no deadlock in the newest'}")
    if bad or (a.require_in_flight and with_messages == 0):
        return 1
    return 4 if deadlock else 0


if __name__ == "__main__":
    sys.exit(main())
