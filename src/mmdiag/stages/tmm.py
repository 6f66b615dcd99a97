"""TMM-Net rules: `pretrain` (stage 1 per modality), `train_fusion`/`ablation` arms, `cv_fold`, `cross_validate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmdiag.stages.declare import MODEL, STUDY_LISTS, stage

if TYPE_CHECKING:
    from mmdiag.experiments.context import Context


def _context(config: dict[str, Any], meta: str, seed: str | None = None) -> Context:
    """The run's context; a `seed` wildcard (tmmnet.seeds) overrides `config["seed"]` for this run only."""
    from mmdiag.experiments.context import Context

    if seed is not None:
        config = {**config, "seed": int(seed)}
    return Context.open(config, Path(meta).parent)


@stage(reads=(*MODEL, "encoders.{encoder}", "tmmnet.schedule.stage1"), skip=(*STUDY_LISTS, "tmmnet.schedule"))
def pretrain(
    config: dict[str, Any],
    meta: str,
    split: str,
    ckpt: str,
    encoder: str,
    modality: str,
    seed: str | None = None,
    **_: Any,
) -> None:
    """Stage 1 (text-aligned pretraining) of `encoder` on `modality`, on the split's train partition."""
    from mmdiag.experiments.tmm import train_stage1

    out = train_stage1(_context(config, meta, seed), encoder, modality, split, Path(ckpt).parent)
    if Path(ckpt) != out:
        raise RuntimeError(f"stage 1 wrote {out}, the rule expects {ckpt}")


@stage(
    "train_fusion",
    "ablation",
    reads=(*MODEL, "evaluation", "encoders.{encoder}", "tmmnet.arms.{arm}"),
    skip=STUDY_LISTS,
)
def train_arm(
    config: dict[str, Any],
    meta: str,
    split: str,
    metrics: str,
    encoder: str,
    arm: str,
    external: str | None = None,
    seed: str | None = None,
    **inputs: Any,
) -> None:
    """One arm on the single-centre split, evaluated in-centre (`test`) and on the other centre (`external`)."""
    from mmdiag.experiments.tmm import train_arm as run
    from mmdiag.run_folder import eval_sets

    stage1 = {k.removeprefix("stage1_"): v for k, v in inputs.items() if k.startswith("stage1_")}
    sets = eval_sets({"split": split, "external": external})
    run(_context(config, meta, seed), arm, encoder, split, sets, Path(metrics).parent, stage1 or None)


# its seed (the first of tmmnet.seeds) is a param of its own
@stage(reads=(*MODEL, "evaluation", "encoders"), skip=("tmmnet.comparison", "tmmnet.text_guidance", "tmmnet.seeds"))
def cv_fold(config: dict[str, Any], meta: str, split: str, metrics: str, seed: str | None = None, **_: Any) -> None:
    """One fold of the k-fold CV of `tmmnet.cv.arm` (Table 4), with the first of `tmmnet.seeds` (`seed`)."""
    from mmdiag.experiments.tmm import cv_fold as run

    tm = config["tmmnet"]
    run(_context(config, meta, seed), tm["cv"]["arm"], tm["encoder"], split, Path(metrics).parent)


@stage(reads=())  # averages its folds' metrics: no setting of its own
def cross_validate(config: dict[str, Any], folds: list[str], metrics: str, **_: Any) -> None:
    """Collect one centre's folds into its CV summary (no training: the folds are their own jobs)."""
    from mmdiag.experiments.cv_summary import summarize_cv

    summarize_cv(list(folds), metrics)
