"""Rule `tmmnet_table`: build one of TMM-Net's Tables 1-4 from the run metrics."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.tables:tmmnet_table")  # noqa: F821 - `snakemake` is injected by the script directive
