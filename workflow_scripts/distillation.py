"""Rule `distillation`: teacher, then the ~40% student distilled from it, both measured."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.studies:distillation")  # noqa: F821 - `snakemake` is injected by the script directive
