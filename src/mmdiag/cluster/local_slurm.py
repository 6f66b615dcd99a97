"""A throw-away one-node SLURM cluster on localhost, for CI and for trying the slurm profile.

Why it exists: the SLURM profile is only worth shipping if a test submits the real DAG through the
real executor plugin. Debian's `slurmctld slurmd slurm-client munge` run as root without systemd;
everything this module starts (munged, slurmctld, slurmd) keeps its socket, state, logs and pid files
in one scratch folder, and only processes it started are stopped. The cluster's `slurm.conf` is
never written to /etc: callers pass `env()` (SLURM_CONF) to their subprocesses, so a machine with
the client tools installed but no cluster running keeps failing fast instead of stalling every
Snakemake start-up on an unanswered `scontrol` (ENVIRONMENT_NOTES.md). Clients find the cluster
through shims in `<root>/bin` that pin SLURM_CONF: the executor plugin's job step strips every
`SLURM_*` variable before its nested `srun`, so an environment variable alone does not reach it.

GPUs are faked for scheduling: gres.conf maps `gpu` to character devices (/dev/null, /dev/zero, ...),
so jobs asking `--gpus=1` are scheduled on them and see `CUDA_VISIBLE_DEVICES` set by SLURM.

    python -m mmdiag.cluster.local_slurm start /tmp/slurm --gpus 2   # prints the `export` line for clients
    python -m mmdiag.cluster.local_slurm stop /tmp/slurm
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CLIENT_TOOLS = ("sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel", "sacct", "salloc")
REQUIRED_TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol")
# character devices standing in for GPUs (gres.conf needs a char device per GPU, else the node goes INVAL)
FAKE_GPU_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
NODE = "localhost"


class ClusterUnavailable(RuntimeError):
    """This machine cannot host the cluster (not root, or the SLURM/munge packages are missing)."""


def missing_requirements() -> str | None:
    """Why a local cluster cannot start here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (slurmd runs jobs as their submitting user)"
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)}: run tools/install_system_deps.sh as root"
    return None


def _memory_mb() -> int:
    """85% of physical memory, as the node's RealMemory (slurmd drains a node that claims more than it has)."""
    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return int(pages * page_size / 2**20 * 0.85)


def slurm_conf(root: Path, cpus: int, memory_mb: int, gpus: int, munge_socket: Path) -> str:
    """slurm.conf of a single node `localhost` with partitions `cpu` (default) and `gpu`."""
    return "\n".join(
        [
            "ClusterName=mmdiag-ci",
            f"SlurmctldHost={NODE}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/backfill",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={root / 'log' / 'jobcomp.txt'}",
            # squeue must still see finished jobs when the executor plugin polls (it needs >= 3x its first delay)
            "MinJobAge=600",
            "DefMemPerCPU=1000",
            "ReturnToService=2",
            "SlurmctldPort=16817",
            "SlurmdPort=16818",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "GresTypes=gpu",
            f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb}"
            + (f" Gres=gpu:{gpus}" if gpus else "")
            + " State=UNKNOWN",
            f"PartitionName=cpu Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName=gpu Nodes={NODE} MaxTime=INFINITE State=UP",
            "",
        ]
    )


def gres_conf(gpus: int) -> str:
    """Fake GPUs: one character device each, no auto-detection."""
    if gpus > len(FAKE_GPU_FILES):
        raise ValueError(f"at most {len(FAKE_GPU_FILES)} fake GPUs")
    lines = ["AutoDetect=off"] + [f"NodeName={NODE} Name=gpu File={f}" for f in FAKE_GPU_FILES[:gpus]]
    return "\n".join(lines) + "\n"


@dataclass
class LocalSlurm:
    """One single-node cluster rooted at `root` (created on start, reusable after stop)."""

    root: Path
    gpus: int = 2
    cpus: int | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for clients of this cluster (sbatch, squeue, snakemake --executor slurm)."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', os.defpath)}"
        return env

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Write the configuration, start munged, slurmctld and slurmd, and wait until the node is idle."""
        reason = missing_requirements()
        if reason:
            raise ClusterUnavailable(reason)
        for sub in ("state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        cpus = self.cpus or os.cpu_count() or 1
        self.conf.write_text(slurm_conf(self.root, cpus, _memory_mb(), self.gpus, self.munge_socket))
        (self.root / "gres.conf").write_text(gres_conf(self.gpus))
        self._write_client_shims()
        env = self.env()
        # -c: start from a clean state (no jobs left from an earlier cluster in this folder)
        self._spawn(["slurmctld", "-c", "-f", str(self.conf)], env)
        self._spawn(["slurmd", "-N", NODE, "-f", str(self.conf)], env)
        self._wait_idle(timeout)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the daemons this cluster started (by their pid files), then munged."""
        for name in ("slurmd", "slurmctld", "munge/munged"):
            _terminate(self.root / f"{name}.pid", timeout)

    def logs(self, tail: int = 60) -> str:
        """The last lines of every daemon log, for a failing test's message."""
        parts = []
        for log in [*sorted((self.root / "log").glob("*")), self.root / "munge" / "munged.log"]:
            if log.is_file():
                lines = log.read_text(errors="replace").splitlines()[-tail:]
                parts.append(f"==> {log} <==\n" + "\n".join(lines))
        return "\n".join(parts)

    # -- helpers -------------------------------------------------------------------------------------
    def _start_munge(self) -> None:
        """munged with its own socket, key from /etc/munge; as root it needs --force (it warns, then runs)."""
        mdir = self.root / "munge"
        mdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            "munged",
            "--force",
            f"--socket={self.munge_socket}",
            f"--pid-file={mdir / 'munged.pid'}",
            f"--log-file={mdir / 'munged.log'}",
            f"--seed-file={mdir / 'munged.seed'}",
        ]
        self._spawn(cmd, dict(os.environ))

    def _write_client_shims(self) -> None:
        """`<root>/bin/<tool>`: the real client tool with this cluster's SLURM_CONF, whatever the caller's env."""
        self.bin.mkdir(exist_ok=True)
        search = os.pathsep.join(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p != str(self.bin))
        for tool in CLIENT_TOOLS:
            real = shutil.which(tool, path=search)
            if real is None:
                continue
            shim = self.bin / tool
            shim.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec {real} "$@"\n')
            shim.chmod(0o755)

    def _spawn(self, cmd: list[str], env: dict[str, str]) -> None:
        """Start a daemon (it forks into the background); fail with its output when it cannot."""
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}\n{self.logs()}")

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"], env=self.env(), capture_output=True, text=True, timeout=15
            )
            state = proc.stdout.strip()
            if proc.returncode == 0 and state.split() and all(s == "idle" for s in state.split()):
                return
            time.sleep(0.5)
        raise TimeoutError(f"node not idle after {timeout:.0f} s (state {state!r})\n{self.logs()}")


def _terminate(pid_file: Path, timeout: float) -> None:
    """SIGTERM the process named in `pid_file`, SIGKILL it after `timeout`; a stale or missing file is a no-op."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmdiag.cluster.local_slurm", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop", "logs"])
    parser.add_argument("root", type=Path, help="scratch folder for state, logs and sockets")
    parser.add_argument("--gpus", type=int, default=2, help="fake GPUs on the node")
    args = parser.parse_args(argv)
    cluster = LocalSlurm(args.root, gpus=args.gpus)
    if args.action == "start":
        try:
            cluster.start()
        except ClusterUnavailable as exc:
            print(f"local_slurm: {exc}", file=sys.stderr)
            return 1
        print(f'export SLURM_CONF={cluster.conf} PATH="{cluster.bin}:$PATH"')
    elif args.action == "stop":
        cluster.stop()
    else:
        print(cluster.logs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
