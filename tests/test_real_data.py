"""The real-data recipe (issue 11): chosen automatically for a MedMNIST source, and the bench's pipeline path.

Two kinds of check: on a tiny MedMNIST-format file written here (always runs, offline), and on the real
BreastMNIST file in ../shared/data/medmnist/ (skipped with a reason when it is absent, as in a fresh clone).
Neither trains more than one short epoch, and no timing is asserted.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from mmdiag.data.sources import medmnist as mm
from mmdiag.data.sources.download import RemoteFile

REPO = Path(__file__).resolve().parents[1]
BREASTMNIST = REPO.parent / "shared" / "data" / "medmnist" / "breastmnist.npz"
BREASTMNIST_MD5 = "750601b1f35ba3300ea97c75c52ff8f6"
TINY_SIZES = {"train": 16, "val": 8, "test": 8}


def load_bench() -> ModuleType:
    """bench/real_data.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_real_data", REPO / "bench" / "real_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tiny_breastmnist(path: Path, seed: int = 0) -> None:
    """A BreastMNIST-format file (28 px grey, 2 classes, every split holding both) under the official name."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for split, n in TINY_SIZES.items():
        labels = rng.permutation(np.arange(n) % 2)
        images = rng.integers(0, 120, (n, 28, 28), dtype=np.uint8)
        images[labels == 1, 8:20, 8:20] += 100  # a bright square for one class: something to learn
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


@pytest.fixture
def tiny_npz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny `breastmnist.npz` whose own MD5 counts as the published one (nothing is downloaded)."""
    path = tmp_path / "downloads" / "breastmnist.npz"
    write_tiny_breastmnist(path)
    official = mm.remote_file
    md5 = hashlib.md5(path.read_bytes()).hexdigest()

    def remote(flag: str, size: int, url_override: str | None = None) -> RemoteFile:
        real = official(flag, size, url_override)
        return RemoteFile(real.filename, "http://127.0.0.1:9/offline", md5=md5)

    monkeypatch.setattr(mm, "remote_file", remote)
    return path


def short(config: dict[str, Any]) -> dict[str, Any]:
    """One epoch and few bootstrap replicates: the path, not the result, is under test."""
    config["tmmnet"]["schedule"]["classify"] = 1
    config["evaluation"]["bootstrap"] = 20
    config["progress"] = False
    return config


def test_recipe_layer_picks_real_data_for_the_medmnist_source(tiny_npz: Path, tmp_path: Path) -> None:
    bench = load_bench()
    config = bench.layered_config(bench.user_config(tiny_npz, tmp_path / "results"), tmp_path)
    assert config["recipe"] == "real_data"
    assert config["tmmnet"]["encoder"] == "resnet18_real"
    assert config["encoders"]["resnet18_real"]["model_kwargs"] == {"output_stride": 8}
    assert "width" not in config["encoders"]["resnet18_real"] or config["encoders"]["resnet18_real"]["width"] is None
    for backbone in config["tmmnet"]["comparison"]["backbones"]:
        assert backbone.endswith("_real"), "Table 1 compares full-width backbones on real data"
    # the user's file still wins over the recipe
    user = bench.user_config(tiny_npz, tmp_path / "results")
    user["tmmnet"] = {"schedule": {"classify": 3}}
    assert bench.layered_config(user, tmp_path)["tmmnet"]["schedule"]["classify"] == 3


def test_real_data_recipe_classifies_at_the_learning_rate_it_was_chosen_with(tiny_npz: Path, tmp_path: Path) -> None:
    """The embedded default scales the classify phase's lr by 0.3 (chosen on the synthetic set); the real-data
    recipe, chosen and tested at AdamW 1e-3, must not inherit that scale silently."""
    from types import SimpleNamespace

    from mmdiag.experiments.tmm import phase_spec

    bench = load_bench()
    config = bench.layered_config(bench.user_config(tiny_npz, tmp_path / "results"), tmp_path)
    spec = phase_spec(SimpleNamespace(config=config), "classify", 30, "val_AUC")  # type: ignore[arg-type]
    assert spec.optimizer["lr"] == pytest.approx(1e-3)
    assert spec.ema == pytest.approx(0.95)  # the weight average it was chosen with reaches the trainer


def test_synthetic_source_keeps_the_embedded_recipe(tmp_path: Path) -> None:
    from mmdiag.config import load_config

    config = load_config(REPO / "config" / "config.yaml")
    assert config["recipe"] == "embedded"
    assert "resnet18_real" not in config["encoders"]
    assert config["tmmnet"]["encoder"] != "resnet18_real"
    assert config["trainer"]["ema"] is None  # the embedded recipe trains without the weight average


def test_bench_runs_the_baseline_arm_on_a_tiny_npz(tiny_npz: Path, tmp_path: Path) -> None:
    bench = load_bench()
    config = short(bench.planned_config(bench.layered_config(bench.user_config(tiny_npz, tmp_path / "r"), tmp_path)))
    paths = bench.prepare_data(config)
    metrics = bench.train_baseline(config, paths, seed=0, run_dir=tmp_path / "run", select_only=False)
    test = metrics["eval"]["single_centre"]
    assert test["n_samples"] == TINY_SIZES["test"]
    assert 0.0 <= test["metrics"]["Acc"] <= 1.0 and not math.isnan(test["metrics"]["AUC"])
    assert metrics["run"]["arm"] == bench.ARM and metrics["run"]["encoder"] == "resnet18_real"
    assert metrics["run"]["arm_spec"]["modalities"] == ["breast"]  # the role `first`, resolved
    # a second seed: the bench's seed ensemble is Table 3's (mean class probabilities of the seeds' runs)
    bench.train_baseline(config, paths, seed=1, run_dir=tmp_path / "run1", select_only=False)
    runs = [{"run_dir": str(tmp_path / d)} for d in ("run", "run1")]
    ens = bench.seed_ensemble(runs, "single_centre", paths["meta"])
    assert 0.0 <= ens["Acc"] <= 1.0 and not math.isnan(ens["AUC"])


def test_bench_cross_validation_folds_the_official_train_and_val_only(
    tiny_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--cv K`: K disjoint, label-stratified folds that cover train + val exactly and hold no test case."""
    bench = load_bench()
    config = short(bench.planned_config(bench.layered_config(bench.user_config(tiny_npz, tmp_path / "r"), tmp_path)))
    paths = bench.prepare_data(config)
    from mmdiag.io import read_json

    official = read_json(Path(paths["splits"]).parent / "single_centre.json")["partitions"]
    splits = [read_json(p)["partitions"] for p in bench.cv_splits(paths, 2)]
    held = [set(s["val"]) for s in splits]
    assert held[0].isdisjoint(held[1]) and held[0] | held[1] == set(official["train"]) | set(official["val"])
    for s in splits:
        assert set(s["train"]).isdisjoint(s["val"]) and set(s["train"]) | set(s["val"]) == held[0] | held[1]
    assert not (held[0] | held[1]) & set(official["test"])
    assert [len(h) for h in held] == [12, 12]  # 24 cases, half of each class per fold
    assert [read_json(p) for p in bench.cv_splits(paths, 2)] == [read_json(p) for p in bench.cv_splits(paths, 2)]

    bench.cross_validate(config, paths, seed=0, folds=2, out=tmp_path / "cv")
    out = capsys.readouterr().out
    assert "seed 0 fold 1: held ACC" in out and "pooled over 24 held images" in out


def test_published_figures_name_supported_subsets() -> None:
    bench = load_bench()
    assert bench.PUBLISHED_RESNET18_28["breastmnist"] == {"acc": 0.863, "auc": 0.901, "checked": True}
    assert set(bench.PUBLISHED_RESNET18_28) <= set(mm.supported_flags())
    assert bench.flag_and_size(Path("x/pathmnist_64.npz")) == ("pathmnist", 64)


@pytest.mark.skipif(not BREASTMNIST.is_file(), reason=f"{BREASTMNIST} is absent (a fresh clone has no ../shared)")
def test_real_breastmnist_converts_and_trains_one_epoch(tmp_path: Path) -> None:
    assert hashlib.md5(BREASTMNIST.read_bytes()).hexdigest() == BREASTMNIST_MD5
    bench = load_bench()
    user = bench.user_config(BREASTMNIST, tmp_path / "r")
    config = short(bench.planned_config(bench.layered_config(user, tmp_path)))
    paths = bench.prepare_data(config)  # the whole official file, used where it lies (MD5 checked)
    from mmdiag.io import read_json

    split = read_json(Path(paths["splits"]).parent / "single_centre.json")["partitions"]
    assert (len(split["val"]), len(split["test"])) == (78, 156)  # the official validation and test sets
    assert len(split["train"]) in (545, 546)  # 546, less the copy of an image that is also in test
    info = read_json(paths["info"])
    assert info["spec"]["labels"] == ["malignant", "normal_benign"]
    assert info["spec"]["positive_label"] == "malignant"
    assert not list(BREASTMNIST.parent.glob("*.part")), "the shared file is read, never rewritten"
    # one epoch on a 48-case training subset: the recipe's model trains and validates on real images
    config["dataset"]["medmnist"]["max_per_split"] = 48
    config["dataset"]["name"] = "breastmnist_28_max48"
    config["results"] = str(tmp_path / "sub")
    sub = bench.prepare_data(config)
    metrics = bench.train_baseline(config, sub, seed=0, run_dir=tmp_path / "run", select_only=True)
    val = metrics["eval"]["val"]
    assert val["n_samples"] == 48 and not math.isnan(val["metrics"]["AUC"])
