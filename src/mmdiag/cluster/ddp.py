"""Multi-GPU jobs: a rule declaring `gpu > 1` runs its library function once per GPU under torchrun.

Why here and not in every entry point: the decision depends only on the job's resources, so
`mmdiag.workflow.run` makes it for every rule. A job whose `gpu` resource is above 1 and that sees
more than one device re-launches the same `module:function` with the same keyword arguments through
`python -m torch.distributed.run --standalone --nproc-per-node=<GPUs>`; each rank
(`mmdiag.cluster.ddp_rank`) initialises the process group (NCCL on CUDA, gloo otherwise), pins its device
and calls the function. The parent (which holds the GPU slots) waits and returns the ranks' exit status.

What the training code needs to be DDP-aware (rank, sharding, writes on rank 0 only) is the engine's:
`mmdiag.engine.distributed`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)
_GROUP_ENV = "TORCHELASTIC_RUN_ID"  # set by torch.distributed.run in every rank


# ------------------------------------------------------------------------------------------ decision
def visible_devices() -> int:
    """Devices this job may use: the entries of CUDA_VISIBLE_DEVICES (set by SLURM or the slot pool)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    return len([d for d in value.split(",") if d.strip()]) if value else 0


def in_torchrun() -> bool:
    return _GROUP_ENV in os.environ and "LOCAL_RANK" in os.environ


def wants_ddp(gpus: int) -> bool:
    """A job runs as DDP when its rule asks for more than one GPU and it was given more than one."""
    return gpus > 1 and visible_devices() > 1 and not in_torchrun()


# ------------------------------------------------------------------------------------------ launcher
def _plain(value: Any) -> Any:
    """Snakemake's Namedlists and paths as JSON-able lists and strings."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def launch(target: str, kwargs: Mapping[str, Any], nproc: int, log_file: IO[str] | None = None) -> int:
    """Run `target(**kwargs)` on `nproc` ranks under torchrun; returns the launcher's exit status."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="mmdiag-ddp-", delete=False) as fh:
        json.dump({"target": target, "kwargs": _plain(kwargs)}, fh)
        payload = fh.name
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "mmdiag.cluster.ddp_rank",
        payload,
    ]
    log.info("DDP: %s", " ".join(cmd))
    out = log_file if log_file is not None and hasattr(log_file, "fileno") else None
    try:
        return subprocess.run(cmd, stdout=out, stderr=out, check=False).returncode
    finally:
        Path(payload).unlink(missing_ok=True)
