"""What every DAG job's process gets from `mmdiag.workflow` for speed (bench/job_process.py measures it): it ends
with `exit_now` once the stage has returned, and starts with glibc malloc settings the Snakemake process set."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mmdiag.workflow import MALLOC_ENVIRONMENT, setup_process

REPO = Path(__file__).resolve().parents[1]
# The child's preamble: `run` and `N` imported, and an atexit hook that shows whether the teardown ran.
PREAMBLE = (
    "import sys, atexit; from types import SimpleNamespace as N; from mmdiag.workflow import run\n"
    "atexit.register(lambda: print('teardown ran', file=sys.__stderr__))\n"
)


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    """`PREAMBLE + code` in a fresh interpreter that can import this module's jobs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO / "src")])}
    return subprocess.run([sys.executable, "-c", PREAMBLE + code], capture_output=True, text=True, env=env, timeout=120)


def writing_job(out: str, config: dict[str, Any]) -> None:
    """A job that leaves buffered output behind: a log record, unflushed stdout, a written file."""
    logging.getLogger("mmdiag.test").info("wrote %s", out)
    print("unflushed stdout line", end="")
    Path(out).write_text("table")


def test_a_finished_job_ends_its_process_with_status_0_and_nothing_lost(tmp_path: Path) -> None:
    log, out = tmp_path / "logs" / "table.log", tmp_path / "results" / "table.csv"
    (tmp_path / "results").mkdir()
    done = run_child(
        f"smk = N(rule='table', log=[{str(log)!r}], config={{'results': {str(tmp_path / 'results')!r}}}, threads=1,\n"
        f"        input={{}}, output={{'out': {str(out)!r}}}, params={{}}, wildcards={{}}, resources=N(gpu=0))\n"
        "run(smk, 'test_job_process:writing_job')\n"
        "print('after run', file=sys.__stderr__)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "unflushed stdout line"
    assert "after run" not in done.stderr and "teardown ran" not in done.stderr  # the process ended inside run
    text = log.read_text()
    assert "wrote " in text and text.rstrip().splitlines()[-1].split(": ", 1)[1].startswith("rule table done in")
    assert out.read_text() == "table"


def test_a_failed_job_still_exits_with_status_1_through_sys_exit(tmp_path: Path) -> None:
    done = run_child(
        f"smk = N(rule='table', log=[], config={{'results': {str(tmp_path)!r}}}, threads=1,\n"
        "        input={}, output={}, params={}, wildcards={}, resources=N(gpu=0))\n"
        "run(smk, 'test_job_process:no_such_stage')\n"
    )
    assert done.returncode == 1
    assert "mmdiag: table: AttributeError" in done.stderr and "teardown ran" in done.stderr


def test_setup_process_sets_the_malloc_environment_and_keeps_a_users_value(monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in MALLOC_ENVIRONMENT}
    environ["MALLOC_TRIM_THRESHOLD_"] = "12345"
    monkeypatch.setattr(os, "environ", environ)  # every variable setup_process sets is undone after the test
    setup_process({})
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "12345"
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == MALLOC_ENVIRONMENT["MALLOC_MMAP_THRESHOLD_"] == str(32 << 20)
    assert os.environ["MALLOC_TOP_PAD_"] == MALLOC_ENVIRONMENT["MALLOC_TOP_PAD_"]
