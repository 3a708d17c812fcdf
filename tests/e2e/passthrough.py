#!/usr/bin/env python3
"""A program that never creates a Session behaves exactly as without mpisnap: the same program built
without the library, linked with it, and with it LD_PRELOADed must print the same results."""
import argparse
import sys

import mpirun_util as mu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--plain", required=True)
    ap.add_argument("--linked", required=True)
    ap.add_argument("--library", required=True)
    a = ap.parse_args()
    failures = 0
    for np in (2, 4):
        runs = {
            "plain": (mu.mpiexec(a.mpiexec, np) + [a.plain], mu.environment()),
            "linked": (mu.mpiexec(a.mpiexec, np) + [a.linked], mu.environment()),
            "preloaded": (mu.mpiexec(a.mpiexec, np) + mu.env_option(a.mpiexec, "LD_PRELOAD", a.library) + [a.plain],
                          mu.environment()),
        }
        outputs = {}
        for name, (cmd, env) in runs.items():
            rc, out, err = mu.run(cmd, env, timeout=60)
            if rc != 0:
                print(f"np {np} {name}: exit {rc}\n{err}")
                failures += 1
            outputs[name] = mu.results(out)
        # The preload took effect: the library's MPI_Init wrapper speaks when asked to.
        rc, out, err = mu.run(runs["preloaded"][0], mu.environment({"MPISNAP_VERBOSE": 1}), timeout=60)
        if "mpisnap: library loaded" not in err:
            print(f"np {np}: the preloaded library did not intercept MPI_Init:\n{err}")
            failures += 1
        ok = outputs["plain"] and outputs["plain"] == outputs["linked"] == outputs["preloaded"]
        print(f"np {np}: plain={outputs['plain']} linked={outputs['linked']} preloaded={outputs['preloaded']} "
              f"-> {'same' if ok else 'DIFFERENT'}")
        failures += 0 if ok else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
