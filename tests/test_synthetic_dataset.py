"""The default synthetic dataset: speed, BYO tables, metadata, learnable renderings, centre differences.

One module-scoped generation of the full default dataset (320 cases, 1,920 images) serves every test.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

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


def _pixels(root: Path, path: str, mode: str, size: int = 32) -> np.ndarray:
    """The pipeline's view: short side resized to `size`, centre crop, floats in [0, 1]."""
    image = Image.open(root / path).convert(mode)
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32).ravel() / 255.0


@pytest.fixture(scope="module")
def pooled_pixels(generated: tuple[Dataset, float]) -> dict[str, np.ndarray]:
    """modality -> (images, features): every image at 32x32 in images.csv order, 2x2 average-pooled."""
    ds = generated[0]
    out = {}
    for modality, mode in (("eus", "L"), ("wle", "RGB")):
        paths = ds.images.loc[ds.images["modality"] == modality, "path"]
        x = np.stack([_pixels(ds.root, p, mode) for p in paths])
        out[modality] = x.reshape(len(x), 16, 2, 16, 2, -1).mean(axis=(2, 4)).reshape(len(x), -1)
    return out


def test_default_generation_is_fast(generated: tuple[Dataset, float]) -> None:
    assert generated[1] < 20.0


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


@pytest.mark.skipif(
    importlib.util.find_spec("mmdiag.data.validate") is None, reason="validator not in this tree"
)
def test_passes_the_format_validator(generated: tuple[Dataset, float]) -> None:
    load_dataset(generated[0].root, validate=True)


@pytest.mark.parametrize(
    ("modality", "column", "margin"),
    [
        ("eus", "eus.echo_level", 0.15),
        ("eus", "eus.growth_pattern", 0.2),
        ("wle", "wle.colour", 0.15),
        ("wle", "wle.location", 0.3),
    ],
)
def test_attributes_are_learnable_at_32px(
    generated: tuple[Dataset, float],
    pooled_pixels: dict[str, np.ndarray],
    modality: str,
    column: str,
    margin: float,
) -> None:
    """Logistic regression on 32x32 pixels (2x2-pooled) beats the majority class on held-out cases."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds = generated[0]
    rows = ds.images[ds.images["modality"] == modality]
    x = pooled_pixels[modality]
    y = ds.cases.set_index("case_id").loc[rows["case_id"], column].to_numpy()
    held_out = set(ds.cases["case_id"].iloc[::3])  # a third of the cases, from both centres
    test = rows["case_id"].isin(held_out).to_numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=1000))
    clf.fit(x[~test], y[~test])
    accuracy = float(np.mean(clf.predict(x[test]) == y[test]))
    _, counts = np.unique(y[test], return_counts=True)
    assert accuracy > counts.max() / counts.sum() + margin, accuracy


def test_centres_differ_in_simple_statistics(generated: tuple[Dataset, float]) -> None:
    """Device effects: EUS brightness and speckle fineness; WLE blue/red balance and sensor noise."""
    ds = generated[0]
    centre_of = ds.cases.set_index("case_id")["centre"]
    stats: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for case_id, modality, path in ds.images[["case_id", "modality", "path"]].itertuples(index=False):
        a = np.asarray(Image.open(ds.root / path), dtype=np.float64) / 255.0
        grey = a if a.ndim == 2 else a.mean(axis=-1)
        inside = grey > 0.03
        fine = float(np.abs(np.diff(grey, axis=1)).mean())
        level = (
            float(grey[inside].mean())
            if modality == "eus"
            else float(a[..., 2][inside].mean() / a[..., 0][inside].mean())
        )
        stats.setdefault((modality, centre_of[case_id]), []).append((level, fine))
    for modality in ("eus", "wle"):
        a, b = np.array(stats[(modality, "centre_a")]), np.array(stats[(modality, "centre_b")])
        t = np.abs(a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
        assert (t > 5).all(), (modality, t)
