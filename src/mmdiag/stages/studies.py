"""Rules of the fusion study, the distillation pair and the dual-branch model (issue #4 studies)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmdiag.io import write_json
from mmdiag.run_folder import METRICS
from mmdiag.stages.declare import stage

if TYPE_CHECKING:
    from mmdiag.experiments.context import Context

log = logging.getLogger(__name__)


def _context(config: dict[str, Any], meta: str, supports_missing_modality: bool = True, study: str = "") -> Context:
    """The study's context; a model without a missing-modality token runs on complete cases only (`drop`)."""
    from mmdiag.experiments.context import Context

    policy = config["data"]["missing_modality"]
    if not supports_missing_modality and policy != "drop":
        log.info(
            "%s: data.missing_modality is %r, but the model has no missing-modality token: cases without every "
            "modality of a run are dropped (drop)",
            study,
            policy,
        )
        config = {**config, "data": {**(config.get("data") or {}), "missing_modality": "drop"}}
    return Context.open(config, Path(meta).parent)


def complete_cases_split(ctx: Context, split: str, modalities: list[str], out_dir: Path) -> str:
    """`split` restricted to the cases that have every one of `modalities` (written into `out_dir`), or
    `split` itself when no case of it lacks one.

    The dual-branch study compares its unimodal stages with the fused model on the same cases (Table 5's
    paired tests), so every stage runs on the fusion's cohort: the cases having both modalities.
    """
    from mmdiag.data.splits import Split
    from mmdiag.io import read_json

    index = ctx.cache.image_index
    have = set.intersection(*(set(index.loc[index["modality"] == m, "case_id"].astype(str)) for m in modalities))
    original = Split.from_json(read_json(split))
    kept = {p: [c for c in ids if c in have] for p, ids in original.partitions.items()}
    dropped = sum(len(ids) - len(kept[p]) for p, ids in original.partitions.items())
    if not dropped:
        return split
    log.info("dualbranch: %d cases of %s lack one of %s; every stage runs without them", dropped, split, modalities)
    path = out_dir / f"cohort_{Path(split).name}"
    meta = {**original.meta, "cohort": f"cases with every modality of {modalities}", "dropped_cases": dropped}
    write_json(path, Split(original.name, kept, meta).to_json())
    return str(path)


def _test_set(split: str) -> dict[str, tuple[str, str]]:
    from mmdiag.run_folder import eval_sets

    return eval_sets({"split": split})


@stage(reads=("seed", "data", "augment", "trainer", "text_encoders", "encoders", "evaluation", "fusion_study"))
def fusion_study(config: dict[str, Any], meta: str, split: str, summary: str, study: str, **_: Any) -> None:
    """Every run of one fusion-study table, in one process, each in its own resumable run folder."""
    from mmdiag.experiments.studies import fusion_runs
    from mmdiag.experiments.supervised import run_all

    ctx = _context(config, meta)
    out = Path(summary).parent
    results = run_all(ctx, fusion_runs(ctx, study), split, _test_set(split), out)
    write_json(summary, {"study": f"fusion_{study}", "runs": {k: str(out / k / METRICS) for k in results}})


@stage(reads=("seed", "data", "augment", "trainer", "encoders", "evaluation", "distillation"))
def distillation(config: dict[str, Any], meta: str, split: str, summary: str, **_: Any) -> None:
    """Teacher (hybrid-paper recipe), then the ~40% student trained against it; both measured for efficiency."""
    from mmdiag.experiments.distillation import run_distillation
    from mmdiag.models.student import SUPPORTS_MISSING_MODALITY

    ctx = _context(config, meta, SUPPORTS_MISSING_MODALITY, "distillation")
    write_json(summary, run_distillation(ctx, split, _test_set(split), Path(summary).parent))


@stage(reads=("seed", "data", "augment", "trainer", "evaluation", "dualbranch"))
def dualbranch(config: dict[str, Any], meta: str, split: str, metrics: str, stage: str, **inputs: Any) -> None:
    """A dual-branch stage: `unimodal_<m>` from scratch, or `fusion` initialised from the unimodal runs."""
    import torch

    from mmdiag.engine.checkpoint import load_checkpoint
    from mmdiag.experiments.studies import dualbranch_run
    from mmdiag.experiments.supervised import train_model
    from mmdiag.models.dualbranch import DualBranchResNet

    ctx = _context(config, meta, DualBranchResNet.supports_missing_modality, "dualbranch")
    run = dualbranch_run(ctx, stage)
    split = complete_cases_split(ctx, split, dualbranch_run(ctx, "fusion")["modalities"], Path(metrics).parent)
    init = None
    if stage == "fusion":
        states = {m: load_checkpoint(inputs[f"unimodal_{m}"])["state"] for m in run["modalities"]}

        def init(model: torch.nn.Module) -> None:
            model.load_unimodal(states)

    train_model(ctx, run, split, _test_set(split), Path(metrics).parent, init=init)
