"""Fusion modules, one file per family; importing this package registers them all in `FUSIONS`.

Contract: `Fusion(in_dims, dim=256, dropout=0.0, **family_kwargs)`, `forward(feats) -> [B, out_dim]`,
attribute `out_dim`. Build by name with `mmdiag.registry.FUSIONS.create(name, in_dims=..., ...)`.
"""

from mmdiag.models.fusion import attention, concat, elementwise, gated, hierarchical  # noqa: F401  (registers)
from mmdiag.models.fusion.attention import AttentionFusion
from mmdiag.models.fusion.concat import ConcatFusion
from mmdiag.models.fusion.elementwise import ElementwiseFusion
from mmdiag.models.fusion.gated import GatedFusion
from mmdiag.models.fusion.hierarchical import HierarchicalFusion

__all__ = ["AttentionFusion", "ConcatFusion", "ElementwiseFusion", "GatedFusion", "HierarchicalFusion"]
