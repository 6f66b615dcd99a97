"""Decode, resize, crop and normalise every image ONCE into a cached array per modality.

TMM-Net §4.2: images are read as RGB (here: as the modality's declared channel count), the short
side is resized to the target size, a centred square is cropped, and pixels are normalised. Doing it
once means training epochs only slice a float16 array in memory: the data path can never starve the
model (see `bench/`).

Cache layout (`results/<dataset>/data/cache/`):
- `images_<modality>.npy`: float16 [N, C, S, S], normalised;
- `images.csv`: case_id, modality, path, row (row into that modality's array), in images.csv order;
- `cases.csv`: case_id, centre, label (name), y (class index), one int column per attribute;
- `text_<column>.npy`: int32 [n_cases, L] report token ids (corpus ranks, 0 = padding), rows in
  cases.csv order, for `report` and every `report.<modality>` column;
- `meta.json`: sizes, normalisation, the dataset spec and checksum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from mmdiag.data.byo import Dataset
from mmdiag.data.corpus import Corpus
from mmdiag.io import atomic_path, write_json

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Grey images use the mean of the ImageNet statistics, as timm does when it adapts RGB weights to 1 channel.
GREY_MEAN = (float(np.mean(IMAGENET_MEAN)),)
GREY_STD = (float(np.mean(IMAGENET_STD)),)


def normalisation(channels: int, cfg: Mapping[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel: ImageNet statistics (pretrained encoders expect them) unless configured."""
    if cfg.get("mean") is not None and cfg.get("std") is not None:
        mean, std = tuple(cfg["mean"]), tuple(cfg["std"])
        if len(mean) == 1 and channels > 1:
            mean, std = mean * channels, std * channels
        return mean[:channels], std[:channels]
    return (GREY_MEAN, GREY_STD) if channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)


def load_image(path: Path, channels: int, size: int) -> np.ndarray:
    """Decode, short-side resize (antialiased bilinear), centre crop; returns uint8 [C, size, size]."""
    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def encode_modality(
    ds: Dataset, modality: str, size: int, norm_cfg: Mapping[str, Any], progress: bool = True
) -> tuple[np.ndarray, pd.DataFrame]:
    """All images of one modality as a normalised float16 array, plus their index rows."""
    channels = ds.spec.modalities[modality].channels
    rows = ds.images[ds.images["modality"] == modality].reset_index(drop=True)
    out = np.empty((len(rows), channels, size, size), dtype=np.float16)
    mean, std = normalisation(channels, norm_cfg)
    m = np.asarray(mean, dtype=np.float32)[:, None, None] * 255.0
    s = np.asarray(std, dtype=np.float32)[:, None, None] * 255.0
    for i, rel in enumerate(tqdm(rows["path"], desc=f"preprocess {modality}", disable=not progress, mininterval=2.0)):
        out[i] = (load_image(ds.root / rel, channels, size).astype(np.float32) - m) / s
    index = rows[["case_id", "modality", "path"]].assign(row=np.arange(len(rows)))
    return out, index


def case_table(ds: Dataset) -> pd.DataFrame:
    """Cases with integer label and attribute codes (vocabulary positions)."""
    spec = ds.spec
    table = ds.cases[["case_id", "centre", "label"]].copy()
    table["y"] = table["label"].map({name: i for i, name in enumerate(spec.labels)}).astype(int)
    for mod, attrs in spec.attributes.items():
        for attr, values in attrs.items():
            col = f"{mod}.{attr}"
            table[col] = ds.cases[col].map({v: i for i, v in enumerate(values)}).astype(int)
    return table


def report_columns(ds: Dataset) -> list[str]:
    """`report` plus each `report.<modality>` section the folder provides."""
    return ["report"] + [c for c in ds.reports.columns if c.startswith("report.")]


def preprocess(
    ds: Dataset, corpus: Corpus, out_dir: str | Path, cfg: Mapping[str, Any], checksum: str, progress: bool = True
) -> dict[str, Any]:
    """Write the whole cache (see module docstring) into `out_dir`; returns the meta record."""
    out_dir = Path(out_dir)
    size = int(cfg.get("size", 32))
    index_parts = []
    shapes = {}
    for mod in ds.spec.modality_names:
        arr, index = encode_modality(ds, mod, size, cfg, progress)
        with atomic_path(out_dir / f"images_{mod}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr)
        index_parts.append(index)
        shapes[mod] = list(arr.shape)
    cases = case_table(ds)
    reports = ds.reports.set_index("case_id").reindex(cases["case_id"])
    for col in report_columns(ds):
        ids, _ = corpus.encode(reports[col].astype(str).tolist())
        with atomic_path(out_dir / f"text_{col}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, ids)
    with atomic_path(out_dir / "images.csv") as tmp:
        pd.concat(index_parts).to_csv(tmp, index=False)
    with atomic_path(out_dir / "cases.csv") as tmp:
        cases.to_csv(tmp, index=False)
    meta = {
        "size": size,
        "shapes": shapes,
        "normalisation": {m: normalisation(ds.spec.modalities[m].channels, cfg) for m in ds.spec.modality_names},
        "report_columns": report_columns(ds),
        "text_length": corpus.max_length,
        "vocab_size": corpus.vocab_size,
        "id_to_char": ["", "", *corpus.chars],  # ids 0 (padding) and 1 (unknown) decode to nothing
        "dataset": ds.spec.to_dict(),
        "dataset_checksum": checksum,
    }
    write_json(out_dir / "meta.json", meta)
    return meta


def modality_order(spec_modalities: Sequence[str], wanted: Sequence[str] | None) -> list[str]:
    """Requested modalities in dataset order; all of them when `wanted` is None."""
    return list(spec_modalities) if not wanted else [m for m in spec_modalities if m in set(wanted)]
