"""Multiclass runs in TMM-Net's tables and figures: macro counterparts instead of '–' (issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mmdiag.eval.curves import macro_roc_points
from mmdiag.io import read_json, write_json
from mmdiag.reporting.catalog import FIGURES, TABLES
from mmdiag.reporting.render import to_markdown
from mmdiag.reporting.runs import Run
from test_reporting_fixtures import ARMS, make_meta, make_run

LABELS5 = ["adeno", "squamous", "small_cell", "large_cell", "normal"]
ARMS3 = ("baseline1", "direct_fusion", "tmmnet")


def multiclass_meta(root: Path, labels=LABELS5) -> Path:
    meta = make_meta(root, bayes=None)
    doc = read_json(meta)
    doc["dataset"].update(labels=list(labels), positive_label=None, task="multiclass")
    write_json(meta, doc)
    return meta


def runs5(root: Path, labels=LABELS5) -> list[Path]:
    return [make_run(root / a, a, ARMS[a], skill=0.3 + 0.2 * i, n_cases=60, labels=labels) for i, a in enumerate(ARMS3)]


def test_tables_1_and_3_show_macro_metrics_and_per_class_sensitivity(tmp_path: Path) -> None:
    runs = runs5(tmp_path)
    t3 = TABLES.get("tmmnet_t3_ablation")(runs=[str(p) for p in runs], meta=str(multiclass_meta(tmp_path)), config={})
    expected = ["BAcc", "F1 (macro)", "Acc", "Acc (case)", "AUC (macro OvR)"] + [f"SEN/{c}" for c in LABELS5]
    assert [c.name for c in t3.columns] == expected
    assert "Multiclass task (5 classes)" in t3.caption and "macro one-vs-rest AUC" in t3.caption
    run = Run.load(runs[2])
    row = t3.rows[2]
    assert row.cells["AUC (macro OvR)"] == run.cell("single_centre", "AUC") and row.cells["AUC (macro OvR)"].has_ci
    assert row.cells["SEN/normal"] == run.cell("single_centre", "SEN/normal")
    assert all(cell.defined for r in t3.rows for cell in r.cells.values())  # no '–' anywhere
    t1 = TABLES.get("tmmnet_t1_comparison")(runs=[str(p) for p in runs], config={})
    assert [c.name for c in t1.columns] == expected and "Multiclass task" in t1.caption


def test_t3_seed_ensemble_is_macro_for_multiclass(tmp_path: Path) -> None:
    """Several seeds of a 5-class arm: the ensemble's AUC is the macro one-vs-rest AUC of the mean probabilities."""
    paths = [
        make_run(
            tmp_path / "baseline1" / f"seed{s}", "baseline1", ARMS["baseline1"], n_cases=60, labels=LABELS5, seed=s
        )
        for s in (0, 1, 2)
    ]
    t3 = TABLES.get("tmmnet_t3_ablation")(
        runs=[str(p) for p in paths], meta=str(multiclass_meta(tmp_path)), config={"tmmnet": {"seeds": [0, 1, 2]}}
    )
    frames = [Run.load(p).predictions("single_centre", LABELS5) for p in paths]
    probs = np.mean([f[[f"p_{c}" for c in LABELS5]].to_numpy() for f in frames], axis=0)
    y = frames[0]["y"].to_numpy()
    cell = t3.rows[0].cells["AUC (macro OvR) seed ensemble"]
    assert cell.point == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert t3.rows[0].cells["Acc seed ensemble"].point == pytest.approx(float(np.mean(probs.argmax(1) == y)))


def test_many_classes_leave_out_per_class_columns(tmp_path: Path) -> None:
    labels = [f"c{i}" for i in range(9)]
    runs = runs5(tmp_path, labels)
    t3 = TABLES.get("tmmnet_t3_ablation")(runs=[str(p) for p in runs], meta=str(multiclass_meta(tmp_path, labels)))
    assert [c.name for c in t3.columns] == ["BAcc", "F1 (macro)", "Acc", "Acc (case)", "AUC (macro OvR)"]
    assert "SEN/<class>" not in t3.caption


def test_paired_tests_report_macro_auc_without_delong(tmp_path: Path) -> None:
    runs = runs5(tmp_path)
    table = TABLES.get("tmmnet_t3_ablation_tests")(
        runs=[str(p) for p in runs], meta=str(multiclass_meta(tmp_path)), config={}
    )
    row = table.rows[0]
    assert row.cells["AUC"].defined and row.cells["AUC (TMM-Net)"].defined and row.cells["AUC diff"].defined
    assert not row.cells["DeLong p"].defined and not row.cells["AUC diff"].has_ci
    assert "DeLong's test compares binary AUCs and is not computed" in table.caption
    assert row.cells["McNemar p"].defined


def test_macro_roc_curve_area_is_the_macro_auc() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    p = rng.dirichlet(np.ones(4), 200)
    p[np.arange(200), y] += 0.3
    p = np.round(p / p.sum(1, keepdims=True), 1)  # ties: vertical steps in every class's curve
    frame = pd.DataFrame({"y": y, **{f"p_{c}": p[:, i] for i, c in enumerate("abcd")}})
    pts = macro_roc_points(frame, list("abcd"))
    macro = np.mean([roc_auc_score(y == k, p[:, k]) for k in range(4)])
    assert np.trapezoid(pts["tpr"], pts["fpr"]) == pytest.approx(macro, abs=1e-12)
    assert (pts.iloc[0].tolist(), pts.iloc[-1].tolist()) == ([0.0, 0.0], [1.0, 1.0])
    assert (np.diff(pts["fpr"]) >= 0).all() and (np.diff(pts["tpr"]) >= -1e-12).all()


def test_roc_figure_on_multiclass_runs(tmp_path: Path) -> None:
    runs = runs5(tmp_path)
    fig = FIGURES.get("tmmnet_fig8_roc_ablation")(runs=[str(p) for p in runs], meta=str(multiclass_meta(tmp_path)))
    ax = fig.axes[0]
    assert "macro one-vs-rest" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    auc = Run.load(runs[2]).cell("single_centre", "AUC").point
    assert len(legend) == 3 and f"AUC {auc:.3f}" in legend[2]
    assert (
        "–"
        not in to_markdown(TABLES.get("tmmnet_t1_comparison")(runs=[str(p) for p in runs], config={})).split("\n\n")[1]
    )
