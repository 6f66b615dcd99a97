"""Rule `figure`: one paper figure as PNG and PDF."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.reporting:figure")  # noqa: F821 - `snakemake` is injected by the script directive
