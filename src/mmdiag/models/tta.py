"""Test-time augmentation: average the softmax over geometric views (fusion paper eq. 29-30).

p(y|x) = 1/N sum_i softmax(f(T_i(x))). Every image modality of a case gets the same transform, so
paired views (e.g. EUS and WLE, or image and ROI) stay consistent; text is untouched (it is not in
`images`; the caller's `predict_fn` closes over it). Views keep the input size: `center_crop` crops
the central `crop_fraction` of each side and resizes back (bilinear), and `rot90` on a non-square
image is resized back to H x W, so a fixed-size model sees what it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

TTA_TRANSFORMS = ("identity", "hflip", "vflip", "rot90", "center_crop")


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def tta_view(x: Tensor, name: str, crop_fraction: float = 0.875) -> Tensor:
    """One named view of images `x` [B, C, H, W], same size as `x`."""
    size = (int(x.shape[-2]), int(x.shape[-1]))
    if name == "identity":
        return x
    if name == "hflip":
        return x.flip(-1)
    if name == "vflip":
        return x.flip(-2)
    if name == "rot90":
        return _resize(torch.rot90(x, 1, dims=(-2, -1)), size)
    if name == "center_crop":
        h, w = (max(1, round(s * crop_fraction)) for s in size)
        top, left = (size[0] - h) // 2, (size[1] - w) // 2
        return _resize(x[..., top : top + h, left : left + w], size)
    raise ValueError(f"unknown TTA transform {name!r}; known: {', '.join(TTA_TRANSFORMS)}")


def tta_predict(
    predict_fn: Callable[[dict[str, Tensor]], Tensor],
    images: dict[str, Tensor],
    transforms: Sequence[str] = ("identity", "hflip", "rot90", "center_crop"),
    crop_fraction: float = 0.875,
) -> Tensor:
    """Mean softmax [B, K] of `predict_fn` (which returns logits) over the views in `transforms`.

    Runs under `torch.no_grad()`: TTA is an inference procedure.
    """
    if not transforms:
        raise ValueError("transforms is empty: give at least one view (e.g. 'identity')")
    unknown = [t for t in transforms if t not in TTA_TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown TTA transform(s) {unknown}; known: {', '.join(TTA_TRANSFORMS)}")
    if not 0.0 < crop_fraction <= 1.0:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
    total: Tensor | None = None
    with torch.no_grad():
        for name in transforms:
            views = {modality: tta_view(x, name, crop_fraction) for modality, x in images.items()}
            probs = predict_fn(views).float().softmax(dim=-1)
            total = probs if total is None else total + probs
    assert total is not None
    return total / len(transforms)
