"""Rule `pretrain`: TMM-Net stage 1 (text-aligned pretraining) for one encoder and modality."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.tmm:pretrain")  # noqa: F821 - `snakemake` is injected by the script directive
