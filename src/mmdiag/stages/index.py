"""Every declared stage by rule name, and the config keys each rule reads (its rerun trigger).

The stage modules are found by listing this package, so a new `mmdiag/stages/<module>.py` with `@stage`
functions needs no entry anywhere else. Only the DAG (rules/common.smk, at parse time), the `dvc.yaml`
generator and the tests import this module; a job imports just its own stage module (its DVC code deps
stay what its script reaches).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import mmdiag.stages as _package
from mmdiag.stages.declare import READS_ALL, Stage, declaration, expand, settings

_NOT_STAGES = frozenset({"declare", "index"})


@functools.cache
def stages() -> dict[str, Stage]:
    """Rule name -> its stage, over every module of `mmdiag.stages`."""
    names = sorted(m.name for m in pkgutil.iter_modules(_package.__path__) if m.name not in _NOT_STAGES)
    return collect(importlib.import_module(f"{_package.__name__}.{name}") for name in names)


def collect(modules: Iterable[ModuleType]) -> dict[str, Stage]:
    """Rule name -> stage over the `@stage` functions defined in `modules` (a rule declared twice is an error)."""
    found: dict[str, Stage] = {}
    for module in modules:
        for value in vars(module).values():
            decl = declaration(value) if callable(value) else None
            if decl is None or decl.fn.__module__ != module.__name__:
                continue  # not a stage, or one imported from another module
            for rule in decl.rules:
                if rule in found and found[rule] is not decl:
                    raise KeyError(f"rule '{rule}' is declared by {found[rule].target} and {decl.target}")
                found[rule] = decl
    return found


def stage_of(rule: str) -> Stage | None:
    return stages().get(rule)


def rule_keys(rule: str, wildcards: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    """Dotted config keys `rule` reads (its declaration; a rule without one reads the whole config)."""
    decl = stage_of(rule)
    return expand(decl.reads if decl else READS_ALL, wildcards, config)


def rule_settings(rule: str, wildcards: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, Any]:
    """{dotted key: value} of everything `rule` reads: the rule's Snakemake `params`, so changing a setting
    reruns exactly the jobs that read it (Snakemake's params trigger), as DVC's `params` do for stages."""
    return settings(rule_keys(rule, wildcards, config), config)
