"""Grad-CAM heat maps (Selvaraju et al. 2017) through `pytorch_grad_cam`, for models that take a batch dict.

The hybrid Swin paper (§1, METHODS.md §4) uses Grad-CAM to localise lesions. `pytorch_grad_cam` expects a
model mapping one image tensor to logits; ours map a batch dict (several modalities) to a dict of outputs.
`ModalityLogits` adapts one to the other: it feeds the image tensor of one modality and holds the rest of
the batch fixed, so the map explains that modality's contribution to the (fused) prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import Tensor, nn


class ModalityLogits(nn.Module):
    """`model` seen as image-of-one-modality -> logits, the rest of `batch` held fixed."""

    def __init__(self, model: nn.Module, batch: Mapping[str, Any], modality: str, output_key: str = "logits") -> None:
        super().__init__()
        self.model = model
        self.batch = batch
        self.modality = modality
        self.output_key = output_key

    def forward(self, x: Tensor) -> Tensor:
        images = {**self.batch["images"], self.modality: x}
        return self.model({**self.batch, "images": images})[self.output_key]


def gradcam_maps(
    model: nn.Module,
    batch: Mapping[str, Any],
    target_layer: nn.Module | str,
    modality: str,
    class_index: int | Sequence[int] | None = None,
    output_key: str = "logits",
) -> np.ndarray:
    """Grad-CAM of `target_layer` for every sample of `batch`, at the input resolution of `modality`.

    Args:
        model: a model taking a batch dict and returning a dict with `output_key`.
        batch: the batch, on the model's device.
        target_layer: the module whose activations are weighted (or its dotted name in `model`), e.g. the last
            stage of one branch (`branches.<modality>.layer4`).
        modality: which image of the batch is explained.
        class_index: one class for all samples, one per sample, or None for each sample's predicted class.
        output_key: the output holding the logits.

    Returns:
        float32 [B, H, W], each map min-max scaled to [0, 1] (all zero where no evidence is positive).
    """
    layer = model.get_submodule(target_layer) if isinstance(target_layer, str) else target_layer
    x = batch["images"][modality]
    if class_index is None:
        targets = None
    else:
        classes = [class_index] * x.shape[0] if isinstance(class_index, int) else list(class_index)
        if len(classes) != x.shape[0]:
            raise ValueError(f"{len(classes)} class indices for a batch of {x.shape[0]}")
        targets = [ClassifierOutputTarget(int(c)) for c in classes]
    was_training = model.training  # GradCAM switches the model to eval mode; give it back as it came
    try:
        with torch.enable_grad(), GradCAM(ModalityLogits(model, batch, modality, output_key), [layer]) as cam:
            maps = cam(input_tensor=x, targets=targets)
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return np.asarray(maps, dtype=np.float32)


def overlay(image: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """Blend a heat map (jet colour map) over an image for figures.

    Args:
        image: [H, W], [H, W, 1] or [H, W, 3]; uint8, or float in [0, 1] (de-normalise model inputs first).
        cam: [H, W] in [0, 1], e.g. one map of `gradcam_maps`.
        image_weight: share of the image in the blend.

    Returns:
        uint8 [H, W, 3] RGB.
    """
    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3):
        raise ValueError(f"image must be [H, W], [H, W, 1] or [H, W, 3], got shape {image.shape}")
    if img.shape[:2] != cam.shape:
        raise ValueError(f"image {img.shape[:2]} and cam {cam.shape} differ in size")
    if img.min() < 0.0 or img.max() > 1.0:
        raise ValueError("float images must be in [0, 1]; de-normalise them first")
    rgb = np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img
    return show_cam_on_image(rgb, np.clip(cam, 0.0, 1.0).astype(np.float32), use_rgb=True, image_weight=image_weight)
