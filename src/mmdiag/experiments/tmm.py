"""TMM-Net experiments: stage-1 pretraining, the arms of Tables 1-3, and the 5-fold CV of Table 4.

Schedule (the paper's Fig. 2: stages trained in order, then end to end), epochs per phase in
`tmmnet.schedule`:
1. `stage1` — CLIP matching of image and report embeddings, one job per modality (the `pretrain`
   rule); its checkpoint initialises the image encoder, text encoder and projections of every arm
   that uses stage 1 (with that encoder). The epoch kept is the one whose image -> report retrieval on
   the validation cases is best (`val_clip_top1`; chance = 1 / cases), i.e. what the stage is for;
2. `stage2` — prototype matching + attribute classification (arms with stage 2; CLIP stays on unless
   `tmmnet.stage2_clip: false`), or attribute classification alone (the `attributes` arm, no text);
   the last epoch is kept (`tmmnet.select.stage2`): the validation curve of the mean balanced attribute
   accuracy over the annotated validation cases is recorded, but with sparse annotation it rests on a
   handful of cases, too few to pick an epoch;
3. `stage3` — cross-modal attention fusion and classifier trained on the frozen guided features
   (arms with attention);
4. `classify` — end to end: classification plus every guidance term of the arm, best epoch chosen
   on the validation partition by `trainer.select` (image-only prediction).
Every phase builds a fresh optimiser at `trainer.optimizer.lr` x `tmmnet.lr_scale.<phase>` (with the
trainer's warm-up, when configured), so a phase that fine-tunes what an earlier one learned need not
restart at the full learning rate (every arm's classify phase gets the same factor).
When stage 3 ran, the end-to-end phase must beat stage 3's validation score, else stage 3's weights are
kept (`kept_phase` in run.json). Arms without text run only `classify`, for the same number of
epochs: every arm gets the same classification budget, so differences come from guidance, not from
longer training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from mmdiag.config import deep_merge
from mmdiag.data.batches import SampleSet
from mmdiag.engine import distributed
from mmdiag.engine.checkpoint import checkpoint_identity, load_checkpoint, save_checkpoint
from mmdiag.engine.device import device_description, pick_device
from mmdiag.engine.seed import seed_everything
from mmdiag.engine.trainer import declare_keys, fit
from mmdiag.experiments.context import Context
from mmdiag.experiments.provenance import now
from mmdiag.experiments.runs import drop_checkpoints, evaluate_sets, finish_run
from mmdiag.experiments.supervised import build_objective, classification_evaluator, fit_spec
from mmdiag.io import atomic_path
from mmdiag.models.tmmnet import TMMNet, tmmnet
from mmdiag.plan import resolve_modalities
from mmdiag.registry import LOSSES
from mmdiag.run_folder import CHECKPOINTS, CV_EVAL_SET_INPUTS, HISTORY, STAGE1, eval_sets

log = logging.getLogger(__name__)
GUIDANCE_TERMS = {"stage1": {"clip"}, "stage2": {"proto", "attr"}, "attributes": {"attr"}}
ARM_SWITCHES = ("stage1", "stage2", "attention", "attributes")


# ------------------------------------------------------------------------------------------ building
def arm_spec(ctx: Context, arm: str) -> dict[str, Any]:
    arms = ctx.config["tmmnet"]["arms"]
    if arm not in arms:
        raise KeyError(f"tmmnet.arms: no arm '{arm}' (arms: {', '.join(arms)})")
    spec = {**dict.fromkeys(ARM_SWITCHES, False), **arms[arm]}
    # Roles (`first`, `second`) -> this dataset's modality names; names already resolved stay as they are.
    spec["modalities"] = resolve_modalities(spec["modalities"], list(ctx.dataset["modalities"]), f"tmmnet.arms.{arm}")
    if spec["stage2"]:
        spec["attributes"] = True  # stage 2 trains the attribute heads (from labels and text)
    return spec


def model_config(
    ctx: Context,
    encoder: str,
    modalities: Sequence[str],
    stage1: bool,
    stage2: bool,
    attention: bool,
    attributes: bool = False,
) -> dict[str, Any]:
    """The `tmmnet` registry kwargs for one arm with one encoder recipe."""
    tm = ctx.config["tmmnet"]
    text_name = tm["text_encoder"]
    return {
        **ctx.model_inputs(modalities),
        "attribute_sizes": {m: s for m, s in ctx.attribute_sizes().items() if m in modalities},
        "encoder": ctx.encoder_cfg(encoder),
        "text_encoder": dict(ctx.config["text_encoders"][text_name]),
        **ctx.text_inputs(),
        "stage1": stage1,
        "stage2": stage2,
        "attention": attention,
        "attributes": attributes and not stage2,
        "missing_token": ctx.config["data"]["missing_modality"] == "token",
        "image_size": int(ctx.cache.meta["size"]),
        "encoder_label": f"{encoder} ({ctx.encoder_label(encoder)})",
        "embed_dim": int(tm["embed_dim"]),
        "proto_dim": int(tm["proto_dim"]),
        "attn_dim": int(tm["attn_dim"]),
        "attn_heads": int(tm["attn_heads"]),
        "fusion": tm["fusion"],
        "head": tm["head"],
        "dropout": float(tm["dropout"]),
        "text_sections": ctx.text_sections(modalities),
    }


# ------------------------------------------------------------------------------------------ evaluation
def _val_outputs(model: TMMNet, val: SampleSet, batch_size: int, active: set[str]):
    """Forward passes over the validation partition with `active` objectives (eval mode, no grad)."""
    from mmdiag.engine.device import to_device

    device = next(model.parameters()).device
    was, before = model.training, set(model.active)
    model.eval()
    model.set_active(active)
    try:
        with torch.no_grad():
            for batch in val.batches(batch_size, shuffle=False):
                batch = to_device(batch, device)
                yield batch, model(batch)
    finally:
        model.set_active(before)
        model.train(was)


def alignment_evaluator(model: TMMNet, val: SampleSet, batch_size: int):
    """Stage 1's purpose, measured: image -> report retrieval over ALL validation cases (not per batch).

    `val_clip_top1`: share of validation images whose most similar report (among every validation case's
    report) is their own case's; chance is 1 / cases (`val_clip_chance`). `val_loss` is the CLIP loss of
    the whole validation matrix (multi-positive), chance level ln(cases).
    """
    from mmdiag.losses.contrastive import clip_loss

    def evaluate(m: nn.Module) -> dict[str, float]:
        img: dict[str, list[torch.Tensor]] = {}
        txt: dict[str, dict[int, torch.Tensor]] = {}
        cases: list[torch.Tensor] = []
        for batch, out in _val_outputs(model, val, batch_size, {"clip"}):
            cases.append(batch["case"].cpu())
            for mod, (i_emb, t_emb) in out["clip"].items():
                img.setdefault(mod, []).append(i_emb.float().cpu())
                for c, t in zip(out["text_case"].cpu().tolist(), t_emb.float().cpu()):
                    txt.setdefault(mod, {})[c] = t
        case = torch.cat(cases)
        uniq = torch.unique(case)
        top1, losses = [], []
        for mod, parts in img.items():
            i_all = torch.cat(parts)
            t_all = torch.stack([txt[mod][int(c)] for c in uniq])
            sims = i_all @ t_all.t()
            top1.append(float((uniq[sims.argmax(1)] == case).float().mean()))
            scale = float(model.logit_scale.detach().exp().clamp(max=100.0))
            losses.append(float(clip_loss(i_all, t_all, case, scale, uniq)))
        return {
            "val_loss": sum(losses),
            "val_clip_top1": sum(top1) / max(len(top1), 1),
            "val_clip_chance": 1.0 / max(len(uniq), 1),
        }

    return declare_keys(evaluate, ("val_loss", "val_clip_top1", "val_clip_chance"))


def attribute_evaluator(model: TMMNet, val: SampleSet, batch_size: int, active: set[str]):
    """Stage 2's purpose, measured: mean balanced accuracy of the attribute classifiers on the annotated
    validation cases (`val_attr_bacc`; NaN when no validation case is annotated), plus the guidance terms."""
    from mmdiag.losses import LOSSES

    loss_fn = LOSSES.create("guided")

    def evaluate(m: nn.Module) -> dict[str, float]:
        preds: dict[tuple[str, int], list[torch.Tensor]] = {}
        truth: dict[tuple[str, int], list[torch.Tensor]] = {}
        sums: dict[str, float] = {}
        n = 0
        for batch, out in _val_outputs(model, val, batch_size, active):
            b = int(batch["label"].shape[0])
            n += b
            for k, v in loss_fn(out, batch).items():
                sums[f"val_{k}"] = sums.get(f"val_{k}", 0.0) + float(v) * b
            present = batch.get("present") or {}
            for mod, logits in out.get("attr_logits", {}).items():
                targets = batch["attrs"][mod].cpu()
                if mod in present:
                    targets = targets.masked_fill(~present[mod].cpu().bool()[:, None], -1)
                for k, lg in enumerate(logits):
                    preds.setdefault((mod, k), []).append(lg.argmax(1).cpu())
                    truth.setdefault((mod, k), []).append(targets[:, k])
        out_metrics = {k: v / max(n, 1) for k, v in sums.items()}
        baccs = []
        for key, parts in preds.items():
            y, p = torch.cat(truth[key]), torch.cat(parts)
            keep = y != -1
            if keep.any():
                y, p = y[keep], p[keep]
                baccs.append(float(torch.stack([(p[y == c] == c).float().mean() for c in torch.unique(y)]).mean()))
        out_metrics["val_attr_bacc"] = sum(baccs) / len(baccs) if baccs else float("nan")
        out_metrics["val_loss"] = sum(v for k, v in out_metrics.items() if k.endswith("_loss"))
        return out_metrics

    keys = {"val_loss", "val_attr_bacc", *(f"val_{t}_loss" for t in active - {"cls"})}
    return declare_keys(evaluate, keys)


# ------------------------------------------------------------------------------------------ stage 1
STAGE1_PREFIXES = ("image.", "text.", "img_proj.", "txt_proj.")


def stage1_state(model: TMMNet, modality: str) -> dict[str, torch.Tensor]:
    keep = tuple(f"{p}{modality}." for p in STAGE1_PREFIXES)
    return {k: v for k, v in model.state_dict().items() if k.startswith(keep) or k == "logit_scale"}


GUIDANCE_PHASES = ("stage1", "stage2")  # run their full length: no early stopping on what they do not select by


def phase_spec(ctx: Context, phase: str, epochs: int, select: str):
    """Trainer settings of one phase: `trainer`, with the learning rate scaled by `tmmnet.lr_scale.<phase>`.

    Every arm's classify phase gets the same scale, whether it fine-tunes guided weights or starts from
    scratch: the same classification budget for every arm. Early stopping (`trainer.early_stopping`) applies
    to the phases that classify (stage 3, classify), not to the guidance phases.
    """
    scale = float(ctx.config["tmmnet"]["lr_scale"][phase])
    lr = float(ctx.config["trainer"]["optimizer"]["lr"]) * scale
    overrides: dict[str, Any] = {"optimizer": {"lr": lr}}
    if phase in GUIDANCE_PHASES:
        overrides["early_stopping"] = {"patience": None}
    return fit_spec(ctx, epochs, select, overrides)


def phase_select(ctx: Context, phase: str) -> str:
    """The validation key that picks a guidance phase's checkpoint (`tmmnet.select.<phase>`)."""
    return str(ctx.config["tmmnet"]["select"][phase])


def train_stage1(ctx: Context, encoder: str, modality: str, split_path: str | Path, out_dir: str | Path) -> Path:
    """Stage 1 for one modality: CLIP matching of images and their reports; returns the checkpoint path.

    The checkpoint kept is the epoch with the best validation retrieval (see `alignment_evaluator`); the
    per-epoch curve is written beside it (`history.csv`).
    """
    out_dir = Path(out_dir)
    seed_everything(int(ctx.config["seed"]))
    cfg = model_config(ctx, encoder, [modality], stage1=True, stage2=False, attention=False)
    model = tmmnet(**cfg)
    model.set_active({"clip"})
    train = ctx.samples(split_path, "train", [modality])
    val = ctx.samples(split_path, "val", [modality])
    loss_fn = LOSSES.create("guided", weights=ctx.config["tmmnet"].get("loss_weights"))
    spec = phase_spec(ctx, "stage1", ctx.config["tmmnet"]["schedule"]["stage1"], phase_select(ctx, "stage1"))
    evaluate = alignment_evaluator(model, val, spec.batch_size)
    result = fit(
        model,
        loss_fn,
        train,
        spec,
        out_dir / CHECKPOINTS,
        evaluate=evaluate,
        augment=ctx.augment(),
        device=pick_device(ctx.config["trainer"]["device"]),
        fingerprint=ctx.fingerprint("stage1", cfg, spec.__dict__, str(split_path)),
        desc=f"stage1 {encoder}/{modality}",
    )
    path = out_dir / STAGE1
    if distributed.is_main():  # under torchrun only rank 0 writes; the others wait until the file is there
        with atomic_path(out_dir / HISTORY) as tmp:
            pd.DataFrame(result.history).to_csv(tmp, index=False)
        save_checkpoint(
            path, {"state": stage1_state(model.cpu(), modality), "model_config": cfg, "best_epoch": result.best_epoch}
        )
        drop_checkpoints(out_dir)
    distributed.barrier()
    return path


def load_stage1(model: TMMNet, checkpoints: Mapping[str, str | Path]) -> None:
    """Initialise each modality's stage-1 parts from its pretraining checkpoint (logit scale averaged)."""
    state = model.state_dict()
    scales = []
    for modality, path in checkpoints.items():
        saved = load_checkpoint(path)["state"]
        for k, v in saved.items():
            if k == "logit_scale":
                scales.append(v)
            elif k in state and state[k].shape == v.shape:
                state[k] = v
            else:
                raise ValueError(f"{path}: parameter {k} does not fit this model (modality {modality})")
    if scales:
        state["logit_scale"] = torch.stack(scales).mean()
    model.load_state_dict(state)


# ------------------------------------------------------------------------------------------ arms
def train_arm(
    ctx: Context,
    arm: str,
    encoder: str,
    split_path: str | Path,
    eval_sets: Mapping[str, tuple[str | Path, str]],
    run_dir: str | Path,
    stage1_checkpoints: Mapping[str, str | Path] | None = None,
) -> dict[str, Any]:
    """Train one arm on `split_path` (train/val) and evaluate it on every `eval_sets` partition.

    Writes into `run_dir`: `ckpt/<phase>/` (resumable), `model.pt`, `history.csv`,
    `predictions_<set>.csv` (class and attribute probabilities per test image), `metrics.json`, `run.json`.
    """
    run_dir = Path(run_dir)
    started, t0 = now(), time.perf_counter()
    spec_arm = arm_spec(ctx, arm)
    mods = spec_arm["modalities"]
    seed = int(ctx.config["seed"])
    seed_everything(seed)
    switches = {k: spec_arm[k] for k in ARM_SWITCHES}
    cfg = model_config(ctx, encoder, mods, **switches)
    model = tmmnet(**cfg)
    device = pick_device(ctx.config["trainer"]["device"])
    train = ctx.samples(split_path, "train", mods)
    val = ctx.samples(split_path, "val", mods)
    tm = ctx.config["tmmnet"]
    cls_loss = build_objective(tm["classification_loss"], tm["classification_loss_kwargs"], train, len(ctx.labels))
    loss_fn = LOSSES.create("guided", classification=cls_loss, weights=tm.get("loss_weights"))
    schedule = tm["schedule"]
    augment = ctx.augment()
    recipe = {k: tm.get(k) for k in ("lr_scale", "select", "stage2_clip")}
    base_fp = [arm, encoder, cfg, str(split_path), ctx.config["trainer"], tm.get("loss_weights"), recipe]

    if spec_arm["stage1"]:
        if stage1_checkpoints:
            load_stage1(model, stage1_checkpoints)
            base_fp.append(sorted((m, checkpoint_identity(p)) for m, p in stage1_checkpoints.items()))
        else:  # no pretraining job upstream (cross-validation): run stage 1 here, per modality
            ckpts = {m: train_stage1(ctx, encoder, m, split_path, run_dir / "stage1" / m) for m in mods}
            load_stage1(model, ckpts)
    history: list[dict[str, Any]] = []
    guidance = set().union(*(GUIDANCE_TERMS[s] for s in ("stage1", "stage2", "attributes") if spec_arm[s]))

    def run_phase(phase: str, active: set[str], epochs: int, select: str, evaluate, params=None):
        if epochs <= 0:
            return None
        model.set_active(active)
        spec = phase_spec(ctx, phase, epochs, select)
        result = fit(
            model,
            loss_fn,
            train,
            spec,
            run_dir / CHECKPOINTS / phase,
            evaluate=evaluate,
            params=params,
            augment=augment,
            device=device,
            fingerprint=ctx.fingerprint(phase, *base_fp),
            desc=f"{arm}/{encoder} {phase}",
        )
        history.extend({"phase": phase, **h} for h in result.history)
        return result

    batch_size = int(ctx.config["trainer"]["batch_size"])
    if spec_arm["attributes"]:  # stage 2: attribute prototypes (with the text's, and CLIP, when the arm has text)
        active = {"attr"} | ({"proto"} if spec_arm["stage2"] else set())
        if spec_arm["stage1"] and tm["stage2_clip"]:
            active.add("clip")
        run_phase(
            "stage2",
            active,
            schedule["stage2"],
            phase_select(ctx, "stage2"),
            attribute_evaluator(model, val, batch_size, active),
        )
    cls_eval = classification_evaluator(ctx, val, batch_size)
    select = ctx.config["trainer"]["select"]
    before = None  # (validation score, weights) of stage 3, the candidate the end-to-end phase must beat
    kept = "classify"  # the phase whose weights the run ends with
    if spec_arm["attention"]:
        trainable = [p for mod in model.phase_modules("stage3") for p in mod.parameters()]
        frozen = [p for p in model.parameters() if all(p is not q for q in trainable)]
        for p in frozen:
            p.requires_grad_(False)
        stage3 = run_phase("stage3", {"cls"}, schedule["stage3"], select, cls_eval, params=trainable)
        for p in frozen:
            p.requires_grad_(True)
        if stage3 is not None:  # stage 3 already classifies: the end-to-end phase must beat it on validation
            before = (stage3.best_score, {k: v.detach().clone() for k, v in model.state_dict().items()})
    classify = run_phase("classify", {"cls"} | guidance, schedule["classify"], select, cls_eval)
    if before is not None and classify is not None and not _improves(classify.best_score, before[0], select):
        log.info(
            "%s/%s: no end-to-end epoch beats stage 3 on %s (%.4f vs %.4f): keeping stage 3's weights",
            arm,
            encoder,
            select,
            classify.best_score,
            before[0],
        )
        model.load_state_dict(before[1])
        kept = "stage3"

    if not distributed.is_main():  # under torchrun only rank 0 evaluates and writes
        return {}
    model.to(device)
    results = evaluate_sets(ctx, model, mods, eval_sets, run_dir)
    return finish_run(
        ctx,
        run_dir,
        model,
        cfg,
        history,
        results,
        base_fp,
        device_description(device),
        started,
        t0,
        {
            "study": "tmmnet",
            "arm": arm,
            "encoder": encoder,
            "encoder_label": ctx.encoder_label(encoder),
            "arm_spec": spec_arm,
            "kept_phase": kept,
            "split": str(split_path),
            "stage1_checkpoints": {m: str(p) for m, p in (stage1_checkpoints or {}).items()},
        },
    )


def _improves(score: float | None, reference: float | None, select: str) -> bool:
    """Whether `score` is better than `reference` on the validation key `select` (minimised if a loss)."""
    if score is None or score != score:
        return False
    if reference is None or reference != reference:
        return True
    return score < reference if "loss" in select else score > reference


# ------------------------------------------------------------------------------------------ CV
def cv_fold(ctx: Context, arm: str, encoder: str, split_path: str | Path, run_dir: str | Path) -> dict[str, Any]:
    """One fold of the k-fold CV (Table 4): the arm trained from scratch (stage 1 included) on the fold's split."""
    schedule = ctx.config["tmmnet"]["cv"].get("schedule")
    if schedule:  # a lighter schedule for the k x centres CV runs (CPU scale); the paper preset leaves it unset
        ctx = Context(deep_merge(ctx.config, {"tmmnet": {"schedule": schedule}}), ctx.cache)
    return train_arm(ctx, arm, encoder, split_path, eval_sets({"split": split_path}, CV_EVAL_SET_INPUTS), run_dir)
