"""Bad input stops the `download` stage with one clear message naming the culprit, leaving no output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mmdiag.errors import MmdiagError
from mmdiag.stages.data import download


def _config(folder: Path) -> dict:
    from mmdiag.config import validate_config

    return validate_config({"dataset": {"name": "mine", "source": "folder", "folder": {"path": str(folder)}}})


def _break(tiny_dataset: Path, tmp_path: Path, how: str) -> tuple[Path, str]:
    root = tmp_path / "byo"
    shutil.copytree(tiny_dataset, root)
    if how == "malformed_cases":
        lines = (root / "cases.csv").read_text().splitlines()
        lines[3] = lines[3] + ",extra,fields"
        (root / "cases.csv").write_text("\n".join(lines) + "\n")
        return root, "cases.csv:4"
    if how == "missing_image":
        first = (root / "images.csv").read_text().splitlines()[1].split(",")[2]
        (root / first).unlink()
        return root, first
    if how == "missing_report":
        lines = (root / "reports.csv").read_text().splitlines(keepends=True)
        case = lines[1].split(",")[0]
        (root / "reports.csv").write_text(lines[0] + "".join(lines[2:]))
        return root, case
    if how == "unknown_attribute":
        text = (root / "cases.csv").read_text().replace("hypoechoic", "glowing", 1)
        (root / "cases.csv").write_text(text)
        return root, "glowing"
    raise ValueError(how)


@pytest.mark.parametrize("how", ["malformed_cases", "missing_image", "missing_report", "unknown_attribute"])
def test_bad_folder_stops_with_the_culprit_and_leaves_nothing(tiny_dataset: Path, tmp_path: Path, how: str) -> None:
    root, culprit = _break(tiny_dataset, tmp_path, how)
    out = tmp_path / "results" / "raw"
    info = tmp_path / "results" / "dataset.json"
    with pytest.raises(MmdiagError) as exc:
        download(_config(root), str(out), str(info))
    assert culprit in str(exc.value)
    assert not out.exists() and not info.exists()
