"""Any Hugging Face text model (`transformers.AutoModel`) as the text tower, under the offline rules.

The preprocessing cache holds reports as corpus character ids (one cache for every text encoder); this
encoder decodes them back to strings (exact up to the corpus length and unknown characters) and tokenises
them with the model's own tokenizer per batch, so switching text towers never needs a new cache.

Weights and tokenizer come only from the local Hugging Face cache or a local folder (`model_name` may be a
path); with `HF_HUB_OFFLINE=1` (our default) nothing is downloaded:
- `required`: the pretrained weights must load, else the run stops with what to do;
- `preferred`: weights if cached; else a random init from the cached config; if not even the config and
  tokenizer are available, the project's character Transformer is used instead — said in one log line and
  recorded in the run's metadata (`pretrained_status`);
- `off`: random init from the (cached) config.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from mmdiag.errors import ConfigError
from mmdiag.models.encoders.char_text import CHAR_TRANSFORMER_KEYS, CharTransformerEncoder
from mmdiag.models.encoders.pretrained import POLICIES, PretrainedStatus
from mmdiag.models.features import ModalityFeatures
from mmdiag.registry import TEXT_ENCODERS

log = logging.getLogger(__name__)


class HFTextEncoder(nn.Module):
    """A transformers encoder over decoded reports; pooled = [CLS] (first token), levels = hidden states."""

    def __init__(
        self, model: nn.Module, tokenizer: Any, id_to_char: Sequence[str], max_tokens: int, status: PretrainedStatus
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.id_to_char = list(id_to_char)
        self.max_tokens = int(max_tokens)
        self.pretrained_status = status
        self.num_features = int(model.config.hidden_size)
        self.level_dims = [self.num_features] * int(model.config.num_hidden_layers)

    def decode(self, ids: Tensor) -> list[str]:
        """Corpus ids back to report strings (padding dropped, unknown characters as spaces)."""
        table = self.id_to_char
        return ["".join(table[i] if 0 <= i < len(table) else " " for i in row if i != 0) for row in ids.tolist()]

    def forward(self, ids: Tensor, mask: Tensor | None = None) -> ModalityFeatures:
        enc = self.tokenizer(
            self.decode(ids), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        enc = {k: v.to(ids.device) for k, v in enc.items()}
        out = self.model(**enc, output_hidden_states=True)
        hidden = out.last_hidden_state
        valid = enc["attention_mask"].bool()
        levels = [h[:, 0] for h in out.hidden_states[1:]]
        return ModalityFeatures(pooled=hidden[:, 0], tokens=hidden, mask=valid, levels=levels)


def _load(model_name: str, weights: bool) -> tuple[nn.Module, Any]:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_name)
    if weights:
        return AutoModel.from_pretrained(model_name), tokenizer
    return AutoModel.from_config(AutoConfig.from_pretrained(model_name)), tokenizer


# Its own keys, then the character Transformer's: the fallback's settings (`pretrained: preferred`).
@TEXT_ENCODERS.register("hf", config_keys=("model_name", "pretrained", "max_tokens", *CHAR_TRANSFORMER_KEYS))
def create_hf_text_encoder(
    vocab_size: int,
    max_length: int,
    id_to_char: Sequence[str],
    model_name: str | None = None,
    pretrained: str = "preferred",
    max_tokens: int = 128,
    **fallback: Any,
) -> nn.Module:
    """Build the HF text tower by the offline rules above (falls back to a char Transformer if allowed).

    `fallback`: the character Transformer's settings (`CHAR_TRANSFORMER_KEYS`) for that fall-back.
    """
    if pretrained not in POLICIES:
        raise ConfigError(f"pretrained: '{pretrained}' is not one of {', '.join(POLICIES)}")
    if not model_name:
        raise ConfigError("text encoder type hf needs model_name (a Hugging Face id or a local folder)")
    errors = []
    for weights in (True, False) if pretrained != "off" else (False,):
        if pretrained == "required" and not weights:
            break
        try:
            model, tokenizer = _load(model_name, weights)
        except Exception as exc:  # OSError / LocalEntryNotFoundError / ValueError from transformers
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
            continue
        message = "loaded" if weights else "random init from the cached config (no weights)"
        if not weights and pretrained == "preferred":
            log.warning("text encoder '%s': weights unavailable; %s", model_name, message)
        return HFTextEncoder(
            model, tokenizer, id_to_char, max_tokens, PretrainedStatus(pretrained, model_name, weights, message)
        )
    reason = "; ".join(errors)
    if pretrained != "preferred":
        raise ConfigError(
            f"text encoder '{model_name}' could not be built offline ({reason}); put the model in the local Hugging "
            "Face cache or give a local folder as model_name, or use pretrained: preferred"
        )
    msg = (
        f"text encoder '{model_name}' unavailable offline ({reason}); using the character Transformer instead "
        "(pretrained: preferred)"
    )
    log.warning(msg)
    enc = CharTransformerEncoder(vocab_size=vocab_size or len(id_to_char), max_length=max_length, **fallback)
    enc.pretrained_status = PretrainedStatus(pretrained, model_name, False, msg)
    return enc
