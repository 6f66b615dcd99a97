"""TMM-Net's Tables 1-4 (METHODS.md §1) and the paired tests beside the ablation table.

Rows are labelled from each run's record (`encoder_label`, `arm_spec`), never from hard-coded arm names,
so a config with other arms or backbones gives a correctly labelled table. Metrics are image-pair level
with case-bootstrap CIs, as the runs wrote them; the paired tests are case level (`comparisons`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmdiag.io import read_json
from mmdiag.reporting.catalog import table
from mmdiag.reporting.comparisons import paired_tests
from mmdiag.reporting.runs import Cell, CVRun, Run, dataset_labels
from mmdiag.reporting.table import Column, Row, Table, columns, format_int, format_p, metric_row

HEADLINE = ["SEN", "SPE", "Acc", "AUC"]
SETTINGS = {"single_centre": "single-centre", "multi_centre": "multi-centre"}


# ------------------------------------------------------------------------------------------------ labels
def is_full_model(spec: Mapping[str, Any]) -> bool:
    """TMM-Net proper: both guidance stages and cross-modal attention."""
    return bool(spec.get("stage2") and spec.get("attention"))


def is_plain_fusion(spec: Mapping[str, Any]) -> bool:
    """Two or more modalities fused directly, without any text guidance (the 'before guidance' model)."""
    return len(spec["modalities"]) > 1 and not any(spec.get(k) for k in ("stage1", "stage2", "attention"))


def modality_label(spec: Mapping[str, Any]) -> str:
    return "+".join(m.upper() for m in spec["modalities"])


def setup_label(spec: Mapping[str, Any]) -> str:
    """E.g. `EUS+WLE, direct fusion, text guidance (stages 1, 2)`."""
    parts = [modality_label(spec)]
    if len(spec["modalities"]) > 1:
        parts.append("cross-modal attention" if spec.get("attention") else "direct fusion")
    if spec.get("stage2"):
        parts.append("text guidance (stages 1, 2)")
    elif spec.get("stage1"):
        parts.append("text guidance (stage 1)")
    return ", ".join(parts)


def backbone_label(run: Run) -> str:
    rec = run.record
    label = rec.get("encoder_label") or rec["encoder"]
    return f"TMM-Net ({label})" if is_full_model(rec["arm_spec"]) else label


def load_runs(runs: Sequence[str | Path]) -> list[Run]:
    return [Run.load(p) for p in runs]


# ------------------------------------------------------------------------------------------------ tables
@table(
    "tmmnet_t1_comparison",
    "CNN backbones on EUS, WLE and both (direct fusion) vs TMM-Net, single-centre test set: sensitivity (SEN), "
    "specificity (SPE), accuracy (Acc) and AUC per image pair.",
)
def t1_comparison(name: str, caption: str, runs: Sequence[str], **_: Any) -> Table:
    rows = [
        metric_row(
            r,
            "single_centre",
            {"Backbone": backbone_label(r), "Modality": modality_label(r.record["arm_spec"])},
            HEADLINE,
        )
        for r in load_runs(runs)
    ]
    return Table(name, caption, ["Backbone", "Modality"], columns(HEADLINE), rows)


@table(
    "tmmnet_t2_text_guidance",
    "Text guidance per backbone, single-centre test set: lesion accuracy (G-Acc) and mean accuracy of the "
    "attribute classifiers (P-Acc; only arms with prototype guidance, stage 2, have them).",
)
def t2_text_guidance(name: str, caption: str, runs: Sequence[str], **_: Any) -> Table:
    rows = []
    for r in load_runs(runs):
        spec = r.record["arm_spec"]
        labels = {"Backbone": r.record.get("encoder_label") or r.record["encoder"], "Setup": setup_label(spec)}
        rows.append(metric_row(r, "single_centre", labels, {"G-Acc": "Acc", "P-Acc": "P-Acc"}))
    return Table(name, caption, ["Backbone", "Setup"], columns(["G-Acc", "P-Acc"]), rows)


def bayes_notes(meta: str | Path | None, runs: Sequence[Run]) -> tuple[list[str], dict[str, Any]]:
    """The generator's Bayes accuracy (synthetic data only) and TMM-Net's in-centre accuracy as a share of it."""
    if meta is None:
        return [], {}
    info = (read_json(meta).get("dataset") or {}).get("metadata") or {}
    if "bayes_accuracy" not in info:
        return [], {}
    bayes = float(info["bayes_accuracy"])
    extras: dict[str, Any] = {
        k: float(v) for k, v in info.items() if k.startswith("bayes_accuracy") and k != "bayes_accuracy_note"
    }
    note = f"Bayes accuracy of the data generator (best achievable given the true attributes): {bayes:.3f}"
    per_mod = [
        f"{k.removeprefix('bayes_accuracy_').upper()} only {v:.3f}" for k, v in extras.items() if k != "bayes_accuracy"
    ]
    if per_mod:
        note += f" ({', '.join(per_mod)})"
    full = [r for r in runs if is_full_model(r.record["arm_spec"]) and "single_centre" in r.eval_sets]
    if full:
        acc = full[0].cell("single_centre", "Acc").point
        extras.update(tmmnet_single_centre_acc=acc, tmmnet_acc_fraction_of_bayes=acc / bayes)
        note += f"; TMM-Net's single-centre accuracy {acc:.3f} is {acc / bayes:.1%} of it"
    return [note + "."], extras


@table(
    "tmmnet_t3_ablation",
    "Ablation of TMM-Net's components: single-modality baselines, text guidance (stage 1: feature level; "
    "stage 2: prototype level), direct fusion and cross-modal attention, in-centre (single-centre test set) "
    "and across centres (multi-centre: trained on the source centre, tested on the unseen target centre).",
)
def t3_ablation(name: str, caption: str, runs: Sequence[str], meta: str | None = None, **_: Any) -> Table:
    loaded = load_runs(runs)
    rows = [
        metric_row(
            r,
            evalset,
            {"Setting": setting, "Arm": r.record["arm"], "Setup": setup_label(r.record["arm_spec"])},
            HEADLINE,
            group=setting,
        )
        for evalset, setting in SETTINGS.items()
        for r in loaded
        if evalset in r.eval_sets
    ]
    notes, extras = bayes_notes(meta, loaded)
    return Table(name, caption, ["Setting", "Arm", "Setup"], columns(HEADLINE), rows, notes, extras)


TEST_COLUMNS = [
    Column("Cases", None, format_int),
    Column("Acc", None),
    Column("Acc (TMM-Net)", None),
    Column("McNemar p", None, format_p),
    Column("AUC", None),
    Column("AUC (TMM-Net)", None),
    Column("AUC diff", None),
    Column("DeLong p", None, format_p),
]


@table(
    "tmmnet_t3_ablation_tests",
    "Each ablation arm against the full TMM-Net on the same test cases: McNemar's test on accuracy and "
    "DeLong's test on AUC (AUC diff = arm - TMM-Net, with its 95% CI), at case level.",
)
def t3_ablation_tests(name: str, caption: str, runs: Sequence[str], meta: str, **_: Any) -> Table:
    labels, pos = dataset_labels(meta)
    loaded = load_runs(runs)
    full = [r for r in loaded if is_full_model(r.record["arm_spec"])]
    if not full:
        raise ValueError("tmmnet_t3_ablation_tests: none of the runs is the full model (stages 1, 2 + attention)")
    ref = full[0]
    rows = []
    for evalset, setting in SETTINGS.items():
        if evalset not in ref.eval_sets:
            continue
        ref_pred = ref.predictions(evalset)
        for r in loaded:
            if r is ref or evalset not in r.eval_sets:
                continue
            t = paired_tests(r.predictions(evalset), ref_pred, labels, pos)
            cells = {
                "Cases": Cell(t["n_cases"]),
                "Acc": Cell(t["acc_model"]),
                "Acc (TMM-Net)": Cell(t["acc_ref"]),
                "McNemar p": Cell(t["mcnemar_p"]),
                "AUC": Cell(t.get("auc_model", float("nan"))),
                "AUC (TMM-Net)": Cell(t.get("auc_ref", float("nan"))),
                "AUC diff": Cell(
                    t.get("auc_diff", float("nan")),
                    t.get("auc_diff_low", float("nan")),
                    t.get("auc_diff_high", float("nan")),
                ),
                "DeLong p": Cell(t.get("delong_p", float("nan"))),
            }
            labels_row = {"Setting": setting, "Arm": r.record["arm"], "Setup": setup_label(r.record["arm_spec"])}
            rows.append(Row(labels_row, cells, [r, ref], setting))
    notes = [
        "Case level: class probabilities averaged over each case's images; prediction = argmax. "
        "McNemar: exact binomial test below 25 discordant cases, else chi-squared with continuity correction. "
        "DeLong: two-sided, normal 95% CI of the AUC difference. p-values are not corrected for multiple comparisons."
    ]
    return Table(name, caption, ["Setting", "Arm", "Setup"], TEST_COLUMNS, rows, notes)


@table(
    "tmmnet_t4_cv",
    "k-fold cross-validation within each centre (case-grouped folds) of the arm set by tmmnet.cv.arm "
    "(TMM-Net by default): test accuracy per fold, "
    "mean and standard deviation (SD, n-1 denominator).",
)
def t4_cv(name: str, caption: str, runs: Sequence[str], **_: Any) -> Table:
    cvs = [CVRun.load(p) for p in runs]
    k = max((len(c.metrics["folds"]) for c in cvs), default=0)
    cols = [Column(f"Fold {i + 1}", None) for i in range(k)] + [Column("Mean", None), Column("SD", None)]
    rows = []
    for cv in cvs:
        cells = {f"Fold {i + 1}": Cell(v) for i, v in enumerate(cv.fold_values("Acc"))}
        cells.update({"Mean": Cell(cv.summary("Acc", "mean")), "SD": Cell(cv.summary("Acc", "std"))})
        rows.append(Row({"Centre": cv.name, "Arm": cv.metrics["arm"]}, cells, cv.folds))
    return Table(name, caption, ["Centre", "Arm"], cols, rows)
