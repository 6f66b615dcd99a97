"""Hostile and careless input to runs, checkpoints and configuration (issue 12): every case stops with one line
naming the file/key and what to do, or heals, and leaves nothing half-written. docs/robustness.md lists them."""

from __future__ import annotations

import builtins
import dataclasses
import logging
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from mmdiag.config import load_config
from mmdiag.engine.checkpoint import load_checkpoint, load_json_input, read_metrics_json, save_checkpoint
from mmdiag.engine.seed import seed_everything
from mmdiag.engine.trainer import fit
from mmdiag.errors import CheckpointError, ConfigError, CorruptInputError
from mmdiag.losses import build_loss
from test_engine import SPEC, TinyNet, _killed_in_epoch, _samples, _val

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


# ------------------------------------------------------------------------------------------ damaged files
class _Payload:
    """A pickle whose loading would create `marker`: proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.open, (str(self.marker), "w"))


def damage(path: Path, how: str, marker: Path) -> None:
    """Replace `path` by a damaged version of itself (or of a small checkpoint when it does not exist)."""
    good = path.read_bytes() if path.exists() else _small_checkpoint(path.parent)
    if how == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif how == "garbage":
        path.write_bytes(os.urandom(2000))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "crafted_pickle":  # torch's zip format carrying a code-running pickle
        torch.save({"model": _Payload(marker)}, path)
    elif how == "crafted_legacy_pickle":  # a plain pickle stream
        path.write_bytes(pickle.dumps({"model": _Payload(marker)}))
    elif how == "wrong_structure":  # a valid weights-only checkpoint that is not what the reader expects
        save_checkpoint(path, {"something": torch.zeros(2)})
    else:
        raise ValueError(how)


def _small_checkpoint(folder: Path) -> bytes:
    tmp = folder / ".small.pt"
    save_checkpoint(tmp, {"state": {"w": torch.zeros(8)}, "model_config": {}})
    data = tmp.read_bytes()
    tmp.unlink()
    return data


DAMAGE = ["truncated", "garbage", "empty", "crafted_pickle", "crafted_legacy_pickle"]


@pytest.mark.parametrize("how", DAMAGE)
def test_load_checkpoint_refuses_damaged_files_and_never_runs_their_code(tmp_path: Path, how: str) -> None:
    path = tmp_path / "runs" / "pretrain" / "stage1.pt"
    path.parent.mkdir(parents=True)
    marker = tmp_path / "code_ran"
    damage(path, how, marker)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg and f"snakemake {path} --force" in msg
    if how.startswith("crafted"):
        assert "pickled code" in msg or "not a PyTorch checkpoint" in msg
    assert not marker.exists()


def test_plain_torch_load_would_have_run_the_code(tmp_path: Path) -> None:
    """The control for the test above: the crafted file really runs code when loaded the unsafe way."""
    marker = tmp_path / "code_ran"
    damage(tmp_path / "evil.pt", "crafted_pickle", marker)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("how", [*DAMAGE, "wrong_structure"])
def test_damaged_model_pt_fails_with_one_line(tmp_path: Path, how: str) -> None:
    from mmdiag.experiments.supervised import load_model

    path = tmp_path / "model.pt"
    damage(path, how, tmp_path / "code_ran")
    with pytest.raises(CheckpointError, match=rf"^{path}: .*; rebuild it with: snakemake {path} --force$"):
        load_model(path)
    assert not (tmp_path / "code_ran").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", r"invalid JSON"),
        (b'{"run": {}, "eval": {', r"invalid JSON \(.*line 1\)"),
        (b"\xff\xfe\x00garbage", r"not UTF-8 text"),
        (b"[1, 2, 3]", r"not a run's metrics"),
        (b'{"run": {}}', r"not a run's metrics"),
    ],
)
def test_damaged_metrics_json_fails_with_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "metrics.json"
    path.write_bytes(content)
    with pytest.raises(CorruptInputError, match=rf"^{path}: {expected}.*snakemake {path} --force$"):
        read_metrics_json(path)


def test_missing_json_input_names_the_rebuild(tmp_path: Path) -> None:
    with pytest.raises(CorruptInputError, match=r"file not found; rebuild it with: snakemake .*missing.json --force"):
        load_json_input(tmp_path / "missing.json")


# -------------------------------------------------------------------------------- healing resume files
def _fit(tiny_cache: Path, ckpt: Path, evaluate: Any, spec: Any = SPEC) -> tuple[TinyNet, Any]:
    seed_everything(0)
    model = TinyNet()
    result = fit(model, build_loss("ce"), _samples(tiny_cache), spec, ckpt, evaluate=evaluate, fingerprint="tiny")
    return model, result


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture(scope="module")
def reference(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> TinyNet:
    """The weights of one uninterrupted run: what every healed run must end with."""
    return _fit(tiny_cache, tmp_path_factory.mktemp("reference"), _val(_samples(tiny_cache)))[0]


@pytest.mark.parametrize("how", [*DAMAGE, "wrong_structure"])
def test_damaged_resume_checkpoint_is_set_aside_and_the_stage_restarts(
    tiny_cache: Path, tmp_path: Path, reference: TinyNet, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_cache, ckpt, _killed_in_epoch(3, _val(_samples(tiny_cache))))
    damage(ckpt / "last.pt", how, tmp_path / "code_ran")
    with caplog.at_level(logging.WARNING, logger="mmdiag.engine.trainer"):
        model, result = _fit(tiny_cache, ckpt, _val(_samples(tiny_cache)))
    assert not (tmp_path / "code_ran").exists()
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert str(ckpt / "last.pt") in warning and "set aside" in warning and "last.pt.corrupt-1" in warning
    assert result.resumed_from is None and len(result.history) == SPEC.epochs
    assert _same(model, reference)  # the stage started where an uninterrupted run started it
    assert sorted(p.name for p in ckpt.iterdir()) == ["best.pt", "done.json", "last.pt.corrupt-1", "rng.pt"]


@pytest.mark.parametrize("name", ["best.pt", "rng.pt", "done.json"])
@pytest.mark.parametrize("how", ["truncated", "garbage", "crafted_pickle"])
def test_damaged_files_of_a_finished_stage_heal_by_training_it_again(
    tiny_cache: Path, tmp_path: Path, reference: TinyNet, name: str, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = tmp_path / "ckpt"
    _fit(tiny_cache, ckpt, _val(_samples(tiny_cache)))
    damage(ckpt / name, how, tmp_path / "code_ran")
    with caplog.at_level(logging.WARNING, logger="mmdiag.engine.trainer"):
        model, result = _fit(tiny_cache, ckpt, _val(_samples(tiny_cache)))
    assert not (tmp_path / "code_ran").exists()
    assert str(ckpt / name) in " ".join(r.getMessage() for r in caplog.records)
    assert result.seconds > 0 and len(result.history) == SPEC.epochs  # trained again, not loaded
    assert _same(model, reference)
    assert (ckpt / f"{name}.corrupt-1").exists() and not list(ckpt.glob(".*.tmp"))


def test_earlier_stages_survive_a_damaged_checkpoint_of_a_later_one(tiny_cache: Path, tmp_path: Path) -> None:
    """Two stages in a row (as TMM-Net's phases): stage A finished, stage B's resume file is garbage. A is loaded
    from its own files, B restarts from A's result: the same weights as an uninterrupted two-stage run."""
    spec_b = dataclasses.replace(SPEC, epochs=3, optimizer={"name": "adamw", "lr": 1e-3})

    def two_stages(root: Path, evaluate_b: Any) -> tuple[TinyNet, Any]:
        seed_everything(0)
        model = TinyNet()
        samples = _samples(tiny_cache)
        a = fit(model, build_loss("ce"), samples, SPEC, root / "a", evaluate=_val(samples), fingerprint="a")
        b = fit(model, build_loss("ce"), samples, spec_b, root / "b", evaluate=evaluate_b, fingerprint="b")
        return model, (a, b)

    full, _ = two_stages(tmp_path / "full", _val(_samples(tiny_cache)))
    with pytest.raises(KeyboardInterrupt):
        two_stages(tmp_path / "run", _killed_in_epoch(3, _val(_samples(tiny_cache))))
    damage(tmp_path / "run" / "b" / "last.pt", "garbage", tmp_path / "code_ran")
    healed, (a, b) = two_stages(tmp_path / "run", _val(_samples(tiny_cache)))
    assert a.seconds == 0.0  # stage A was not trained again
    assert b.resumed_from is None and len(b.history) == 3
    assert _same(full, healed)


# ---------------------------------------------------------------------------- configuration at load
CONFIG_CASES = {
    "lr_nan": ("trainer:\n  optimizer: {lr: .nan}\n", r"trainer\.optimizer\.lr: must be a finite number, got nan"),
    "lr_inf": ("trainer:\n  optimizer: {lr: .inf}\n", r"trainer\.optimizer\.lr: must be a finite number, got inf"),
    "nan_in_list": (
        "fusion_study:\n  hparams: {lr: [0.1, .nan]}\n",
        r"fusion_study\.hparams\.lr\[1\]: must be a finite",
    ),
    "size_cap": ("preprocess: {size: 100000}\n", r"preprocess\.size: must be <= 1024, got 100000 \(capped because"),
    "size_too_small_for_vgg_densenet": (
        "preprocess: {size: 28}\n",
        r"preprocess\.size 28 is too small for encoders vgg16_cpu \(vgg16, needs >= 32; .*densenet201_cpu",
    ),
    "unknown_timm_model": (
        "encoders:\n  resnet18_os8: {model_name: resnet18x}\n",
        r"encoders\.resnet18_os8\.model_name: 'resnet18x' is not a timm model.*mean resnet18",
    ),
    "attention_on_1x1_grid": (
        "tmmnet: {encoder: resnet50_cpu}\n",
        r"encoders\.resnet50_cpu \(resnet50\) gives a 1x1 feature grid at preprocess\.size 32.*needs at least 2x2",
    ),
    "device_gpu0": ("trainer: {device: gpu0}\n", r"trainer\.device: unknown device 'gpu0'; use auto, cpu, cuda"),
    "device_cuda_without_gpu": ("trainer: {device: cuda}\n", r"trainer\.device: 'cuda' but no CUDA GPU is visible"),
    "dualbranch_one_modality": (
        "dualbranch: {modalities: [us]}\n",
        r"dualbranch\.modalities: needs exactly 2 modalities, got \['us'\]$",
    ),
    "typo_key": ("tranier: {batch_size: 8}\n", r"unknown key 'tranier'; did you mean 'trainer'\?"),
    "typo_in_study_trainer": (
        "dualbranch:\n  trainer: {optimiser: {lr: 0.1}}\n",
        r"dualbranch\.trainer: unknown key 'optimiser'; did you mean 'optimizer'\?",
    ),
    "wrong_enum": ("trainer: {amp: fp8}\n", r"trainer\.amp: must be one of off \| bf16 \| fp16, got 'fp8'"),
    "results_is_the_repository": ("results: .\n", r"results: '\.' is the working folder"),
}


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mmdiag.config.checks.visible_gpus", lambda: 0)


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_stops_at_load_with_one_line(
    case: str, tmp_path: Path, no_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, expected = CONFIG_CASES[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text if case == "results_is_the_repository" else f"results: {tmp_path / 'results'}\n{text}")
    monkeypatch.chdir(REPO)
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config" / "config.yaml", bad)
    msg = str(exc.value)
    assert "\n" not in msg and "bad.yaml" in msg, msg
    assert re.search(expected, msg), msg
    assert not (tmp_path / "results").exists()  # nothing written


def test_cuda_index_beyond_the_visible_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmdiag.config.checks import check_device

    monkeypatch.setattr("mmdiag.config.checks.visible_gpus", lambda: 1)
    check_device("cuda:0")
    with pytest.raises(ConfigError, match=r"'cuda:2' but only 1 GPU\(s\) are visible"):
        check_device("cuda:2")


def test_encoder_probe_finds_the_smallest_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmdiag.config import checks

    monkeypatch.setenv("MMDIAG_CACHE_DIR", str(tmp_path))
    vgg = {"model_name": "vgg16", "width": 0.125}
    probe = checks.probe_encoder(vgg, 28)
    assert not probe.ok and probe.min_size == 32 and "Output size is too small" in probe.error
    assert checks.probe_encoder(vgg, 32).grid == (1, 1)
    assert (tmp_path / "encoder_probes.json").exists()
    monkeypatch.setattr(checks, "_probe", lambda *a: pytest.fail("cached result expected"))
    assert checks.probe_encoder(vgg, 28) == probe


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(set(CONFIG_CASES) - {"results_is_the_repository"}))
def test_bad_config_stops_a_dry_run(case: str, tmp_path: Path) -> None:
    """The same checks run when Snakemake parses the workflow (rules/common.smk): even `-n` stops, with one line."""
    text, expected = CONFIG_CASES[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"results: {tmp_path / 'results'}\n{text}")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    cmd = [SNAKEMAKE, "all", "-n", "--nolock", "--cores", "1", "--configfile", "config/config.yaml", str(bad)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mmdiag: ")]
    assert len(lines) == 1 and re.search(expected, lines[0]), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "jsonschema" not in proc.stderr
    assert not (tmp_path / "results").exists()


# ------------------------------------------------------------------------------- console line of a job
def read_model(model: str, out: str, config: dict[str, Any]) -> None:
    """A downstream job: reads a run's model.pt, writes a table."""
    from mmdiag.experiments.supervised import load_model

    load_model(model)
    Path(out).write_text("table")


def broken_job(out: str, config: dict[str, Any]) -> None:
    raise ValueError("fold 3 has no positive case\nsecond line")


@pytest.fixture
def job(tmp_path: Path) -> Any:
    """Run `mmdiag.workflow.run` on a fake Snakemake job, restoring the process state it changes."""
    from mmdiag.workflow import run

    def go(target: str, **named: str) -> int:
        outputs = {"out": str(tmp_path / "results" / "table.csv")}
        inputs = {k: v for k, v in named.items()}
        smk = SimpleNamespace(
            rule="table",
            log=[str(tmp_path / "logs" / "table.log")],
            config={"results": str(tmp_path / "results")},
            threads=1,
            input=inputs,
            output=outputs,
            params={},
            wildcards={},
            resources=SimpleNamespace(gpu=0),
        )
        (tmp_path / "results").mkdir(exist_ok=True)
        stderr, root = sys.stderr, logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            run(smk, f"test_bad_input_runs:{target}", end_process=False)
            return 0
        except SystemExit as exc:
            return int(exc.code)
        finally:
            if sys.stderr is not stderr:
                sys.stderr.close()
            sys.stderr = stderr
            root.handlers[:] = handlers
            root.setLevel(level)

    return go


@pytest.mark.parametrize("how", ["garbage", "truncated", "crafted_pickle"])
def test_garbage_model_input_fails_the_job_with_one_console_line(
    tmp_path: Path, job: Any, capfd: pytest.CaptureFixture[str], how: str
) -> None:
    model = tmp_path / "runs" / "model.pt"
    model.parent.mkdir(parents=True)
    damage(model, how, tmp_path / "code_ran")
    assert job("read_model", model=str(model)) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith(f"mmdiag: table: {model}: unreadable checkpoint")
    assert err[0].endswith(f"rebuild it with: snakemake {model} --force")
    assert not (tmp_path / "results" / "table.csv").exists() and not (tmp_path / "code_ran").exists()


def test_any_exception_is_one_console_line_and_a_traceback_in_the_log(
    tmp_path: Path, job: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    assert job("broken_job") == 1
    err = capfd.readouterr().err.strip().splitlines()
    log = tmp_path / "logs" / "table.log"
    assert err == [f"mmdiag: table: ValueError: fold 3 has no positive case second line (full traceback: {log})"]
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "broken_job" in text


# ------------------------------------------------------------------------------------ results folder
def test_results_root_inside_a_repository_is_never_committed(tmp_path: Path, job: Any) -> None:
    repo = tmp_path
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "results" / "ds" / "data").mkdir(parents=True)
    (repo / "results" / "ds" / "data" / "copy_of_the_dataset.png").write_bytes(b"x")
    job("broken_job")  # any job, failed or not, marks the results root
    assert (repo / "results" / ".gitignore").read_text().splitlines()[-1] == "*"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    assert "results" not in status.stdout


def test_an_existing_gitignore_in_the_results_root_is_kept(tmp_path: Path) -> None:
    from mmdiag.workflow import ignore_results_root

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".gitignore").write_text("mine\n")
    ignore_results_root({"results": str(tmp_path / "out")})
    assert (tmp_path / "out" / ".gitignore").read_text() == "mine\n"


@pytest.mark.parametrize("name", ["gpu0", "cuda:7"])
def test_a_job_refuses_a_device_it_cannot_see(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job-side twin of the config check, for a job that lands where the configured GPU is missing."""
    from mmdiag.engine.device import pick_device

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ConfigError, match=rf"trainer\.device: .*'{re.escape(name)}'"):
        pick_device(name)


def test_check_config_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from mmdiag.cli import main

    monkeypatch.chdir(REPO)
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  optimizer: {lr: .inf}\n")
    assert main(["check-config", str(bad)]) == 1
    assert "trainer.optimizer.lr: must be a finite number, got inf" in capsys.readouterr().err
