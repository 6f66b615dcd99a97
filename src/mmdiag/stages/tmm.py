"""TMM-Net rules: `pretrain` (stage 1 per modality), `train_fusion`/`ablation` arms, `cross_validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdiag.experiments.context import Context


def _context(config: dict[str, Any], meta: str) -> Context:
    return Context.open(config, Path(meta).parent)


def pretrain(config: dict[str, Any], meta: str, split: str, ckpt: str, encoder: str, modality: str, **_: Any) -> None:
    """Stage 1 (text-aligned pretraining) of `encoder` on `modality`, on the split's train partition."""
    from mmdiag.experiments.tmm import train_stage1

    out = train_stage1(_context(config, meta), encoder, modality, split, Path(ckpt).parent)
    if Path(ckpt) != out:
        raise RuntimeError(f"stage 1 wrote {out}, the rule expects {ckpt}")


def train_arm(
    config: dict[str, Any],
    meta: str,
    split: str,
    metrics: str,
    encoder: str,
    arm: str,
    external: str | None = None,
    **inputs: Any,
) -> None:
    """One arm on the single-centre split, evaluated in-centre (`test`) and on the other centre (`external`)."""
    from mmdiag.experiments.tmm import train_arm as run

    eval_sets = {"single_centre": (split, "test")}
    if external:
        eval_sets["multi_centre"] = (external, "test")
    stage1 = {k.removeprefix("stage1_"): v for k, v in inputs.items() if k.startswith("stage1_")}
    run(_context(config, meta), arm, encoder, split, eval_sets, Path(metrics).parent, stage1 or None)


def cross_validate(config: dict[str, Any], meta: str, folds: list[str], metrics: str, centre: str, **_: Any) -> None:
    """k-fold CV of `tmmnet.cv.arm` on one centre (Table 4)."""
    from mmdiag.experiments.tmm import cross_validate as run

    tm = config["tmmnet"]
    run(_context(config, meta), tm["cv"]["arm"], tm["encoder"], list(folds), Path(metrics).parent)
