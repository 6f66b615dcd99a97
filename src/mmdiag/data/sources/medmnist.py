"""MedMNIST 2D subsets converted into the BYO format (one sample = one case).

Everything about a subset — URLs and MD5s per size, label names, channels, licence — comes from the
installed `medmnist` package's `medmnist.info.INFO`, so a medmnist upgrade brings its corrections
with it. The `.npz` files are read by the project's own streaming reader (`sources.npz`). MedMNIST has
no text: no reports.csv is written (no placeholder sentence), so text-guided studies are left out.
Pixel-identical samples are grouped, and one that sits in two official splits is kept only in the
later one (test, then val), see `sources.duplicates`.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from mmdiag.config.fields import make_section, object_schema, option
from mmdiag.data.byo import atomic_dir, write_tables
from mmdiag.data.format import DatasetSpec, ModalitySpec
from mmdiag.data.sources.config import download_dir, resolve_config
from mmdiag.data.sources.download import RemoteFile, fetch, mirror_url
from mmdiag.data.sources.duplicates import group_shared_images
from mmdiag.data.sources.npz import NpzArchive
from mmdiag.data.sources.sampling import stratified_subsample
from mmdiag.errors import ConfigError, DataFormatError

SPLITS = ("train", "val", "test")
SIZES = (28, 64, 128, 224)
TASKS = {"multi-class": "multiclass", "binary-class": "binary", "ordinal-regression": "multiclass"}
HOMEPAGE = "https://medmnist.com/"
ZENODO_RECORD = "https://zenodo.org/records/10519652"
CITATION = (
    "Yang J, Shi R, Wei D, Liu Z, Zhao L, Ke B, Pfister H, Ni B. MedMNIST v2 - A large-scale lightweight "
    "benchmark for 2D and 3D biomedical image classification. Scientific Data 10, 41 (2023). "
    "doi:10.1038/s41597-022-01721-8"
)
# Imaging technique per subset, for modality descriptions (MedMNIST v2 paper, Table 1); INFO lacks a short form.
IMAGING = {
    "pathmnist": "colon pathology",
    "chestmnist": "chest X-ray",
    "dermamnist": "dermatoscopy",
    "octmnist": "retinal OCT",
    "pneumoniamnist": "chest X-ray",
    "retinamnist": "fundus photography",
    "breastmnist": "breast ultrasound",
    "bloodmnist": "blood cell microscopy",
    "tissuemnist": "kidney cortex microscopy",
    "organamnist": "abdominal CT (axial)",
    "organcmnist": "abdominal CT (coronal)",
    "organsmnist": "abdominal CT (sagittal)",
}
NO_TEXT_NOTE = "MedMNIST has no text: the dataset has no reports.csv, so studies that need reports are left out."
DUPLICATES_NOTE = (
    "pixel-identical samples share a group_id; a sample whose pixels also occur in a later official split "
    "(test before val before train) is left out, so the official test set is unchanged and no image is in "
    "both train and test"
)


def shared_fields(unit: str, seeded: str, size: int = 28) -> list[tuple[str, Any, Any]]:
    """Config keys every MedMNIST-based source has, as `make_section` fields.

    Args:
        unit: what one case is (samples, pairs), for the descriptions.
        seeded: what the seed drives, for the descriptions.
        size: the default image side.
    """
    return [
        (
            "size",
            int,
            option(
                size, "image side in pixels; 64/128/224 are the MedMNIST+ files of the same samples", enum=list(SIZES)
            ),
        ),
        (
            "max_per_split",
            int | None,
            option(
                None,
                f"keep at most this many {unit} per official split, drawn with a seeded, label-stratified subsample "
                "(null: all)",
                minimum=1,
            ),
        ),
        ("seed", int, option(0, f"seed of every random choice of the conversion ({seeded})")),
        (
            "name",
            str | None,
            option(
                None,
                "dataset name (results/<name>/); null: derived from the flags, size and max_per_split",
                pattern="^[a-z0-9_]+$",
            ),
        ),
        (
            "download_dir",
            str | None,
            option(
                None,
                "folder holding (or receiving) the official .npz files; a file there with the published MD5 is used "
                "without any network access; null: <dataset folder's parent>/downloads/medmnist",
            ),
        ),
        (
            "url_override",
            str | None,
            option(
                None,
                "base URL of a mirror serving the .npz files under their official names (null: the Zenodo URLs in "
                "medmnist.info.INFO)",
            ),
        ),
        ("timeout_s", float, option(5, "seconds allowed for connecting and for each network read", exclusiveMinimum=0)),
    ]


MedmnistConfig = make_section(
    "MedmnistConfig",
    "`dataset.medmnist`: which subset, at which size, how many.",
    [
        (
            "flag",
            str,
            option(
                "pathmnist",
                "the subset, as named in medmnist.info.INFO (2D, single-label: e.g. pathmnist, dermamnist, "
                "organamnist, bloodmnist, breastmnist)",
                pattern="^[a-z0-9]+$",
            ),
        ),
        *shared_fields("samples", "subsampling"),
        (
            "positive_label",
            str | None,
            option(
                None,
                "binary subsets only: the class SEN/recall refer to (null: the class whose name does not contain "
                "'normal', else the last class)",
            ),
        ),
    ],
    __name__,
)
MEDMNIST_SCHEMA: dict[str, Any] = object_schema(
    MedmnistConfig,
    "One 2D MedMNIST subset converted to the BYO format (one sample = one case, official splits kept).",
)


@dataclass(frozen=True)
class Subset:
    """What the conversion needs to know about one MedMNIST subset at one size."""

    flag: str
    size: int
    display_name: str
    labels: tuple[str, ...]
    label_names: tuple[str, ...]
    channels: int
    task: str
    positive_label: str | None
    licence: str
    description: str
    official_samples: dict[str, int]
    remote: RemoteFile
    medmnist_version: str

    @property
    def modality(self) -> str:
        """Default modality key: the flag without its `mnist` suffix (`pathmnist` -> `path`)."""
        return self.flag.removesuffix("mnist")


def medmnist_info() -> tuple[dict[str, dict[str, Any]], str]:
    """`medmnist.info.INFO` and the package version (imported lazily: medmnist pulls in torch)."""
    try:
        import medmnist.info as info
    except ImportError as exc:
        raise ConfigError(f"the MedMNIST sources need the 'medmnist' package ({exc})") from None
    return info.INFO, str(info.__version__)


def supported_flags() -> list[str]:
    """2D, single-label subsets: the ones a BYO dataset can hold."""
    info, _ = medmnist_info()
    return [f for f, v in info.items() if v["task"] in TASKS and not v["python_class"].endswith("3D")]


def remote_file(flag: str, size: int, url_override: str | None = None) -> RemoteFile:
    """The official `.npz` of `flag` at `size`: INFO's `url`/`MD5` (28 px) or `url_<size>`/`MD5_<size>`."""
    info, _ = medmnist_info()
    entry = info[flag]
    suffix = "" if size == 28 else f"_{size}"
    if f"url{suffix}" not in entry:
        raise ConfigError(f"MedMNIST {flag} has no {size} px file; available: 28 and those in medmnist.info.INFO")
    filename = f"{flag}{suffix}.npz"
    url = mirror_url(url_override, filename) if url_override else entry[f"url{suffix}"]
    return RemoteFile(filename=filename, url=url, md5=entry[f"MD5{suffix}"])


def label_slug(name: str) -> str:
    """A label name fit for `dataset.yaml` and column names: lower case, `[a-z0-9_]`, no leading digit."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return f"class_{slug}" if not slug or slug[0].isdigit() else slug


def subset(flag: str, size: int, url_override: str | None = None, positive_label: str | None = None) -> Subset:
    """Look `flag` up in INFO and check it can become a BYO dataset.

    Raises:
        ConfigError: unknown flag, 3D or multi-label subset, unknown size or positive label.
    """
    info, version = medmnist_info()
    if flag not in info:
        raise ConfigError(f"unknown MedMNIST flag {flag!r}; 2D subsets: {', '.join(supported_flags())}")
    entry = info[flag]
    if entry["python_class"].endswith("3D"):
        raise ConfigError(f"MedMNIST {flag} holds 3D volumes; only 2D subsets are supported")
    if entry["task"] not in TASKS:
        raise ConfigError(f"MedMNIST {flag} is a {entry['task']} task; the BYO format holds one label per case")
    if size not in SIZES:
        raise ConfigError(f"MedMNIST size {size} is not one of {', '.join(map(str, SIZES))}")
    names = tuple(entry["label"][str(i)] for i in range(len(entry["label"])))
    labels = tuple(label_slug(n) for n in names)
    if len(set(labels)) != len(labels):
        raise ConfigError(f"MedMNIST {flag}: label names {names} do not give distinct identifiers")
    task = TASKS[entry["task"]] if len(labels) > 2 else "binary"
    return Subset(
        flag=flag,
        size=size,
        display_name=entry["python_class"],
        labels=labels,
        label_names=names,
        channels=int(entry["n_channels"]),
        task=task,
        positive_label=_positive(flag, labels, names, positive_label) if task == "binary" else None,
        licence=str(entry.get("license", "see the MedMNIST homepage")),
        description=str(entry.get("description", "")),
        official_samples={k: int(v) for k, v in entry["n_samples"].items()},
        remote=remote_file(flag, size, url_override),
        medmnist_version=version,
    )


def _positive(flag: str, labels: tuple[str, ...], names: tuple[str, ...], chosen: str | None) -> str:
    """The configured positive class, else the one not named 'normal' (pneumonia, malignant), else the last.

    Binary MedMNIST subsets do not agree on the index of the abnormal class (BreastMNIST: 0,
    PneumoniaMNIST: 1), so the last-label default of the BYO format would be wrong for one of them.
    """
    if chosen is not None:
        for slug, name in zip(labels, names):
            if chosen in (slug, name):
                return slug
        raise ConfigError(f"positive_label {chosen!r} is not a {flag} label ({', '.join(labels)})")
    abnormal = [slug for slug, name in zip(labels, names) if "normal" not in name.lower()]
    return abnormal[0] if len(abnormal) == 1 else labels[-1]


def read_labels(npz: NpzArchive, sub: Subset) -> dict[str, np.ndarray]:
    """Per official split, the label of every sample, after checking the archive fits `sub`.

    Raises:
        DataFormatError: listing every missing array, wrong shape, dtype, size or label value.
    """
    problems: list[str] = []
    labels: dict[str, np.ndarray] = {}
    for split in SPLITS:
        image_key, label_key = f"{split}_images", f"{split}_labels"
        try:
            shape, dtype = npz.header(image_key)
            y = npz.read(label_key)
        except DataFormatError as exc:
            problems += [str(v) for v in exc.violations]
            continue
        channels = 1 if len(shape) == 3 else (shape[3] if len(shape) == 4 else None)
        if dtype != np.uint8:
            problems.append(f"{image_key}: dtype {dtype}, expected uint8")
        if channels is None or shape[1:3] != (sub.size, sub.size) or channels not in (1, sub.channels):
            problems.append(
                f"{image_key}: shape {shape}, expected (N, {sub.size}, {sub.size}"
                + (")" if sub.channels == 1 else f", {sub.channels})")
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            problems.append(f"{label_key}: shape {y.shape} dtype {y.dtype}, expected N integer labels")
            continue
        if len(y) != shape[0]:
            problems.append(f"{label_key}: {len(y)} labels for {shape[0]} images")
        if len(y) and (y.min() < 0 or y.max() >= len(sub.labels)):
            problems.append(f"{label_key}: values {y.min()}..{y.max()} outside 0..{len(sub.labels) - 1}")
        labels[split] = y.astype(np.int64)
    if problems:
        raise DataFormatError(str(npz.path), problems)
    return labels


def select(labels: np.ndarray, max_per_split: int | None, seed: int, split: str, stream: int = 0) -> np.ndarray:
    """Indices kept in one split: all, or a label-stratified subsample seeded by (seed, stream, split)."""
    if max_per_split is None:
        return np.arange(len(labels))
    return stratified_subsample(labels, max_per_split, [seed, stream, SPLITS.index(split)])


def export_images(
    npz: NpzArchive,
    split: str,
    indices: np.ndarray,
    root: Path,
    modality: str,
    digests: dict[int, str] | None = None,
) -> dict[int, str]:
    """Write rows `indices` of `<split>_images` as PNGs; returns index -> path relative to `root`.

    `digests`, when given, receives index -> sha256 of the row's pixels (shape included).
    """
    paths: dict[int, str] = {}
    rows = npz.iter_rows(f"{split}_images", np.unique(indices))
    for i, image in tqdm(
        rows,
        total=len(np.unique(indices)),
        desc=f"{modality} {split}",
        unit="img",
        file=sys.stderr,
        leave=False,
    ):
        rel = f"images/{modality}/{split}_{i:06d}.png"
        save_png(image, root / rel)
        paths[i] = rel
        if digests is not None:
            digests[i] = pixel_digest(image)
    return paths


def pixel_digest(image: np.ndarray) -> str:
    """sha256 of an image's shape and pixels: equal for identical images whatever their index."""
    return hashlib.sha256(repr(image.shape).encode() + np.ascontiguousarray(image).tobytes()).hexdigest()


def drop_duplicates(
    root: Path, cases: list[dict[str, Any]], images: list[dict[str, str]], digests: dict[str, list[str]]
) -> tuple[list[dict[str, Any]], list[dict[str, str]], dict[str, str]]:
    """Group cases sharing pixels, drop the copies that sit in an earlier official split (and their files).

    Returns the kept cases (with `group_id`), their images, and dropped case -> the case it duplicates.
    """
    groups, dropped = group_shared_images(digests, {c["case_id"]: c["split"] for c in cases})
    kept_cases = [{**c, "group_id": groups.get(c["case_id"], "")} for c in cases if c["case_id"] not in dropped]
    kept_images = [r for r in images if r["case_id"] not in dropped]
    in_use = {r["path"] for r in kept_images}
    for rel in {r["path"] for r in images} - in_use:
        (root / rel).unlink(missing_ok=True)
    return kept_cases, kept_images, dropped


def save_png(image: np.ndarray, path: Path) -> None:
    """Lossless PNG, grey (H, W) or RGB (H, W, 3); PIL writes no timestamp, so bytes are reproducible."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG")


def source_metadata(sub: Subset) -> dict[str, Any]:
    """Provenance of one subset for `dataset.yaml` metadata."""
    return {
        "flag": sub.flag,
        "size": sub.size,
        "medmnist_version": sub.medmnist_version,
        "file": {"name": sub.remote.filename, "url": sub.remote.url, "md5": sub.remote.md5},
        "licence": sub.licence,
        "official_samples": sub.official_samples,
        "label_names": dict(zip(sub.labels, sub.label_names)),
    }


def convert(
    npz_path: str | Path,
    out_dir: str | Path,
    sub: Subset,
    *,
    max_per_split: int | None = None,
    seed: int = 0,
    name: str | None = None,
) -> DatasetSpec:
    """Write the BYO tables and PNGs of one subset's `.npz` into `out_dir` (the caller makes it atomic)."""
    out_dir = Path(out_dir)
    modality = sub.modality
    cases: list[dict[str, Any]] = []
    images: list[dict[str, str]] = []
    case_digests: dict[str, list[str]] = {}
    with NpzArchive(npz_path) as npz:
        labels = read_labels(npz, sub)
        for split in SPLITS:
            keep = select(labels[split], max_per_split, seed, split)
            digests: dict[int, str] = {}
            paths = export_images(npz, split, keep, out_dir, modality, digests)
            for i in keep:
                case_digests[f"{split}_{int(i):06d}"] = [digests[int(i)]]
                case_id = f"{split}_{int(i):06d}"
                cases.append(
                    {
                        "case_id": case_id,
                        "centre": sub.flag,
                        "label": sub.labels[labels[split][i]],
                        "split": split,
                        "source_index": int(i),
                    }
                )
                images.append({"case_id": case_id, "modality": modality, "path": paths[int(i)]})
    cases, images, dropped = drop_duplicates(out_dir, cases, images, case_digests)
    counts = pd.Series([c["split"] for c in cases]).value_counts()
    spec = DatasetSpec(
        name=name or default_name([sub.flag], sub.size, max_per_split),
        labels=sub.labels,
        modalities={modality: ModalitySpec(modality, sub.channels, f"{sub.display_name}: {IMAGING.get(sub.flag, '')}")},
        task=sub.task,
        positive_label=sub.positive_label,
        centres=(sub.flag,),
        synthetic=False,
        description=f"{sub.display_name} ({sub.size}x{sub.size}) from MedMNIST, converted by mmdiag. "
        + sub.description,
        metadata={
            "source": "medmnist",
            **source_metadata(sub),
            "homepage": HOMEPAGE,
            "citation": CITATION,
            "converted_samples": {s: int(counts.get(s, 0)) for s in SPLITS},
            "max_per_split": max_per_split,
            "seed": seed,
            "subsampling": "label-stratified within each official split, numpy default_rng([seed, 0, split index])",
            "reports": NO_TEXT_NOTE,
            "duplicates": {"policy": DUPLICATES_NOTE, "dropped": dropped},
        },
    )
    write_tables(out_dir, spec, pd.DataFrame(cases), pd.DataFrame(images))
    return spec


def default_name(flags: list[str], size: int, max_per_split: int | None) -> str:
    """`pathmnist_64`, `pathmnist_organamnist_64_max200`: distinct results/ folders per variant."""
    return "_".join([*flags, str(size)]) + (f"_max{max_per_split}" if max_per_split else "")


def prepare(cfg: Mapping[str, Any], out_dir: Path) -> DatasetSpec:
    """Fetch (or find) the subset's `.npz`, verify its MD5 and convert it atomically into `out_dir`."""
    c = resolve_config(cfg, MEDMNIST_SCHEMA, "dataset.medmnist")
    sub = subset(c["flag"], c["size"], c["url_override"], c["positive_label"])
    npz_path = fetch(
        sub.remote,
        download_dir(c["download_dir"], out_dir, "medmnist"),
        timeout=c["timeout_s"],
        config_key="dataset.medmnist.download_dir",
    )
    with atomic_dir(out_dir) as tmp:
        return convert(npz_path, tmp, sub, max_per_split=c["max_per_split"], seed=c["seed"], name=c["name"])
