"""Tables of the fusion study, distillation and dual-branch model, built from fixture study outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmdiag.io import write_json
from mmdiag.reporting.catalog import TABLES
from mmdiag.reporting.comparisons import paired_tests, proportion_tests
from mmdiag.reporting.provenance import sidecar
from mmdiag.reporting.render import to_frame, to_latex, to_markdown
from mmdiag.reporting.runs import Run
from test_reporting_fixtures import make_meta, make_study_run, make_summary

LABELS9 = ["ADI", "BACK", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM"]


def build(name: str, **kwargs):
    return TABLES.get(name)(**{"config": {}, **kwargs})


def test_strategies_rows_columns_and_mcnemar(tmp_path: Path) -> None:
    meta = make_meta(tmp_path)
    summary = make_summary(
        tmp_path / "s", "fusion_strategies", {"concat": "concat", "gated": "gated", "bilinear": "bilinear"}
    )
    config = {"fusion_study": {"base": {"fusion": "concat"}}}
    table = build("fusion_t3_strategies", runs=[str(summary)], meta=str(meta), config=config)
    assert [r.labels["Fusion"] for r in table.rows] == ["concat", "gated", "bilinear"]
    assert [c.name for c in table.columns] == ["Acc", "Acc (case)", "SEN", "SPE", "F1", "AUC", "McNemar p (vs concat)"]
    runs = [Run.load(p) for p in (tmp_path / "s" / n / "metrics.json" for n in ("concat", "gated", "bilinear"))]
    expected = paired_tests(
        runs[2].predictions("single_centre"), runs[0].predictions("single_centre"), ["non_gist", "gist"], 1
    )
    assert table.rows[2].cells["McNemar p (vs concat)"].point == expected["mcnemar_p"]
    assert not table.rows[0].cells["McNemar p (vs concat)"].defined
    assert [len(r.runs) for r in table.rows] == [1, 2, 2]  # tested rows also trace to the reference run
    assert table.rows[1].cells["AUC"] == runs[1].cell("single_centre", "AUC")


def test_hparams_and_heads_are_grouped(tmp_path: Path) -> None:
    meta = make_meta(tmp_path)
    rows = {"baseline": "baseline", "lr_0.1": "lr=0.1", "lr_0.01": "lr=0.01", "dropout_0.3": "dropout=0.3"}
    table = build("fusion_t1_hparams", runs=[str(make_summary(tmp_path / "h", "fusion_hparams", rows))], meta=str(meta))
    assert [r.group for r in table.rows] == ["baseline", "lr", "lr", "dropout"]
    assert {i for i, _ in table.best_cells()} <= {1, 2}  # lone rows of a group are never "best"
    heads = {
        "head_kan": "head: kan",
        "head_moe": "head: moe",
        "objective_focal": "objective: focal",
        "tta": "TTA: a + b",
    }
    t4 = build("fusion_t4_heads_objectives", runs=[str(make_summary(tmp_path / "o", "fusion_heads_objectives", heads))])
    assert [r.group for r in t4.rows] == ["head", "head", "objective", "TTA"]
    assert t4.label_columns == ["Variant"] and "McNemar" not in to_markdown(t4)


def test_multiclass_runs_get_macro_columns(tmp_path: Path) -> None:
    rows = {"a": "a", "b": "b"}
    runs = {n: str(make_study_run(tmp_path / n, n, n, 0.5, LABELS9)) for n in rows}
    write_json(tmp_path / "summary.json", {"study": "fusion_strategies", "runs": runs})
    table = build("fusion_t3_strategies", runs=[str(tmp_path / "summary.json")])
    assert [c.name for c in table.columns] == [
        "Acc",
        "Acc (case)",
        "P (macro)",
        "R (macro)",
        "F1 (macro)",
        "AUC (OvR)",
        "AUC (OvO)",
    ]
    assert table.rows[0].cells["F1 (macro)"].has_ci
    assert "Multiclass task (9 classes)" in table.caption and "one-vs-rest" in table.caption


def test_distillation_efficiency(tmp_path: Path) -> None:
    eff = {
        "teacher": {"params": 3_000_000, "weights_mb": 12.0, "images_per_s": 100.0, "ms_per_batch": 160.0,
                    "peak_memory_mb": 50.0, "memory_source": "cpu_rss", "batch_size": 16, "device": "cpu"},
        "student": {"params": 1_200_000, "weights_mb": 4.8, "images_per_s": 180.0, "ms_per_batch": 89.0,
                    "peak_memory_mb": 30.0, "memory_source": "cpu_rss", "batch_size": 16, "device": "cpu"},
    }  # fmt: skip
    summary = make_summary(
        tmp_path, "distillation", {"teacher": "teacher", "student": "student (KD)"}, efficiency=eff, parameter_ratio=0.4
    )
    table = build("distill_efficiency", runs=[str(summary)])
    assert [r.labels["Model"] for r in table.rows] == ["teacher", "student (KD)"]
    student = table.rows[1].cells
    assert student["Params (M)"].point == pytest.approx(1.2) and student["Images/s"].point == 180.0
    best = {c for i, c in table.best_cells() if i == 1}
    assert {"Params (M)", "Weights (MB)", "Images/s", "ms/batch", "Peak memory (MB)"} <= best
    assert "| **1.20** |" in to_markdown(table).replace("  ", " ").replace("  ", " ") or "**1.20**" in to_markdown(
        table
    )
    assert "ratio: 0.40" in to_markdown(table) and table.extras["efficiency"] == eff


def test_dualbranch_tests_against_fused_model(tmp_path: Path) -> None:
    meta = make_meta(tmp_path)
    runs = [
        make_study_run(tmp_path / "u_eus", "unimodal_eus", "EUS", 0.2),
        make_study_run(tmp_path / "u_wle", "unimodal_wle", "WLE", 0.4),
        make_study_run(tmp_path / "fusion", "fusion", "EUS+WLE", 0.8),
    ]
    table = build("dualbranch_t5_overall", runs=[str(p) for p in runs], meta=str(meta))
    assert [c.name for c in table.columns][-2:] == ["z-test p", "χ² p"]
    loaded = [Run.load(p) for p in runs]
    t = proportion_tests(
        loaded[0].predictions("single_centre"), loaded[2].predictions("single_centre"), ["non_gist", "gist"]
    )
    assert table.rows[0].cells["z-test p"].point == t["z_p"] and table.rows[0].cells["χ² p"].point == t["chi2_p"]
    assert not table.rows[2].cells["z-test p"].defined
    assert r"$\chi$$^2$ p" in to_latex(table)
    assert [len(r["runs"]) for r in sidecar(table)["rows"]] == [2, 2, 1]


def test_key_classes_per_class_f1(tmp_path: Path) -> None:
    meta = make_meta(tmp_path)
    doc = {"dataset": {"labels": LABELS9, "task": "multiclass"}}
    write_json(meta, doc)
    runs = [make_study_run(tmp_path / n, n, n.upper(), s, LABELS9) for n, s in (("unimodal_a", 0.3), ("fusion", 0.7))]
    table = build("dualbranch_t6_key_classes", runs=[str(p) for p in runs], meta=str(meta))
    assert [c.name for c in table.columns] == LABELS9
    f1 = Run.load(runs[1]).cell("single_centre", "F1_per_class/STR")
    assert table.rows[1].cells["STR"] == f1 and f1.has_ci
    assert list(to_frame(table).columns[:2]) == ["Model", "ADI"]


def test_key_classes_binary_from_predictions(tmp_path: Path) -> None:
    meta = make_meta(tmp_path)
    runs = [make_study_run(tmp_path / n, n, n, s) for n, s in (("unimodal_eus", 0.3), ("fusion", 0.7))]
    table = build("dualbranch_t6_key_classes", runs=[str(p) for p in runs], meta=str(meta))
    pred = Run.load(runs[1]).predictions("single_centre")
    tp = int(((pred["p_gist"] > pred["p_non_gist"]) & (pred["y"] == 1)).sum())
    fp = int(((pred["p_gist"] > pred["p_non_gist"]) & (pred["y"] == 0)).sum())
    fn = int(((pred["p_gist"] <= pred["p_non_gist"]) & (pred["y"] == 1)).sum())
    assert table.rows[1].cells["gist"].point == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert table.rows[1].cells["gist"].point == pytest.approx(Run.load(runs[1]).cell("single_centre", "F1").point)
