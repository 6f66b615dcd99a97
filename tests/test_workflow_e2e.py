"""The whole Snakemake DAG on the tiny config, end to end, plus a no-op rerun and bad-input handling.

Runs the real `snakemake` command in a scratch copy of the workflow files, so it tests exactly what a
user runs (rules, scripts, schema validation, library), offline.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _workdir(tmp: Path) -> Path:
    for name in ("Snakefile", "rules", "workflow_scripts", "config", "report"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, tmp / name)
        elif src.exists():
            shutil.copy(src, tmp / name)
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp / "tiny.yaml")
    return tmp


def _snakemake(work: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--cores", "2", "--configfile", "tiny.yaml", *args]
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = _workdir(tmp_path_factory.mktemp("dag"))
    proc = _snakemake(work, "all")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


def test_all_produces_tables(finished_run: Path) -> None:
    base = finished_run / "results_tiny" / "tiny_gist"
    for name in ("tmmnet_t1_comparison", "tmmnet_t2_text_guidance", "tmmnet_t3_ablation", "tmmnet_t4_cv"):
        for ext in ("csv", "md"):
            path = base / "tables" / f"{name}.{ext}"
            assert path.exists() and path.stat().st_size > 0, path
    import pandas as pd

    t3 = pd.read_csv(base / "tables" / "tmmnet_t3_ablation.csv")
    assert len(t3) == 16  # 8 arms x {single-centre, multi-centre}
    assert t3[["SEN", "SPE", "Acc", "AUC"]].notna().all().all()
    run = base / "runs" / "tmmnet" / "vit_cpu" / "tmmnet"
    for name in ("metrics.json", "run.json", "history.csv", "model.pt", "predictions_single_centre.csv"):
        assert (run / name).exists(), name
    for log in ("train.log",):
        assert (run / log).stat().st_size > 0


def test_second_run_is_a_fast_noop(finished_run: Path) -> None:
    t0 = time.perf_counter()
    proc = _snakemake(finished_run, "all")
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert elapsed < 5.0, f"no-op took {elapsed:.1f} s"


def test_wrong_config_type_stops_before_any_job(finished_run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"trainer": {"batch_size": "thirty-two"}}))
    proc = _snakemake(finished_run, "all", "--configfile", "tiny.yaml", str(bad), "-n")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "batch_size" in out and "thirty-two" in out
