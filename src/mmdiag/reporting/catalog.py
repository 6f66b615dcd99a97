"""The catalogue of named tables and figures: name -> builder, caption and study.

Table and figure names are fixed (users' scripts rely on them); each is registered once, with the caption
the HTML report shows, by the `table`/`figure` decorators in the study modules (`tmm_tables`,
`tmm_figures`, ...). `mmdiag.reporting.builders` imports every study module, so a lookup sees all names.
Builders of tables return a `Table`; builders of figures return a matplotlib `Figure`. Both take keyword
arguments only: their `name` and `caption`, and the named inputs of the Snakemake rule (and must accept
`**kwargs` they do not use). A `left_out=[...]` keyword is handled by `Entry` for every table.

Every table also declares what it is built from (`inputs=`, an `Inputs` selector such as "every TMM-Net arm,
every seed" or "the fusion study's `strategies` summary"); the DAG (rules/report.smk) turns each selector
into files from the plan, so a new table needs its builder and this one declaration, nothing in the rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from mmdiag.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])
_REGISTERED = itertools.count()  # registration order: a module's tables in the order it declares them

TABLES = Registry("table", "mmdiag.reporting.table_builders")  # tables only: no plotting imports
FIGURES = Registry("figure", "mmdiag.reporting.builders")

# name prefix -> study title (the report's categories)
STUDIES: dict[str, str] = {
    "tmmnet": "TMM-Net (GIST)",
    "fusion": "Image + report fusion",
    "distill": "Distillation",
    "dualbranch": "Dual-branch ResNet",
}


# What `Inputs.select` may name; rules/report.smk maps each one to files (and checks it maps exactly these).
SELECTORS = ("tmm_runs", "tmm_cv", "fusion_summary", "distillation_summary", "dualbranch_stages")


@dataclass(frozen=True)
class Inputs:
    """What a table is built from, named so the DAG can list the files from the plan (rules/report.smk);
    nothing when the table's study (its name prefix) does not run.

    `select`, one of `SELECTORS`:
    - `tmm_runs`: TMM-Net run metrics: the backbones x arms of `group` (`comparison`, `text_guidance`: that
      section of `tmmnet`) or, with no group, every planned arm with `tmmnet.encoder`; of the first or every
      seed (`seeds`); then the `tmmnet.encoder` run of the plan's `reference` arm (e.g. `full_arm`), if any;
    - `tmm_cv`: each cross-validated centre's summary;
    - `fusion_summary`: the fusion study's `summary.json` of table `group` (`strategies`, ...), if planned;
    - `distillation_summary`: the distillation pair's `summary.json`;
    - `dualbranch_stages`: every unimodal branch's metrics, then the fused model's.
    `requires`: a plan arm (e.g. `full_arm`) without which the table has no inputs.
    """

    select: str
    group: str | None = None
    seeds: Literal["first", "every"] = "first"
    reference: str | None = None
    requires: str | None = None

    def __post_init__(self) -> None:
        if self.select not in SELECTORS:
            raise ValueError(f"Inputs.select: unknown '{self.select}' (known: {', '.join(SELECTORS)})")


@dataclass(frozen=True)
class Entry:
    """A registered table or figure (`inputs`: tables only; `order`: its place in the registration order)."""

    name: str
    caption: str
    build: Callable[..., Any]
    inputs: Inputs | None = None
    order: int = 0

    def __call__(self, left_out: Any = None, **kwargs: Any) -> Any:
        """Build it; the builder also receives its own `name` and `caption`.

        `left_out` (what the DAG did not run for this dataset, one line or `(what, reason)` each) is attached
        here to every table, so no builder has to handle it; builders ignore keyword inputs they do not use.
        """
        from mmdiag.reporting.table import Table, as_lines

        built = self.build(name=self.name, caption=self.caption, **kwargs)
        if isinstance(built, Table):
            built.left_out = [*built.left_out, *as_lines(left_out)]
        return built

    @property
    def study(self) -> str:
        return study_of(self.name)

    @property
    def study_prefix(self) -> str:
        return self.name.split("_", 1)[0]


def study_of(name: str) -> str:
    """The study a table/figure belongs to, from its name prefix."""
    prefix = name.split("_", 1)[0]
    if prefix not in STUDIES:
        raise KeyError(f"'{name}': no study for prefix '{prefix}' (known: {', '.join(STUDIES)})")
    return STUDIES[prefix]


def _register(registry: Registry, name: str, caption: str, inputs: Inputs | None = None) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        study_of(name)  # fail at import on a name no study claims
        registry.register(name)(Entry(name, caption, fn, inputs, next(_REGISTERED)))
        return fn

    return deco


def table(name: str, caption: str, *, inputs: Inputs) -> Callable[[F], F]:
    """Register a table builder under its fixed name, with what it is built from (see `Inputs`)."""
    if not isinstance(inputs, Inputs):
        raise TypeError(f"table '{name}': inputs= must be a catalog.Inputs (what the table is built from)")
    return _register(TABLES, name, caption, inputs)


def figure(name: str, caption: str) -> Callable[[F], F]:
    """Register a figure builder under its fixed name."""
    return _register(FIGURES, name, caption)


def tables() -> list[Entry]:
    """Every registered table in report order: by study (`STUDIES`), then as its module defines them."""
    entries = [TABLES.get(name) for name in TABLES.list()]
    order = list(STUDIES)

    def key(entry: Entry) -> tuple[int, str, int]:
        return order.index(entry.study_prefix), entry.build.__module__, entry.order

    return sorted(entries, key=key)


def caption(name: str) -> str:
    """Caption of a registered table or figure (the report's rst captions read it via the rule's params)."""
    registry = TABLES if name in TABLES else FIGURES
    return registry.get(name).caption
