"""Hostile and careless data input (issue 12): one message naming the culprit, nothing half-written.

Each case runs the real pipeline stage it would hit (`download`: the BYO validator; `preprocess`: the
split check; `read_yaml`: every config file; `atomic_path`: every output) and asserts both the message
(file, key, line or value) and what is left on disk. docs/robustness.md ("Data input") lists them.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from byo_fixtures import append_line, replace_text, write_cases_dataset, write_valid_dataset
from mmdiag.config import read_yaml, validate_config
from mmdiag.data.byo import atomic_dir
from mmdiag.errors import ConfigError, MmdiagError
from mmdiag.io import WriteError, atomic_path, read_json, write_json
from mmdiag.stages.data import build_corpus, download, preprocess


def _config(folder: Path, **sections: object) -> dict:
    return validate_config(
        {"dataset": {"name": "mine", "source": "folder", "folder": {"path": str(folder)}}, **sections}
    )


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# 2.6 KB: nine levels of nine aliases, 9**9 = 387 million strings once expanded.
ALIAS_BOMB = (
    "metadata:\n  l0: &l0 ["
    + ", ".join(["lolololololololololololololololololololol"] * 9)
    + "]\n"
    + "".join(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9))
)


def _alias_bomb(root: Path) -> None:
    text = (root / "dataset.yaml").read_text().replace("metadata: {generator: tests/byo_fixtures.py}\n", ALIAS_BOMB)
    (root / "dataset.yaml").write_text(text)


def _float_tiff(values: np.ndarray) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        Image.fromarray(values.astype(np.float32)).save(root / "images/c4/wle_1.tif")
        replace_text(root / "images.csv", "images/c4/wle_1.png", "images/c4/wle_1.tif")

    return mutate


def _int32_tiff(root: Path) -> None:
    Image.fromarray(np.arange(-100, 92, dtype=np.int32).reshape(12, 16)).save(root / "images/c4/wle_1.tif")
    replace_text(root / "images.csv", "images/c4/wle_1.png", "images/c4/wle_1.tif")


def _same_bytes(root: Path) -> None:
    shutil.copy(root / "images/c1/eus_0.png", root / "images/c3/eus_1.png")
    append_line(root / "images.csv", "c3,eus,images/c3/eus_1.png")


def _png_bomb(root: Path) -> None:
    """A 60-byte PNG that declares 40000 x 40000 pixels (1.6 gigapixels once inflated)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    (root / "images/c4/wle_1.png").write_bytes(png)


def _device_link(root: Path) -> None:
    (root / "images/c4/wle_1.png").unlink()
    (root / "images/c4/wle_1.png").symlink_to("/dev/zero")


def _zero_cases(root: Path) -> None:
    for name in ("cases.csv", "images.csv", "reports.csv"):
        path = root / name
        path.write_text(path.read_text().splitlines()[0] + "\n")


def _no_image(root: Path) -> None:
    for row in ("c2,eus,images/c2/eus_0.png\n", "c2,wle,images/c2/wle_0.jpg\n"):
        replace_text(root / "images.csv", row, "")


def _semicolons(name: str, sep: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / name
        path.write_text(path.read_text().replace(",", sep))

    return mutate


# (id, mutation of the valid 4-case fixture folder, fragments the one message must contain)
DOWNLOAD_CASES: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("yaml-alias-bomb", _alias_bomb, ["dataset.yaml:", "aliases", "alias bomb"]),
    (
        "yaml-binary",
        lambda r: (r / "dataset.yaml").write_bytes(b"name: x\n\x00\x01\x02binary"),
        ["dataset.yaml:2", "binary file"],
    ),
    (
        "yaml-tab-indented",
        lambda r: replace_text(r / "dataset.yaml", "  eus: {channels: 1", "\teus: {channels: 1"),
        ["dataset.yaml:7", "never tabs"],
    ),
    (
        "yaml-too-large",
        lambda r: replace_text(r / "dataset.yaml", "description: four", "description: " + "x" * (1 << 20) + " four"),
        ["dataset.yaml", "the limit is 1,048,576"],
    ),
    (
        "yaml-python-tag",
        lambda r: replace_text(
            r / "dataset.yaml",
            "metadata: {generator: tests/byo_fixtures.py}",
            f"metadata: !!python/object/apply:os.system ['touch {r}/pwned']",
        ),
        ["dataset.yaml:17", "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object"],
    ),
    ("csv-semicolon", _semicolons("cases.csv", ";"), ["cases.csv:1", "seems to use ';' as its separator"]),
    ("csv-tab", _semicolons("images.csv", "\t"), ["images.csv:1", "seems to use a tab as its separator"]),
    ("zero-cases", _zero_cases, ["cases.csv", "holds no cases"]),
    ("case-without-image", _no_image, ["images.csv", "case 'c2' (cases.csv:3) has no image"]),
    (
        "image-under-two-cases",
        lambda r: append_line(r / "images.csv", "c3,eus,images/./c1/eus_0.png"),
        ["images.csv:12:path", "images/./c1/eus_0.png is also listed for case 'c1'"],
    ),
    ("image-copy-under-two-cases", _same_bytes, ["images.csv:12:path", "same bytes as images/c1/eus_0.png"]),
    (
        "image-float-hounsfield",
        _float_tiff(np.linspace(-1000, 3000, 192).reshape(12, 16)),
        ["images.csv:11:path", "images/c4/wle_1.tif is a float image with values -1000..3000"],
    ),
    (
        "image-float-nan",
        _float_tiff(np.full((12, 16), np.nan)),
        ["images.csv:11:path", "images/c4/wle_1.tif holds NaN or infinite values"],
    ),
    ("image-negative-int32", _int32_tiff, ["images.csv:11:path", "holds negative values (-100..91"]),
    (
        "image-png-bomb",
        _png_bomb,
        ["images.csv:11:path", "images/c4/wle_1.png cannot be decoded", "decompression bomb"],
    ),
    ("image-symlink-to-device", _device_link, ["images.csv:11:path", "images/c4/wle_1.png is not a file"]),
]


@pytest.mark.parametrize(("mutate", "fragments"), [pytest.param(m, f, id=i) for i, m, f in DOWNLOAD_CASES])
def test_bad_folder_stops_download_naming_the_culprit(
    tmp_path: Path, mutate: Callable[[Path], None], fragments: list[str]
) -> None:
    root = write_valid_dataset(tmp_path / "byo")
    mutate(root)
    results = tmp_path / "results"
    with pytest.raises(MmdiagError) as exc:
        download(_config(root), str(results / "raw"), str(results / "dataset.json"))
    message = str(exc.value)
    assert all(f in message for f in fragments), message
    assert len(message) < 2000  # one message, not a dump
    assert _files(results) == []  # no dataset folder, no dataset.json, no temporary folder
    assert not (root / "pwned").exists()  # a !!python tag never runs


def test_alias_bomb_fails_fast_and_a_legal_expansion_stays_small(tmp_path: Path) -> None:
    """9**9 strings are never built (no time is asserted: the check is one pass over 90 nodes); an
    expansion within the limits gives a dataset.json bounded by them (the issue saw 159 MB)."""
    from mmdiag.io import YAML_MAX_TEXT, load_yaml

    with pytest.raises(Exception, match="alias bomb"):
        load_yaml(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 2700
    legal = "metadata:\n  a: &a [" + ", ".join(["x" * 100] * 20) + "]\n  b: [" + ", ".join(["*a"] * 400) + "]\n"
    root = write_valid_dataset(tmp_path / "byo")
    text = (root / "dataset.yaml").read_text().replace("metadata: {generator: tests/byo_fixtures.py}\n", legal)
    (root / "dataset.yaml").write_text(text)
    info = tmp_path / "results" / "dataset.json"
    download(_config(root), str(tmp_path / "results" / "raw"), str(info))
    assert len(read_json(info)["spec"]["metadata"]["b"]) == 400
    assert info.stat().st_size < 2 * YAML_MAX_TEXT


# -- preprocess: splits that cannot be trained on ---------------------------------------------------


def _rows(spec: str) -> list[dict[str, str]]:
    """'centre label group split' tokens per case, e.g. 'a gist g1 train' ('-' = empty)."""
    rows = []
    for k, item in enumerate(spec.split(",")):
        centre, label, group, split = (x if x != "-" else "" for x in item.split())
        rows.append({"case_id": f"k{k:02d}", "centre": centre, "label": label, "group_id": group, "split": split})
    return rows


def _many(centre: str, n: int, split: str = "-", groups_of: int = 1, offset: int = 0) -> str:
    labels = ("gist", "non_gist")
    return ",".join(f"{centre} {labels[i % 2]} {centre}g{(offset + i) // groups_of} {split}" for i in range(n))


# (id, cases, splits config, fragments)
SPLIT_CASES: list[tuple[str, str, dict, list[str]]] = [
    (
        "no-train-row",
        _many("a", 6, "test") + "," + _many("a", 4, "val", offset=6),
        {},
        ["split single_centre: train is empty", "no case with split 'train' and no free case"],
    ),
    (
        "class-absent-from-train",
        "a non_gist g0 train,a non_gist g1 train,a non_gist g2 train,a gist g3 test,a non_gist g4 test,a gist g5 val",
        {},
        ["split single_centre: class 'gist' has no case in train but is in val and test"],
    ),
    (
        "cv-folds-exceed-groups",
        _many("a", 12) + "," + _many("b", 3, offset=12),
        {"cv": {"folds": 5, "centres": ["b"]}},
        ["split cv_b: splits.cv.folds is 5 but centre 'b' has only 3 group(s)", "at most 3"],
    ),
    (
        "target-centre-in-official-train",
        _many("a", 8, "train") + "," + _many("a", 4, "test", offset=8) + "," + _many("b", 2, "train", offset=12),
        {"multi_centre": {"target": "b"}},
        ["split multi_centre: 2 case(s) of the target centre 'b' are in the official train/val split", "k12"],
    ),
    (
        "val-empty-large-groups",
        _many("a", 12, groups_of=3),  # 4 groups: test takes 1 per label, train keeps 1 per label
        {"single_centre": {"centre": "a"}},
        ["split single_centre: val is empty", "at most one group per label"],
    ),
    (
        "target-is-the-training-centre",
        _many("a", 12) + "," + _many("b", 6, offset=12),
        {"single_centre": {"centre": "b"}, "multi_centre": {"target": "b"}},
        ["splits.multi_centre.target 'b' is also the single-centre training centre"],
    ),
    (
        "group-spans-centres",
        _many("a", 12) + "," + ",".join(f"b {('gist', 'non_gist')[i % 2]} ag{i} -" for i in range(6)),
        {
            "single_centre": {"centre": "a", "test_fraction": 0.01},
            "val_fraction": 0.01,
            "multi_centre": {"target": "b"},
        },
        ["split multi_centre: group 'ag", "is in both", "group_id values do not span centres"],
    ),
]


@pytest.fixture
def staged(tmp_path: Path) -> Callable[[str, dict], tuple[dict, dict[str, str]]]:
    """Build a folder from case tokens, run download + build_corpus; returns (config, preprocess outputs)."""

    def make(tokens: str, splits: dict) -> tuple[dict, dict[str, str]]:
        root = write_cases_dataset(tmp_path / "byo", _rows(tokens))
        config = _config(root, splits={"multi_centre": {"target": None}, "cv": {"centres": []}, **splits})
        res = tmp_path / "results"
        data, info, corpus = str(res / "raw"), str(res / "dataset.json"), str(res / "corpus.json")
        download(config, data, info)
        build_corpus(config, data, corpus)
        return config, {
            "data": data,
            "info": info,
            "corpus": corpus,
            "meta": str(res / "cache" / "meta.json"),
            "splits": str(res / "splits" / "splits.json"),
        }

    return make


@pytest.mark.parametrize(("tokens", "splits", "fragments"), [pytest.param(t, s, f, id=i) for i, t, s, f in SPLIT_CASES])
def test_untrainable_split_stops_preprocess_before_writing(
    staged: Callable[[str, dict], tuple[dict, dict[str, str]]],
    tmp_path: Path,
    tokens: str,
    splits: dict,
    fragments: list[str],
) -> None:
    config, paths = staged(tokens, splits)
    with pytest.raises(ConfigError) as exc:
        preprocess(config, **paths)
    message = str(exc.value)
    assert all(f in message for f in fragments), message
    assert not (tmp_path / "results" / "cache").exists() and not (tmp_path / "results" / "splits").exists()


def test_free_cases_are_split_not_dropped(staged: Callable[[str, dict], tuple[dict, dict[str, str]]]) -> None:
    """Issue 12 #2: 30 of 60 cases had an empty split cell and ended in no partition."""
    tokens = _many("a", 20, "train") + "," + _many("a", 10, "test", offset=20) + "," + _many("a", 30, offset=30)
    config, paths = staged(tokens, {})
    preprocess(config, **paths)
    split = read_json(Path(paths["splits"]).parent / "single_centre.json")
    assert sum(len(v) for v in split["partitions"].values()) == 60
    assert split["meta"]["free_cases"] == 30 and split["meta"]["free_to_test"] == 0  # an official test exists


# -- config files -----------------------------------------------------------------------------------

CONFIG_CASES: list[tuple[str, bytes, list[str]]] = [
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["binary file"]),
    ("not-utf8", b"seed: 1\nname: caf\xe9\n", [":2:", "not UTF-8"]),
    ("tab-indented", b"trainer:\n\tepochs: 3\n", [":2:", "never tabs"]),
    ("alias-bomb", ALIAS_BOMB.encode(), ["alias bomb"]),
    ("python-tag", b"seed: !!python/object/apply:os.system ['true']\n", [":1:", "could not determine a constructor"]),
    ("too-large", b"a: " + b"x" * (1 << 20) + b"\n", ["limited to 1,048,576"]),
    ("not-a-mapping", b"- a\n- b\n", ["expected a mapping"]),
]


@pytest.mark.parametrize(("data", "fragments"), [pytest.param(d, f, id=i) for i, d, f in CONFIG_CASES])
def test_bad_config_file_names_the_file(tmp_path: Path, data: bytes, fragments: list[str]) -> None:
    path = tmp_path / "my_config.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as exc:
        read_yaml(path)
    message = str(exc.value)
    assert message.startswith(str(path)) and all(f in message for f in fragments), message
    assert _files(tmp_path) == ["my_config.yaml"]


# -- outputs: full disk, permissions ----------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("basic_ios::clear: iostream error")],
    ids=["ENOSPC", "torch-iostream"],
)
def test_full_disk_names_the_file_and_leaves_nothing(tmp_path: Path, failure: Exception) -> None:
    target = tmp_path / "runs" / "last.pt"
    with pytest.raises(WriteError) as exc, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise failure
    assert f"cannot write {target}" in str(exc.value) and "free" in str(exc.value)
    assert _files(tmp_path) == ["runs"]  # neither the target nor the temporary file


def test_other_errors_pass_through_atomic_path_unchanged(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mine"), atomic_path(tmp_path / "x.json"):
        raise ValueError("mine")
    assert _files(tmp_path) == []


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_outputs_respect_the_umask(tmp_path: Path, mask: int, file_mode: int, dir_mode: int) -> None:
    """Issue 12 #9: mkstemp/mkdtemp made every result 0600 / 0700 whatever the umask."""
    with _umask(mask):
        write_json(tmp_path / "metrics.json", {"a": 1})
        with atomic_dir(tmp_path / "raw") as tmp:
            (tmp / "cases.csv").write_text("x")
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "raw").stat().st_mode) == dir_mode
