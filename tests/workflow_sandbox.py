"""A private copy of the workflow for tests that run Snakemake, DVC or SLURM end to end.

Why a copy: those tools keep state next to the Snakefile (.snakemake/ locks and metadata, .dvc/,
slurm logs) and DVC needs its own git repository; a copy lets such tests run beside each other
and beside a developer's own runs in the checkout. It holds what git would commit (tracked files
plus untracked ones not ignored), so work in progress is tested as it is on disk.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's snakemake and dvc live next to its python
TINY = "tests/configs/tiny.yaml"


def tool(name: str) -> str:
    """Path of a console script of this environment (snakemake, dvc)."""
    path = BIN / name
    return str(path) if path.exists() else name


def copy_workflow(dest: Path, snapshot: Path | None = None) -> Path:
    """Copy the checkout's workflow files (as git would commit them) into `dest`.

    With `snapshot` (an earlier copy), copy that instead: the runs of one test module then all see the
    same files even while the checkout is being edited.
    """
    if snapshot is not None:
        shutil.copytree(snapshot, dest, symlinks=True)
        return dest
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.split(b"\0")
    for rel in filter(None, (p.decode() for p in listed)):
        src = REPO / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a test subprocess: offline, no analytics, no pinned GPU."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(HF_HUB_OFFLINE="1", DVC_NO_ANALYTICS="1", PYTHONHASHSEED="0")
    env.update(extra)
    return env


def run(
    cmd: Sequence[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; on timeout kill the whole group (never hang a test)."""
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=env or clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate()
        raise AssertionError(f"{' '.join(cmd)} ran past {timeout:.0f} s; output:\n{out[-4000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM then SIGKILL the process group `proc` leads (it was started with start_new_session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        if proc.poll() is not None:
            return


def snakemake(cwd: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    """`snakemake --configfile tests/configs/tiny.yaml ARGS` in `cwd`; returns its output, fails on error."""
    proc = run([tool("snakemake"), "--configfile", TINY, *args], cwd, timeout, env)
    assert proc.returncode == 0, f"snakemake {' '.join(args)} failed:\n{proc.stdout[-6000:]}"
    return proc.stdout


GIT = ["git", "-c", "user.name=mmdiag-test", "-c", "user.email=test@mmdiag.invalid", "-c", "init.defaultBranch=main"]


def sandbox_env() -> dict[str, str]:
    """clean_env with this environment's scripts on PATH (DVC stages call `snakemake`, as in an activated venv)."""
    return clean_env(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def ok(cmd: Sequence[str], cwd: Path, timeout: float = 300) -> str:
    """Run `cmd` in the sandbox environment; fail with its output unless it succeeds."""
    proc = run(cmd, cwd, timeout, sandbox_env())
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-5000:]}"
    return proc.stdout


def git(cwd: Path, *args: str, timeout: float = 120) -> str:
    return ok([*GIT, *args], cwd, timeout)


def dvc(cwd: Path, *args: str, timeout: float = 300) -> str:
    return ok([tool("dvc"), *args], cwd, timeout)


def clone_sandbox(src: Path, dest: Path, drop: Sequence[str] = ()) -> Path:
    """A copy of a finished sandbox whose files are hard links (instant, no extra disk), minus `drop` folders.

    Safe because every writer replaces files atomically (new inode) rather than editing them in place, so
    work in the copy never changes the original; `drop` removes run folders the copy will recompute.
    """
    shutil.copytree(src, dest, symlinks=True, copy_function=os.link, ignore=shutil.ignore_patterns(".dvc"))
    for rel in drop:
        shutil.rmtree(dest / rel, ignore_errors=True)
    return dest
