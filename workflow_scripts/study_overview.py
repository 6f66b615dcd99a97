"""Rule `study_overview`: one HTML page with every table and figure of a study."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.reporting:overview")  # noqa: F821 - `snakemake` is injected by the script directive
