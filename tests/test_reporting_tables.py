"""Table building and formatting (CSV / Markdown / LaTeX / HTML) on fixture run metrics."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmdiag.eval.stats import delong_test, mcnemar_test
from mmdiag.io import read_json
from mmdiag.reporting.catalog import FIGURES, TABLES, caption, study_of
from mmdiag.reporting.comparisons import case_level
from mmdiag.reporting.render import extract_fragment, to_csv, to_frame, to_html, to_latex, to_markdown, write_table
from mmdiag.reporting.runs import Cell, Run
from mmdiag.reporting.table import SYNTHETIC_NOTE, Column, Row, Table, format_p
from test_reporting_fixtures import ARMS, BAYES, make_ablation, make_cv, make_meta, make_run

TMM_TABLES = [
    "tmmnet_t1_comparison",
    "tmmnet_t2_text_guidance",
    "tmmnet_t3_ablation",
    "tmmnet_t3_ablation_tests",
    "tmmnet_t4_cv",
]


def build(name: str, **kwargs) -> Table:
    return TABLES.get(name)(config={}, **kwargs)


@pytest.fixture
def ablation(tmp_path: Path) -> tuple[list[Path], Path]:
    return make_ablation(tmp_path), make_meta(tmp_path)


# --------------------------------------------------------------------------------------------- catalogue
def test_catalogue_has_every_fixed_name_with_a_caption() -> None:
    assert set(TMM_TABLES) <= set(TABLES.list())
    for name in TMM_TABLES + FIGURES.list():
        assert len(caption(name)) > 40 and study_of(name)
    with pytest.raises(KeyError, match="no study"):
        study_of("unknownstudy_t1")


# -------------------------------------------------------------------------------------------- ablation
def test_t3_has_arm_by_setting_rows_with_ci_from_metrics(ablation: tuple[list[Path], Path]) -> None:
    runs, meta = ablation
    table = build("tmmnet_t3_ablation", runs=[str(p) for p in runs], meta=str(meta))
    assert len(table.rows) == 16
    assert [r.labels["Setting"] for r in table.rows] == ["single-centre"] * 8 + ["multi-centre"] * 8
    assert [r.labels["Arm"] for r in table.rows[:8]] == list(ARMS)
    doc = read_json(runs[3])
    ci = doc["eval"]["multi_centre"]["ci"]["AUC"]
    cell = table.rows[8 + 3].cells["AUC"]
    assert (cell.point, cell.low, cell.high) == (ci["point"], ci["low"], ci["high"])
    frame = to_frame(table)
    assert list(frame.columns[:3]) == ["Setting", "Arm", "Setup"]
    assert {"SEN", "SEN_low", "SEN_high", "AUC_high", "best"} <= set(frame.columns)
    assert frame.loc[11, "AUC_low"] == ci["low"]


def test_best_is_marked_per_group_in_every_format(ablation: tuple[list[Path], Path]) -> None:
    runs, meta = ablation
    table = build("tmmnet_t3_ablation", runs=[str(p) for p in runs], meta=str(meta))
    for col in ("SEN", "SPE", "Acc", "Acc (case)", "AUC"):
        for group in ("single-centre", "multi-centre"):
            idx = [i for i, r in enumerate(table.rows) if r.group == group]
            cells = {i: table.rows[i].cells[col] for i in idx}
            top = max(c.point for c in cells.values())
            # the top value wins unless its interval has zero width (e.g. a perfect 1.000 [1.000, 1.000])
            winners = {i for i, c in cells.items() if c.point == top and not c.zero_width}
            assert {i for i, c in table.best_cells() if c == col and i in idx} == winners
    col = "Acc"
    frame = to_frame(table)
    marked = frame["best"].str.split(";").apply(lambda cols: col in cols)
    assert set(np.flatnonzero(marked)) == {i for i, c in table.best_cells() if c == col}
    i = min(i for i, c in table.best_cells() if c == col)
    auc = table.rows[i].cells[col].point
    md = to_markdown(table).splitlines()
    row_line = [line for line in md if f"| {table.rows[i].labels['Arm']} " in line][0 if i < 8 else 1]
    assert f"**{auc:.3f}**" in row_line
    assert rf"\textbf{{{auc:.3f}}}" in to_latex(table)
    assert f"<b>{auc:.3f}</b>" in to_html(table)


def test_ties_are_all_best_nan_never_and_min_direction() -> None:
    rows = [
        Row({"m": "a"}, {"x": Cell(0.5), "loss": Cell(2.0)}),
        Row({"m": "b"}, {"x": Cell(0.5), "loss": Cell(1.0)}),
        Row({"m": "c"}, {"x": Cell(math.nan), "loss": Cell(math.nan)}),
        Row({"m": "d"}, {"x": Cell(0.1), "loss": Cell(3.0)}),
    ]
    table = Table("fusion_t3_strategies", "t", ["m"], [Column("x"), Column("loss", "min"), Column("n", None)], rows)
    assert table.best_cells() == {(0, "x"), (1, "x"), (1, "loss")}
    assert list(to_frame(table)["best"]) == ["x", "x;loss", "", ""]
    md_rows = [line for line in to_markdown(table).splitlines() if line.startswith("| c ")]
    assert md_rows and md_rows[0].split("|")[2].strip() == "–"


def test_lone_value_is_not_marked_best() -> None:
    rows = [Row({"m": "a"}, {"x": Cell(0.5)}), Row({"m": "b"}, {"x": Cell(math.nan)})]
    assert Table("fusion_t1_hparams", "t", ["m"], [Column("x")], rows).best_cells() == set()


def test_table_rejects_duplicate_columns_and_missing_labels() -> None:
    with pytest.raises(ValueError, match="unique"):
        Table("x_t", "c", ["m"], [Column("m")], [])
    with pytest.raises(ValueError, match="lacks label"):
        Table("x_t", "c", ["m", "k"], [Column("x")], [Row({"m": "a"}, {})])


def test_synthetic_caption_only_for_synthetic_runs(tmp_path: Path) -> None:
    synth = make_run(tmp_path / "s", "tmmnet", ARMS["tmmnet"], synthetic=True)
    real = make_run(tmp_path / "r", "tmmnet", ARMS["tmmnet"], synthetic=False)
    for path, expected in ((synth, True), (real, False)):
        table = build("tmmnet_t1_comparison", runs=[str(path)])
        for text in (to_markdown(table), to_html(table), table.full_caption):
            assert (SYNTHETIC_NOTE in text) is expected
        assert ("not a clinical result" in to_latex(table)) is expected


def test_bayes_note_and_fraction(ablation: tuple[list[Path], Path], tmp_path: Path) -> None:
    runs, meta = ablation
    table = build("tmmnet_t3_ablation", runs=[str(p) for p in runs], meta=str(meta))
    acc = Run.load(runs[-1]).cell("single_centre", "Acc").point
    assert table.extras["bayes_accuracy"] == BAYES
    assert table.extras["tmmnet_acc_fraction_of_bayes"] == pytest.approx(acc / BAYES)
    assert f"{acc / BAYES:.1%}" in to_markdown(table) and f"{BAYES:.3f}" in to_markdown(table)
    plain = build("tmmnet_t3_ablation", runs=[str(p) for p in runs], meta=str(make_meta(tmp_path / "real", bayes=None)))
    assert plain.extras == {} and "Bayes" not in to_markdown(plain)


# ----------------------------------------------------------------------------------------- other tables
def test_t1_labels_backbones_and_the_full_model(tmp_path: Path) -> None:
    runs = [
        make_run(tmp_path / "r50_b1", "baseline1", ARMS["baseline1"], encoder="resnet50_cpu", encoder_label="ResNet50"),
        make_run(
            tmp_path / "r50_df",
            "direct_fusion",
            ARMS["direct_fusion"],
            encoder="resnet50_cpu",
            encoder_label="ResNet50",
        ),
        make_run(tmp_path / "vit_tmm", "tmmnet", ARMS["tmmnet"]),
    ]
    table = build("tmmnet_t1_comparison", runs=[str(p) for p in runs])
    assert [(r.labels["Backbone"], r.labels["Modality"]) for r in table.rows] == [
        ("ResNet50", "EUS"),
        ("ResNet50", "EUS+WLE"),
        ("TMM-Net (ViT (tiny))", "EUS+WLE"),
    ]
    assert [c.name for c in table.columns] == ["SEN", "SPE", "Acc", "Acc (case)", "AUC"]


def test_t2_p_acc_only_where_attributes_exist(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / arm, arm, ARMS[arm]) for arm in ("direct_fusion", "stage1", "stages12")]
    table = build("tmmnet_t2_text_guidance", runs=[str(p) for p in runs])
    assert [c.name for c in table.columns] == ["G-Acc", "G-Acc (case)", "P-Acc", "P-BAcc"]
    assert [r.cells["P-Acc"].defined for r in table.rows] == [False, False, True]
    assert table.rows[2].cells["P-Acc"].point == 0.6
    assert table.rows[2].cells["P-BAcc"].point == 0.55
    assert table.rows[0].cells["G-Acc (case)"] == Run.load(runs[0]).cell("single_centre", "Acc_case")
    assert table.rows[0].cells["G-Acc"].has_ci
    assert to_frame(table)["P-Acc"].isna().tolist() == [True, True, False]
    assert "stages 1, 2" in table.rows[2].labels["Setup"]


def test_t4_folds_mean_sd(tmp_path: Path) -> None:
    cv = make_cv(tmp_path / "centre_a", [0.7, 0.8, 0.9])
    table = build("tmmnet_t4_cv", runs=[str(cv)])
    assert [c.name for c in table.columns] == ["Fold 1", "Fold 2", "Fold 3", "Mean", "SD"]
    row = table.rows[0]
    assert row.labels == {"Centre": "centre_a", "Arm": "tmmnet", "Metric": "Acc"}
    assert row.cells["Mean"].point == pytest.approx(0.8) and row.cells["SD"].point == pytest.approx(0.1)
    case = table.rows[1]
    assert case.labels["Metric"] == "Acc (case)" and case.cells["Fold 2"].point == pytest.approx(0.7)
    assert case.cells["Mean"].point == pytest.approx(0.7)
    assert len(row.runs) == 3 and all(r.metrics_path.parent.name == f"fold{i}" for i, r in enumerate(row.runs))
    assert table.best_cells() == set()


def test_ablation_tests_match_direct_computation(ablation: tuple[list[Path], Path]) -> None:
    runs, meta = ablation
    table = build("tmmnet_t3_ablation_tests", runs=[str(p) for p in runs], meta=str(meta))
    assert len(table.rows) == 14 and all(r.labels["Arm"] != "tmmnet" for r in table.rows)
    row = table.rows[4]  # direct_fusion, single-centre
    assert row.labels["Arm"] == "direct_fusion" and row.group == "single-centre"
    a = case_level(Run.load(runs[4]).predictions("single_centre"), ["non_gist", "gist"])
    b = case_level(Run.load(runs[-1]).predictions("single_centre"), ["non_gist", "gist"])
    right_a = a[["p_non_gist", "p_gist"]].to_numpy().argmax(1) == a["y"].to_numpy()
    right_b = b[["p_non_gist", "p_gist"]].to_numpy().argmax(1) == b["y"].to_numpy()
    assert row.cells["McNemar p"].point == mcnemar_test(right_a, right_b)["p"]
    d = delong_test(a["y"], a["p_gist"], b["p_gist"])
    assert row.cells["AUC diff"] == Cell(d["diff"], d["ci_low"], d["ci_high"])
    assert row.cells["DeLong p"].point == d["p"]
    assert row.cells["Cases"].point == 20
    assert [r.metrics_path for r in row.runs] == [runs[4], runs[-1]]


def test_ablation_tests_need_the_full_model(ablation: tuple[list[Path], Path]) -> None:
    runs, meta = ablation
    with pytest.raises(ValueError, match="full model"):
        build("tmmnet_t3_ablation_tests", runs=[str(p) for p in runs[:-1]], meta=str(meta))


# ---------------------------------------------------------------------------------------------- formats
def test_latex_is_booktabs_and_escaped(ablation: tuple[list[Path], Path]) -> None:
    runs, meta = ablation
    tex = to_latex(build("tmmnet_t3_ablation", runs=[str(p) for p in runs], meta=str(meta)))
    assert tex.startswith(r"\begin{table}") and tex.rstrip().endswith(r"\end{table}")
    for cmd in (r"\toprule", r"\midrule", r"\bottomrule", r"\label{tab:tmmnet_t3_ablation}", r"\caption{"):
        assert cmd in tex
    assert tex.count(r"\midrule") == 2  # under the header and between the two settings
    assert r"baseline1\_eus\_stage1" in tex and "baseline1_eus" not in tex
    body = tex[tex.index(r"\midrule") : tex.index(r"\bottomrule")]
    assert all(line.count("&") == 7 for line in body.splitlines() if line.endswith(r"\\"))
    assert "%" not in tex.replace(r"\%", "")


def test_p_values_and_dashes_format() -> None:
    assert format_p(0.0004) == "<0.001" and format_p(0.0312) == "0.031"
    rows = [Row({"m": "a_b & c"}, {"p": Cell(0.0001)}), Row({"m": "d"}, {"p": Cell(math.nan)})]
    table = Table("tmmnet_x", "Δ ≤ χ²", ["m"], [Column("p", None, format_p)], rows)
    tex = to_latex(table)
    assert r"a\_b \& c" in tex and r"\textless{}0.001" in tex and r"$\Delta$" in tex and "--" in tex
    assert "&lt;0.001" in to_html(table) and "a_b &amp; c" in to_html(table)
    assert "<0.001" in to_markdown(table)


def test_markdown_and_csv_round_trip(ablation: tuple[list[Path], Path], tmp_path: Path) -> None:
    runs, meta = ablation
    table = build("tmmnet_t3_ablation", runs=[str(p) for p in runs], meta=str(meta))
    out = {fmt: tmp_path / f"t.{fmt}" for fmt in ("csv", "md", "tex", "html")}
    write_table(table, provenance=tmp_path / "t.provenance.json", **out)
    frame = pd.read_csv(out["csv"], keep_default_na=False)
    assert frame.shape[0] == 16 and frame.loc[0, "Acc"] == pytest.approx(table.rows[0].cells["Acc"].point)
    assert out["csv"].read_text() == to_csv(table)
    md = out["md"].read_text()
    assert md.startswith("**Table `tmmnet_t3_ablation`.**")
    assert len([line for line in md.splitlines() if line.startswith("|")]) == 2 + 16
    cell = table.rows[0].cells["SPE"]
    assert re.search(rf"{cell.point:.3f}\*?\*? \[{cell.low:.3f}, {cell.high:.3f}\]", md)
    assert extract_fragment(out["html"].read_text()).startswith(
        '<section class="mmdiag-table" id="tmmnet_t3_ablation">'
    )
    with pytest.raises(ValueError, match="unknown table format"):
        write_table(table, xlsx=tmp_path / "t.xlsx")
