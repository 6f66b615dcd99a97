"""Rule `download`: fetch or generate the dataset in the BYO format."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.data:download")  # noqa: F821 - `snakemake` is injected by the script directive
