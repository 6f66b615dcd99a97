"""The configuration schema (JSON Schema 2020-12), built from the library's own fragments.

One source of truth: `config/schema/config.schema.yaml`, which Snakemake validates in
`rules/common.smk`, is generated from this module (`mmdiag write-schema`), and a test fails when the
committed file drifts. Every key has a type, a description and a default.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import yaml

SCHEMA_ID = "https://mmdiag.example/config.schema.yaml"


def prop(type_: str | list[str], default: Any, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "default": default, "description": description, **extra}


def obj(
    properties: Mapping[str, Any],
    description: str,
    required: list[str] | None = None,
    additional: bool | dict = False,
    default: Any = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": dict(properties),
        "additionalProperties": additional,
    }
    out["default"] = {} if default is None else default
    if required:
        out["required"] = required
    return out


STR_LIST = {"type": "array", "items": {"type": "string"}}
MAX_IMAGE_SIZE = 1024  # preprocess.size cap (reason in the schema's x-cap-reason)
STUDIES = ("tmmnet", "fusion_study", "distillation", "dualbranch")
PRETRAINED = {"type": "string", "enum": ["required", "preferred", "off"]}


def _sources() -> dict[str, Any]:
    from mmdiag.data.sources import list_sources, source_schema

    return {name: source_schema(name) for name in list_sources()}


def _encoder_entry() -> dict[str, Any]:
    return obj(
        {
            "type": prop("string", "timm", "encoder family in the ENCODERS registry"),
            "label": prop("string", "", "name printed in tables"),
            "description": prop("string", "", "free text"),
            "model_name": prop("string", "vit_tiny_patch16_224", "timm model name (any timm model)"),
            "model_kwargs": obj(
                {}, "extra timm.create_model kwargs; img_size: auto = preprocess.size", additional=True
            ),
            "width": prop(
                ["number", "null"],
                None,
                "channel-width factor for CPU-scale CNNs (resnet*, vgg*, densenet*)",
                exclusiveMinimum=0,
            ),
            "pretrained": {
                **PRETRAINED,
                "default": "off",
                "description": "required: stop if weights cannot be loaded; preferred: fall back to "
                "random init and record it; off: random init",
            },
            "pretrained_file": prop(["string", "null"], None, "local weights file (instead of the hub cache)"),
        },
        "one image encoder recipe",
        required=["model_name"],
    )


def _text_entry() -> dict[str, Any]:
    return obj(
        {
            "type": prop("string", "char_transformer", "char_transformer | char_cnn | hf (transformers.AutoModel)"),
            "description": prop("string", "", "free text"),
            "dim": prop("integer", 128, "width (char_transformer)", minimum=8),
            "depth": prop("integer", 2, "layers (char_transformer)", minimum=1),
            "heads": prop("integer", 4, "attention heads (char_transformer)", minimum=1),
            "mlp_ratio": prop("number", 2.0, "feed-forward width / dim", exclusiveMinimum=0),
            "dropout": prop("number", 0.1, "dropout", minimum=0, maximum=1),
            "downsample": prop(
                "integer",
                1,
                "merge every k characters into one token with a strided conv before the Transformer "
                "(char_transformer; 1 = the paper's plain character tokens)",
                minimum=1,
            ),
            "width": prop("integer", 64, "filters per kernel size (char_cnn)", minimum=1),
            "kernels": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1},
                "minItems": 1,
                "default": [3, 5, 7],
                "description": "convolution widths in characters (char_cnn)",
            },
            "model_name": prop(["string", "null"], None, "Hugging Face model id or local path (type hf)"),
            "pretrained": {**PRETRAINED, "default": "preferred", "description": "as for image encoders (type hf)"},
            "max_tokens": prop("integer", 128, "tokenizer truncation length (type hf)", minimum=8),
        },
        "one text encoder recipe",
    )


def _arm_entry() -> dict[str, Any]:
    return obj(
        {
            "modalities": {
                **STR_LIST,
                "minItems": 1,
                "maxItems": 2,
                "default": ["first", "second"],
                "description": "image modalities of the arm: dataset modality names or the roles first, second "
                "(the dataset's modalities in dataset.yaml order; an arm whose role the dataset lacks is left out)",
            },
            "stage1": prop("boolean", False, "feature-level text guidance (CLIP matching)"),
            "stage2": prop("boolean", False, "prototype-level text guidance (needs stage1)"),
            "attention": prop("boolean", False, "stage 3 cross-modal attention (else direct fusion)"),
            "attributes": prop(
                "boolean",
                False,
                "attribute prototypes + classifiers trained from attribute labels alone, no text (stage2 implies it)",
            ),
        },
        "one TMM-Net arm",
        required=["modalities"],
    )


def _trainer() -> dict[str, Any]:
    return obj(
        {
            "batch_size": prop("integer", 32, "samples per step", minimum=1),
            "optimizer": obj(
                {
                    "name": prop("string", "sgd", "sgd | adam | adamw", enum=["sgd", "adam", "adamw"]),
                    "lr": prop("number", 0.001, "learning rate", exclusiveMinimum=0),
                    "momentum": prop("number", 0.9, "SGD momentum", minimum=0, maximum=1),
                    "weight_decay": prop("number", 0.0, "weight decay", minimum=0),
                },
                "optimiser",
            ),
            "scheduler": obj(
                {
                    "name": prop(
                        "string",
                        "none",
                        "none | step | multistep | cosine | plateau",
                        enum=["none", "step", "multistep", "cosine", "plateau"],
                    ),
                    "milestones": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "default": [10],
                        "description": "multistep: epochs after which the LR is multiplied by gamma",
                    },
                    "step_size": prop("integer", 10, "step: epochs between LR drops", minimum=1),
                    "gamma": prop("number", 0.1, "step: LR factor", exclusiveMinimum=0),
                    "factor": prop("number", 0.1, "plateau: LR factor", exclusiveMinimum=0),
                    "patience": prop("integer", 5, "plateau: epochs without improvement", minimum=0),
                    "warmup_epochs": prop(
                        "integer",
                        0,
                        "linear LR warm-up over the first N epochs of every training phase, per optimiser step, "
                        "on top of the schedule (whose epochs still count from the phase start); 0 = off",
                        minimum=0,
                    ),
                    "warmup_start_factor": prop(
                        "number",
                        0.1,
                        "warm-up: LR factor of the first step (rises linearly to 1)",
                        exclusiveMinimum=0,
                        maximum=1,
                    ),
                },
                "epoch-level LR schedule",
            ),
            "early_stopping": obj(
                {
                    "patience": prop(
                        ["integer", "null"],
                        None,
                        "stop a phase when `select` has not improved by more than min_delta for this many epochs "
                        "(null = never); the best epoch is kept and the history records the stop",
                        minimum=1,
                    ),
                    "min_delta": prop(
                        "number", 0.0, "smallest change of `select` that counts as improvement", minimum=0
                    ),
                },
                "early stopping on the selection key",
            ),
            "select": prop(
                "string",
                "val_loss",
                "validation key for best-epoch selection (minimised if it "
                "contains 'loss', else maximised), e.g. val_loss, val_Acc, val_AUC; a key the evaluator does not "
                "emit stops the job before training",
            ),
            "amp": prop("string", "off", "mixed precision", enum=["off", "bf16", "fp16"]),
            "grad_clip": prop(["number", "null"], None, "max gradient norm (null = off)", exclusiveMinimum=0),
            "accumulate": prop("integer", 1, "gradient accumulation steps", minimum=1),
            "sampler": prop("string", "uniform", "uniform | class_balanced", enum=["uniform", "class_balanced"]),
            "drop_last": prop("boolean", False, "drop the last incomplete batch"),
            "checkpoint_every_s": prop(
                "number",
                60,
                "write the resume checkpoint (last.pt) at most this often, in seconds; 0 = after every epoch. "
                "A killed job loses at most this much training and resumes to the same result",
                minimum=0,
            ),
            "device": prop(
                "string",
                "auto",
                "auto (CUDA when present) | cpu | cuda | cuda:<index> | mps; checked at config load "
                "(cuda needs a visible GPU)",
            ),
        },
        "the training engine",
    )


def _tmmnet() -> dict[str, Any]:
    def table(description: str) -> dict[str, Any]:
        return obj(
            {
                "backbones": {**STR_LIST, "default": [], "description": "encoder recipes (keys of encoders)"},
                "arms": {**STR_LIST, "default": [], "description": "arms (keys of tmmnet.arms)"},
            },
            description,
        )

    return obj(
        {
            "encoder": prop("string", "vit_cpu", "image encoder recipe of TMM-Net (key of encoders)"),
            "text_encoder": prop("string", "char", "text encoder recipe (key of text_encoders)"),
            "embed_dim": prop("integer", 128, "CLIP embedding width", minimum=8),
            "proto_dim": prop("integer", 32, "width of one attribute prototype", minimum=4),
            "attn_dim": prop("integer", 128, "cross-modal attention width d_k = d_v", minimum=8),
            "attn_heads": prop("integer", 1, "cross-modal attention heads (paper: 1)", minimum=1),
            "fusion": prop("string", "concat", "fusion module for direct fusion (FUSIONS registry)"),
            "head": prop("string", "linear", "classifier head (HEADS registry)"),
            "dropout": prop("number", 0.0, "dropout in fusion and head", minimum=0, maximum=1),
            "classification_loss": prop("string", "ce", "classification objective (LOSSES registry)"),
            "classification_loss_kwargs": obj({}, "its kwargs", additional=True),
            "loss_weights": obj(
                {
                    k: prop("number", 1.0, f"weight of the {k} term", minimum=0)
                    for k in ("cls", "clip", "proto", "attr")
                },
                "weights of the objective's terms",
            ),
            "schedule": obj(
                {
                    "stage1": prop("integer", 6, "epochs of stage-1 pretraining (per modality)", minimum=0),
                    "stage2": prop("integer", 3, "epochs of stage-2 prototype training", minimum=0),
                    "stage3": prop("integer", 2, "epochs of stage-3 fusion training on frozen features", minimum=0),
                    "classify": prop("integer", 8, "epochs of end-to-end classification (every arm)", minimum=1),
                },
                "epochs per training phase",
            ),
            "lr_scale": obj(
                {
                    k: prop("number", 1.0, f"{k}: trainer.optimizer.lr is multiplied by this", exclusiveMinimum=0)
                    for k in ("stage1", "stage2", "stage3", "classify")
                },
                "learning-rate factor per phase (each phase starts a fresh optimiser: a phase that fine-tunes "
                "what an earlier one learned need not restart at the full rate)",
            ),
            "select": obj(
                {
                    "stage1": prop(
                        "string", "val_clip_top1", "stage-1 checkpoint: validation image->report retrieval accuracy"
                    ),
                    "stage2": prop(
                        "string",
                        "last",
                        "stage-2 checkpoint: last (default: with sparse annotation only a handful of validation "
                        "cases carry attribute labels, too few to pick an epoch) or val_attr_bacc (validation "
                        "balanced attribute accuracy)",
                    ),
                },
                "validation key that picks the checkpoint of each guidance phase (what the phase is for)",
            ),
            "stage2_clip": prop("boolean", True, "keep the stage-1 CLIP term during stage 2 (arms with text)"),
            "arms": {
                "type": "object",
                "description": "arm name -> switches (Table 3 in the paper's order)",
                "additionalProperties": _arm_entry(),
                "default": {},
            },
            "seeds": {
                "type": ["array", "null"],
                "items": {"type": "integer", "minimum": 0},
                "minItems": 1,
                "default": None,
                "description": "seeds of the Table 1-3 runs (null: [seed]); Table 3 shows mean ± sd over them, "
                "Tables 1-2 and the CV use the first",
            },
            "comparison": table("Table 1: backbones x arms without text"),
            "text_guidance": table("Table 2: backbones x guidance levels"),
            "cv": obj(
                {
                    "arm": prop("string", "tmmnet", "arm cross-validated in Table 4"),
                    "schedule": {
                        "type": ["object", "null"],
                        "default": None,
                        "description": "epochs per phase for the CV runs (null: tmmnet.schedule)",
                        "properties": {
                            k: {"type": "integer", "minimum": 0} for k in ("stage1", "stage2", "stage3", "classify")
                        },
                        "additionalProperties": False,
                    },
                },
                "Table 4",
            ),
        },
        "the TMM-Net study (Tables 1-4)",
    )


def _run_overrides(description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "default": {}, "additionalProperties": True}


def _fusion_study() -> dict[str, Any]:
    return obj(
        {
            "image_modalities": {**STR_LIST, "default": ["first"], "description": "image inputs (names or roles)"},
            "text": prop(["string", "null"], "report", "report column used as text input (null: images only)"),
            "encoder": prop("string", "resnet18_cpu", "image encoder recipe (key of encoders)"),
            "text_encoder": prop("string", "char3", "text encoder recipe (key of text_encoders)"),
            "epochs": prop("integer", 6, "epochs per run", minimum=1),
            "hierarchical_levels": prop(
                "integer", 3, "image stages x text layers paired by hierarchical fusion", minimum=2
            ),
            "base": obj(
                {
                    "fusion": prop("string", "concat", "FUSIONS name"),
                    "head": prop("string", "mlp", "HEADS name"),
                    "loss": prop("string", "ce", "LOSSES name"),
                    "hidden": prop("integer", 128, "fusion/head width", minimum=4),
                    "dropout": prop("number", 0.1, "dropout", minimum=0, maximum=1),
                },
                "the baseline every row varies",
            ),
            "strategies": {**STR_LIST, "default": [], "description": "fusion modules of fusion_t3_strategies"},
            "hparams": {
                "type": "object",
                "default": {},
                "description": "hyper-parameter -> values (lr, batch_size, "
                "hidden, dropout), varied one at a time around the baseline (fusion_t1_hparams)",
                "additionalProperties": {"type": "array"},
            },
            "heads": {**STR_LIST, "default": [], "description": "heads of fusion_t4_heads_objectives"},
            "objectives": {
                "type": "object",
                "default": {},
                "description": "name -> {loss, kwargs, sampler}",
                "additionalProperties": obj(
                    {
                        "loss": prop("string", "ce", "LOSSES name"),
                        "kwargs": obj({}, "loss kwargs", additional=True),
                        "sampler": prop(["string", "null"], None, "uniform | class_balanced"),
                    },
                    "one objective row",
                ),
            },
            "tta": {
                **STR_LIST,
                "default": [],
                "description": "test-time views (identity, hflip, vflip, rot90, center_crop); empty: no TTA row",
            },
        },
        "the image + report fusion study (fusion_t1/t3/t4 tables)",
    )


def _distillation() -> dict[str, Any]:
    return obj(
        {
            "modalities": {**STR_LIST, "default": ["first", "second"], "description": "image inputs (names or roles)"},
            "teacher_encoder": prop("string", "resnet50_cpu", "teacher's image encoder recipe (a width-scalable CNN)"),
            "hidden": prop("integer", 128, "head width", minimum=4),
            "target_ratio": prop("number", 0.4, "student / teacher parameters", exclusiveMinimum=0, exclusiveMaximum=1),
            "epochs": prop("integer", 6, "epochs of teacher and of student", minimum=1),
            "efficiency_batch": prop("integer", 64, "batch used to measure images/s and memory", minimum=1),
            "kd": obj(
                {
                    "T": prop("number", 4.0, "temperature", exclusiveMinimum=0),
                    "alpha": prop("number", 0.5, "weight of the soft-target term", minimum=0, maximum=1),
                },
                "distillation loss",
            ),
            "recipe": obj(
                {
                    "augment": _run_overrides("augmentation of both runs (hflip, rotate_deg, clahe, elastic)"),
                    "trainer": _run_overrides("trainer overrides of both runs (grad_clip, amp, ...)"),
                },
                "the hybrid paper's training recipe",
            ),
        },
        "knowledge distillation (distill_efficiency)",
    )


def _dualbranch() -> dict[str, Any]:
    return obj(
        {
            "modalities": {
                **STR_LIST,
                "default": ["first", "second"],
                "minItems": 2,
                "maxItems": 2,
                "description": "the two branches (names or roles)",
            },
            "arch": prop("string", "resnet50", "timm ResNet layout of each branch (resnet18|resnet34|resnet50)"),
            "width": prop("number", 1.0, "channel-width factor", exclusiveMinimum=0),
            "epochs": obj(
                {
                    "unimodal": prop("integer", 50, "unimodal pretraining epochs", minimum=1),
                    "fusion": prop("integer", 40, "fusion epochs", minimum=1),
                },
                "epochs per stage",
            ),
            "loss": obj(
                {"name": prop("string", "ce_ldam", "LOSSES name"), "kwargs": obj({}, "loss kwargs", additional=True)},
                "objective",
            ),
            "augment": _run_overrides("augmentation (hflip, rotate_deg, ...)"),
            "trainer": _run_overrides("trainer overrides (batch_size, accumulate, optimizer, scheduler, select)"),
        },
        "the dual-branch ResNet (dualbranch_t5/t6 tables)",
    )


@functools.cache
def config_schema() -> dict[str, Any]:
    """The whole schema as a dict (cached; treat as read-only)."""
    sources = _sources()
    dataset = obj(
        {
            "name": prop(
                "string", "synthetic_gist", "dataset name: outputs go to <results>/<name>/", pattern="^[a-z0-9_]+$"
            ),
            "source": prop("string", "synthetic", "where the data comes from", enum=sorted(sources)),
            **sources,
        },
        "the dataset and its source",
        required=["name", "source"],
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "mmdiag pipeline configuration",
        "description": "Generated from mmdiag.config.schema by `mmdiag write-schema`; do not edit by hand.",
        "type": "object",
        "additionalProperties": False,
        "required": ["dataset"],
        "properties": {
            "results": prop("string", "results", "root folder of all outputs"),
            "recipe": prop(
                "string",
                "auto",
                "config/recipes/<name>.yaml layered between config/config.yaml and your files (auto: embedded "
                "for the synthetic source, real_data otherwise); see docs/data_format.md",
                pattern="^[a-z0-9_]+$",
            ),
            "studies": {
                "type": "array",
                "items": {"type": "string", "enum": list(STUDIES)},
                "default": list(STUDIES),
                "description": "studies whose tables `all` builds",
            },
            "seed": prop("integer", 0, "seed of initialisation, data order and augmentation", minimum=0),
            "progress": prop("boolean", True, "show progress bars"),
            "hub_offline": prop("boolean", True, "set HF_HUB_OFFLINE=1: use only locally cached weights"),
            "dataset": dataset,
            "corpus": obj(
                {
                    "max_length": prop(
                        "integer",
                        160,
                        "characters per encoded report",
                        minimum=8,
                        maximum=65536,
                        **{
                            "x-cap-reason": "every sample carries this many character ids per report and the text "
                            "encoder's attention grows with its square"
                        },
                    )
                },
                "the report vocabulary (TMM-Net §4.1)",
            ),
            "preprocess": obj(
                {
                    "size": prop(
                        "integer",
                        32,
                        "short side resize and centre-crop size (paper: 224); every encoder a study uses is "
                        "checked to take it at config load",
                        minimum=8,
                        maximum=MAX_IMAGE_SIZE,
                        **{
                            "x-cap-reason": "the preprocessing cache holds every image at size x size (memory grows "
                            "with size squared: 100000 px would need terabytes); the papers use 224"
                        },
                    ),
                    "mean": prop(
                        ["array", "null"], None, "per-channel mean (null: ImageNet)", items={"type": "number"}
                    ),
                    "std": prop(["array", "null"], None, "per-channel std (null: ImageNet)", items={"type": "number"}),
                },
                "decode/resize/crop/normalise once",
            ),
            "data": obj(
                {
                    "pairing": prop(
                        "string", "cyclic", "pairing of two modalities' images within a case", enum=["cyclic", "all"]
                    ),
                    "missing_modality": prop(
                        "string",
                        "drop",
                        "cases lacking a modality a run uses: drop them (listed as dropped cases), or token "
                        "(keep them; the absent image is zeros and batch['present'] says so; models without "
                        "a missing-modality token run with drop)",
                        enum=["drop", "token"],
                    ),
                    "modality_dropout": prop(
                        "number",
                        0.0,
                        "training batches only: probability of hiding each present modality of a sample "
                        "that has at least two (seeded by seed and epoch)",
                        minimum=0,
                        exclusiveMaximum=1,
                    ),
                },
                "sample construction (docs/data_format.md, 'Missing modalities')",
            ),
            "splits": obj(
                {
                    "seed": prop("integer", 0, "seed of every split", minimum=0),
                    "val_fraction": prop(
                        "number",
                        0.15,
                        "fraction of training cases held out for validation",
                        exclusiveMinimum=0,
                        exclusiveMaximum=1,
                    ),
                    "single_centre": obj(
                        {
                            "centre": prop(
                                ["string", "null"],
                                None,
                                "centre of the single-centre split (null: the first; '*': all)",
                            ),
                            "test_fraction": prop(
                                "number", 0.3, "test fraction", exclusiveMinimum=0, exclusiveMaximum=1
                            ),
                        },
                        "random train/test split of one centre (paper: 70/30)",
                    ),
                    "multi_centre": obj(
                        {
                            "target": prop(
                                ["string", "null"],
                                None,
                                "test centre (null: no split; auto: the first centre other than the single-centre one)",
                            )
                        },
                        "train on the single-centre source, test on the target centre",
                    ),
                    "cv": obj(
                        {
                            "folds": prop("integer", 5, "folds", minimum=2),
                            "centres": {
                                "type": ["array", "string"],
                                "items": {"type": "string"},
                                "pattern": "^auto$",
                                "default": [],
                                "description": "centres cross-validated separately (auto: every centre of the dataset)",
                            },
                        },
                        "k-fold cross-validation per centre",
                    ),
                },
                "case-grouped splits written to <results>/<name>/data/splits/",
            ),
            "augment": obj(
                {
                    "hflip": prop("number", 0.0, "probability of a horizontal flip", minimum=0, maximum=1),
                },
                "training augmentation",
                additional=True,
            ),
            "encoders": {
                "type": "object",
                "description": "image encoder recipes by name",
                "additionalProperties": _encoder_entry(),
                "default": {},
            },
            "text_encoders": {
                "type": "object",
                "description": "text encoder recipes by name",
                "additionalProperties": _text_entry(),
                "default": {},
            },
            "trainer": _trainer(),
            "evaluation": obj(
                {
                    "bootstrap": prop(
                        "integer",
                        1000,
                        "bootstrap replicates (by case)",
                        minimum=10,
                        maximum=100000,
                        **{
                            "x-cap-reason": "each replicate recomputes every metric of every evaluation set; "
                            "1000-10000 replicates are the usual range"
                        },
                    )
                },
                "evaluation",
            ),
            "tmmnet": _tmmnet(),
            "fusion_study": _fusion_study(),
            "distillation": _distillation(),
            "dualbranch": _dualbranch(),
        },
    }


@functools.cache
def validator() -> Any:
    """A Draft 2020-12 validator that also fills defaults (as Snakemake's `validate` does)."""
    from jsonschema import Draft202012Validator, validators

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = _copy(sub["default"])
        yield from Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)

    cls = validators.extend(Draft202012Validator, {"properties": set_defaults})
    return cls(config_schema())


@functools.cache
def trainer_validator() -> Any:
    """A plain validator of the `trainer` section alone (per-study trainer overrides merged into it)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_trainer())


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


def schema_yaml() -> str:
    """The schema as the YAML text committed in `config/schema/config.schema.yaml`."""
    header = "# GENERATED by `mmdiag write-schema` from src/mmdiag/config/schema.py - do not edit.\n"
    return header + yaml.safe_dump(config_schema(), sort_keys=False, width=110, allow_unicode=True)


SCHEMA_PATH = "config/schema/config.schema.yaml"
README_PATH = "config/README.md"


def _rows(node: Mapping[str, Any], prefix: str) -> list[tuple[str, str, str, str]]:
    """(key path, type, default, description) of every documented key under `node`, depth first."""
    rows = []
    for key, sub in (node.get("properties") or {}).items():
        path = f"{prefix}{key}"
        kind = sub.get("type", "")
        kind = " | ".join(kind) if isinstance(kind, list) else kind
        if "enum" in sub:
            kind += ": " + ", ".join(str(v) for v in sub["enum"])
        default = (
            ""
            if kind == "object" and sub.get("properties")
            else yaml.safe_dump(sub.get("default"), default_flow_style=True, width=1000)
            .strip()
            .removesuffix("...")
            .strip()
        )
        rows.append((path, kind, default, str(sub.get("description", ""))))
        rows += _rows(sub, f"{path}.")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("properties"):
            rows += _rows(extra, f"{path}.<name>.")
    return rows


def schema_markdown() -> str:
    """`config/README.md`: every config key with its type, default and description, section by section."""
    out = [
        "# Configuration reference",
        "",
        "Generated from `src/mmdiag/config/schema.py` by `mmdiag write-schema` (do not edit by hand); the",
        "same schema validates every config (`config/schema/config.schema.yaml`, used by Snakemake's",
        "`validate`). `config/config.yaml` is the default; presets in this folder hold only their differences",
        "and are layered on top: `snakemake all --configfile config/<preset>.yaml`.",
        "",
    ]
    for key, sub in config_schema()["properties"].items():
        out += [f"## `{key}`", "", str(sub.get("description", "")), ""]
        rows = _rows({"properties": {key: sub}}, "")
        out += ["| key | type | default | description |", "|---|---|---|---|"]
        out += [f"| `{p}` | {t} | `{d}` | {desc} |" if d else f"| `{p}` | {t} | | {desc} |" for p, t, d, desc in rows]
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """`mmdiag write-schema`: write the generated schema and the config reference (config/README.md)."""
    from mmdiag.io import write_text

    write_text(SCHEMA_PATH, schema_yaml())
    write_text(README_PATH, schema_markdown())
    print(f"wrote {SCHEMA_PATH} and {README_PATH}")
    return 0
