"""Tiny bring-your-own dataset folders for whole-DAG tests (tests/test_byo_dags.py), and their configs.

Each folder is what a new user would bring (docs/data_format.md): `dataset.yaml`, `cases.csv`, `images.csv`,
optionally `reports.csv` (no file at all when the data has no reports), PNG images of 16-24 px whose
brightness carries the label, so a one-epoch model has something to learn. Attributes may be sparse
(empty cells = not annotated), a modality may be absent for some cases.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image


@dataclass(frozen=True)
class Fixture:
    """One tiny dataset and the studies its DAG test runs."""

    name: str
    modalities: dict[str, int]
    labels: tuple[str, ...] = ("benign", "malignant")
    centres: tuple[str, ...] = ("site1",)
    n_cases: int = 36
    reports: bool = False
    attributes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    attribute_fraction: float = 1.0  # share of cases whose attributes are annotated
    missing_fraction: float = 0.0  # share of cases without their last modality
    size: int = 20
    studies: tuple[str, ...] = ("tmmnet",)
    config: dict[str, Any] = field(default_factory=dict)  # extra settings of the fixture's config file


def write_fixture(fx: Fixture, root: Path, seed: int = 0) -> Path:
    """Write the dataset folder of `fx` into `root` and return it."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    spec: dict[str, Any] = {
        "name": fx.name,
        "description": "tiny test fixture (tests/byo_dag_fixtures.py)",
        "task": "binary" if len(fx.labels) == 2 else "multiclass",
        "labels": list(fx.labels),
        "modalities": {m: {"channels": c, "description": m} for m, c in fx.modalities.items()},
        "centres": list(fx.centres),
        "synthetic": True,
    }
    if len(fx.labels) == 2:
        spec["positive_label"] = fx.labels[-1]
    if fx.attributes:
        spec["attributes"] = fx.attributes
    (root / "dataset.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    attr_columns = [f"{m}.{a}" for m, av in fx.attributes.items() for a in av]
    mods = list(fx.modalities)
    cases, images, reports = [], [], []
    missing = set(rng.choice(fx.n_cases, size=round(fx.missing_fraction * fx.n_cases), replace=False).tolist())
    for i in range(fx.n_cases):
        case_id = f"case{i:03d}"
        y = i % len(fx.labels)
        centre = fx.centres[(i // len(fx.labels)) % len(fx.centres)]
        row = {"case_id": case_id, "centre": centre, "label": fx.labels[y]}
        annotated = rng.uniform() < fx.attribute_fraction
        for col in attr_columns:
            m, a = col.split(".")
            values = fx.attributes[m][a]
            row[col] = values[(y + int(rng.integers(2))) % len(values)] if annotated else ""
        cases.append(row)
        present = mods[:-1] if i in missing and len(mods) > 1 else mods
        for m in present:
            rel = f"images/{case_id}/{m}.png"
            _write_image(root / rel, fx.modalities[m], y, len(fx.labels), fx.size, rng)
            images.append({"case_id": case_id, "modality": m, "path": rel})
        if fx.reports:
            grade = ["faint", "moderate", "marked", "strong"][y % 4]
            reports.append({"case_id": case_id, "report": f"A {grade} lesion, {rng.integers(5, 30)} mm, seen clearly."})
    _write_csv(root / "cases.csv", cases)
    _write_csv(root / "images.csv", images)
    if fx.reports:
        _write_csv(root / "reports.csv", reports)
    return root


def _write_image(path: Path, channels: int, y: int, n_classes: int, size: int, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    level = 60 + 140 * y / max(n_classes - 1, 1)
    pixels = np.clip(rng.normal(level, 30, size=(size, size, channels)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels).save(path)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def fixture_config(fx: Fixture, folder: Path, results: str) -> dict[str, Any]:
    """The user's config file for `fx`: their folder, a tiny budget, the studies under test (every other
    setting is the default, roles and all)."""
    cfg: dict[str, Any] = {
        "recipe": "embedded",  # the default recipes' models and schedules, shrunk below
        "results": results,
        "progress": False,
        "studies": list(fx.studies),
        "dataset": {"name": fx.name, "source": "folder", "folder": {"path": str(folder), "link": "hardlink"}},
        "preprocess": {"size": fx.size},
        "evaluation": {"bootstrap": 20},
        "trainer": {"batch_size": 16, "checkpoint_every_s": 600},
        "tmmnet": {
            "schedule": {"stage1": 1, "stage2": 1, "stage3": 1, "classify": 1},
            "comparison": {"backbones": [], "arms": []},
            "text_guidance": {"backbones": [], "arms": []},
        },
        "splits": {"val_fraction": 0.2, "cv": {"centres": []}},
        "fusion_study": {
            "epochs": 1,
            "strategies": ["concat"],
            "hparams": {"_replace": True},  # a map merges into the default one: replace it (docs/data_format.md)
            "heads": [],
            "objectives": {"_replace": True},
            "tta": [],
        },
        "distillation": {"epochs": 1, "efficiency_batch": 8},
        "dualbranch": {"epochs": {"unimodal": 1, "fusion": 1}, "trainer": {"batch_size": 8, "accumulate": 1}},
    }
    return _merge(cfg, fx.config)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


ATTRS = {"us": {"margin": ["smooth", "lobulated", "spiculated"], "echo": ["hypo", "hyper"]}}

FIXTURES = {
    # (a) like MedMNIST: one modality, no reports.csv at all, no attributes
    "one_modality": Fixture("byo_one", {"us": 1}, studies=("tmmnet", "dualbranch")),
    # (b) one modality with reports, no attributes: stage-1 guidance and image + report fusion
    "one_modality_reports": Fixture("byo_reports", {"us": 1}, reports=True, studies=("tmmnet", "fusion_study")),
    # (c) one modality with (sparse) attributes and reports, plus a user arm trained on attributes alone
    "one_modality_attributes": Fixture(
        "byo_attributes",
        {"us": 1},
        reports=True,
        attributes=ATTRS,
        attribute_fraction=0.6,
        config={"tmmnet": {"arms": {"us_attributes": {"modalities": ["first"], "attributes": True}}}},
    ),
    # (d) four classes, two modalities at two centres: multi-centre evaluation, multiclass metrics
    "multiclass": Fixture(
        "byo_multiclass",
        {"ct": 1, "mr": 1},
        labels=("a", "b", "c", "d"),
        centres=("site1", "site2"),
        n_cases=48,
        size=16,
    ),
    # (e) two modalities, 30 % of cases without the second: token for TMM-Net, drop for the dual-branch model
    "missing_modality": Fixture(
        "byo_missing",
        {"ct": 1, "mr": 3},
        missing_fraction=0.3,
        n_cases=40,
        size=16,
        studies=("tmmnet", "dualbranch"),
        config={"data": {"missing_modality": "token"}},
    ),
}
