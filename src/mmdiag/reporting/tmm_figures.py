"""TMM-Net's figures (METHODS.md §1): ROC of the ablation arms (Fig. 8), confusion matrices, training curves,
t-SNE of per-modality vs fused features (Fig. 6), per-attribute Grad-CAM (Fig. 5) and Grad-CAM before/after
text guidance (Fig. 7). Each builder returns a `Figure`; the stage saves it as PNG and PDF.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from matplotlib.figure import Figure

from mmdiag.eval.curves import macro_roc_points, predicted_labels, roc_input, roc_points
from mmdiag.reporting.catalog import figure
from mmdiag.reporting.figures.confusion import plot_confusion
from mmdiag.reporting.figures.curves import plot_history
from mmdiag.reporting.figures.embedding import plot_embedding, tsne
from mmdiag.reporting.figures.heatmaps import image_grid, to_display
from mmdiag.reporting.figures.roc import RocCurve, plot_roc
from mmdiag.reporting.figures.style import panels, suptitle
from mmdiag.reporting.runs import Run, any_synthetic, dataset_labels, read_meta
from mmdiag.reporting.seeds import first_seeds
from mmdiag.reporting.tmm_tables import SETTINGS, is_full_model, load_runs

F = TypeVar("F", bound=Callable[..., Figure])


def first_seed_runs(runs: Sequence[str], config: dict[str, Any] | None) -> list[Run]:
    """One run per (encoder, arm): the first seed, so several seeds never draw an arm twice."""
    return first_seeds(load_runs(runs), config)


def ablation_on_test(
    runs: Sequence[str], meta: str, config: dict[str, Any] | None
) -> tuple[list[Run], list[str], int, list[str]]:
    """What a figure of the ablation arms on the test settings reads: one run per arm (`first_seed_runs`), the
    class labels, the positive class and the test settings (`SETTINGS` order) at least one run was evaluated on."""
    loaded = first_seed_runs(runs, config)
    labels, pos = dataset_labels(meta)
    return loaded, labels, pos, [s for s in SETTINGS if any(s in r.eval_sets for r in loaded)]


@figure(
    "tmmnet_fig8_roc_ablation",
    "ROC curves of the ablation arms (first seed) on the single-centre test set and on the unseen centre "
    "(multi-centre), per image pair; the legend gives each arm's AUC with its 95% case-bootstrap CI (as in "
    "tmmnet_t3_ablation). Multiclass tasks: the macro-averaged one-vs-rest curve and the macro one-vs-rest AUC.",
)
def roc_ablation(runs: Sequence[str], meta: str, config: dict[str, Any] | None = None, **_: Any) -> Figure:
    loaded, labels, pos, sets = ablation_on_test(runs, meta, config)
    fig, axes = panels(len(sets), panel=(4.6, 6.4))
    for ax, evalset in zip(axes, sets):
        curves = []
        for r in loaded:
            if evalset not in r.eval_sets:
                continue
            pred = r.predictions(evalset, labels)
            points = macro_roc_points(pred, labels) if len(labels) > 2 else roc_points(*roc_input(pred, labels, pos))
            curves.append(RocCurve(r.field("arm"), points, r.cell(evalset, "AUC"), emphasis=is_full_model(r.spec)))
        title = SETTINGS[evalset] + (" (macro one-vs-rest)" if len(labels) > 2 else "")
        plot_roc(ax, curves, title)
    suptitle(fig, "ROC of the ablation arms", any_synthetic(loaded))
    return fig


@figure(
    "tmmnet_confusion_ablation",
    "Confusion matrices of every ablation arm (first seed; columns) on each test setting (rows): counts and row "
    "shares.",
)
def confusion_ablation(runs: Sequence[str], meta: str, config: dict[str, Any] | None = None, **_: Any) -> Figure:
    loaded, labels, _pos, sets = ablation_on_test(runs, meta, config)
    cells = [(evalset, r) for evalset in sets for r in loaded]
    fig, axes = panels(len(cells), min(len(loaded), 4), panel=(2.3, 2.4))
    for ax, (evalset, r) in zip(axes, cells):
        if evalset not in r.eval_sets:
            ax.set_visible(False)
            continue
        pred = r.predictions(evalset, labels)
        title = f"{r.field('arm')}\n{SETTINGS[evalset]}"
        plot_confusion(ax, pred["y"].to_numpy(), predicted_labels(pred, labels), labels, title)
    suptitle(fig, "Confusion matrices of the ablation arms", any_synthetic(loaded))
    return fig


@figure(
    "tmmnet_training_curves",
    "Training curves of every ablation arm over its phases (stage 2, stage 3, end-to-end classification): "
    "training loss (sum of the active objectives) and validation loss (the selection criterion) on top, "
    "validation accuracy and AUC below.",
)
def training_curves(runs: Sequence[str], config: dict[str, Any] | None = None, **_: Any) -> Figure:
    loaded = first_seed_runs(runs, config)
    fig, axes = panels(2 * len(loaded), 2, panel=(3.4, 2.3))
    for j, r in enumerate(loaded):
        history = r.history()
        plot_history(axes[2 * j], history, ["train_loss", "val_loss"], f"{r.record['arm']}: losses", "loss")
        plot_history(axes[2 * j + 1], history, ["val_Acc", "val_AUC"], f"{r.record['arm']}: validation", "metric")
    suptitle(fig, "Training curves", any_synthetic(loaded))
    return fig


def model_on_test(model_run: str, meta: str, split: str, config: dict[str, Any]) -> tuple[Run, list[str], Any, Any]:
    """What a figure of one trained model reads: its run, the class labels, the model and its test samples."""
    from mmdiag.reporting.run_model import load_model, test_samples

    run = Run.load(model_run)
    labels, _pos = dataset_labels(meta)
    model = load_model(run)
    return run, labels, model, test_samples(config, meta, split, model.modalities)


def model_figure(name: str, caption: str) -> Callable[[F], F]:
    """Register a figure of one trained model: the rule's `model_run` on the `split` test samples.

    The builder is called as `draw(run, labels, model, samples, meta=...)` with what `model_on_test` loads.
    """

    def deco(draw: F) -> F:
        @functools.wraps(draw)
        def build(model_run: str, meta: str, split: str, config: dict[str, Any], **_: Any) -> Figure:
            return draw(*model_on_test(model_run, meta, split, config), meta=meta)

        figure(name, caption)(build)
        return draw

    return deco


@model_figure(
    "tmmnet_fig6_tsne",
    "t-SNE of TMM-Net's test-set features: per-modality image features before fusion, coloured by class and "
    "by modality, and the fused features coloured by class.",
)
def tsne_features(run: Run, labels: list[str], model: Any, samples: Any, **_: Any) -> Figure:
    from mmdiag.reporting.run_model import collect_features

    feats = collect_features(model, samples)
    names = np.asarray(labels, dtype=object)[feats["y"]]
    seed = int(run.record.get("seed", 0))
    raw = feats["raw"]
    widths = {m: v.shape[1] for m, v in raw.items()}
    mod_names = [m.upper() for m in raw]
    # (embedding, colour, marker, colour order, title)
    raw_panels: list[tuple[np.ndarray, list[str], list[str] | None, list[str], str]] = []
    if len(set(widths.values())) == 1:  # one joint embedding of every modality's features
        xy = tsne(np.concatenate(list(raw.values())), seed)
        cls = list(np.tile(names, len(raw)))
        mod = [m.upper() for m in raw for _ in range(len(names))]
        raw_panels.append((xy, cls, mod, labels, "per-modality features, by class"))
        raw_panels.append((xy, mod, mod, mod_names, "per-modality features, by modality"))
    else:  # different widths: one embedding per modality
        raw_panels += [
            (tsne(v, seed), list(names), None, labels, f"{m.upper()} features, by class") for m, v in raw.items()
        ]
    fig, axes = panels(len(raw_panels) + 1, panel=(3.6, 3.4))
    for ax, (xy, hue, style, order, title) in zip(axes, raw_panels):
        plot_embedding(ax, xy, hue, title, style, hue_order=order)
    plot_embedding(axes[-1], tsne(feats["fused"], seed), list(names), "fused features, by class", hue_order=labels)
    suptitle(fig, f"t-SNE of TMM-Net features ({run.record['arm']})", any_synthetic([run]))
    return fig


def _display(model_batch: dict[str, Any], modality: str, i: int, norm: dict[str, Any]) -> np.ndarray:
    mean, std = norm[modality]
    return to_display(model_batch["images"][modality][i].numpy(), mean, std)


@model_figure(
    "tmmnet_fig5_attribute_cam",
    "Per-attribute Grad-CAM heat maps of TMM-Net on test images (one per class): for each attribute of each "
    "modality, the evidence for the attribute value the model predicts (value and probability above each map).",
)
def attribute_cam(run: Run, labels: list[str], model: Any, samples: Any, meta: str, **_: Any) -> Figure:
    from mmdiag.explain.gradcam import overlay
    from mmdiag.reporting.run_model import attribute_cams, image_batch, pick_samples

    meta_doc = read_meta(meta)
    attrs = meta_doc["dataset"]["attributes"]
    index = pick_samples(samples)
    batch = image_batch(samples, index)
    cells, titles, rows = [], [], []
    for m in model.modalities:
        names = list(attrs[m])
        per_attr = attribute_cams(model, batch, m)
        for b, _ in enumerate(index):
            img = _display(batch, m, b, meta_doc["normalisation"])
            cells.append([img] + [overlay(img, cams[b]) for cams, _, _ in per_attr])
            titles.append(
                ["input"] + [f"{a}\n{attrs[m][a][int(v[b])]} ({p[b]:.2f})" for a, (_, v, p) in zip(names, per_attr)]
            )
            rows.append(f"{m.upper()} · {labels[int(batch['label'][b])]}")
    fig = image_grid(cells, titles, rows)
    suptitle(fig, f"Attribute heat maps (Grad-CAM, {run.record['arm']})", any_synthetic([run]))
    return fig


@figure(
    "tmmnet_fig7_guidance_cam",
    "Grad-CAM heat maps of the true class on test images (one per class), before text guidance (direct fusion "
    "of the two modalities, no guidance) and after (full TMM-Net), per modality.",
)
def guidance_cam(before: str, after: str, meta: str, split: str, config: dict[str, Any], **_: Any) -> Figure:
    from mmdiag.explain.gradcam import overlay
    from mmdiag.reporting.run_model import class_cams, image_batch, load_model, pick_samples, test_samples

    runs = [Run.load(before), Run.load(after)]
    models = [load_model(r) for r in runs]
    mods = [m for m in models[1].modalities if m in models[0].modalities]
    if not mods:
        raise ValueError("the 'before' and 'after' runs share no modality")
    meta_doc = read_meta(meta)
    labels, _pos = dataset_labels(meta)
    samples = test_samples(config, meta, split, models[1].modalities)
    index = pick_samples(samples)
    batch = image_batch(samples, index)
    y = batch["label"].tolist()
    cells, titles, rows = [], [], []
    for m in mods:
        maps = [class_cams(model, batch, m, y) for model in models]
        for b, _ in enumerate(index):
            img = _display(batch, m, b, meta_doc["normalisation"])
            cells.append([img] + [overlay(img, cams[b]) for cams in maps])
            titles.append(["input"] + [f"{tag}: {r.record['arm']}" for tag, r in zip(("before", "after"), runs)])
            rows.append(f"{m.upper()} · {labels[y[b]]}")
    fig = image_grid(cells, titles, rows, panel=(2.0, 2.1))
    suptitle(fig, "Grad-CAM before / after text guidance", any_synthetic(runs))
    return fig
