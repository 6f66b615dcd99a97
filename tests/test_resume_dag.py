"""The tiny DAG is deterministic, and a crash mid-training resumes to the very same numbers.

- The same command twice gives the same results: one job of every training rule (pretrain, the full
  TMM-Net arm, an ablation arm, a fusion study, a dual-branch stage, distillation, both CV folds and their
  summary) and one whole table (Table 4, CV) are rerun from nothing in a fresh copy of the workflow files
  `tiny_run` ran, and compared with its results: every metrics file, its provenance record (`run`) without
  the clock (start, end, seconds), the predictions, the table's CSV/Markdown/LaTeX and its provenance
  sidecar. A subset of the DAG rather than a second whole one: every job is its own process from a fresh
  seed, so what one job proves about determinism does not depend on which other jobs ran beside it.
- A job killed (SIGKILL to Snakemake's whole process group, as a node failure would) between two epochs
  of a phase, then rerun (`--unlock`, `--rerun-incomplete`), resumes from the epoch checkpoint and ends
  with the same metrics as the uninterrupted run; the same when the kill lands between two phases.

The kill tests work on hard-linked copies of the finished run with the killed arm's folder removed, so
only that arm is retrained. Their metrics are compared without the provenance record (`run`: times, host,
commit, device), the only part of a metrics file allowed to differ after a resume.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TinyRun
from workflow_sandbox import TINY, clean_env, clone_sandbox, kill_group, snakemake, tool

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


# What the determinism test reruns (under RESULTS), and what it must find there afterwards.
RERUN_TARGETS = (
    "runs/tmmnet/resnet18_os8/tmmnet/seed0/metrics.json",  # rule train_fusion, after pretrain on both modalities
    "runs/tmmnet/resnet18_os8/baseline2/seed0/metrics.json",  # rule ablation
    "runs/fusion/strategies/summary.json",  # rule fusion_study
    "runs/dualbranch/unimodal_eus/metrics.json",  # rule dualbranch
    "runs/distillation/summary.json",  # rule distillation
    "tables/tmmnet_t4_cv.csv",  # rule table, over cross_validate over two cv_fold jobs
)
RERUN_RULES = {
    "download",
    "build_corpus",
    "preprocess",
    "pretrain",
    "train_fusion",
    "ablation",
    "fusion_study",
    "dualbranch",
    "distillation",
    "cv_fold",
    "cross_validate",
    "table",
}
CLOCK = frozenset({"started", "finished", "seconds"})  # provenance fields that record when, not what


def _without_clock(obj: Any, drop: frozenset[str] = CLOCK) -> Any:
    """`obj` without the clock fields (`drop`), at any depth (a table sidecar nests the runs' records)."""
    if isinstance(obj, dict):
        return {k: _without_clock(v, drop) for k, v in obj.items() if k not in drop}
    if isinstance(obj, list):
        return [_without_clock(v, drop) for v in obj]
    return obj


def _rules_run(output: str) -> set[str]:
    """The rules of the jobs a `snakemake` run lists in its job stats."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {line.split()[0] for line in table.splitlines()[3:] if line.split() and line.split()[0] != "total"}


def test_the_same_command_twice_gives_identical_results(tiny_run: TinyRun, tmp_path: Path) -> None:
    work = _workflow_of(tiny_run, tmp_path / "again")
    out = snakemake(work, "--cores", "2", "--", *(str(RESULTS / t) for t in RERUN_TARGETS), timeout=1200)
    assert _rules_run(out) == RERUN_RULES  # a fresh results folder: everything was recomputed
    _assert_same_results(work, tiny_run.work)


def _workflow_of(tiny_run: TinyRun, dest: Path) -> Path:
    """The workflow files `tiny_run` ran (not the checkout's, which may have been edited since), without results."""
    skip = shutil.ignore_patterns(".git", ".dvc", ".snakemake", RESULTS.parts[0])
    return Path(shutil.copytree(tiny_run.work, dest, symlinks=True, ignore=skip))


def _assert_same_results(work: Path, reference: Path) -> None:
    """Every metrics file and prediction under `work`'s runs, and Table 4 with its sidecar, as in `reference`."""
    from mmdiag.reporting.provenance import verify_sidecar

    again, first = work / RESULTS, reference / RESULTS
    metrics = sorted(p.relative_to(again) for p in again.glob("runs/**/metrics.json"))
    assert len(metrics) >= 10, metrics
    recorded = 0
    for rel in metrics:
        got, want = json.loads((again / rel).read_text()), json.loads((first / rel).read_text())
        assert _without_clock(got) == _without_clock(want), rel
        if "run" in got:  # a run's provenance record (a CV summary has none: its folds do)
            assert got["run"]["config_hash"] and got["run"]["dataset_checksum"], rel
            recorded += 1
    assert recorded >= 10, metrics
    predictions = sorted(p.relative_to(again) for p in again.glob("runs/**/predictions_*.csv"))
    assert len(predictions) >= 4, predictions
    for rel in predictions:
        assert (again / rel).read_bytes() == (first / rel).read_bytes(), rel

    for ext in ("csv", "md", "tex"):
        rel = f"tables/tmmnet_t4_cv.{ext}"
        assert (again / rel).read_bytes() == (first / rel).read_bytes(), rel
    rel = "tables/tmmnet_t4_cv.provenance.json"
    got, want = json.loads((again / rel).read_text()), json.loads((first / rel).read_text())
    assert got["rows"] and all(row["runs"] for row in got["rows"]), got
    # a run's hash covers its clock fields, so it differs between the two; each sidecar matches its own files
    assert _without_clock(got, CLOCK | {"metrics_sha256"}) == _without_clock(want, CLOCK | {"metrics_sha256"})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)  # sidecars name runs relative to the workflow folder
        assert verify_sidecar(again / rel) == []


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
