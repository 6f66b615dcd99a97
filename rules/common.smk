# Config layering and validation, the plan (what runs on this dataset), paths and input functions shared
# by every rule file.
import re
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate

from mmdiag.config.layering import load_layered, snakemake_layers
from mmdiag.plan import plan_for
from mmdiag.stages.index import rule_settings
from mmdiag.workflow import check_config_or_exit, setup_process

# Snakemake has merged config/config.yaml, the --configfile files and --config; layer them again with the
# recipe (config/recipes/) between the default and the user's files, and `_replace: true` honoured
# (mmdiag.config.layering, docs/data_format.md). In place: `config` is the object jobs receive.
_layered = load_layered(*snakemake_layers(workflow))
config.clear()
config.update(_layered)
check_config_or_exit(config)  # one human line, exit 1: schema, finite values, caps, devices, encoders
validate(config, "../config/schema/config.schema.yaml")
setup_process(config)

# Everything decided before any job runs: studies, arms (roles resolved, duplicates removed), centres,
# seeds, and what is left out, with its reason (mmdiag.plan). Jobs get the resolved config.
PLAN = plan_for(config)
for _line in PLAN.lines():
    logger.warning(f"mmdiag: left out: {_line}")
_resolved = PLAN.resolved_config(config)
config.clear()
config.update(_resolved)

BASE = f"{config['results']}/{config['dataset']['name']}"
DATA = f"{BASE}/data"
RUNS = f"{BASE}/runs"
TABLES = f"{BASE}/tables"
FIGURES = f"{BASE}/figures"
TM = config["tmmnet"]
SPLITS = config["splits"]
SEEDS = PLAN.seeds
# Scheduling only (no effect on any output): with a few cores, the longest jobs and the starts of the
# longest chains go first, so the run does not end on one long job while the other cores idle. Ordered by
# the job seconds of a default run (README, "Measured times"): pretrain unlocks the ablations; a fusion
# study job is the longest single job; dual-branch is a two-job chain.
PRIORITY = {"pretrain": 60, "fusion_study": 50, "dualbranch": 45, "train_fusion": 40, "cv_fold": 30, "distillation": 20}


wildcard_constraints:
    encoder="[A-Za-z0-9_]+",
    arm="[A-Za-z0-9_]+",
    modality="[A-Za-z0-9_]+",
    centre="[A-Za-z0-9_-]+",
    seed="[0-9]+",


def settings(rule):
    """Every config setting `rule` reads, as a param: Snakemake reruns a job when one of them changes
    (what the rule's stage declares, `@stage(reads=...)` in mmdiag.stages; dvc.yaml lists the same keys)."""
    return lambda w: rule_settings(rule, dict(w.items()), config)


def entry(name):
    """Path of a workflow entry point (relative to this rule file)."""
    return f"../workflow_scripts/{name}.py"


def split_names():
    """Every split file `preprocess` writes, from the (resolved) config (no data needed)."""
    names = ["single_centre"]
    if (SPLITS.get("multi_centre") or {}).get("target"):
        names.append("multi_centre")
    cv = SPLITS.get("cv") or {}
    names += [f"cv_{c}_fold{i}" for c in cv.get("centres", []) for i in range(int(cv.get("folds", 5)))]
    return names


def split_file(name):
    return f"{DATA}/splits/{name}.json"


def stage1_inputs(wildcards):
    """Stage-1 checkpoints an arm starts from (one per modality, same seed), if the arm uses stage 1."""
    arm = TM["arms"][wildcards.arm]
    if not arm.get("stage1"):
        return {}
    return {
        f"stage1_{m}": f"{RUNS}/pretrain/{wildcards.encoder}/{m}/seed{wildcards.seed}/stage1.pt"
        for m in arm["modalities"]
    }


def external_split():
    """The multi-centre split, when the plan has one."""
    return split_file("multi_centre") if "multi_centre" in split_names() else []


def arm_run(encoder, arm, seed):
    return f"{RUNS}/tmmnet/{encoder}/{arm}/seed{seed}/metrics.json"


def arm_runs(encoders, arms, seeds=None):
    """Run metrics of every encoder x arm x seed (default: the first seed), without repeats."""
    seeds = seeds or SEEDS[:1]
    return list(dict.fromkeys(arm_run(e, a, s) for e in encoders for a in arms for s in seeds))


def reference_run(arm):
    """The TMM-Net encoder's run of `arm` (first seed) as a one-element list, or [] when it does not run."""
    return arm_runs([TM["encoder"]], [arm]) if arm else []


def dualbranch_inputs(wildcards):
    """The fusion stage starts from both unimodal runs' weights."""
    if wildcards.stage != "fusion":
        return {}
    return {f"unimodal_{m}": f"{RUNS}/dualbranch/unimodal_{m}/model.pt" for m in config["dualbranch"]["modalities"]}


def one_of(names):
    """A wildcard constraint matching exactly `names` (none: a pattern that matches nothing)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def get_final_output():
    """Every table, figure and overview page of the enabled studies (`reporting_outputs`, report.smk)."""
    return reporting_outputs()
