"""Rule `table`: one paper table (CSV, Markdown, LaTeX, HTML) and its provenance sidecar."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.tables:table")  # noqa: F821 - `snakemake` is injected by the script directive
