"""Hugging Face text towers offline: a tiny local BERT (made here, no hub) under each `pretrained` policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmdiag.errors import ConfigError
from mmdiag.models.encoders import create_text_encoder
from mmdiag.models.encoders.char_text import CharTransformerEncoder
from mmdiag.models.encoders.hf_text import HFTextEncoder

CHARS = ["", "", *"abcdefghijklmnopqrstuvwxyz .,"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("tinybert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS[2:]]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(root / "vocab.txt")).save_pretrained(root)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(root)
    return root


def _ids(text: str) -> torch.Tensor:
    lut = {c: i for i, c in enumerate(CHARS) if c}
    return torch.tensor([[lut[c] for c in text] + [0] * 3])


def _cfg(name: str, policy: str) -> dict:
    return {"type": "hf", "model_name": name, "pretrained": policy, "max_tokens": 32, "dim": 16, "depth": 1, "heads": 2}


def test_required_loads_local_weights(tiny_bert: Path) -> None:
    enc = create_text_encoder(_cfg(str(tiny_bert), "required"), len(CHARS), 40, CHARS)
    assert isinstance(enc, HFTextEncoder) and enc.pretrained_status.loaded
    assert enc.decode(_ids("a cat.")) == ["a cat."]
    f = enc(_ids("a cat."))
    assert f.pooled.shape == (1, 32) and len(f.levels) == 2
    from transformers import BertModel

    ref = BertModel.from_pretrained(tiny_bert)
    assert torch.equal(enc.model.embeddings.word_embeddings.weight, ref.embeddings.word_embeddings.weight)


def test_off_uses_config_only(tiny_bert: Path) -> None:
    enc = create_text_encoder(_cfg(str(tiny_bert), "off"), len(CHARS), 40, CHARS)
    assert isinstance(enc, HFTextEncoder) and not enc.pretrained_status.loaded


def test_preferred_falls_back_to_char_transformer_when_nothing_is_cached(tmp_path: Path) -> None:
    enc = create_text_encoder(_cfg(str(tmp_path / "no-such-model"), "preferred"), len(CHARS), 40, CHARS)
    assert isinstance(enc, CharTransformerEncoder)
    assert "using the character Transformer instead" in enc.pretrained_status.message
    assert enc(_ids("abc")).pooled.shape == (1, 16)


def test_required_missing_model_stops(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="could not be built offline"):
        create_text_encoder(_cfg(str(tmp_path / "no-such-model"), "required"), len(CHARS), 40, CHARS)
