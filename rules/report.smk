# Reporting's input functions (the rules are in tables.smk and figures.smk, included after this file):
# which tables and figures the config produces, their inputs, and `reporting_outputs()`, every target.
#
#   snakemake all --cores 8 --report results/report.html      (after the run: one self-contained file)
from mmdiag.plan import STUDY_PREFIX, is_full_model, is_plain_fusion
from mmdiag.reporting.catalog import SELECTORS
from mmdiag.reporting.catalog import caption as catalog_caption
from mmdiag.reporting.catalog import study_of
from mmdiag.reporting.catalog import tables as catalog_tables

REPORT = f"{BASE}/report"


def report_item(path, kind):
    """`path` flagged for the HTML report, grouped by study (category) and kind (subcategory)."""
    return report(
        path,
        caption=f"../report/{kind}.rst",
        category=lambda w: study_of(w.name),
        subcategory=f"{kind.capitalize()}s",
        labels=lambda w: {kind: w.name},
    )


def tmm_arm_run(test):
    """The TMM-Net encoder's first-seed run of the first planned arm whose spec passes `test` (or None)."""
    arm = PLAN.arm(test)
    return arm_run(TM["encoder"], arm, PLAN.first_seed) if arm else None


def if_configured(study, paths):
    """`paths` when `study` runs (one of the config's `studies` that the plan kept), else nothing."""
    return paths if study in config["studies"] else []


def fusion_summary(study):
    planned = (PLAN.fusion or {}).get("studies", [])
    return [f"{RUNS}/fusion/{study}/summary.json"] if study in planned else []


def dualbranch_runs():
    """The dual-branch stages' metrics: every unimodal branch, then the fused model."""
    stages = [f"unimodal_{m}" for m in (config.get("dualbranch") or {}).get("modalities", [])] + ["fusion"]
    return if_configured("dualbranch", [f"{RUNS}/dualbranch/{s}/metrics.json" for s in stages])


# ------------------------------------------------------------------------------------------------ tables
# Every table declares what it is built from (`@table(..., inputs=Inputs(...))`, mmdiag.reporting.catalog);
# here each kind of selector becomes the run metrics / study summaries of this plan.
def tmm_runs(inputs):
    """The arms x backbones of `tmmnet.<group>` (no group: every arm, TMM-Net encoder), then the reference."""
    group = TM[inputs.group] if inputs.group else {"backbones": [TM["encoder"]], "arms": list(TM["arms"])}
    seeds = SEEDS if inputs.seeds == "every" else None
    reference = getattr(PLAN, inputs.reference) if inputs.reference else None
    return arm_runs(group["backbones"], group["arms"], seeds) + reference_run(reference)


SELECT = {
    "tmm_runs": tmm_runs,
    "tmm_cv": lambda inputs: [f"{RUNS}/tmmnet_cv/{c}/metrics.json" for c in PLAN.cv_centres],
    "fusion_summary": lambda inputs: fusion_summary(inputs.group),
    "distillation_summary": lambda inputs: [f"{RUNS}/distillation/summary.json"],
    "dualbranch_stages": lambda inputs: dualbranch_runs(),
}
if set(SELECT) != set(SELECTORS):
    raise ValueError(f"rules/report.smk: SELECT maps {sorted(SELECT)}, the catalog has {sorted(SELECTORS)}")
STUDY_OF_PREFIX = {prefix: study for study, prefix in STUDY_PREFIX.items()}
TABLE_ENTRIES = {entry.name: entry for entry in catalog_tables()}  # in report order


def table_runs(name):
    """What table `name` is built from in this plan ([] = the config runs nothing for it)."""
    entry = TABLE_ENTRIES[name]
    inputs = entry.inputs
    if inputs.requires and not getattr(PLAN, inputs.requires):
        return []
    return if_configured(STUDY_OF_PREFIX[entry.study_prefix], SELECT[inputs.select](inputs))


def table_names():
    return [name for name in TABLE_ENTRIES if table_runs(name)]


def table_inputs(wildcards):
    return {"runs": table_runs(wildcards.name), "meta": f"{DATA}/cache/meta.json"}


# ----------------------------------------------------------------------------------------------- figures
def tmm_model_inputs(**runs):
    """Inputs of a figure that re-runs saved TMM-Net models on the single-centre test set."""
    return {**runs, "meta": f"{DATA}/cache/meta.json", "split": split_file("single_centre")}


def tmm_figure_inputs():
    """TMM-Net figure name -> its named inputs (None = the config has no runs for it)."""
    if "tmmnet" not in config["studies"]:
        return {}
    ablation = {"runs": arm_runs([TM["encoder"]], list(TM["arms"])), "meta": f"{DATA}/cache/meta.json"}
    full, plain = tmm_arm_run(is_full_model), tmm_arm_run(is_plain_fusion)
    return {
        "tmmnet_fig8_roc_ablation": ablation,
        "tmmnet_confusion_ablation": ablation,
        "tmmnet_training_curves": ablation,
        "tmmnet_fig6_tsne": tmm_model_inputs(model_run=full) if full else None,
        "tmmnet_fig5_attribute_cam": tmm_model_inputs(model_run=full) if full else None,
        "tmmnet_fig7_guidance_cam": tmm_model_inputs(before=plain, after=full) if full and plain else None,
    }


# figure name -> inputs, for every study
FIGURE_INPUTS = {
    **tmm_figure_inputs(),
    "dualbranch_confusion": (
        {"runs": dualbranch_runs(), "meta": f"{DATA}/cache/meta.json"} if dualbranch_runs() else None
    ),
}


def figure_names():
    return [name for name, inputs in FIGURE_INPUTS.items() if inputs]


# ------------------------------------------------------------------------------------------------ report
def study_items(overview, folder, names, ext):
    """Files of the study of `<study>_overview` among `names`."""
    prefix = overview.split("_", 1)[0]
    return [f"{folder}/{n}.{ext}" for n in names if n.split("_", 1)[0] == prefix]


def overview_names():
    """`<study>_overview` for every study prefix with at least one table or figure."""
    prefixes = dict.fromkeys(n.split("_", 1)[0] for n in table_names() + figure_names())
    return [f"{p}_overview" for p in prefixes]


def reporting_outputs():
    """Every table (5 files each), figure (PNG + PDF) and study overview page the config produces."""
    out = []
    for name in table_names():
        out += [f"{TABLES}/{name}.{ext}" for ext in ("csv", "md", "tex", "html", "provenance.json")]
    for name in figure_names():
        out += [f"{FIGURES}/{name}.{ext}" for ext in ("png", "pdf")]
    return out + [f"{REPORT}/{name}.html" for name in overview_names()]
