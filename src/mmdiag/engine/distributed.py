"""What the engine needs to be DDP-aware, without a `DistributedSampler` (batches come from `SampleSet`).

`shard_order` splits one epoch's (seed, epoch) order across ranks exactly like DistributedSampler (padded
by wrapping, rank::world), `wrap_model` adds DistributedDataParallel, `is_main` guards every write
(checkpoints, metrics, predictions), `all_reduce_sum` merges per-rank loss sums for logging, `barrier`
keeps ranks in step around writes. Outside torchrun they are no-ops (rank 0 of 1), so single-process code
paths are unchanged. Launching the ranks is the workflow's business (`mmdiag.cluster.ddp`).
"""

from __future__ import annotations

import os
from typing import Any


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
