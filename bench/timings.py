"""Print the wall-clock figures tests used to assert (no assertions here: a busy machine is not a bug).

- default synthetic generation: seconds and images/s (was `test_default_generation_is_fast`, < 20 s);
- config load with the encoder checks: cold (empty probe cache) and warm;
- `snakemake all -n` on the default config: what every no-op run pays before it looks at files (was
  `test_second_run_is_a_fast_noop`, < 5 s, on the tiny sandbox).

Usage: `.venv/bin/python bench/timings.py [--skip-generation]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generation() -> str:
    from mmdiag.data.synthetic import generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate_dataset(Path(tmp) / "default", progress=False)
        seconds = time.perf_counter() - t0
        images = sum(1 for _ in (Path(tmp) / "default").rglob("*.png"))
    return f"default synthetic generation: {seconds:.1f} s, {images} images, {images / seconds:.0f} images/s"


def config_load() -> str:
    with tempfile.TemporaryDirectory() as cache:
        code = "from mmdiag.config import load_config; load_config('config/config.yaml')"
        env = {**os.environ, "MMDIAG_CACHE_DIR": cache}
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)
            times.append(time.perf_counter() - t0)
    return f"config load + checks (own process): cold probe cache {times[0]:.1f} s, warm {times[1]:.1f} s"


def dry_run() -> str:
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run(
            [snakemake, "all", "-n", "--nolock", "--cores", "1", "--quiet"], cwd=REPO, check=True, capture_output=True
        )
        times.append(time.perf_counter() - t0)
    return f"snakemake all -n (default config): {times[0]:.1f} s, again {times[1]:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-generation", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    if not args.skip_generation:
        print(generation())
    print(config_load())
    print(dry_run())


if __name__ == "__main__":
    main()
