"""Tables of the issue-4 studies: image + report fusion (METHODS.md §3), distillation (§4), dual-branch (§2).

Inputs are what `mmdiag.stages.studies` writes: a fusion study or the distillation pair leave a
`summary.json` listing their runs' `metrics.json` (in table order; distillation adds efficiency figures),
the dual-branch model one run per stage. Rows are labelled by each run's `row` record; the metric columns
follow the task (binary: Acc, Acc (case), SEN/SPE/F1/AUC; multi-class: Acc, Acc (case), macro P/R/F1,
AUC OvR/OvO, labelled in the caption).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmdiag.engine.checkpoint import load_json_input, rebuild_hint
from mmdiag.errors import CorruptInputError
from mmdiag.reporting.catalog import Inputs, table
from mmdiag.reporting.columns import run_classes
from mmdiag.reporting.comparisons import paired_tests, proportion_tests
from mmdiag.reporting.runs import Cell, Run, dataset_labels, labelled_runs
from mmdiag.reporting.table import Column, Row, Table, format_number, format_p, metric_row, run_warnings

EVALSET = "single_centre"
BINARY = {"Acc": "Acc", "Acc (case)": "Acc_case", "SEN": "SEN", "SPE": "SPE", "F1": "F1", "AUC": "AUC"}
MULTICLASS = {
    "Acc": "Acc",
    "Acc (case)": "Acc_case",
    "P (macro)": "precision_macro",
    "R (macro)": "recall_macro",
    "F1 (macro)": "F1_macro",
    "AUC (OvR)": "AUC_ovr",
    "AUC (OvO)": "AUC_ovo",
}


MULTICLASS_NOTE = (
    " Multiclass task ({n} classes): P, R and F1 are macro averages over the classes (R (macro) is the balanced "
    "accuracy), AUC (OvR) / AUC (OvO) the macro one-vs-rest / one-vs-one AUC; sensitivity and specificity of "
    "the binary tables do not apply."
)


def read_summary(summary: str | Path) -> dict[str, Any]:
    """A study's `summary.json` (must list its `runs`), else `CorruptInputError`."""
    doc = load_json_input(summary)
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), dict):
        raise CorruptInputError(f"{summary}: not a study summary (no 'runs' mapping); {rebuild_hint(summary)}")
    return doc


def summary_runs(summary: str | Path) -> list[Run]:
    """The runs a study summary lists, in its order."""
    return [Run.load(p) for p in read_summary(summary)["runs"].values()]


def is_multiclass(run: Run) -> bool:
    return "F1_macro" in (run.evaluation(EVALSET).get("metrics") or {})


def headline(run: Run) -> dict[str, str]:
    """Column name -> metric key for the run's task (multi-class runs record macro metrics)."""
    return MULTICLASS if is_multiclass(run) else BINARY


def task_caption(run: Run) -> str:
    """The caption sentence labelling a multiclass table's columns ('' for binary)."""
    return MULTICLASS_NOTE.format(n=len(run_classes(run, EVALSET)) or "several") if is_multiclass(run) else ""


def row_label(run: Run) -> str:
    return str(run.record.get("row") or run.record.get("run_name") or run.dir.name)


def find_run(runs: Sequence[Run], name: str) -> Run | None:
    return next((r for r in runs if r.record.get("run_name") == name), None)


def metrics_table(
    name: str,
    caption: str,
    runs: Sequence[Run],
    group: Callable[[str], str | None] = lambda _: None,
    reference: Run | None = None,
    meta: str | None = None,
    label: str = "Setting",
) -> Table:
    """One row per run (its `row` in column `label`), headline metrics with CIs, and McNemar vs `reference`."""
    keys = headline(runs[0])
    rows = [metric_row(r, EVALSET, {label: row_label(r)}, keys, group(row_label(r))) for r in runs]
    cols = [Column(c) for c in keys]
    notes = []
    caption += task_caption(runs[0])
    if reference is not None and meta is not None:
        labels, pos = dataset_labels(meta)
        ref_pred = reference.predictions(EVALSET, labels)
        col = f"McNemar p (vs {row_label(reference)})"
        cols.append(Column(col, None, format_p))
        for r, row in zip(runs, rows):
            tested = r is not reference
            p = paired_tests(r.predictions(EVALSET, labels), ref_pred, labels, pos)["mcnemar_p"] if tested else math.nan
            row.cells[col] = Cell(p)
            if r is not reference:
                row.runs.append(reference)
        notes.append(
            "McNemar: paired test of accuracy against the reference on the same test cases (case level: class "
            "probabilities averaged over a case's images); not corrected for multiple comparisons."
        )
    return Table(name, caption, [label], cols, rows, notes)


# ------------------------------------------------------------------------------------------- fusion study
@table(
    "fusion_t3_strategies",
    "Image + report fusion strategies with the same encoders and head (fusion_study.strategies): test-set "
    "metrics and McNemar's test of each strategy against the baseline fusion (fusion_study.base.fusion).",
    inputs=Inputs("fusion_summary", group="strategies"),
)
def fusion_strategies(
    name: str, caption: str, runs: Sequence[str], config: Mapping[str, Any], meta: str | None = None, **_: Any
) -> Table:
    loaded = summary_runs(runs[0])
    base = find_run(loaded, str(config.get("fusion_study", {}).get("base", {}).get("fusion", "")))
    return metrics_table(name, caption, loaded, reference=base, meta=meta, label="Fusion")


@table(
    "fusion_t1_hparams",
    "Hyper-parameter sensitivity of the image + report baseline, one setting changed at a time (learning "
    "rate, batch size, hidden width, dropout): test-set metrics and McNemar's test against the baseline.",
    inputs=Inputs("fusion_summary", group="hparams"),
)
def fusion_hparams(name: str, caption: str, runs: Sequence[str], meta: str | None = None, **_: Any) -> Table:
    loaded = summary_runs(runs[0])
    return metrics_table(name, caption, loaded, lambda row: row.split("=")[0], find_run(loaded, "baseline"), meta)


@table(
    "fusion_t4_heads_objectives",
    "Classification heads, training objectives and test-time augmentation (TTA) on the image + report "
    "baseline: test-set metrics.",
    inputs=Inputs("fusion_summary", group="heads_objectives"),
)
def fusion_heads_objectives(name: str, caption: str, runs: Sequence[str], **_: Any) -> Table:
    return metrics_table(name, caption, summary_runs(runs[0]), lambda row: row.split(":")[0], label="Variant")


# ------------------------------------------------------------------------------------------- distillation
EFFICIENCY = [
    ("Params (M)", "params", "min", 1e-6, lambda v: f"{v:.2f}"),
    ("Weights (MB)", "weights_mb", "min", 1.0, lambda v: f"{v:.1f}"),
    ("Images/s", "images_per_s", "max", 1.0, lambda v: f"{v:.0f}"),
    ("ms/batch", "ms_per_batch", "min", 1.0, lambda v: f"{v:.1f}"),
    ("Peak memory (MB)", "peak_memory_mb", "min", 1.0, lambda v: f"{v:.1f}"),
]


@table(
    "distill_efficiency",
    "Knowledge distillation: the teacher (hybrid-paper recipe) and the student with about 40% of its "
    "parameters, trained against it: test accuracy and AUC, and inference efficiency (parameters, weight size, "
    "throughput, latency per batch, peak memory).",
    inputs=Inputs("distillation_summary"),
)
def distill_efficiency(name: str, caption: str, runs: Sequence[str], **_: Any) -> Table:
    summary = read_summary(runs[0])
    loaded = summary_runs(runs[0])
    auc = "AUC_ovr" if "AUC_ovr" in loaded[0].evaluation(EVALSET)["metrics"] else "AUC"
    cols = [Column("Acc"), Column("Acc (case)"), Column("AUC", fmt=format_number)]
    cols += [Column(label, best, fmt) for label, _, best, _, fmt in EFFICIENCY]
    rows = []
    for key, run in zip(summary["runs"], loaded):
        eff = summary["efficiency"][key]
        cells = {
            "Acc": run.cell(EVALSET, "Acc"),
            "Acc (case)": run.cell(EVALSET, "Acc_case"),
            "AUC": run.cell(EVALSET, auc),
        }
        cells.update({label: Cell(float(eff[k]) * scale) for label, k, _, scale, _ in EFFICIENCY})
        rows.append(Row({"Model": row_label(run)}, cells, [run], None, run_warnings(run, EVALSET)))
    first = next(iter(summary["efficiency"].values()))
    notes = [
        f"Student/teacher parameter ratio: {summary['parameter_ratio']:.2f}. Efficiency measured on "
        f"{first['device']} with batches of {first['batch_size']} (memory: {first['memory_source']})."
    ]
    if is_multiclass(loaded[0]):
        caption += (
            f" Multiclass task ({len(run_classes(loaded[0], EVALSET))} classes): AUC is the macro one-vs-rest AUC."
        )
    return Table(name, caption, ["Model"], cols, rows, notes, {"efficiency": summary["efficiency"]})


# -------------------------------------------------------------------------------------------- dual-branch
@table(
    "dualbranch_t5_overall",
    "Dual-branch model: each unimodal branch and the fused model with bidirectional cross-modal attention: "
    "test-set metrics, the two-proportion z-test on accuracy and the χ² test on per-class correct counts, "
    "each against the fused model (as in the paper).",
    inputs=Inputs("dualbranch_stages"),
)
def dualbranch_overall(name: str, caption: str, runs: Sequence[str], meta: str, **_: Any) -> Table:
    loaded, labels = labelled_runs(runs, meta)
    keys = headline(loaded[0])
    fused = find_run(loaded, "fusion") or loaded[-1]
    cols = [Column(c) for c in keys] + [Column("z-test p", None, format_p), Column("χ² p", None, format_p)]
    rows = []
    for r in loaded:
        row = metric_row(r, EVALSET, {"Model": row_label(r)}, keys)
        tests = {"z_p": math.nan, "chi2_p": math.nan}
        if r is not fused:
            tests = proportion_tests(r.predictions(EVALSET, labels), fused.predictions(EVALSET, labels), labels)
            row.runs.append(fused)
        row.cells.update({"z-test p": Cell(tests["z_p"]), "χ² p": Cell(tests["chi2_p"])})
        rows.append(row)
    notes = [
        f"Tests compare each branch with the fused model ({row_label(fused)}) on the same test cases (case "
        "level); the z-test treats the two accuracies as independent samples, as the paper does."
    ]
    return Table(name, caption + task_caption(loaded[0]), ["Model"], cols, rows, notes)


def per_class_f1(run: Run, labels: Sequence[str]) -> dict[str, Cell]:
    """F1 of every class: from the run's bootstrap CIs when recorded (multi-class), else from its predictions."""
    cells = {label: run.cell(EVALSET, f"F1_per_class/{label}") for label in labels}
    if all(c.defined for c in cells.values()):
        return cells
    from mmdiag.eval.metrics import multiclass_metrics

    pred = run.predictions(EVALSET, labels)
    f1 = multiclass_metrics(pred["y"].to_numpy(), pred[[f"p_{x}" for x in labels]].to_numpy(), labels)
    return {label: Cell(f1["F1_per_class"][label]) for label in labels}


@table(
    "dualbranch_t6_key_classes",
    "Per-class F1 of each unimodal branch and of the fused dual-branch model (the paper's key class: "
    "cancer-associated stroma).",
    inputs=Inputs("dualbranch_stages"),
)
def dualbranch_key_classes(name: str, caption: str, runs: Sequence[str], meta: str, **_: Any) -> Table:
    loaded, labels = labelled_runs(runs, meta)
    rows = [Row({"Model": row_label(r)}, per_class_f1(r, labels), [r], None, run_warnings(r, EVALSET)) for r in loaded]
    return Table(name, caption, ["Model"], [Column(label) for label in labels], rows)
