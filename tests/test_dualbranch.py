"""Dual-branch ResNet: every registered variant's shapes, γ-gated attention, gradients, a training step, and
the unimodal -> fusion weight loading of the two-stage schedule."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from mmdiag.losses import build_loss
from mmdiag.models.dualbranch import CrossModalAttention2d, DualBranchResNet
from mmdiag.registry import MODELS

torch.set_num_threads(1)

B, S, NUM_CLASSES = 4, 32, 5
MODS = ["path", "organ"]
VARIANTS = [n for n in MODELS.list() if n.startswith("dualbranch_")]


def _build(name: str = "dualbranch_resnet50", seed: int = 0, **kwargs: Any) -> DualBranchResNet:
    torch.manual_seed(seed)
    args: dict[str, Any] = dict(modalities=MODS, num_classes=NUM_CLASSES, in_chans={"path": 3, "organ": 1}, width=0.125)
    return MODELS.create(name, **{**args, **kwargs})


def _batch(seed: int = 0) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    return {
        "images": {"path": torch.randn(B, 3, S, S, generator=g), "organ": torch.randn(B, 1, S, S, generator=g)},
        "label": torch.arange(B) % NUM_CLASSES,
    }


def _all_logits_loss(out: dict[str, Any], batch: dict[str, Any]) -> torch.Tensor:
    """CE on the fused logits and on each branch's logits, so every head takes part."""
    heads = [out["logits"], *out["branch_logits"].values()]
    return sum(F.cross_entropy(z, batch["label"]) for z in heads)


def test_variants_registered() -> None:
    assert {"dualbranch_resnet", "dualbranch_resnet18", "dualbranch_resnet34", "dualbranch_resnet50"} <= set(VARIANTS)


@pytest.mark.parametrize("name", VARIANTS)
def test_output_shapes(name: str) -> None:
    model = _build(name, arch="resnet18") if name == "dualbranch_resnet" else _build(name)
    out = model(_batch())
    c = model.num_features
    assert out["logits"].shape == (B, NUM_CLASSES)
    assert out["fused"].shape == (B, 2 * c)
    assert set(out["branch_logits"]) == set(MODS)
    assert all(z.shape == (B, NUM_CLASSES) for z in out["branch_logits"].values())
    assert torch.isfinite(out["logits"]).all()


def test_small_input_stem_keeps_resolution() -> None:
    """3x3 stride-1 stem, no max-pool: layer1 at input size, so layer3 at S/4 and layer4 at S/8 (Table 4)."""
    model = _build()
    feats = model.forward_features(_batch())
    c3, c4 = model.stage_channels[2], model.stage_channels[3]
    assert model.stage_channels == [32, 64, 128, 256]  # ResNet50 at 1/8 width: 256/512/1024/2048 scaled
    assert feats["layer3"]["path"].shape == (B, c3, S // 4, S // 4)
    assert feats["maps"]["organ"].shape == (B, c4, S // 8, S // 8)
    assert feats["layer3_fused"].shape == (B, 2 * c3)
    assert model.branches["path"].conv1.kernel_size == (3, 3) and model.branches["path"].conv1.stride == (1, 1)


def test_attention_after_layer3_and_layer4() -> None:
    model = _build()
    assert list(model.attention) == ["3_5", "4_2"]  # after the last block of layer3 (6 blocks) and layer4 (3)
    every_block = _build(attention_placement="block")
    assert len(every_block.attention) == 6 + 3
    assert all(torch.count_nonzero(m.gamma) == 0 for m in model.attention.values())


def test_zero_gamma_keeps_branches_independent() -> None:
    """With γ = 0 (init) branch A's output ignores branch B's input; with γ != 0 it does not."""
    model = _build().eval()
    batch, other = _batch(0), _batch(1)
    swapped = {**batch, "images": {"path": batch["images"]["path"], "organ": other["images"]["organ"]}}
    with torch.no_grad():
        same = torch.equal(model(batch)["branch_logits"]["path"], model(swapped)["branch_logits"]["path"])
        for attn in model.attention.values():
            attn.gamma.fill_(0.5)
        changed = not torch.allclose(model(batch)["branch_logits"]["path"], model(swapped)["branch_logits"]["path"])
    assert same and changed


def test_gradients_reach_every_parameter() -> None:
    model = _build()
    batch = _batch()
    _all_logits_loss(model(batch), batch).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        gated = name.startswith("attention.") and not name.endswith("gamma")
        if gated:  # γ = 0 multiplies the attended features: Q, K, V get exactly zero gradient at init
            assert p.grad.abs().sum() == 0, name
        else:
            assert p.grad.abs().sum() > 0, name
    for attn in model.attention.values():
        assert (attn.gamma.grad != 0).all()

    model.zero_grad()
    with torch.no_grad():
        for attn in model.attention.values():
            attn.gamma.fill_(0.5)
    _all_logits_loss(model(batch), batch).backward()
    for name, p in model.named_parameters():
        assert p.grad.abs().sum() > 0, name


def test_one_step_lowers_ce_ldam() -> None:
    model = _build()
    batch = _batch()
    loss_fn = build_loss("ce_ldam", class_counts=[30, 20, 10, 5, 5], s=5.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def total() -> torch.Tensor:
        return sum(loss_fn(model(batch), batch).values())

    before = total()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = total()
    assert float(after) < float(before.detach())


def test_unimodal_round_trip() -> None:
    """Unimodal models (branch + own FC) initialise the fusion model's branches exactly."""
    fusion = _build(seed=0)
    unis = {m: fusion.unimodal(m) for m in MODS}
    for i, uni in enumerate(unis.values()):
        torch.manual_seed(10 + i)
        with torch.no_grad():
            for p in uni.parameters():
                p.add_(torch.randn_like(p) * 0.1)  # stands in for unimodal training
    assert not unis["path"].attention and unis["path"].head is None
    loaded = fusion.load_unimodal({m: u.state_dict() for m, u in unis.items()})
    assert {k.split(".")[1] for k in loaded} == set(MODS)
    for m, uni in unis.items():
        ref = uni.state_dict()
        for key, value in fusion.state_dict().items():
            if key.startswith((f"branches.{m}.", f"branch_heads.{m}.")):
                assert torch.equal(value, ref[key]), key
    fusion.eval()
    batch = _batch()
    with torch.no_grad():  # γ = 0: each fused branch computes exactly its unimodal model
        out = fusion(batch)
        for m, uni in unis.items():
            single = {"images": {m: batch["images"][m]}}
            torch.testing.assert_close(out["branch_logits"][m], uni.eval()(single)["logits"])


def test_load_unimodal_rejects_mismatches() -> None:
    fusion = _build()
    with pytest.raises(KeyError, match="no branch"):
        fusion.load_unimodal({"ct": fusion.unimodal("path").state_dict()})
    with pytest.raises(KeyError, match=r"branches\.organ"):
        fusion.load_unimodal({"organ": fusion.unimodal("path").state_dict()})
    wider = _build(width=0.25).unimodal("path")
    with pytest.raises(RuntimeError, match="size mismatch"):
        fusion.load_unimodal({"path": wider.state_dict()})


def test_cross_attention_block_handles_different_grids() -> None:
    torch.manual_seed(0)
    attn = CrossModalAttention2d(16, reduction=4)
    a, b = torch.randn(2, 16, 4, 4), torch.randn(2, 16, 2, 2)
    with torch.no_grad():
        attn.gamma.fill_(1.0)
    out_a, out_b = attn(a, b)
    assert out_a.shape == a.shape and out_b.shape == b.shape
    assert not torch.allclose(out_a, a) and not torch.allclose(out_b, b)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("dualbranch_resnet18", {"arch": "resnet50"}, "fixed by this entry point"),
        ("dualbranch_resnet50", {"no_such_key": 1}, "unknown dual-branch model keys"),
        ("dualbranch_resnet50", {"attention_placement": "inside"}, "attention_placement"),
        ("dualbranch_resnet50", {"attention_stages": [5]}, "attention_stages"),
        ("dualbranch_resnet50", {"modalities": ["a", "b", "c"]}, "one or two modalities"),
    ],
)
def test_config_errors(name: str, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _build(name, **kwargs)
