#!/usr/bin/env python3
"""A simulated cluster on one machine: Linux network namespaces as nodes.

Each node is a network namespace (`<prefix>-n<i>`) with its own address on a private bridge
(`<prefix>-br`, 10.177.<net>.0/24: the bridge .1, node i .(10 + i)); processes in it share the
machine's file system but reach each other only over TCP through the bridge, as on a real cluster.
MPI launches into the nodes through an rsh agent (`agent.sh host command...` runs the command in
that host's namespace), with a hostfile naming the nodes; `mpiexec` is a wrapper script that adds
the options of the MPI family: Open MPI's rsh agent, hostfile and TCP-only transports on the bridge;
MPICH's rsh launcher, hostfile and control interface, with UCX on TCP only. Killing a node = killing
every process in its namespace (`kill_node`).

  simcluster.py up --name N --nodes 3 --slots 2 --family openmpi --dir D   -> D/mpiexec, D/agent.sh, D/hosts
  simcluster.py down --name N
  simcluster.py kill-node --name N --node 2 [--dir D --wipe]

Each node has its own local storage, D/local/node<i>, which its processes see at D/local/here (the
agent bind-mounts it in the node's mount namespace): set MPISNAP_LOCAL_DIR=D/local/here.

Needs root and `ip netns`; `up` exits with status 77 (ctest's skip) when either is missing."""
import argparse
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

SKIP = 77


def sh(*cmd, check=True):
    r = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"simcluster: {' '.join(cmd)}: {r.stderr.strip()}")
    return r


def names(name, nodes):
    # Interface names are at most 15 characters: a short hash of the cluster's name keeps them unique.
    h = hashlib.sha1(name.encode()).hexdigest()[:6]
    net = int(h[:2], 16) % 200 + 20  # 10.177.<net>.0/24
    return {"ns": [f"msn{h}-{i}" for i in range(1, nodes + 1)], "bridge": f"msb{h}",
            "veth": [f"msv{h}{i}" for i in range(1, nodes + 1)], "net": net}


def can_run():
    if os.geteuid() != 0:
        return "not root"
    if sh("ip", "netns", "list", check=False).returncode != 0:
        return "`ip netns` is not available"
    probe = "msnprobe"
    r = sh("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        return f"cannot make a network namespace ({r.stderr.strip()})"
    sh("ip", "netns", "del", probe, check=False)
    return None


def down(name, nodes=16):
    n = names(name, nodes)
    for i, ns in enumerate(n["ns"], 1):
        kill_node(name, i, quiet=True)
        sh("ip", "netns", "del", ns, check=False)
    sh("ip", "link", "del", n["bridge"], check=False)


def local_dir(directory):
    """The path at which every node sees its own node-local storage (MPISNAP_LOCAL_DIR)."""
    return os.path.join(os.path.abspath(directory), "local", "here")


def node_storage(directory, node):
    return os.path.join(os.path.abspath(directory), "local", f"node{node}")


def node_tmp(directory, node):
    """The node's own temporary directory (TMPDIR of everything the agent starts there): Open MPI's
    daemons keep their session directories in it, named by host name, which every simulated node
    shares; one shared /tmp made them race (a daemon's mkdir failing with EEXIST, another's cleanup
    removing a directory in use)."""
    return os.path.join(os.path.abspath(directory), "nodetmp", f"node{node}")


def wipe_node(directory, node):
    """A lost node's local storage is gone: its directory emptied."""
    path = node_storage(directory, node)
    for entry in os.listdir(path):
        sh("rm", "-rf", os.path.join(path, entry))


def kill_node(name, node, quiet=False):
    ns = names(name, node)["ns"][node - 1]
    r = sh("ip", "netns", "pids", ns, check=False)
    pids = [int(p) for p in r.stdout.split()] if r.returncode == 0 else []
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if not quiet:
        print(f"simcluster: node {node} ({ns}): killed {len(pids)} process(es)")
    return pids


def up(name, nodes, slots, family, directory):
    why = can_run()
    if why:
        print(f"simcluster: SKIP: {why}")
        raise SystemExit(SKIP)
    down(name, nodes)
    n = names(name, nodes)
    net = n["net"]
    sh("ip", "link", "add", "name", n["bridge"], "type", "bridge")
    sh("ip", "addr", "add", f"10.177.{net}.1/24", "dev", n["bridge"])
    sh("ip", "link", "set", n["bridge"], "up")
    for i, (ns, veth) in enumerate(zip(n["ns"], n["veth"]), 1):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", n["bridge"], "up")
        sh("ip", "-n", ns, "addr", "add", f"10.177.{net}.{10 + i}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    os.makedirs(directory, exist_ok=True)
    # A new cluster's node-local disks are empty: what an earlier run of the same test left there
    # would be restored from as if this job had written it.
    shutil.rmtree(os.path.join(os.path.abspath(directory), "local"), ignore_errors=True)
    # Node-local storage: every node sees its own directory local/node<i> at the one path local/here
    # (a bind mount in the node's mount namespace, made by the agent), as a job sees /dev/shm or a
    # local SSD at the same path on every node of a real cluster.
    here = local_dir(directory)
    os.makedirs(here, exist_ok=True)
    for i in range(1, nodes + 1):
        os.makedirs(node_storage(directory, i), exist_ok=True)
        os.makedirs(node_tmp(directory, i), exist_ok=True)
        os.chmod(node_tmp(directory, i), 0o1777)
    agent = os.path.join(directory, "agent.sh")
    with open(agent, "w") as f:
        f.write("#!/bin/bash\n# rsh agent of the simulated cluster: agent.sh [options] node<i> command...\n"
                "while [[ \"$1\" == -* ]]; do shift; done\nhost=$1; shift\ncase \"$host\" in\n")
        for i, ns in enumerate(n["ns"], 1):
            f.write(f"  node{i}) ns={ns}; storage={node_storage(directory, i)}; tmp={node_tmp(directory, i)} ;;\n")
        f.write("  *) echo \"agent.sh: no node $host\" >&2; exit 1 ;;\nesac\nexport TMPDIR=$tmp\n"
                f"exec ip netns exec \"$ns\" unshare --mount --propagation private /bin/sh -c "
                f"\"mount --bind $storage {here} || exit 1; $*\"\n")
    hosts = os.path.join(directory, "hosts")
    with open(hosts, "w") as f:
        for i in range(1, nodes + 1):
            f.write(f"node{i} slots={slots}\n" if family == "openmpi" else f"node{i}:{slots}\n")
    subnet = f"10.177.{net}.0/24"
    if family == "openmpi":
        # (Open MPI passes a remote node only the variables named with -x: mpisnap's are forwarded)
        launch = ("forward=()\nfor v in $(compgen -e); do case $v in MPISNAP_*) forward+=(-x \"$v\") ;; esac; done\n"
                  f"exec mpiexec.openmpi --mca plm_rsh_agent {agent} --hostfile {hosts} "
                  f"--mca oob_tcp_if_include {subnet} --mca btl tcp,self --mca btl_tcp_if_include {subnet} "
                  "\"${forward[@]}\" \"$@\"")
        wrapper = os.path.join(directory, "mpiexec.openmpi")
    else:
        launch = (f"export UCX_TLS=tcp,self\nexec mpiexec.mpich -launcher rsh -launcher-exec {agent} -f {hosts} "
                  f"-iface {n['bridge']} \"$@\"")
        wrapper = os.path.join(directory, "mpiexec.mpich")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/bash\n# mpiexec on the simulated cluster {name} ({nodes} nodes x {slots} slots)\n{launch}\n")
    for p in (agent, wrapper):
        os.chmod(p, os.stat(p).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"simcluster: {name}: {nodes} nodes ({', '.join(n['ns'])}) on {subnet}; launch with {wrapper}")
    return wrapper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["up", "down", "kill-node"])
    ap.add_argument("--name", required=True)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--family", choices=["openmpi", "mpich"], default="openmpi")
    ap.add_argument("--dir", default=".")
    ap.add_argument("--node", type=int)
    ap.add_argument("--wipe", action="store_true", help="kill-node: also empty the node's local storage")
    a = ap.parse_args()
    if a.action == "up":
        up(a.name, a.nodes, a.slots, a.family, a.dir)
    elif a.action == "down":
        down(a.name, a.nodes)
    else:
        kill_node(a.name, a.node)
        if a.wipe:
            wipe_node(a.dir, a.node)


if __name__ == "__main__":
    main()
