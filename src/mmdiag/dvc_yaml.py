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
- `params`: the config keys the rule's library function reads (`READS` below), listed under every
  config file that sets them, so DVC reruns a stage only when a setting it uses changes.
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

DVC_YAML = "dvc.yaml"
HEADER = """\
# GENERATED from the Snakemake DAG by `mmdiag write-dvc` (src/mmdiag/dvc_yaml.py): do not edit.
# Regenerate after changing rules or the default config; tests/test_dvc_yaml.py fails when it drifts.
# Usual cycle: snakemake all -> dvc commit -> git commit dvc.lock -> dvc push (docs/cluster.md).
"""

# ------------------------------------------------------------------------------------------ config keys
# Config keys each rule's library function reads: dotted paths, `{wildcard}` filled from the job,
# `a.*` = every child of `a` (in the resolved config) minus those listed in `skip`. A rule missing
# here is assumed to read the whole config (safe: it reruns more often, never less).
_MODEL = ("seed", "data", "augment", "trainer", "text_encoders", "tmmnet.*")
_NEVER_READ = ("results", "progress", "hub_offline")  # where outputs go and how a process logs: not results
# What the plan (mmdiag.plan) decides which runs exist from, not how one run trains: a seed or an arm added to
# these lists adds jobs, it never reruns the existing ones (each run's own seed is its `seed` wildcard).
_STUDY_LISTS = (
    "tmmnet.arms",
    "tmmnet.comparison",
    "tmmnet.text_guidance",
    "tmmnet.cv",
    "tmmnet.encoder",
    "tmmnet.seeds",
)


@dataclass(frozen=True)
class Reads:
    """The config keys of one rule: `keys` patterns, minus the children named in `skip`."""

    keys: tuple[str, ...]
    skip: tuple[str, ...] = ()


READS: dict[str, Reads] = {
    "download": Reads(("dataset",)),
    "build_corpus": Reads(("corpus",)),
    "preprocess": Reads(("preprocess", "splits")),
    "pretrain": Reads(
        (*_MODEL, "encoders.{encoder}", "tmmnet.schedule.stage1"), skip=(*_STUDY_LISTS, "tmmnet.schedule")
    ),
    "train_fusion": Reads((*_MODEL, "evaluation", "encoders.{encoder}", "tmmnet.arms.{arm}"), skip=_STUDY_LISTS),
    "ablation": Reads((*_MODEL, "evaluation", "encoders.{encoder}", "tmmnet.arms.{arm}"), skip=_STUDY_LISTS),
    "cv_fold": Reads(
        (*_MODEL, "evaluation", "encoders"), skip=("tmmnet.comparison", "tmmnet.text_guidance", "tmmnet.seeds")
    ),  # its seed (the first of tmmnet.seeds) is a param of its own
    "cross_validate": Reads(()),  # averages its folds' metrics: no setting of its own
    "fusion_study": Reads((*_MODEL[:5], "encoders", "evaluation", "fusion_study")),
    "distillation": Reads((*_MODEL[:4], "encoders", "evaluation", "distillation")),
    "dualbranch": Reads((*_MODEL[:4], "evaluation", "dualbranch")),
    "table": Reads(("fusion_study.base.fusion",)),
    "figure": Reads(("data.pairing",)),
    "study_overview": Reads(()),
}
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
        jobs = []
        for sm_job in workflow.dag.toposorted():
            for job in sorted(sm_job, key=lambda j: (j.rule.name, sorted(j.wildcards_dict.items()))):
                if job.rule.norun:  # `rule all` and other input-only targets run nothing
                    continue
                jobs.append(_job(job, root))
        return jobs, dict(workflow.config)


def _job(job: Any, root: Path) -> Job:
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
_MISSING = object()


def _lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, Mapping) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


def config_keys(job: Job, config: Mapping[str, Any]) -> list[str]:
    """Dotted config keys the job's rule reads, expanded against the resolved config."""
    return rule_keys(job.rule, job.wildcards, config)


def rule_settings(rule: str, wildcards: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, Any]:
    """{dotted key: value} of everything `rule` reads: the rule's Snakemake `params`, so changing a setting
    reruns exactly the jobs that read it (Snakemake's params trigger), as DVC's `params` do for stages."""
    return {k: v for k in rule_keys(rule, wildcards, config) if (v := _lookup(config, k)) is not _MISSING}


def rule_keys(rule: str, wildcards: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    """Dotted config keys `rule` reads (READS, `{wildcard}`s filled, `a.*` expanded)."""
    reads = READS.get(rule, Reads(("*",)))
    keys: list[str] = []
    for pattern in reads.keys:
        key = pattern.format(**wildcards)
        if key == "*":
            keys += [k for k in config if k not in _NEVER_READ]
        elif key.endswith(".*"):
            parent = key[:-2]
            children = _lookup(config, parent)
            if isinstance(children, Mapping):
                keys += [f"{parent}.{c}" for c in children if f"{parent}.{c}" not in reads.skip]
        else:
            keys.append(key)
    return list(dict.fromkeys(keys))


def stage_params(keys: Sequence[str], config_files: Mapping[str, Mapping[str, Any]]) -> list[dict[str, list[str]]]:
    """`params:` of a stage: each key under every config file that sets it (or sets something inside it)."""
    params = []
    for name, data in config_files.items():
        present = [k for k in keys if _lookup(data, k) is not _MISSING]
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
