"""Byte-identical output per seed, per-case random streams, atomic writing, and the command-line entry."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mmdiag.data.format import read_table
from mmdiag.data.synthetic import generate
from mmdiag.data.synthetic.generate import generate_dataset, main

SMALL: dict[str, Any] = {
    "images_per_modality": 2,
    "centres": [{"name": "centre_a", "n_cases": 5}, {"name": "centre_b", "n_cases": 4}],
}


def _folder_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "one", {**SMALL, "seed": 11}, progress=False)
    generate_dataset(tmp_path / "two", {**SMALL, "seed": 11}, progress=False)
    generate_dataset(tmp_path / "other", {**SMALL, "seed": 12}, progress=False)
    one, two, other = (_folder_digests(tmp_path / n) for n in ("one", "two", "other"))
    assert len(one) == 5 + 9 * 4  # yaml + three csv + true_attributes.csv + 9 cases x 2 modalities x 2 images
    assert one == two
    assert one.keys() == other.keys()
    images = [k for k in one if k.endswith(".png")]
    assert all(one[k] != other[k] for k in images)
    assert one["cases.csv"] != other["cases.csv"] and one["reports.csv"] != other["reports.csv"]


def test_each_case_has_its_own_random_streams(tmp_path: Path) -> None:
    """Fewer images, or an extra centre, leave every other case's draws untouched."""
    generate_dataset(tmp_path / "base", SMALL, progress=False)
    fewer = {**SMALL, "images_per_modality": 1}
    generate_dataset(tmp_path / "fewer", fewer, progress=False)
    extra = {**SMALL, "centres": [{"name": "site_z", "n_cases": 3}, *SMALL["centres"]]}
    generate_dataset(tmp_path / "extra", extra, progress=False)

    base_cases = read_table(tmp_path / "base" / "cases.csv")
    for variant in ("fewer", "extra"):
        cases = read_table(tmp_path / variant / "cases.csv")
        cases = cases[cases["centre"] != "site_z"].reset_index(drop=True)
        pd.testing.assert_frame_equal(cases, base_cases)
        reports = read_table(tmp_path / variant / "reports.csv")
        pd.testing.assert_frame_equal(
            reports[reports["case_id"].isin(base_cases["case_id"])].reset_index(drop=True),
            read_table(tmp_path / "base" / "reports.csv"),
        )
    for name in ("images/centre_a_0003/eus_0.png", "images/centre_b_0001/wle_0.png"):
        base = (tmp_path / "base" / name).read_bytes()
        assert (tmp_path / "fewer" / name).read_bytes() == base == (tmp_path / "extra" / name).read_bytes()
    assert not (tmp_path / "fewer" / "images/centre_a_0003/eus_1.png").exists()


def test_views_of_one_case_differ(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "d", SMALL, progress=False)
    folder = tmp_path / "d" / "images" / "centre_a_0000"
    assert (folder / "eus_0.png").read_bytes() != (folder / "eus_1.png").read_bytes()
    assert (folder / "wle_0.png").read_bytes() != (folder / "wle_1.png").read_bytes()


def test_output_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "data"
    generate_dataset(target, {**SMALL, "seed": 1}, progress=False)
    before = _folder_digests(target)

    calls = {"n": 0}
    original = generate.write_report

    def failing_report(*args: Any, **kwargs: Any) -> dict[str, str]:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("disk on fire")
        return original(*args, **kwargs)

    monkeypatch.setattr(generate, "write_report", failing_report)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate_dataset(target, {**SMALL, "seed": 2}, progress=False)
    assert _folder_digests(target) == before  # the old dataset is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no half-written temp folder left
    monkeypatch.undo()

    generate_dataset(target, {**SMALL, "seed": 2}, progress=False)
    assert _folder_digests(target) != before


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate_dataset(tmp_path / "d", {**SMALL, "images_per_modality": 1}, progress=True)
    captured = capsys.readouterr()
    assert "synthetic synthetic_gist" in captured.err and "9/9" in captured.err
    assert captured.out == ""


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "dataset:\n  synthetic:\n    images_per_modality: 1\n    centres:\n"
        "      - {name: centre_a, n_cases: 3}\n      - {name: centre_b, n_cases: 2}\n"
    )
    assert main([str(tmp_path / "out"), "--config", str(config), "--seed", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "5 cases" in out and "Bayes accuracy 0.88" in out
    assert len(read_table(tmp_path / "out" / "images.csv")) == 10

    bad = tmp_path / "bad.yaml"
    bad.write_text("images_per_modality: many\n")
    from mmdiag.errors import ConfigError

    with pytest.raises(ConfigError, match=r"dataset\.synthetic\.images_per_modality: expected int, got 'many'"):
        main([str(tmp_path / "never"), "--config", str(bad), "--quiet"])
    assert not (tmp_path / "never").exists()


def test_sparse_annotation_blanks_attributes_only(tmp_path: Path) -> None:
    """attribute_annotation < 1: exactly round(n * f) cases per centre keep their attribute cells; images,
    reports, labels and the true attributes are the same bytes as with full annotation."""
    cfg = {**SMALL, "centres": [{"name": "centre_a", "n_cases": 10}, {"name": "centre_b", "n_cases": 4}]}
    generate_dataset(tmp_path / "full", cfg, progress=False)
    generate_dataset(tmp_path / "sparse", {**cfg, "attribute_annotation": 0.3}, progress=False)
    full, sparse = _folder_digests(tmp_path / "full"), _folder_digests(tmp_path / "sparse")
    same = {k for k in full if k.endswith(".png")} | {"reports.csv", "true_attributes.csv"}
    assert all(full[k] == sparse[k] for k in same)
    cases = pd.read_csv(tmp_path / "sparse" / "cases.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(tmp_path / "full" / generate.TRUE_ATTRIBUTES_CSV, dtype=str, keep_default_na=False)
    columns = [c for c in truth.columns if c != "case_id"]
    annotated = (cases[columns] != "").all(axis=1)
    assert ((cases[columns] == "").all(axis=1) | annotated).all()  # a case is annotated wholly or not at all
    assert annotated.groupby(cases["centre"]).sum().to_dict() == {"centre_a": 3, "centre_b": 1}
    full_cases = pd.read_csv(tmp_path / "full" / "cases.csv", dtype=str, keep_default_na=False)
    assert (cases.loc[annotated, columns] == full_cases.loc[annotated, columns]).all().all()
    assert (full_cases[columns] == truth[columns]).all().all()
    assert (cases["label"] == full_cases["label"]).all()
