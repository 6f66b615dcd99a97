"""Every registered head: logits shape, auxiliary `*_loss` terms, gradients to all parameters, a training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mmdiag.models.heads  # noqa: F401  (registers the heads)
from mmdiag.layers import KANLinear
from mmdiag.models.heads import MoEHead
from mmdiag.registry import HEADS

torch.set_num_threads(1)

IN_DIM, NUM_CLASSES, HIDDEN = 12, 3, 8
# Enough random samples that every MoE expert is in some sample's top-2.
B = 64


def _build(name: str, **kwargs: object) -> nn.Module:
    torch.manual_seed(0)
    return HEADS.create(name, in_dim=IN_DIM, num_classes=NUM_CLASSES, hidden=HIDDEN, **kwargs)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, IN_DIM, generator=g), torch.randint(0, NUM_CLASSES, (B,), generator=g)


def _loss(out: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out["logits"], labels) + sum(v for k, v in out.items() if k.endswith("_loss"))


def test_all_paper_heads_registered() -> None:
    assert {"linear", "mlp", "residual_mlp", "kan", "attention_pool", "moe"} <= set(HEADS.list())


def test_unknown_head_lists_known_names() -> None:
    with pytest.raises(KeyError, match=r"known: .*mlp"):
        HEADS.create("no_such_head", in_dim=4, num_classes=2)


@pytest.mark.parametrize("name", HEADS.list())
def test_output_contract(name: str) -> None:
    out = _build(name)(_batch()[0])
    assert out["logits"].shape == (B, NUM_CLASSES)
    for key, value in out.items():
        assert key == "logits" or key.endswith("_loss"), key
        if key.endswith("_loss"):
            assert value.ndim == 0 and torch.isfinite(value)


@pytest.mark.parametrize("name", HEADS.list())
def test_gradients_reach_every_parameter(name: str) -> None:
    head = _build(name)
    x, labels = _batch()
    _loss(head(x), labels).backward()
    for pname, p in head.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", HEADS.list())
def test_training_step_lowers_loss(name: str) -> None:
    head = _build(name)
    x, labels = _batch()
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    before = _loss(head(x), labels).item()
    for _ in range(3):
        optimizer.zero_grad()
        _loss(head(x), labels).backward()
        optimizer.step()
    assert _loss(head(x), labels).item() < before


@pytest.mark.parametrize("name", HEADS.list())
def test_dropout_only_in_train_mode(name: str) -> None:
    head = _build(name, dropout=0.5)
    x = _batch()[0]
    assert not torch.allclose(head(x)["logits"], head(x)["logits"])
    head.eval()
    torch.testing.assert_close(head(x)["logits"], head(x)["logits"])


def test_linear_head_is_one_layer_and_mlp_two() -> None:
    assert sum(isinstance(m, nn.Linear) for m in _build("linear").modules()) == 1
    assert sum(isinstance(m, nn.Linear) for m in _build("mlp").modules()) == 2


def test_kan_bsplines_partition_unity_on_grid() -> None:
    layer = KANLinear(3, 2, grid_size=5, spline_order=3, grid_range=(-2.0, 2.0))
    x = torch.linspace(-2.0, 1.999, 50).unsqueeze(1).expand(-1, 3)
    bases = layer.b_splines(x)
    assert bases.shape == (50, 3, 5 + 3)
    torch.testing.assert_close(bases.sum(-1), torch.ones(50, 3))
    assert (bases >= 0).all()
    # Far outside the grid only the SiLU base branch acts.
    far = torch.full((1, 3), 100.0)
    assert layer.b_splines(far).abs().sum() == 0
    torch.testing.assert_close(layer(far), layer.base(F.silu(far)))


def test_moe_routes_to_top_k_and_mixes_chosen_experts() -> None:
    head = _build("moe")
    assert isinstance(head, MoEHead) and head.num_experts == 4 and head.top_k == 2
    x = _batch()[0]
    _, top_i, weights = head.route(x)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B))
    assert set(top_i.unique().tolist()) == {0, 1, 2, 3}
    expert_out = torch.stack([e(x) for e in head.experts], 1)
    expected = sum(weights[:, j, None] * expert_out[torch.arange(B), top_i[:, j]] for j in range(2))
    torch.testing.assert_close(head(x)["logits"], expected)


def test_moe_balance_loss_values() -> None:
    """A zero router is uniform: Switch loss is exactly 1 (times weight); the paper's squared form is 0."""
    x = _batch()[0]
    for balance_type, expected in (("switch", 1.0), ("squared", 0.0)):
        head = _build("moe", balance_type=balance_type, balance_weight=0.5)
        with torch.no_grad():
            head.router.weight.zero_()
            head.router.bias.zero_()
        assert head(x)["moe_balance_loss"].item() == pytest.approx(0.5 * expected)
    # Collapsed routing (all to experts 0/1 with prob ~1/2 each) costs E * (1/2 * 1/2 * 2) = 2.
    head = _build("moe", balance_weight=1.0)
    with torch.no_grad():
        head.router.weight.zero_()
        head.router.bias.copy_(torch.tensor([20.0, 20.0, -20.0, -20.0]))
    assert head(x)["moe_balance_loss"].item() == pytest.approx(2.0, rel=1e-4)


def test_moe_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="top_k"):
        _build("moe", top_k=5)
    with pytest.raises(ValueError, match="balance_type"):
        _build("moe", balance_type="nope")
