"""Per-run DVC plot files: ROC points and confusion pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mmdiag.reporting.dvc_plots import eval_set_name, write_run_plots
from test_reporting_fixtures import ARMS, make_run


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
    assert eval_set_name("x/predictions_test.csv") == "test"
    with pytest.raises(ValueError, match="predictions_"):
        eval_set_name("x/preds.csv")
