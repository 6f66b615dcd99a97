"""Rule `preprocess`: cache decoded/resized/normalised images, encode reports, write splits."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.data:preprocess")  # noqa: F821 - `snakemake` is injected by the script directive
