"""Provenance sidecars: every row maps to its run(s), and `verify_sidecar` notices any change since."""

from __future__ import annotations

from pathlib import Path

from mmdiag.io import file_sha256, read_json, write_json
from mmdiag.reporting.catalog import TABLES
from mmdiag.reporting.provenance import CHECKED_KEYS, sidecar, verify_sidecar, write_sidecar
from test_reporting_fixtures import make_ablation, make_cv, make_meta


def test_every_row_maps_to_its_run(tmp_path: Path) -> None:
    runs = make_ablation(tmp_path)
    table = TABLES.get("tmmnet_t3_ablation")(runs=[str(p) for p in runs], meta=str(make_meta(tmp_path)), config={})
    doc = sidecar(table)
    assert doc["table"] == "tmmnet_t3_ablation" and doc["synthetic"] is True
    assert len(doc["rows"]) == len(table.rows) == 16
    for row in doc["rows"]:
        (rec,) = row["runs"]
        run_json = read_json(Path(rec["metrics"]).parent / "run.json")
        assert rec["arm"] == row["labels"]["Arm"] == run_json["arm"]
        for key in (
            "dataset",
            "dataset_checksum",
            "config_hash",
            "seed",
            "git_commit",
            "started",
            "finished",
            "device",
        ):
            assert rec[key] == run_json[key], key
        assert rec["metrics_sha256"] == file_sha256(rec["metrics"])
    assert doc["extras"]["bayes_accuracy"] == 0.9


def test_cv_rows_list_every_fold(tmp_path: Path) -> None:
    table = TABLES.get("tmmnet_t4_cv")(runs=[str(make_cv(tmp_path / "centre_b", [0.6, 0.7]))], config={})
    rows = sidecar(table)["rows"]  # pair-level and case-level accuracy rows, both from every fold
    assert [row["labels"]["Metric"] for row in rows] == ["Acc", "Acc (case)"]
    for row in rows:
        assert [Path(r["metrics"]).parent.name for r in row["runs"]] == ["fold0", "fold1"]


def test_sidecar_is_deterministic_and_verifies(tmp_path: Path) -> None:
    runs = make_ablation(tmp_path)
    build = TABLES.get("tmmnet_t3_ablation_tests")
    table = build(runs=[str(p) for p in runs], meta=str(make_meta(tmp_path)), config={})
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_sidecar(table, a)
    write_sidecar(build(runs=[str(p) for p in runs], meta=str(tmp_path / "cache" / "meta.json"), config={}), b)
    assert a.read_bytes() == b.read_bytes()
    assert all(len(row["runs"]) == 2 for row in read_json(a)["rows"])  # the arm and the reference model
    assert verify_sidecar(a) == []
    assert set(CHECKED_KEYS) >= {"dataset_checksum", "git_commit", "config_hash"}

    run_json = runs[0].parent / "run.json"
    rec = read_json(run_json)
    write_json(run_json, {**rec, "git_commit": "f" * 40})
    problems = verify_sidecar(a)
    assert problems and all("git_commit" in p for p in problems)
    write_json(run_json, rec)
    metrics = read_json(runs[1])
    metrics["eval"]["single_centre"]["metrics"]["Acc"] = 1.0
    write_json(runs[1], metrics)
    assert any("metrics file changed" in p for p in verify_sidecar(a))
    runs[2].unlink()
    assert any("missing" in p for p in verify_sidecar(a))
