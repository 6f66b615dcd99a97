"""Rule `cross_validate`: collect one centre's CV folds into its Table 4 summary."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.tmm:cross_validate")  # noqa: F821 - `snakemake` is injected by the script directive
