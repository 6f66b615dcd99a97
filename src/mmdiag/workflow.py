"""The bridge between a Snakemake rule and one library function.

`workflow_scripts/<rule>.py` is two lines: it calls `run(snakemake, "module:function")`, naming the rule's stage
function in `mmdiag.stages` (which declares, next to its code, the rules it serves and the config keys it reads;
tests/test_stage_declarations.py checks every script names the stage declared for its rule). The name is
resolved after the process is set up (threads, logging), so numpy and torch load with the job's thread count;
a script is a Snakemake rerun trigger (its mtime), which is why it stays this stable. Named inputs, outputs and
params of the rule become keyword arguments of the function, together with `config` and the wildcards, so
rules stay declarative and the logic stays testable without Snakemake. Logging and stderr (progress bars) go
to the rule's log. Any failure prints ONE line on the console naming the rule
and the cause (an `MmdiagError` already names the file/key and the fix; any other exception adds its type
and points to the log, which holds the full traceback) and exits with status 1.

The results root gets a `.gitignore` holding `*` the first time a job writes there, so a `results:`
folder set inside the repository (with copies of the dataset) is never committed by accident.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mmdiag.config.sections import PipelineConfig
from mmdiag.errors import MmdiagError

# glibc malloc settings for the job processes (bench/job_process.py): by default glibc serves the few-MiB
# activation buffers of a training step with fresh mmap()s, or trims the heap top after freeing them, so every
# step faults its pages in again (28.5 M minor page faults and 180 s of system time in one default DAG). Keeping
# buffers up to 32 MiB (glibc's cap for this threshold) on the heap and never trimming below 1 GiB reuses them.
# Same arithmetic, so the same results. Read once when a process starts: set in the Snakemake process at parse
# time (`setup_process`), they reach every job it starts; a value already in the environment is kept.
MALLOC_ENVIRONMENT = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_TOP_PAD_": str(64 << 20),
}


def setup_process(config: dict[str, Any], threads: int | None = None) -> None:
    """Process-wide settings every entry point needs before heavy imports (and its child processes inherit)."""
    for key, value in MALLOC_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    if config.get("hub_offline", PipelineConfig.hub_offline):  # the config may not be validated yet
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)


def check_config_or_exit(config: Mapping[str, Any]) -> None:
    """At DAG-parse time (`rules/common.smk`, before Snakemake's own `validate`): validate `config` with the
    library's checks (`mmdiag.config.validate_config`: human schema messages, finite values, caps, devices,
    encoders vs input size) and stop with one line and exit status 1, so even a dry run refuses it."""
    from mmdiag.config import validate_config

    try:
        validate_config(config)
    except MmdiagError as exc:
        print(f"mmdiag: {exc}", file=sys.stderr)
        sys.exit(1)


def ignore_results_root(config: Mapping[str, Any]) -> None:
    """Write `<results>/.gitignore` (`*`) once the results root exists; never overwrite an existing file."""
    root = Path(str(config.get("results", PipelineConfig.results)))
    marker = root / ".gitignore"
    if root.is_dir() and not marker.exists():
        try:
            with open(marker, "x", encoding="utf-8") as fh:  # "x": a concurrent job may have just written it
                fh.write("# written by mmdiag: pipeline outputs are versioned by DVC, never by git\n*\n")
        except (FileExistsError, OSError):
            pass


def resolve(target: str) -> Callable[..., Any]:
    """The function a `module:function` name points to: a rule's stage, a DDP rank's, an `mmdiag` subcommand."""
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


# Rule params that exist only as Snakemake rerun triggers (the config keys a rule reads), not as arguments.
TRIGGER_PARAMS = frozenset({"settings"})


def rule_kwargs(smk: Any) -> dict[str, Any]:
    """config + named inputs/outputs/params + wildcards of a Snakemake job, as keyword arguments."""
    kwargs: dict[str, Any] = {"config": dict(smk.config)}
    for group in (smk.input, smk.output, smk.params, smk.wildcards):
        kwargs.update({k: v for k, v in group.items() if k not in TRIGGER_PARAMS})
    return kwargs


def run_on_gpus(target: str, kwargs: dict[str, Any], gpus: int) -> None:
    """Call `target` holding `gpus` GPU slots of this machine (see mmdiag.cluster.gpu_slots).

    A CUDA_VISIBLE_DEVICES set by SLURM is kept; with more than one GPU the call runs as DDP under torchrun.
    """
    from mmdiag.cluster import ddp
    from mmdiag.cluster.gpu_slots import gpu_slot

    with gpu_slot(gpus):
        if not ddp.wants_ddp(gpus):
            resolve(target)(**kwargs)
        elif code := ddp.launch(target, kwargs, ddp.visible_devices(), sys.stderr):
            raise MmdiagError(f"{target}: a DDP rank failed (torchrun exit status {code}); see the log above")


def run(smk: Any, target: str, *, end_process: bool = True) -> None:
    """Run the stage function named `target` (`module:function`) for the Snakemake job `smk`, logging to its
    log file; on success end the process at once (`end_process`, see `exit_now`)."""
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
    ignore_results_root(smk.config)
    try:
        run_on_gpus(target, rule_kwargs(smk), int(getattr(smk.resources, "gpu", 0) or 0))
    except MmdiagError as exc:
        log.error("%s", exc)
        print(f"mmdiag: {smk.rule}: {exc}", file=sys.__stderr__)
        sys.exit(1)
    except Exception as exc:
        log.error("rule %s failed:\n%s", smk.rule, traceback.format_exc())
        print(console_line(smk.rule, exc, log_path), file=sys.__stderr__)
        sys.exit(1)
    log.info("rule %s done in %.1f s", smk.rule, time.perf_counter() - t0)
    if end_process:
        exit_now()


def exit_now() -> None:
    """Flush every stream and log, then end the job's process with status 0 without the interpreter's teardown.

    Why: once torch, timm and torch._dynamo are loaded, Python's shutdown (clearing their modules and objects)
    takes 1.2-1.4 s per job here (bench/job_process.py; 77 jobs in the default DAG) and writes nothing: the
    stage has returned and its files are closed (every writer uses a `with` block or an atomic rename). Only a
    finished job ends this way; a failure exits through `sys.exit(1)` as before, atexit handlers included.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed or broken stream has nothing left to lose
            pass
    os._exit(0)


def console_line(rule: str, exc: BaseException, log_path: str | None) -> str:
    """`mmdiag: <rule>: <ExceptionType>: <message> (full traceback: <log>)`, on one line."""
    message = " ".join(str(exc).split()) or "(no message)"
    if len(message) > 300:
        message = message[:297] + "..."
    where = f" (full traceback: {log_path})" if log_path else ""
    return f"mmdiag: {rule}: {type(exc).__name__}: {message}{where}"
