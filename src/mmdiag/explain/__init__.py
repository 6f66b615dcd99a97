"""Explanations of trained models: Grad-CAM heat maps (the hybrid Swin paper's localisation module)."""

from mmdiag.explain.gradcam import gradcam_maps, overlay

__all__ = ["gradcam_maps", "overlay"]
