"""Degenerate evaluations in tables (warnings, one-class models, zero-width intervals), left-out notes, and
damaged inputs that fail with one line naming the file and the command that rebuilds it."""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from mmdiag.errors import CorruptInputError, MmdiagError
from mmdiag.io import write_json
from mmdiag.reporting.catalog import FIGURES, TABLES
from mmdiag.reporting.overview import study_page
from mmdiag.reporting.provenance import sidecar
from mmdiag.reporting.render import to_html, to_latex, to_markdown
from mmdiag.reporting.runs import Cell, Run
from mmdiag.reporting.table import Column, Row, Table
from test_reporting_fixtures import ARMS, evaluation, make_cv, make_meta, make_run, make_summary, record


def build(name: str, **kwargs):
    return TABLES.get(name)(**{"config": {}, **kwargs})


def one_class_run(run_dir: Path, arm: str = "baseline1", n_cases: int = 6) -> Path:
    """A run whose single-centre set has only negatives, predicted negative: every warning at once."""
    rows = [
        {"case_id": f"case_{c:03d}", "y": 0, "p_non_gist": 0.8, "p_gist": 0.2} for c in range(n_cases) for _ in range(2)
    ]
    pred = pd.DataFrame(rows)
    run_dir.mkdir(parents=True)
    pred.to_csv(run_dir / "predictions_single_centre.csv", index=False)
    rec = record(arm, ARMS[arm])
    write_json(run_dir / "run.json", rec)
    write_json(run_dir / "metrics.json", {"run": rec, "eval": {"single_centre": evaluation(pred, False)}})
    return run_dir / "metrics.json"


# ------------------------------------------------------------------------------------------------ warnings
def test_degenerate_set_is_warned_in_notes_caption_and_sidecar(tmp_path: Path) -> None:
    bad = one_class_run(tmp_path / "bad")
    good = make_run(tmp_path / "good", "tmmnet", ARMS["tmmnet"], sets=("single_centre",))
    assert len(Run.load(bad).warnings("single_centre")) == 3
    table = build("tmmnet_t3_ablation", runs=[str(bad), str(good)], meta=str(make_meta(tmp_path)))
    md = to_markdown(table)
    assert "Warning (rows: single-centre / baseline1 / EUS): single_centre: only one class in the set" in md
    assert "single_centre: only 6 cases (fewer than 10)" in md
    assert "predicts one class ('non_gist') for every case" in md
    caption = table.full_caption
    assert (
        "1 row(s) come from a model that predicts one class for every test case (single-centre / baseline1" in caption
    )
    for text in (to_html(table), to_latex(table)):
        assert "predicts one class for every test case" in text and "only one class in the set" in text
    rows = sidecar(table)["rows"]
    assert len(rows[0]["warnings"]) == 3 and rows[1]["warnings"] == []
    t1 = build("tmmnet_t1_comparison", runs=[str(bad), str(good)])
    assert "predicts one class for every test case" in t1.full_caption


def test_undefined_and_zero_width_values_are_never_best(tmp_path: Path) -> None:
    bad = one_class_run(tmp_path / "bad")
    good = make_run(tmp_path / "good", "tmmnet", ARMS["tmmnet"], sets=("single_centre",), skill=0.1)
    table = build("tmmnet_t3_ablation", runs=[str(bad), str(good)], meta=str(make_meta(tmp_path)))
    bad_row = 0
    assert table.rows[bad_row].cells["Acc"].zero_width  # 1.000 [1.000, 1.000]: every negative predicted negative
    assert math.isnan(table.rows[bad_row].cells["AUC"].point)
    assert not {c for i, c in table.best_cells() if i == bad_row}
    rows = [
        Row({"m": "a"}, {"x": Cell(0.5, 0.5, 0.5)}),
        Row({"m": "b"}, {"x": Cell(0.4, 0.3, 0.5)}),
        Row({"m": "c"}, {"x": Cell(math.nan)}),
    ]
    assert Table("tmmnet_x", "t", ["m"], [Column("x")], rows).best_cells() == set()  # the top is degenerate
    rows[0] = Row({"m": "a"}, {"x": Cell(0.3, 0.3, 0.3)})
    assert Table("tmmnet_x", "t", ["m"], [Column("x")], rows).best_cells() == {(1, "x")}


# ------------------------------------------------------------------------------------------------ left out
@dataclass
class LeftOut:  # the shape of mmdiag.plan.LeftOut
    what: str
    reason: str


def test_left_out_lines_reach_every_format_and_the_sidecar(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", "baseline1", ARMS["baseline1"])
    left = [
        "stage-1 arms — the dataset has no reports",
        LeftOut("fusion arms", "one modality"),
        ("P-Acc", "no attributes"),
    ]
    table = build("tmmnet_t1_comparison", runs=[str(run)], left_out=left)
    lines = [
        "Left out: stage-1 arms — the dataset has no reports",
        "Left out: fusion arms — one modality",
        "Left out: P-Acc — no attributes",
    ]
    md, html = to_markdown(table), to_html(table)
    assert all(line in md and line in html for line in lines)
    assert "Left out: stage-1 arms --- the dataset has no reports" in to_latex(table)
    assert sidecar(table)["left_out"] == [line.removeprefix("Left out: ") for line in lines]
    assert build("tmmnet_t1_comparison", runs=[str(run)]).left_out == []
    for name in TABLES.list():  # every builder tolerates keyword inputs it does not use
        params = inspect.signature(TABLES.get(name).build).parameters.values()
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params), name


def test_overview_lists_what_was_left_out(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", "baseline1", ARMS["baseline1"])
    page = tmp_path / "t1.html"
    page.write_text(to_html(build("tmmnet_t1_comparison", runs=[str(run)])))
    html = study_page("TMM-Net", [page], [], left_out=[LeftOut("stage-1 arms", "the dataset has no reports & <none>")])
    assert (
        "<h2>Left out</h2>" in html and "<li>stage-1 arms — the dataset has no reports &amp; &lt;none&gt;</li>" in html
    )
    assert "Left out" not in study_page("TMM-Net", [page], [])


# ---------------------------------------------------------------------------------------------- corrupt inputs
def _one_line(exc: pytest.ExceptionInfo, path: Path, rebuild: Path) -> str:
    text = str(exc.value)
    assert isinstance(exc.value, MmdiagError) and "\n" not in text
    assert str(path) in text and f"snakemake {rebuild} --force" in text
    return text


@pytest.mark.parametrize(
    "content",
    [b"\x00\x9f garbage", b'{"run": {"arm": "x"', b"[1, 2, 3]", b'{"eval": {}}'],
    ids=["binary", "truncated", "not-a-mapping", "no-run-record"],
)
def test_garbage_metrics_json_fails_with_one_line(tmp_path: Path, content: bytes) -> None:
    path = make_run(tmp_path / "r", "baseline1", ARMS["baseline1"])
    (path.parent / "run.json").unlink()
    path.write_bytes(content)
    with pytest.raises(CorruptInputError) as exc:
        build("tmmnet_t1_comparison", runs=[str(path)])
    _one_line(exc, path, path)


def test_record_without_arm_spec_names_the_file(tmp_path: Path) -> None:
    path = make_run(tmp_path / "r", "baseline1", ARMS["baseline1"])
    doc = json.loads((path.parent / "run.json").read_text())
    del doc["arm_spec"]
    write_json(path.parent / "run.json", doc)
    with pytest.raises(CorruptInputError, match="no 'arm_spec'") as exc:
        build("tmmnet_t3_ablation", runs=[str(path)])
    _one_line(exc, path, path)


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00garbage\x00\n\x01", b'case_id,y,p_non_gist,p_gist\ncase_000,0,"0.3\n', b"case_id,y\ncase_000,0\n",
     b"case_id,y,p_non_gist,p_gist\ncase_000,zero,0.3,0.7\n", b""],
    ids=["binary", "truncated-quote", "no-prob-columns", "non-numeric", "empty"],
)  # fmt: skip
def test_garbage_predictions_fail_with_one_line(tmp_path: Path, content: bytes) -> None:
    runs = [make_run(tmp_path / a, a, ARMS[a]) for a in ("baseline1", "tmmnet")]
    csv = runs[0].parent / "predictions_single_centre.csv"
    csv.write_bytes(content)
    meta = make_meta(tmp_path)
    with pytest.raises(CorruptInputError) as exc:
        build("tmmnet_t3_ablation_tests", runs=[str(p) for p in runs], meta=str(meta))
    _one_line(exc, csv, runs[0])
    with pytest.raises(CorruptInputError):
        FIGURES.get("tmmnet_fig8_roc_ablation")(runs=[str(p) for p in runs], meta=str(meta), config={})


def test_garbage_cv_summary_study_summary_and_meta(tmp_path: Path) -> None:
    cv = make_cv(tmp_path / "cv", [0.7, 0.8])
    cv.write_text('{"arm": "tmmnet"}')
    with pytest.raises(CorruptInputError, match="not a cross-validation summary") as exc:
        build("tmmnet_t4_cv", runs=[str(cv)])
    _one_line(exc, cv, cv)
    summary = make_summary(tmp_path / "s", "fusion_strategies", {"a": "a", "b": "b"})
    summary.write_bytes(b"\x89PNG not json")
    with pytest.raises(CorruptInputError) as exc:
        build("fusion_t4_heads_objectives", runs=[str(summary)])
    _one_line(exc, summary, summary)
    run = make_run(tmp_path / "r", "tmmnet", ARMS["tmmnet"])
    meta = make_meta(tmp_path)
    meta.write_text("{}")
    with pytest.raises(CorruptInputError) as exc:
        build("tmmnet_t3_ablation", runs=[str(run)], meta=str(meta))
    _one_line(exc, meta, meta)


def test_table_stage_writes_nothing_when_an_input_is_corrupt(tmp_path: Path) -> None:
    from mmdiag.stages.tables import table as table_stage

    path = make_run(tmp_path / "r", "baseline1", ARMS["baseline1"])
    path.write_text("not json")
    out = {fmt: str(tmp_path / "out" / f"t.{fmt}") for fmt in ("csv", "md", "tex", "html")}
    with pytest.raises(CorruptInputError):
        table_stage({}, "tmmnet_t1_comparison", [str(path)], provenance=str(tmp_path / "out" / "t.json"), **out)
    assert not (tmp_path / "out").exists()


class _Payload:
    """Pickles to a call that would leave a marker file: loading must refuse it without running it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_saved_model_is_loaded_weights_only(tmp_path: Path) -> None:
    import torch

    from mmdiag.reporting.run_model import load_model

    path = make_run(tmp_path / "r", "tmmnet", ARMS["tmmnet"])
    model_pt = path.parent / "model.pt"
    marker = tmp_path / "code_ran"
    torch.save({"state": {}, "model_config": _Payload(marker)}, model_pt)
    with pytest.raises(CorruptInputError) as exc:
        load_model(Run.load(path))
    assert not marker.exists()
    _one_line(exc, model_pt, path)
    model_pt.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CorruptInputError):
        load_model(Run.load(path))


def test_table_job_logs_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mmdiag.reporting.render import write_table

    table = build("tmmnet_t1_comparison", runs=[str(one_class_run(tmp_path / "bad"))])
    with caplog.at_level("WARNING", logger="mmdiag.reporting.render"):
        write_table(table, md=tmp_path / "t.md")
    assert "tmmnet_t1_comparison: model(s) predicting one class for every case: ViT (tiny) / EUS" in caplog.text
    assert "only one class in the set" in caplog.text
