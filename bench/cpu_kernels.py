"""CPU kernel choices of the training step, measured on the default config's encoders (no assertions).

(a) memory format: train-step time (forward + backward, batch 32, `preprocess.size` px, one thread) of each
    `encoders.<name>` recipe in NCHW (`contiguous`) and NHWC (`channels_last`), and the ratio
    channels_last / contiguous (< 1: channels_last is faster). The recipes set `memory_format` from this.
(b) optimiser: time of one AdamW step over each encoder's parameters, PyTorch's CPU default (a Python loop
    over the tensors, what `mmdiag.engine.optim` builds) against `foreach=True` and `fused=True`, and whether
    the weights after a few steps are bit-identical to the default's (`foreach` is the same arithmetic
    batched; `fused` rounds differently, so it would change every result).

Usage: `.venv/bin/python bench/cpu_kernels.py [--encoders resnet50_cpu densenet201_cpu] [--repeats 5]`.
Run it on a quiet machine: the timings of two formats are interleaved, but other load still adds noise.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ENCODERS = ("resnet18_os8", "resnet50_cpu", "vgg16_cpu", "densenet201_cpu", "resnet18_cpu")


def encoder(config: dict, name: str, memory_format: str) -> torch.nn.Module:
    from mmdiag.models.encoders import create_image_encoder

    cfg = {k: v for k, v in config["encoders"][name].items() if k != "label"}
    cfg["memory_format"] = memory_format
    return create_image_encoder(cfg, in_chans=3)


def step_seconds(model: torch.nn.Module, x: torch.Tensor, steps: int) -> float:
    """Median seconds of forward + backward of the pooled features (the step's model part)."""
    times = []
    for _ in range(steps + 1):  # the first step warms up oneDNN's kernel cache
        t0 = time.perf_counter()
        model(x).pooled.sum().backward()
        times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    return statistics.median(times[1:])


def optimiser_seconds(model: torch.nn.Module, steps: int = 5, **kind: bool) -> tuple[float, torch.Tensor]:
    """Median seconds of one AdamW step (seeded random gradients) and the flattened weights after `steps`."""
    model = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05, **kind)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=gen)
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), torch.cat([p.detach().flatten() for p in model.parameters()])


def main(argv: Sequence[str] | None = None) -> int:
    from mmdiag.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoders", nargs="+", default=list(DEFAULT_ENCODERS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per format")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as every DAG job runs (threads: 1)
    config = load_config(REPO / "config" / "config.yaml")
    size = int(config["preprocess"]["size"])
    print(f"train step, batch {args.batch}, {size} px, 1 thread; median of {args.repeats} x {args.steps} steps")
    for name in args.encoders:
        torch.manual_seed(0)
        models = {fmt: encoder(config, name, fmt) for fmt in ("contiguous", "channels_last")}
        x = torch.randn(args.batch, 3, size, size)
        times: dict[str, list[float]] = {fmt: [] for fmt in models}
        for _ in range(args.repeats):
            for fmt, model in models.items():
                times[fmt].append(step_seconds(model, x, args.steps))
        cont, last = (statistics.median(times[f]) for f in ("contiguous", "channels_last"))
        loop_s, loop_w = optimiser_seconds(models["contiguous"], foreach=False)
        n_tensors = sum(1 for _ in models["contiguous"].parameters())
        others = []
        for kind in ("foreach", "fused"):
            s, w = optimiser_seconds(models["contiguous"], **{kind: True})
            same = "bit-identical" if torch.equal(loop_w, w) else f"max diff {float((w - loop_w).abs().max()):.1e}"
            others.append(f"{kind} x{s / loop_s:.2f} ({same})")
        print(
            f"{name:16s} contiguous {cont * 1e3:7.1f} ms  channels_last {last * 1e3:7.1f} ms  "
            f"ratio {last / cont:.2f} | AdamW step over {n_tensors} tensors {loop_s * 1e3:.1f} ms; " + ", ".join(others)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
