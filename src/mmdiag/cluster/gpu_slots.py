"""One GPU per concurrent job on a single machine: a lock-protected slot pool.

Why: `snakemake --resources gpu=2` only caps how many GPU jobs run at once; it never says *which*
GPU a job gets (snakemake issues #116, #281), so two jobs would both land on device 0. Each job
therefore claims free device ids from a pool of lock files (`gpu<i>.lock`, one per device) with
`fcntl.flock` and exports them as CUDA_VISIBLE_DEVICES before torch initialises CUDA.

- A lock belongs to an open file: the kernel drops it when the process exits, crashes or is killed,
  so a dead job never keeps a GPU.
- Claims are all-or-nothing (a job asking for 2 GPUs takes 2 free ids or none and retries), so two
  multi-GPU jobs cannot deadlock holding one GPU each.
- A CUDA_VISIBLE_DEVICES that is already set (SLURM sets it from `--gpus`; a user may pin one) is
  respected: the scheduler has already chosen, and the pool is not consulted.

The pool size is `MMDIAG_NUM_GPUS` when set (tests fake GPUs with it), else the NVIDIA devices the
driver lists in /proc (no torch import, so CUDA is never initialised before the choice is made).
The lock folder is `MMDIAG_GPU_LOCK_DIR`, else `<tmp>/mmdiag-gpu-slots-<uid>`; every job on the
machine must share it (they do by default).
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from mmdiag.errors import ConfigError

log = logging.getLogger(__name__)

NUM_GPUS_ENV = "MMDIAG_NUM_GPUS"
LOCK_DIR_ENV = "MMDIAG_GPU_LOCK_DIR"
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")


def gpu_count() -> int:
    """GPUs this machine offers to the pool (`MMDIAG_NUM_GPUS`, else the NVIDIA driver's device list)."""
    if os.environ.get(NUM_GPUS_ENV, "").strip():
        return int(os.environ[NUM_GPUS_ENV])
    try:
        return sum(1 for _ in NVIDIA_PROC.iterdir())
    except OSError:
        return 0


def lock_dir() -> Path:
    """The folder every job on this machine shares for its slot locks."""
    configured = os.environ.get(LOCK_DIR_ENV, "").strip()
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / f"mmdiag-gpu-slots-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _try_claim(folder: Path, total: int, wanted: int) -> tuple[list[int], list[IO[bytes]]]:
    """Lock `wanted` free ids out of `total` without blocking; ([], []) when fewer are free."""
    ids: list[int] = []
    handles: list[IO[bytes]] = []
    for gpu in range(total):
        fh = open(folder / f"gpu{gpu}.lock", "ab")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        ids.append(gpu)
        handles.append(fh)
        if len(ids) == wanted:
            return ids, handles
    _release(handles)
    return [], []


def _release(handles: list[IO[bytes]]) -> None:
    for fh in handles:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


@contextmanager
def gpu_slot(
    wanted: int = 1,
    total: int | None = None,
    folder: Path | None = None,
    timeout: float | None = None,
    poll: float = 0.5,
) -> Iterator[list[int] | None]:
    """Hold `wanted` GPUs of this machine for the block, exported as CUDA_VISIBLE_DEVICES.

    Yields the claimed ids, or None when the pool is not used: nothing wanted, no GPUs here
    (CPU run), or CUDA_VISIBLE_DEVICES already chosen by the scheduler or the user.

    Raises:
        ConfigError: more GPUs wanted than the machine has (waiting would never end).
        TimeoutError: not enough GPUs freed up within `timeout` seconds.
    """
    if wanted <= 0 or VISIBLE_ENV in os.environ:
        yield None
        return
    total = gpu_count() if total is None else total
    if total == 0:
        yield None
        return
    if wanted > total:
        raise ConfigError(f"a job wants {wanted} GPUs, this machine has {total} ({NUM_GPUS_ENV} to override)")
    folder = folder or lock_dir()
    deadline = None if timeout is None else time.monotonic() + timeout
    waited = False
    while True:
        ids, handles = _try_claim(folder, total, wanted)
        if ids:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"no {wanted} free GPU(s) of {total} within {timeout} s (locks in {folder})")
        if not waited:
            log.info("waiting for %d free GPU(s) of %d (locks in %s)", wanted, total, folder)
            waited = True
        time.sleep(poll)
    os.environ[VISIBLE_ENV] = ",".join(map(str, ids))
    log.info("GPU slot(s) %s claimed: %s=%s", ids, VISIBLE_ENV, os.environ[VISIBLE_ENV])
    try:
        yield ids
    finally:
        os.environ.pop(VISIBLE_ENV, None)
        _release(handles)
