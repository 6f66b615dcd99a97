"""DVC versions what Snakemake produced: push/pull round trip, fresh-clone restore without retraining.

The session's finished tiny DAG (`tiny_run`, already a git + DVC repository with a local default
remote and analytics off) gets dvc.yaml generated for the tiny config, `dvc commit` (records what
Snakemake made, runs nothing), a `git commit` of dvc.lock and `dvc push`. A fresh `git clone` then
`dvc pull`s everything back.

The Snakemake/DVC conflict (dvc #8602, #10347): pulled files get new, unordered modification times,
so plain Snakemake would retrain most of the DAG. tools/dvc_restore.sh (`make restore`) pulls, checks
`dvc status`, and runs `snakemake all --touch`; afterwards `snakemake -n all` has nothing to do.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import TinyRun
from workflow_sandbox import REPO, TINY, dvc, git, ok, sandbox_env, snakemake, tool

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

RESULTS = Path("results_tiny/tiny_gist")


def _hashes(root: Path) -> dict[str, str]:
    """md5 of every file under the results folder (what DVC versions)."""
    base = root / RESULTS
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file() and ".snakemake" not in p.parts
    }


def _planned_jobs(work: Path) -> int:
    """Jobs `snakemake -n all` would run (0 when it says there is nothing to do)."""
    out = snakemake(work, "-n", "--", "all", timeout=120, env=sandbox_env())
    if "Nothing to be done" in out:
        return 0
    table = out.split("Job stats:")[1]
    return int(next(line.split()[-1] for line in table.splitlines() if line.startswith("total")))


@dataclass
class Pipeline:
    base: Path
    origin: Path
    remote: Path
    hashes: dict[str, str]


@pytest.fixture(scope="module")
def pipeline(tiny_run: TinyRun) -> Pipeline:
    """The session's finished tiny DAG (already a git + DVC repository), versioned: dvc.yaml for the tiny
    config, `dvc commit` (records what Snakemake made, runs nothing), git commit of dvc.lock, `dvc push`."""
    origin = tiny_run.work
    # dvc.yaml for the tiny config, from the same generator (the committed one is for config/config.yaml)
    ok([tool("python"), "-m", "mmdiag.dvc_yaml", "--configfile", TINY], origin)
    dvc(origin, "commit", "--force", "-q", timeout=600)
    assert "up to date" in dvc(origin, "status")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "tiny results")
    dvc(origin, "push", "-q", timeout=600)
    return Pipeline(origin.parent, origin, tiny_run.remote, _hashes(origin))


@pytest.fixture(scope="module")
def clone(pipeline: Pipeline) -> Path:
    """A fresh clone with everything pulled from the remote (no shared cache with the origin)."""
    dest = pipeline.base / "clone"
    git(pipeline.base, "clone", "-q", str(pipeline.origin), str(dest))
    assert not (dest / RESULTS).exists()
    dvc(dest, "pull", "-q", timeout=600)
    return dest


@pytest.mark.timeout(1500)
def test_push_pull_round_trip_restores_every_file(pipeline: Pipeline, clone: Path) -> None:
    assert _hashes(clone) == pipeline.hashes
    assert any(p.endswith("/model.pt") for p in pipeline.hashes), "trained weights are not versioned"
    assert "up to date" in dvc(clone, "status")
    assert "in sync" in dvc(clone, "status", "--cloud")  # the remote holds everything the clone has


@pytest.mark.timeout(900)
def test_restore_after_pull_retrains_nothing(pipeline: Pipeline, clone: Path) -> None:
    # pulled files carry fresh, unordered mtimes: plain Snakemake would rerun most of the DAG
    before = _planned_jobs(clone)
    ok(["bash", str(REPO / "tools" / "dvc_restore.sh"), "--configfile", TINY], clone, timeout=600)
    assert _planned_jobs(clone) == 0, f"snakemake still wants to run jobs after restore (before: {before})"
    assert _hashes(clone) == pipeline.hashes  # touching changed no content


@pytest.mark.timeout(900)
def test_dvc_repro_runs_the_same_snakemake_job(pipeline: Pipeline, clone: Path) -> None:
    doc = yaml.safe_load((clone / "dvc.yaml").read_text())
    stage = next(name for name in doc["stages"] if name.startswith("table-"))
    out = dvc(clone, "repro", "--force", "--single-item", stage, timeout=600)
    assert "snakemake --cores all --force --allowed-rules table" in out
    csv = next(o for o in doc["stages"][stage]["outs"] if str(o).endswith(".csv"))
    assert _hashes(clone)[csv] == pipeline.hashes[csv]  # the same library function, the same table
    assert "up to date" in dvc(clone, "status")


@pytest.mark.timeout(300)
def test_metrics_show_lists_headline_metrics(pipeline: Pipeline) -> None:
    shown = json.loads(dvc(pipeline.origin, "metrics", "show", "--json"))
    data = shown[""]["data"]
    arms = [v["data"] for k, v in data.items() if "/runs/tmmnet/" in k]
    cv = [v["data"] for k, v in data.items() if re.search(r"/runs/tmmnet_cv/[^/]+/dvc_metrics.json$", k)]
    assert arms and all("AUC" in a["single_centre"] for a in arms)
    assert cv and "AUC_mean" in cv[0]["cv"]


@pytest.mark.timeout(300)
def test_a_param_change_invalidates_only_the_stages_that_read_it(pipeline: Pipeline) -> None:
    tiny = pipeline.origin / TINY
    text = tiny.read_text()
    config = yaml.safe_load(text)
    config["evaluation"]["bootstrap"] += 1
    try:
        tiny.write_text(yaml.safe_dump(config))
        changed = set(json.loads(dvc(pipeline.origin, "status", "--json")))
    finally:
        tiny.write_text(text)
    doc = yaml.safe_load((pipeline.origin / "dvc.yaml").read_text())
    rule_of = {name: name.split("-")[0] for name in doc["stages"]}
    evaluating = {n for n, r in rule_of.items() if r in {"ablation", "train_fusion", "cv_fold"}}
    upstream = {n for n, r in rule_of.items() if r in {"download", "build_corpus", "preprocess", "pretrain"}}
    assert evaluating and evaluating <= changed  # they compute bootstrap CIs
    assert upstream and not upstream & changed  # data and pretraining never read `evaluation`: no retraining
    assert "up to date" in dvc(pipeline.origin, "status")
