"""Where a number came from: dataset + checksum, config hash, seed, git commit, times, device.

Every run writes this record (`run.json`); every table row carries it in its provenance sidecar, so
each cell traces to the run that produced it.
"""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@functools.cache
def git_commit(cwd: str = ".") -> str:
    """HEAD commit, suffixed `-dirty` when tracked files differ from it; `unknown` outside a checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def slurm_job() -> dict[str, str] | None:
    """The SLURM job this process runs in, if any (recorded so cluster runs are traceable)."""
    import os

    if "SLURM_JOB_ID" not in os.environ:
        return None
    keys = ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST", "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES")
    return {k: os.environ[k] for k in keys if k in os.environ}


def provenance(
    dataset_meta: dict[str, Any],
    config_hash: str,
    seed: int,
    device: str,
    started: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    import os

    ds = dataset_meta.get("dataset", {})
    record = {
        "dataset": ds.get("name"),
        "dataset_synthetic": bool(ds.get("synthetic", False)),
        "dataset_checksum": dataset_meta.get("dataset_checksum"),
        "config_hash": config_hash,
        "seed": seed,
        "git_commit": git_commit(str(Path.cwd())),
        "started": started,
        "finished": now(),
        "device": device,
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "slurm": slurm_job(),
    }
    record.update(extra or {})
    return record
