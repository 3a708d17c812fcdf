"""Running MPI jobs from the end-to-end tests: mpiexec command lines, whole-job SIGKILL, RESULT lines;
and the small helpers the scenario scripts share (damaging a checkpoint file, reporting problems)."""
import os
import signal
import subprocess
import time

ROOT_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def is_mpich(mpiexec_path):
    """Whether this launcher is MPICH's (hydra), which takes no Open MPI options."""
    names = (os.path.basename(mpiexec_path), os.path.basename(os.path.realpath(mpiexec_path)))
    return any("mpich" in n or "hydra" in n for n in names)


def env_option(mpiexec_path, name, value):
    """The launcher's option that sets an environment variable in every rank."""
    return ["-genv", name, value] if is_mpich(mpiexec_path) else ["-x", f"{name}={value}"]


def mpiexec(mpiexec_path, np):
    if is_mpich(mpiexec_path):
        return [mpiexec_path, "-n", str(np)]
    return [mpiexec_path, "--oversubscribe", "--bind-to", "none", "-np", str(np)]


def environment(extra=None):
    env = dict(os.environ)
    env.update(ROOT_ENV)
    for key in [k for k in env if k.startswith("MPISNAP_")]:
        del env[key]
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def results(text):
    """The lines a run's answer is judged by."""
    return [line for line in text.splitlines() if line.startswith("RESULT ")]


def run(cmd, env, timeout):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def session_processes(sid):
    """{pid: (parent pid, command name)} of the live processes in session sid."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
            fields = tail.split()
            # (field 6 of /proc/pid/stat: the session id. A zombie is left out: it is dead and holds
            # nothing, and a job's orphaned ranks stay zombies until PID 1 reaps them, which in a
            # container can take seconds.)
            if int(fields[3]) == sid and fields[0] != "Z":
                procs[int(name)] = (int(fields[1]), head.split("(", 1)[1])
        except (OSError, IndexError, ValueError):
            pass
    return procs


def session_pids(sid):
    return list(session_processes(sid))


def descendants(procs, root, comm):
    """The pids in procs (from session_processes) named comm that descend from root."""
    found = []
    for pid, (_, name) in procs.items():
        if name != comm[:15]:
            continue
        p = pid
        while p in procs and p != root:
            p = procs[p][0]
        if p == root:
            found.append(pid)
    return found


def kill_session(sid):
    """SIGKILL every process of the job's session: mpirun and every rank, all at once."""
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Job:
    """An MPI job in its own session, so that it can be killed whole."""

    def __init__(self, cmd, env, log_path, stderr_path=None):
        """Output to log_path; stderr too unless stderr_path is given. (mpirun forwards each rank's
        output in pieces as it reads them, so one rank's stderr can land inside another's stdout
        line when both go to one file: a run whose stdout lines are its answer keeps them apart.)"""
        self.log = open(log_path, "w")
        self.err = open(stderr_path, "w") if stderr_path else None
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=self.err or subprocess.STDOUT,
                                     start_new_session=True)
        self.sid = self.proc.pid

    def rank_pids(self, exe_name):
        return [pid for pid, (_, name) in session_processes(self.sid).items() if name == exe_name[:15]]

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_all(self):
        kill_session(self.sid)
        self.proc.wait()
        self.reap()

    def reap(self, grace=10.0):
        """Makes sure no process of the job is left, whatever happened."""
        deadline = time.time() + grace
        while session_pids(self.sid) and time.time() < deadline:
            time.sleep(0.05)
        kill_session(self.sid)
        self.log.close()
        if self.err:
            self.err.close()


def flip_byte(path, dataset):
    """Flips the first byte of `dataset`'s data in the HDF5 file `path`."""
    import h5py  # only the scripts that damage files need it
    with h5py.File(path, "r") as f:
        offset = f[dataset].id.get_offset()
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def report(scenario, problems):
    """Prints the problems and the verdict; returns the exit status."""
    for p in problems:
        print(f"PROBLEM: {p}")
    print(f"{scenario}: {'ok' if not problems else 'FAILED'}")
    return 1 if problems else 0
