"""Image and text encoders, built by name from config (`create_image_encoder`, `create_text_encoder`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from mmdiag.models.encoders import char_text, hf_text, timm_image  # noqa: F401  (registration)
from mmdiag.registry import ENCODERS, TEXT_ENCODERS


def create_image_encoder(cfg: Mapping[str, Any], in_chans: int, num_levels: int = 1) -> nn.Module:
    """Build an image encoder from an `encoders.<name>` config entry."""
    kwargs = {k: v for k, v in cfg.items() if k not in {"type", "description"}}
    return ENCODERS.create(cfg.get("type", "timm"), in_chans=in_chans, num_levels=num_levels, **kwargs)


def create_text_encoder(
    cfg: Mapping[str, Any], vocab_size: int, max_length: int, id_to_char: Sequence[str] | None = None
) -> nn.Module:
    """Build a text encoder from a `text_encoders.<name>` config entry.

    `id_to_char` (the corpus, id -> character) lets a Hugging Face tower read the cached reports.
    """
    kind = cfg.get("type", "char_transformer")
    keys = TEXT_ENCODER_KEYS.get(kind)
    kwargs = {k: v for k, v in cfg.items() if k not in {"type", "description"} and (keys is None or k in keys)}
    if kind in ("char_transformer", "char_cnn"):
        kwargs.update(vocab_size=vocab_size, max_length=max_length)
    elif kind == "hf":
        char_keys = TEXT_ENCODER_KEYS["char_transformer"]
        kwargs.update(
            id_to_char=list(id_to_char or []),
            max_length=max_length,
            vocab_size=vocab_size,
            fallback={k: v for k, v in cfg.items() if k in char_keys},
        )
    return TEXT_ENCODERS.create(kind, **kwargs)


# Config keys each text-encoder family reads (the config schema lists the union of all families).
TEXT_ENCODER_KEYS: dict[str, set[str]] = {
    "char_transformer": {"dim", "depth", "heads", "mlp_ratio", "dropout", "downsample"},
    "char_cnn": {"dim", "width", "kernels", "dropout"},
    "hf": {"model_name", "pretrained", "max_tokens"},
}
