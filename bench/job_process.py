"""Per-process costs of a DAG job, measured on a stand-in training job (no assertions).

Every training job of the DAG is its own Python process. This bench starts a child that does what such a job
does (import torch + timm + mmdiag, build the default TMM-Net encoder, run `--steps` AdamW training steps at
batch 32 and `preprocess.size` px on one thread) and measures it under

- `exit`: the interpreter's normal teardown vs `mmdiag.workflow.exit_now` (what `workflow.run` does after a
  finished job): the teardown of torch's modules costs ~1.3 s here and writes nothing;
- `malloc`: glibc's default vs `mmdiag.workflow.MALLOC_ENVIRONMENT` (what every job gets from the Snakemake
  process): with the default, freed activation buffers go back to the kernel and each step faults them in again.

It prints per variant the median wall seconds, user and system CPU seconds, minor page faults, and the wall
ratio to the default (< 1: faster). Usage: `.venv/bin/python bench/job_process.py [--steps 30] [--repeats 3]`.
Run it on a quiet machine; the variants are interleaved, but other load still adds noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import sys
import torch
torch.set_num_threads(1)
from mmdiag.config import load_config
from mmdiag.models.encoders import create_image_encoder
from mmdiag.workflow import exit_now

config = load_config({config!r})
cfg = {{k: v for k, v in config["encoders"][config["tmmnet"]["encoder"]].items() if k != "label"}}
model = create_image_encoder(cfg, in_chans=3)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
size = int(config["preprocess"]["size"])
gen = torch.Generator().manual_seed(0)
for _ in range({steps}):
    x = torch.randn(32, 3, size, size, generator=gen)
    model(x).pooled.square().mean().backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
if {fast_exit}:
    exit_now()
"""


def measure(steps: int, fast_exit: bool, tuned_malloc: bool) -> dict[str, float]:
    """Wall seconds and the child's rusage (user, system CPU seconds, minor page faults)."""
    from mmdiag.workflow import MALLOC_ENVIRONMENT

    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENVIRONMENT}
    if tuned_malloc:
        env.update(MALLOC_ENVIRONMENT)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    code = CHILD.format(config=str(REPO / "config" / "config.yaml"), steps=steps, fast_exit=fast_exit)
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the child failed with status {os.waitstatus_to_exitcode(status)}")
    return {"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime, "minflt": float(usage.ru_minflt)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    variants = {
        "default exit, default malloc": (False, False),
        "exit_now, default malloc": (True, False),
        "default exit, MALLOC_ENVIRONMENT": (False, True),
        "exit_now + MALLOC_ENVIRONMENT (the DAG's jobs)": (True, True),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (fast_exit, tuned) in variants.items():
            runs[name].append(measure(args.steps, fast_exit, tuned))
    base = statistics.median(r["wall"] for r in runs[next(iter(variants))])
    print(f"stand-in job: {args.steps} training steps, median of {args.repeats}")
    print(f"{'variant':48s} {'wall s':>7s} {'user s':>7s} {'sys s':>6s} {'minflt':>9s} {'wall ratio':>10s}")
    for name, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(
            f"{name:48s} {med['wall']:7.2f} {med['user']:7.2f} {med['sys']:6.2f} {med['minflt']:9.0f}"
            f" {med['wall'] / base:10.2f}"
        )


if __name__ == "__main__":
    main()
