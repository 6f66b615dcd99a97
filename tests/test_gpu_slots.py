"""GPU slots: concurrent jobs on one machine never share a GPU; DDP launch for rules with gpu > 1.

GPUs are faked with MMDIAG_NUM_GPUS (the pool only hands out ids; no CUDA is touched), and every test
has its own lock folder, so tests never contend with each other or with real jobs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from itertools import combinations
from pathlib import Path

import pytest

from mmdiag.cluster.gpu_slots import gpu_slot
from mmdiag.engine import distributed
from mmdiag.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# A library function as a rule would call it: records which devices it saw and when.
PROBE = textwrap.dedent(
    """
    import json, os, time
    from pathlib import Path

    def record(out: str, hold: float = 0.6, **_):
        t0 = time.monotonic()
        time.sleep(float(hold))
        Path(out).write_text(json.dumps({
            "cvd": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "start": t0,
            "end": time.monotonic(),
            "rank": os.environ.get("RANK"),
            "world": os.environ.get("WORLD_SIZE"),
        }))

    def record_rank(out: str, **kwargs):
        record(f"{out}{os.environ.get('RANK', 'x')}", **kwargs)

    def sgd_step(out: str, **_):
        # one SGD step of a linear model on this rank's shard of 8 samples; rank 0 saves the weights
        import torch
        from mmdiag.engine import distributed

        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        x = torch.arange(24, dtype=torch.float32).reshape(8, 3) / 10
        y = x.sum(1, keepdim=True)
        idx = distributed.shard_order(torch.arange(8))
        net = distributed.wrap_model(model, torch.device("cpu"))
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        torch.nn.functional.mse_loss(net(x[idx]), y[idx]).backward()
        opt.step()
        seen = distributed.all_reduce_sum({"n": torch.tensor(float(len(idx)))})["n"].item()
        if distributed.is_main():
            Path(out).write_text(json.dumps({
                "weight": model.weight.tolist(), "bias": model.bias.tolist(), "seen": seen,
                "world": distributed.world_size(),
            }))
    """
)


@pytest.fixture
def pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of a 2-GPU machine with a private lock folder and the probe module importable."""
    (tmp_path / "probe.py").write_text(PROBE)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    env = dict(os.environ)
    env.update(
        MMDIAG_NUM_GPUS="2",
        MMDIAG_GPU_LOCK_DIR=str(tmp_path / "locks"),
        PYTHONPATH=os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]),
    )
    return env


def _check_no_collision(records: list[dict]) -> None:
    """Every job got one of the two GPUs, jobs overlapping in time had different GPUs, and some did overlap."""
    assert all(r["cvd"] in {"0", "1"} for r in records), records
    overlapped = False
    for a, b in combinations(records, 2):
        if a["start"] < b["end"] and b["start"] < a["end"]:
            overlapped = True
            assert a["cvd"] != b["cvd"], f"two concurrent jobs on GPU {a['cvd']}: {a} {b}"
    assert overlapped, "no two jobs ran at the same time: the test proves nothing"


@pytest.mark.timeout(120)
def test_four_processes_two_gpus_never_collide(pool: dict[str, str], tmp_path: Path) -> None:
    code = (
        "import sys; from mmdiag.workflow import run_on_gpus; "
        "run_on_gpus('probe:record', {'out': sys.argv[1], 'hold': 1.0}, 1)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"job{i}.json")], env=pool) for i in range(4)]
    assert [p.wait(timeout=90) for p in procs] == [0, 0, 0, 0]
    _check_no_collision([json.loads((tmp_path / f"job{i}.json").read_text()) for i in range(4)])


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_snakemake_four_gpu_jobs_two_gpus(pool: dict[str, str], tmp_path: Path) -> None:
    """The real hook (`mmdiag.workflow.run`) under Snakemake: 4 concurrent gpu=1 jobs, 2 GPUs."""
    (tmp_path / "job.py").write_text("from mmdiag.workflow import run\nrun(snakemake, 'probe:record')\n")
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            rule all:
                input: expand("out/{i}.json", i=range(4))

            rule gpu_job:
                output: out="out/{i}.json"
                log: "logs/{i}.log"
                resources: gpu=1
                script: "job.py"
            """
        )
    )
    # no --resources cap: 4 jobs start at once and the pool alone must keep them apart
    proc = subprocess.run(
        [str(VENV_BIN / "snakemake"), "--cores", "4", "--quiet", "all"],
        cwd=tmp_path,
        env=pool,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_no_collision([json.loads((tmp_path / "out" / f"{i}.json").read_text()) for i in range(4)])


@pytest.mark.timeout(60)
def test_slot_freed_when_holder_is_killed(pool: dict[str, str], tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import sys, time, pathlib; from mmdiag.cluster.gpu_slots import gpu_slot\n"
        "with gpu_slot(2):\n"
        "    pathlib.Path(sys.argv[1]).write_text('x'); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(ready)], env=pool)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert time.monotonic() < deadline and holder.poll() is None, "holder never claimed the GPUs"
            time.sleep(0.1)
        lock_dir = Path(pool["MMDIAG_GPU_LOCK_DIR"])
        with pytest.raises(TimeoutError), gpu_slot(1, total=2, folder=lock_dir, timeout=0.5, poll=0.1):
            pass  # both GPUs are held
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        with gpu_slot(2, total=2, folder=lock_dir, timeout=5, poll=0.1) as ids:
            assert ids == [0, 1]
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_scheduler_choice_is_respected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with gpu_slot(1, total=4, folder=tmp_path) as ids:
        assert ids is None
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"


def test_cpu_machine_and_no_gpu_rules_skip_the_pool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with gpu_slot(1, total=0, folder=tmp_path) as ids:
        assert ids is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    with gpu_slot(0, total=2, folder=tmp_path) as ids:
        assert ids is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    with gpu_slot(2, total=2, folder=tmp_path) as ids:
        assert ids == [0, 1] and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    with pytest.raises(ConfigError, match="wants 3 GPUs"), gpu_slot(3, total=2, folder=tmp_path):
        pass


@pytest.mark.parametrize(("n", "world"), [(10, 3), (9, 3), (1, 2), (7, 1)])
def test_shard_order_like_distributed_sampler(n: int, world: int) -> None:
    import torch

    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    shards = [distributed.shard_order(order, r, world) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # equal step counts on every rank
    assert set(torch.cat(shards).tolist()) == set(order.tolist())  # the whole epoch is covered
    assert len(torch.cat(shards)) == -(-n // world) * world  # padded by at most world - 1


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_gpu2_rule_relaunches_under_torchrun(pool: dict[str, str], tmp_path: Path) -> None:
    """gpu=2 with 2 free GPUs: the call runs as 2 DDP ranks (gloo on this CPU machine), each seeing both ids."""
    code = (
        "import sys; from mmdiag.workflow import run_on_gpus; "
        "run_on_gpus('probe:record_rank', {'out': sys.argv[1], 'hold': 0.1}, 2)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "rank")], env=pool, capture_output=True, text=True, timeout=170
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {r: json.loads((tmp_path / f"rank{r}").read_text()) for r in ("0", "1")}
    assert {(r["rank"], r["world"]) for r in records.values()} == {("0", "2"), ("1", "2")}
    assert all(r["cvd"] == "0,1" for r in records.values())


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ddp_step_on_shards_equals_full_batch_step(pool: dict[str, str], tmp_path: Path) -> None:
    """wrap_model + shard_order under 2 ranks: the all-reduced gradient step is the full-batch one."""
    import importlib.util

    code = "import sys; from mmdiag.workflow import run_on_gpus; run_on_gpus('probe:sgd_step', {'out': sys.argv[1]}, 2)"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ddp.json")], env=pool, capture_output=True, text=True, timeout=170
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp_result = json.loads((tmp_path / "ddp.json").read_text())
    assert ddp_result["world"] == 2 and ddp_result["seen"] == 8.0

    spec = importlib.util.spec_from_file_location("probe", tmp_path / "probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    probe.sgd_step(str(tmp_path / "single.json"))  # no process group: one process, the whole batch
    single = json.loads((tmp_path / "single.json").read_text())
    assert single["world"] == 1 and single["seen"] == 8.0
    for key in ("weight", "bias"):
        flat_ddp = [v for row in ddp_result[key] for v in (row if isinstance(row, list) else [row])]
        flat_one = [v for row in single[key] for v in (row if isinstance(row, list) else [row])]
        assert flat_ddp == pytest.approx(flat_one, abs=1e-6)
