"""Rule `cv_fold`: one fold of TMM-Net's k-fold cross-validation (Table 4)."""

from mmdiag.workflow import run

run(snakemake, "mmdiag.stages.tmm:cv_fold")  # noqa: F821 - `snakemake` is injected by the script directive
