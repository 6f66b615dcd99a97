"""Device choice: CUDA when present (the job's CUDA_VISIBLE_DEVICES decides which), else CPU."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from mmdiag.errors import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    """`trainer.device` as a torch device; a CUDA device this job cannot see is a ConfigError, not a crash later.

    (Checked at config load too; here for a job that lands where the GPU it was configured for is missing.)
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"trainer.device: unknown device '{name}'; use auto, cpu, cuda or cuda:<index>") from None
    if device.type == "cuda":
        n = torch.cuda.device_count()
        if (device.index is not None and device.index >= n) or n == 0:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            raise ConfigError(
                f"trainer.device: '{name}' but this job sees {n} CUDA GPU(s) (CUDA_VISIBLE_DEVICES={visible}); "
                "use auto or cpu, or run the job where the GPU is"
            )
    return device


def configure_threads(n: int | None) -> None:
    """Cap intra-op threads (Snakemake's `threads`), so concurrent jobs do not oversubscribe cores."""
    if n:
        torch.set_num_threads(int(n))
        os.environ["OMP_NUM_THREADS"] = str(n)


def to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to `device`."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads)"
