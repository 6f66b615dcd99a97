"""`dvc.yaml` generated from the Snakemake DAG: one DVC stage per Snakemake job, never written by hand.

Why generated: Snakemake runs the pipeline, DVC versions what it produced (data, caches,
checkpoints, metrics). Two hand-kept DAGs drift; here the Snakefile is the one source of truth.
`mmdiag write-dvc` (`python -m mmdiag.dvc_yaml`) builds the DAG of `all` through Snakemake's
Python API on the config(s) given (default: the Snakefile's `configfile:`) and writes, per job:

- `cmd`: `snakemake --cores all --force --allowed-rules <rule> -- <its first output>`, i.e. the very
  job Snakemake would run (same rule, same script, same library function); `--allowed-rules`
  keeps a stage from re-running upstream jobs, which are other stages' business.
- `deps`: the job's input files, the rule's .smk file, its `script:` and every `mmdiag` module that
  script reaches through imports (static, transitive, function-level imports included).
- `params`: the config keys the rule's stage function declares it reads (`@stage(reads=...)` in
  `mmdiag.stages`, see `mmdiag.stages.declare`), listed under every config file that sets them, so
  DVC reruns a stage only when a setting it uses changes.
- `outs`: the job's outputs, logs and benchmark, each widened to the largest folder no other job
  writes into (a run folder, the preprocessing cache): checkpoints, model files and predictions
  written beside the declared output are versioned too. Training (GPU) jobs' folders are
  `persist: true`, so an interrupted `dvc repro` resumes from the epoch checkpoints (every
  checkpoint carries a fingerprint of its settings and data, so a stale one is never resumed).
- top-level `metrics` (the flat `dvc_metrics.json` that every job writing a `metrics.json` writes beside
  it, see `mmdiag.run_folder.write_dvc_metrics`; an out of its own when the folder is shared, e.g. a CV
  summary) and `plots` (per evaluation set: every run's ROC `plots/roc_<set>.csv` and confusion
  `plots/confusion_<set>.csv`). The run folder's file names are `mmdiag.run_folder`'s.

`--check` exits 1 when the file on disk differs from what the DAG gives (the drift test).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmdiag.run_folder import CV_EVAL_SET_INPUTS, DVC_METRICS, EVAL_SET_INPUTS, METRICS, confusion_file, roc_file
from mmdiag.stages.declare import MISSING, lookup
from mmdiag.stages.index import rule_keys

DVC_YAML = "dvc.yaml"
HEADER = """\
# GENERATED from the Snakemake DAG by `mmdiag write-dvc` (src/mmdiag/dvc_yaml.py): do not edit.
# Regenerate after changing rules or the default config; tests/test_dvc_yaml.py fails when it drifts.
# Usual cycle: snakemake all -> dvc commit -> git commit dvc.lock -> dvc push (docs/cluster.md).
"""

# Inputs of a training job -> the evaluation set named after them (mmdiag.run_folder.eval_sets); rules that
# name their sets otherwise (a CV fold evaluates its own split's `test`) in EVAL_SET_INPUTS_BY_RULE.
EVAL_SET_INPUTS_BY_RULE = {"cv_fold": CV_EVAL_SET_INPUTS}


# ------------------------------------------------------------------------------------------ the DAG
@dataclass(frozen=True)
class Job:
    """What dvc.yaml needs of one Snakemake job (paths relative to the workflow root)."""

    rule: str
    wildcards: dict[str, str]
    inputs: dict[str, list[str]]  # input name (or "" for unnamed) -> files
    outputs: list[str]
    logs: list[str]
    benchmark: str | None
    script: str | None
    snakefile: str
    gpu: int

    @property
    def files(self) -> list[str]:
        return [*self.outputs, *self.logs, *([self.benchmark] if self.benchmark else [])]

    @property
    def name(self) -> str:
        """DVC stage name: rule and wildcard values (DVC allows only letters, digits, `_` and `-`)."""
        parts = [self.rule, *self.wildcards.values()]
        return "-".join(re.sub(r"[^A-Za-z0-9_]", "_", p) for p in parts)


def snakemake_dag(root: Path, configfiles: Sequence[str] = (), target: str = "all") -> tuple[list[Job], dict]:
    """Every job of `target` (forced, so existing outputs do not hide jobs) in dependency order, and the config."""
    root = Path(root).resolve()
    with snakemake_workflow(root, configfiles, target) as workflow:
        return [job_record(job, root) for job in dag_jobs(workflow)], dict(workflow.config)


@contextlib.contextmanager
def snakemake_workflow(root: Path, configfiles: Sequence[str] = (), target: str = "all") -> Iterator[Any]:
    """Snakemake's workflow object with the DAG of `target` built (forced), in `root`, through the Python API."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    root = Path(root).resolve()
    with contextlib.chdir(root), SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[root / c for c in configfiles]),
            snakefile=root / "Snakefile",
            workdir=root,
        )
        wf_api.dag(DAGSettings(targets={target}, forceall=True))  # installs the DAG settings on the workflow
        workflow = wf_api._workflow  # the same calls `snakemake --dag` makes (DAGApi.printdag)
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        yield workflow


def dag_jobs(workflow: Any) -> Iterator[Any]:
    """The Snakemake jobs of a built DAG that run something, in dependency order (ties by rule, wildcards)."""
    for sm_job in workflow.dag.toposorted():
        for job in sorted(sm_job, key=lambda j: (j.rule.name, sorted(j.wildcards_dict.items()))):
            if not job.rule.norun:  # `rule all` and other input-only targets run nothing
                yield job


def job_record(job: Any, root: Path) -> Job:
    """What dvc.yaml needs of one Snakemake job."""
    inputs: dict[str, list[str]] = {}
    for name in job.input.keys():  # noqa: SIM118 - a Namedlist iterates over files, not names
        value = job.input[name]
        inputs[name] = [str(value)] if isinstance(value, str) else [str(v) for v in value]
    claimed = {f for files in inputs.values() for f in files}
    unnamed = [str(f) for f in job.input if str(f) not in claimed]
    if unnamed:
        inputs[""] = unnamed
    rule_file = Path(job.rule.snakefile)
    script = None
    if job.rule.script:
        script = _rel(root, (rule_file.parent / job.rule.script).resolve())
    return Job(
        rule=job.rule.name,
        wildcards={k: str(v) for k, v in job.wildcards_dict.items()},
        inputs=inputs,
        outputs=[str(f) for f in job.output],
        logs=[str(f) for f in job.log],
        benchmark=str(job.benchmark) if job.benchmark else None,
        script=script,
        snakefile=_rel(root, rule_file.resolve()),
        gpu=int(job.resources.get("gpu", 0) or 0),
    )


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


# ------------------------------------------------------------------------------------------ outs
def stage_outs(jobs: Sequence[Job]) -> list[list[str]]:
    """Per job, its files widened to the largest folders no other job writes into.

    A folder qualifies when every file any job declares under it belongs to this job, and it lies
    strictly below the folder common to all jobs (so a one-job DAG still versions files, not `results/`).
    """
    owners: dict[Path, set[int]] = {}
    for i, job in enumerate(jobs):
        for f in job.files:
            for parent in Path(f).parents:
                owners.setdefault(parent, set()).add(i)
    all_files = [Path(f) for job in jobs for f in job.files]
    common = Path(os.path.commonpath(all_files)) if all_files else Path(".")
    result = []
    for i, job in enumerate(jobs):
        outs = set()
        for f in map(Path, job.files):
            best = f
            for parent in f.parents:
                if parent == common or common not in parent.parents or owners.get(parent, set()) != {i}:
                    break
                best = parent
            outs.add(best.as_posix())
        result.append(sorted(outs))
    return result


# ------------------------------------------------------------------------------------------ code deps
def code_deps(job: Job, root: Path) -> list[str]:
    """The rule file, the job's script and the `mmdiag` code that script reaches by import.

    Modules are listed at subpackage level (`src/mmdiag/data`, `src/mmdiag/io.py`): a stage reruns when
    code it may execute changes, and dvc.yaml changes only when a stage starts using a new subpackage.
    """
    deps = {job.snakefile}
    if job.script:
        deps.add(job.script)
        deps |= _script_code(root, job.script)
    return sorted(deps)


@functools.cache
def _script_code(root: Path, script: str) -> frozenset[str]:
    roots = set(_imported_modules(ast.parse((root / script).read_text(encoding="utf-8")), package=None))
    src = root / "src"
    package_root = src / "mmdiag"
    deps = set()
    for path in module_closure(src, roots):
        inner = path.relative_to(package_root).parts
        deps.add(_rel(root, package_root / inner[0]) if len(inner) > 1 else _rel(root, path))
    return frozenset(deps)


def _module_file(src: Path, module: str) -> Path | None:
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


_MODULE_STRING = re.compile(r"^(mmdiag(?:\.\w+)+)(?::\w+)?$")


def _imported_modules(tree: ast.AST, package: str | None) -> Iterator[str]:
    """`mmdiag...` modules a module imports, in function bodies too, or names in strings.

    Strings count because the library loads code by name: `run(snakemake, "mmdiag.stages.tmm:pretrain")`,
    registries importing their package (`Registry("fusion", "mmdiag.models.fusion")`).
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _MODULE_STRING.match(node.value)
            if match:
                yield match.group(1)
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "mmdiag")
        elif isinstance(node, ast.ImportFrom):
            if node.level and package:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module.split(".")[0] == "mmdiag":
                yield module
                yield from (f"{module}.{a.name}" for a in node.names)  # `from pkg import submodule`


def module_closure(src: Path, roots: Iterable[str]) -> set[Path]:
    """Files of `roots` and of everything they import, with the packages' `__init__.py` on the way."""
    seen: set[str] = set()
    files: set[Path] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(src, module)
        if path is None:
            continue  # a name imported from a module, not a module
        files.add(path)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        package = module if path.name == "__init__.py" else ".".join(parts[:-1])
        todo += list(_imported_modules(ast.parse(path.read_text(encoding="utf-8")), package))
    return files


# ------------------------------------------------------------------------------------------ params
def config_keys(job: Job, config: Mapping[str, Any]) -> list[str]:
    """Dotted config keys the job's rule reads: its stage's declaration (`mmdiag.stages.declare`), expanded
    against the resolved config."""
    return rule_keys(job.rule, job.wildcards, config)


def stage_params(keys: Sequence[str], config_files: Mapping[str, Mapping[str, Any]]) -> list[dict[str, list[str]]]:
    """`params:` of a stage: each key under every config file that sets it (or sets something inside it)."""
    params = []
    for name, data in config_files.items():
        present = [k for k in keys if lookup(data, k) is not MISSING]
        if present:
            params.append({name: present})
    return params


# ------------------------------------------------------------------------------------------ assembly
def _cmd(job: Job, configfiles: Sequence[str]) -> str:
    extra = "".join(f" --configfile {c}" for c in configfiles)
    return f"snakemake --cores all --force --allowed-rules {job.rule}{extra} -- {job.outputs[0]}"


def _run_dir(job: Job) -> Path | None:
    """Folder of a job that writes a `metrics.json`; its runner writes `dvc_metrics.json` beside it."""
    named = [o for o in job.outputs if Path(o).name == METRICS]
    return Path(named[0]).parent if named else None


def build(root: Path, configfiles: Sequence[str] = ()) -> dict[str, Any]:
    """The dvc.yaml document of the DAG of `all` under the given config files."""
    import yaml

    root = Path(root).resolve()
    jobs, config = snakemake_dag(root, configfiles)
    files = {c: yaml.safe_load((root / c).read_text(encoding="utf-8")) or {} for c in _config_files(root, configfiles)}
    stages: dict[str, Any] = {}
    for job, outs in zip(jobs, stage_outs(jobs)):
        if job.name in stages:
            raise ValueError(f"two jobs map to the DVC stage name {job.name}")
        run_dir = _run_dir(job)
        if run_dir is not None and not any(p == run_dir or Path(p) in run_dir.parents for p in map(Path, outs)):
            outs = sorted([*outs, (run_dir / DVC_METRICS).as_posix()])  # a summary in a shared folder
        inputs = sorted({f for fs in job.inputs.values() for f in fs})
        stage: dict[str, Any] = {"cmd": _cmd(job, configfiles), "deps": inputs + code_deps(job, root)}
        params = stage_params(config_keys(job, config), files)
        if params:
            stage["params"] = params
        stage["outs"] = [{o: {"persist": True}} if job.gpu else o for o in outs]
        stages[job.name] = stage
    doc: dict[str, Any] = {"stages": stages}
    runs = [(job, _run_dir(job)) for job in jobs]
    metrics = [(d / DVC_METRICS).as_posix() for _, d in runs if d is not None]
    if metrics:
        doc["metrics"] = metrics
    plots = _plots(runs)
    if plots:
        doc["plots"] = plots
    return doc


def _config_files(root: Path, configfiles: Sequence[str]) -> list[str]:
    """The Snakefile's `configfile:` followed by the extra ones, as paths relative to the root."""
    text = (root / "Snakefile").read_text(encoding="utf-8")
    default = re.findall(r"^configfile:\s*[\"']([^\"']+)[\"']", text, flags=re.M)
    return list(dict.fromkeys([*default, *configfiles]))


def _plots(runs: Sequence[tuple[Job, Path | None]]) -> list[dict[str, Any]]:
    """One ROC and one confusion plot per evaluation set, overlaying every run evaluated on it."""
    by_set: dict[str, list[Path]] = {}
    for job, run_dir in runs:
        if run_dir is None:
            continue
        for name, eval_set in EVAL_SET_INPUTS_BY_RULE.get(job.rule, EVAL_SET_INPUTS).items():
            if job.inputs.get(name):
                by_set.setdefault(eval_set, []).append(run_dir)
    plots = []
    for eval_set, dirs in by_set.items():
        roc = {(d / roc_file(eval_set)).as_posix(): "tpr" for d in dirs}
        confusion = {(d / confusion_file(eval_set)).as_posix(): "predicted" for d in dirs}
        plots.append({f"roc_{eval_set}": {"template": "simple", "x": "fpr", "y": roc}})
        plots.append({f"confusion_{eval_set}": {"template": "confusion", "x": "actual", "y": confusion}})
    return plots


def render(doc: Mapping[str, Any]) -> str:
    import yaml

    return HEADER + yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=200)


# ------------------------------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mmdiag write-dvc", description="Generate dvc.yaml from the Snakemake DAG.")
    parser.add_argument("--root", type=Path, default=Path("."), help="workflow root (holds the Snakefile)")
    parser.add_argument(
        "--configfile", action="append", default=[], help="extra config file(s), as for snakemake (relative to root)"
    )
    parser.add_argument("--output", type=Path, default=None, help="where to write (default: <root>/dvc.yaml)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the DAG, write nothing")
    args = parser.parse_args(argv)
    text = render(build(args.root, args.configfile))
    output = args.output or args.root / DVC_YAML
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is out of date with the Snakemake DAG: run `mmdiag write-dvc`", file=sys.stderr)
            return 1
        print(f"{output} matches the Snakemake DAG")
        return 0
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
