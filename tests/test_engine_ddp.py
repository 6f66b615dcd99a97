"""The engine under DistributedDataParallel (2 CPU ranks, gloo): shards the epoch, keeps the ranks' weights
identical, and lets only rank 0 write — what a rule with `gpu: 2` runs under torchrun."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmdiag.engine.checkpoint import load_checkpoint
from test_engine import SPEC, TinyNet, _samples, _val


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, cache: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        from mmdiag.engine.seed import seed_everything
        from mmdiag.engine.trainer import fit
        from mmdiag.losses import build_loss

        seed_everything(0)
        model = TinyNet()
        samples = _samples(Path(cache))
        result = fit(
            model,
            build_loss("ce"),
            samples,
            SPEC,
            Path(out) / "ckpt",
            evaluate=_val(samples),
            fingerprint="ddp",
            device=torch.device("cpu"),
        )
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        torch.save({"weights": flat, "history": result.history}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_ranks_train_one_model_and_only_rank0_writes(tiny_cache: Path, tmp_path: Path) -> None:
    mp.spawn(_rank, args=(2, _free_port(), str(tiny_cache), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (load_checkpoint(tmp_path / f"rank{i}.pt") for i in (0, 1))
    assert torch.allclose(r0["weights"], r1["weights"])  # DDP kept the replicas in step
    assert [h["train_loss"] for h in r0["history"]] == [h["train_loss"] for h in r1["history"]]  # all-reduced
    ckpt = tmp_path / "ckpt"
    assert (ckpt / "done.json").exists() and (ckpt / "best.pt").exists() and not (ckpt / "last.pt").exists()
