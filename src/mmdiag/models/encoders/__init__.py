"""Image and text encoders, built by name from config (`create_image_encoder`, `create_text_encoder`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from mmdiag.config.sections import EncoderConfig, TextEncoderConfig
from mmdiag.models.encoders import char_text, hf_text, timm_image  # noqa: F401  (registration)
from mmdiag.registry import ENCODERS, TEXT_ENCODERS


def create_image_encoder(cfg: Mapping[str, Any], in_chans: int, num_levels: int = 1) -> nn.Module:
    """Build an image encoder from an `encoders.<name>` config entry."""
    kwargs = {k: v for k, v in cfg.items() if k not in {"type", "description"}}
    kind = cfg.get("type", EncoderConfig.type)  # a recipe built by hand (tests) may leave out its family
    return ENCODERS.create(kind, in_chans=in_chans, num_levels=num_levels, **kwargs)


def create_text_encoder(
    cfg: Mapping[str, Any], vocab_size: int, max_length: int, id_to_char: Sequence[str] | None = None
) -> nn.Module:
    """Build a text encoder from a `text_encoders.<name>` config entry.

    Every family registers the config keys it reads (`config_keys`) and takes the corpus facts: its
    vocabulary size, the report length and `id_to_char` (id -> character, so a Hugging Face tower can read
    the cached reports). The entry's other keys (the config schema lists every family's) are not passed.
    """
    kind = cfg.get("type", TextEncoderConfig.type)
    keys = TEXT_ENCODERS.info(kind)["config_keys"]
    own = {k: cfg[k] for k in keys if k in cfg}
    return TEXT_ENCODERS.create(
        kind, vocab_size=vocab_size, max_length=max_length, id_to_char=list(id_to_char or []), **own
    )
