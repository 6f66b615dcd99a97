"""One function per pipeline rule; each takes the rule's named inputs/outputs/params as keyword arguments.

The Snakemake rules (and `dvc.yaml`, generated from them) call these through `mmdiag.workflow.run`. Each
function declares, next to its code, the rules it serves and the config keys it reads (`@stage`, see
`mmdiag.stages.declare`); `mmdiag.stages.index` collects the declarations, from which every rule's rerun
triggers (Snakemake `settings` param, DVC `params`) are derived. Stage modules import nothing heavy at module
level: the DAG imports all of them when it is parsed.
"""
