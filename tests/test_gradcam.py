"""Grad-CAM through `pytorch_grad_cam` on batch-dict models: equals CAM for a GAP + linear head, per-class maps,
predicted-class default, training mode restored; and the overlay for figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdiag.explain import gradcam_maps, overlay
from mmdiag.models.dualbranch import DualBranchResNet
from mmdiag.models.tmmnet import tmmnet
from mmdiag.registry import MODELS

torch.set_num_threads(1)

B, S, NUM_CLASSES = 4, 32, 3


def _batch() -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    return {"images": {"eus": torch.randn(B, 1, S, S, generator=g), "wle": torch.randn(B, 3, S, S, generator=g)}}


def _dualbranch() -> DualBranchResNet:
    torch.manual_seed(0)
    return MODELS.create(
        "dualbranch_resnet18",
        modalities=["eus", "wle"],
        num_classes=NUM_CLASSES,
        in_chans={"eus": 1, "wle": 3},
        width=0.125,
    )


def _cam_reference(model: DualBranchResNet, batch: dict[str, Any], modality: str, classes: list[int]) -> np.ndarray:
    """Class activation map (Zhou et al. 2016): with GAP then a linear layer, Grad-CAM's channel weights are the
    FC weights / N, so its map is ReLU(sum_c w_kc A_c), min-max scaled, resized to the input and scaled again."""
    model.eval()
    with torch.no_grad():
        maps = model.forward_features(batch)["maps"][modality]  # γ = 0: the branch's own layer4 output
        col = model.modalities.index(modality) * model.num_features
        w = model.head.weight[classes, col : col + model.num_features]  # [B, C]
        cam = _minmax(F.relu(torch.einsum("bc,bchw->bhw", w, maps)))
        return _minmax(F.interpolate(cam[:, None], size=(S, S), mode="bilinear", align_corners=False)[:, 0]).numpy()


def _minmax(cam: torch.Tensor) -> torch.Tensor:
    cam = cam - cam.flatten(1).amin(1)[:, None, None]
    return cam / (1e-7 + cam.flatten(1).amax(1)[:, None, None])


def test_matches_cam_on_gap_linear_model() -> None:
    model, batch = _dualbranch(), _batch()
    classes = [0, 1, 2, 1]
    maps = gradcam_maps(model, batch, "branches.wle.layer4", "wle", class_index=classes)
    assert maps.shape == (B, S, S) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0
    np.testing.assert_allclose(maps, _cam_reference(model, batch, "wle", classes), atol=1e-4)


def test_classes_give_different_maps_and_default_is_prediction() -> None:
    model, batch = _dualbranch(), _batch()
    layer = model.branches["eus"].layer4
    per_class = [gradcam_maps(model, batch, layer, "eus", class_index=k) for k in range(NUM_CLASSES)]
    assert any(m.max() > 0 for m in per_class)
    assert not np.allclose(per_class[0], per_class[1]) or not np.allclose(per_class[1], per_class[2])
    with torch.no_grad():
        predicted = model.eval()(batch)["logits"].argmax(1).tolist()
    np.testing.assert_allclose(
        gradcam_maps(model, batch, layer, "eus"),
        gradcam_maps(model, batch, layer, "eus", class_index=predicted),
        atol=1e-6,
    )


def test_restores_training_mode_and_leaves_no_hooks() -> None:
    model, batch = _dualbranch(), _batch()
    model.train()
    gradcam_maps(model, batch, "branches.eus.layer3", "eus", class_index=0)
    assert model.training
    assert not model.branches["eus"].layer3._forward_hooks
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="2 class indices for a batch of 4"):
        gradcam_maps(model, batch, "branches.eus.layer3", "eus", class_index=[0, 1])


def test_tmmnet_with_timm_encoder() -> None:
    """Any registry model works: TMM-Net's timm ResNet encoder (layer3 is a 2x2 map at 32 px)."""
    torch.manual_seed(0)
    model = tmmnet(
        modalities=["eus", "wle"],
        num_classes=2,
        in_chans={"eus": 1, "wle": 3},
        encoder={"model_name": "resnet18", "width": 0.125, "pretrained": "off"},
    )
    batch = _batch()
    maps = [gradcam_maps(model, batch, "image.eus.body.layer3", "eus", class_index=k) for k in range(2)]
    assert all(m.shape == (B, S, S) and np.isfinite(m).all() for m in maps)
    assert not np.allclose(maps[0], maps[1])


def test_overlay() -> None:
    cam = np.linspace(0, 1, S * S, dtype=np.float32).reshape(S, S)
    grey = np.full((S, S), 0.5, dtype=np.float32)
    out = overlay(grey, cam)
    assert out.shape == (S, S, 3) and out.dtype == np.uint8
    # jet: low values blue, high values red
    assert out[0, 0, 2] > out[0, 0, 0] and out[-1, -1, 0] > out[-1, -1, 2]
    rgb = overlay((np.random.default_rng(0).random((S, S, 3)) * 255).astype(np.uint8), cam, image_weight=1.0)
    assert rgb.shape == (S, S, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlay(grey * 4, cam)
    with pytest.raises(ValueError, match="differ in size"):
        overlay(grey[:8], cam)
