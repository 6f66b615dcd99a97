"""HAM10000: a metadata CSV and two image zips made here, converted into lesion-grouped BYO cases."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmdiag.data.byo import load_dataset
from mmdiag.data.sources import ham10000 as ham
from mmdiag.data.sources import prepare_source
from mmdiag.data.sources.download import RemoteFile
from mmdiag.errors import DataFormatError

HEADER = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset")
ROWS = [
    ("HAM_0000001", "ISIC_0000001", "nv", "follow_up", "45.0", "male", "back", "vidir_molemax"),
    ("HAM_0000002", "ISIC_0000003", "mel", "histo", "70.0", "female", "face", "rosendahl"),
    ("HAM_0000003", "ISIC_0000004", "bkl", "consensus", "", "unknown", "unknown", "vidir_modern"),
    ("HAM_0000003", "ISIC_0000005", "bkl", "consensus", "", "unknown", "unknown", "vidir_modern"),
    ("HAM_0000004", "ISIC_0000007", "bcc", "histo", "60.0", "male", "trunk", "rosendahl"),
    ("HAM_0000005", "ISIC_0000008", "akiec", "histo", "80.0", "female", "acral", "vienna_dermatology"),
    ("HAM_0000006", "ISIC_0000009", "df", "confocal", "35.0", "female", "lower extremity", "vidir_modern"),
    ("HAM_0000007", "ISIC_0000010", "vasc", "histo", "5.0", "male", "neck", "vidir_modern"),
    ("HAM_0000008", "ISIC_0000011", "nv", "histo", "30.0", "female", "upper extremity", "vidir_modern"),
    ("HAM_0000001", "ISIC_0000002", "nv", "follow_up", "45.0", "male", "back", "vidir_molemax"),
    ("HAM_0000008", "ISIC_0000012", "nv", "histo", "30.0", "female", "upper extremity", "vidir_modern"),
    ("HAM_0000003", "ISIC_0000006", "bkl", "consensus", "", "unknown", "unknown", "vidir_modern"),
    ("HAM_0000009", "ISIC_0000013", "nv", "consensus", "50.0", "male", "back", "vidir_modern"),
    ("HAM_0000010", "ISIC_0000014", "nv", "follow_up", "40.0", "female", "trunk", "vidir_molemax"),
]


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG")
    return buf.getvalue()


def write_ham(folder: Path, rows: list[tuple[str, ...]] = ROWS, skip_image: str | None = None) -> dict[str, bytes]:
    """The three official files in miniature; part 2 nests its images in a folder, as archives often do."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ham.METADATA_CSV, "w", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    images = {r[1]: jpeg(k) for k, r in enumerate(rows)}
    names = sorted(images)
    with (
        zipfile.ZipFile(folder / ham.IMAGE_ZIPS[0], "w") as z1,
        zipfile.ZipFile(folder / ham.IMAGE_ZIPS[1], "w") as z2,
    ):
        for k, name in enumerate(names):
            if name == skip_image:
                continue
            if k < len(names) // 2:
                z1.writestr(f"{name}.jpg", images[name])
            else:
                z2.writestr(f"HAM10000_images_part_2/{name}.jpg", images[name])
    return images


@pytest.fixture
def dl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Download folder whose files count as published (expected MD5 = the fixture file's own)."""
    folder = tmp_path / "dl"
    official = ham.remote_files

    def remote_files(url_override: str | None = None) -> tuple[RemoteFile, ...]:
        return tuple(
            RemoteFile(r.filename, r.url, md5=hashlib.md5((folder / r.filename).read_bytes()).hexdigest())
            for r in official(url_override)
        )

    monkeypatch.setattr(ham, "remote_files", remote_files)
    return folder


def convert(dl: Path, offline_base: str, out: Path, **cfg: object):
    spec = prepare_source("ham10000", {"download_dir": str(dl), "url_override": offline_base, **cfg}, out)
    return spec, load_dataset(out, validate=True)


def test_published_files() -> None:
    files = ham.remote_files()
    assert [f.filename for f in files] == ["HAM10000_metadata.csv", *ham.IMAGE_ZIPS]
    assert files[0].url == "https://dataverse.harvard.edu/api/access/datafile/4338392?format=original"
    assert all(re.fullmatch(r"[0-9a-f]{32}", f.md5) for f in files)
    assert ham.remote_files("http://mirror/ham")[1].url == "http://mirror/ham/HAM10000_images_part_1.zip"


def test_lesions_become_cases_with_all_their_images(dl: Path, offline_base: str, tmp_path: Path) -> None:
    images = write_ham(dl)
    spec, ds = convert(dl, offline_base, tmp_path / "out")
    assert spec.labels == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc") and spec.task == "multiclass"
    assert list(ds.cases["case_id"]) == sorted({r[0] for r in ROWS})
    assert (ds.cases["group_id"] == ds.cases["case_id"]).all()
    expected = {r[1]: r[0] for r in ROWS}  # image -> lesion, from the metadata
    got = {Path(p).stem: c for c, p in zip(ds.images["case_id"], ds.images["path"])}
    assert got == expected and set(ds.images["modality"]) == {"derm"}
    for row in ds.images.itertuples():
        assert (tmp_path / "out" / row.path).read_bytes() == images[Path(row.path).stem]  # original JPEG bytes
    cases = ds.cases.set_index("case_id")
    assert cases.loc["HAM_0000003", "label"] == "bkl" and cases.loc["HAM_0000003", "n_images"] == "3"
    assert cases.loc["HAM_0000002", "centre"] == "rosendahl"
    assert spec.centres == ("rosendahl", "vidir_modern", "vidir_molemax", "vienna_dermatology")
    assert spec.metadata["licence"] == "CC BY-NC 4.0" and spec.metadata["doi"] == "doi:10.7910/DVN/DBW86T"


def test_reports_are_templated_without_the_diagnosis(dl: Path, offline_base: str, tmp_path: Path) -> None:
    write_ham(dl)
    spec, ds = convert(dl, offline_base, tmp_path / "out")
    reports = ds.reports.set_index("case_id")["report"]
    assert (
        reports["HAM_0000002"]
        == "A 70-year-old female patient; lesion on the face; diagnosis confirmed by histopathology."
    )
    assert reports["HAM_0000003"] == "A patient; lesion site not recorded; diagnosis by expert consensus."
    assert reports["HAM_0000005"] == (
        "An 80-year-old female patient; lesion on an acral site; diagnosis confirmed by histopathology."
    )
    forbidden = set(ham.CLASSES) | {
        "melanoma",
        "nevus",
        "nevi",
        "carcinoma",
        "keratos",
        "dermatofibroma",
        "vascular",
    }
    for text in reports:
        words = set(re.findall(r"[a-z]+", text.lower()))
        assert not words & set(ham.CLASSES) and not any(f in text.lower() for f in forbidden - set(ham.CLASSES))
    assert spec.metadata["report_contains_diagnosis"] is False

    _, bare = convert(dl, offline_base, tmp_path / "bare", report_fields=["age", "sex"])
    assert bare.reports.set_index("case_id")["report"]["HAM_0000002"] == "A 70-year-old female patient."


def test_images_of_a_lesion_never_straddle_a_split(dl: Path, offline_base: str, tmp_path: Path) -> None:
    """GroupShuffleSplit-style check: split the cases at random, then follow every image to its partition."""
    write_ham(dl)
    _, ds = convert(dl, offline_base, tmp_path / "out")
    lesion_of_image = {r[1]: r[0] for r in ROWS}
    for seed in range(5):
        groups = np.random.default_rng(seed).permutation(ds.cases["group_id"].unique())
        test_groups = set(groups[: len(groups) // 3])
        partition_of_case = {
            c: ("test" if g in test_groups else "train") for c, g in zip(ds.cases["case_id"], ds.cases["group_id"])
        }
        partitions: dict[str, set[str]] = {}
        for case_id, path in zip(ds.images["case_id"], ds.images["path"]):
            partitions.setdefault(lesion_of_image[Path(path).stem], set()).add(partition_of_case[case_id])
        assert all(len(p) == 1 for p in partitions.values())
        assert set(partitions) == set(lesion_of_image.values())


def test_max_cases_subsamples_whole_lesions(dl: Path, offline_base: str, tmp_path: Path) -> None:
    write_ham(dl)
    spec, ds = convert(dl, offline_base, tmp_path / "a", max_cases=7, seed=1)
    _, again = convert(dl, offline_base, tmp_path / "b", max_cases=7, seed=1)
    assert len(ds.cases) == 7 and ds.cases.equals(again.cases)
    assert ds.cases["label"].nunique() == 7  # stratified: every diagnosis kept
    per_lesion = {r[0]: sum(1 for x in ROWS if x[0] == r[0]) for r in ROWS}
    counts = ds.images.groupby("case_id").size()
    assert all(counts[c] == per_lesion[c] for c in ds.cases["case_id"])
    assert spec.name == "ham10000_max7"


def test_lesion_with_two_diagnoses_is_rejected(dl: Path, offline_base: str, tmp_path: Path) -> None:
    rows = [*ROWS, ("HAM_0000002", "ISIC_0000099", "nv", "histo", "70.0", "female", "face", "rosendahl")]
    write_ham(dl, rows)
    with pytest.raises(DataFormatError, match="HAM_0000002' has several diagnoses"):
        convert(dl, offline_base, tmp_path / "data" / "out")
    assert list((tmp_path / "data").rglob("*")) == []


def test_image_missing_from_the_zips_is_reported(dl: Path, offline_base: str, tmp_path: Path) -> None:
    write_ham(dl, skip_image="ISIC_0000010")
    with pytest.raises(DataFormatError, match="line 9: image ISIC_0000010 is in none of"):
        convert(dl, offline_base, tmp_path / "data" / "out")
    assert list((tmp_path / "data").rglob("*")) == []


def test_without_source_column_the_centre_is_constant(dl: Path, offline_base: str, tmp_path: Path) -> None:
    write_ham(dl)
    text = (dl / ham.METADATA_CSV).read_text().splitlines()
    (dl / ham.METADATA_CSV).write_text("\n".join(line.rsplit(",", 1)[0] for line in text) + "\n")
    spec, ds = convert(dl, offline_base, tmp_path / "out")
    assert spec.centres == ("ham10000",) and set(ds.cases["centre"]) == {"ham10000"}


def test_ids_never_write_outside_the_dataset_folder(dl: Path, offline_base: str, tmp_path: Path) -> None:
    """Issue 12 #8: a lesion_id holding `../` made convert() write outside its output folder."""
    evil = [("../../../escaped", "ISIC_0000001", *ROWS[0][2:]), ("/abs/olute", "ISIC_0000003", *ROWS[1][2:])]
    write_ham(dl, rows=evil + ROWS[2:])
    out = tmp_path / "work" / "data" / "out"
    _, ds = convert(dl, offline_base, out)
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.glob("**/escaped"))
    paths = ds.cases.set_index("case_id").index
    assert "../../../escaped" in paths and "/abs/olute" in paths  # the ids themselves are kept in the tables
    for rel in ds.images["path"]:
        assert (out / rel).resolve().is_relative_to(out.resolve()) and ".." not in Path(rel).parts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl", "work"]


def test_safe_component_keeps_distinct_ids_distinct() -> None:
    from mmdiag.data.sources.paths import inside, safe_component

    assert safe_component("HAM_0000001") == "HAM_0000001"
    assert safe_component("a/b") != safe_component("a_b") and "/" not in safe_component("a/b")
    assert safe_component("..").startswith("x_") and safe_component(".hidden")[0] != "."
    with pytest.raises(DataFormatError, match="leave the dataset folder"):
        inside(Path("/data"), "images/../../etc/passwd")


def test_semicolon_metadata_is_named(tmp_path: Path) -> None:
    path = tmp_path / ham.METADATA_CSV
    path.write_text(";".join(HEADER) + "\n" + ";".join(ROWS[0]) + "\n")
    with pytest.raises(DataFormatError, match="seems to use ';' as its separator"):
        ham.read_metadata(path)
