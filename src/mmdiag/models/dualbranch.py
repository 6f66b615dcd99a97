"""Dual-branch ResNet with bidirectional cross-modal attention (colorectal histopathology + MRI).

Paper: `papers/dual_branch_resnet50_cross_attention_crc.txt` (§2.2, Table 4, §2.3); summary: METHODS.md §2.

Two timm ResNets, one per image modality, with the stem replaced by a 3x3 conv of stride 1 and no
max-pool (Table 4: the 64x64 input keeps its size through layer1). Stages 1-2 run independently per
branch; after layer3 and layer4 a bidirectional cross-modal attention module lets each branch query
the other (mid fusion): 1x1 convs give Q, K, V, and a learnable scale γ, initialised to 0, adds the
attended features residually (SAGAN), so training starts from the two unimodal networks. Each branch
is then globally average pooled, the two vectors concatenated (late fusion) and classified by one FC.

Training follows the paper's two stages: a unimodal model per modality (`modalities: [m]`: one branch
and its own FC), then the fusion model initialised from both (`DualBranchResNet.load_unimodal`).

Our choices where the paper is silent, also listed in docs/models.md:
- "inside layer3 and layer4": one module after the last residual block of each stage
  (`attention_placement: stage`), or after every residual block of the stage (`block`);
- one γ per direction; attention is softmax(QK^T / sqrt(d)) V (SDPA) with d = C / `attention_reduction`
  (SAGAN's C/8) and V keeping all C channels, each modality with its own Q, K, V convs;
- the per-branch FCs of the unimodal stage are kept in the fusion model (`branch_logits`, e.g. for
  auxiliary losses or per-modality diagnostics); the fused FC is new;
- timm's zero-init of the last BN of each residual block is off (torchvision's ResNet50 default), so every
  layer learns from the first step;
- both branches must share `arch` and `width` (cross attention needs equal channels); the "upsampling to a
  common size" of §2.2 is not needed since global pooling removes the spatial size before concatenation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdiag.models.encoders.timm_image import _width_kwargs
from mmdiag.models.spec import config_of
from mmdiag.registry import MODELS

NUM_STAGES = 4


@dataclass
class DualBranchCfg:
    """Architecture of the dual-branch model (keys of its `model` config)."""

    modalities: list[str]  # one branch per modality; one modality = the unimodal pre-training model
    num_classes: int
    in_chans: dict[str, int] | int = 3
    arch: str = "resnet50"  # any timm ResNet entry point: resnet18 / resnet34 / resnet50 layouts, ...
    width: float = 1.0  # channel-width factor (same topology) for CPU-scale runs
    attention_stages: list[int] = field(default_factory=lambda: [3, 4])  # 1-based stages followed by attention
    attention_placement: str = "stage"  # stage: after the stage's last block | block: after each of its blocks
    attention_reduction: int = 8  # Q/K width = C / reduction (SAGAN)
    drop_rate: float = 0.0  # dropout before the FCs
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # extra timm ResNet kwargs (drop_path_rate, ...)


class CrossModalAttention2d(nn.Module):
    """Bidirectional cross attention between two NCHW maps of equal channels, added residually with γ (init 0)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        qk = max(1, channels // reduction)
        self.query = nn.ModuleList(nn.Conv2d(channels, qk, 1) for _ in range(2))
        self.key = nn.ModuleList(nn.Conv2d(channels, qk, 1) for _ in range(2))
        self.value = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(2))
        self.gamma = nn.Parameter(torch.zeros(2))  # [a <- b, b <- a]

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        return a + self.gamma[0] * self.attend(0, a, b), b + self.gamma[1] * self.attend(1, b, a)

    def attend(self, i: int, x: Tensor, context: Tensor) -> Tensor:
        """Branch `i`'s map `x` queries the other branch's `context` (keys/values from its own convs)."""
        j = 1 - i
        q = self.query[i](x).flatten(2).transpose(1, 2)  # [B, Nx, d]
        k = self.key[j](context).flatten(2).transpose(1, 2)  # [B, Nc, d]
        v = self.value[j](context).flatten(2).transpose(1, 2)  # [B, Nc, C]
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(x.shape)


def _resnet_branch(cfg: DualBranchCfg, in_chans: int) -> nn.Module:
    """A timm ResNet with the paper's small-input stem (3x3 conv, stride 1, no max-pool) and no classifier."""
    kwargs: dict[str, Any] = dict(in_chans=in_chans, num_classes=0, global_pool="", zero_init_last=False)
    if cfg.width != 1.0:
        kwargs.update(_width_kwargs(cfg.arch, cfg.width), stem_width=max(8, int(64 * cfg.width)))
    net = timm.create_model(cfg.arch, pretrained=False, **kwargs, **cfg.model_kwargs)
    net.conv1 = nn.Conv2d(in_chans, net.bn1.num_features, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


def _stages(net: nn.Module) -> list[nn.Sequential]:
    return [getattr(net, f"layer{s + 1}") for s in range(NUM_STAGES)]


class DualBranchResNet(nn.Module):
    """One ResNet branch per modality with cross-modal attention, late (concat) fusion and a FC classifier.

    `forward(batch)` returns `logits`, `fused` (the concatenated pooled features) and `branch_logits`
    (each branch's own FC). With one modality it is the unimodal model: `logits` are its branch logits.

    No missing-modality token: cross-modal attention mixes the two branches' feature maps at layers 3-4, so
    a case without one of them has nothing to attend to. The study runs with `data.missing_modality: drop`.
    """

    supports_missing_modality = False

    def __init__(self, cfg: DualBranchCfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.modalities = list(cfg.modalities)
        if not 1 <= len(self.modalities) <= 2:
            raise ValueError(f"the dual-branch model takes one or two modalities, got {self.modalities}")
        if cfg.attention_placement not in ("stage", "block"):
            raise ValueError(f"attention_placement must be 'stage' or 'block', got '{cfg.attention_placement}'")
        bad = [s for s in cfg.attention_stages if not 1 <= s <= NUM_STAGES]
        if bad:
            raise ValueError(f"attention_stages must be in 1..{NUM_STAGES}, got {bad}")
        chans = {m: cfg.in_chans[m] if isinstance(cfg.in_chans, Mapping) else cfg.in_chans for m in self.modalities}
        self.branches = nn.ModuleDict({m: _resnet_branch(cfg, chans[m]) for m in self.modalities})
        ref = self.branches[self.modalities[0]]
        self.stage_channels: list[int] = [info["num_chs"] for info in ref.feature_info[1:]]  # layer1..layer4
        self.stage_depths: list[int] = [len(stage) for stage in _stages(ref)]
        self.num_features = self.stage_channels[-1]
        # Attention modules keyed "<stage>_<block>" (1-based stage, 0-based block index inside it).
        self.attention = nn.ModuleDict()
        if len(self.modalities) == 2:
            for s in sorted(set(cfg.attention_stages)):
                n_blocks = self.stage_depths[s - 1]
                blocks = range(n_blocks) if cfg.attention_placement == "block" else [n_blocks - 1]
                for blk in blocks:
                    self.attention[f"{s}_{blk}"] = CrossModalAttention2d(
                        self.stage_channels[s - 1], cfg.attention_reduction
                    )
        self.drop = nn.Dropout(cfg.drop_rate)
        self.branch_heads = nn.ModuleDict({m: nn.Linear(self.num_features, cfg.num_classes) for m in self.modalities})
        fused_dim = len(self.modalities) * self.num_features
        self.head = nn.Linear(fused_dim, cfg.num_classes) if len(self.modalities) == 2 else None

    # -- forward ------------------------------------------------------------------------------------------
    def forward_features(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Backbone pass: last maps and pooled vectors per branch, and the layer3 features (after attention).

        `layer3_fused` ([B, n_modalities * C3], the pooled layer3 maps concatenated) is the mid-fusion
        feature the paper's t-SNE (Fig. 4) shows.
        """
        images: Mapping[str, Tensor] = batch["images"]
        x = {}
        for m in self.modalities:
            net = self.branches[m]
            x[m] = net.maxpool(net.act1(net.bn1(net.conv1(images[m]))))
        layer3: dict[str, Tensor] = {}
        for s, depth in enumerate(self.stage_depths):
            stages = {m: _stages(self.branches[m])[s] for m in self.modalities}
            if any(f"{s + 1}_{blk}" in self.attention for blk in range(depth - 1)):  # attention between blocks
                for blk in range(depth):
                    x = self._cross_attend(f"{s + 1}_{blk}", {m: stages[m][blk](x[m]) for m in self.modalities})
            else:  # the stage as one call, so hooks on `layer<k>` (Grad-CAM targets) fire
                x = self._cross_attend(f"{s + 1}_{depth - 1}", {m: stages[m](x[m]) for m in self.modalities})
            if s == 2:
                layer3 = x
        return {
            "maps": x,
            "pooled": {m: x[m].mean((2, 3)) for m in self.modalities},
            "layer3": layer3,
            "layer3_fused": torch.cat([layer3[m].mean((2, 3)) for m in self.modalities], dim=1),
        }

    def _cross_attend(self, key: str, x: dict[str, Tensor]) -> dict[str, Tensor]:
        """The attention module `key` ("<stage>_<block>") applied to both branches, if there is one."""
        if key not in self.attention:
            return x
        a, b = self.modalities
        out_a, out_b = self.attention[key](x[a], x[b])
        return {a: out_a, b: out_b}

    def forward_head(self, features: Mapping[str, Any], pre_logits: bool = False) -> dict[str, Any]:
        """Late fusion: concatenated pooled branch features -> FC; each branch also through its own FC."""
        pooled: Mapping[str, Tensor] = features["pooled"]
        fused = torch.cat([pooled[m] for m in self.modalities], dim=1)
        if pre_logits:
            return {"fused": fused}
        branch_logits = {m: self.branch_heads[m](self.drop(pooled[m])) for m in self.modalities}
        logits = self.head(self.drop(fused)) if self.head is not None else branch_logits[self.modalities[0]]
        return {"logits": logits, "fused": fused, "branch_logits": branch_logits}

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        return self.forward_head(self.forward_features(batch))

    # -- two-stage schedule ---------------------------------------------------------------------------------
    def unimodal(self, modality: str) -> DualBranchResNet:
        """A fresh single-branch model (branch + its FC) with this model's recipe, for unimodal pre-training."""
        if modality not in self.modalities:
            raise KeyError(f"modality '{modality}' is not one of {self.modalities}")
        return DualBranchResNet(replace(self.cfg, modalities=[modality]))

    def load_unimodal(self, state_dicts: Mapping[str, Mapping[str, Tensor]]) -> list[str]:
        """Initialise branches (and their FCs) from unimodal models' state dicts, keyed by modality.

        Each state dict is that of `self.unimodal(m)` after training; keys are matched exactly (strict), so a
        checkpoint of another architecture or width fails loudly. Returns the loaded parameter names.
        """
        unknown = set(state_dicts) - set(self.modalities)
        if unknown:
            raise KeyError(f"no branch for modalities {sorted(unknown)} (branches: {self.modalities})")
        loaded: list[str] = []
        for m, state in state_dicts.items():
            for prefix, module in ((f"branches.{m}.", self.branches[m]), (f"branch_heads.{m}.", self.branch_heads[m])):
                sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
                if not sub:
                    raise KeyError(
                        f"state dict for '{m}' has no '{prefix}*' entries: is it a unimodal "
                        f"dual-branch checkpoint of modality '{m}'?"
                    )
                module.load_state_dict(sub, strict=True)
                loaded.extend(prefix + k for k in sub)
        return loaded


def _create_dualbranch(cfg: Mapping[str, Any], **arch_args: Any) -> DualBranchResNet:
    clash = {k for k in arch_args if k in cfg and cfg[k] != arch_args[k]}
    if clash:
        raise ValueError(f"{sorted(clash)} fixed by this entry point ({arch_args}); use 'dualbranch_resnet' instead")
    return DualBranchResNet(config_of(DualBranchCfg, {**cfg, **arch_args}, "dual-branch"))


@MODELS.register("dualbranch_resnet")
def dualbranch_resnet(**cfg: Any) -> DualBranchResNet:
    """Dual-branch model on any timm ResNet (`arch`), at any `width`."""
    return _create_dualbranch(cfg)


@MODELS.register("dualbranch_resnet18")
def dualbranch_resnet18(**cfg: Any) -> DualBranchResNet:
    """Dual-branch ResNet18 layout (BasicBlock, 2-2-2-2)."""
    return _create_dualbranch(cfg, arch="resnet18")


@MODELS.register("dualbranch_resnet34")
def dualbranch_resnet34(**cfg: Any) -> DualBranchResNet:
    """Dual-branch ResNet34 layout (BasicBlock, 3-4-6-3)."""
    return _create_dualbranch(cfg, arch="resnet34")


@MODELS.register("dualbranch_resnet50")
def dualbranch_resnet50(**cfg: Any) -> DualBranchResNet:
    """The paper's dual-branch ResNet50 (Bottleneck, 3-4-6-3)."""
    return _create_dualbranch(cfg, arch="resnet50")
