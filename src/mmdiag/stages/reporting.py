"""Figure and overview rules: catalogued figures as PNG + PDF, and one HTML page per study."""

from __future__ import annotations

from typing import Any

from mmdiag.stages.declare import stage

# rule params that are for the Snakemake report (rst captions), not for the builders
REPORT_PARAMS = ("description",)


# `data`: a figure that re-runs a model samples the test set as the runs it reads did, and those rerun (the
# figure after them) when `data` changes; `tmmnet.seeds`: its order (the first seed) is no trigger, as for tables.
@stage(reads=("data.pairing",), via_dag=("data",), untriggered=("tmmnet.seeds",))
def figure(config: dict[str, Any], name: str, png: str, pdf: str, **inputs: Any) -> None:
    """Figure `name` (see `mmdiag.reporting.catalog`) from the rule's named inputs."""
    from mmdiag.reporting.catalog import FIGURES
    from mmdiag.reporting.figures.style import save_figure

    kwargs = {k: v for k, v in inputs.items() if k not in REPORT_PARAMS}
    save_figure(FIGURES.get(name)(config=config, **kwargs), png, pdf)


@stage("study_overview", reads=())
def overview(
    config: dict[str, Any],
    title: str,
    tables: list[str],
    figures: list[str],
    html: str,
    left_out: list[str] | None = None,
    **_: Any,
) -> None:
    """The study page: every table and figure of one study in one self-contained HTML file, and what the plan
    left out on this dataset (this study's items, the whole run's, and studies left out entirely)."""
    from mmdiag.io import write_text
    from mmdiag.reporting.overview import study_page

    write_text(html, study_page(title, list(tables), list(figures), left_out=list(left_out or [])))
