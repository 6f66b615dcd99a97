"""Table rule: build one catalogued table from run outputs and write all its formats (mmdiag.reporting)."""

from __future__ import annotations

from typing import Any

from mmdiag.stages.declare import stage


# `tmmnet.seeds`: which seeds exist reaches a table as its input files, but their order (whose run is the first
# seed, Table 3's point and CI) is no rerun trigger.
@stage(reads=("fusion_study.base.fusion",), untriggered=("tmmnet.seeds",))
def table(
    config: dict[str, Any],
    name: str,
    runs: list[str],
    csv: str,
    md: str,
    tex: str,
    html: str,
    provenance: str,
    meta: str | None = None,
    left_out: list[str] | None = None,
    **_: Any,
) -> None:
    """Table `name` (see `mmdiag.reporting.catalog`) as CSV, Markdown, LaTeX, HTML + provenance sidecar.

    `left_out`: what the plan did not run for this table on this dataset, one line each (`mmdiag.plan`);
    the caption names them.
    """
    from mmdiag.reporting.catalog import TABLES
    from mmdiag.reporting.render import write_table

    built = TABLES.get(name)(runs=list(runs), meta=meta, config=config, left_out=list(left_out or []))
    write_table(built, provenance=provenance, csv=csv, md=md, tex=tex, html=html)
