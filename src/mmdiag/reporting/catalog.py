"""The catalogue of named tables and figures: name -> builder, caption and study.

Table and figure names are fixed (users' scripts rely on them); each is registered once, with the caption
the HTML report shows, by the `table`/`figure` decorators in the study modules (`tmm_tables`,
`tmm_figures`, ...). `mmdiag.reporting.builders` imports every study module, so a lookup sees all names.
Builders of tables return a `Table`; builders of figures return a matplotlib `Figure`. Both take keyword
arguments only: their `name` and `caption`, and the named inputs of the Snakemake rule (and must accept
`**kwargs` they do not use). A `left_out=[...]` keyword is handled by `Entry` for every table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mmdiag.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])

TABLES = Registry("table", "mmdiag.reporting.table_builders")  # tables only: no plotting imports
FIGURES = Registry("figure", "mmdiag.reporting.builders")

# name prefix -> study title (the report's categories)
STUDIES: dict[str, str] = {
    "tmmnet": "TMM-Net (GIST)",
    "fusion": "Image + report fusion",
    "distill": "Distillation",
    "dualbranch": "Dual-branch ResNet",
}


@dataclass(frozen=True)
class Entry:
    """A registered table or figure."""

    name: str
    caption: str
    build: Callable[..., Any]

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


def study_of(name: str) -> str:
    """The study a table/figure belongs to, from its name prefix."""
    prefix = name.split("_", 1)[0]
    if prefix not in STUDIES:
        raise KeyError(f"'{name}': no study for prefix '{prefix}' (known: {', '.join(STUDIES)})")
    return STUDIES[prefix]


def _register(registry: Registry, name: str, caption: str) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        study_of(name)  # fail at import on a name no study claims
        registry.register(name)(Entry(name, caption, fn))
        return fn

    return deco


def table(name: str, caption: str) -> Callable[[F], F]:
    """Register a table builder under its fixed name."""
    return _register(TABLES, name, caption)


def figure(name: str, caption: str) -> Callable[[F], F]:
    """Register a figure builder under its fixed name."""
    return _register(FIGURES, name, caption)


def caption(name: str) -> str:
    """Caption of a registered table or figure (the report's rst captions read it via the rule's params)."""
    registry = TABLES if name in TABLES else FIGURES
    return registry.get(name).caption
