"""Which metric columns a table shows for the task of its runs (binary or multiclass), one place for all tables.

Every table that reports a binary metric reports its multiclass counterpart for multiclass tasks (issue 11):
SEN/SPE have no single multiclass meaning, so a multiclass table shows balanced accuracy (mean per-class
sensitivity), macro F1, the macro one-vs-rest AUC and, where the table has room, the sensitivity of every
class (`SEN/<label>`), and says so in its caption (`multiclass_caption`). The task is read from the runs'
own metrics (binary runs record `SPE`), so old and new runs, synthetic or not, are labelled alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmdiag.reporting.runs import Run

# room for per-class sensitivity columns beside the headline ones
MAX_PER_CLASS = 6


def run_task(run: Run, evalset: str) -> str:
    """`binary` or `multiclass`, from the metric keys the run recorded on `evalset`."""
    metrics = run.evaluation(evalset).get("metrics") or {}
    if "SPE" in metrics:
        return "binary"
    return "multiclass" if "F1_macro" in metrics or any(k.startswith("SEN/") for k in metrics) else "binary"


def run_classes(run: Run, evalset: str) -> list[str]:
    """Class labels of a multiclass run, in order (from its `SEN/<label>` or `F1_per_class/<label>` keys)."""
    metrics = run.evaluation(evalset).get("metrics") or {}
    for prefix in ("SEN/", "F1_per_class/"):
        found = [k.removeprefix(prefix) for k in metrics if k.startswith(prefix)]
        if found:
            return found
    return []


def task_of(runs: Sequence[Run], evalset: str) -> tuple[str, list[str]]:
    """The task and (multiclass) class labels of the first run evaluated on `evalset`."""
    for run in runs:
        if evalset in run.eval_sets:
            task = run_task(run, evalset)
            return task, run_classes(run, evalset) if task == "multiclass" else []
    return "binary", []


def headline_columns(task: str, classes: Sequence[str], acc: str = "Acc") -> dict[str, str]:
    """Column name -> metric key of the headline columns of TMM-Net's Tables 1 and 3.

    Binary: SEN, SPE, Acc, Acc (case), AUC (the paper's four plus case-level accuracy). Multiclass: BAcc,
    F1 (macro), Acc, Acc (case), AUC (macro OvR), then SEN/<label> per class when there is room.
    """
    if task == "binary":
        return {"SEN": "SEN", "SPE": "SPE", acc: "Acc", f"{acc} (case)": "Acc_case", "AUC": "AUC"}
    cols = {"BAcc": "BAcc", "F1 (macro)": "F1_macro", acc: "Acc", f"{acc} (case)": "Acc_case", "AUC (macro OvR)": "AUC"}
    if len(classes) <= MAX_PER_CLASS:
        cols.update({f"SEN/{c}": f"SEN/{c}" for c in classes})
    return cols


def multiclass_caption(classes: Sequence[str], per_class: bool = True) -> str:
    """The caption sentence that labels a multiclass table's columns."""
    text = (
        f" Multiclass task ({len(classes)} classes): sensitivity and specificity of the binary tables are replaced "
        "by balanced accuracy (BAcc, the mean per-class sensitivity), macro F1 and the macro one-vs-rest AUC"
    )
    if per_class and classes and len(classes) <= MAX_PER_CLASS:
        text += "; SEN/<class> is the sensitivity (recall) of each class"
    return text + "."
