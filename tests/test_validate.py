"""Tests of the BYO folder validator: one test per kind of format error, each pinned to file/line/column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from byo_fixtures import append_line, delete_line, replace_text, write_image, write_valid_dataset
from mmdiag import cli
from mmdiag.data.byo import load_dataset
from mmdiag.data.validate import Violation, check_dataset, main, summarize, validate_dataset
from mmdiag.errors import DataFormatError

Location = tuple[str, int | None, str | None]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_valid_dataset(tmp_path / "tiny")


def locations(violations: list[Violation]) -> list[Location]:
    return [(v.file, v.line, v.column) for v in violations]


def test_valid_fixture_has_no_violations(dataset: Path) -> None:
    assert validate_dataset(dataset) == []
    check_dataset(dataset)  # does not raise
    loaded = load_dataset(dataset)
    assert list(loaded.cases["case_id"]) == ["c1", "c2", "c3", "c4"]


def test_violation_str_formats_location() -> None:
    assert (
        str(Violation("cases.csv", 14, "label", "'gits' is not one of the labels in dataset.yaml (non_gist, gist)"))
        == "cases.csv:14:label: 'gits' is not one of the labels in dataset.yaml (non_gist, gist)"
    )
    assert (
        str(Violation("reports.csv", None, None, "case 'c4' has no report")) == "reports.csv: case 'c4' has no report"
    )
    assert str(Violation("dataset.yaml", None, "name", "required key is missing")) == (
        "dataset.yaml:name: required key is missing"
    )


def _edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    return lambda root: replace_text(root / name, old, new)


def _append(name: str, line: str) -> Callable[[Path], None]:
    return lambda root: append_line(root / name, line)


def _delete(name: str, line: str) -> Callable[[Path], None]:
    return lambda root: delete_line(root / name, line)


def _write_bytes(rel_path: str, data: bytes) -> Callable[[Path], None]:
    return lambda root: (root / rel_path).write_bytes(data)


def _truncate(rel_path: str, keep: float) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        data = (root / rel_path).read_bytes()
        (root / rel_path).write_bytes(data[: int(len(data) * keep)])

    return mutate


def _gif_image(root: Path) -> None:
    Image.new("RGB", (8, 8), (200, 30, 30)).save(root / "images/c4/wle_1.gif")
    replace_text(root / "images.csv", "images/c4/wle_1.png", "images/c4/wle_1.gif")


def _large_jpeg_truncated(root: Path) -> None:
    """A JPEG big enough that truncation loses entropy-coded data, not just the end marker."""
    pixels = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    image.save(root / "images/c2/wle_0.jpg", quality=95)
    _truncate("images/c2/wle_0.jpg", 0.5)(root)


def _bad_utf8_yaml(root: Path) -> None:
    path = root / "dataset.yaml"
    path.write_bytes(path.read_bytes().replace(b"four-case fixture", b"four-case fixture \xe9"))


def _bad_utf8(root: Path) -> None:
    path = root / "cases.csv"
    path.write_bytes(path.read_bytes().replace(b"kept, and ignored", b"kept, caf\xe9"))


# (id, mutation, expected [(file, line, column)], fragment of the first violation's message)
ERROR_CASES: list[tuple[str, Callable[[Path], None], list[Location], str]] = [
    # --- files and dataset.yaml ---
    (
        "missing-file",
        lambda r: (r / "images.csv").unlink(),
        [("images.csv", None, None)],
        "required file is missing",
    ),
    (
        "yaml-unparseable",
        _edit("dataset.yaml", "positive_label: gist", "positive_label: gist: x"),
        [("dataset.yaml", 5, None)],
        "not valid YAML: mapping values are not allowed here",
    ),
    ("yaml-not-utf8", _bad_utf8_yaml, [("dataset.yaml", 2, None)], "not valid UTF-8 (byte 0xe9)"),
    (
        "yaml-not-mapping",
        lambda r: (r / "dataset.yaml").write_text("- a\n- b\n"),
        [("dataset.yaml", None, None)],
        "must be a mapping of keys",
    ),
    (
        "yaml-missing-key",
        _delete("dataset.yaml", "name: tiny_gist"),
        [("dataset.yaml", None, "name")],
        "required key is missing",
    ),
    (
        "yaml-bad-name",
        _edit("dataset.yaml", "name: tiny_gist", "name: Tiny-GIST"),
        [("dataset.yaml", 1, "name")],
        "'Tiny-GIST' must match [a-z0-9_]+",
    ),
    (
        "yaml-bad-task",
        _edit("dataset.yaml", "task: binary", "task: binomial"),
        [("dataset.yaml", 3, "task")],
        "'binomial' is not a task",
    ),
    (
        "yaml-duplicate-label",
        _edit("dataset.yaml", "[non_gist, gist]", "[non_gist, gist, gist]"),
        [("dataset.yaml", 4, "labels")],
        "label 'gist' appears more than once",
    ),
    (
        "yaml-binary-three-labels",
        _edit("dataset.yaml", "[non_gist, gist]", "[non_gist, gist, other]"),
        [("dataset.yaml", 4, "labels")],
        "a binary task needs exactly 2 labels, got 3",
    ),
    (
        "yaml-one-label",
        _edit("dataset.yaml", "[non_gist, gist]", "[gist]"),
        [("dataset.yaml", 4, "labels"), ("cases.csv", 3, "label"), ("cases.csv", 5, "label")],
        "needs at least 2 distinct labels, got 1",
    ),
    (
        "yaml-positive-label",
        _edit("dataset.yaml", "positive_label: gist", "positive_label: GIST"),
        [("dataset.yaml", 5, "positive_label")],
        "'GIST' is not one of the labels",
    ),
    (
        "yaml-channels",
        _edit("dataset.yaml", "eus: {channels: 1", "eus: {channels: 2"),
        [("dataset.yaml", 7, "modalities.eus.channels")],
        "must be 1 (greyscale) or 3 (RGB), got 2",
    ),
    (
        "yaml-no-modalities",
        _edit(
            "dataset.yaml",
            "modalities:\n  eus: {channels: 1, description: endoscopic ultrasound}\n"
            "  wle: {channels: 3, description: white-light endoscopy}",
            "modalities: {}",
        ),
        [("dataset.yaml", 6, "modalities")],
        "must map at least one modality",
    ),
    (
        "yaml-empty-vocabulary",
        _edit("dataset.yaml", "echo: [hypo, iso, hyper]", "echo: []"),
        [("dataset.yaml", 12, "attributes.eus.echo")],
        "vocabulary is empty",
    ),
    (
        "yaml-duplicate-vocabulary",
        _edit("dataset.yaml", "echo: [hypo, iso, hyper]", "echo: [hypo, iso, hyper, iso]"),
        [("dataset.yaml", 12, "attributes.eus.echo")],
        "value 'iso' appears more than once",
    ),
    (
        "yaml-boolean-value",
        _edit("dataset.yaml", "echo: [hypo, iso, hyper]", "echo: [hypo, iso, hyper, no]"),
        [("dataset.yaml", 12, "attributes.eus.echo")],
        "value False was read as a YAML boolean",
    ),
    (
        "yaml-attributes-undeclared-modality",
        _edit("dataset.yaml", "centres:", "  nbi:\n    pit_pattern: [regular, irregular]\ncentres:"),
        [("dataset.yaml", 15, "attributes.nbi")],
        "attributes for modality 'nbi', which is not declared",
    ),
    (
        "yaml-unknown-key",
        _edit("dataset.yaml", "centres:", "centers:"),
        [("dataset.yaml", 15, "centers")],
        "unknown key (did you mean 'centres'?)",
    ),
    (
        "yaml-repeated-key",
        _append("dataset.yaml", "task: binary"),
        [("dataset.yaml", 18, "task")],
        "key repeated (first at line 3)",
    ),
    # --- CSV structure ---
    (
        "csv-ragged-row",
        _edit(
            "cases.csv",
            "c3,centre_b,gist,p3,test,submucosa,hypo,body,",
            "c3,centre_b,gist,p3,test,submucosa,hypo,body,,oops",
        ),
        [("cases.csv", 4, None)],
        "row has 10 fields, the header has 9",
    ),
    (
        "csv-ragged-row-after-multiline-fields",
        _edit("reports.csv", "bulge in the body\n", "bulge in the body,x\n"),
        [("reports.csv", 6, None)],
        "row has 5 fields, the header has 4",
    ),
    ("csv-not-utf8", _bad_utf8, [("cases.csv", 3, None)], "not valid UTF-8 (byte 0xe9)"),
    (
        "csv-bad-quoting",
        _edit("reports.csv", "c3,EUS: hypoechoic", 'c3,"EUS:" hypoechoic'),
        [("reports.csv", 6, None), ("reports.csv", None, None)],
        "malformed quoting: ',' expected after '\"'",
    ),
    (
        "csv-unclosed-quote",
        _edit("reports.csv", "c4,EUS: hyperechoic", 'c4,"EUS: hyperechoic'),
        [("reports.csv", 7, None), ("reports.csv", None, None)],
        "a quoted field is never closed",
    ),
    (
        "csv-repeated-header",
        _edit("reports.csv", "report.eus,report.wle", "report.eus,report.eus"),
        [("reports.csv", 1, "report.eus")],
        "column appears more than once in the header",
    ),
    (
        "csv-empty-file",
        lambda r: (r / "cases.csv").write_text(""),
        [("cases.csv", None, None)],
        "file is empty",
    ),
    # --- cases.csv ---
    (
        "cases-missing-column",
        _edit("cases.csv", "case_id,centre,", "case_id,site,"),
        [("cases.csv", 1, "centre")],
        "required column is missing",
    ),
    (
        "cases-column-with-space",
        _edit("cases.csv", "case_id,centre,", "case_id, centre,"),
        [("cases.csv", 1, "centre")],
        "required column is missing (found ' centre': check spaces and case)",
    ),
    (
        "cases-empty-cell",
        _edit("cases.csv", "c2,centre_a,", "c2,,"),
        [("cases.csv", 3, "centre")],
        "required value is empty",
    ),
    (
        "cases-duplicate-id",
        _append("cases.csv", "c1,centre_a,gist,p1,train,mucosa,iso,body,"),
        [("cases.csv", 6, "case_id")],
        "duplicate case_id 'c1' (first at line 2)",
    ),
    (
        "cases-unknown-label",
        _edit("cases.csv", "c3,centre_b,gist", "c3,centre_b,gits"),
        [("cases.csv", 4, "label")],
        "'gits' is not one of the labels in dataset.yaml (non_gist, gist)",
    ),
    (
        "cases-unknown-centre",
        _edit("cases.csv", "c1,centre_a", "c1,centre_c"),
        [("cases.csv", 2, "centre")],
        "'centre_c' is not one of the centres in dataset.yaml (centre_a, centre_b)",
    ),
    (
        "cases-bad-split",
        _edit("cases.csv", "p1,train", "p1,training"),
        [("cases.csv", 2, "split")],
        "'training' is not a split",
    ),
    (
        "cases-group-across-splits",
        _edit("cases.csv", "p3,test,mucosa", "p3,val,mucosa"),
        [("cases.csv", 5, "split")],
        "case 'c4' is in 'val' but case 'c3' of the same group 'p3' (line 4) is in 'test'",
    ),
    (
        "cases-missing-attribute-column",
        _edit("cases.csv", "eus.echo,", "eus.echogenicity,"),
        [("cases.csv", 1, "eus.echo")],
        "attribute column is missing",
    ),
    (
        "cases-attribute-not-in-vocabulary",
        _edit("cases.csv", "test,submucosa,", "test,submucosal,"),
        [("cases.csv", 4, "eus.origin_layer")],
        "'submucosal' is not in the vocabulary of eus.origin_layer in dataset.yaml "
        "(mucosa, submucosa, muscularis_propria)",
    ),
    # --- images.csv ---
    (
        "images-missing-column",
        _edit("images.csv", "case_id,modality,path", "case_id,modality,file"),
        [("images.csv", 1, "path")],
        "required column is missing",
    ),
    (
        "images-unknown-case",
        _append("images.csv", "c9,eus,images/c1/eus_0.png"),
        [("images.csv", 12, "case_id")],
        "case 'c9' is not in cases.csv",
    ),
    (
        "images-unknown-modality",
        _append("images.csv", "c1,nbi,images/c1/eus_0.png"),
        [("images.csv", 12, "modality")],
        "'nbi' is not one of the modalities in dataset.yaml (eus, wle)",
    ),
    (
        "images-absolute-path",
        _edit("images.csv", "c1,eus,images/c1/eus_0.png", "c1,eus,/images/c1/eus_0.png"),
        [("images.csv", 2, "path")],
        "'/images/c1/eus_0.png' is absolute",
    ),
    (
        "images-path-escapes",
        _edit("images.csv", "c1,eus,images/c1/eus_0.png", "c1,eus,images/../../x/eus_0.png"),
        [("images.csv", 2, "path")],
        "points outside the dataset folder",
    ),
    (
        "images-backslash-path",
        _edit("images.csv", "c1,eus,images/c1/eus_0.png", "c1,eus,images\\c1\\eus_0.png"),
        [("images.csv", 2, "path")],
        "uses '\\' as a separator",
    ),
    (
        "images-file-missing",
        lambda r: (r / "images/c3/eus_0.png").unlink(),
        [("images.csv", 7, "path")],
        "file images/c3/eus_0.png does not exist",
    ),
    (
        "images-path-is-folder",
        _edit("images.csv", "images/c4/wle_1.png", "images/c4"),
        [("images.csv", 11, "path")],
        "images/c4 is not a file",
    ),
    (
        "images-garbage-bytes",
        _write_bytes("images/c2/wle_0.jpg", b"this is not an image"),
        [("images.csv", 6, "path")],
        "images/c2/wle_0.jpg cannot be decoded as an image (cannot identify image file)",
    ),
    (
        "images-truncated-png",
        _truncate("images/c2/eus_0.png", 0.6),
        [("images.csv", 5, "path")],
        "images/c2/eus_0.png cannot be decoded",
    ),
    (
        "images-truncated-jpeg",
        _large_jpeg_truncated,
        [("images.csv", 6, "path")],
        "images/c2/wle_0.jpg cannot be decoded",
    ),
    (
        "images-truncated-bmp",
        _truncate("images/c3/wle_0.bmp", 0.5),
        [("images.csv", 8, "path")],
        "images/c3/wle_0.bmp is truncated (",
    ),
    (
        "images-unsupported-format",
        _gif_image,
        [("images.csv", 11, "path")],
        "is a GIF image; supported formats are PNG, JPEG, BMP, TIFF",
    ),
    (
        "images-duplicate-row",
        _append("images.csv", "c1,eus,images/c1/eus_0.png"),
        [("images.csv", 12, "path")],
        "duplicate of line 2",
    ),
    (
        "images-case-without-any-image",
        lambda r: [
            delete_line(r / "images.csv", f"c2,{m}") for m in ("eus,images/c2/eus_0.png", "wle,images/c2/wle_0.jpg")
        ],
        [("images.csv", None, None)],
        "case 'c2' (cases.csv:3) has no image; every case needs at least one",
    ),
    # --- reports.csv ---
    (
        "reports-unknown-case",
        _append("reports.csv", "c9,a report,eus part,wle part"),
        [("reports.csv", 8, "case_id")],
        "case 'c9' is not in cases.csv",
    ),
    (
        "reports-case-without-report",
        _delete(
            "reports.csv",
            "c4,EUS: hyperechoic mucosal lesion. WLE: polyp in the cardia.,hyperechoic mucosal lesion,"
            "polyp near the cardia",
        ),
        [("reports.csv", None, None)],
        "case 'c4' (cases.csv:5) has no report",
    ),
    (
        "reports-duplicate-row",
        _append("reports.csv", "c1,again,eus part,wle part"),
        [("reports.csv", 8, "case_id")],
        "second report for case 'c1' (first at line 2)",
    ),
    (
        "reports-empty-report",
        _edit("reports.csv", "c3,EUS: hypoechoic submucosal lesion. WLE: bulge in the body.,", "c3,  ,"),
        [("reports.csv", 6, "report")],
        "report text is empty",
    ),
    (
        "reports-empty-section",
        _edit("reports.csv", "polyp near the cardia", ""),
        [("reports.csv", 7, "report.wle")],
        "report text is empty",
    ),
    (
        "reports-undeclared-section",
        _edit("reports.csv", "report.eus,report.wle", "report.eus,report.nbi"),
        [("reports.csv", 1, "report.nbi")],
        "report section for modality 'nbi', which dataset.yaml does not declare",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected", "fragment"),
    [pytest.param(m, e, f, id=i) for i, m, e, f in ERROR_CASES],
)
def test_each_error_kind_is_located(
    dataset: Path, mutate: Callable[[Path], None], expected: list[Location], fragment: str
) -> None:
    mutate(dataset)
    violations = validate_dataset(dataset)
    assert locations(violations) == expected, "\n".join(map(str, violations))
    assert fragment in violations[0].message


def test_all_violations_are_collected_and_sorted(dataset: Path) -> None:
    replace_text(dataset / "reports.csv", "polyp near the cardia", "")
    replace_text(dataset / "images.csv", "c4,wle,images/c4/wle_1.png", "c4,nbi,images/c4/wle_1.png")
    (dataset / "images/c1/eus_1.png").unlink()
    replace_text(dataset / "cases.csv", "c3,centre_b,gist", "c3,centre_b,gits")
    replace_text(dataset / "cases.csv", "p1,train", "p1,training")
    replace_text(dataset / "dataset.yaml", "task: binary", "task: binomial")
    assert locations(validate_dataset(dataset)) == [
        ("dataset.yaml", 3, "task"),
        ("cases.csv", 2, "split"),
        ("cases.csv", 4, "label"),
        ("images.csv", 3, "path"),
        ("images.csv", 11, "modality"),
        ("reports.csv", 7, "report.wle"),
    ]


def test_windows_line_endings_and_bom_are_accepted(dataset: Path) -> None:
    """Excel on Windows writes a BOM and CRLF; both are fine and line numbers stay physical."""
    for name in ("cases.csv", "images.csv", "reports.csv"):
        path = dataset / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert validate_dataset(dataset) == []
    reports = dataset / "reports.csv"
    reports.write_bytes(reports.read_bytes().replace(b"c4,EUS: hyperechoic", b"c4,,EUS: hyperechoic"))
    assert locations(validate_dataset(dataset)) == [("reports.csv", 7, None)]


def test_missing_folder(tmp_path: Path) -> None:
    violations = validate_dataset(tmp_path / "absent")
    assert [str(v) for v in violations] == [f"{tmp_path / 'absent'}: dataset folder does not exist"]


def test_no_images_mode_skips_decoding_but_not_existence(dataset: Path) -> None:
    (dataset / "images/c2/wle_0.jpg").write_bytes(b"junk")
    assert validate_dataset(dataset, check_images=False) == []
    (dataset / "images/c3/eus_0.png").unlink()
    assert locations(validate_dataset(dataset, check_images=False)) == [("images.csv", 7, "path")]


def test_tiff_and_symlinked_image_folder_are_accepted(dataset: Path, tmp_path: Path) -> None:
    write_image(dataset / "images/c4/wle_1.tif", "wle", seed=3)
    replace_text(dataset / "images.csv", "images/c4/wle_1.png", "images/c4/wle_1.tif")
    bulk = tmp_path / "bulk"
    (dataset / "images/c1").rename(bulk)
    (dataset / "images/c1").symlink_to(bulk, target_is_directory=True)
    assert validate_dataset(dataset) == []


@pytest.mark.parametrize(
    ("mutate", "culprit"),
    [
        (_edit("cases.csv", "hypo,body,", "hypo,body,,"), "cases.csv:4: row has 10 fields"),
        (
            lambda r: (r / "images/c3/eus_0.png").unlink(),
            "images.csv:7:path: file images/c3/eus_0.png does not exist",
        ),
        (
            _delete(
                "reports.csv",
                "c4,EUS: hyperechoic mucosal lesion. WLE: polyp in the cardia.,"
                "hyperechoic mucosal lesion,polyp near the cardia",
            ),
            "reports.csv: case 'c4' (cases.csv:5) has no report",
        ),
        (
            _edit("cases.csv", "mucosa,hyper,cardia", "mucosa,hyperechoic,cardia"),
            "cases.csv:5:eus.echo: 'hyperechoic' is not in the vocabulary of eus.echo",
        ),
    ],
    ids=["malformed-cases-csv", "missing-image", "case-missing-report", "unknown-attribute-value"],
)
def test_bad_input_stops_with_one_message_naming_the_culprit(
    dataset: Path, mutate: Callable[[Path], None], culprit: str
) -> None:
    mutate(dataset)
    with pytest.raises(DataFormatError) as info:
        load_dataset(dataset)
    assert len(info.value.violations) == 1
    assert str(info.value.violations[0]).startswith(culprit)
    assert culprit in str(info.value)


def test_cli_valid_folder_prints_summary(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(dataset)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dataset tiny_gist: binary, synthetic, labels non_gist, gist (positive: gist)\n")
    assert "4 cases in 3 groups, 10 images, 4 reports" in out
    assert "  centre_a         1     1      2\n" in out
    assert "  total            2     2      4\n" in out
    assert "  eus              1       5             1       1    2          L 5\n" in out
    assert "  eus+wle         4\n" in out
    assert "  eus.echo: hypo 2, iso 1, hyper 1\n" in out
    assert "official split (cases): train 2, val 0, test 2, free 0" in out
    assert "  report.wle   17      23   30\n" in out


def test_cli_quiet_valid_folder_prints_nothing(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(dataset), "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_cli_invalid_folder_lists_violations(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replace_text(dataset / "cases.csv", "c3,centre_b,gist", "c3,centre_b,gits")
    (dataset / "images/c2/wle_0.jpg").write_bytes(b"junk")
    assert main([str(dataset), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "cases.csv:4:label: 'gits' is not one of the labels in dataset.yaml (non_gist, gist)",
        "images.csv:6:path: images/c2/wle_0.jpg cannot be decoded as an image (cannot identify image file)",
    ]
    assert "2 format error(s)" in captured.err
    assert main([str(dataset), "--no-images"]) == 1
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_cli_dispatch_and_usage_error(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate-data", str(dataset), "--quiet"]) == 0
    (dataset / "images.csv").unlink()
    assert cli.main(["validate-data", str(dataset)]) == 1
    assert capsys.readouterr().out == "images.csv: required file is missing\n"
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_summarize_minimal_folder(dataset: Path) -> None:
    """Optional parts (attributes, groups, split) are left out of the summary, not shown as empty."""
    yaml_text = (dataset / "dataset.yaml").read_text()
    start, end = yaml_text.index("attributes:"), yaml_text.index("centres:")
    (dataset / "dataset.yaml").write_text(yaml_text[:start] + yaml_text[end:])
    cases = [",".join(row.split(",")[:3]) for row in (dataset / "cases.csv").read_text().splitlines()]
    (dataset / "cases.csv").write_text("\n".join(cases) + "\n")
    assert validate_dataset(dataset) == []
    summary = summarize(dataset)
    assert "4 cases, 10 images, 4 reports" in summary
    assert "attribute values" not in summary and "official split" not in summary
    assert "cases per centre and label:" in summary


def test_optional_reports_missing_modalities_and_sparse_attributes_are_valid(dataset: Path) -> None:
    """Issue 11 / contracts C1-C3: no reports.csv, a case without WLE, an unannotated attribute."""
    (dataset / "reports.csv").unlink()
    delete_line(dataset / "images.csv", "c2,wle,images/c2/wle_0.jpg")
    replace_text(dataset / "cases.csv", "mucosa,hyper,cardia", "mucosa,,cardia")
    assert validate_dataset(dataset) == []
    loaded = load_dataset(dataset)
    assert not loaded.has_reports and list(loaded.reports.columns) == ["case_id"]
    summary = summarize(dataset)
    assert "4 cases in 3 groups, 9 images, no reports (no reports.csv)" in summary
    assert "modality coverage (cases): 3 of 4 have every modality" in summary
    assert "  eus+wle         3\n  eus             1\n" in summary
    assert "eus.echo: hypo 2, iso 1, hyper 0, not annotated 1" in summary
    assert "report length" not in summary


def test_existing_reports_csv_keeps_its_rules(dataset: Path) -> None:
    """Reports are optional as a file; a reports.csv that exists still needs one report per case."""
    delete_line(
        dataset / "reports.csv",
        "c4,EUS: hyperechoic mucosal lesion. WLE: polyp in the cardia.,"
        "hyperechoic mucosal lesion,polyp near the cardia",
    )
    assert [str(v) for v in validate_dataset(dataset)] == ["reports.csv: case 'c4' (cases.csv:5) has no report"]


def test_a_report_over_128_kib_is_read(dataset: Path) -> None:
    """The csv module's default field limit (128 KiB) gave 'malformed quoting: field larger than field limit'."""
    long = "x" * (200 << 10)
    replace_text(dataset / "reports.csv", "bulge in the body.,hypo", f"bulge in the body. {long},hypo")
    assert validate_dataset(dataset) == []
    assert load_dataset(dataset).reports["report"].str.len().max() > 200 << 10


def test_summary_lists_image_modes(dataset: Path) -> None:
    Image.fromarray(np.full((12, 16), 4000, dtype=np.uint16)).save(dataset / "images/c1/eus_1.png")
    Image.new("P", (16, 12)).save(dataset / "images/c4/wle_1.png")
    assert validate_dataset(dataset) == []
    summary = summarize(dataset)
    assert "  eus              1       5             1       1    2  I;16 1, L 4\n" in summary
    assert "P 1, RGB 4" in summary
