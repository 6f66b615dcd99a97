"""Text-encoder families are registered like every other component: each declares the config keys it reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmdiag.models.encoders import create_text_encoder
from mmdiag.models.encoders.char_text import CharTransformerEncoder
from mmdiag.registry import TEXT_ENCODERS

CHARS = ["", "", *"abcdefghij "]
# An entry as the validated config gives it: every family's keys filled, whichever family it names.
EVERY_KEY = {
    "description": "",
    "dim": 16,
    "depth": 1,
    "heads": 2,
    "mlp_ratio": 2.0,
    "dropout": 0.0,
    "downsample": 1,
    "width": 8,
    "kernels": [3],
    "pretrained": "preferred",
    "max_tokens": 16,
}


def test_every_family_declares_its_config_keys() -> None:
    assert set(TEXT_ENCODERS.list()) == {"char_transformer", "char_cnn", "hf"}
    for kind in TEXT_ENCODERS.list():
        keys = TEXT_ENCODERS.info(kind)["config_keys"]
        assert keys and set(keys) <= {*EVERY_KEY, "model_name"}, kind


@pytest.mark.parametrize("kind", ["char_transformer", "char_cnn"])
def test_a_family_reads_only_its_own_keys(kind: str) -> None:
    enc = create_text_encoder({"type": kind, **EVERY_KEY}, len(CHARS), 20, CHARS)
    ids = torch.randint(1, len(CHARS), (3, 20))
    assert enc(ids).pooled.shape == (3, enc.num_features)


def test_hf_falls_back_with_the_character_transformer_keys(tmp_path: Path) -> None:
    cfg = {"type": "hf", **EVERY_KEY, "model_name": str(tmp_path / "no-such-model")}
    enc = create_text_encoder(cfg, len(CHARS), 20, CHARS)
    assert isinstance(enc, CharTransformerEncoder) and enc.num_features == 16 and len(enc.layers) == 1
    assert not enc.pretrained_status.loaded


def test_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: char_cnn, char_transformer, hf"):
        create_text_encoder({"type": "bert"}, 4, 8)
