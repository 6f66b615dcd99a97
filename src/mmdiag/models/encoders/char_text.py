"""TMM-Net's text encoder: a Transformer over the character corpus, trained from scratch.

Token embedding + learned positions, pre-norm encoder layers with a key-padding mask (the paper's
"spatial attention text mask" that keeps attention off the padding), masked mean pooling. Each
layer's pooled output is exposed as a level for hierarchical fusion.

`downsample` (our CPU-scale option, off = 1 in the paper preset): a strided 1-D convolution merges
every k characters into one token before the Transformer (as character-level models such as CANINE
do), cutting attention cost k^2-fold for reports of several hundred characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmdiag.models.features import ModalityFeatures
from mmdiag.registry import TEXT_ENCODERS


class CharTransformerEncoder(nn.Module):
    """Transformer encoder over corpus ids (0 = padding)."""

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        downsample: int = 1,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.downsample = int(downsample)
        self.merge = nn.Conv1d(dim, dim, self.downsample, stride=self.downsample) if self.downsample > 1 else None
        self.pos = nn.Parameter(torch.zeros(1, -(-max_length // self.downsample), dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout, batch_first=True, norm_first=True)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.num_features = dim
        self.level_dims = [dim] * depth
        self.pretrained_status = None

    def forward(self, ids: Tensor, mask: Tensor | None = None) -> ModalityFeatures:
        mask = ids != 0 if mask is None else mask
        x = self.embed(ids)
        if self.merge is not None:
            pad = (-ids.shape[1]) % self.downsample
            x = nn.functional.pad(x, (0, 0, 0, pad))
            mask = nn.functional.pad(mask, (0, pad))
            x = self.merge(x.transpose(1, 2)).transpose(1, 2)
            mask = mask.view(mask.shape[0], -1, self.downsample).any(-1)  # a token is real if any char is
        # A report of only padding would make attention NaN; keep its first position attendable.
        mask = mask.clone()
        mask[:, 0] = True
        x = x + self.pos[:, : x.shape[1]]
        levels = []
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=~mask)
            levels.append(_masked_mean(x, mask))
        x = self.norm(x)
        pooled = _masked_mean(x, mask)
        levels[-1] = pooled  # the deepest level is the final (normalised) representation
        return ModalityFeatures(pooled=pooled, tokens=x, mask=mask, levels=levels)


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    w = mask.unsqueeze(-1).to(x.dtype)
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


CHAR_TRANSFORMER_KEYS = ("dim", "depth", "heads", "mlp_ratio", "dropout", "downsample")


@TEXT_ENCODERS.register("char_transformer", config_keys=CHAR_TRANSFORMER_KEYS)
def create_char_transformer(
    vocab_size: int, max_length: int, id_to_char: Sequence[str] = (), **kwargs: Any
) -> CharTransformerEncoder:
    """The character Transformer; it reads the corpus ids as they are (`id_to_char` unused)."""
    return CharTransformerEncoder(vocab_size=vocab_size, max_length=max_length, **kwargs)


class CharCNNEncoder(nn.Module):
    """Character CNN with max-over-time pooling (Zhang et al. 2015; Kim 2014): our CPU-scale text tower.

    Why: trained from scratch on a few hundred reports, a character Transformer does not learn to read the
    attribute words (a probe reaches about 0.65 accuracy from the whole report, near the majority class),
    while parallel 1-D convolutions whose maxima fire on a word wherever it stands do (about 0.8, see
    docs/models.md). Tokens are the per-position conv features, so attention fusion can still read them.
    """

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        dim: int = 32,
        width: int = 64,
        kernels: tuple[int, ...] | list[int] = (3, 5, 7),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(dim, width, int(k), padding=int(k) // 2) for k in kernels)
        self.drop = nn.Dropout(dropout)
        self.num_features = width * len(self.convs)
        self.level_dims = [self.num_features]
        self.max_length = max_length
        self.pretrained_status = None

    def forward(self, ids: Tensor, mask: Tensor | None = None) -> ModalityFeatures:
        mask = ids != 0 if mask is None else mask
        x = self.embed(ids).transpose(1, 2)
        length = x.shape[-1]
        maps = torch.cat([torch.relu(conv(x))[..., :length] for conv in self.convs], dim=1)  # [B, C, L]
        valid = mask.clone()
        valid[:, 0] = True  # an empty report keeps one position, as in the Transformer
        pooled = self.drop(maps.masked_fill(~valid[:, None], float("-inf")).amax(-1))
        tokens = maps.transpose(1, 2)
        return ModalityFeatures(pooled=pooled, tokens=tokens, mask=valid, levels=[pooled])


@TEXT_ENCODERS.register("char_cnn", config_keys=("dim", "width", "kernels", "dropout"))
def create_char_cnn(vocab_size: int, max_length: int, id_to_char: Sequence[str] = (), **kwargs: Any) -> CharCNNEncoder:
    """The character CNN; it reads the corpus ids as they are (`id_to_char` unused)."""
    return CharCNNEncoder(vocab_size=vocab_size, max_length=max_length, **kwargs)
