"""Fusion modules, one file per family; importing this package registers them all in `FUSIONS`.

Contract: `Fusion(in_dims, dim=256, dropout=0.0, **family_kwargs)`, `forward(feats) -> [B, out_dim]`,
attribute `out_dim`. Build by name with `mmdiag.registry.FUSIONS.create(name, in_dims=..., ...)`. Each family
declares what it takes (`mmdiag.models.fusion.base.FusionModule`: input counts, feature levels, tokens);
`fusion_class(name)` answers for a registered name before anything is built.
"""

from mmdiag.models.fusion import attention, concat, elementwise, gated, hierarchical  # noqa: F401  (registers)
from mmdiag.models.fusion.attention import AttentionFusion
from mmdiag.models.fusion.base import FusionModule
from mmdiag.models.fusion.concat import ConcatFusion
from mmdiag.models.fusion.elementwise import ElementwiseFusion
from mmdiag.models.fusion.gated import GatedFusion
from mmdiag.models.fusion.hierarchical import HierarchicalFusion
from mmdiag.registry import FUSIONS

__all__ = [
    "AttentionFusion",
    "ConcatFusion",
    "ElementwiseFusion",
    "FusionModule",
    "GatedFusion",
    "HierarchicalFusion",
    "fusion_class",
]


def fusion_class(name: str) -> type[FusionModule]:
    """The class the registered fusion `name` builds; its attributes say what inputs it takes."""
    return FUSIONS.info(name)["builds"]
