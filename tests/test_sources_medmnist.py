"""MedMNIST and the dual-branch pairing: conversion of tiny npz files written here with numpy.savez."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmdiag.data.byo import load_dataset
from mmdiag.data.sources import medmnist as mm
from mmdiag.data.sources import prepare_source
from mmdiag.data.sources.download import RemoteFile
from mmdiag.data.sources.npz import NpzArchive
from mmdiag.data.sources.sampling import cycled_draw, stratified_subsample
from mmdiag.errors import ConfigError, DataFormatError

SPLIT_SIZES = {"train": 14, "val": 9, "test": 9}


def write_npz(
    path: Path,
    shape: tuple[int, ...],
    classes: int,
    seed: int = 0,
    sizes: dict[str, int] = SPLIT_SIZES,
    compressed: bool = False,
) -> dict[str, np.ndarray]:
    """A MedMNIST-format file: `{split}_images` uint8 (N, *shape), `{split}_labels` (N, 1), all classes."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for split, n in sizes.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.permutation(np.arange(n) % classes).reshape(-1, 1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return arrays


@pytest.fixture
def fixture_checksums(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Download folder whose files count as published: the expected MD5 is the fixture file's own."""
    dl = tmp_path / "dl"
    official = mm.remote_file

    def remote(flag: str, size: int, url_override: str | None = None) -> RemoteFile:
        real = official(flag, size, url_override)
        local = dl / real.filename
        md5 = hashlib.md5(local.read_bytes()).hexdigest() if local.exists() else real.md5
        return RemoteFile(real.filename, real.url, md5=md5)

    monkeypatch.setattr(mm, "remote_file", remote)
    return dl


def test_remote_file_comes_from_medmnist_info() -> None:
    info, _ = mm.medmnist_info()
    r28, r64 = mm.remote_file("pathmnist", 28), mm.remote_file("organamnist", 64)
    assert (r28.filename, r28.url, r28.md5) == (
        "pathmnist.npz",
        info["pathmnist"]["url"],
        info["pathmnist"]["MD5"],
    )
    assert (r64.filename, r64.url, r64.md5) == (
        "organamnist_64.npz",
        info["organamnist"]["url_64"],
        info["organamnist"]["MD5_64"],
    )
    assert mm.remote_file("pathmnist", 224, "http://mirror/x/").url == "http://mirror/x/pathmnist_224.npz"


def test_convert_pathmnist(fixture_checksums: Path, offline_base: str, tmp_path: Path) -> None:
    arrays = write_npz(fixture_checksums / "pathmnist.npz", (28, 28, 3), classes=9)
    out = tmp_path / "data" / "pathmnist_28"
    spec = prepare_source(
        "medmnist",
        {"flag": "pathmnist", "download_dir": str(fixture_checksums), "url_override": offline_base},
        out,
    )
    ds = load_dataset(out, validate=True)
    info, _ = mm.medmnist_info()
    names = [info["pathmnist"]["label"][str(i)] for i in range(9)]
    assert spec.labels == tuple(mm.label_slug(n) for n in names) and "smooth_muscle" in spec.labels
    assert spec.task == "multiclass" and spec.modalities["path"].channels == 3 and spec.name == "pathmnist_28"
    assert Counter(ds.cases["split"]) == SPLIT_SIZES
    for case, img in zip(ds.cases.itertuples(), ds.images.itertuples(), strict=True):
        i = int(case.source_index)
        assert img.case_id == case.case_id == f"{case.split}_{i:06d}" and img.modality == "path"
        assert case.label == spec.labels[arrays[f"{case.split}_labels"][i, 0]]
        with Image.open(out / img.path) as im:
            assert im.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(im), arrays[f"{case.split}_images"][i])
    assert not (out / "reports.csv").exists() and list(ds.reports.columns) == ["case_id"]  # no text, no placeholder
    assert "no reports.csv" in spec.metadata["reports"]
    assert spec.metadata["file"]["md5"] == hashlib.md5((fixture_checksums / "pathmnist.npz").read_bytes()).hexdigest()
    assert sorted(p.name for p in out.parent.iterdir()) == ["pathmnist_28"]  # no temporary folder left


def test_grey_subset_at_64px(fixture_checksums: Path, offline_base: str, tmp_path: Path) -> None:
    arrays = write_npz(fixture_checksums / "organamnist_64.npz", (64, 64), classes=11)
    spec = prepare_source(
        "medmnist",
        {
            "flag": "organamnist",
            "size": 64,
            "download_dir": str(fixture_checksums),
            "url_override": offline_base,
        },
        tmp_path / "out",
    )
    ds = load_dataset(tmp_path / "out", validate=True)
    assert spec.modalities["organa"].channels == 1 and len(spec.labels) == 11
    first = ds.images.iloc[0]
    with Image.open(tmp_path / "out" / first.path) as im:
        assert im.mode == "L" and im.size == (64, 64)
        np.testing.assert_array_equal(np.asarray(im), arrays["train_images"][0])
    assert not ds.has_reports


def test_max_per_split_is_stratified_and_seeded(fixture_checksums: Path, offline_base: str, tmp_path: Path) -> None:
    sizes = {"train": 40, "val": 20, "test": 20}
    write_npz(fixture_checksums / "pathmnist.npz", (28, 28, 3), classes=9, sizes=sizes)
    cfg = {
        "flag": "pathmnist",
        "download_dir": str(fixture_checksums),
        "url_override": offline_base,
        "max_per_split": 12,
    }
    ids = {}
    for run, seed in (("a", 3), ("b", 3), ("c", 4)):
        spec = prepare_source("medmnist", {**cfg, "seed": seed}, tmp_path / run)
        cases = load_dataset(tmp_path / run, validate=False).cases
        assert Counter(cases["split"]) == {"train": 12, "val": 12, "test": 12}
        assert cases.groupby("split")["label"].nunique().min() == 9  # every class kept
        ids[run] = list(cases["case_id"])
    assert spec.name == "pathmnist_28_max12" and spec.metadata["max_per_split"] == 12
    assert ids["a"] == ids["b"] and ids["a"] != ids["c"]


def test_stratified_subsample_keeps_proportions_and_rare_classes() -> None:
    labels = np.array(["a"] * 60 + ["b"] * 30 + ["c"] * 10)
    picked = stratified_subsample(labels, 10, seed=1)
    assert Counter(labels[picked]) == {"a": 6, "b": 3, "c": 1}
    assert Counter(labels[stratified_subsample(labels, 3, seed=1)]) == {"a": 1, "b": 1, "c": 1}
    assert list(stratified_subsample(labels, 500, seed=1)) == list(range(100))
    assert np.array_equal(stratified_subsample(labels, 10, seed=1), picked)
    assert np.all(np.diff(picked) > 0)


def test_cycled_draw_reuses_only_after_exhausting_the_pool() -> None:
    draw = cycled_draw(np.arange(4), 10, np.random.default_rng(0))
    assert sorted(Counter(draw.tolist()).values()) == [2, 2, 3, 3]


def test_binary_subsets_get_a_clinical_positive_class() -> None:
    breast = mm.subset("breastmnist", 28)
    assert breast.task == "binary" and breast.labels == ("malignant", "normal_benign")
    assert breast.positive_label == "malignant"
    assert mm.subset("pneumoniamnist", 28).positive_label == "pneumonia"
    assert mm.subset("breastmnist", 28, positive_label="normal, benign").positive_label == "normal_benign"
    with pytest.raises(ConfigError, match="positive_label"):
        mm.subset("breastmnist", 28, positive_label="benign")


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"flag": "chestmnist"}, "multi-label"),
        ({"flag": "organmnist3d"}, "3D"),
        ({"flag": "nosuchmnist"}, "unknown MedMNIST flag"),
        ({"flag": "pathmnist", "size": 32}, r"dataset\.medmnist\.size"),
        ({"flag": "pathmnist", "sise": 64}, "sise"),
        ({"flag": "pathmnist", "max_per_split": 0}, r"dataset\.medmnist\.max_per_split"),
    ],
)
def test_unsupported_configs_are_rejected(cfg: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        prepare_source("medmnist", cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_npz_with_wrong_layout_is_rejected_and_nothing_written(
    fixture_checksums: Path, offline_base: str, tmp_path: Path
) -> None:
    write_npz(fixture_checksums / "pathmnist.npz", (32, 32, 3), classes=12)
    with pytest.raises(DataFormatError) as err:
        prepare_source(
            "medmnist",
            {"flag": "pathmnist", "download_dir": str(fixture_checksums), "url_override": offline_base},
            tmp_path / "data" / "out",
        )
    assert "expected (N, 28, 28, 3)" in str(err.value) and "outside 0..8" in str(err.value)
    assert list((tmp_path / "data").rglob("*")) == []  # atomic_dir may leave the (empty) parent only


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_reader_streams_rows(compressed: bool, tmp_path: Path) -> None:
    arrays = write_npz(tmp_path / "a.npz", (5, 5, 3), classes=3, compressed=compressed)
    with NpzArchive(tmp_path / "a.npz") as npz:
        assert npz.keys() == sorted(arrays)
        assert npz.header("val_images") == ((9, 5, 5, 3), np.dtype(np.uint8))
        rows = dict(npz.iter_rows("train_images", [0, 3, 13]))
        assert sorted(rows) == [0, 3, 13]
        for i, row in rows.items():
            np.testing.assert_array_equal(row, arrays["train_images"][i])
        np.testing.assert_array_equal(npz.read("test_labels"), arrays["test_labels"])
        with pytest.raises(ValueError, match="not increasing"):
            list(npz.iter_rows("train_images", [4, 2]))
        with pytest.raises(DataFormatError, match="missing"):
            npz.read("nope")


def _pair(fixture_checksums: Path, offline_base: str, out: Path, **cfg: object) -> tuple:
    spec = prepare_source(
        "medmnist_pair",
        {"size": 28, "download_dir": str(fixture_checksums), "url_override": offline_base, **cfg},
        out,
    )
    return spec, load_dataset(out, validate=True)


def test_pair_random_same_split(fixture_checksums: Path, offline_base: str, tmp_path: Path) -> None:
    path = write_npz(fixture_checksums / "pathmnist.npz", (28, 28, 3), classes=9, seed=1)
    organ = write_npz(
        fixture_checksums / "organamnist.npz",
        (28, 28),
        classes=11,
        seed=2,
        sizes={"train": 11, "val": 22, "test": 11},
    )
    spec, ds = _pair(fixture_checksums, offline_base, tmp_path / "a", seed=5)
    assert list(spec.modalities) == ["path", "organ"] and spec.modalities["organ"].channels == 1
    assert spec.labels == mm.subset("pathmnist", 28).labels
    by_case = ds.images.groupby("case_id")
    assert by_case.size().eq(2).all()
    for case in ds.cases.itertuples():
        i, j = int(case.source_index), int(case.organ_source_index)
        assert case.label == spec.labels[path[f"{case.split}_labels"][i, 0]]
        assert case.organ_source_label == mm.subset("organamnist", 28).labels[organ[f"{case.split}_labels"][j, 0]]
        rows = by_case.get_group(case.case_id).set_index("modality")["path"]
        with Image.open(tmp_path / "a" / rows["organ"]) as im:  # the organ image is from the same split
            np.testing.assert_array_equal(np.asarray(im), organ[f"{case.split}_images"][j])
    train = ds.cases[ds.cases["split"] == "train"]
    assert max(Counter(train["organ_source_index"]).values()) <= 2  # 14 paths over 11 organs: reuse <= 2
    pairing = spec.metadata["pairing"]
    assert pairing["policy"] == "random_same_split" and pairing["seed"] == 5
    assert pairing["corresponding_samples"] is False and "NOT corresponding" in pairing["statement"]
    assert not (tmp_path / "a" / "reports.csv").exists()
    shared = train[train.duplicated("organ_source_index", keep=False)]  # a reused organ image: one group
    assert len(shared) and shared.groupby("organ_source_index")["group_id"].nunique().eq(1).all()
    assert (shared["group_id"] != "").all()

    _, again = _pair(fixture_checksums, offline_base, tmp_path / "b", seed=5)
    _, other = _pair(fixture_checksums, offline_base, tmp_path / "c", seed=6)
    assert again.cases.equals(ds.cases)
    assert not other.cases["organ_source_index"].equals(ds.cases["organ_source_index"])


def test_pair_class_aligned(fixture_checksums: Path, offline_base: str, tmp_path: Path) -> None:
    write_npz(fixture_checksums / "pathmnist.npz", (28, 28, 3), classes=9, seed=1)
    write_npz(
        fixture_checksums / "organamnist.npz",
        (28, 28),
        classes=11,
        seed=2,
        sizes={"train": 22, "val": 11, "test": 11},
    )
    spec, ds = _pair(
        fixture_checksums,
        offline_base,
        tmp_path / "out",
        pairing="class_aligned",
        max_per_split=9,
        modalities=["histo", "ct"],
    )
    organ_labels = mm.subset("organamnist", 28).labels
    for case in ds.cases.itertuples():
        k = spec.labels.index(case.label)
        assert case.ct_source_label == organ_labels[k % 11]
    assert Counter(ds.cases["split"]) == {"train": 9, "val": 9, "test": 9}
    assert spec.metadata["pairing"]["policy"] == "class_aligned"
    assert spec.name == "pathmnist_organamnist_28_max9"


def test_pair_class_aligned_needs_the_classes(fixture_checksums: Path, offline_base: str, tmp_path: Path) -> None:
    write_npz(fixture_checksums / "pathmnist.npz", (28, 28, 3), classes=9)
    write_npz(fixture_checksums / "organamnist.npz", (28, 28), classes=3)  # organ classes 3..10 absent
    with pytest.raises(ConfigError, match=r"organamnist train split: .*random_same_split"):
        _pair(fixture_checksums, offline_base, tmp_path / "out", pairing="class_aligned")
    assert not (tmp_path / "out").exists()


def test_duplicate_images_are_grouped_and_never_in_train_and_test(
    fixture_checksums: Path, offline_base: str, tmp_path: Path
) -> None:
    """As in the official BreastMNIST file (train 115 == test 76): the test copy stays, the train copy goes."""
    arrays = write_npz(fixture_checksums / "pathmnist.npz", (28, 28, 3), classes=9)
    arrays["train_images"][3] = arrays["test_images"][5]  # across splits
    arrays["train_images"][7] = arrays["train_images"][8]  # within one split
    np.savez(fixture_checksums / "pathmnist.npz", **arrays)
    out = tmp_path / "data"
    spec = prepare_source(
        "medmnist", {"flag": "pathmnist", "download_dir": str(fixture_checksums), "url_override": offline_base}, out
    )
    ds = load_dataset(out, validate=True)  # the validator refuses one image under two groups
    ids = set(ds.cases["case_id"])
    assert "train_000003" not in ids and "test_000005" in ids and not (out / "images/path/train_000003.png").exists()
    assert spec.metadata["duplicates"]["dropped"] == {"train_000003": "test_000005"}
    groups = ds.cases.set_index("case_id")["group_id"]
    assert groups["train_000007"] == groups["train_000008"] != ""
    assert Counter(ds.cases["split"]) == {**SPLIT_SIZES, "train": SPLIT_SIZES["train"] - 1}
