"""The real DAG through the real SLURM executor, on a one-node cluster with two fake GPUs.

Needs root and Debian's slurmctld/slurmd/slurm-client/munge: the fixture runs
tools/install_system_deps.sh (a no-op when they are installed) and skips with its reason otherwise.
The target is one stage-1 arm of the tiny config: download -> build_corpus -> preprocess ->
pretrain -> ablation, five jobs and five DAG levels (about 2 minutes; each level costs the job's
start-up plus the plugin's polling). Every step is bounded; a failure shows the daemons' logs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmdiag.cluster.local_slurm import LocalSlurm, missing_requirements
from workflow_sandbox import REPO, TINY, clean_env, copy_workflow, run, tool

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ARM = "results_tiny/tiny_gist/runs/tmmnet/resnet18_os8/baseline1_eus_stage1/seed0"
EXPECTED_RULES = {"download", "build_corpus", "preprocess", "pretrain", "ablation"}
GPU_RULES = {"pretrain", "ablation"}
SLURM_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    install = subprocess.run(
        ["bash", str(REPO / "tools" / "install_system_deps.sh"), *SLURM_PACKAGES],
        capture_output=True,
        text=True,
        timeout=600,
    )
    reason = missing_requirements()
    if reason:
        pytest.skip(f"no local SLURM cluster: {reason} ({install.stdout.strip()[-300:]})")
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm"), gpus=2)
    try:
        slurm.start(timeout=60)
        yield slurm
    finally:
        slurm.stop()


def _jobs(slurm: LocalSlurm) -> list[dict[str, str]]:
    """Every job the controller knows (finished ones stay for MinJobAge = 600 s)."""
    fields = "JobID:20|,Comment:200|,State:20|,Partition:20|,tres-per-job:60|"
    out = subprocess.run(
        ["squeue", "--states=all", "-h", "-O", fields],
        env=slurm.env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    keys = ["id", "comment", "state", "partition", "tres"]
    return [dict(zip(keys, (c.strip() for c in line.split("|")))) for line in out.splitlines() if line.strip()]


@pytest.mark.timeout(300)
def test_tiny_arm_runs_every_job_under_slurm_with_gpus(cluster: LocalSlurm, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf")
    cmd = [
        tool("snakemake"),
        "--profile",
        "profiles/slurm",
        "--slurm-init-seconds-before-status-checks",
        "2",  # the profile's 40 s suits real clusters; MinJobAge=600 keeps squeue reliable at 2 s
        "--configfile",
        TINY,
        "--",
        f"{ARM}/metrics.json",
    ]
    try:
        proc = run(cmd, work, timeout=270, env=cluster.env(clean_env()))
    except AssertionError as exc:  # ran past the limit
        pytest.fail(f"{exc}\n{cluster.logs()}")
    assert proc.returncode == 0, f"{proc.stdout[-5000:]}\n{cluster.logs()}"

    jobs = _jobs(cluster)
    rules = {j["comment"].removeprefix("rule_").split("_wildcards_")[0]: j for j in jobs}
    assert set(rules) == EXPECTED_RULES and len(jobs) == len(EXPECTED_RULES), jobs
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    for rule, job in rules.items():
        if rule in GPU_RULES:
            assert job["tres"] == "gres:gpu:1" and job["partition"] == "gpu", job
        else:
            assert job["tres"] in {"", "N/A"} and job["partition"] == "cpu", job

    record = json.loads((work / ARM / "run.json").read_text())
    assert record["slurm"]["SLURM_JOB_ID"] == rules["ablation"]["id"]
    assert record["slurm"]["SLURM_JOB_PARTITION"] == "gpu"
    # SLURM chose the device, and the slot pool kept its choice
    assert record["cuda_visible_devices"] in {"0", "1"}
    assert record["slurm"]["CUDA_VISIBLE_DEVICES"] == record["cuda_visible_devices"]
