"""Rule `cross_validate`: k-fold cross-validation of TMM-Net on one centre."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.tmm:cross_validate")  # noqa: F821 - `snakemake` is injected by the script directive
