"""Rule `fusion_study`: train every run of one fusion-study table."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.studies:fusion_study")  # noqa: F821 - `snakemake` is injected by the script directive
