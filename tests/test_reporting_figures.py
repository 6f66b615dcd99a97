"""Figure functions on small synthetic inputs, and every registered TMM-Net figure on fixture runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import confusion_matrix, roc_auc_score

from mmdiag.eval.curves import confusion_pairs, roc_input, roc_points
from mmdiag.reporting.figures.confusion import plot_confusion
from mmdiag.reporting.figures.curves import plot_history
from mmdiag.reporting.figures.embedding import tsne
from mmdiag.reporting.figures.heatmaps import image_grid, to_display
from mmdiag.reporting.figures.roc import RocCurve, plot_roc
from mmdiag.reporting.figures.style import panels, save_figure
from mmdiag.reporting.runs import Run
from test_reporting_fixtures import ARMS, make_ablation, make_cache, make_meta, make_model_run, make_study_run

torch.set_num_threads(1)


def assert_image_files(png: Path, pdf: Path) -> None:
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 2000


def test_roc_points_match_sklearn_auc() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = y * 0.4 + rng.uniform(0, 1, 200)
    pts = roc_points(y, s)
    assert np.trapezoid(pts["tpr"], pts["fpr"]) == pytest.approx(roc_auc_score(y, s))
    assert roc_points(np.ones(5, int), np.linspace(0, 1, 5)).empty


def test_roc_input_binary_and_micro_average() -> None:
    pred = pd.DataFrame({"y": [0, 1, 2], "p_a": [0.7, 0.2, 0.1], "p_b": [0.2, 0.5, 0.3], "p_c": [0.1, 0.3, 0.6]})
    y, s = roc_input(pred, ["a", "b", "c"])
    assert y.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 1] and s.tolist() == [0.7, 0.2, 0.1, 0.2, 0.5, 0.3, 0.1, 0.3, 0.6]
    y2, s2 = roc_input(pred.iloc[:2][["y", "p_a", "p_b"]], ["a", "b"], positive_index=0)
    assert y2.tolist() == [1, 0] and s2.tolist() == [0.7, 0.2]


def test_confusion_counts_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y, yp = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    _fig, (ax,) = panels(1)
    counts = plot_confusion(ax, y, yp, ["a", "b", "c"], "t")
    assert (counts == confusion_matrix(y, yp)).all()
    texts = [t.get_text() for t in ax.texts]
    assert texts[0].startswith(f"{counts[0, 0]}\n")
    pairs = confusion_pairs(pd.DataFrame({"y": [0, 1], "p_a": [0.9, 0.8], "p_b": [0.1, 0.2]}), ["a", "b"])
    assert pairs.to_dict("list") == {"actual": ["a", "b"], "predicted": ["a", "a"]}


def test_history_skips_missing_keys() -> None:
    history = pd.DataFrame({"phase": ["s2", "s2", "cls"], "train_loss": [3, 2, 1], "val_Acc": [np.nan, np.nan, 0.7]})
    _fig, (ax,) = panels(1)
    assert plot_history(ax, history, ["train_loss", "val_loss", "val_Acc"], "t", "y") == ["train_loss", "val_Acc"]
    assert len(ax.lines) == 2 and ax.get_xlim() == (-0.5, 2.5)


def test_tsne_small_sets_and_validation() -> None:
    x = np.random.default_rng(0).normal(size=(7, 5))
    xy = tsne(x)
    assert xy.shape == (7, 2) and np.isfinite(xy).all()
    assert np.allclose(xy, tsne(x))  # seeded
    with pytest.raises(ValueError, match="t-SNE"):
        tsne(x[:3])


def test_to_display_inverts_normalisation() -> None:
    img = np.random.default_rng(0).uniform(0.1, 0.9, (3, 4, 5)).astype(np.float32)
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    normed = (img - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1))
    out = to_display(normed, mean, std)
    assert out.shape == (4, 5, 3) and np.allclose(out, img.transpose(1, 2, 0), atol=1e-6)


def test_save_figure_png_pdf_reproducible(tmp_path: Path) -> None:
    curves = [RocCurve("m", roc_points(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])))]
    paths = []
    for k in range(2):
        fig, (ax,) = panels(1)
        plot_roc(ax, curves, "roc")
        png, pdf = tmp_path / f"f{k}.png", tmp_path / f"f{k}.pdf"
        save_figure(fig, png, pdf)
        assert_image_files(png, pdf)
        paths.append((png, pdf))
    assert paths[0][0].read_bytes() == paths[1][0].read_bytes()
    assert paths[0][1].read_bytes() == paths[1][1].read_bytes()


def test_image_grid_hides_empty_cells() -> None:
    img = np.zeros((8, 8, 3), np.float32)
    fig = image_grid([[img, img], [img, None]], [["a", "b"], ["c", ""]], ["r1", "r2"])
    assert [ax.get_visible() for ax in fig.axes] == [True, True, True, False]


# ----------------------------------------------------------------------------------- registered figures
def run_figure(name: str, tmp_path: Path, **inputs) -> None:
    from mmdiag.stages.reporting import figure

    png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
    figure(config={}, name=name, png=str(png), pdf=str(pdf), description="ignored", **inputs)
    assert_image_files(png, pdf)


@pytest.mark.parametrize("name", ["tmmnet_fig8_roc_ablation", "tmmnet_confusion_ablation", "tmmnet_training_curves"])
def test_run_figures(name: str, tmp_path: Path) -> None:
    run_figure(name, tmp_path, runs=[str(p) for p in make_ablation(tmp_path)], meta=str(make_meta(tmp_path)))


def test_dualbranch_confusion(tmp_path: Path) -> None:
    runs = [make_study_run(tmp_path / n, n, n.upper(), s) for n, s in (("unimodal_eus", 0.3), ("fusion", 0.7))]
    run_figure("dualbranch_confusion", tmp_path, runs=[str(p) for p in runs], meta=str(make_meta(tmp_path)))


def test_roc_figure_legend_carries_table_auc(tmp_path: Path) -> None:
    from mmdiag.reporting.catalog import FIGURES

    runs = make_ablation(tmp_path)
    fig = FIGURES.get("tmmnet_fig8_roc_ablation")(runs=[str(p) for p in runs], meta=str(make_meta(tmp_path)))
    assert [ax.get_title() for ax in fig.axes] == ["single-centre", "multi-centre"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    auc = Run.load(runs[-1]).cell("single_centre", "AUC")
    assert legend[-1] == f"tmmnet (AUC {auc.point:.3f} [{auc.low:.2f}, {auc.high:.2f}])"
    assert len(legend) == len(ARMS) and "synthetic" in fig.get_suptitle()


@pytest.fixture(scope="module")
def model_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    meta, split = make_cache(root)
    return {
        "meta": str(meta),
        "split": str(split),
        "full": str(make_model_run(root / "tmmnet", "tmmnet")),
        "plain": str(make_model_run(root / "direct_fusion", "direct_fusion", seed=1)),
    }


def test_features_and_cams_of_a_saved_model(model_runs: dict[str, str]) -> None:
    from mmdiag.reporting.run_model import (
        attribute_cams,
        class_cams,
        collect_features,
        image_batch,
        load_model,
        pick_samples,
        test_samples,
    )

    model = load_model(Run.load(model_runs["full"]))
    samples = test_samples({}, model_runs["meta"], model_runs["split"], model.modalities)
    feats = collect_features(model, samples, batch_size=5)
    assert feats["raw"]["eus"].shape == (16, model.image["eus"].num_features) and feats["fused"].shape[0] == 16
    with torch.no_grad():  # the same numbers as a direct forward pass
        model.set_active({"cls"})
        direct = model(image_batch(samples, range(16)))["fused"].numpy()
    assert np.allclose(feats["fused"], direct, atol=1e-5)
    index = pick_samples(samples)
    assert [int(samples.y[i]) for i in index] == [0, 1]
    batch = image_batch(samples, index)
    cams = class_cams(model, batch, "wle", [0, 1])
    assert cams.shape == (2, 32, 32) and cams.min() >= 0 and cams.max() <= 1 and cams.max() > 0
    per_attr = attribute_cams(model, batch, "eus")
    assert len(per_attr) == 2
    for (maps, value, prob), n_values in zip(per_attr, (3, 2)):
        assert maps.shape == (2, 32, 32) and ((value >= 0) & (value < n_values)).all() and (prob >= 1 / n_values).all()
    plain = load_model(Run.load(model_runs["plain"]))
    with pytest.raises(ValueError, match="stage 2"):
        attribute_cams(plain, batch, "eus")


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("tmmnet_fig6_tsne", {"model_run": "full"}),
        ("tmmnet_fig5_attribute_cam", {"model_run": "full"}),
        ("tmmnet_fig7_guidance_cam", {"before": "plain", "after": "full"}),
    ],
)
def test_model_figures(name: str, keys: dict[str, str], model_runs: dict[str, str], tmp_path: Path) -> None:
    inputs = {k: model_runs[v] for k, v in keys.items()}
    run_figure(name, tmp_path, meta=model_runs["meta"], split=model_runs["split"], **inputs)
