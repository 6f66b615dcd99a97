"""TMM-Net's Tables 1-4 (METHODS.md §1) and the paired tests beside the ablation table.

Rows are labelled from each run's record (`encoder_label`, `arm_spec`), never from hard-coded arm names,
so a config with other arms or backbones gives a correctly labelled table. Metrics are image-pair level
with case-bootstrap CIs, as the runs wrote them, with case-level accuracy beside (`Acc (case)`); the
paired tests are case level (`comparisons`). Columns follow the task (`columns`: binary SEN/SPE/Acc/AUC,
multiclass BAcc/macro F1/Acc/macro OvR AUC/per-class SEN). Table 3 reads every seed of each arm
(`seeds`): the first seed's point and CI, and mean ± SD over the seeds; the other tables read the first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmdiag.data.format import positive_index
from mmdiag.reporting.catalog import Inputs, table
from mmdiag.reporting.ceiling import split_ceiling
from mmdiag.reporting.columns import headline_columns, multiclass_caption, task_of
from mmdiag.reporting.comparisons import paired_tests
from mmdiag.reporting.runs import MISSING, Cell, CVRun, Run, dataset_labels, read_meta
from mmdiag.reporting.seeds import ArmRuns, EnsembleError, distinct_setups, ensemble_metrics, group_runs, seeds_text
from mmdiag.reporting.table import Column, Row, Table, columns, format_int, format_p, metric_row, run_warnings

HEADLINE = ["SEN", "SPE", "Acc", "AUC"]  # the paper's binary columns (Acc (case) is added beside Acc)
SETTINGS = {"single_centre": "single-centre", "multi_centre": "multi-centre"}
SEED_KEYS = ("Acc", "Acc_case", "AUC")  # metrics with mean ± SD over seeds in Table 3


# ------------------------------------------------------------------------------------------------ labels
def is_full_model(spec: Mapping[str, Any]) -> bool:
    """TMM-Net proper: both guidance stages (1 and 2) and cross-modal attention."""
    return bool(spec.get("stage1") and spec.get("stage2") and spec.get("attention"))


def is_plain_fusion(spec: Mapping[str, Any]) -> bool:
    """Two or more modalities fused directly, without any guidance (the 'before guidance' model)."""
    return len(spec["modalities"]) > 1 and not any(spec.get(k) for k in ("stage1", "stage2", "attention", "attributes"))


def modality_label(spec: Mapping[str, Any]) -> str:
    return "+".join(m.upper() for m in spec["modalities"])


def setup_label(spec: Mapping[str, Any]) -> str:
    """E.g. `EUS+WLE, direct fusion, text guidance (stages 1, 2)` or
    `EUS+WLE, cross-modal attention, attribute labels (no text)`."""
    parts = [modality_label(spec)]
    if len(spec["modalities"]) > 1:
        parts.append("cross-modal attention" if spec.get("attention") else "direct fusion")
    stages = [str(k) for k, on in ((1, spec.get("stage1")), (2, spec.get("stage2"))) if on]
    if stages:
        parts.append(f"text guidance (stage{'s' if len(stages) > 1 else ''} {', '.join(stages)})")
    if spec.get("attributes") and not spec.get("stage2"):
        parts.append("attribute labels (no text)")
    return ", ".join(parts)


def encoder_name(run: Run) -> str:
    return str(run.record.get("encoder_label") or run.field("encoder"))


def backbone_label(run: Run) -> str:
    label = encoder_name(run)
    return f"TMM-Net ({label})" if is_full_model(run.spec) else label


def load_runs(runs: Sequence[str | Path]) -> list[Run]:
    return [Run.load(p) for p in runs]


def arm_groups(runs: Sequence[str | Path], config: Mapping[str, Any] | None) -> tuple[list[ArmRuns], list[str]]:
    """The runs grouped by (encoder, arm) over seeds, arms with a duplicate setup dropped (and the notes)."""
    return distinct_setups(group_runs(load_runs(runs), config))


def task_notes(groups: Sequence[ArmRuns], evalset: str) -> tuple[str, dict[str, str]]:
    """(caption sentence, headline columns) for the task of the runs on `evalset`."""
    task, classes = task_of([g.first for g in groups], evalset)
    return (multiclass_caption(classes) if task == "multiclass" else ""), headline_columns(task, classes)


# ------------------------------------------------------------------------------------------------ tables
def first_seed_table(
    labels: Mapping[str, Callable[[Run], str]], keys: Mapping[str, str] | None = None
) -> Callable[..., Table]:
    """The builder of a table with one row per arm, from its first seed on the single-centre test set (Tables 1
    and 2, which differ only in these two arguments).

    Args:
        labels: label column -> its text for a run, in column order.
        keys: column name -> metric key; None: the task's headline columns, whose caption sentence is appended.
    """

    def build(name: str, caption: str, runs: Sequence[str], config: Mapping[str, Any] | None = None, **_: Any) -> Table:
        groups, notes = arm_groups(runs, config)
        extra, metrics = ("", keys) if keys is not None else task_notes(groups, "single_centre")
        rows = [
            metric_row(g.first, "single_centre", {col: text(g.first) for col, text in labels.items()}, metrics)
            for g in groups
        ]
        return Table(name, caption + extra, list(labels), columns(metrics), rows, notes + first_seed_note(groups))

    return build


def first_seed_note(groups: Sequence[ArmRuns]) -> list[str]:
    """Tables that read one seed per arm say so when an arm was given several."""
    many = [g for g in groups if len(g.runs) > 1]
    if not many:
        return []
    return [f"Several seeds per arm were given; this table shows the first ({seeds_text(many[0].seeds[:1])})."]


table(
    "tmmnet_t1_comparison",
    "CNN backbones on EUS, WLE and both (direct fusion) vs TMM-Net, single-centre test set: sensitivity (SEN), "
    "specificity (SPE), accuracy (Acc) and AUC per image pair, and accuracy per case (Acc (case): class "
    "probabilities averaged over a case's image pairs).",
    inputs=Inputs("tmm_runs", group="comparison", reference="full_arm"),
)(first_seed_table({"Backbone": backbone_label, "Modality": lambda r: modality_label(r.spec)}))

table(
    "tmmnet_t2_text_guidance",
    "Text guidance per backbone, single-centre test set: lesion accuracy per image pair (G-Acc) and per case "
    "(G-Acc (case)), and mean accuracy of the attribute classifiers (P-Acc) with its balanced counterpart "
    "(P-BAcc: mean per-value recall, so a head answering the majority value gains nothing; only arms with "
    "attribute classifiers have them; cases without an attribute annotation are skipped).",
    inputs=Inputs("tmm_runs", group="text_guidance", reference="guided_fusion_arm"),
)(
    first_seed_table(
        {"Backbone": encoder_name, "Setup": lambda r: setup_label(r.spec)},
        {"G-Acc": "Acc", "G-Acc (case)": "Acc_case", "P-Acc": "P-Acc", "P-BAcc": "P-BAcc"},
    )
)


def bayes_notes(meta: str | Path | None, groups: Sequence[ArmRuns]) -> tuple[list[str], dict[str, Any]]:
    """The generator's Bayes accuracy (synthetic data only) and TMM-Net's in-centre accuracy as a share of it
    (first seed, and the mean over seeds when there are several)."""
    if meta is None:
        return [], {}
    info = read_meta(meta)["dataset"].get("metadata") or {}
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
    full = [g for g in groups if is_full_model(g.first.spec) and "single_centre" in g.first.eval_sets]
    if full:
        acc = full[0].first.cell("single_centre", "Acc").point
        extras.update(tmmnet_single_centre_acc=acc, tmmnet_acc_fraction_of_bayes=acc / bayes)
        note += f"; TMM-Net's single-centre accuracy {acc:.3f} is {acc / bayes:.1%} of it"
        mean = full[0].mean_sd("single_centre", "Acc")
        if mean.has_sd:
            extras.update(
                tmmnet_single_centre_acc_mean=mean.point,
                tmmnet_single_centre_acc_sd=mean.sd,
                tmmnet_n_seeds=mean.n,
                tmmnet_acc_mean_fraction_of_bayes=mean.point / bayes,
            )
            note += (
                f" (first seed); over {mean.n} seeds {mean.point:.3f} ± {mean.sd:.3f}, {mean.point / bayes:.1%} of it"
            )
    return [note + "."], extras


def ceiling_notes(meta: str | Path | None, groups: Sequence[ArmRuns]) -> tuple[list[str], dict[str, Any]]:
    """Per setting: the accuracy of a perfect reader of the true attributes on exactly the test cases shown."""
    if meta is None or "generative_model" not in (read_meta(meta)["dataset"].get("metadata") or {}):
        return [], {}
    notes, extras = [], {}
    ref = next((g for g in groups if is_full_model(g.first.spec)), groups[0] if groups else None)
    for evalset, setting in SETTINGS.items():
        shown = [g.first for g in groups if evalset in g.first.eval_sets]
        if not shown:
            continue
        base = ref.first if ref is not None and evalset in ref.first.eval_sets else shown[0]
        case_sets = {r.metrics_path: frozenset(r.predictions(evalset)["case_id"]) for r in shown}
        ceiling = split_ceiling(meta, sorted(case_sets[base.metrics_path]))
        if ceiling is None:
            continue
        line = ceiling.line(setting)
        others = {cases for cases in case_sets.values() if cases != case_sets[base.metrics_path]}
        if others:
            line += f" (the test cases of '{base.field('arm')}'; {len(others)} other arm(s) saw other cases)"
        notes.append(line[0].upper() + line[1:])
        extras[f"test_ceiling_{evalset}"] = ceiling.accuracy
        extras[f"test_ceiling_{evalset}_cases"] = ceiling.n_cases
    return notes, extras


MEAN_SUFFIX = " mean ± SD"
ENSEMBLE_SUFFIX = " seed ensemble"
ENSEMBLE_KEYS = ("Acc", "AUC")  # metrics of the seeds' mean class probabilities in Table 3


def ensemble_cells(
    g: ArmRuns, evalset: str, cols: Mapping[str, str], classes: tuple[list[str], int] | None
) -> tuple[dict[str, Cell], list[str]]:
    """Table 3's seed-ensemble cells of one arm (undefined, with the reason as a warning, when it has none).

    `classes`: (labels, positive index) of the dataset (`dataset_labels(meta)`), else read from the predictions.
    """
    if sum(evalset in r.eval_sets for r in g.runs) < 2:
        return {c: MISSING for c in cols}, []
    if classes is not None:
        labels, positive = classes
    else:
        labels = [c.removeprefix("p_") for c in g.first.predictions(evalset).columns if c.startswith("p_")]
        positive = positive_index(labels)
    try:
        metrics = ensemble_metrics(g.runs, evalset, labels, task_of(g.runs, evalset)[0], positive)
    except EnsembleError as exc:
        return {c: MISSING for c in cols}, [str(exc)]
    return {c: Cell(float(metrics.get(key, math.nan))) for c, key in cols.items()}, []


@table(
    "tmmnet_t3_ablation",
    "Ablation of TMM-Net's components: single-modality baselines, text guidance (stage 1: feature level; "
    "stage 2: prototype level), attribute labels without text, direct fusion and cross-modal attention, "
    "in-centre (single-centre test set) and across centres (multi-centre: trained on the source centre, "
    "tested on the unseen target centre). Acc per image pair and per case (Acc (case)).",
    inputs=Inputs("tmm_runs", seeds="every"),
)
def t3_ablation(
    name: str,
    caption: str,
    runs: Sequence[str],
    meta: str | None = None,
    config: Mapping[str, Any] | None = None,
    **_: Any,
) -> Table:
    groups, notes = arm_groups(runs, config)
    extra, keys = task_notes(
        groups, "single_centre" if any("single_centre" in g.first.eval_sets for g in groups) else "multi_centre"
    )
    cols = columns(keys)
    multi_seed = any(len(g.runs) > 1 for g in groups)
    seed_cols = {f"{col}{MEAN_SUFFIX}": key for col, key in keys.items() if key in SEED_KEYS}
    ens_cols = {f"{col}{ENSEMBLE_SUFFIX}": key for col, key in keys.items() if key in ENSEMBLE_KEYS}
    if multi_seed:
        cols += [Column(c) for c in seed_cols] + [Column(c) for c in ens_cols] + [Column("Seeds", None, format_int)]
    several_encoders = len({g.encoder for g in groups}) > 1
    classes = dataset_labels(meta) if multi_seed and meta is not None else None  # read once for every row
    rows = []
    for evalset, setting in SETTINGS.items():
        for g in groups:
            if evalset not in g.first.eval_sets:
                continue
            arm = f"{g.arm} ({g.encoder})" if several_encoders else g.arm
            labels = {"Setting": setting, "Arm": arm, "Setup": setup_label(g.first.spec)}
            row = metric_row(g.first, evalset, labels, keys, group=setting)
            if multi_seed:
                row.cells.update({c: g.mean_sd(evalset, key) for c, key in seed_cols.items()})
                ensemble, why_not = ensemble_cells(g, evalset, ens_cols, classes)
                row.cells.update(ensemble)
                row.warnings += why_not
                row.cells["Seeds"] = Cell(float(sum(evalset in r.eval_sets for r in g.runs)))
                row.runs = list(g.runs)
                later = [
                    f"seed {r.seed}, {w}"
                    for r in g.runs[1:]
                    if evalset in r.eval_sets
                    for w in run_warnings(r, evalset)
                ]
                row.warnings += later
            rows.append(row)
    if multi_seed:
        seeds = seeds_text(max((g.seeds for g in groups), key=len))
        notes.append(
            f"Point estimates and 95% CIs are each arm's first seed; '{MEAN_SUFFIX.strip()}' columns are the mean and "
            f"sample SD (n-1) over the arm's seeds (Seeds column; seeds {seeds}), '–' where an arm has one seed; "
            f"'{ENSEMBLE_SUFFIX.strip()}' columns score the mean class probabilities of those seeds' models, one "
            "prediction per test sample (several trainings of one recipe together, not one model)."
        )
    elif groups and groups[0].seeds[0] is not None:
        notes.append(f"One seed per arm (seed {groups[0].seeds[0]}): no spread over seeds is shown.")
    bayes, extras = bayes_notes(meta, groups)
    ceiling, ceiling_extras = ceiling_notes(meta, groups)
    extras.update(ceiling_extras)
    return Table(name, caption + extra, ["Setting", "Arm", "Setup"], cols, rows, notes + bayes + ceiling, extras)


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
    inputs=Inputs("tmm_runs", requires="full_arm"),
)
def t3_ablation_tests(
    name: str, caption: str, runs: Sequence[str], meta: str, config: Mapping[str, Any] | None = None, **_: Any
) -> Table:
    labels, pos = dataset_labels(meta)
    groups, notes = arm_groups(runs, config)
    full = [g for g in groups if is_full_model(g.first.spec)]
    if not full:
        raise ValueError("tmmnet_t3_ablation_tests: none of the runs is the full model (stages 1, 2 + attention)")
    ref = full[0].first
    rows = []
    for evalset, setting in SETTINGS.items():
        if evalset not in ref.eval_sets:
            continue
        ref_pred = ref.predictions(evalset, labels)
        for g in groups:
            r = g.first
            if r is ref or evalset not in r.eval_sets:
                continue
            t = paired_tests(r.predictions(evalset, labels), ref_pred, labels, pos)
            cells = {
                "Cases": Cell(t["n_cases"]),
                "Acc": Cell(t["acc_model"]),
                "Acc (TMM-Net)": Cell(t["acc_ref"]),
                "McNemar p": Cell(t["mcnemar_p"]),
                "AUC": Cell(t.get("auc_model", math.nan)),
                "AUC (TMM-Net)": Cell(t.get("auc_ref", math.nan)),
                "AUC diff": Cell(
                    t.get("auc_diff", math.nan), t.get("auc_diff_low", math.nan), t.get("auc_diff_high", math.nan)
                ),
                "DeLong p": Cell(t.get("delong_p", math.nan)),
            }
            labels_row = {"Setting": setting, "Arm": r.field("arm"), "Setup": setup_label(r.spec)}
            warnings = list(dict.fromkeys(run_warnings(r, evalset) + run_warnings(ref, evalset)))
            rows.append(Row(labels_row, cells, [r, ref], setting, warnings))
    notes.append(
        "Case level: class probabilities averaged over each case's images; prediction as for Acc (case). "
        "McNemar: exact binomial test below 25 discordant cases, else chi-squared with continuity correction. "
        "DeLong: two-sided, normal 95% CI of the AUC difference. p-values are not corrected for multiple comparisons."
    )
    extra = ""
    if len(labels) > 2:
        extra = (
            f" Multiclass task ({len(labels)} classes): AUC is the macro one-vs-rest AUC at case level; DeLong's test "
            "compares binary AUCs and is not computed ('–')."
        )
    notes += first_seed_note(groups)
    return Table(name, caption + extra, ["Setting", "Arm", "Setup"], TEST_COLUMNS, rows, notes)


@table(
    "tmmnet_t4_cv",
    "k-fold cross-validation within each centre (case-grouped folds) of the arm set by tmmnet.cv.arm "
    "(TMM-Net by default): test accuracy per fold (per image pair, and per case where the folds recorded it), "
    "mean and standard deviation (SD, n-1 denominator).",
    inputs=Inputs("tmm_cv"),
)
def t4_cv(name: str, caption: str, runs: Sequence[str], **_: Any) -> Table:
    cvs = [CVRun.load(p) for p in runs]
    k = max((len(c.metrics["folds"]) for c in cvs), default=0)
    cols = [Column(f"Fold {i + 1}", None) for i in range(k)] + [Column("Mean", None), Column("SD", None)]
    rows = []
    for cv in cvs:
        folds = cv.folds
        for metric, key in (("Acc", "Acc"), ("Acc (case)", "Acc_case")):
            values = cv.fold_values(key)
            if key != "Acc" and not any(math.isfinite(v) for v in values):
                continue  # folds from before case-level accuracy was recorded
            cells = {f"Fold {i + 1}": Cell(v) for i, v in enumerate(values)}
            cells.update({"Mean": Cell(cv.summary(key, "mean")), "SD": Cell(cv.summary(key, "std"))})
            warnings = list(dict.fromkeys(w for f in folds for w in run_warnings(f, "test") if "test" in f.eval_sets))
            rows.append(
                Row(
                    {"Centre": cv.name, "Arm": str(cv.metrics.get("arm", "")), "Metric": metric},
                    cells,
                    folds,
                    None,
                    warnings,
                )
            )
    return Table(name, caption, ["Centre", "Arm", "Metric"], cols, rows)
