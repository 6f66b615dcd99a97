"""The whole tiny DAG is deterministic, and a crash mid-training resumes to the very same numbers.

- Two uninterrupted full runs of `snakemake all` (tiny config: the session's `tiny_run` and a fresh one)
  give identical metrics files.
- A job killed (SIGKILL to Snakemake's whole process group, as a node failure would) between two epochs
  of a phase, then rerun (`--unlock`, `--rerun-incomplete`), resumes from the epoch checkpoint and ends
  with the same metrics as the uninterrupted run; the same when the kill lands between two phases.

The kill tests work on hard-linked copies of the finished run with the killed arm's folder removed, so
only that arm is retrained. Metrics are compared without the provenance record (`run`: times, host,
commit, device), the only part of a metrics file allowed to differ.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TinyRun
from workflow_sandbox import TINY, clean_env, clone_sandbox, copy_workflow, kill_group, snakemake, tool

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

RESULTS = Path("results_tiny/tiny_gist")


def _comparable(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "run"}


def _metrics(work: Path) -> dict[str, Any]:
    """Every run's metrics (minus provenance), keyed by path (tables are not compared: some report measured
    cost such as throughput and peak memory, which no two runs share)."""
    found = {
        str(p.relative_to(work)): _comparable(json.loads(p.read_text()))
        for p in work.glob(f"{RESULTS}/runs/**/metrics.json")
    }
    assert len(found) > 10, f"too few results in {work}: {sorted(found)}"
    return found


@pytest.fixture(scope="module")
def reference(tiny_run: TinyRun) -> dict[str, Any]:
    return _metrics(tiny_run.work)


def test_two_full_runs_give_identical_metrics(reference: dict[str, Any], tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "again")
    snakemake(work, "--cores", "2", "--quiet", "--", "all", timeout=1200)
    assert _metrics(work) == reference


def _kill_when(work: Path, target: str, ready: Callable[[], bool]) -> None:
    """Run `snakemake <target>` one job at a time; SIGKILL its whole process group as soon as `ready()`.

    SIGKILL straight away, without clean-up, like a node failure; one job at a time, so the state at the kill
    is exactly the one `ready` saw.
    """
    cmd = [tool("snakemake"), "--configfile", TINY, "--cores", "1", "--quiet", "--", target]
    proc = subprocess.Popen(
        cmd, cwd=work, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if ready():
                kill_group(proc, grace=0)
                return
            time.sleep(0.02)
        raise RuntimeError(f"snakemake {target} finished or stalled before the moment to kill it")
    finally:
        if proc.poll() is None:
            kill_group(proc)


def _resume_arm(tiny_run: TinyRun, dest: Path, arm: str, moment: Callable[[Path], bool], logged: str) -> dict[str, Any]:
    """Retrain `arm` in a copy of the finished run, killed at `moment(run_dir)`, rerun; returns its metrics.

    `logged`: what the rerun's log must say (it resumed an epoch checkpoint / reused a finished phase).
    """
    rel = RESULTS / "runs/tmmnet/resnet18_os8" / arm / "seed0"
    work = clone_sandbox(tiny_run.work, dest, drop=[str(rel)])
    run_dir = work / rel
    target = str(rel / "metrics.json")
    _kill_when(work, target, lambda: moment(run_dir))
    assert not (run_dir / "metrics.json").exists()
    snakemake(work, "--unlock", timeout=120)
    snakemake(work, "--cores", "2", "--quiet", "--rerun-incomplete", "--", target, timeout=900)
    assert logged in (run_dir / "train.log").read_text()
    return _comparable(json.loads((run_dir / "metrics.json").read_text()))


def _mid_phase(run_dir: Path) -> bool:
    last = run_dir / "ckpt/classify/last.pt"
    return last.exists() and not (last.parent / "done.json").exists()


def _between_phases(run_dir: Path) -> bool:
    return (run_dir / "ckpt/stage3/done.json").exists() and not (run_dir / "ckpt/classify/last.pt").exists()


def test_killed_between_epochs_resumes_to_the_same_metrics(
    tiny_run: TinyRun, reference: dict[str, Any], tmp_path: Path
) -> None:
    got = _resume_arm(tiny_run, tmp_path / "killed", "direct_fusion", _mid_phase, "resuming from checkpoint")
    assert got == reference[str(RESULTS / "runs/tmmnet/resnet18_os8/direct_fusion/seed0/metrics.json")]


def test_killed_between_phases_resumes_to_the_same_metrics(
    tiny_run: TinyRun, reference: dict[str, Any], tmp_path: Path
) -> None:
    """Killed after the TMM-Net arm finished stage 3, before its first classification epoch ended."""
    got = _resume_arm(tiny_run, tmp_path / "between", "tmmnet", _between_phases, "already trained")
    assert got == reference[str(RESULTS / "runs/tmmnet/resnet18_os8/tmmnet/seed0/metrics.json")]
