"""Fixture run folders for the reporting tests: what `train_arm` writes, made small and fast.

Helpers (imported by the other `test_reporting_*` modules) write `metrics.json` + `run.json` +
`predictions_<set>.csv` + `history.csv` with metrics computed by the project's own evaluation code from the
fixture predictions, a preprocessing cache with a split, and a saved tiny TMM-Net. The tests at the bottom
check the fixtures themselves look like real runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from conftest import PAPER_ARMS
from mmdiag.experiments.evaluation import evaluation_warnings, score, score_with_ci
from mmdiag.io import read_json, write_json

LABELS = ["non_gist", "gist"]
ATTRIBUTES = {
    "eus": {"echo_level": ["hypo", "iso", "hyper"], "boundary": ["clear", "unclear"]},
    "wle": {"colour": ["normal", "reddish"], "translucency": ["absent", "present"]},
}
# The paper's eight arms (the shared table without our attributes_no_text ablation).
ARMS: dict[str, dict[str, Any]] = {k: v for k, v in PAPER_ARMS.items() if k != "attributes_no_text"}
CHECKSUM = "ab" * 32
BAYES = 0.9


def full_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"stage1": False, "stage2": False, "attention": False, **spec}


def predictions(n_cases: int, skill: float, seed: int, images_per_case: int = 2) -> pd.DataFrame:
    """Two images per case; P(gist) moves towards the truth by `skill` (0 = chance, 1 = near perfect)."""
    rng = np.random.default_rng(seed)
    y_case = np.arange(n_cases) % 2
    rows = []
    for c, y in enumerate(y_case):
        for _ in range(images_per_case):
            p = float(np.clip(0.5 + skill * (y - 0.5) + rng.normal(0, 0.25), 0.01, 0.99))
            rows.append({"case_id": f"case_{c:03d}", "y": int(y), "p_non_gist": 1 - p, "p_gist": p})
    return pd.DataFrame(rows)


def evaluation(pred: pd.DataFrame, attributes: bool, labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """`eval.<set>` exactly as `evaluate_run` computes it, from a predictions frame."""
    probs = pred[[f"p_{label}" for label in labels]].to_numpy()
    d = {"probs": probs, "y": pred["y"].to_numpy(), "case_ids": list(pred["case_id"])}
    task = "binary" if len(labels) == 2 else "multiclass"
    pos = len(labels) - 1
    return {
        "n_samples": len(pred),
        "n_cases": pred["case_id"].nunique(),
        "metrics": score(d, task, labels, pos),
        "ci": score_with_ci(d, task, labels, pos, n_boot=50, seed=0),
        "attributes": {"eus.echo_level": 0.5, "wle.colour": 0.7, "P-Acc": 0.6, "P-BAcc": 0.55} if attributes else {},
        "warnings": evaluation_warnings(d, task, labels, pos),
    }


def record(arm: str, spec: Mapping[str, Any], synthetic: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "study": "tmmnet",
        "arm": arm,
        "arm_spec": full_spec(spec),
        "encoder": extra.pop("encoder", "vit_cpu"),
        "encoder_label": extra.pop("encoder_label", "ViT (tiny)"),
        "dataset": "fixture_gist",
        "dataset_synthetic": synthetic,
        "dataset_checksum": CHECKSUM,
        "config_hash": f"cfg{zlib.crc32(arm.encode()):08x}",
        "seed": 0,
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "started": "2026-11-24T10:00:00+00:00",
        "finished": "2026-11-24T10:05:00+00:00",
        "device": "cpu (1 threads)",
        "host": "fixture",
        **extra,
    }


def make_run(
    run_dir: Path,
    arm: str,
    spec: Mapping[str, Any],
    skill: float = 0.5,
    sets: Sequence[str] = ("single_centre", "multi_centre"),
    synthetic: bool = True,
    n_cases: int = 20,
    labels: Sequence[str] = LABELS,
    **extra: Any,
) -> Path:
    """A run folder like `runs/tmmnet/<encoder>/<arm>/seed<seed>/` at `run_dir`; returns its metrics.json path.

    `seed=` (in `extra`) goes to the record and changes the predictions; more than two `labels` make a
    multiclass run (one image per case).
    """
    rec = record(arm, spec, synthetic, **extra)
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for k, evalset in enumerate(sets):
        seed = zlib.crc32(f"{arm}/{evalset}".encode()) + k + 1000 * int(rec["seed"])
        if len(labels) == 2:
            pred = predictions(n_cases, skill, seed)
        else:
            pred = multiclass_predictions(n_cases, labels, skill, seed)
        pred.to_csv(run_dir / f"predictions_{evalset}.csv", index=False)
        results[evalset] = evaluation(pred, bool(spec.get("stage2")), labels)
    history = pd.DataFrame(
        {
            "phase": ["stage2", "stage2", "classify", "classify", "classify"],
            "epoch": [0, 1, 0, 1, 2],
            "train_loss": [3.0, 2.5, 1.0, 0.8, 0.7],
            "val_loss": [2.8, 2.6, 0.9, 0.85, 0.8],
            "val_Acc": [np.nan, np.nan, 0.6, 0.65, 0.7],
            "val_AUC": [np.nan, np.nan, 0.62, 0.7, 0.74],
        }
    )
    history.to_csv(run_dir / "history.csv", index=False)
    write_json(run_dir / "run.json", rec)
    write_json(run_dir / "metrics.json", {"run": rec, "eval": results})
    return run_dir / "metrics.json"


def make_ablation(root: Path, synthetic: bool = True) -> list[Path]:
    """The 8 ablation arms in `root/<arm>/`; the full model is the most skilled."""
    return [
        make_run(root / arm, arm, spec, skill=0.2 + 0.1 * i, synthetic=synthetic)
        for i, (arm, spec) in enumerate(ARMS.items())
    ]


def make_cv(cv_dir: Path, accs: Sequence[float]) -> Path:
    """A cross-validation summary with fold runs, like `tmmnet_cv/<centre>/`."""
    folds = []
    for i, acc in enumerate(accs):
        make_run(cv_dir / f"fold{i}", "tmmnet", ARMS["tmmnet"], sets=("test",))
        folds.append({"Acc": acc, "Acc_case": acc - 0.1, "AUC": 0.5})
    summary = {
        key: {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1))}
        for key, vals in (("Acc", list(accs)), ("Acc_case", [a - 0.1 for a in accs]))
    }
    write_json(cv_dir / "metrics.json", {"arm": "tmmnet", "encoder": "vit_cpu", "folds": folds, "summary": summary})
    return cv_dir / "metrics.json"


def generative_model(labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """A generator model over the fixture attributes, as `GenerativeModel.to_dict` stores it: every attribute
    leans towards its first value for the first class and its last value for the others."""
    tables = {}
    for m, attrs in ATTRIBUTES.items():
        for a, values in attrs.items():
            k = len(values)
            low = [0.6] + [0.4 / (k - 1)] * (k - 1)
            tables[f"{m}.{a}"] = {"values": list(values), labels[0]: low, **{lab: low[::-1] for lab in labels[1:]}}
    return {"labels": list(labels), "prior": [1 / len(labels)] * len(labels), "tables": tables}


def make_meta(root: Path, bayes: float | None = BAYES, generator: bool = False) -> Path:
    meta = {
        "dataset": {
            "name": "fixture_gist",
            "labels": LABELS,
            "positive_label": "gist",
            "task": "binary",
            "synthetic": True,
            "attributes": ATTRIBUTES,
            "modalities": {"eus": {"channels": 1}, "wle": {"channels": 3}},
            "metadata": (
                {}
                if bayes is None
                else {"bayes_accuracy": bayes, "bayes_accuracy_eus": 0.8, "bayes_accuracy_note": "x"}
            )
            | ({"generative_model": generative_model()} if generator else {}),
        },
        "dataset_checksum": CHECKSUM,
        "normalisation": {"eus": [[0.45], [0.22]], "wle": [[0.48, 0.46, 0.41], [0.23, 0.22, 0.23]]},
        "report_columns": ["report"],
        "size": 32,
        "shapes": {},
        "text_length": 16,
        "vocab_size": 12,
    }
    path = root / "cache" / "meta.json"
    write_json(path, meta)
    return path


def multiclass_predictions(n: int, labels: Sequence[str], skill: float, seed: int) -> pd.DataFrame:
    """One image per case; the true class's probability raised by `skill`."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(labels)
    logits = rng.normal(0, 1, (n, len(labels)))
    logits[np.arange(n), y] += 4 * skill
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    frame = pd.DataFrame({"case_id": [f"img_{i:04d}" for i in range(n)], "y": y})
    for j, label in enumerate(labels):
        frame[f"p_{label}"] = p[:, j]
    return frame


def make_study_run(
    run_dir: Path, name: str, row: str, skill: float, labels: Sequence[str] = LABELS, **extra: Any
) -> Path:
    """A run of the generic runner (fusion study, distillation, dual-branch): `run_name`/`row` in its record."""
    rec = {**record(name, {"modalities": ["eus"]}), "run_name": name, "row": row, **extra}
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = zlib.crc32(f"{run_dir}".encode())
    pred = predictions(20, skill, seed) if len(labels) == 2 else multiclass_predictions(60, labels, skill, seed)
    pred.to_csv(run_dir / "predictions_single_centre.csv", index=False)
    write_json(run_dir / "run.json", rec)
    write_json(run_dir / "metrics.json", {"run": rec, "eval": {"single_centre": evaluation(pred, False, labels)}})
    return run_dir / "metrics.json"


def make_summary(root: Path, study: str, rows: Mapping[str, str], **extra: Any) -> Path:
    """A study summary listing one fixture run per (run name -> row label), skill rising in order."""
    runs = {
        name: str(make_study_run(root / name, name, row, 0.2 + 0.2 * i)) for i, (name, row) in enumerate(rows.items())
    }
    write_json(root / "summary.json", {"study": study, "runs": runs, **extra})
    return root / "summary.json"


# ---------------------------------------------------------------------------------------- cache + model
def make_cache(root: Path, n_cases: int = 8, size: int = 32, generator: bool = False) -> tuple[Path, Path]:
    """A preprocessing cache (2 images per modality per case) and a split whose test partition is every case."""
    meta_path = make_meta(root, generator=generator)
    cache = meta_path.parent
    rng = np.random.default_rng(0)
    cases = pd.DataFrame({"case_id": [f"case_{i:03d}" for i in range(n_cases)], "centre": "a"})
    cases["y"] = np.arange(n_cases) % 2
    cases["label"] = [LABELS[y] for y in cases["y"]]
    for m, attrs in ATTRIBUTES.items():
        for a, values in attrs.items():
            cases[f"{m}.{a}"] = rng.integers(0, len(values), n_cases)
    rows = []
    for m, ch in (("eus", 1), ("wle", 3)):
        np.save(cache / f"images_{m}.npy", rng.normal(0, 1, (2 * n_cases, ch, size, size)).astype(np.float16))
        rows += [
            {"case_id": cid, "modality": m, "path": f"{cid}/{m}_{k}.png", "row": 2 * i + k}
            for i, cid in enumerate(cases["case_id"])
            for k in range(2)
        ]
    pd.DataFrame(rows).to_csv(cache / "images.csv", index=False)
    cases.to_csv(cache / "cases.csv", index=False)
    np.save(cache / "text_report.npy", rng.integers(1, 12, (n_cases, 16)).astype(np.int32))
    meta = read_json(meta_path)
    meta["shapes"] = {"eus": [2 * n_cases, 1, size, size], "wle": [2 * n_cases, 3, size, size]}
    write_json(meta_path, meta)
    split = root / "splits" / "single_centre.json"
    write_json(
        split,
        {"name": "single_centre", "meta": {}, "partitions": {"test": list(cases["case_id"]), "train": [], "val": []}},
    )
    return meta_path, split


def model_config(spec: Mapping[str, Any]) -> dict[str, Any]:
    s = full_spec(spec)
    mods = list(s["modalities"])
    return {
        "modalities": mods,
        "num_classes": 2,
        "in_chans": {m: {"eus": 1, "wle": 3}[m] for m in mods},
        "attribute_sizes": {m: [len(v) for v in ATTRIBUTES[m].values()] for m in mods},
        "encoder": {
            "model_name": "vit_tiny_patch16_224",
            "model_kwargs": {"img_size": 32, "patch_size": 8, "depth": 1},
            "pretrained": "off",
        },
        "text_encoder": {"type": "char_transformer", "dim": 32, "depth": 1, "heads": 2},
        "vocab_size": 12,
        "text_length": 16,
        "stage1": s["stage1"],
        "stage2": s["stage2"],
        "attention": s["attention"],
        "embed_dim": 16,
        "proto_dim": 8,
        "attn_dim": 16,
        "attn_heads": 1,
        "text_sections": {m: "report" for m in mods},
    }


def make_model_run(run_dir: Path, arm: str, seed: int = 0, sets: Sequence[str] = ("single_centre",)) -> Path:
    """A run folder with a saved (untrained) tiny TMM-Net `model.pt` and fixture metrics."""
    from mmdiag.models.tmmnet import tmmnet

    torch.manual_seed(seed)
    cfg = model_config(ARMS[arm])
    model = tmmnet(**cfg)
    metrics = make_run(run_dir, arm, ARMS[arm], sets=sets)
    torch.save({"state": model.state_dict(), "model_config": cfg}, metrics.parent / "model.pt")
    return metrics


# ------------------------------------------------------------------------------------ fixture sanity
def test_fixture_metrics_follow_predictions(tmp_path: Path) -> None:
    path = make_run(tmp_path, "tmmnet", ARMS["tmmnet"], skill=0.9)
    doc = read_json(path)
    pred = pd.read_csv(path.parent / "predictions_single_centre.csv")
    acc = float(((pred["p_gist"] >= 0.5).astype(int) == pred["y"]).mean())
    assert doc["eval"]["single_centre"]["metrics"]["Acc"] == acc
    ci = doc["eval"]["single_centre"]["ci"]["Acc"]
    assert ci["low"] <= ci["point"] <= ci["high"]
    assert acc > 0.7  # skill 0.9 is far from chance


def test_fixture_cache_loads(tmp_path: Path) -> None:
    from mmdiag.experiments.context import Context

    meta, split = make_cache(tmp_path)
    samples = Context.open({}, meta.parent).samples(split, "test", ["eus", "wle"])
    assert len(samples) == 16 and samples.batch(torch.arange(3))["images"]["wle"].shape == (3, 3, 32, 32)
