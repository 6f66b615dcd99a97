"""Run specs of the non-TMM studies, expanded from config: the study is data, the runner is generic.

- fusion study (METHODS.md §3): `strategies` (every fusion module, same encoders), `hparams` (one-at-a-time
  sensitivity around the baseline), `heads_objectives` (heads, objectives, and TTA at evaluation);
- `distillation` (§4): teacher with the hybrid paper's recipe, student with ~40% of its parameters;
- `dualbranch` (§2): unimodal pretraining per modality, then fusion from those branches.
Every spec: {name, row, study, model: {name, ...}, loss: {name, kwargs}, epochs, trainer, modalities, tta, augment}.
Modalities may be named by role (`first`, `second`); the DAG hands over a config with roles already resolved
(mmdiag.plan), and code called without it resolves them here from the cache's dataset spec.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from mmdiag.errors import ConfigError
from mmdiag.experiments.context import Context

FUSION_STUDIES = ("strategies", "hparams", "heads_objectives")


def study_modalities(ctx: Context, names: Sequence[str], where: str, exactly: int | None = None) -> list[str]:
    """`names` (dataset names or roles) as the dataset's modality names; roles it lacks are dropped unless
    the study needs `exactly` that many."""
    from mmdiag.plan import resolve_available

    mods, dropped = resolve_available(names, list(ctx.dataset["modalities"]), where)
    if not mods or (exactly is not None and len(mods) != exactly):
        raise ConfigError(f"{where}: {list(names)} leaves {mods} on this dataset ({'; '.join(dropped)})")
    return mods


def study_text(ctx: Context, text: str | None) -> str | None:
    """The report column of `fusion_study.text` on this dataset (`report.second` -> `report.wle`)."""
    from mmdiag.data.facts import facts_from_meta
    from mmdiag.plan import resolve_text

    facts = facts_from_meta(ctx.cache.meta)
    return resolve_text(text, facts.modality_names, facts)[0]


# ------------------------------------------------------------------------------------------ fusion study
def _fusion_model(
    ctx: Context,
    fs: Mapping[str, Any],
    fusion: str,
    head: str,
    hidden: int,
    dropout: float,
    unimodal_heads: bool = False,
) -> dict[str, Any]:
    from mmdiag.models.fusion import fusion_class

    mods = study_modalities(ctx, fs["image_modalities"], "fusion_study.image_modalities")
    text = study_text(ctx, fs.get("text"))
    levels = fusion_class(fusion).needs_levels  # image stages x text layers, paired level by level
    return {
        "name": "image_text",
        **ctx.model_inputs(mods),
        "encoder": ctx.encoder_cfg(fs["encoder"]),
        "text": text,
        "text_encoder": dict(ctx.config["text_encoders"][fs["text_encoder"]]) if text else {},
        **ctx.text_inputs(),
        "fusion": fusion,
        "head": head,
        "hidden": int(hidden),
        "dropout": float(dropout),
        "num_levels": int(fs["hierarchical_levels"]) if levels else 1,
        "unimodal_heads": unimodal_heads,
    }


def _fusion_run(
    ctx: Context,
    fs: Mapping[str, Any],
    study: str,
    name: str,
    row: str,
    *,
    fusion: str | None = None,
    head: str | None = None,
    hidden: int | None = None,
    dropout: float | None = None,
    loss: Mapping[str, Any] | None = None,
    trainer: Mapping[str, Any] | None = None,
    tta: list[str] | None = None,
    unimodal_heads: bool = False,
) -> dict[str, Any]:
    base = fs["base"]
    return {
        "name": name,
        "row": row,
        "study": f"fusion_{study}",
        "model": _fusion_model(
            ctx,
            fs,
            fusion or base["fusion"],
            head or base["head"],
            hidden if hidden is not None else base["hidden"],
            dropout if dropout is not None else base["dropout"],
            unimodal_heads,
        ),
        "loss": dict(loss or {"name": base["loss"]}),
        "epochs": int(fs["epochs"]),
        "trainer": dict(trainer or {}),
        "modalities": study_modalities(ctx, fs["image_modalities"], "fusion_study.image_modalities"),
        "tta": tta,
        "augment": None,
    }


def fusion_runs(ctx: Context, study: str) -> list[dict[str, Any]]:
    """The runs of one fusion-study table."""
    fs = ctx.config["fusion_study"]
    base = fs["base"]
    if study == "strategies":
        return [_fusion_run(ctx, fs, study, f, f, fusion=f) for f in fs["strategies"]]
    if study == "hparams":
        runs = [_fusion_run(ctx, fs, study, "baseline", "baseline")]
        for key, values in fs["hparams"].items():
            for v in values:
                kw: dict[str, Any] = {}
                if key == "lr":
                    kw["trainer"] = {"optimizer": {"lr": float(v)}}
                elif key == "batch_size":
                    kw["trainer"] = {"batch_size": int(v)}
                elif key in ("hidden", "dropout"):
                    kw[key] = v
                else:
                    raise KeyError(f"fusion_study.hparams: unknown '{key}' (lr|batch_size|hidden|dropout)")
                runs.append(_fusion_run(ctx, fs, study, f"{key}_{v}", f"{key}={v}", **kw))
        return runs
    if study == "heads_objectives":
        runs = [_fusion_run(ctx, fs, study, f"head_{h}", f"head: {h}", head=h) for h in fs["heads"]]
        for name, obj in fs["objectives"].items():
            loss = {"name": obj.get("loss", base["loss"]), "kwargs": dict(obj.get("kwargs") or {})}
            trainer = {"sampler": obj["sampler"]} if obj.get("sampler") else {}
            runs.append(
                _fusion_run(
                    ctx,
                    fs,
                    study,
                    f"objective_{name}",
                    f"objective: {name}",
                    loss=loss,
                    trainer=trainer,
                    unimodal_heads=loss["name"] == "modality_disagreement",
                )
            )
        if fs.get("tta"):
            runs.append(_fusion_run(ctx, fs, study, "tta", "TTA: " + " + ".join(fs["tta"]), tta=list(fs["tta"])))
        return runs
    raise KeyError(f"unknown fusion study '{study}' ({', '.join(FUSION_STUDIES)})")


# ------------------------------------------------------------------------------------------ distillation
def distillation_runs(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """(teacher, student) specs; the student is the teacher narrowed to ~`target_ratio` of its parameters."""
    from mmdiag.models.student import make_student

    ds = ctx.config["distillation"]
    mods = study_modalities(ctx, ds["modalities"], "distillation.modalities")
    teacher_model = {
        "name": "image_text",
        **ctx.model_inputs(mods),
        "encoder": ctx.encoder_cfg(ds["teacher_encoder"]),
        "fusion": "concat",
        "head": "mlp",
        "hidden": int(ds["hidden"]),
        "dropout": 0.1,
    }
    student_model = make_student(teacher_model, target_ratio=float(ds["target_ratio"]))
    common = {
        "study": "distillation",
        "epochs": int(ds["epochs"]),
        "modalities": mods,
        "trainer": dict(ds["recipe"].get("trainer") or {}),
        "augment": ds["recipe"].get("augment"),
        "tta": None,
    }
    teacher = {**common, "name": "teacher", "row": "teacher", "model": teacher_model, "loss": {"name": "ce"}}
    student = {
        **common,
        "name": "student",
        "row": "student (KD)",
        "model": student_model,
        "loss": {"name": "distillation", "kwargs": dict(ds["kd"])},
    }
    return teacher, student


# ------------------------------------------------------------------------------------------ dual-branch
def dualbranch_run(ctx: Context, stage: str) -> dict[str, Any]:
    """`unimodal_<modality>` or `fusion` run of the dual-branch ResNet (paper: 50 + 40 epochs)."""
    db = ctx.config["dualbranch"]
    if stage == "fusion":
        mods = study_modalities(ctx, db["modalities"], "dualbranch.modalities", exactly=2)
    else:
        mods = study_modalities(ctx, [stage.removeprefix("unimodal_")], "dualbranch stage")
    model = {"name": f"dualbranch_{db['arch']}", **ctx.model_inputs(mods), "width": float(db["width"])}
    epochs = db["epochs"]["fusion" if stage == "fusion" else "unimodal"]
    return {
        "name": stage,
        "row": "+".join(m.upper() for m in mods),
        "study": "dualbranch",
        "model": model,
        "loss": copy.deepcopy(db["loss"]),
        "epochs": int(epochs),
        "trainer": copy.deepcopy(db["trainer"]),
        "modalities": mods,
        "augment": db.get("augment"),
        "tta": None,
        "select": db["trainer"].get("select"),
    }
