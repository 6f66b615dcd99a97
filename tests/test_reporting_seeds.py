"""TMM-Net tables over seeds (C6), arms that resolve to the same setup, and arm labels (C5)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mmdiag.reporting.catalog import TABLES
from mmdiag.reporting.render import to_frame, to_latex, to_markdown
from mmdiag.reporting.runs import Run
from mmdiag.reporting.seeds import EnsembleError, ensemble_predictions, group_runs
from mmdiag.reporting.tmm_tables import is_full_model, is_plain_fusion, setup_label
from test_reporting_fixtures import ARMS, make_meta, make_run

SEEDED = ("baseline1", "direct_fusion", "tmmnet")
CONFIG = {"tmmnet": {"seeds": [0, 1, 2]}}


def build(name: str, **kwargs):
    return TABLES.get(name)(**{"config": CONFIG, **kwargs})


def seeded_runs(root: Path, arms=SEEDED, seeds=(0, 1, 2)) -> dict[str, list[Path]]:
    """`root/<arm>/seed<s>/metrics.json` for every arm and seed, the full model the most skilled."""
    return {
        arm: [make_run(root / arm / f"seed{s}", arm, ARMS[arm], skill=0.3 + 0.2 * i, seed=s) for s in seeds]
        for i, arm in enumerate(arms)
    }


def test_t3_rows_first_seed_point_and_mean_sd_over_seeds(tmp_path: Path) -> None:
    runs = seeded_runs(tmp_path)
    shuffled = [str(p) for arm in SEEDED for p in reversed(runs[arm])]  # seed 2 first: order comes from config
    table = build("tmmnet_t3_ablation", runs=shuffled, meta=str(make_meta(tmp_path)))
    assert len(table.rows) == 6 and [r.labels["Arm"] for r in table.rows[:3]] == list(SEEDED)
    names = [c.name for c in table.columns]
    assert names == [
        "SEN",
        "SPE",
        "Acc",
        "Acc (case)",
        "AUC",
        "Acc mean ± SD",
        "Acc (case) mean ± SD",
        "AUC mean ± SD",
        "Acc seed ensemble",
        "AUC seed ensemble",
        "Seeds",
    ]
    row = table.rows[1]  # direct_fusion, single-centre
    first = Run.load(runs["direct_fusion"][0])
    assert row.cells["AUC"] == first.cell("single_centre", "AUC")  # the first seed's point and CI
    accs = [Run.load(p).cell("single_centre", "Acc").point for p in runs["direct_fusion"]]
    mean = row.cells["Acc mean ± SD"]
    assert (mean.point, mean.sd, mean.n) == pytest.approx((np.mean(accs), np.std(accs, ddof=1), 3))
    assert row.cells["Seeds"].point == 3
    assert [r.metrics_path for r in row.runs] == runs["direct_fusion"]  # provenance lists every seed
    md = to_markdown(table)
    assert f"{mean.point:.3f} ± {mean.sd:.3f}" in md and "seeds 0, 1, 2" in md
    assert r"$\pm$" in to_latex(table)
    frame = to_frame(table)
    assert {"Acc mean ± SD_sd", "Acc mean ± SD_n", "AUC mean ± SD_sd"} <= set(frame.columns)
    assert frame.loc[1, "Acc mean ± SD_sd"] == pytest.approx(mean.sd)
    full_accs = [Run.load(p).cell("single_centre", "Acc").point for p in runs["tmmnet"]]
    assert table.extras["tmmnet_single_centre_acc"] == full_accs[0]
    assert table.extras["tmmnet_single_centre_acc_mean"] == pytest.approx(np.mean(full_accs))
    assert table.extras["tmmnet_n_seeds"] == 3 and "over 3 seeds" in md


def test_t3_seed_ensemble_scores_the_mean_probabilities_of_the_seeds(tmp_path: Path) -> None:
    runs = seeded_runs(tmp_path)
    table = build("tmmnet_t3_ablation", runs=[str(p) for a in SEEDED for p in runs[a]], meta=str(make_meta(tmp_path)))
    row = table.rows[1]  # direct_fusion, single-centre
    frames = [Run.load(p).predictions("single_centre") for p in runs["direct_fusion"]]
    probs = [c for c in frames[0].columns if c.startswith("p_")]
    mean = np.mean([f[probs].to_numpy() for f in frames], axis=0)
    y = frames[0]["y"].to_numpy()
    assert row.cells["Acc seed ensemble"].point == pytest.approx(float(np.mean(mean.argmax(1) == y)))
    from sklearn.metrics import roc_auc_score

    assert row.cells["AUC seed ensemble"].point == pytest.approx(roc_auc_score(y, mean[:, 1]))
    assert any("seed ensemble' columns score the mean class probabilities" in n for n in table.notes)


def test_seed_ensemble_refuses_runs_on_other_samples(tmp_path: Path) -> None:
    runs = seeded_runs(tmp_path, arms=("baseline1",), seeds=(0, 1))["baseline1"]
    pred = runs[1].parent / "predictions_single_centre.csv"
    frame = Run.load(runs[1]).predictions("single_centre")
    frame.iloc[::-1].to_csv(pred, index=False)  # the same cases in another order: not averaged row by row
    loaded = [Run.load(p) for p in runs]
    labels = [c.removeprefix("p_") for c in frame.columns if c.startswith("p_")]
    with pytest.raises(EnsembleError, match="not on the samples of"):
        ensemble_predictions(loaded, "single_centre", labels)
    with pytest.raises(EnsembleError, match="needs two or more"):
        ensemble_predictions(loaded[:1], "single_centre", labels)
    table = build("tmmnet_t3_ablation", runs=[str(p) for p in runs], meta=str(make_meta(tmp_path)))
    assert not table.rows[0].cells["Acc seed ensemble"].defined
    assert any("not on the samples of" in w for w in table.rows[0].warnings)


def test_t3_with_one_seed_has_no_spread_columns(tmp_path: Path) -> None:
    runs = seeded_runs(tmp_path, seeds=(0,))
    table = build("tmmnet_t3_ablation", runs=[str(p[0]) for p in runs.values()], meta=str(make_meta(tmp_path)))
    assert [c.name for c in table.columns] == ["SEN", "SPE", "Acc", "Acc (case)", "AUC"]
    assert any("One seed per arm (seed 0)" in n for n in table.notes)


def test_t3_arm_with_fewer_seeds_shows_a_dash(tmp_path: Path) -> None:
    runs = seeded_runs(tmp_path, arms=("baseline1", "tmmnet"))
    single = make_run(tmp_path / "direct_fusion" / "seed0", "direct_fusion", ARMS["direct_fusion"], seed=0)
    paths = [str(p) for p in (*runs["baseline1"], single, *runs["tmmnet"])]
    table = build("tmmnet_t3_ablation", runs=paths, meta=str(make_meta(tmp_path)))
    row = next(r for r in table.rows if r.labels["Arm"] == "direct_fusion")
    assert row.cells["Seeds"].point == 1 and not row.cells["Acc mean ± SD"].defined
    line = next(x for x in to_markdown(table).splitlines() if "| direct_fusion" in x)
    cells = line.rstrip(" |").split("|")
    assert cells[-4].strip() == cells[-3].strip() == cells[-2].strip() == "–"  # AUC mean, both ensemble columns
    assert (1, "Acc mean ± SD") not in table.best_cells()


def test_tests_table_and_tables_1_2_use_the_first_seed(tmp_path: Path) -> None:
    runs = seeded_runs(tmp_path)
    meta = make_meta(tmp_path)
    paths = [str(p) for arm in SEEDED for p in reversed(runs[arm])]
    tests = build("tmmnet_t3_ablation_tests", runs=paths, meta=str(meta))
    assert [r.labels["Arm"] for r in tests.rows] == ["baseline1", "direct_fusion"] * 2
    assert [r.metrics_path for r in tests.rows[0].runs] == [runs["baseline1"][0], runs["tmmnet"][0]]
    t1 = build("tmmnet_t1_comparison", runs=paths)
    assert len(t1.rows) == 3 and t1.rows[2].runs[0].metrics_path == runs["tmmnet"][0]
    assert any("first (0)" in n for n in t1.notes)
    t2 = build("tmmnet_t2_text_guidance", runs=paths)
    assert len(t2.rows) == 3


def test_groups_come_from_records_not_paths(tmp_path: Path) -> None:
    """Folders named anything: the record's encoder/arm/seed decide the grouping and the order."""
    a = make_run(tmp_path / "x", "tmmnet", ARMS["tmmnet"], seed=1)
    b = make_run(tmp_path / "y", "tmmnet", ARMS["tmmnet"], seed=0)
    c = make_run(tmp_path / "z", "tmmnet", ARMS["tmmnet"], seed=0, encoder="resnet18_cpu")
    groups = group_runs([Run.load(p) for p in (a, b, c)], CONFIG)
    assert [(g.encoder, g.arm, g.seeds) for g in groups] == [
        ("vit_cpu", "tmmnet", [0, 1]),
        ("resnet18_cpu", "tmmnet", [0]),
    ]
    no_config = group_runs([Run.load(p) for p in (a, b)])
    assert no_config[0].seeds == [1, 0]  # without tmmnet.seeds: the order given


def test_one_modality_dataset_has_no_duplicate_rows(tmp_path: Path) -> None:
    """baseline1 and baseline2 both resolve to [us]: one row, and a note saying which arm it stands for."""
    arms = {
        "baseline1": {"modalities": ["us"]},
        "baseline2": {"modalities": ["us"]},
        "baseline1_eus_stage1": {"modalities": ["us"], "stage1": True},
        "baseline2_wle_stage1": {"modalities": ["us"], "stage1": True},
    }
    paths = [str(make_run(tmp_path / a, a, spec, skill=0.5)) for a, spec in arms.items()]
    table = build("tmmnet_t3_ablation", runs=paths, meta=str(make_meta(tmp_path)))
    assert [r.labels["Arm"] for r in table.rows] == ["baseline1", "baseline1_eus_stage1"] * 2
    keys = [tuple(r.labels.values()) for r in table.rows]
    assert len(keys) == len(set(keys))
    md = to_markdown(table)
    assert "Arm 'baseline2' resolves to the same setup as 'baseline1'" in md
    assert "Arm 'baseline2_wle_stage1' resolves to the same setup as 'baseline1_eus_stage1'" in md
    t1 = build("tmmnet_t1_comparison", runs=paths)
    assert len(t1.rows) == 2


def test_attributes_no_text_arm_labels() -> None:
    spec = {"modalities": ["eus", "wle"], "attention": True, "attributes": True}
    assert setup_label(spec) == "EUS+WLE, cross-modal attention, attribute labels (no text)"
    assert not is_full_model(spec) and not is_plain_fusion(spec)
    full = {"modalities": ["eus", "wle"], "stage1": True, "stage2": True, "attention": True, "attributes": True}
    assert is_full_model(full) and setup_label(full) == "EUS+WLE, cross-modal attention, text guidance (stages 1, 2)"
    assert not is_full_model({**full, "stage1": False})  # the full model is stages 1 + 2 + attention
    assert is_plain_fusion({"modalities": ["eus", "wle"], "attributes": False})
    assert setup_label({"modalities": ["us"], "attributes": True}) == "US, attribute labels (no text)"


def test_attributes_no_text_row_in_table_3(tmp_path: Path) -> None:
    arms = {**ARMS, "attributes_no_text": {"modalities": ["eus", "wle"], "attention": True, "attributes": True}}
    paths = [str(make_run(tmp_path / a, a, spec)) for a, spec in arms.items()]
    table = build("tmmnet_t3_ablation", runs=paths, meta=str(make_meta(tmp_path)))
    row = next(r for r in table.rows if r.labels["Arm"] == "attributes_no_text")
    assert row.labels["Setup"] == "EUS+WLE, cross-modal attention, attribute labels (no text)"
    assert len(table.rows) == 2 * len(arms)
    assert not math.isnan(row.cells["Acc"].point)
