"""Your own data: an existing BYO folder, validated and brought into the pipeline's data folder.

The folder is copied (or hard-linked, which costs no space) rather than symlinked: the pipeline's
dataset folder must not change when the user edits their original, and a symlink would silently
follow such edits while the recorded checksum still named the old bytes. Only the tables (reports.csv
when the folder has one) and the image files that `images.csv` lists are brought over, byte for byte.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mmdiag.config.fields import Section, object_schema, option
from mmdiag.data.byo import atomic_dir, load_dataset
from mmdiag.data.format import CASES_CSV, DATASET_YAML, IMAGES_CSV, REPORTS_CSV, DatasetSpec
from mmdiag.data.sources.config import resolve_config
from mmdiag.data.sources.paths import inside
from mmdiag.errors import ConfigError, DataFormatError


@dataclass(frozen=True)
class FolderConfig(Section):
    """`dataset.folder`: which folder, and how its files are brought in."""

    path: str | None = option(
        None, "the folder holding dataset.yaml, cases.csv, images.csv and optionally reports.csv (required)"
    )
    link: str = option(
        "copy",
        "copy the files, or hard-link them (no extra space; falls back to copying across file systems)",
        enum=["copy", "hardlink"],
    )
    validate: bool = option(True, "check the folder against the BYO format before using it")


FOLDER_SCHEMA: dict[str, Any] = object_schema(
    FolderConfig, "An existing dataset folder in the BYO format (docs/data_format.md), validated and copied in."
)


def prepare(cfg: Mapping[str, Any], out_dir: Path) -> DatasetSpec:
    """Validate the folder at `cfg['path']` and bring it into `out_dir` atomically.

    When `out_dir` already is that folder, it is validated and used in place.

    Raises:
        ConfigError: no or bad `path`, or `out_dir` inside it (or the reverse).
        DataFormatError: the folder is not a valid BYO dataset, or lists an image outside itself.
    """
    c = resolve_config(cfg, FOLDER_SCHEMA, "dataset.folder")
    if not c["path"]:
        raise ConfigError("dataset.folder.path: required; set it to your dataset folder (docs/data_format.md)")
    src = Path(c["path"]).expanduser()
    if not (src / DATASET_YAML).is_file():
        raise ConfigError(f"dataset.folder.path: {src} holds no {DATASET_YAML}; is it a BYO dataset folder?")
    dataset = load_dataset(src, validate=c["validate"])
    src_abs, out_abs = src.resolve(), Path(out_dir).resolve()
    if src_abs == out_abs:
        return dataset.spec
    if src_abs in out_abs.parents or out_abs in src_abs.parents:
        raise ConfigError(f"dataset.folder.path: {src} and the dataset folder {out_dir} must not contain each other")
    rel_paths = sorted(set(dataset.images["path"]))
    escaping = [p for p in rel_paths if posixpath.isabs(p) or posixpath.normpath(p).split("/")[0] == ".."]
    problems = [f"{IMAGES_CSV}: path {p!r} leaves the dataset folder" for p in escaping]
    problems += [
        f"{IMAGES_CSV}: file {p} does not exist" for p in rel_paths if p not in escaping and not (src / p).is_file()
    ]
    if problems:
        raise DataFormatError(str(src), problems)
    with atomic_dir(out_dir) as tmp:
        for name in (DATASET_YAML, CASES_CSV, IMAGES_CSV, REPORTS_CSV):
            if name != REPORTS_CSV or (src / name).is_file():  # reports are optional
                shutil.copy2(src / name, tmp / name)
        for rel in tqdm(rel_paths, desc=f"{dataset.spec.name} images", unit="img", file=sys.stderr, leave=False):
            _place(src / rel, inside(tmp, rel), hardlink=c["link"] == "hardlink")
    return dataset.spec


def _place(src: Path, dst: Path, *, hardlink: bool) -> None:
    """Hard-link or copy one file, creating its folder; a link that the file system refuses becomes a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if hardlink:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)
