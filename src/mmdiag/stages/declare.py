"""What a stage declares next to its code: the rules that run it and the config keys it reads.

`@stage("pretrain", reads=(...), skip=(...))` on a function of `mmdiag.stages.*` attaches a `Stage` to it
(the function itself is returned unchanged, so it stays a plain, importable, testable function).
`mmdiag.stages.index` collects the declarations by rule name, and both rerun triggers are derived from
them: the rule's Snakemake `settings` param (rules/common.smk) and its DVC `params` (dvc.yaml).
tests/test_stage_declarations.py runs the stages of the tiny DAG on a config that records every key read
and fails on a key a stage reads but does not declare.

Key patterns: dotted paths; `{wildcard}` filled from the job; `a.*` = every child of `a` in the resolved
config minus the keys in `skip`; `*` = the whole config minus `NEVER_READ`.

This module imports nothing but the standard library: every stage module imports it, and a workflow
script imports its stage function before `mmdiag.workflow.run` sets the process up (threads, logging).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Where outputs go and how a process logs: never results, never a rerun trigger.
NEVER_READ = ("results", "progress", "hub_offline")
# What a TMM-Net model's training reads (minus what a rule skips).
MODEL = ("seed", "data", "augment", "trainer", "text_encoders", "tmmnet.*")
# What the plan (mmdiag.plan) decides which runs exist from, not how one run trains: a seed or an arm added to
# these lists adds jobs, it never reruns the existing ones (each run's own seed is its `seed` wildcard).
STUDY_LISTS = (
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


# A rule nothing declares is assumed to read the whole config (safe: it reruns more often, never less).
READS_ALL = Reads(("*",))


@dataclass(frozen=True)
class Stage:
    """A stage function and what it declares.

    `reads`: the keys whose values are the rule's rerun trigger (`settings` param, DVC `params`).
    `via_dag`: keys the stage also reads whose effect reaches each job through the DAG itself (its wildcards
    and input files, e.g. which seeds or arms exist), so they are no trigger of their own.
    `untriggered`: keys the stage reads that are no rerun trigger although they could change its output;
    listed so the declaration is complete and the gap visible (making one a trigger reruns the rule once).
    """

    rules: tuple[str, ...]
    fn: Callable[..., Any]
    reads: Reads
    via_dag: tuple[str, ...] = ()
    untriggered: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """`module:function`, the name a DDP rank resolves the stage by (`mmdiag.workflow.resolve`)."""
        return target_of(self.fn)


def stage(
    *rules: str,
    reads: tuple[str, ...] = (),
    skip: tuple[str, ...] = (),
    via_dag: tuple[str, ...] = (),
    untriggered: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Declare the stage function of `rules` (default: the rule named like the function) and the config
    keys it reads (see `Stage`); the function is returned unchanged, with the declaration as `__stage__`."""

    def deco(fn: F) -> F:
        fn.__stage__ = Stage(rules or (fn.__name__,), fn, Reads(tuple(reads), tuple(skip)), via_dag, untriggered)  # type: ignore[attr-defined]
        return fn

    return deco


def declaration(fn: Callable[..., Any]) -> Stage | None:
    """The `Stage` declared on `fn`, if any."""
    return getattr(fn, "__stage__", None)


def target_of(fn: Callable[..., Any]) -> str:
    """`module:function`, the name `mmdiag.workflow.resolve` turns back into `fn` (in a DDP rank)."""
    return f"{fn.__module__}:{fn.__qualname__}"


# ------------------------------------------------------------------------------------------ key patterns
MISSING = object()


def lookup(tree: Any, dotted: str) -> Any:
    """The value at a dotted key of a nested mapping, or `MISSING`."""
    for part in dotted.split("."):
        if not isinstance(tree, Mapping) or part not in tree:
            return MISSING
        tree = tree[part]
    return tree


def expand(reads: Reads, wildcards: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    """Dotted config keys of `reads` for one job: `{wildcard}`s filled, `a.*` and `*` expanded, no repeats."""
    keys: list[str] = []
    for pattern in reads.keys:
        key = pattern.format(**wildcards)
        if key == "*":
            keys += [k for k in config if k not in NEVER_READ]
        elif key.endswith(".*"):
            parent = key[:-2]
            children = lookup(config, parent)
            if isinstance(children, Mapping):
                keys += [f"{parent}.{c}" for c in children if f"{parent}.{c}" not in reads.skip]
        else:
            keys.append(key)
    return list(dict.fromkeys(keys))


def covers(stage_: Stage, wildcards: Mapping[str, str], key: str) -> bool:
    """Whether reading the dotted `key` is declared by `stage_` (its `reads` patterns, minus `skip`, or its
    `via_dag`/`untriggered` keys): what tests/test_stage_declarations.py checks every recorded read against."""
    if key.split(".")[0] in NEVER_READ:
        return True
    extra = [k.format(**wildcards) for k in (*stage_.via_dag, *stage_.untriggered)]
    if any(key == k or key.startswith(f"{k}.") for k in extra):
        return True
    for pattern in stage_.reads.keys:
        declared = pattern.format(**wildcards)
        if declared == "*":
            return True
        if declared.endswith(".*"):
            parent = declared[:-2]
            if (
                key.startswith(f"{parent}.")
                and f"{parent}.{key[len(parent) + 1 :].split('.')[0]}" not in stage_.reads.skip
            ):
                return True
        elif key == declared or key.startswith(f"{declared}."):
            return True
    return False


def settings(keys: list[str], config: Mapping[str, Any]) -> dict[str, Any]:
    """{dotted key: value} of the `keys` the config sets."""
    return {k: v for k in keys if (v := lookup(config, k)) is not MISSING}
