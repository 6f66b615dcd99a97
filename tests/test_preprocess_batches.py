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
