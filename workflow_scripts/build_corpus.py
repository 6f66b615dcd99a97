"""Rule `build_corpus`: build the report character vocabulary."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.data:build_corpus")  # noqa: F821 - `snakemake` is injected by the script directive
