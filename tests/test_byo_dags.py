"""Your own data on the first try (issue 11): five tiny bring-your-own folders, each through `snakemake all`.

(a) one modality, no reports.csv, no attributes (like MedMNIST); (b) one modality with reports; (c) one
modality with sparse attributes and reports; (d) four classes, two modalities, two centres; (e) two
modalities where 30 % of cases lack the second. Each runs to the end with only what applies to its data,
and every study, arm and table left out is named with its reason in the Snakemake log, in the table
captions and on the study overview pages. Budget: 16-24 px images, one epoch per phase, 20 bootstrap
replicates, the studies each fixture is about (tests/byo_dag_fixtures.py).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from byo_dag_fixtures import FIXTURES, fixture_config, write_fixture
from workflow_sandbox import copy_workflow, kill_group, sandbox_env, tool

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LEFT_OUT = re.compile(r"mmdiag: left out: (.+)")
TIMEOUT_S = 1500


@dataclass
class ByoRun:
    """One fixture's finished `snakemake all`: its results folder, output, and left-out lines."""

    base: Path
    returncode: int
    output: str

    @property
    def lines(self) -> list[str]:
        return list(dict.fromkeys(LEFT_OUT.findall(self.output)))

    def check(self) -> ByoRun:
        assert self.returncode == 0, f"snakemake all failed on {self.base.name}:\n{self.output[-6000:]}"
        return self


@pytest.fixture(scope="module")
def byo_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ByoRun]]:
    """All five DAGs at once, one core each: their chains of dependent jobs (data -> train -> table -> page)
    leave most of two cores idle when run one after the other."""
    started: dict[str, tuple[subprocess.Popen, Path, Path]] = {}
    try:
        for key, fx in FIXTURES.items():
            root = tmp_path_factory.mktemp(f"byo_{key}")
            folder = write_fixture(fx, root / "my_data")
            work = copy_workflow(root / "wf")
            cfg = work / "my_config.yaml"
            cfg.write_text(yaml.safe_dump(fixture_config(fx, folder, "results_byo"), sort_keys=False))
            log = root / "snakemake.out"
            cmd = [tool("snakemake"), "all", "--cores", "1", "--configfile", str(cfg)]
            with open(log, "w") as out:
                proc = subprocess.Popen(
                    cmd, cwd=work, env=sandbox_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            started[key] = (proc, work / "results_byo" / fx.name, log)
        deadline = time.monotonic() + TIMEOUT_S
        for proc, _, _ in started.values():
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        yield {k: ByoRun(base, proc.returncode, log.read_text()) for k, (proc, base, log) in started.items()}
    finally:
        for proc, _, _ in started.values():
            if proc.poll() is None:
                kill_group(proc)


def tables(base: Path) -> set[str]:
    return {p.stem for p in (base / "tables").glob("*.csv")}


def overview_text(base: Path) -> str:
    pages = sorted((base / "report").glob("*_overview.html"))
    assert pages, f"no overview page under {base / 'report'}"
    return html.unescape(" ".join(p.read_text(encoding="utf-8") for p in pages))


def assert_left_out_reported(base: Path, lines: list[str]) -> None:
    """Every left-out line of the log is on an overview page (tables name their own in the caption)."""
    text = re.sub(r"\s+", " ", overview_text(base))
    for line in lines:
        assert re.sub(r"\s+", " ", line) in text, f"left out but not in any overview: {line}"


def t3(base: Path) -> pd.DataFrame:
    frame = pd.read_csv(base / "tables" / "tmmnet_t3_ablation.csv")
    assert not frame.duplicated(subset=[c for c in ("Setting", "Arm") if c in frame]).any(), frame
    assert not frame.duplicated(subset=[c for c in ("Setting", "Setup") if c in frame]).any(), frame
    return frame


def test_one_modality_without_reports_or_attributes(byo_runs: dict[str, ByoRun]) -> None:
    run = byo_runs["one_modality"].check()
    base, lines = run.base, run.lines
    assert tables(base) == {"tmmnet_t3_ablation"}
    frame = t3(base)
    assert list(frame["Arm"]) == ["baseline1"]  # baseline2 / direct fusion: no second modality, one row
    joined = "\n".join(lines)
    for what in ("arm baseline2", "arm direct_fusion", "arm baseline1_eus_stage1", "study dualbranch"):
        assert what in joined, what
    assert "multi-centre evaluation: the dataset has one centre" in joined
    assert not (base / "data" / "cache" / "text_report.npy").exists()
    assert_left_out_reported(base, lines)
    caption = (base / "tables" / "tmmnet_t3_ablation.md").read_text()
    assert "baseline2" in caption and "second modality" in caption


def test_one_modality_with_reports(byo_runs: dict[str, ByoRun]) -> None:
    run = byo_runs["one_modality_reports"].check()
    base, lines = run.base, run.lines
    assert {"tmmnet_t3_ablation", "fusion_t3_strategies"} <= tables(base)
    assert list(t3(base)["Arm"]) == ["baseline1", "baseline1_eus_stage1"]
    assert any(line.startswith("arm stages12:") for line in lines)
    assert any("report.second" in line for line in lines)  # the fusion study uses the whole report instead
    assert_left_out_reported(base, lines)


def test_one_modality_with_sparse_attributes_and_reports(byo_runs: dict[str, ByoRun]) -> None:
    run = byo_runs["one_modality_attributes"].check()
    base, lines = run.base, run.lines
    frame = t3(base)
    assert list(frame["Arm"]) == ["baseline1", "baseline1_eus_stage1", "us_attributes"]
    run_dir = base / "runs" / "tmmnet"
    metrics = json.loads(next(run_dir.glob("*/us_attributes/seed0/metrics.json")).read_text())
    assert metrics["run"]["arm_spec"]["modalities"] == ["us"]  # the role, resolved
    assert not any(line.startswith("arm baseline1") for line in lines)
    assert_left_out_reported(base, lines)


def test_multiclass_two_centres(byo_runs: dict[str, ByoRun]) -> None:
    run = byo_runs["multiclass"].check()
    base, lines = run.base, run.lines
    frame = t3(base)
    assert set(frame["Arm"]) == {"baseline1", "baseline2", "direct_fusion"}
    assert frame["Setting"].nunique() == 2  # single- and multi-centre (site2 is the target)
    assert frame["Acc"].notna().all()
    assert any(line.startswith("arm tmmnet:") and "reports" in line for line in lines)
    assert_left_out_reported(base, lines)


def test_two_modalities_with_missing_images(byo_runs: dict[str, ByoRun]) -> None:
    run = byo_runs["missing_modality"].check()
    base, lines = run.base, run.lines
    assert {"tmmnet_t3_ablation", "dualbranch_t5_overall"} <= tables(base)
    assert set(t3(base)["Arm"]) == {"baseline1", "baseline2", "direct_fusion"}
    assert any(line.startswith("dualbranch on cases lacking a modality:") for line in lines)
    # every dual-branch stage runs on the cases having both modalities, so Table 5 compares like with like
    for stage in ("unimodal_ct", "unimodal_mr", "fusion"):
        cohort = json.loads((base / "runs" / "dualbranch" / stage / "cohort_single_centre.json").read_text())
        assert cohort["meta"]["dropped_cases"] > 0
        assert "lack one of ['ct', 'mr']" in (base / "runs" / "dualbranch" / stage / "train.log").read_text()
    assert_left_out_reported(base, lines)
