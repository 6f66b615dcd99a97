"""TMM-Net: text-guided multimodal diagnosis (Fan, Gong, Zheng; Acta Electronica Sinica 2024).

Paper: `papers/tmmnet_text_guided_multimodal_gist.txt`; summary: METHODS.md §1.

One class covers every arm of the paper's Tables 1-3, by switches (no copy-pasted variants):
- `modalities`: one image encoder per modality (EUS, WLE, or both);
- `stage1` — feature-level guidance (§3.1, Algorithm 1): image and report embeddings aligned with a
  CLIP loss per modality;
- `stage2` — prototype-level guidance (§3.2): one two-FC-layer stream per attribute on the image
  features (image prototypes) and on the text features (text prototypes), a K x K prototype
  matching matrix per sample (6x6 EUS, 5x5 WLE) with the diagonal as target, and an attribute
  classifier on each image prototype — its probabilities are the model's interpretable output;
- `attention` — stage 3 (§3.3): a 1x1 conv over [feature map ; broadcast prototypes], then
  bidirectional cross-modal attention (EUS queries over WLE keys/values and the reverse), fused
  and classified. Without it, the pooled features (and prototypes) are fused directly ("direct
  multimodal fusion" of Table 3) with a registered fusion module and head.
- `attributes` (ours, for the "attributes, no text" ablation) — the image prototype streams and their
  attribute classifiers of stage 2, trained from attribute labels alone: no text tower, no prototype
  matching. `stage2` implies it.
- `missing_token` (ours) — a learned per-modality feature replaces the features of a modality a sample
  does not have (`batch["present"]`), so cases with one modality missing train and predict.
Inference needs images only: the text tower runs only when a text loss is active.

Our choices where the paper is silent, also listed in docs/models.md:
- embeddings are linear projections to `embed_dim` with a learnable CLIP temperature (the paper's
  pseudo-code L2-normalises features of different widths, which needs a projection);
- same-case pairs in a batch are positives, not negatives (multi-positive targets);
- the prototype matching CE is symmetric over rows and columns, with its own temperature;
- the attribute classifiers use softmax CE (each attribute is multi-class);
- the text tower of modality m reads report section `report.<m>` when the data has it (T_EUS /
  T_WLE of Algorithm 1), else the whole report; each modality has its own copy of the text
  encoder because stage 1 runs as one job per modality;
- direct fusion concatenates each modality's pooled feature and, with stage 2, its prototypes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdiag.config.sections import ArmConfig, TmmnetConfig
from mmdiag.models.encoders import create_image_encoder, create_text_encoder
from mmdiag.models.features import ModalityFeatures, case_rows
from mmdiag.models.spec import config_of
from mmdiag.registry import FUSIONS, HEADS, MODELS

TEXT_TERMS = frozenset({"clip", "proto"})


@dataclass
class TMMNetCfg:
    """Architecture switches and sizes (keys of an arm's `model` config)."""

    modalities: list[str]
    num_classes: int
    in_chans: dict[str, int]
    attribute_sizes: dict[str, list[int]] = field(default_factory=dict)
    encoder: dict[str, Any] = field(default_factory=dict)  # image encoder config (shared recipe, own weights)
    text_encoder: dict[str, Any] = field(default_factory=dict)
    vocab_size: int = 0
    text_length: int = 0
    id_to_char: list[str] = field(default_factory=list)  # corpus id -> character (Hugging Face text towers)
    stage1: bool = ArmConfig.stage1  # the arm switches (`tmmnet.arms.<arm>`)
    stage2: bool = ArmConfig.stage2
    attention: bool = ArmConfig.attention
    attributes: bool = ArmConfig.attributes  # attribute heads without text (implied by stage2)
    missing_token: bool = False  # learned stand-in features for an absent modality
    image_size: int = 0  # input side in pixels; > 0 lets stage 3 check its attention grid at build time
    encoder_label: str = ""  # recipe name for messages
    embed_dim: int = TmmnetConfig.embed_dim  # CLIP embedding width; these defaults are the `tmmnet` section's
    proto_dim: int = TmmnetConfig.proto_dim  # width of one attribute prototype
    attn_dim: int = TmmnetConfig.attn_dim  # d_k = d_v of the cross-modal attention
    attn_heads: int = TmmnetConfig.attn_heads  # the paper describes single-head attention
    fusion: str = TmmnetConfig.fusion
    fusion_kwargs: dict[str, Any] = field(default_factory=dict)
    head: str = TmmnetConfig.head
    head_kwargs: dict[str, Any] = field(default_factory=dict)
    dropout: float = TmmnetConfig.dropout
    text_sections: dict[str, str] = field(default_factory=dict)  # modality -> report column


class PrototypeStreams(nn.Module):
    """K parallel two-FC-layer streams mapping a feature vector to K prototypes [B, K, P]."""

    def __init__(self, in_dim: int, num_streams: int, proto_dim: int) -> None:
        super().__init__()
        hidden = max(proto_dim, in_dim // 2)
        # Grouped as batched matmuls: one weight tensor per layer holds all K streams.
        self.w1 = nn.Parameter(torch.empty(num_streams, in_dim, hidden))
        self.b1 = nn.Parameter(torch.zeros(num_streams, hidden))
        self.w2 = nn.Parameter(torch.empty(num_streams, hidden, proto_dim))
        self.b2 = nn.Parameter(torch.zeros(num_streams, proto_dim))
        for w in (self.w1, self.w2):
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))

    def forward(self, x: Tensor) -> Tensor:
        h = F.gelu(torch.einsum("bd,kdh->bkh", x, self.w1) + self.b1)
        return torch.einsum("bkh,khp->bkp", h, self.w2) + self.b2


class AttributeClassifiers(nn.Module):
    """One linear classifier per image prototype (attribute k has n_k values)."""

    def __init__(self, proto_dim: int, sizes: Sequence[int]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(proto_dim, n) for n in sizes)

    def forward(self, protos: Tensor) -> list[Tensor]:
        return [head(protos[:, k]) for k, head in enumerate(self.heads)]


class CrossModalAttention(nn.Module):
    """Stage 3: prototype-weighted maps (1x1 conv) and bidirectional cross-modal attention."""

    def __init__(self, in_dims: Sequence[int], proto_dims: Sequence[int], attn_dim: int, heads: int) -> None:
        super().__init__()
        if len(in_dims) != 2:
            raise ValueError(f"cross-modal attention needs exactly 2 modalities, got {len(in_dims)}")
        # A 1x1 conv on a flattened H*W grid is a Linear over channels; output width C_I + sum C_P (eq. 6).
        self.weigh = nn.ModuleList(nn.Linear(c + p, c + p) for c, p in zip(in_dims, proto_dims))
        self.q = nn.ModuleList(nn.Linear(c + p, attn_dim) for c, p in zip(in_dims, proto_dims))
        self.k = nn.ModuleList(nn.Linear(c + p, attn_dim) for c, p in zip(in_dims, proto_dims))
        self.v = nn.ModuleList(nn.Linear(c + p, attn_dim) for c, p in zip(in_dims, proto_dims))
        self.heads = heads
        self.out_dim = 2 * attn_dim

    def forward(self, tokens: Sequence[Tensor], protos: Sequence[Tensor | None]) -> tuple[Tensor, list[Tensor]]:
        weighted = []
        for i, (t, p) in enumerate(zip(tokens, protos)):
            if p is not None:  # broadcast the flattened prototypes over the spatial grid
                t = torch.cat([t, p.flatten(1).unsqueeze(1).expand(-1, t.shape[1], -1)], dim=-1)
            weighted.append(self.weigh[i](t))
        q = [self._split(self.q[i](w)) for i, w in enumerate(weighted)]
        k = [self._split(self.k[i](w)) for i, w in enumerate(weighted)]
        v = [self._split(self.v[i](w)) for i, w in enumerate(weighted)]
        c_e = F.scaled_dot_product_attention(q[0], k[1], v[1])  # EUS queries over WLE (C_E)
        c_w = F.scaled_dot_product_attention(q[1], k[0], v[0])  # WLE queries over EUS (C_W)
        c_e, c_w = self._merge(c_e), self._merge(c_w)
        return torch.cat([c_e.mean(1), c_w.mean(1)], dim=-1), [c_e, c_w]

    def _split(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def _merge(self, x: Tensor) -> Tensor:
        b, h, n, d = x.shape
        return x.transpose(1, 2).reshape(b, n, h * d)


MIN_ATTENTION_GRID = 4  # tokens: stage 3 over fewer than 2x2 positions is a linear map, not attention


def check_attention_grid(encoder: nn.Module, in_chans: int, size: int, label: str) -> tuple[int, int]:
    """The encoder's last-stage grid at `size` px; an error when it is smaller than 2x2.

    A stride-32 CNN at 32 px gives a 1x1 map: "attention" over one token silently becomes a linear map.
    """
    was = encoder.training
    encoder.eval()
    with torch.no_grad():
        feats = encoder(torch.zeros(1, in_chans, size, size))
    encoder.train(was)
    n = 1 if feats.tokens is None else int(feats.tokens.shape[1])
    grid = feats.grid or (n, 1)
    if n < MIN_ATTENTION_GRID:
        raise ValueError(
            f"stage-3 cross-modal attention needs a feature grid of at least 2x2, but encoder '{label}' gives "
            f"{grid[0]}x{grid[1]} at {size} px input: use an encoder with a smaller output stride (e.g. "
            f"model_kwargs: {{output_stride: 8}}) or a larger preprocess.size"
        )
    return grid


class TMMNet(nn.Module):
    """TMM-Net and its ablations; `forward(batch) -> dict` of logits and the active guidance terms."""

    def __init__(self, cfg: TMMNetCfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.modalities = list(cfg.modalities)
        if cfg.attention and len(self.modalities) != 2:
            raise ValueError("stage 3 cross-modal attention needs two modalities")
        if cfg.stage2 and not cfg.stage1:
            raise ValueError("stage 2 builds on stage 1 (prototype streams read the text tower)")
        self.image = nn.ModuleDict(
            {m: create_image_encoder(cfg.encoder, in_chans=cfg.in_chans[m]) for m in self.modalities}
        )
        if cfg.attention and cfg.image_size > 0:
            label = cfg.encoder_label or str(cfg.encoder.get("model_name", "?"))
            for m in self.modalities:
                check_attention_grid(self.image[m], cfg.in_chans[m], cfg.image_size, label)
        dims = {m: self.image[m].num_features for m in self.modalities}
        if cfg.missing_token:
            self.missing = nn.ParameterDict({m: nn.Parameter(torch.zeros(dims[m])) for m in self.modalities})
        self.text = nn.ModuleDict()
        if cfg.stage1:
            for m in self.modalities:
                self.text[m] = create_text_encoder(cfg.text_encoder, cfg.vocab_size, cfg.text_length, cfg.id_to_char)
            self.img_proj = nn.ModuleDict({m: nn.Linear(dims[m], cfg.embed_dim, bias=False) for m in self.modalities})
            self.txt_proj = nn.ModuleDict(
                {m: nn.Linear(self.text[m].num_features, cfg.embed_dim, bias=False) for m in self.modalities}
            )
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        sizes = {m: list(cfg.attribute_sizes.get(m, [])) for m in self.modalities}
        if self.has_prototypes:
            missing = [m for m in self.modalities if not sizes[m]]
            if missing:
                raise ValueError(f"attribute prototypes need attribute annotations; none declared for {missing}")
            self.img_protos = nn.ModuleDict(
                {m: PrototypeStreams(dims[m], len(sizes[m]), cfg.proto_dim) for m in self.modalities}
            )
            self.attr_heads = nn.ModuleDict({m: AttributeClassifiers(cfg.proto_dim, sizes[m]) for m in self.modalities})
        if cfg.stage2:
            self.txt_protos = nn.ModuleDict(
                {m: PrototypeStreams(self.text[m].num_features, len(sizes[m]), cfg.proto_dim) for m in self.modalities}
            )
            self.proto_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        proto_widths = [len(sizes[m]) * cfg.proto_dim if self.has_prototypes else 0 for m in self.modalities]
        if cfg.attention:
            self.fusion = CrossModalAttention(
                [dims[m] for m in self.modalities], proto_widths, cfg.attn_dim, cfg.attn_heads
            )
            fused = self.fusion.out_dim
        else:
            in_dims = [dims[m] + w for m, w in zip(self.modalities, proto_widths)]
            if len(in_dims) > 1:
                self.fusion = FUSIONS.create(cfg.fusion, in_dims=in_dims, dropout=cfg.dropout, **cfg.fusion_kwargs)
                fused = self.fusion.out_dim
            else:
                self.fusion = None
                fused = in_dims[0]
        self.head = HEADS.create(
            cfg.head, in_dim=fused, num_classes=cfg.num_classes, dropout=cfg.dropout, **cfg.head_kwargs
        )
        self.active: set[str] = {"cls"}

    @property
    def has_prototypes(self) -> bool:
        """Image prototype streams + attribute classifiers (stage 2, or attribute labels without text)."""
        return self.cfg.stage2 or self.cfg.attributes

    # -- phases ---------------------------------------------------------------------------------------
    def set_active(self, terms: set[str]) -> None:
        """Which objectives the next forward passes serve: subset of {clip, proto, attr, cls}."""
        allowed = (
            {"cls"}
            | ({"clip"} if self.cfg.stage1 else set())
            | ({"proto"} if self.cfg.stage2 else set())
            | ({"attr"} if self.has_prototypes else set())
        )
        unknown = set(terms) - allowed
        if unknown:
            raise ValueError(f"objectives {sorted(unknown)} are not part of this arm (allowed {sorted(allowed)})")
        self.active = set(terms)

    def phase_modules(self, phase: str) -> list[nn.Module]:
        """Modules trained in a phase (stage 3 trains fusion + head on frozen guided features)."""
        if phase == "stage3":
            return [m for m in (self.fusion, self.head) if m is not None]
        return [self]

    # -- forward --------------------------------------------------------------------------------------
    def forward(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        images: Mapping[str, Tensor] = batch["images"]
        feats = {m: self.image[m](images[m]) for m in self.modalities}
        if self.cfg.missing_token and "present" in batch:
            feats = {m: self._fill_missing(feats[m], batch["present"][m], self.missing[m]) for m in self.modalities}
        out: dict[str, Any] = {"features": feats}
        need_text = bool(self.active & TEXT_TERMS) and bool(batch.get("text"))
        need_protos = self.has_prototypes and bool(self.active & {"proto", "attr", "cls"})
        protos: dict[str, Tensor | None] = {m: None for m in self.modalities}
        text_feats: dict[str, ModalityFeatures] = {}
        inverse = None
        if need_text:
            # Several samples of a case share its report: encode each case's report once (the text tower
            # dominates the cost of a guided step), then index back to samples where needed.
            text_case, inverse, first = case_rows(batch["case"])
            out["text_case"] = text_case
            for m in self.modalities:
                ids = batch["text"][self.cfg.text_sections.get(m, "report")][first]
                text_feats[m] = self.text[m](ids)
        if self.cfg.stage1 and "clip" in self.active and need_text:
            out["clip"] = {
                m: (
                    F.normalize(self.img_proj[m](feats[m].pooled), dim=-1),
                    F.normalize(self.txt_proj[m](text_feats[m].pooled), dim=-1),
                )
                for m in self.modalities
            }
            out["logit_scale"] = self.logit_scale.exp().clamp(max=100.0)
        if need_protos:
            for m in self.modalities:
                protos[m] = self.img_protos[m](feats[m].pooled)
            if "attr" in self.active:  # only when trained or read: a frozen phase must not carry the term
                out["attr_logits"] = {m: self.attr_heads[m](protos[m]) for m in self.modalities}
            if "proto" in self.active and need_text:
                out["protos"] = {
                    m: (
                        F.normalize(protos[m], dim=-1),
                        F.normalize(self.txt_protos[m](text_feats[m].pooled), dim=-1)[inverse],
                    )
                    for m in self.modalities
                }
                out["proto_scale"] = self.proto_scale.exp().clamp(max=100.0)
        if "cls" in self.active:
            out.update(self._classify(feats, protos))
        return out

    @staticmethod
    def _fill_missing(f: ModalityFeatures, present: Tensor, token: Tensor) -> ModalityFeatures:
        """Samples without this modality get the learned token as pooled feature and at every grid position."""
        keep = present.to(f.pooled.device, torch.bool)
        pooled = torch.where(keep[:, None], f.pooled, token.to(f.pooled.dtype).expand_as(f.pooled))
        tokens = None
        if f.tokens is not None:
            tokens = torch.where(keep[:, None, None], f.tokens, token.to(f.tokens.dtype).expand_as(f.tokens))
        return ModalityFeatures(pooled=pooled, tokens=tokens, mask=f.mask, levels=f.levels, grid=f.grid)

    def _classify(self, feats: dict[str, ModalityFeatures], protos: dict[str, Tensor | None]) -> dict[str, Tensor]:
        if self.cfg.attention:
            tokens = [
                feats[m].tokens if feats[m].tokens is not None else feats[m].pooled[:, None] for m in self.modalities
            ]
            fused, maps = self.fusion(tokens, [protos[m] for m in self.modalities])
            extra = {"attention_maps": maps}
        else:
            vecs = []
            for m in self.modalities:
                v = feats[m].pooled
                if protos[m] is not None:
                    v = torch.cat([v, protos[m].flatten(1)], dim=-1)
                vecs.append(ModalityFeatures(pooled=v))
            fused = self.fusion(vecs) if self.fusion is not None else vecs[0].pooled
            extra = {}
        head_out = self.head(fused)
        return {**head_out, "fused": fused, **extra}


def _create_tmmnet(cfg: Mapping[str, Any]) -> TMMNet:
    return TMMNet(config_of(TMMNetCfg, cfg, "TMM-Net"))


@MODELS.register("tmmnet")
def tmmnet(**cfg: Any) -> TMMNet:
    """TMM-Net or one of its ablation arms, by switches."""
    return _create_tmmnet(cfg)
