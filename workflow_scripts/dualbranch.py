"""Rule `dualbranch`: one stage of the dual-branch ResNet (unimodal or fusion)."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.studies:dualbranch")  # noqa: F821 - `snakemake` is injected by the script directive
