"""Inference efficiency: parameters, throughput and peak memory (the hybrid Swin paper reports FPS and memory).

What `measure_efficiency` measures, in eval mode under `torch.no_grad()`, on one fixed batch:
- `params`: parameter count; `weights_mb`: bytes of parameters and buffers.
- `ms_per_batch`, `images_per_s`: wall clock (`time.perf_counter`) of `iters` forward passes after `warmup`
  untimed ones, CUDA synchronised before each clock reading; images = the batch size.
- `peak_memory_mb`: memory the forward pass needs on top of what is resident before it (model, batch),
  measured in separate passes after the timed ones so that sampling never perturbs the timing:
  - CUDA (`memory_source: cuda_allocated`): `torch.cuda.max_memory_allocated()` minus the allocated bytes
    before the pass, with the peak statistics reset first: exact, tensors only (not the allocator's cache);
  - CPU (`memory_source: cpu_rss`): growth of the process's resident set size (psutil) over its value before
    the pass, sampled every millisecond by a background thread. Freed heap pages are first returned to the
    OS (glibc `malloc_trim`), so activations show up as growth instead of reusing pages an earlier pass
    touched. RSS counts whole pages and can miss spikes shorter than the interval: an estimate, comparable
    between models measured the same way, not an exact tensor count.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import psutil
import torch
from torch import Tensor, nn

from mmdiag.engine.device import to_device
from mmdiag.models.encoders.timm_image import count_parameters

MB = 2**20


def measure_efficiency(
    model: nn.Module,
    batch: Mapping[str, Any] | Tensor,
    device: torch.device | str,
    warmup: int = 2,
    iters: int = 10,
    memory_iters: int = 2,
) -> dict[str, Any]:
    """Parameters, inference throughput and peak memory of `model` on `batch` (see the module docstring).

    Args:
        model: takes `batch` (a batch dict, or an image tensor for plain timm models); moved to `device`.
        batch: the input; its batch size is the first image tensor's first dimension.
        device: where to run.
        warmup: untimed passes first (lazy initialisation, cuDNN autotuning).
        iters: timed passes.
        memory_iters: passes over which peak memory is taken.
    """
    if iters < 1 or memory_iters < 1 or warmup < 0:
        raise ValueError(f"need iters >= 1, memory_iters >= 1, warmup >= 0; got {iters}, {memory_iters}, {warmup}")
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    inputs = to_device(batch, device)
    images = _batch_size(inputs)

    def run(n: int) -> None:
        for _ in range(n):
            model(inputs)

    try:
        with torch.no_grad():
            run(warmup)
            _sync(device)
            start = time.perf_counter()
            run(iters)
            _sync(device)
            seconds = (time.perf_counter() - start) / iters
            peak, source = _peak_memory(lambda: run(memory_iters), device)
    finally:
        model.train(was_training)
    return {
        "params": count_parameters(model),
        "weights_mb": sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())) / MB,
        "images_per_s": images / seconds,
        "ms_per_batch": seconds * 1e3,
        "peak_memory_mb": peak / MB,
        "memory_source": source,
        "batch_size": images,
        "device": str(device),
    }


def _batch_size(batch: Mapping[str, Any] | Tensor) -> int:
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    return int(next(iter(batch["images"].values())).shape[0])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory(fn: Callable[[], None], device: torch.device) -> tuple[int, str]:
    """Peak bytes `fn` needs above what is resident before it, and how they were measured."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - before), "cuda_allocated"
    _release_free_heap()
    with RssPeak() as rss:
        fn()
    return rss.growth, "cpu_rss"


def _release_free_heap() -> None:
    """Return freed heap pages to the OS (glibc only; elsewhere a no-op), so later allocations count as growth."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class RssPeak:
    """Context manager sampling this process's RSS in a thread; `growth` = peak - value on entry (bytes)."""

    def __init__(self, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.base = self.peak = 0

    def __enter__(self) -> RssPeak:
        self.base = self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.base)

    def _rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, self._rss())
