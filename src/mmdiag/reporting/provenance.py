"""Provenance sidecars: `<table>.provenance.json` maps every table row to the run(s) behind it.

Each row lists its runs (one for most tables, one per fold for cross-validation rows) with the run's
dataset name and checksum, config hash, seed, git commit, start/end time and device, copied from the
run's `run.json`, plus the path and SHA-256 of the `metrics.json` the values were read from. So a number
in a paper table can be traced to the exact file and the exact code and data that produced it, and
`verify_sidecar` can check that nothing was re-run or edited since the table was built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdiag.engine.checkpoint import load_json_input
from mmdiag.experiments.provenance import git_commit
from mmdiag.io import file_sha256, write_json
from mmdiag.reporting.runs import Run
from mmdiag.reporting.table import Table

RUN_KEYS = (
    "study",
    "arm",
    "encoder",
    "dataset",
    "dataset_synthetic",
    "dataset_checksum",
    "config_hash",
    "seed",
    "git_commit",
    "started",
    "finished",
    "device",
    "host",
    "split",
)
CHECKED_KEYS = ("dataset_checksum", "config_hash", "seed", "git_commit", "started", "finished", "device")


def run_provenance(run: Run) -> dict[str, Any]:
    """What a table row records about one run."""
    record = run.record
    out: dict[str, Any] = {"metrics": str(run.metrics_path), "metrics_sha256": run.metrics_sha256}
    out.update({k: record[k] for k in RUN_KEYS if k in record})
    return out


def sidecar(table: Table) -> dict[str, Any]:
    """The provenance document of a table (deterministic: same runs and code, same bytes)."""
    return {
        "table": table.name,
        "caption": table.full_caption,
        "synthetic": table.synthetic,
        "built_by_commit": git_commit(str(Path.cwd())),
        "extras": table.extras,
        "left_out": table.left_out,
        "rows": [
            {
                "index": i,
                "labels": row.labels,
                "group": row.group,
                "warnings": row.warnings,
                "runs": [run_provenance(r) for r in row.runs],
            }
            for i, row in enumerate(table.rows)
        ],
    }


def write_sidecar(table: Table, path: str | Path) -> None:
    write_json(path, sidecar(table))


def verify_sidecar(path: str | Path) -> list[str]:
    """Problems found re-reading every run of a sidecar (empty when the table still matches its runs).

    Checks that each `metrics.json` exists with the recorded SHA-256 and that the run's `run.json` still
    holds the recorded dataset checksum, config hash, seed, commit, times and device.
    """
    doc = load_json_input(path)
    problems: list[str] = []
    for row in doc["rows"]:
        for rec in row["runs"]:
            where = f"row {row['index']} ({rec['metrics']})"
            metrics = Path(rec["metrics"])
            if not metrics.exists():
                problems.append(f"{where}: metrics file is missing")
                continue
            if file_sha256(metrics) != rec["metrics_sha256"]:
                problems.append(f"{where}: metrics file changed since the table was built")
            record = Run.load(metrics).record
            for key in CHECKED_KEYS:
                if key in rec and record.get(key) != rec[key]:
                    problems.append(f"{where}: {key} is {record.get(key)!r}, the table recorded {rec[key]!r}")
    return problems
