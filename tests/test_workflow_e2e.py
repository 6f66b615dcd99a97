"""The whole Snakemake DAG on the tiny config, end to end: every table and figure, provenance that matches
the runs, a fast no-op rerun, and a bad config stopped before any job (the shared `tiny_run` fixture runs
the real `snakemake all` once, offline, in a private copy of the workflow)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import TinyRun
from workflow_sandbox import run, sandbox_env, snakemake, tool

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TABLES = (
    "tmmnet_t1_comparison",
    "tmmnet_t2_text_guidance",
    "tmmnet_t3_ablation",
    "tmmnet_t3_ablation_tests",
    "tmmnet_t4_cv",
    "fusion_t1_hparams",
    "fusion_t3_strategies",
    "fusion_t4_heads_objectives",
    "distill_efficiency",
    "dualbranch_t5_overall",
    "dualbranch_t6_key_classes",
)


def test_every_table_in_every_format_with_matching_provenance(
    tiny_run: TinyRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmdiag.reporting.provenance import verify_sidecar

    monkeypatch.chdir(tiny_run.work)  # sidecars name runs relative to the workflow folder
    for name in TABLES:
        for ext in ("csv", "md", "tex", "html", "provenance.json"):
            path = tiny_run.base / "tables" / f"{name}.{ext}"
            assert path.exists() and path.stat().st_size > 0, path
        assert verify_sidecar(tiny_run.base / "tables" / f"{name}.provenance.json") == [], name
    t3 = pd.read_csv(tiny_run.base / "tables" / "tmmnet_t3_ablation.csv")
    assert len(t3) == 18  # 9 arms x {single-centre, multi-centre}, one seed
    assert t3[["SEN", "SPE", "Acc", "AUC"]].notna().all().all()
    assert "synthetic data" in (tiny_run.base / "tables" / "tmmnet_t3_ablation.md").read_text().lower()


def test_every_figure_as_png_and_pdf(tiny_run: TinyRun) -> None:
    figures = sorted((tiny_run.base / "figures").glob("*.png"))
    assert len(figures) >= 7
    for png in figures:
        assert png.stat().st_size > 1000 and png.with_suffix(".pdf").stat().st_size > 1000, png


def test_runs_leave_their_record(tiny_run: TinyRun) -> None:
    run_dir = tiny_run.base / "runs" / "tmmnet" / "resnet18_os8" / "tmmnet" / "seed0"
    for name in (
        "metrics.json",
        "run.json",
        "history.csv",
        "model.pt",
        "predictions_single_centre.csv",
        "predictions_multi_centre.csv",
        "dvc_metrics.json",
        "plots/roc_single_centre.csv",
        "train.log",
    ):
        assert (run_dir / name).stat().st_size > 0, name
    assert not (run_dir / "ckpt").exists()  # resume checkpoints are dropped once a run is complete


def test_second_run_is_a_noop(tiny_run: TinyRun) -> None:
    assert "Nothing to be done" in tiny_run.noop_output  # its duration is a bench figure (bench/timings.py)


def test_wrong_config_type_stops_before_any_job(tiny_run: TinyRun, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"trainer": {"batch_size": "thirty-two"}}))
    cmd = [tool("snakemake"), "all", "-n", "--cores", "1", "--configfile", "tests/configs/tiny.yaml", str(bad)]
    proc = run(cmd, tiny_run.work, 120, sandbox_env())
    assert proc.returncode != 0
    assert "batch_size" in proc.stdout and "thirty-two" in proc.stdout


def test_changing_a_setting_reruns_only_the_jobs_that_read_it(tiny_run: TinyRun, tmp_path: Path) -> None:
    """Each rule's `settings` param holds the config keys it reads (Snakemake's params trigger).

    The DVC tests may already have run `dvc commit` in this sandbox, which re-links files and moves
    modification times; Snakemake compares those whatever the rerun triggers, so the sandbox is first
    brought back in order with `snakemake --touch` (what `make restore` does) to isolate the params trigger."""
    snakemake(tiny_run.work, "--touch", "--cores", "1", "--quiet", "--", "all", timeout=300, env=sandbox_env())
    delta = tmp_path / "delta.yaml"
    delta.write_text(yaml.safe_dump({"evaluation": {"bootstrap": 51}}))
    cmd = [
        tool("snakemake"),
        "all",
        "-n",
        "--cores",
        "1",
        "--rerun-triggers",
        "params",
        "--configfile",
        "tests/configs/tiny.yaml",
        str(delta),
    ]
    out = run(cmd, tiny_run.work, 120, sandbox_env()).stdout
    assert "Job stats" in out
    for rule in ("ablation", "train_fusion", "cv_fold"):
        assert f"rule {rule}:" in out or f"localrule {rule}:" in out, rule
    for rule in ("download", "preprocess", "pretrain"):
        assert f"rule {rule}:" not in out and f"localrule {rule}:" not in out, rule
