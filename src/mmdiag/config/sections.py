"""The pipeline config, section by section: the one place every default, description and limit is stated.

`mmdiag.config.schema` derives the JSON schema (`config/schema/config.schema.yaml`, config/README.md) from
these dataclasses, and library code reads a validated config either by key (every default is filled in)
or as a typed section (`mmdiag.config.fields.fill(TrainerConfig, config["trainer"])`). The dataset
sources' sections live beside each source (`mmdiag.data.sources`, `mmdiag.data.synthetic.config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmdiag.config.fields import Section, make_section, option, section

MAX_IMAGE_SIZE = 1024  # preprocess.size cap (reason in the schema's x-cap-reason)
STUDIES = ("tmmnet", "fusion_study", "distillation", "dualbranch")
PRETRAINED_MODES = ["required", "preferred", "off"]
# `encoders.<name>.stem`: the backbone's own stem, or the 3x3 stride-1 stem without max-pool of the 28-px ResNets
# (MedMNIST v2, CIFAR), which keeps a 28-32 px image at full resolution into stage 1 (mmdiag.models.encoders.timm_image)
IMAGE_STEMS = ["default", "cifar"]
# `encoders.<name>.memory_format`: the layout the backbone runs in; NHWC is faster for some CPU convolutions
# (bench/cpu_kernels.py measures each recipe), slower for others, and gives the same model up to rounding
MEMORY_FORMATS = ["contiguous", "channels_last"]
PHASES = ("stage1", "stage2", "stage3", "classify")  # TMM-Net training phases, in order
LOSS_TERMS = ("cls", "clip", "proto", "attr")  # terms of TMM-Net's objective (tmmnet.loss_weights)
RUN_OVERRIDES = "overrides of the study's runs, merged into the section they name"


# ------------------------------------------------------------------------------------------ encoders
@dataclass(frozen=True)
class EncoderConfig(Section):
    """`encoders.<name>`: one image encoder recipe."""

    DESCRIPTION = "one image encoder recipe"
    REQUIRED = ("model_name",)

    type: str = option("timm", "encoder family in the ENCODERS registry")
    label: str = option("", "name printed in tables")
    description: str = option("", "free text")
    model_name: str = option("vit_tiny_patch16_224", "timm model name (any timm model)")
    model_kwargs: dict[str, Any] = option({}, "extra timm.create_model kwargs; img_size: auto = preprocess.size")
    width: float | None = option(
        None, "channel-width factor for CPU-scale CNNs (resnet*, vgg*, densenet*)", exclusiveMinimum=0
    )
    pretrained: str = option(
        "off",
        "required: stop if weights cannot be loaded; preferred: fall back to random init and record it; "
        "off: random init",
        enum=PRETRAINED_MODES,
    )
    pretrained_file: str | None = option(None, "local weights file (instead of the hub cache)")
    stem: str = option(
        "default",
        "default: the model's own stem; cifar: one 3x3 stride-1 conv and no max-pool (timm ResNets with a one-conv "
        "stem), as in MedMNIST v2's 28-px ResNet-18: a 4x4 last map at 32 px without output_stride, about 3x the "
        "compute of output_stride 8",
        enum=IMAGE_STEMS,
    )
    memory_format: str = option(
        "contiguous",
        "contiguous: NCHW; channels_last: NHWC weights and inputs (oneDNN's faster CPU kernels for some "
        "backbones, bench/cpu_kernels.py); the same model, different rounding",
        enum=MEMORY_FORMATS,
    )


@dataclass(frozen=True)
class TextEncoderConfig(Section):
    """`text_encoders.<name>`: one text encoder recipe (each family reads its own keys)."""

    DESCRIPTION = "one text encoder recipe"

    type: str = option("char_transformer", "char_transformer | char_cnn | hf (transformers.AutoModel)")
    description: str = option("", "free text")
    dim: int = option(128, "width (char_transformer)", minimum=8)
    depth: int = option(2, "layers (char_transformer)", minimum=1)
    heads: int = option(4, "attention heads (char_transformer)", minimum=1)
    mlp_ratio: float = option(2.0, "feed-forward width / dim", exclusiveMinimum=0)
    dropout: float = option(0.1, "dropout", minimum=0, maximum=1)
    downsample: int = option(
        1,
        "merge every k characters into one token with a strided conv before the Transformer "
        "(char_transformer; 1 = the paper's plain character tokens)",
        minimum=1,
    )
    width: int = option(64, "filters per kernel size (char_cnn)", minimum=1)
    kernels: list[int] = option(
        [3, 5, 7], "convolution widths in characters (char_cnn)", items={"type": "integer", "minimum": 1}, minItems=1
    )
    model_name: str | None = option(None, "Hugging Face model id or local path (type hf)")
    pretrained: str = option("preferred", "as for image encoders (type hf)", enum=PRETRAINED_MODES)
    max_tokens: int = option(128, "tokenizer truncation length (type hf)", minimum=8)


# ------------------------------------------------------------------------------------------- trainer
@dataclass(frozen=True)
class OptimizerConfig(Section):
    """`trainer.optimizer`."""

    name: str = option("sgd", "sgd | adam | adamw", enum=["sgd", "adam", "adamw"])
    lr: float = option(0.001, "learning rate", exclusiveMinimum=0)
    momentum: float = option(0.9, "SGD momentum", minimum=0, maximum=1)
    weight_decay: float = option(0.0, "weight decay", minimum=0)


@dataclass(frozen=True)
class SchedulerConfig(Section):
    """`trainer.scheduler`: an epoch-level schedule, with an optional per-step warm-up on top."""

    name: str = option(
        "none", "none | step | multistep | cosine | plateau", enum=["none", "step", "multistep", "cosine", "plateau"]
    )
    milestones: list[int] = option([10], "multistep: epochs after which the LR is multiplied by gamma")
    step_size: int = option(10, "step: epochs between LR drops", minimum=1)
    gamma: float = option(0.1, "step: LR factor", exclusiveMinimum=0)
    factor: float = option(0.1, "plateau: LR factor", exclusiveMinimum=0)
    patience: int = option(5, "plateau: epochs without improvement", minimum=0)
    warmup_epochs: int = option(
        0,
        "linear LR warm-up over the first N epochs of every training phase, per optimiser step, "
        "on top of the schedule (whose epochs still count from the phase start); 0 = off",
        minimum=0,
    )
    warmup_start_factor: float = option(
        0.1, "warm-up: LR factor of the first step (rises linearly to 1)", exclusiveMinimum=0, maximum=1
    )


@dataclass(frozen=True)
class EarlyStoppingConfig(Section):
    """`trainer.early_stopping`."""

    patience: int | None = option(
        None,
        "stop a phase when `select` has not improved by more than min_delta for this many epochs "
        "(null = never); the best epoch is kept and the history records the stop",
        minimum=1,
    )
    min_delta: float = option(0.0, "smallest change of `select` that counts as improvement", minimum=0)


@dataclass(frozen=True)
class TrainerConfig(Section):
    """`trainer`: the training engine (per-study overrides are merged into it and checked against it)."""

    batch_size: int = option(32, "samples per step", minimum=1)
    optimizer: OptimizerConfig = section(OptimizerConfig, "optimiser")
    scheduler: SchedulerConfig = section(SchedulerConfig, "epoch-level LR schedule")
    early_stopping: EarlyStoppingConfig = section(EarlyStoppingConfig, "early stopping on the selection key")
    select: str = option(
        "val_loss",
        "validation key for best-epoch selection (minimised if it contains 'loss', else maximised), e.g. "
        "val_loss, val_Acc, val_AUC; a key the evaluator does not emit stops the job before training",
    )
    amp: str = option("off", "mixed precision", enum=["off", "bf16", "fp16"])
    grad_clip: float | None = option(None, "max gradient norm (null = off)", exclusiveMinimum=0)
    accumulate: int = option(1, "gradient accumulation steps", minimum=1)
    sampler: str = option("uniform", "uniform | class_balanced", enum=["uniform", "class_balanced"])
    drop_last: bool = option(False, "drop the last incomplete batch")
    ema: float | None = option(
        None,
        "decay per optimiser step of an exponential moving average of the weights (e.g. 0.95); validation, "
        "best-epoch selection and the saved model use the average; null = off",
        exclusiveMinimum=0,
        exclusiveMaximum=1,
    )
    checkpoint_every_s: float = option(
        60,
        "write the resume checkpoint (last.pt) at most this often, in seconds; 0 = after every epoch. "
        "A killed job loses at most this much training and resumes to the same result",
        minimum=0,
    )
    device: str = option(
        "auto",
        "auto (CUDA when present) | cpu | cuda | cuda:<index> | mps; checked at config load (cuda needs a visible GPU)",
    )


# -------------------------------------------------------------------------------------------- tmmnet
@dataclass(frozen=True)
class ArmConfig(Section):
    """`tmmnet.arms.<name>`: which modalities an arm sees and which guidance stages it trains."""

    DESCRIPTION = "one TMM-Net arm"
    REQUIRED = ("modalities",)

    modalities: list[str] = option(
        ["first", "second"],
        "image modalities of the arm: dataset modality names or the roles first, second (the dataset's "
        "modalities in dataset.yaml order; an arm whose role the dataset lacks is left out)",
        minItems=1,
        maxItems=2,
    )
    stage1: bool = option(False, "feature-level text guidance (CLIP matching)")
    stage2: bool = option(False, "prototype-level text guidance (needs stage1)")
    attention: bool = option(False, "stage 3 cross-modal attention (else direct fusion)")
    attributes: bool = option(
        False, "attribute prototypes + classifiers trained from attribute labels alone, no text (stage2 implies it)"
    )


def _factors(name: str, doc: str, keys: Sequence[str], describe: str, **limits: Any) -> type:
    """A section of one float factor per key, each defaulting to 1 (`describe` with `{}` for the key)."""
    return make_section(name, doc, [(k, float, option(1.0, describe.format(k), **limits)) for k in keys], __name__)


LossWeightsConfig = _factors(
    "LossWeightsConfig", "`tmmnet.loss_weights`.", LOSS_TERMS, "weight of the {} term", minimum=0
)


@dataclass(frozen=True)
class ScheduleConfig(Section):
    """`tmmnet.schedule`: epochs per training phase."""

    stage1: int = option(6, "epochs of stage-1 pretraining (per modality)", minimum=0)
    stage2: int = option(3, "epochs of stage-2 prototype training", minimum=0)
    stage3: int = option(2, "epochs of stage-3 fusion training on frozen features", minimum=0)
    classify: int = option(8, "epochs of end-to-end classification (every arm)", minimum=1)


LrScaleConfig = _factors(
    "LrScaleConfig",
    "`tmmnet.lr_scale`: learning-rate factor per phase.",
    PHASES,
    "{}: trainer.optimizer.lr is multiplied by this",
    exclusiveMinimum=0,
)


@dataclass(frozen=True)
class PhaseSelectConfig(Section):
    """`tmmnet.select`: the validation key that keeps each guidance phase's checkpoint."""

    stage1: str = option("val_clip_top1", "stage-1 checkpoint: validation image->report retrieval accuracy")
    stage2: str = option(
        "last",
        "stage-2 checkpoint: last (default: with sparse annotation only a handful of validation cases carry "
        "attribute labels, too few to pick an epoch) or val_attr_bacc (validation balanced attribute accuracy)",
    )


@dataclass(frozen=True)
class TableRunsConfig(Section):
    """`tmmnet.comparison` / `tmmnet.text_guidance`: the backbones x arms grid of one table."""

    backbones: list[str] = option([], "encoder recipes (keys of encoders)")
    arms: list[str] = option([], "arms (keys of tmmnet.arms)")


@dataclass(frozen=True)
class TmmnetCvConfig(Section):
    """`tmmnet.cv`: Table 4."""

    arm: str = option("tmmnet", "arm cross-validated in Table 4")
    schedule: dict[str, int] | None = option(
        None,
        "epochs per phase for the CV runs (null: tmmnet.schedule)",
        properties={k: {"type": "integer", "minimum": 0} for k in PHASES},
        additionalProperties=False,
    )


@dataclass(frozen=True)
class TmmnetConfig(Section):
    """`tmmnet`: the TMM-Net study (Tables 1-4)."""

    encoder: str = option("vit_cpu", "image encoder recipe of TMM-Net (key of encoders)")
    text_encoder: str = option("char", "text encoder recipe (key of text_encoders)")
    embed_dim: int = option(128, "CLIP embedding width", minimum=8)
    proto_dim: int = option(32, "width of one attribute prototype", minimum=4)
    attn_dim: int = option(128, "cross-modal attention width d_k = d_v", minimum=8)
    attn_heads: int = option(1, "cross-modal attention heads (paper: 1)", minimum=1)
    fusion: str = option("concat", "fusion module for direct fusion (FUSIONS registry)")
    head: str = option("linear", "classifier head (HEADS registry)")
    dropout: float = option(0.0, "dropout in fusion and head", minimum=0, maximum=1)
    classification_loss: str = option("ce", "classification objective (LOSSES registry)")
    classification_loss_kwargs: dict[str, Any] = option({}, "its kwargs")
    loss_weights: LossWeightsConfig = section(LossWeightsConfig, "weights of the objective's terms")
    schedule: ScheduleConfig = section(ScheduleConfig, "epochs per training phase")
    lr_scale: LrScaleConfig = section(
        LrScaleConfig,
        "learning-rate factor per phase (each phase starts a fresh optimiser: a phase that fine-tunes what an "
        "earlier one learned need not restart at the full rate)",
    )
    select: PhaseSelectConfig = section(
        PhaseSelectConfig, "validation key that picks the checkpoint of each guidance phase (what the phase is for)"
    )
    stage2_clip: bool = option(True, "keep the stage-1 CLIP term during stage 2 (arms with text)")
    arms: dict[str, ArmConfig] = option({}, "arm name -> switches (Table 3 in the paper's order)")
    seeds: list[int] | None = option(
        None,
        "seeds of the Table 1-3 runs (null: [seed]); Table 3 shows mean ± sd over them, Tables 1-2 and the CV "
        "use the first",
        items={"type": "integer", "minimum": 0},
        minItems=1,
    )
    comparison: TableRunsConfig = section(TableRunsConfig, "Table 1: backbones x arms without text")
    text_guidance: TableRunsConfig = section(TableRunsConfig, "Table 2: backbones x guidance levels")
    cv: TmmnetCvConfig = section(TmmnetCvConfig, "Table 4")


# -------------------------------------------------------------------------------------- fusion study
@dataclass(frozen=True)
class FusionBaseConfig(Section):
    """`fusion_study.base`: the baseline every row varies."""

    fusion: str = option("concat", "FUSIONS name")
    head: str = option("mlp", "HEADS name")
    loss: str = option("ce", "LOSSES name")
    hidden: int = option(128, "fusion/head width", minimum=4)
    dropout: float = option(0.1, "dropout", minimum=0, maximum=1)


@dataclass(frozen=True)
class ObjectiveConfig(Section):
    """`fusion_study.objectives.<name>`: one objective row."""

    DESCRIPTION = "one objective row"

    loss: str = option("ce", "LOSSES name")
    kwargs: dict[str, Any] = option({}, "loss kwargs")
    sampler: str | None = option(None, "uniform | class_balanced")


@dataclass(frozen=True)
class FusionStudyConfig(Section):
    """`fusion_study`: the image + report fusion study (fusion_t1/t3/t4 tables)."""

    image_modalities: list[str] = option(["first"], "image inputs (names or roles)")
    text: str | None = option("report", "report column used as text input (null: images only)")
    encoder: str = option("resnet18_cpu", "image encoder recipe (key of encoders)")
    text_encoder: str = option("char3", "text encoder recipe (key of text_encoders)")
    epochs: int = option(6, "epochs per run", minimum=1)
    hierarchical_levels: int = option(3, "image stages x text layers paired by hierarchical fusion", minimum=2)
    base: FusionBaseConfig = section(FusionBaseConfig, "the baseline every row varies")
    strategies: list[str] = option([], "fusion modules of fusion_t3_strategies")
    hparams: dict[str, list] = option(
        {},
        "hyper-parameter -> values (lr, batch_size, hidden, dropout), varied one at a time around the baseline "
        "(fusion_t1_hparams)",
    )
    heads: list[str] = option([], "heads of fusion_t4_heads_objectives")
    objectives: dict[str, ObjectiveConfig] = option({}, "name -> {loss, kwargs, sampler}")
    tta: list[str] = option([], "test-time views (identity, hflip, vflip, rot90, center_crop); empty: no TTA row")


# -------------------------------------------------------------------------------------- distillation
@dataclass(frozen=True)
class KdConfig(Section):
    """`distillation.kd`: the distillation loss."""

    T: float = option(4.0, "temperature", exclusiveMinimum=0)
    alpha: float = option(0.5, "weight of the soft-target term", minimum=0, maximum=1)


@dataclass(frozen=True)
class DistillationRecipeConfig(Section):
    """`distillation.recipe`: the hybrid paper's training recipe, as overrides of both runs."""

    augment: dict[str, Any] = option({}, "augmentation of both runs (hflip, rotate_deg, clahe, elastic)")
    trainer: dict[str, Any] = option({}, "trainer overrides of both runs (grad_clip, amp, ...)")


@dataclass(frozen=True)
class DistillationConfig(Section):
    """`distillation`: knowledge distillation (distill_efficiency)."""

    modalities: list[str] = option(["first", "second"], "image inputs (names or roles)")
    teacher_encoder: str = option("resnet50_cpu", "teacher's image encoder recipe (a width-scalable CNN)")
    hidden: int = option(128, "head width", minimum=4)
    target_ratio: float = option(0.4, "student / teacher parameters", exclusiveMinimum=0, exclusiveMaximum=1)
    epochs: int = option(6, "epochs of teacher and of student", minimum=1)
    efficiency_batch: int = option(64, "batch used to measure images/s and memory", minimum=1)
    kd: KdConfig = section(KdConfig, "distillation loss")
    recipe: DistillationRecipeConfig = section(DistillationRecipeConfig, "the hybrid paper's training recipe")


# -------------------------------------------------------------------------------------- dual branch
@dataclass(frozen=True)
class DualbranchEpochsConfig(Section):
    """`dualbranch.epochs`: epochs per stage."""

    unimodal: int = option(50, "unimodal pretraining epochs", minimum=1)
    fusion: int = option(40, "fusion epochs", minimum=1)


@dataclass(frozen=True)
class LossConfig(Section):
    """`dualbranch.loss`: the objective."""

    name: str = option("ce_ldam", "LOSSES name")
    kwargs: dict[str, Any] = option({}, "loss kwargs")


@dataclass(frozen=True)
class DualbranchConfig(Section):
    """`dualbranch`: the dual-branch ResNet (dualbranch_t5/t6 tables)."""

    modalities: list[str] = option(["first", "second"], "the two branches (names or roles)", minItems=2, maxItems=2)
    arch: str = option("resnet50", "timm ResNet layout of each branch (resnet18|resnet34|resnet50)")
    width: float = option(1.0, "channel-width factor", exclusiveMinimum=0)
    epochs: DualbranchEpochsConfig = section(DualbranchEpochsConfig, "epochs per stage")
    loss: LossConfig = section(LossConfig, "objective")
    augment: dict[str, Any] = option({}, "augmentation (hflip, rotate_deg, ...)")
    trainer: dict[str, Any] = option({}, "trainer overrides (batch_size, accumulate, optimizer, scheduler, select)")


# ---------------------------------------------------------------------------------- data and splits
@dataclass(frozen=True)
class DatasetConfig(Section):
    """`dataset`: its name and source; each source's own section (`dataset.<source>`) is registered with it."""

    REQUIRED = ("name", "source")

    name: str = option("synthetic_gist", "dataset name: outputs go to <results>/<name>/", pattern="^[a-z0-9_]+$")
    source: str = option("synthetic", "where the data comes from")  # enum: the registered sources


@dataclass(frozen=True)
class CorpusConfig(Section):
    """`corpus`: the report vocabulary."""

    max_length: int = option(
        160,
        "characters per encoded report",
        minimum=8,
        maximum=65536,
        cap_reason="every sample carries this many character ids per report and the text encoder's attention "
        "grows with its square",
    )


@dataclass(frozen=True)
class PreprocessConfig(Section):
    """`preprocess`: decode, resize, crop and normalise once."""

    size: int = option(
        32,
        "short side resize and centre-crop size (paper: 224); every encoder a study uses is checked to take it "
        "at config load",
        minimum=8,
        maximum=MAX_IMAGE_SIZE,
        cap_reason="the preprocessing cache holds every image at size x size (memory grows with size squared: "
        "100000 px would need terabytes); the papers use 224",
    )
    mean: list[float] | None = option(None, "per-channel mean (null: ImageNet)")
    std: list[float] | None = option(None, "per-channel std (null: ImageNet)")


@dataclass(frozen=True)
class DataConfig(Section):
    """`data`: sample construction (docs/data_format.md, 'Missing modalities')."""

    pairing: str = option("cyclic", "pairing of two modalities' images within a case", enum=["cyclic", "all"])
    missing_modality: str = option(
        "drop",
        "cases lacking a modality a run uses: drop them (listed as dropped cases), or token (keep them; the "
        "absent image is zeros and batch['present'] says so; models without a missing-modality token run with "
        "drop)",
        enum=["drop", "token"],
    )
    modality_dropout: float = option(
        0.0,
        "training batches only: probability of hiding each present modality of a sample that has at least two "
        "(seeded by seed and epoch)",
        minimum=0,
        exclusiveMaximum=1,
    )


@dataclass(frozen=True)
class SingleCentreConfig(Section):
    """`splits.single_centre`."""

    centre: str | None = option(None, "centre of the single-centre split (null: the first; '*': all)")
    test_fraction: float = option(0.3, "test fraction", exclusiveMinimum=0, exclusiveMaximum=1)


@dataclass(frozen=True)
class MultiCentreConfig(Section):
    """`splits.multi_centre`."""

    target: str | None = option(
        None, "test centre (null: no split; auto: the first centre other than the single-centre one)"
    )


@dataclass(frozen=True)
class CvConfig(Section):
    """`splits.cv`."""

    folds: int = option(5, "folds", minimum=2)
    centres: list[str] | str = option(
        [], "centres cross-validated separately (auto: every centre of the dataset)", pattern="^auto$"
    )


@dataclass(frozen=True)
class SplitsConfig(Section):
    """`splits`: case-grouped splits written to <results>/<name>/data/splits/."""

    seed: int = option(0, "seed of every split", minimum=0)
    val_fraction: float = option(
        0.15, "fraction of training cases held out for validation", exclusiveMinimum=0, exclusiveMaximum=1
    )
    single_centre: SingleCentreConfig = section(
        SingleCentreConfig, "random train/test split of one centre (paper: 70/30)"
    )
    multi_centre: MultiCentreConfig = section(
        MultiCentreConfig, "train on the single-centre source, test on the target centre"
    )
    cv: CvConfig = section(CvConfig, "k-fold cross-validation per centre")


@dataclass(frozen=True)
class AugmentConfig(Section):
    """`augment`: training augmentation (open: the augmentations read further keys of their own)."""

    OPEN = True

    hflip: float = option(0.0, "probability of a horizontal flip", minimum=0, maximum=1)


@dataclass(frozen=True)
class EvaluationConfig(Section):
    """`evaluation`."""

    bootstrap: int = option(
        1000,
        "bootstrap replicates (by case)",
        minimum=10,
        maximum=100000,
        cap_reason="each replicate recomputes every metric of every evaluation set; 1000-10000 replicates are the "
        "usual range",
    )


# ------------------------------------------------------------------------------------------ top level
@dataclass(frozen=True)
class PipelineConfig(Section):
    """The whole config (`config/config.yaml` and the presets layered on it)."""

    REQUIRED = ("dataset",)

    results: str = option("results", "root folder of all outputs")
    recipe: str = option(
        "auto",
        "config/recipes/<name>.yaml layered between config/config.yaml and your files (auto: embedded for the "
        "synthetic source, real_data otherwise); see docs/data_format.md",
        pattern="^[a-z0-9_]+$",
    )
    studies: list[str] = option(
        list(STUDIES), "studies whose tables `all` builds", items={"type": "string", "enum": list(STUDIES)}
    )
    seed: int = option(0, "seed of initialisation, data order and augmentation", minimum=0)
    progress: bool = option(True, "show progress bars")
    hub_offline: bool = option(True, "set HF_HUB_OFFLINE=1: use only locally cached weights")
    dataset: DatasetConfig = section(DatasetConfig, "the dataset and its source")
    corpus: CorpusConfig = section(CorpusConfig, "the report vocabulary (TMM-Net §4.1)")
    preprocess: PreprocessConfig = section(PreprocessConfig, "decode/resize/crop/normalise once")
    data: DataConfig = section(DataConfig, "sample construction (docs/data_format.md, 'Missing modalities')")
    splits: SplitsConfig = section(SplitsConfig, "case-grouped splits written to <results>/<name>/data/splits/")
    augment: AugmentConfig = section(AugmentConfig, "training augmentation")
    encoders: dict[str, EncoderConfig] = option({}, "image encoder recipes by name")
    text_encoders: dict[str, TextEncoderConfig] = option({}, "text encoder recipes by name")
    trainer: TrainerConfig = section(TrainerConfig, "the training engine")
    evaluation: EvaluationConfig = section(EvaluationConfig, "evaluation")
    tmmnet: TmmnetConfig = section(TmmnetConfig, "the TMM-Net study (Tables 1-4)")
    fusion_study: FusionStudyConfig = section(
        FusionStudyConfig, "the image + report fusion study (fusion_t1/t3/t4 tables)"
    )
    distillation: DistillationConfig = section(DistillationConfig, "knowledge distillation (distill_efficiency)")
    dualbranch: DualbranchConfig = section(DualbranchConfig, "the dual-branch ResNet (dualbranch_t5/t6 tables)")
