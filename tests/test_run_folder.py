"""The run folder's own files: DVC's flat metrics and per-set plot data (ROC points, confusion pairs), and names."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mmdiag.io import read_json
from mmdiag.run_folder import (
    CV_EVAL_SET_INPUTS,
    eval_set_name,
    eval_sets,
    flat_metrics,
    predictions_file,
    write_dvc_metrics,
    write_run_plots,
)
from test_reporting_fixtures import ARMS, make_run


def test_flat_metrics_keep_scores_only(tmp_path: Path) -> None:
    arm = {
        "run": {"seconds": 3.2, "seed": 0},
        "eval": {
            "single_centre": {
                "n_samples": 12,
                "metrics": {"AUC": 0.75, "Acc": 0.5, "precision": math.nan},
                "ci": {"AUC": {"low": 0.5, "high": 0.9}},
                "attributes": {"P-Acc": 0.6, "eus.boundary": 0.8},
            }
        },
    }
    flat = flat_metrics(arm)
    assert flat["single_centre"]["AUC"] == 0.75 and flat["single_centre"]["P-Acc"] == 0.6
    assert set(flat["single_centre"]) == {"AUC", "Acc", "precision", "P-Acc"}  # no provenance, CIs or counts
    cv = {"folds": [], "summary": {"AUC": {"mean": 0.6, "std": 0.1}}}
    assert flat_metrics(cv) == {"cv": {"AUC_mean": 0.6, "AUC_std": 0.1}}
    with pytest.raises(ValueError):
        flat_metrics({"something": 1})

    (tmp_path / "metrics.json").write_text(json.dumps(cv))
    path = write_dvc_metrics(tmp_path)
    assert path.name == "dvc_metrics.json" and read_json(path) == {"cv": {"AUC_mean": 0.6, "AUC_std": 0.1}}


def test_writes_roc_and_confusion_per_eval_set(tmp_path: Path) -> None:
    metrics = make_run(tmp_path, "tmmnet", ARMS["tmmnet"], skill=0.6)
    run_dir = metrics.parent
    paths = write_run_plots(run_dir, run_dir / "predictions_multi_centre.csv", ["non_gist", "gist"])
    assert paths == [run_dir / "plots" / "roc_multi_centre.csv", run_dir / "plots" / "confusion_multi_centre.csv"]
    roc = pd.read_csv(paths[0])
    assert list(roc.columns) == ["fpr", "tpr"] and roc.iloc[0].tolist() == [0, 0] and roc.iloc[-1].tolist() == [1, 1]
    pred = pd.read_csv(run_dir / "predictions_multi_centre.csv")
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(roc_auc_score(pred["y"], pred["p_gist"]))
    conf = pd.read_csv(paths[1])
    assert list(conf.columns) == ["actual", "predicted"] and len(conf) == len(pred)
    assert (conf["actual"] == np.where(pred["y"] == 1, "gist", "non_gist")).all()
    assert (conf["predicted"] == np.where(pred["p_gist"] > pred["p_non_gist"], "gist", "non_gist")).all()


def test_positive_label_flips_the_curve(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "tmmnet", ARMS["tmmnet"], skill=0.6).parent
    pred_csv = run_dir / "predictions_single_centre.csv"
    roc = pd.read_csv(write_run_plots(run_dir, pred_csv, ["non_gist", "gist"], positive_label="non_gist")[0])
    pred = pd.read_csv(pred_csv)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(roc_auc_score(pred["y"] == 0, pred["p_non_gist"]))


def test_set_name_comes_from_the_file_name() -> None:
    assert eval_set_name("x/predictions_test.csv") == "test" and predictions_file("test") == "predictions_test.csv"
    with pytest.raises(ValueError, match="predictions_"):
        eval_set_name("x/preds.csv")


def test_eval_sets_are_named_after_their_split_inputs() -> None:
    assert eval_sets({"split": "s.json", "external": None}) == {"single_centre": ("s.json", "test")}
    both = eval_sets({"split": "s.json", "external": "m.json"})
    assert list(both.items()) == [("single_centre", ("s.json", "test")), ("multi_centre", ("m.json", "test"))]
    assert eval_sets({"split": "f.json"}, CV_EVAL_SET_INPUTS) == {"test": ("f.json", "test")}
