"""The `folder` source: a user's BYO folder, validated and copied (or hard-linked) into the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmdiag.data.byo import dataset_checksum, write_tables
from mmdiag.data.format import DatasetSpec, ModalitySpec
from mmdiag.data.sources import prepare_source
from mmdiag.errors import ConfigError, DataFormatError


def make_byo(root: Path, image_paths: tuple[str, str] = ("images/c1/eus.png", "images/c2/eus.png")) -> DatasetSpec:
    spec = DatasetSpec(name="mine", labels=("neg", "pos"), modalities={"eus": ModalitySpec("eus", 1, "ultrasound")})
    for k, rel in enumerate(image_paths):
        if rel.startswith(".."):
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 40 * k, dtype=np.uint8)).save(root / rel)
    (root / "notes.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "notes.txt").write_text("not part of the dataset")
    write_tables(
        root,
        spec,
        pd.DataFrame({"case_id": ["c1", "c2"], "centre": ["a", "a"], "label": ["neg", "pos"]}),
        pd.DataFrame({"case_id": ["c1", "c2"], "modality": ["eus", "eus"], "path": list(image_paths)}),
        pd.DataFrame({"case_id": ["c1", "c2"], "report": ["hypoechoic mass", "no mass"]}),
    )
    return spec


def test_copy_is_byte_identical_and_independent(tmp_path: Path) -> None:
    src, out = tmp_path / "mine", tmp_path / "data" / "mine"
    expected = make_byo(src)
    spec = prepare_source("folder", {"path": str(src)}, out)
    assert spec == expected
    assert dataset_checksum(out) == dataset_checksum(src)
    assert not (out / "notes.txt").exists()
    (src / "images/c1/eus.png").write_bytes(b"edited later")
    assert dataset_checksum(out) != dataset_checksum(src)


def test_hardlink_mode_shares_the_bytes(tmp_path: Path) -> None:
    src, out = tmp_path / "mine", tmp_path / "out"
    make_byo(src)
    prepare_source("folder", {"path": str(src), "validate": False, "link": "hardlink"}, out)
    assert (out / "images/c2/eus.png").stat().st_ino == (src / "images/c2/eus.png").stat().st_ino
    assert (out / "cases.csv").stat().st_ino != (src / "cases.csv").stat().st_ino  # tables are always copied


def test_folder_used_in_place(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    make_byo(src)
    before = dataset_checksum(src)
    assert prepare_source("folder", {"path": str(src), "validate": False}, src).name == "mine"
    assert dataset_checksum(src) == before


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (("images/c1/eus.png", "../outside.png"), "leaves the dataset folder"),
        (("images/c1/eus.png", "images/c2/eus.png"), "file images/c2/eus.png does not exist"),
    ],
)
def test_bad_image_paths_are_rejected(paths: tuple[str, str], message: str, tmp_path: Path) -> None:
    src = tmp_path / "mine"
    make_byo(src, paths)
    if not paths[1].startswith(".."):
        (src / paths[1]).unlink()
    with pytest.raises(DataFormatError, match=message):
        prepare_source("folder", {"path": str(src), "validate": False}, tmp_path / "data" / "out")
    assert list((tmp_path / "data").rglob("*")) == []


def test_config_errors(tmp_path: Path) -> None:
    make_byo(tmp_path / "mine")
    with pytest.raises(ConfigError, match=r"dataset\.folder\.path: required"):
        prepare_source("folder", {}, tmp_path / "out")
    with pytest.raises(ConfigError, match=r"holds no dataset\.yaml"):
        prepare_source("folder", {"path": str(tmp_path)}, tmp_path / "out")
    with pytest.raises(ConfigError, match="must not contain each other"):
        prepare_source("folder", {"path": str(tmp_path / "mine"), "validate": False}, tmp_path / "mine" / "sub")
    with pytest.raises(ConfigError, match="link"):
        prepare_source("folder", {"path": str(tmp_path / "mine"), "link": "symlink"}, tmp_path / "out")


def test_folder_without_reports_is_copied_without_one(tmp_path: Path) -> None:
    """Reports are optional (contract C1): no reports.csv in, none out, and the copy validates."""
    src, out = tmp_path / "mine", tmp_path / "data" / "mine"
    make_byo(src)
    (src / "reports.csv").unlink()
    prepare_source("folder", {"path": str(src)}, out)
    assert sorted(p.name for p in out.iterdir()) == ["cases.csv", "dataset.yaml", "images", "images.csv"]
    assert dataset_checksum(out) == dataset_checksum(src)
