"""Any timm image model as a feature encoder returning `ModalityFeatures`.

Built with `features_only=True`, so every timm family (CNNs, ViTs, Swin) yields NCHW maps of the last
stage (tokens for attention fusion, TMM-Net stage 3) and optionally earlier stages (levels for
hierarchical fusion). `width` scales a CNN's channel widths for CPU-scale runs of the same topology
(e.g. ResNet50 at 1/4 width); it is recorded in the run's metadata and table labels. `stem="cifar"` replaces
a ResNet's 7x7 stride-2 conv and max-pool by one 3x3 stride-1 conv (the 28-px ResNet-18 of MedMNIST v2), so
a 28-32 px image is not reduced 4x before stage 1. `memory_format="channels_last"` runs the backbone in
NHWC (weights and inputs), where oneDNN has faster CPU kernels for some families (bench/cpu_kernels.py);
the maps it returns have the same shape and values up to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import timm
import torch
from torch import Tensor, nn

from mmdiag.config.sections import IMAGE_STEMS, MEMORY_FORMATS
from mmdiag.errors import ConfigError
from mmdiag.models.encoders.pretrained import PretrainedStatus, with_pretrained
from mmdiag.models.features import ModalityFeatures
from mmdiag.registry import ENCODERS


def _width_kwargs(model_name: str, width: float) -> dict[str, Any]:
    """Family-specific kwargs that scale channel widths by `width` (topology unchanged)."""
    if model_name.startswith(("resnet", "resnext", "wide_resnet")):
        return {"channels": tuple(max(8, int(c * width)) for c in (64, 128, 256, 512))}
    if model_name.startswith("densenet"):
        return {"growth_rate": max(4, int(32 * width))}
    if model_name.startswith("vgg"):
        return {}  # handled in _create_vgg_scaled
    raise ValueError(f"width scaling is not defined for '{model_name}' (resnet*, densenet*, vgg*)")


def _create_vgg_scaled(model_name: str, width: float, **kwargs: Any) -> nn.Module:
    """timm's VGG with every conv width scaled (timm's entry points fix the layer config)."""
    from timm.models import vgg
    from timm.models._builder import build_model_with_cfg

    cfg = [c if c == "M" else max(8, int(c * width)) for c in vgg.cfgs[model_name.split("_")[0]]]
    out_indices = kwargs.pop("out_indices", (0, 1, 2, 3, 4, 5))
    return build_model_with_cfg(
        vgg.VGG,
        model_name,
        False,
        model_cfg=cfg,
        feature_cfg=dict(flatten_sequential=True, out_indices=out_indices),
        **kwargs,
    )


def _cifar_stem(body: nn.Module, model_name: str) -> None:
    """Replace `body`'s stem by a 3x3 stride-1 conv (new weights) and drop its max-pool, in place.

    Created after the backbone (and after any pretrained weights are loaded), so a default-stem model draws
    the same random numbers as before this option existed.
    """
    conv = getattr(body, "conv1", None)
    if not isinstance(conv, nn.Conv2d) or not hasattr(body, "maxpool"):
        raise ConfigError(
            f"stem 'cifar' needs a timm ResNet with a one-conv stem (conv1 + maxpool: resnet18/34/50, resnext, "
            f"wide_resnet), not '{model_name}'; use stem: default for it"
        )
    body.conv1 = nn.Conv2d(conv.in_channels, conv.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    body.maxpool = nn.Identity()
    for info in body.feature_info.info:  # strides of the maps after the stem: 4x smaller than timm's
        info["reduction"] = max(1, info["reduction"] // 4)


class TimmImageEncoder(nn.Module):
    """A timm backbone whose last-stage map becomes pooled vector + tokens (+ levels)."""

    def __init__(
        self,
        model_name: str,
        in_chans: int = 3,
        pretrained: str = "off",
        pretrained_file: str | None = None,
        width: float | None = None,
        num_levels: int = 1,
        model_kwargs: dict[str, Any] | None = None,
        stem: str = "default",
        memory_format: str = "contiguous",
    ) -> None:
        super().__init__()
        if stem not in IMAGE_STEMS:
            raise ConfigError(f"stem {stem!r} is not one of {IMAGE_STEMS}")
        if memory_format not in MEMORY_FORMATS:
            raise ConfigError(f"memory_format {memory_format!r} is not one of {MEMORY_FORMATS}")
        # out_indices=n: the last n stages, whatever the family's stage count (ViT: the last n blocks).
        common: dict[str, Any] = dict(
            features_only=True, out_indices=num_levels, in_chans=in_chans, **(model_kwargs or {})
        )
        if width is not None and width != 1.0:
            common.update(_width_kwargs(model_name, width))

        def scratch() -> nn.Module:
            if width is not None and width != 1.0 and model_name.startswith("vgg"):
                return _create_vgg_scaled(model_name, width, **common)
            return timm.create_model(model_name, pretrained=False, **common)

        def load() -> nn.Module:
            if width is not None and width != 1.0:
                raise ValueError("no pretrained weights exist for width-scaled models")
            overlay = {"file": pretrained_file} if pretrained_file else None
            return timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=overlay, **common)

        self.body, self.pretrained_status = with_pretrained(pretrained, pretrained_file or model_name, load, scratch)
        if stem == "cifar":  # a pretrained model keeps every weight but the stem conv's
            _cifar_stem(self.body, model_name)
        self.num_levels = num_levels
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.num_features = self.channels[-1]
        self.level_dims = self.channels
        self.model_name = model_name
        self.channels_last = memory_format == "channels_last"
        if self.channels_last:
            self.body.to(memory_format=torch.channels_last)

    def _input(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    def forward(self, x: Tensor) -> ModalityFeatures:
        x = self._input(x)
        maps = [_to_nchw(m, c) for m, c in zip(self.body(x)[-self.num_levels :], self.channels)]
        last = maps[-1]
        h, w = last.shape[-2:]
        tokens = last.flatten(2).transpose(1, 2)
        return ModalityFeatures(
            pooled=tokens.mean(1),
            tokens=tokens,
            levels=[m.mean((2, 3)) for m in maps] if len(maps) > 1 else None,
            grid=(h, w),
        )

    def feature_map(self, x: Tensor) -> Tensor:
        """Last-stage NCHW map (Grad-CAM / attention heat maps hook here)."""
        return _to_nchw(self.body(self._input(x))[-1], self.channels[-1])


def _to_nchw(x: Tensor, channels: int) -> Tensor:
    """timm's Swin features are NHWC; everything downstream expects NCHW."""
    if x.ndim == 4 and x.shape[1] != channels and x.shape[-1] == channels:
        return x.permute(0, 3, 1, 2).contiguous()
    return x


@ENCODERS.register("timm")
def create_timm_encoder(model_name: str, **kwargs: Any) -> TimmImageEncoder:
    return TimmImageEncoder(model_name, **kwargs)


def pretrained_report(encoders: Sequence[nn.Module]) -> list[dict[str, Any]]:
    """Pretrained status of every encoder that has one (for the run metadata)."""
    return [
        e.pretrained_status.to_json()
        for e in encoders
        if isinstance(getattr(e, "pretrained_status", None), PretrainedStatus)
    ]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
