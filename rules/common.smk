# Config validation, paths and input functions shared by every rule file.
import json
from pathlib import Path

from snakemake.utils import validate

from mmdiag.dvc_yaml import rule_settings
from mmdiag.workflow import check_config_or_exit, setup_process

check_config_or_exit(config)  # one human line, exit 1: schema, finite values, caps, devices, encoders
validate(config, "../config/schema/config.schema.yaml")
setup_process(config)

BASE = f"{config['results']}/{config['dataset']['name']}"
DATA = f"{BASE}/data"
RUNS = f"{BASE}/runs"
TABLES = f"{BASE}/tables"
FIGURES = f"{BASE}/figures"
TM = config["tmmnet"]
SPLITS = config["splits"]


wildcard_constraints:
    encoder="[A-Za-z0-9_]+",
    arm="[A-Za-z0-9_]+",
    modality="[A-Za-z0-9_]+",
    centre="[A-Za-z0-9_-]+",


def settings(rule):
    """Every config setting `rule` reads, as a param: Snakemake reruns a job when one of them changes
    (the same keys dvc.yaml lists as the stage's params; mmdiag.dvc_yaml.READS)."""
    return lambda w: rule_settings(rule, dict(w.items()), config)


def entry(name):
    """Path of a workflow entry point (relative to this rule file)."""
    return f"../workflow_scripts/{name}.py"


def split_names():
    """Every split file `preprocess` writes, from the config (no data needed)."""
    names = ["single_centre"]
    if (SPLITS.get("multi_centre") or {}).get("target"):
        names.append("multi_centre")
    cv = SPLITS.get("cv") or {}
    names += [f"cv_{c}_fold{i}" for c in cv.get("centres", []) for i in range(int(cv.get("folds", 5)))]
    return names


def split_file(name):
    return f"{DATA}/splits/{name}.json"


def arm_modalities(arm):
    return TM["arms"][arm]["modalities"]


def stage1_inputs(wildcards):
    """Stage-1 checkpoints an arm starts from (one per modality), if the arm uses stage 1."""
    arm = TM["arms"][wildcards.arm]
    if not arm.get("stage1"):
        return {}
    return {f"stage1_{m}": f"{RUNS}/pretrain/{wildcards.encoder}/{m}/stage1.pt" for m in arm["modalities"]}


def external_split():
    """The multi-centre split, when the config defines one."""
    return split_file("multi_centre") if "multi_centre" in split_names() else []


def arm_runs(encoders, arms):
    return [f"{RUNS}/tmmnet/{e}/{a}/metrics.json" for e in encoders for a in arms]


def tmm_table_inputs(table):
    """Run metrics a TMM-Net table is built from."""
    enc = TM["encoder"]
    if table == "t1":
        return arm_runs(TM["comparison"]["backbones"], TM["comparison"]["arms"]) + arm_runs([enc], ["tmmnet"])
    if table == "t2":
        return arm_runs(TM["text_guidance"]["backbones"], TM["text_guidance"]["arms"]) + arm_runs([enc], ["stages12"])
    if table == "t3":
        return arm_runs([enc], list(TM["arms"]))
    if table == "t4":
        return [f"{RUNS}/tmmnet_cv/{c}/metrics.json" for c in (SPLITS.get("cv") or {}).get("centres", [])]
    raise ValueError(table)


def dualbranch_inputs(wildcards):
    """The fusion stage starts from both unimodal runs' weights."""
    if wildcards.stage != "fusion":
        return {}
    return {f"unimodal_{m}": f"{RUNS}/dualbranch/unimodal_{m}/model.pt" for m in config["dualbranch"]["modalities"]}


TMM_TABLES = {
    "t1": "tmmnet_t1_comparison",
    "t2": "tmmnet_t2_text_guidance",
    "t3": "tmmnet_t3_ablation",
    "t4": "tmmnet_t4_cv",
}


def get_final_output():
    """Every table, figure and overview page of the enabled studies (`reporting_outputs`, report.smk)."""
    return reporting_outputs()
