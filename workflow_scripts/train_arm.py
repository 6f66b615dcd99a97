"""Rule `train_arm`: train and evaluate one TMM-Net arm."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.tmm:train_arm")  # noqa: F821 - `snakemake` is injected by the script directive
