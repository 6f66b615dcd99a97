"""dvc.yaml is generated from the Snakemake DAG, and the committed file never drifts from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mmdiag.dvc_yaml import (
    Job,
    build,
    code_deps,
    config_keys,
    snakemake_dag,
    stage_outs,
    stage_params,
)
from workflow_sandbox import REPO


def _job(rule: str, files: list[str], wildcards: dict[str, str] | None = None, **kw: Any) -> Job:
    return Job(
        rule=rule,
        wildcards=wildcards or {},
        inputs=kw.get("inputs", {}),
        outputs=files[:1],
        logs=files[1:],
        benchmark=None,
        script=None,
        snakefile="rules/x.smk",
        gpu=kw.get("gpu", 0),
    )


@pytest.mark.timeout(120)
def test_committed_dvc_yaml_matches_the_dag() -> None:
    """The drift test: regenerate from the Snakefile and compare with the committed dvc.yaml."""
    proc = subprocess.run(
        [sys.executable, "-m", "mmdiag.dvc_yaml", "--root", str(REPO), "--check"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}\nrun `mmdiag write-dvc` and commit dvc.yaml"


@pytest.fixture(scope="module")
def dag() -> tuple[list[Job], dict[str, Any]]:
    jobs, _ = snakemake_dag(REPO)
    return jobs, build(REPO)


@pytest.mark.timeout(120)
def test_one_stage_per_job_with_its_outputs_and_edges(dag: tuple[list[Job], dict[str, Any]]) -> None:
    jobs, doc = dag
    stages = doc["stages"]
    assert list(stages) == [j.name for j in jobs]
    out_of = {}  # declared out -> stage
    for name, stage in stages.items():
        for out in stage["outs"]:
            path = next(iter(out)) if isinstance(out, dict) else out
            assert path not in out_of, f"{path} is an out of {out_of.get(path)} and {name}"
            out_of[path] = name

    def owner(path: str) -> str | None:
        p = Path(path)
        return next((out_of[o] for o in out_of if p == Path(o) or Path(o) in p.parents), None)

    for job in jobs:
        stage = stages[job.name]
        assert f"--allowed-rules {job.rule} " in stage["cmd"] and stage["cmd"].endswith(job.outputs[0])
        for f in job.files:  # every file Snakemake writes for the job is versioned by its stage
            assert owner(f) == job.name, f"{f} of {job.name} is versioned by {owner(f)}"
        for files in job.inputs.values():  # every input is a dep, versioned by the upstream stage making it
            for f in files:
                assert f in stage["deps"]
                assert owner(f) not in (None, job.name), f"input {f} of {job.name} is versioned by {owner(f)}"
        assert job.snakefile in stage["deps"]
        metrics = [f for f in job.outputs if f.endswith("/metrics.json")]
        if metrics:  # the flat metrics file the runner writes beside metrics.json is versioned by the same stage
            assert owner(metrics[0].removesuffix("metrics.json") + "dvc_metrics.json") == job.name
        if job.script:
            assert job.script in stage["deps"] and "src/mmdiag/workflow.py" in stage["deps"]


def test_training_stages_persist_their_run_folder_and_depend_on_the_engine(
    dag: tuple[list[Job], dict[str, Any]],
) -> None:
    jobs, doc = dag
    trained = [j for j in jobs if j.gpu]
    assert trained, "no GPU (training) job in the default DAG"
    for job in trained:
        stage = doc["stages"][job.name]
        assert all(isinstance(o, dict) and next(iter(o.values())) == {"persist": True} for o in stage["outs"])
        assert "src/mmdiag/engine" in stage["deps"]
    assert doc["metrics"] and all(m.endswith("/dvc_metrics.json") for m in doc["metrics"])
    plot_ids = {next(iter(p)) for p in doc["plots"]}
    assert {"roc_single_centre", "confusion_single_centre"} <= plot_ids


def test_outs_widen_to_folders_no_other_job_writes_into() -> None:
    jobs = [
        _job("download", ["res/d/data/raw", "res/d/data/download.log"]),
        _job("preprocess", ["res/d/data/cache/meta.json", "res/d/data/preprocess.log"]),
        _job("train", ["res/d/runs/a/x/metrics.json", "res/d/runs/a/x/train.log"], {"arm": "x"}),
        _job("train", ["res/d/runs/a/y/metrics.json", "res/d/runs/a/y/train.log"], {"arm": "y"}),
        _job("table", ["res/d/tables/t1.csv", "res/d/tables/t1.log"]),
        _job("table", ["res/d/tables/t2.csv", "res/d/tables/t2.log"]),
    ]
    assert stage_outs(jobs) == [
        ["res/d/data/download.log", "res/d/data/raw"],  # data/ is shared: files stay files
        ["res/d/data/cache", "res/d/data/preprocess.log"],  # the cache folder is preprocess's alone
        ["res/d/runs/a/x"],  # a run folder, with its checkpoints
        ["res/d/runs/a/y"],
        ["res/d/tables/t1.csv", "res/d/tables/t1.log"],
        ["res/d/tables/t2.csv", "res/d/tables/t2.log"],
    ]
    # a one-job DAG never widens to the results root
    assert stage_outs(jobs[2:3]) == [["res/d/runs/a/x/metrics.json", "res/d/runs/a/x/train.log"]]


def test_params_are_the_keys_a_rule_reads_under_each_file_that_sets_them() -> None:
    config = {
        "results": "r",
        "progress": True,
        "seed": 0,
        "trainer": {"lr": 1},
        "encoders": {"a": {"w": 1}, "b": {"w": 2}},
        "tmmnet": {"schedule": {"stage1": 2, "classify": 3}, "arms": {"x": {}}, "comparison": {}, "fusion": "concat"},
    }
    pretrain = _job("pretrain", ["p.pt"], {"encoder": "a", "modality": "eus"})
    keys = config_keys(pretrain, config)
    assert "encoders.a" in keys and "encoders.b" not in keys
    assert "tmmnet.schedule.stage1" in keys and "tmmnet.schedule" not in keys  # only its own phase
    assert "tmmnet.fusion" in keys and "tmmnet.arms" not in keys and "tmmnet.comparison" not in keys
    arm = config_keys(_job("ablation", ["m.json"], {"encoder": "b", "arm": "x"}), config)
    assert {"tmmnet.arms.x", "tmmnet.schedule", "evaluation", "encoders.b"} <= set(arm)
    assert config_keys(_job("unknown_rule", ["u"]), config) == ["seed", "trainer", "encoders", "tmmnet"]

    files = {"config/config.yaml": config, "delta.yaml": {"encoders": {"a": {"w": 5}}}}
    assert stage_params(["seed", "encoders.a", "evaluation"], files) == [
        {"config/config.yaml": ["seed", "encoders.a"]},  # `evaluation` is set nowhere: not a param
        {"delta.yaml": ["encoders.a"]},
    ]


def test_code_deps_follow_the_scripts_imports() -> None:
    job = _job("pretrain", ["p.pt"])
    job = Job(**{**job.__dict__, "script": "workflow_scripts/pretrain.py", "snakefile": "rules/tmmnet.smk"})
    deps = code_deps(job, REPO)
    assert {"rules/tmmnet.smk", "workflow_scripts/pretrain.py", "src/mmdiag/workflow.py"} <= set(deps)
    assert {"src/mmdiag/engine", "src/mmdiag/models", "src/mmdiag/stages", "src/mmdiag/cluster"} <= set(deps)
    assert all((REPO / d).exists() for d in deps)


def test_slurm_profile_sends_exactly_the_gpu_rules_to_the_gpu_partition(dag: tuple[list[Job], dict[str, Any]]) -> None:
    """profiles/slurm lists rules by name; a GPU rule missing there would be submitted with --gpus to the CPU
    partition, a CPU rule listed there would wait for a GPU node."""
    jobs, _ = dag
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert set(profile["set-resources"]) == {job.rule for job in jobs if job.gpu}
