"""Decode, resize, crop and normalise every image ONCE into a cached array per modality.

TMM-Net §4.2: images are read as RGB (here: as the modality's declared channel count), the short
side is resized to the target size, a centred square is cropped, and pixels are normalised. Doing it
once means training epochs only slice a float16 array in memory: the data path can never starve the
model (see `bench/`).

The cache's files are listed in `mmdiag.data.cache_layout`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from mmdiag.config.fields import fill
from mmdiag.config.sections import PreprocessConfig
from mmdiag.data import cache_layout
from mmdiag.data.byo import Dataset
from mmdiag.data.corpus import Corpus
from mmdiag.data.format import IMAGES_CSV, SECTION_PREFIX
from mmdiag.data.validation.image_decode import ImageModeError, load_pixels, scan_images
from mmdiag.errors import DataFormatError
from mmdiag.io import atomic_path, write_json

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Grey images use the mean of the ImageNet statistics, as timm does when it adapts RGB weights to 1 channel.
GREY_MEAN = (float(np.mean(IMAGENET_MEAN)),)
GREY_STD = (float(np.mean(IMAGENET_STD)),)
NOT_ANNOTATED = -1  # attribute code of an empty cases.csv cell (sparse annotation)


def normalisation(channels: int, cfg: Mapping[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel: ImageNet statistics (pretrained encoders expect them) unless configured."""
    if cfg.get("mean") is not None and cfg.get("std") is not None:
        mean, std = tuple(cfg["mean"]), tuple(cfg["std"])
        if len(mean) == 1 and channels > 1:
            mean, std = mean * channels, std * channels
        return mean[:channels], std[:channels]
    return (GREY_MEAN, GREY_STD) if channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)


def load_image(path: Path, channels: int, size: int, bits: int | None = None) -> np.ndarray:
    """Decode, short-side resize (antialiased bilinear), centre crop; returns uint8 [C, size, size].

    The shared decoder (`mmdiag.data.validation.image_decode.load_pixels`) rounded to 8 bits; `bits` is
    the bit depth of integer-mode images (None: from the image's own largest value).
    """
    return np.clip(np.rint(load_pixels(path, channels, size, bits)), 0, 255).astype(np.uint8)


def encode_modality(
    ds: Dataset, modality: str, size: int, norm_cfg: Mapping[str, Any], progress: bool = True
) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any]]:
    """All images of one modality as a normalised float16 array, their index rows, and what was decoded.

    The third item is `{"modes": {mode: count}, "bits": b or None}`: the Pillow modes met and the one
    bit depth used for this modality's integer-mode images (see `image_decode`).

    Raises:
        DataFormatError: an image whose mode or values the decoder refuses, named by its path.
    """
    channels = ds.spec.modalities[modality].channels
    rows = ds.images[ds.images["modality"] == modality].reset_index(drop=True)
    out = np.empty((len(rows), channels, size, size), dtype=np.float16)
    mean, std = normalisation(channels, norm_cfg)
    m = np.asarray(mean, dtype=np.float32)[:, None, None] * 255.0
    s = np.asarray(std, dtype=np.float32)[:, None, None] * 255.0
    paths = [ds.root / rel for rel in rows["path"]]
    try:
        scan = scan_images(paths)
    except ImageModeError as exc:
        raise _refused(ds, exc) from None
    for i, path in enumerate(tqdm(paths, desc=f"preprocess {modality}", disable=not progress, mininterval=2.0)):
        try:
            out[i] = (load_pixels(path, channels, size, scan.bits) - m) / s
        except ImageModeError as exc:
            raise _refused(ds, exc, path) from None
    index = rows[["case_id", "modality", "path"]].assign(row=np.arange(len(rows)))
    return out, index, {"modes": dict(sorted(scan.modes.items())), "bits": scan.bits}


def _refused(ds: Dataset, exc: ImageModeError, path: Path | None = None) -> DataFormatError:
    where = getattr(exc, "path", None) or path
    rel = Path(where).relative_to(ds.root).as_posix() if where is not None else "an image"
    return DataFormatError(str(ds.root), [f"{IMAGES_CSV}: {rel} {exc}"])


def case_table(ds: Dataset) -> pd.DataFrame:
    """Cases with integer label and attribute codes (vocabulary positions; -1 = not annotated)."""
    spec = ds.spec
    table = ds.cases[["case_id", "centre", "label"]].copy()
    table["y"] = table["label"].map({name: i for i, name in enumerate(spec.labels)}).astype(int)
    for mod, attrs in spec.attributes.items():
        for attr, values in attrs.items():
            col = f"{mod}.{attr}"
            codes = ds.cases[col].map({v: i for i, v in enumerate(values)})
            table[col] = codes.fillna(NOT_ANNOTATED).astype(int)
    return table


def report_columns(ds: Dataset) -> list[str]:
    """`report` plus each `report.<modality>` section the folder provides; [] without reports.csv."""
    if not ds.has_reports:
        return []
    return ["report"] + [c for c in ds.reports.columns if c.startswith(SECTION_PREFIX)]


def preprocess(
    ds: Dataset, corpus: Corpus, out_dir: str | Path, cfg: Mapping[str, Any], checksum: str, progress: bool = True
) -> dict[str, Any]:
    """Write the whole cache (see module docstring) into `out_dir`; returns the meta record.

    Every file is written to a temporary sibling and renamed only once all of them are complete, so
    a refused image or a full disk leaves the previous cache (or nothing), never a mix.
    """
    out_dir = Path(out_dir)
    size = int(fill(PreprocessConfig, cfg).size)  # the `preprocess` section; a key left out takes its default
    index_parts = []
    shapes = {}
    decoded = {}
    with ExitStack() as stack:

        def target(name: str) -> Path:
            return stack.enter_context(atomic_path(out_dir / name))

        for mod in ds.spec.modality_names:
            arr, index, decoded[mod] = encode_modality(ds, mod, size, cfg, progress)
            with open(target(cache_layout.image_array(mod)), "wb") as fh:
                np.save(fh, arr)
            index_parts.append(index)
            shapes[mod] = list(arr.shape)
            del arr
        cases = case_table(ds)
        columns = report_columns(ds)
        reports = ds.reports.set_index("case_id").reindex(cases["case_id"])
        for col in columns:
            ids, _ = corpus.encode(reports[col].astype(str).tolist())
            with open(target(cache_layout.text_array(col)), "wb") as fh:
                np.save(fh, ids)
        pd.concat(index_parts).to_csv(target(cache_layout.IMAGE_INDEX), index=False)
        cases.to_csv(target(cache_layout.CASES), index=False)
        meta = {
            "size": size,
            "shapes": shapes,
            "normalisation": {m: normalisation(ds.spec.modalities[m].channels, cfg) for m in ds.spec.modality_names},
            "image_modes": {m: d["modes"] for m, d in decoded.items()},
            "bit_depth": {m: d["bits"] for m, d in decoded.items()},
            "report_columns": columns,
            "has_reports": bool(columns),
            "text_length": corpus.max_length,
            "vocab_size": corpus.vocab_size,
            "id_to_char": ["", "", *corpus.chars],  # ids 0 (padding) and 1 (unknown) decode to nothing
            "dataset": ds.spec.to_dict(),
            "dataset_checksum": checksum,
        }
    write_json(out_dir / cache_layout.META, meta)  # last: the rule's declared output
    return meta


def modality_order(spec_modalities: Sequence[str], wanted: Sequence[str] | None) -> list[str]:
    """Requested modalities in dataset order; all of them when `wanted` is None."""
    return list(spec_modalities) if not wanted else [m for m in spec_modalities if m in set(wanted)]
