"""Classification heads, one file per family; importing this package registers them all in `HEADS`.

Contract: `Head(in_dim, num_classes, hidden=256, dropout=0.0, **kw)`, `forward(x) -> dict` with
`logits` [B, num_classes] and, for heads with an auxiliary objective, scalar `*_loss` terms that the
engine adds to the training loss.
"""

from mmdiag.models.heads import attention_pool, kan, mlp, moe, residual  # noqa: F401  (registers)
from mmdiag.models.heads.attention_pool import AttentionPoolHead
from mmdiag.models.heads.kan import KanHead
from mmdiag.models.heads.mlp import MlpHead
from mmdiag.models.heads.moe import MoEHead
from mmdiag.models.heads.residual import ResidualMlpHead

__all__ = ["AttentionPoolHead", "KanHead", "MlpHead", "MoEHead", "ResidualMlpHead"]
