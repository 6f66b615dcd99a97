"""Stages declare the config keys they read and tables what they are built from; these tests fail on drift.

- every rule's script names the stage declared for that rule, and every declaration names a rule;
- a table cannot register without `inputs=`, and the tiny DAG builds exactly the registered tables;
- the slow test runs the stages of the finished tiny DAG again, in process, on a config that records every
  key read through it (`Tracked`), and fails on a key a stage reads but does not declare: such a key is no
  Snakemake or DVC rerun trigger, so results would go stale without a word.
"""

from __future__ import annotations

import ast
import copy
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from mmdiag.stages.declare import Reads, Stage, covers, expand, stage
from mmdiag.stages.index import collect, rule_keys, stages
from workflow_sandbox import REPO, TINY


def script_target(script: Path) -> str:
    """The `module:function` a workflow script hands to `mmdiag.workflow.run`."""
    calls = [
        node
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run"
    ]
    assert len(calls) == 1 and isinstance(calls[0].args[1], ast.Constant), f"{script}: expected run(snakemake, '...')"
    return str(calls[0].args[1].value)


@pytest.fixture(scope="module")
def tiny_dag() -> dict[str, Any]:
    """Rules (name -> script) and jobs of the tiny DAG, from Snakemake itself."""
    from mmdiag.dvc_yaml import dag_jobs, snakemake_workflow

    with snakemake_workflow(REPO, [TINY]) as workflow:
        rules = {r.name: r.script and Path(r.snakefile).parent / r.script for r in workflow.rules}
        jobs = [(j.rule.name, dict(j.wildcards_dict)) for j in dag_jobs(workflow)]
        return {"rules": rules, "jobs": jobs, "config": dict(workflow.config)}


# ------------------------------------------------------------------------------------------ stages
@pytest.mark.timeout(120)
def test_every_script_runs_the_stage_declared_for_its_rule(tiny_dag: dict[str, Any]) -> None:
    from mmdiag.workflow import resolve

    declared = stages()
    for rule, script in tiny_dag["rules"].items():
        if script is None:
            continue  # `all`
        target = script_target(Path(script).resolve())
        decl = getattr(resolve(target), "__stage__", None)
        assert decl is not None, f"rule {rule}: {target} has no @stage declaration (mmdiag.stages.declare)"
        assert rule in decl.rules, f"rule {rule} runs {target}, which declares the rules {decl.rules}"
        assert declared[rule] is decl
    assert set(declared) <= set(tiny_dag["rules"]), "a @stage names a rule no rule file defines"


def test_stage_modules_import_nothing_heavy() -> None:
    """The DAG imports every stage module at parse time (`mmdiag.stages.index`): no torch, numpy or pandas."""
    code = (
        "import sys; from mmdiag.stages.index import stages; stages(); "
        "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_rule_declared_twice_is_an_error() -> None:
    def module(name: str) -> ModuleType:
        mod = ModuleType(name)

        @stage("pretrain", reads=("seed",))
        def fn(**_: Any) -> None: ...

        fn.__module__ = name
        mod.fn = fn  # type: ignore[attr-defined]
        return mod

    assert set(collect([module("a")])) == {"pretrain"}
    with pytest.raises(KeyError, match=r"rule 'pretrain' is declared by a:.* and b:"):
        collect([module("a"), module("b")])


def test_declared_patterns_expand_and_cover_reads() -> None:
    decl = Stage(
        ("pretrain",),
        lambda: None,
        Reads(("seed", "tmmnet.*", "encoders.{encoder}", "tmmnet.schedule.stage1"), ("tmmnet.arms", "tmmnet.schedule")),
        via_dag=("tmmnet.seeds",),
    )
    config = {"seed": 0, "results": "r", "tmmnet": {"arms": {}, "fusion": "x", "schedule": {}, "seeds": [0]}}
    wildcards = {"encoder": "a"}
    assert expand(decl.reads, wildcards, config) == [
        "seed",
        "tmmnet.fusion",
        "tmmnet.seeds",
        "encoders.a",
        "tmmnet.schedule.stage1",
    ]
    for key in ("seed", "tmmnet.fusion", "tmmnet.new_key", "encoders.a.width", "tmmnet.schedule.stage1", "results"):
        assert covers(decl, wildcards, key), key
    assert covers(decl, wildcards, "tmmnet.seeds")  # via the DAG
    for key in ("trainer", "encoders.b", "tmmnet.arms.x", "tmmnet.schedule.classify", "seeds"):
        assert not covers(decl, wildcards, key), key


def test_settings_are_derived_from_the_declarations(tiny_dag: dict[str, Any]) -> None:
    """What rules/common.smk passes as `settings` and dvc.yaml as `params`: the declaration, expanded."""
    from mmdiag.dvc_yaml import Job, config_keys

    for rule, wildcards in tiny_dag["jobs"]:
        job = Job(rule, {k: str(v) for k, v in wildcards.items()}, {}, ["x"], [], None, None, "rules/x.smk", 0)
        keys = rule_keys(rule, job.wildcards, tiny_dag["config"])
        assert config_keys(job, tiny_dag["config"]) == keys
        assert keys == expand(stages()[rule].reads, job.wildcards, tiny_dag["config"])


# ------------------------------------------------------------------------------------------ tables
def test_a_table_must_declare_what_it_is_built_from() -> None:
    from mmdiag.reporting.catalog import SELECTORS, TABLES, Inputs, table, tables

    with pytest.raises(TypeError):
        table("tmmnet_t9_new", "A new table.")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="inputs= must be"):
        table("tmmnet_t9_new", "A new table.", inputs=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown 'tmm_everything'"):
        Inputs("tmm_everything")
    assert "tmmnet_t9_new" not in TABLES
    entries = tables()
    assert [e.name for e in entries] == sorted(TABLES.list(), key=[e.name for e in entries].index)
    assert all(isinstance(e.inputs, Inputs) and e.inputs.select in SELECTORS for e in entries)


def test_the_dag_builds_exactly_the_registered_tables(tiny_dag: dict[str, Any]) -> None:
    """The tiny config runs every study, so each registered table is a job (none is silently never built), and
    every table the plan names in a left-out line exists."""
    from mmdiag import plan
    from mmdiag.reporting.catalog import TABLES

    built = {w["name"] for rule, w in tiny_dag["jobs"] if rule == "table"}
    assert built == set(TABLES.list())
    named = {plan.T1, plan.T2, plan.T3, plan.T3_TESTS, plan.T4, *plan.FUSION_TABLES.values()}
    assert named <= set(TABLES.list())


# ------------------------------------------------------------------------------------------ tracked reads
class Tracked(dict):
    """A config mapping that records the dotted path of every value read through it, nested mappings included.

    Recorded: `m[k]`, `m.get(k)`, `k in m`, `setdefault`, `pop` of a value that is no section (also when the key
    is absent: the stage would read it once set), and `items()`/`values()`, a JSON dump or a pickle of a section
    (the whole section). Taking a section (`config["tmmnet"]`) is no read of its own: what is read in it is.
    Copies keep recording: `dict(m)` and `{**m}` copy the entries, whose sections stay `Tracked`, and
    `copy.deepcopy` gives a `Tracked`. Not seen: iterating over a section's keys only, and plain values read from
    such a copy (`dict(m)["x"]`).
    """

    __slots__ = ("_path", "_reads")

    def __init__(self, data: Mapping[str, Any], path: str, reads: set[str]) -> None:
        super().__init__({k: self._wrap(v, self._join(path, k), reads) for k, v in dict.items(data)})
        self._path = path
        self._reads = reads

    @staticmethod
    def _join(path: str, key: Any) -> str:
        return f"{path}.{key}" if path else str(key)

    @classmethod
    def _wrap(cls, value: Any, path: str, reads: set[str]) -> Any:
        return cls(value, path, reads) if isinstance(value, dict) else value

    def _read(self, key: Any) -> None:
        if not isinstance(dict.get(self, key), Tracked):
            self._reads.add(self._join(self._path, key))

    def _read_all(self) -> None:
        if self._path:  # the root's items are the whole config: passing it on is no read
            self._reads.add(self._path)

    def __getitem__(self, key: Any) -> Any:
        self._read(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._read(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._read(key)
        return super().__contains__(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._read(key)
        return super().setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self._read(key)
        return super().pop(key, *default)

    def items(self) -> Any:
        self._read_all()
        return super().items()

    def values(self) -> Any:
        self._read_all()
        return super().values()

    def __copy__(self) -> Tracked:
        return Tracked(self, self._path, self._reads)

    def __deepcopy__(self, memo: dict[int, Any]) -> Tracked:
        return Tracked({k: copy.deepcopy(v, memo) for k, v in dict.items(self)}, self._path, self._reads)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickled (a checkpoint's model config) as the plain dict it stands for."""
        self._read_all()
        return (dict, (), None, None, iter(dict.items(self)))


def test_tracked_records_reads_and_behaves_like_the_dict() -> None:
    reads: set[str] = set()
    cfg = Tracked({"a": {"b": 1, "c": {"d": 2}}, "e": 3, "f": {"g": 4}}, "", reads)
    assert cfg == {"a": {"b": 1, "c": {"d": 2}}, "e": 3, "f": {"g": 4}} and isinstance(cfg["a"], Mapping)
    copied = {**cfg, "e": 5}
    assert copied["a"]["c"]["d"] == 2 and dict(cfg["f"])["g"] == 4
    deep = copy.deepcopy(cfg["a"])
    assert deep.get("x") is None and isinstance(deep, Tracked)
    assert reads == {"a.c.d", "a.x"}  # sections taken on the way and the entries a copy holds are no reads
    reads.clear()
    import json

    assert json.loads(json.dumps(cfg["f"])) == {"g": 4} and reads == {"f"}


def tracked_call(fn: Any, kwargs: dict[str, Any], wildcards: Mapping[str, str]) -> tuple[set[str], list[str]]:
    """Call the stage `fn` on a `Tracked` copy of `kwargs["config"]`: (keys read, those its `@stage` lacks)."""
    reads: set[str] = set()
    fn(**{**kwargs, "config": Tracked(kwargs["config"], "", reads)})
    return reads, sorted(k for k in reads if not covers(fn.__stage__, wildcards, k))


def test_a_stage_reading_an_undeclared_key_is_caught() -> None:
    @stage("train_x", reads=("trainer", "encoders.{encoder}"))
    def train_x(config: dict[str, Any], encoder: str, **_: Any) -> None:
        assert config["trainer"]["batch_size"] == 4 and config["encoders"][encoder]["width"] == 1
        config["evaluation"].get("bootstrap", 1000)  # a new setting, read with a default: no rerun trigger

    config = {"trainer": {"batch_size": 4}, "encoders": {"a": {"width": 1}}, "evaluation": {}}
    reads, missed = tracked_call(train_x, {"config": config, "encoder": "a"}, {"encoder": "a"})
    assert reads == {"trainer.batch_size", "encoders.a.width", "evaluation.bootstrap"}
    assert missed == ["evaluation.bootstrap"]


def _selected(jobs: list[Any]) -> list[Any]:
    """The jobs to rerun: every one of a non-training rule whose `name`/`study`/`stage` wildcard picks other code
    (each table, figure, overview), the first of every other rule (its data wildcards change no code path)."""
    seen, out = set(), []
    for job in jobs:
        code = tuple(sorted((k, v) for k, v in job.wildcards.items() if k in {"name", "study", "stage"}))
        key = (job.rule, code if not job.gpu else ())
        if key not in seen:
            seen.add(key)
            out.append(job)
    return out


def _tracked_jobs(work: Path) -> Iterator[tuple[Any, dict[str, Any], Any]]:
    """(job record, rule kwargs, Snakemake job) of every job of the tiny DAG in `work`, in dependency order."""
    from mmdiag.dvc_yaml import dag_jobs, job_record, snakemake_workflow
    from mmdiag.workflow import rule_kwargs

    with snakemake_workflow(work, [TINY]) as workflow:
        jobs = []
        for job in dag_jobs(workflow):
            smk = SimpleNamespace(
                config={},
                input={k: _plain(v) for k, v in job.input.items()},
                output={k: _plain(v) for k, v in job.output.items()},
                params={k: v for k, v in job.params.items()},
                wildcards=dict(job.wildcards_dict),
            )
            kwargs = rule_kwargs(smk)
            del kwargs["config"]
            jobs.append(
                (job_record(job, work), kwargs, script_target(Path(job.rule.snakefile).parent / job.rule.script))
            )
        config = copy.deepcopy(dict(workflow.config))
    for record, kwargs, target in jobs:
        yield record, {**kwargs, "config": config}, target


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, str) else [str(v) for v in value]


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(1800)
def test_every_config_key_a_stage_reads_is_declared(
    tiny_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rerun (in this process, on a copy of the finished tiny DAG) one job per rule and per table/figure, each on
    a config recording every key read; each read must be one its stage declares (`covers`)."""
    import torch

    from mmdiag.dvc_yaml import stage_outs
    from mmdiag.workflow import resolve
    from workflow_sandbox import clone_sandbox

    work = clone_sandbox(tiny_run.work, tmp_path / "work", drop=[".snakemake"])
    jobs = list(_tracked_jobs(work))
    records = [r for r, _, _ in jobs]
    selected = {id(r) for r in _selected(records)}
    for record, outs in zip(records, stage_outs(records)):
        if id(record) in selected:  # recompute from scratch: no finished run folder or resume checkpoint left
            for out in outs:
                path = work / out
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    monkeypatch.chdir(work)
    undeclared = []
    with torch.serialization.safe_globals([dict]):  # checkpoints holding a Tracked section pickle it as a dict
        for record, kwargs, target in jobs:
            if id(record) not in selected:
                continue
            reads, missed = tracked_call(resolve(target), kwargs, record.wildcards)
            assert reads or not record.gpu, f"{record.name}: no config read recorded (is the tracking broken?)"
            undeclared += [f"{record.name} ({target}): {k}" for k in missed]
    assert not undeclared, (
        "stages read config keys they do not declare (no rerun trigger): add them to the function's "
        "@stage(reads=...) in mmdiag.stages (the rule reruns once), or to via_dag=/untriggered= with the reason:\n"
        + "\n".join(undeclared)
    )
