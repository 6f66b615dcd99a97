"""Preprocessing cache and in-memory batches: resize/crop, normalisation, pairing, seeded order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmdiag.data.augment import RandomFlip
from mmdiag.data.batches import Cache, SampleSet
from mmdiag.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, load_image, normalisation
from mmdiag.io import read_json


def test_short_side_resize_then_centre_crop(tmp_path: Path) -> None:
    arr = np.zeros((40, 80, 3), dtype=np.uint8)  # wide image: left half black, right half white
    arr[:, 40:] = 255
    Image.fromarray(arr).save(tmp_path / "x.png")
    out = load_image(tmp_path / "x.png", 3, 20)  # -> 20x40, then the centre 20x20
    assert out.shape == (3, 20, 20)
    assert out[:, :, :9].max() < 30 and out[:, :, 11:].min() > 225  # the edge stays in the middle
    grey = load_image(tmp_path / "x.png", 1, 20)
    assert grey.shape == (1, 20, 20)


def test_normalisation_defaults() -> None:
    assert normalisation(3, {}) == (IMAGENET_MEAN, IMAGENET_STD)
    mean, std = normalisation(1, {})
    assert len(mean) == len(std) == 1
    assert normalisation(3, {"mean": [0.5], "std": [0.25]}) == ((0.5,) * 3, (0.25,) * 3)


def test_cache_contents(tiny_cache: Path) -> None:
    cache = Cache.load(tiny_cache / "cache")
    meta = read_json(tiny_cache / "cache" / "meta.json")
    assert set(cache.images) == {"eus", "wle"}
    assert cache.images["eus"].shape[1:] == (1, 32, 32) and cache.images["wle"].shape[1:] == (3, 32, 32)
    assert cache.images["eus"].dtype == torch.float16
    assert abs(float(cache.images["wle"].float().mean())) < 2.0  # normalised, not raw 0..255
    assert meta["dataset_checksum"] and "report.eus" in meta["report_columns"]
    assert cache.texts["report"].shape[0] == len(cache.cases)


def test_pairing_policies(tiny_cache: Path) -> None:
    cache = Cache.load(tiny_cache / "cache")
    case_ids = cache.cases["case_id"].tolist()[:5]
    cyclic = SampleSet(cache, case_ids, ["eus", "wle"], pairing="cyclic")
    allp = SampleSet(cache, case_ids, ["eus", "wle"], pairing="all")
    n = cache.image_index.groupby(["case_id", "modality"]).size()
    per_case = [max(n[c, "eus"], n[c, "wle"]) for c in case_ids]
    assert len(cyclic) == sum(per_case)
    assert len(allp) == sum(n[c, "eus"] * n[c, "wle"] for c in case_ids)
    # every sample's images belong to its own case
    idx = cache.image_index.set_index("row")
    for m in ("eus", "wle"):
        rows = idx[idx.modality == m]
        assert [rows.loc[r, "case_id"] for r in cyclic.rows[m].tolist()] == cyclic.case_ids
    with pytest.raises(ValueError, match="pairing"):
        SampleSet(cache, case_ids, ["eus"], pairing="zip")


def test_order_depends_only_on_seed_and_epoch(tiny_cache: Path) -> None:
    cache = Cache.load(tiny_cache / "cache")
    s = SampleSet(cache, cache.cases["case_id"].tolist(), ["eus"])
    assert torch.equal(s.order(3, 0, True), s.order(3, 0, True))
    assert not torch.equal(s.order(3, 0, True), s.order(4, 0, True))
    assert torch.equal(s.order(0, 0, False), torch.arange(len(s)))
    balanced = s.order(0, 0, True, sampler="class_balanced")
    assert len(balanced) == len(s)


def test_batch_contents_and_augment(tiny_cache: Path) -> None:
    cache = Cache.load(tiny_cache / "cache")
    s = SampleSet(cache, cache.cases["case_id"].tolist(), ["eus", "wle"])
    b = next(s.batches(8))
    assert b["images"]["eus"].dtype == torch.float32 and b["images"]["eus"].shape == (8, 1, 32, 32)
    assert b["label"].shape == (8,) and b["attrs"]["eus"].shape == (8, 6) and b["attrs"]["wle"].shape == (8, 5)
    assert b["text"]["report"].shape[0] == 8
    flipped = {m: RandomFlip(1.0)(x, torch.Generator().manual_seed(0), m) for m, x in b["images"].items()}
    assert torch.equal(flipped["eus"], b["images"]["eus"].flip(-1))
    assert sum(x["label"].shape[0] for x in s.batches(8, drop_last=True)) == (len(s) // 8) * 8


# -- decoding: bit depth and value range (issue 12 #1) ----------------------------------------------


def _gradient(h: int = 40, w: int = 56) -> np.ndarray:
    """8-bit grey test picture: every value 0..255 appears, with structure so resizing matters."""
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 255 // (w - 1) + 60 * np.sin(y / 3.0)).clip(0, 255)).astype(np.uint8)


def _variants(tmp_path: Path, grey: np.ndarray) -> dict[str, Path]:
    """The same picture in every mode worth decoding: 8-bit, 16-bit (LE/BE, PNG/TIFF), 12-bit-in-16, float."""
    out = {}

    def save(name: str, image: Image.Image) -> None:
        out[name] = tmp_path / name
        image.save(out[name])

    save("l.png", Image.fromarray(grey))
    save("i16.png", Image.fromarray(grey.astype(np.uint16) * 257))
    save("i16.tif", Image.fromarray(grey.astype(np.uint16) * 257))
    big = (grey.astype(np.uint16) * 257).astype(">u2")
    save("i16b.tif", Image.frombytes("I;16B", grey.shape[::-1], big.tobytes()))
    save("i12.png", Image.fromarray(np.rint(grey * (4095 / 255)).astype(np.uint16)))
    save("i32.tif", Image.fromarray(grey.astype(np.int32) * 257))
    save("f01.tif", Image.fromarray(grey.astype(np.float32) / 255))
    save("f255.tif", Image.fromarray(grey.astype(np.float32)))
    return out


def test_every_bit_depth_decodes_to_the_8bit_picture(tmp_path: Path) -> None:
    """A 16-bit copy averaged 242.6 vs 116.7 (clipped); float [0, 1] became black. Now all agree."""
    from mmdiag.data.validation.image_decode import decode_problem, load_pixels

    grey = _gradient()
    files = _variants(tmp_path, grey)
    reference = load_pixels(files["l.png"], 1, 24)
    assert Image.open(files["i16b.tif"]).mode == "I;16B" and Image.open(files["i16.png"]).mode == "I;16"
    for name, path in files.items():
        assert decode_problem(path) is None, name
        for channels in (1, 3):
            arr = load_pixels(path, channels, 24)
            assert arr.shape == (channels, 24, 24)
            np.testing.assert_allclose(arr, np.repeat(reference, channels, 0), atol=1.0, err_msg=name)
        assert abs(load_image(path, 1, 24).mean() - grey.mean()) < 2.0, name


def test_eight_bit_modes_convert_like_pillow(tmp_path: Path) -> None:
    """1-bit, palette, alpha (dropped, not composited) and CMYK: the picture, never a black or white frame."""
    from mmdiag.data.validation.image_decode import load_pixels

    rgb = Image.merge("RGB", [Image.fromarray(_gradient())] * 3)
    cases = {
        "bit.png": (rgb.convert("1"), rgb.convert("1").convert("L")),
        "p.png": (rgb.convert("P"), rgb.convert("P").convert("RGB")),
        "la.png": (rgb.convert("LA"), rgb.convert("L")),
        "rgba.png": (rgb.convert("RGBA"), rgb),
        "cmyk.tif": (rgb.convert("CMYK"), rgb.convert("CMYK").convert("RGB")),
    }
    for name, (image, expected) in cases.items():
        rgba = image.copy()
        if name == "rgba.png":
            rgba.putalpha(0)  # fully transparent: alpha is dropped, the colours stay
        rgba.save(tmp_path / name)
        channels = 1 if expected.mode == "L" else 3
        want = np.asarray(expected.resize((28, 20), Image.Resampling.BILINEAR), dtype=np.float32)
        got = load_pixels(tmp_path / name, channels, 20)
        want = want[None] if want.ndim == 2 else want.transpose(2, 0, 1)
        np.testing.assert_allclose(got, want[:, :, 4:24], atol=1.0, err_msg=name)


def test_one_bit_depth_per_modality_keeps_relative_brightness(tmp_path: Path) -> None:
    """12-bit data in 16-bit files fills the range; a dark image of the same modality stays dark."""
    from byo_fixtures import write_cases_dataset
    from mmdiag.data.byo import load_dataset
    from mmdiag.data.corpus import build_corpus
    from mmdiag.data.preprocess import preprocess

    rows = [{"case_id": f"c{k}", "centre": "a", "label": ("gist", "non_gist")[k % 2]} for k in range(2)]
    root = write_cases_dataset(tmp_path / "byo", rows, modalities=("eus",))
    bright = np.full((12, 16), 4095, dtype=np.uint16)
    Image.fromarray(bright).save(root / "images/c0/eus.png")
    Image.fromarray(bright // 4).save(root / "images/c1/eus.png")
    (root / "dataset.yaml").write_text((root / "dataset.yaml").read_text().replace("  wle: {channels: 3}\n", ""))
    ds = load_dataset(root)
    meta = preprocess(ds, build_corpus([], 8), tmp_path / "cache", {"size": 8}, "x", progress=False)
    assert meta["bit_depth"] == {"eus": 12} and meta["image_modes"] == {"eus": {"I;16": 2}}
    cache = Cache.load(tmp_path / "cache")
    (mean,), (std,) = normalisation(1, {})
    pixels = cache.images["eus"].float() * std * 255 + mean * 255
    assert torch.allclose(pixels[0], torch.full_like(pixels[0], 255.0), atol=0.5)
    assert torch.allclose(pixels[1], torch.full_like(pixels[1], 1023 * 255 / 4095), atol=0.5)


# -- optional reports, sparse attributes, missing modalities (issues 10/11, contracts C1-C3) --------

ATTR_YAML = """\
name: mixed
task: binary
labels: [non_gist, gist]
modalities:
  eus: {channels: 1}
  wle: {channels: 3}
attributes:
  eus:
    echo: [hypo, iso, hyper]
"""


@pytest.fixture
def partial_cache(tmp_path: Path) -> Cache:
    """6 cases, no reports.csv, sparse eus.echo; c1 lacks wle, c2 lacks eus (30 % incomplete, like issue 11)."""
    from byo_fixtures import write_cases_dataset
    from mmdiag.data.byo import load_dataset
    from mmdiag.data.corpus import build_corpus
    from mmdiag.data.preprocess import preprocess

    echo = ["hypo", "", "iso", "", "hyper", "hypo"]
    rows = [
        {"case_id": f"c{k}", "centre": "a", "label": ("gist", "non_gist")[k % 2], "eus.echo": echo[k]} for k in range(6)
    ]
    missing = {("c1", "wle"), ("c2", "eus")}
    root = write_cases_dataset(tmp_path / "byo", rows, yaml_text=ATTR_YAML, missing=missing, reports=False)
    ds = load_dataset(root)  # validates: no reports.csv, missing modalities and empty cells are all fine
    corpus = build_corpus([], 16)
    preprocess(ds, corpus, tmp_path / "cache", {"size": 8}, "x", progress=False)
    return Cache.load(tmp_path / "cache")


def test_no_reports_and_sparse_attributes_in_the_cache(partial_cache: Cache) -> None:
    meta = partial_cache.meta
    assert meta["report_columns"] == [] and meta["has_reports"] is False
    assert not list(partial_cache.root.glob("text_*.npy")) and partial_cache.texts == {}
    assert partial_cache.cases["eus.echo"].tolist() == [0, -1, 1, -1, 2, 0]
    s = SampleSet(partial_cache, ["c0", "c1"], ["eus"])
    b = s.batch(torch.arange(len(s)))
    assert b["text"] == {} and b["attrs"]["eus"][:, 0].tolist() == [0, -1]


def test_missing_modality_drop_and_token(partial_cache: Cache) -> None:
    ids = [f"c{k}" for k in range(6)]
    drop = SampleSet(partial_cache, ids, ["eus", "wle"])
    assert drop.dropped_cases == ["c1", "c2"] and drop.case_ids == ["c0", "c3", "c4", "c5"]
    assert all(bool(p.all()) for p in drop.batch(torch.arange(len(drop)))["present"].values())
    token = SampleSet(partial_cache, ids, ["eus", "wle"], missing="token")
    assert token.dropped_cases == [] and token.case_ids == ids
    b = token.batch(torch.arange(len(token)))
    assert b["present"]["wle"].tolist() == [True, False, True, True, True, True]
    assert b["present"]["eus"].tolist() == [True, True, False, True, True, True]
    assert float(b["images"]["wle"][1].abs().sum()) == 0.0 and float(b["images"]["wle"][0].abs().sum()) > 0
    only_eus = SampleSet(partial_cache, ids, ["eus"], missing="token")  # a case with none of M is dropped
    assert only_eus.dropped_cases == ["c2"]
    with pytest.raises(ValueError, match="missing-modality policy"):
        SampleSet(partial_cache, ids, ["eus"], missing="impute")


def test_modality_dropout_is_seeded_and_training_only(partial_cache: Cache) -> None:
    ids = [f"c{k}" for k in range(6)]
    s = SampleSet(partial_cache, ids, ["eus", "wle"], missing="token", modality_dropout=0.6)

    def present(epoch: int, shuffle: bool) -> list[list[bool]]:
        out = []
        for b in s.batches(3, epoch=epoch, seed=1, shuffle=shuffle):
            out += torch.stack([b["present"]["eus"], b["present"]["wle"]], 1).tolist()
            hidden = ~b["present"]["wle"]
            assert float(b["images"]["wle"][hidden].abs().sum()) == 0.0
        return out

    assert present(2, True) == present(2, True)  # (seed, epoch) decide: resume gives the same batches
    assert all(any(row) for row in present(2, True))  # never a sample without any image
    assert present(0, False) == [[True, False] if i == "c1" else [i != "c2", True] for i in ids]  # eval: untouched
    hidden = sum(row.count(False) for e in range(6) for row in present(e, True)) - 6 * 2
    assert hidden > 0


def test_a_modality_without_any_image(tmp_path: Path) -> None:
    """A declared modality no case has: a 0-row cache array, zeros in token mode, every case dropped in drop mode."""
    from byo_fixtures import write_cases_dataset
    from mmdiag.data.byo import load_dataset
    from mmdiag.data.corpus import build_corpus
    from mmdiag.data.preprocess import preprocess

    rows = [{"case_id": f"c{k}", "centre": "a", "label": ("gist", "non_gist")[k % 2]} for k in range(4)]
    root = write_cases_dataset(tmp_path / "byo", rows, missing={(f"c{k}", "wle") for k in range(4)}, reports=False)
    preprocess(load_dataset(root), build_corpus([], 8), tmp_path / "cache", {"size": 8}, "x", progress=False)
    cache = Cache.load(tmp_path / "cache")
    assert cache.images["wle"].shape == (0, 3, 8, 8)
    token = SampleSet(cache, ["c0", "c1", "c2", "c3"], ["eus", "wle"], missing="token", modality_dropout=0.5)
    b = next(token.batches(4, shuffle=True))
    assert b["images"]["wle"].shape == (4, 3, 8, 8) and not b["present"]["wle"].any() and b["present"]["eus"].all()
    drop = SampleSet(cache, ["c0", "c1", "c2", "c3"], ["eus", "wle"])
    assert len(drop) == 0 and drop.dropped_cases == ["c0", "c1", "c2", "c3"]
