"""Every config preset validates and Snakemake builds its DAG (dry run, no data needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PRESETS = sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name != "config.yaml")


def test_expected_presets_exist() -> None:
    for name in ("paper_tmmnet.yaml", "paper_dualbranch.yaml", "ham10000_fusion.yaml"):
        assert name in PRESETS
    assert any(p.startswith("medmnist_") for p in PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_snakemake_builds_the_preset_dag(preset: str) -> None:
    proc = subprocess.run(
        [SNAKEMAKE, "all", "-n", "--nolock", "--cores", "1", "--configfile", f"config/{preset}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Job stats" in out and "download" in out
