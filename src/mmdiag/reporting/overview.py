"""One HTML page per study with all of its tables and figures, for reading the results in one place.

The Snakemake report shows one file at a time; this page (registered in the report too) puts a study's
tables and figures together like the paper does. It is self-contained: tables are copied from their HTML
files, figures embedded as PNG data URIs, captions taken from the catalogue.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmdiag.reporting.catalog import caption
from mmdiag.reporting.render import extract_fragment, html_page
from mmdiag.reporting.table import as_lines

FIGURE_STYLE = """
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 13px; max-width: 70em; margin-top: .4em; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 1.5em; }
section.mmdiag-table { margin-bottom: 1.5em; }
section.left-out li { font-size: 13px; color: #444; }
"""


def figure_block(png: str | Path) -> str:
    path = Path(png)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = path.stem
    return (
        f'<figure id="{html.escape(name)}">\n<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">\n'
        f"<figcaption><b>Figure <code>{html.escape(name)}</code>.</b> {html.escape(caption(name))}</figcaption>\n"
        "</figure>\n"
    )


def left_out_block(left_out: Sequence[Any] | None) -> str:
    """What the DAG left out of this study for this dataset, one line each (empty when nothing was)."""
    lines = as_lines(left_out)
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<section class="left-out">\n<h2>Left out</h2>\n<ul>{items}</ul>\n</section>\n'


def study_page(
    title: str,
    tables: Sequence[str | Path],
    figures: Sequence[str | Path],
    left_out: Sequence[Any] | None = None,
) -> str:
    """The page: what was left out (if anything), every table (from its `.html`), then every figure (from its
    `.png`), in the given order. `left_out` entries are strings or `(what, reason)` / `LeftOut` objects."""
    parts = [f"<style>{FIGURE_STYLE}</style>\n<h1>{html.escape(title)}</h1>\n", left_out_block(left_out)]
    if tables:
        parts.append("<h2>Tables</h2>\n")
        parts += [extract_fragment(Path(t).read_text(encoding="utf-8")) for t in tables]
    if figures:
        parts.append("<h2>Figures</h2>\n")
        parts += [figure_block(f) for f in figures]
    return html_page(title, "".join(parts))
