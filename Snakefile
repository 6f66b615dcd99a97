# mmdiag: text-guided multimodal medical image diagnosis, from data to paper tables.
#
#   snakemake all --cores 8 --resources gpu=2        (targets BEFORE --resources: see README)
#   snakemake all --configfile config/paper_tmmnet.yaml
#
# This file only sets the config, includes the rule files in pipeline order and defines `all`;
# rules live in rules/*.smk, their logic in the mmdiag library.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/tmmnet.smk"
include: "rules/studies.smk"
include: "rules/report.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        get_final_output(),
