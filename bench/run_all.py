"""Print the two ratios the project promises (one run each; no assertions):

(a) engine overhead: train-step throughput of `mmdiag.engine.trainer.fit` / a bare PyTorch loop, same model,
    batch and in-memory data (>= 0.97 means the engine costs nearly nothing);
(b) data path: images/s the cached data path delivers (batches incl. augmentation) / images/s the model
    trains at (>= 20 means data loading can never starve the model).

Usage: `make bench` or `.venv/bin/python bench/run_all.py [--epochs N] [--repeats R]`.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import build


def bare_loop(model: torch.nn.Module, batches: list[dict], epochs: int, lr: float) -> float:
    """images/s of the plainest loop: forward, CE, backward, step over pre-built in-memory batches."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    model.train()
    n = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for b in batches:
            loss = torch.nn.functional.cross_entropy(model(b)["logits"], b["label"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += b["label"].shape[0]
    return n / (time.perf_counter() - t0)


def engine_loop(model: torch.nn.Module, samples, epochs: int, config: dict) -> float:
    """images/s of the engine: same model/batch size/optimiser, checkpoint each epoch, no validation."""
    from mmdiag.data.augment import build_augment
    from mmdiag.engine.trainer import FitSpec, fit
    from mmdiag.losses import build_loss

    spec = FitSpec.from_config(
        config["trainer"], epochs=epochs, progress=False, grad_clip=None, scheduler={"name": "none"}
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        fit(
            model,
            build_loss("ce"),
            samples,
            spec,
            Path(tmp),
            evaluate=None,
            augment=build_augment(config.get("augment")),
            device=torch.device("cpu"),
        )
        seconds = time.perf_counter() - t0
    return len(samples) * epochs / seconds


def data_path(samples, batch_size: int, config: dict, epochs: int) -> float:
    """images/s of the cached data path alone: batches (index_select + cast) with augmentation."""
    from mmdiag.data.augment import build_augment

    augment = build_augment(config.get("augment"))
    n_images = 0
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for b in samples.batches(batch_size, epoch=epoch, shuffle=True, augment=augment):
            n_images += sum(x.shape[0] for x in b["images"].values())
    return n_images / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model0, samples, config = build()
    bs = int(config["trainer"]["batch_size"])
    batches = [samples.batch(idx) for idx in torch.arange(len(samples)).split(bs)]
    n_mod = len(samples.modalities)
    bare, engine = [], []
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits both alike
        bare.append(bare_loop(copy.deepcopy(model0), batches, args.epochs, config["trainer"]["optimizer"]["lr"]))
        engine.append(engine_loop(copy.deepcopy(model0), samples, args.epochs, config))
    data = data_path(samples, bs, config, epochs=20)
    b, e = statistics.median(bare), statistics.median(engine)
    print(
        f"model: TMM-Net direct fusion, encoder {config['tmmnet']['encoder']}, {n_mod} modalities, "
        f"batch {bs}, {len(samples)} samples, {args.threads} threads, median of {args.repeats}"
    )
    print(f"bare loop      : {b:8.1f} samples/s  ({b * n_mod:.1f} images/s)")
    print(f"engine         : {e:8.1f} samples/s")
    print(f"data path      : {data:8.1f} images/s")
    print(f"(a) engine / bare loop throughput      = {e / b:.3f}   (goal >= 0.97)")
    print(f"(b) data path / model training images/s = {data / (b * n_mod):.1f}   (goal >= 20)")


if __name__ == "__main__":
    main()
