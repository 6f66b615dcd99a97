"""Multi-GPU jobs: a rule declaring `gpu > 1` runs its library function once per GPU under torchrun.

Why here and not in every entry point: the decision depends only on the job's resources, so
`mmdiag.workflow.run` makes it for every rule. A job whose `gpu` resource is above 1 and that sees
more than one device re-launches the same `module:function` with the same keyword arguments through
`python -m torch.distributed.run --standalone --nproc-per-node=<GPUs>`; each rank initialises the
process group (NCCL on CUDA, gloo otherwise), pins its device and calls the function. The parent
(which holds the GPU slots) waits and returns the ranks' exit status.

The helpers below are what the engine needs to be DDP-aware without a `DistributedSampler`
(batches come from `SampleSet`, not a DataLoader): `shard_order` splits one epoch's (seed, epoch)
order across ranks exactly like DistributedSampler (padded by wrapping, rank::world), `wrap_model`
adds DistributedDataParallel, `is_main` guards every write (checkpoints, metrics, predictions),
`all_reduce_sum` merges per-rank loss sums for logging, `barrier` keeps ranks in step around writes.
Outside torchrun they are no-ops (rank 0 of 1), so single-process code paths are unchanged.
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
        "mmdiag.cluster.ddp",
        payload,
    ]
    log.info("DDP: %s", " ".join(cmd))
    out = log_file if log_file is not None and hasattr(log_file, "fileno") else None
    try:
        return subprocess.run(cmd, stdout=out, stderr=out, check=False).returncode
    finally:
        Path(payload).unlink(missing_ok=True)


def _rank_main(payload: str) -> int:
    """One rank: join the process group, pin the device, call the function, leave the group."""
    import torch
    import torch.distributed as dist

    from mmdiag.workflow import resolve

    spec = json.loads(Path(payload).read_text(encoding="utf-8"))
    local_rank = int(os.environ["LOCAL_RANK"])
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        force=True,
        format=f"%(asctime)s rank{os.environ['RANK']} %(levelname)s %(name)s: %(message)s",
    )
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    try:
        resolve(spec["target"])(**spec["kwargs"])
    finally:
        dist.destroy_process_group()
    return 0


# ------------------------------------------------------------------------------------------ engine helpers
def _dist() -> Any:
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank() -> int:
    dist = _dist()
    return dist.get_rank() if dist else 0


def world_size() -> int:
    dist = _dist()
    return dist.get_world_size() if dist else 1


def is_main() -> bool:
    """True on the one process that writes files (rank 0, or the only process)."""
    return rank() == 0


def barrier() -> None:
    dist = _dist()
    if dist:
        dist.barrier()


def shard_order(order: Any, rank_: int | None = None, world: int | None = None) -> Any:
    """This rank's share of one epoch's sample order, as `torch.utils.data.DistributedSampler` splits it.

    The order is padded by wrapping around to a multiple of the world size, then rank r takes
    positions r, r + world, ... Every rank gets the same number of samples (DDP needs equal step
    counts) and the union of the shards is the whole epoch.
    """
    import torch

    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if world == 1:
        return order
    n = len(order)
    total = -(-n // world) * world
    if total > n:
        order = torch.cat([order, order[: total - n]])
    return order[rank_:total:world]


def wrap_model(model: Any, device: Any) -> Any:
    """DistributedDataParallel around `model` under torchrun; the model itself otherwise."""
    if _dist() is None:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else int(os.environ.get("LOCAL_RANK", 0))]
    # Phases of one model leave parts unused (e.g. the classifier during stage-1 pretraining).
    return DistributedDataParallel(
        model, device_ids=ids if device.type == "cuda" else None, find_unused_parameters=True
    )


def all_reduce_sum(values: dict[str, Any]) -> dict[str, Any]:
    """Sum tensors of the same keys over ranks (epoch loss sums, sample counts); unchanged outside DDP."""
    dist = _dist()
    if dist is None:
        return values
    for v in values.values():
        dist.all_reduce(v, op=dist.ReduceOp.SUM)
    return values


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m torch.distributed.run ... -m mmdiag.cluster.ddp PAYLOAD.json", file=sys.stderr)
        return 2
    return _rank_main(args[0])


if __name__ == "__main__":
    sys.exit(main())
