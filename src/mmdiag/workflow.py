"""The bridge between a Snakemake rule and one library function.

`workflow_scripts/<rule>.py` is two lines: it calls `run(snakemake, "module:function")`. Named inputs,
outputs and params of the rule become keyword arguments of the function, together with `config` and
the wildcards, so rules stay declarative and the logic stays testable without Snakemake. Logging and
stderr (progress bars) go to the rule's log; an `MmdiagError` becomes one line and exit status 1.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from mmdiag.errors import MmdiagError


def setup_process(config: dict[str, Any], threads: int | None = None) -> None:
    """Process-wide settings every entry point needs before heavy imports."""
    if config.get("hub_offline", True):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)


def resolve(target: str) -> Callable[..., Any]:
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def rule_kwargs(smk: Any) -> dict[str, Any]:
    """config + named inputs/outputs/params + wildcards of a Snakemake job, as keyword arguments."""
    kwargs: dict[str, Any] = {"config": dict(smk.config)}
    for group in (smk.input, smk.output, smk.params, smk.wildcards):
        kwargs.update({k: v for k, v in group.items()})
    return kwargs


def run(smk: Any, target: str) -> None:
    """Run `target` for the Snakemake job `smk`, logging to its log file."""
    log_path = smk.log[0] if len(smk.log) else None
    setup_process(smk.config, smk.threads)
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        sys.stderr = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives for the process
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    t0 = time.perf_counter()
    log = logging.getLogger("mmdiag.workflow")
    log.info("rule %s: %s (threads=%s)", smk.rule, target, smk.threads)
    try:
        resolve(target)(**rule_kwargs(smk))
    except MmdiagError as exc:
        log.error("%s", exc)
        print(f"mmdiag: {smk.rule}: {exc}", file=sys.__stderr__)
        sys.exit(1)
    log.info("rule %s done in %.1f s", smk.rule, time.perf_counter() - t0)
