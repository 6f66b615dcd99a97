"""Every registered fusion: shapes, gradients to all parameters, a training step, and family specifics.

What a fusion takes (input counts, feature levels, tokens) is read from the fusion itself (`fusion_class`),
never listed here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmdiag.models.features import ModalityFeatures
from mmdiag.models.fusion import FusionModule, fusion_class
from mmdiag.registry import FUSIONS

torch.set_num_threads(1)

B, DIM = 6, 16
IN_DIMS = (12, 20)  # [image, text]
LEVEL_DIMS = ((6, 8, 12), (20, 20, 20))
TOKEN_FUSIONS = sorted(n for n in FUSIONS.list() if fusion_class(n).uses_tokens)


def _family_kwargs(name: str, level_dims: tuple[tuple[int, ...], ...] = LEVEL_DIMS) -> dict[str, object]:
    return {"level_dims": level_dims} if fusion_class(name).needs_levels else {}


def _features(seed: int = 0, in_dims: tuple[int, ...] = IN_DIMS, tokens: bool = True) -> list[ModalityFeatures]:
    """Image-like input 0 (2x2 grid), text-like inputs after it (padded: row r has 5 - r % 3 valid tokens)."""
    g = torch.Generator().manual_seed(seed)
    feats = []
    for i, d in enumerate(in_dims):
        n = 4 if i == 0 else 5
        toks = torch.randn(B, n, d, generator=g)
        mask = None if i == 0 else torch.arange(n).expand(B, n) < (5 - torch.arange(B) % 3).unsqueeze(1)
        levels = [torch.randn(B, ld, generator=g) for ld in LEVEL_DIMS[min(i, 1)]]
        feats.append(
            ModalityFeatures(
                pooled=toks.mean(1),
                tokens=toks if tokens else None,
                mask=mask if tokens else None,
                levels=levels,
                grid=(2, 2) if i == 0 else None,
            )
        )
    return feats


def _build(name: str, in_dims: tuple[int, ...] = IN_DIMS) -> nn.Module:
    torch.manual_seed(0)
    return FUSIONS.create(name, in_dims=list(in_dims), dim=DIM, **_family_kwargs(name))


def test_all_paper_fusions_registered() -> None:
    attention = {"cross_attention", "cross_attention_1l", "cross_attention_2l", "co_attention"}
    expected = {"concat", "add", "multiply", "gated", "bilinear", "hierarchical"} | attention
    assert expected <= set(FUSIONS.list())
    assert set(TOKEN_FUSIONS) == attention
    assert [n for n in FUSIONS.list() if fusion_class(n).needs_levels] == ["hierarchical"]


@pytest.mark.parametrize("name", FUSIONS.list())
def test_every_fusion_declares_its_inputs_and_builds_its_class(name: str) -> None:
    cls = fusion_class(name)
    assert issubclass(cls, FusionModule) and cls.min_inputs >= 2
    assert cls.max_inputs is None or cls.max_inputs >= cls.min_inputs
    assert type(_build(name)) is cls
    with pytest.raises(ValueError, match=r"inputs.*, got 1$"):
        FUSIONS.create(name, in_dims=[IN_DIMS[0]], dim=DIM, **_family_kwargs(name, LEVEL_DIMS[:1]))


def test_unknown_fusion_lists_known_names() -> None:
    with pytest.raises(KeyError, match=r"known: .*concat"):
        FUSIONS.create("no_such_fusion", in_dims=[4, 4])


@pytest.mark.parametrize("name", FUSIONS.list())
def test_output_shape(name: str) -> None:
    fusion = _build(name)
    out = fusion(_features())
    assert out.shape == (B, fusion.out_dim)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", FUSIONS.list())
def test_gradients_reach_every_parameter(name: str) -> None:
    fusion = _build(name)
    feats = _features()
    inputs = [t for f in feats for t in (f.pooled, f.tokens, *f.levels)]
    for t in inputs:
        t.requires_grad_(True)
    out = fusion(feats)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    for pname, p in fusion.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.abs().sum() > 0, pname
    # Gradient flows back to at least one view of every input (the encoders get trained).
    for i, f in enumerate(feats):
        views = (f.pooled, f.tokens, *f.levels)
        assert any(t.grad is not None and t.grad.abs().sum() > 0 for t in views), f"input {i}"


@pytest.mark.parametrize("name", FUSIONS.list())
def test_training_step_lowers_loss(name: str) -> None:
    fusion = _build(name)
    classifier = nn.Linear(fusion.out_dim, 3)
    feats, labels = _features(), torch.arange(B) % 3
    params = [*fusion.parameters(), *classifier.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-2)

    def loss() -> torch.Tensor:
        return F.cross_entropy(classifier(fusion(feats)), labels)

    before = loss().item()
    for _ in range(3):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().item() < before


@pytest.mark.parametrize("name", FUSIONS.list())
def test_three_inputs(name: str) -> None:
    in_dims = (12, 20, 9)
    kwargs = _family_kwargs(name, (*LEVEL_DIMS, LEVEL_DIMS[1]))
    if fusion_class(name).max_inputs == 2:
        with pytest.raises(ValueError, match="exactly 2 inputs"):
            FUSIONS.create(name, in_dims=list(in_dims), dim=DIM, **kwargs)
        return
    fusion = FUSIONS.create(name, in_dims=list(in_dims), dim=DIM, **kwargs)
    feats = _features(in_dims=in_dims)
    feats[2].levels = [torch.randn(B, d) for d in LEVEL_DIMS[1]]
    assert fusion(feats).shape == (B, fusion.out_dim)


@pytest.mark.parametrize("name", TOKEN_FUSIONS)
def test_attention_falls_back_to_pooled_token(name: str) -> None:
    fusion = _build(name)
    assert fusion(_features(tokens=False)).shape == (B, fusion.out_dim)


@pytest.mark.parametrize("name", TOKEN_FUSIONS)
def test_attention_ignores_padded_tokens(name: str) -> None:
    fusion = _build(name).eval()
    feats = _features()
    out = fusion(feats)
    text = feats[1]
    garbage = torch.where(text.mask.unsqueeze(-1), text.tokens, torch.full_like(text.tokens, 1e3))
    feats[1] = ModalityFeatures(pooled=text.pooled, tokens=garbage, mask=text.mask)
    torch.testing.assert_close(fusion(feats), out)


def test_cross_attention_uses_text_queries_and_image_context() -> None:
    """Text queries (input 1) attend the image: changing image tokens changes the output, and the
    output width is one stream; co-attention returns both streams."""
    fusion = _build("cross_attention_1l").eval()
    assert fusion.query_index == 1 and fusion.out_dim == DIM
    feats = _features()
    out = fusion(feats)
    feats[0] = ModalityFeatures(pooled=feats[0].pooled, tokens=feats[0].tokens + 1.0)
    assert not torch.allclose(fusion(feats), out)
    assert _build("co_attention").out_dim == 2 * DIM
    assert len(_build("cross_attention_2l").layers[0]) == 2


def test_gated_two_inputs_matches_formula() -> None:
    """fused = z * v' + (1 - z) * t' with z = sigmoid(W[v; t])."""
    fusion = _build("gated")
    feats = _features()
    v, t = feats[0].pooled, feats[1].pooled
    gate = fusion.gate
    z = torch.sigmoid(gate.gate(torch.cat([v, t], dim=-1)))
    expected = z * gate.proj[0](v) + (1 - z) * gate.proj[1](t)
    torch.testing.assert_close(fusion(feats), expected)


def test_elementwise_ops_match_definitions() -> None:
    feats = _features()
    add, mul, bil = _build("add"), _build("multiply"), _build("bilinear")
    v, t = feats[0].pooled, feats[1].pooled
    torch.testing.assert_close(add(feats), add.proj[0](v) + add.proj[1](t))
    torch.testing.assert_close(mul(feats), mul.proj[0](v) * mul.proj[1](t))
    low_rank = torch.tanh(bil.proj[0](v)) * torch.tanh(bil.proj[1](t))
    torch.testing.assert_close(bil(feats), bil.out(low_rank))
    assert _build("concat")(feats).shape == (B, sum(IN_DIMS))


def test_hierarchical_is_sigmoid_weighted_sum_of_level_gates() -> None:
    fusion = _build("hierarchical")
    with torch.no_grad():
        fusion.level_logits.copy_(torch.tensor([0.0, 1.0, -2.0]))
    feats = _features()
    expected = sum(
        torch.sigmoid(fusion.level_logits[lv]) * fusion.gates[lv]([feats[0].levels[lv], feats[1].levels[lv]])
        for lv in range(3)
    )
    torch.testing.assert_close(fusion(feats), expected)


def test_hierarchical_level_errors() -> None:
    with pytest.raises(ValueError, match="same, non-zero number of levels"):
        FUSIONS.create("hierarchical", in_dims=[4, 4], level_dims=[[4, 4], [4]])
    fusion = _build("hierarchical")
    feats = _features()
    feats[1].levels = None
    with pytest.raises(ValueError, match="built for 3 levels, input 1 has no `levels`"):
        fusion(feats)
    pooled_only = FUSIONS.create("hierarchical", in_dims=list(IN_DIMS), dim=DIM)
    assert pooled_only(_features(tokens=False)).shape == (B, DIM)
