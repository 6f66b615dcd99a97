"""The default synthetic dataset: speed, BYO tables, metadata, every attribute learnable at 48 px, centres.

One module-scoped generation of the full default dataset (320 cases, 1,920 images) serves every test.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
import yaml
from PIL import Image

from mmdiag.data.byo import Dataset, dataset_checksum, load_dataset
from mmdiag.data.synthetic import VOCABULARIES, SyntheticConfig, generate_dataset
from mmdiag.data.synthetic.generate import GENERATOR_VERSION


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, float]:
    root = tmp_path_factory.mktemp("synthetic") / "default"
    start = time.perf_counter()
    generate_dataset(root, progress=False)
    return load_dataset(root, validate=False), time.perf_counter() - start


# The pipeline's default image size (config `preprocess.size`): every attribute must be readable there.
PIPELINE_SIZE = 48
ATTRIBUTE_COLUMNS = [f"{m}.{a}" for m, attrs in VOCABULARIES.items() for a in attrs]


def _random_conv_features(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Hand-free features: a fixed random two-layer conv net (never trained) with mean/max/3x3 pooling.

    (N, C, H, W) floats in [0, 1] -> (N, F). Random filters respond to edges, blobs and colours at 5-20 px
    scales; a linear read-out of them is a cheap, honest test that a cue survives the downsampling.
    """
    import torch
    from torch.nn import functional as F

    x = torch.from_numpy(images)
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(32, x.shape[1], 5, 5, generator=g)
    w1 = w1 - w1.mean(dim=(1, 2, 3), keepdim=True)
    w2 = torch.randn(64, 32, 3, 3, generator=g)
    with torch.no_grad():
        h1 = F.conv2d(x - x.mean(dim=(2, 3), keepdim=True), w1, padding=2)
        h1 = torch.relu(h1 / h1.std(dim=(0, 2, 3), keepdim=True) - 0.5)
        h2 = F.conv2d(F.avg_pool2d(h1, 4), w2, padding=1)
        h2 = torch.relu(h2 / h2.std(dim=(0, 2, 3), keepdim=True) - 0.5)
        parts = [h1.mean((2, 3)), h1.amax((2, 3)), h2.mean((2, 3)), h2.amax((2, 3))]
        parts += [F.adaptive_avg_pool2d(h2, 3).flatten(1), F.adaptive_avg_pool2d(x, 6).flatten(1)]
        return torch.cat(parts, dim=1).numpy()


@pytest.fixture(scope="module")
def pipeline_features(generated: tuple[Dataset, float]) -> dict[str, np.ndarray]:
    """modality -> random conv features of every image as the pipeline sees it (images.csv order)."""
    from mmdiag.data.preprocess import load_image

    ds = generated[0]
    out = {}
    for modality, spec in ds.spec.modalities.items():
        paths = ds.images.loc[ds.images["modality"] == modality, "path"]
        x = np.stack([load_image(ds.root / p, spec.channels, PIPELINE_SIZE) for p in paths])
        out[modality] = _random_conv_features(x.astype(np.float32) / 255.0)
    return out


def test_default_generation_writes_every_case(generated: tuple[Dataset, float]) -> None:
    """Functional only: how long generation takes is a bench figure (bench/timings.py), never an assertion."""
    assert len(generated[0].cases) == sum(c.n_cases for c in SyntheticConfig().centres)


def test_tables_are_consistent(generated: tuple[Dataset, float]) -> None:
    ds = generated[0]
    spec = ds.spec
    assert spec.labels == ("non_gist", "gist") and spec.positive_label == "gist" and spec.synthetic
    assert spec.modalities["eus"].channels == 1 and spec.modalities["wle"].channels == 3
    assert spec.centres == ("centre_a", "centre_b")
    assert {m: {a: list(v) for a, v in av.items()} for m, av in spec.attributes.items()} == {
        m: {a: list(v) for a, v in av.items()} for m, av in VOCABULARIES.items()
    }
    cases = ds.cases
    assert cases["case_id"].is_unique
    assert cases.groupby("centre").size().to_dict() == {"centre_a": 240, "centre_b": 80}
    assert cases.groupby(["centre", "label"]).size().to_dict() == {
        ("centre_a", "gist"): 120,
        ("centre_a", "non_gist"): 120,
        ("centre_b", "gist"): 40,
        ("centre_b", "non_gist"): 40,
    }
    for column in spec.attribute_columns():
        modality, attribute = column.split(".")
        assert set(cases[column]) <= set(VOCABULARIES[modality][attribute]), column
        assert cases[column].nunique() >= 2, column
    sizes = cases["size_mm"].astype(float)
    assert sizes.between(10, 40).all()

    images = ds.images
    assert set(images["case_id"]) == set(cases["case_id"])
    assert images.groupby(["case_id", "modality"]).size().eq(3).all()
    assert len(images) == 320 * 6 and images["path"].is_unique
    assert (
        images["path"]
        == "images/"
        + images["case_id"]
        + "/"
        + images["modality"]
        + "_"
        + images.groupby(["case_id", "modality"]).cumcount().astype(str)
        + ".png"
    ).all()
    reports = ds.reports
    assert list(reports["case_id"]) == list(cases["case_id"])
    assert (reports[["report", "report.eus", "report.wle"]].map(len) > 40).all().all()
    assert not reports["report"].str.lower().str.contains("gist").any()


def test_image_files_decode_with_the_centre_sizes(generated: tuple[Dataset, float]) -> None:
    ds = generated[0]
    centre_of = ds.cases.set_index("case_id")["centre"]
    config = SyntheticConfig()
    devices = {c.name: c for c in config.centres}
    rows = ds.images.groupby("modality").head(150)
    for case_id, modality, path in rows[["case_id", "modality", "path"]].itertuples(index=False):
        with Image.open(ds.root / path) as image:
            image.load()
            assert image.format == "PNG" and not image.info.get("tIME")
            assert image.mode == ("L" if modality == "eus" else "RGB")
            assert image.size == getattr(devices[centre_of[case_id]], modality).size


def test_metadata_records_the_model(generated: tuple[Dataset, float]) -> None:
    ds = generated[0]
    meta = ds.spec.metadata
    model = SyntheticConfig().model()
    assert meta["bayes_accuracy"] == model.bayes_accuracy()
    assert meta["bayes_accuracy_eus"] == model.bayes_accuracy(["eus"])
    assert meta["bayes_accuracy_wle"] == model.bayes_accuracy(["wle"])
    assert 0.85 <= meta["bayes_accuracy"] <= 0.92
    assert meta["seed"] == 0 and meta["generator_version"] == GENERATOR_VERSION
    assert meta["generative_model"] == model.to_dict()
    assert SyntheticConfig.from_dict(meta["config"]) == SyntheticConfig()
    with open(ds.root / "dataset.yaml", encoding="utf-8") as fh:
        assert yaml.safe_load(fh)["metadata"]["bayes_accuracy"] == meta["bayes_accuracy"]
    assert len(dataset_checksum(ds.root)) == 64


@pytest.mark.skipif(importlib.util.find_spec("mmdiag.data.validate") is None, reason="validator not in this tree")
def test_passes_the_format_validator(generated: tuple[Dataset, float]) -> None:
    load_dataset(generated[0].root, validate=True)


@pytest.mark.parametrize("column", ATTRIBUTE_COLUMNS)
def test_every_attribute_is_learnable_at_the_pipeline_resolution(
    generated: tuple[Dataset, float], pipeline_features: dict[str, np.ndarray], column: str
) -> None:
    """A linear read-out of random conv features at 48 px reads every attribute on held-out cases.

    Balanced accuracy (chance = 1 / number of values, whatever the class balance) must beat chance by 0.25,
    and plain accuracy the majority class. With generator 1.0.0, whose heterogeneity texture was averaged
    away by the resize, echo_heterogeneity reached only chance + 0.14 and boundary chance + 0.24.
    """
    from sklearn.linear_model import RidgeClassifier
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds = generated[0]
    modality = column.split(".")[0]
    rows = ds.images[ds.images["modality"] == modality]
    x = pipeline_features[modality]
    y = ds.cases.set_index("case_id").loc[rows["case_id"], column].to_numpy()
    held_out = set(ds.cases["case_id"].iloc[::3])  # a third of the cases, from both centres
    test = rows["case_id"].isin(held_out).to_numpy()
    clf = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1000.0)).fit(x[~test], y[~test])
    predicted = clf.predict(x[test])
    values, counts = np.unique(y[test], return_counts=True)
    assert len(values) == len(VOCABULARIES[modality][column.split(".")[1]]), "every value must be in the test set"
    balanced = balanced_accuracy_score(y[test], predicted)
    accuracy = float(np.mean(predicted == y[test]))
    assert balanced > 1 / len(values) + 0.25, (balanced, accuracy)
    assert accuracy > counts.max() / counts.sum(), (balanced, accuracy)


def test_centres_differ_in_simple_statistics(generated: tuple[Dataset, float]) -> None:
    """Device effects: EUS brightness and speckle fineness; WLE blue/red balance and sensor noise.

    The WLE colour balance is read on the mucosa around the lesion (beyond 0.3 image heights from the
    centre): it carries the device's colour cast, not the lesion's colour attribute.
    """
    ds = generated[0]
    centre_of = ds.cases.set_index("case_id")["centre"]
    stats: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for case_id, modality, path in ds.images[["case_id", "modality", "path"]].itertuples(index=False):
        a = np.asarray(Image.open(ds.root / path), dtype=np.float64) / 255.0
        grey = a if a.ndim == 2 else a.mean(axis=-1)
        inside = grey > 0.03
        fine = float(np.abs(np.diff(grey, axis=1)).mean())
        if modality == "eus":
            level = float(grey[inside].mean())
        else:
            h, w = grey.shape
            rows, cols = np.mgrid[:h, :w]
            around = inside & (np.hypot(rows + 0.5 - h / 2, cols + 0.5 - w / 2) > 0.3 * h)
            level = float(a[..., 2][around].mean() / a[..., 0][around].mean())
        stats.setdefault((modality, centre_of[case_id]), []).append((level, fine))
    for modality in ("eus", "wle"):
        a, b = np.array(stats[(modality, "centre_a")]), np.array(stats[(modality, "centre_b")])
        t = np.abs(a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
        assert (t > 5).all(), (modality, t)
