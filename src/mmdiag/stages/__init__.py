"""One function per pipeline rule; each takes the rule's named inputs/outputs/params as keyword arguments.

The Snakemake rules (and `dvc.yaml`, generated from them) call these through `mmdiag.workflow.run`.
"""
