"""Classification, disagreement and distillation losses: contract, hand-checked values, helpers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmdiag.losses import build_loss, classification, disagreement, distillation, sum_losses
from mmdiag.losses.disagreement import symmetric_kl
from mmdiag.registry import LOSSES

torch.set_num_threads(1)

B, C = 8, 3
COUNTS = (100, 10, 1)
# Arguments the class-dependent losses need; the rest build with defaults.
KWARGS = {
    "ldam": {"class_counts": COUNTS},
    "ce_ldam": {"class_counts": COUNTS},
    "logit_adjusted": {"class_priors": COUNTS},
}
# Only this part's losses: other loss modules (contrastive, prototype) read other outputs.
MODULES = {m.__name__ for m in (classification, disagreement, distillation)}
NAMES = [n for n in LOSSES.list() if LOSSES.get(n).__module__ in MODULES]


def _data(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    outputs = {k: torch.randn(B, C, generator=g, requires_grad=True) for k in ("logits", "logits_img", "logits_txt")}
    batch = {"label": torch.randint(0, C, (B,), generator=g), "teacher_logits": torch.randn(B, C, generator=g)}
    return outputs, batch


def test_names_registered() -> None:
    expected = {"ce", "focal", "ldam", "ce_ldam", "logit_adjusted", "modality_disagreement", "distillation"}
    assert expected == set(NAMES)


def test_build_loss_unknown_name_lists_known() -> None:
    with pytest.raises(KeyError, match=r"known: .*focal"):
        build_loss("no_such_loss")


@pytest.mark.parametrize("name", NAMES)
def test_contract_and_gradient(name: str) -> None:
    loss = build_loss(name, **KWARGS.get(name, {}))
    outputs, batch = _data()
    terms = loss(outputs, batch)
    assert terms and all(k.endswith("_loss") for k in terms)
    assert all(v.ndim == 0 and torch.isfinite(v) for v in terms.values())
    total, logged = sum_losses(terms)
    total.backward()
    assert outputs["logits"].grad is not None and outputs["logits"].grad.abs().sum() > 0
    assert logged["loss"].item() == pytest.approx(total.item())


@pytest.mark.parametrize("name", NAMES)
def test_training_step_lowers_loss(name: str) -> None:
    loss = build_loss(name, **KWARGS.get(name, {}))
    outputs, batch = _data()
    optimizer = torch.optim.Adam(list(outputs.values()), lr=0.05)
    before = sum_losses(loss(outputs, batch))[0].item()
    for _ in range(3):
        optimizer.zero_grad()
        sum_losses(loss(outputs, batch))[0].backward()
        optimizer.step()
    assert sum_losses(loss(outputs, batch))[0].item() < before


@pytest.mark.parametrize("name", NAMES)
def test_missing_key_is_named(name: str) -> None:
    loss = build_loss(name, **KWARGS.get(name, {}))
    outputs, batch = _data()
    with pytest.raises(KeyError, match="'label'"):
        loss(outputs, {})
    with pytest.raises(KeyError, match="'logits"):
        loss({"other": outputs["logits"]}, batch)


def test_ce_label_smoothing() -> None:
    outputs, batch = _data()
    got = build_loss("ce", label_smoothing=0.1)(outputs, batch)["ce_loss"]
    torch.testing.assert_close(got, F.cross_entropy(outputs["logits"], batch["label"], label_smoothing=0.1))


def test_focal_gamma_zero_is_ce() -> None:
    outputs, batch = _data()
    got = build_loss("focal", gamma=0.0)(outputs, batch)["focal_loss"]
    torch.testing.assert_close(got, F.cross_entropy(outputs["logits"], batch["label"]))


def test_focal_hand_value() -> None:
    """p_t = 0.8 (logits log 4, 0 for the true class 0): loss = -alpha (0.2)^2 log 0.8."""
    outputs = {"logits": torch.tensor([[math.log(4.0), 0.0]])}
    batch = {"label": torch.tensor([0])}
    got = build_loss("focal", gamma=2.0, alpha=[0.25, 0.75])(outputs, batch)["focal_loss"]
    assert got.item() == pytest.approx(-0.25 * 0.2**2 * math.log(0.8), rel=1e-5)


def test_ldam_margins_and_value() -> None:
    loss = build_loss("ldam", class_counts=COUNTS, max_margin=0.5, s=30.0)
    # m_c = 0.5 * (n_min / n_c)^(1/4): 100 -> 0.5 / 10^0.5, 10 -> 0.5 / 10^0.25, 1 -> 0.5.
    torch.testing.assert_close(loss.margins, torch.tensor([0.5 / 10**0.5, 0.5 / 10**0.25, 0.5]))
    outputs = {"logits": torch.tensor([[0.2, 0.1, -0.3], [0.0, 0.5, 0.4]])}
    batch = {"label": torch.tensor([2, 0])}
    adjusted = torch.tensor([[0.2, 0.1, -0.3 - 0.5], [0.0 - 0.5 / 10**0.5, 0.5, 0.4]])
    expected = F.cross_entropy(30.0 * adjusted, batch["label"])
    torch.testing.assert_close(loss(outputs, batch)["ldam_loss"], expected)


def test_ldam_drw_weights() -> None:
    beta = 0.99
    loss = build_loss("ldam", class_counts=COUNTS, drw_beta=beta)
    raw = torch.tensor([(1 - beta) / (1 - beta**n) for n in COUNTS])
    torch.testing.assert_close(loss.class_weights, raw / raw.mean())
    assert loss.class_weights[2] > loss.class_weights[1] > loss.class_weights[0]
    with pytest.raises(ValueError, match="positive"):
        build_loss("ldam", class_counts=[5, 0])


def test_ce_ldam_is_ce_plus_weighted_ldam() -> None:
    outputs, batch = _data()
    terms = build_loss("ce_ldam", class_counts=COUNTS, ldam_weight=0.3)(outputs, batch)
    ldam = build_loss("ldam", class_counts=COUNTS)(outputs, batch)["ldam_loss"]
    torch.testing.assert_close(terms["ce_loss"], F.cross_entropy(outputs["logits"], batch["label"]))
    torch.testing.assert_close(terms["ldam_loss"], 0.3 * ldam)


def test_logit_adjustment_shifts_by_tau_log_prior() -> None:
    outputs, batch = _data()
    priors = torch.tensor(COUNTS, dtype=torch.float32) / sum(COUNTS)
    loss = build_loss("logit_adjusted", class_priors=COUNTS, tau=0.7)
    expected = F.cross_entropy(outputs["logits"] + 0.7 * priors.log(), batch["label"])
    torch.testing.assert_close(loss(outputs, batch)["logit_adjusted_loss"], expected)
    torch.testing.assert_close(loss.posthoc_adjust(outputs["logits"]), outputs["logits"] - 0.7 * priors.log())
    uniform = build_loss("logit_adjusted", class_priors=[1, 1, 1])(outputs, batch)["logit_adjusted_loss"]
    torch.testing.assert_close(uniform, F.cross_entropy(outputs["logits"], batch["label"]))


def test_distillation_alpha_zero_is_ce_and_kd_hand_value() -> None:
    outputs, batch = _data()
    terms = build_loss("distillation", T=3.0, alpha=0.0)(outputs, batch)
    torch.testing.assert_close(sum_losses(terms)[0], F.cross_entropy(outputs["logits"], batch["label"]))
    # Student equal to teacher: no soft-target loss.
    same = build_loss("distillation", T=2.0, alpha=1.0)({"logits": batch["teacher_logits"]}, batch)
    assert same["kd_loss"].item() == pytest.approx(0.0, abs=1e-6)
    # Two classes, T = 2: KL(q || p) * T^2 by hand.
    s, t = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    p, q = torch.softmax(s / 2, -1)[0], torch.softmax(t / 2, -1)[0]
    by_hand = 4.0 * float((q * (q / p).log()).sum())
    kd = build_loss("distillation", T=2.0, alpha=1.0)({"logits": s}, {"label": torch.tensor([0]), "teacher_logits": t})
    assert kd["kd_loss"].item() == pytest.approx(by_hand, rel=1e-5)


def test_symmetric_kl_hand_value() -> None:
    a, b = torch.tensor([[math.log(3.0), 0.0]]), torch.tensor([[0.0, math.log(3.0)]])  # p = (.75,.25), q = (.25,.75)
    kl = 0.75 * math.log(3) + 0.25 * math.log(1 / 3)
    assert symmetric_kl(a, b).item() == pytest.approx(kl, rel=1e-5)  # both directions equal here
    assert symmetric_kl(a, a).item() == pytest.approx(0.0, abs=1e-7)


def test_disagreement_agreeing_heads_weight_one() -> None:
    outputs, batch = _data()
    outputs["logits_txt"] = outputs["logits_img"].detach().clone()
    terms = build_loss("modality_disagreement", alpha=0.5, beta=0.25, gamma=2.0)(outputs, batch)
    y = batch["label"]
    torch.testing.assert_close(terms["img_loss"], 0.5 * F.cross_entropy(outputs["logits_img"], y))
    torch.testing.assert_close(terms["txt_loss"], 0.25 * F.cross_entropy(outputs["logits_txt"], y))
    torch.testing.assert_close(terms["fusion_loss"], 2.0 * F.cross_entropy(outputs["logits"], y))


def test_disagreement_weight_is_clipped_and_detached() -> None:
    loss = build_loss("modality_disagreement", kl_clip=1.5)
    img = torch.tensor([[20.0, -20.0], [0.1, 0.0]], requires_grad=True)
    txt = torch.tensor([[-20.0, 20.0], [0.0, 0.1]])
    weights = loss.sample_weights(img, txt)
    assert weights[0].item() == pytest.approx(math.exp(1.5))  # huge disagreement: clipped
    assert weights[1].item() == pytest.approx(math.exp(symmetric_kl(img[1:], txt[1:]).item()))
    assert not weights.requires_grad
    nan = loss.sample_weights(torch.tensor([[float("nan"), 0.0]]), torch.zeros(1, 2))
    assert nan.item() == pytest.approx(1.0)
    # The fusion term sends no gradient to the unimodal logits through the weight.
    outputs = {"logits": torch.zeros(2, 2, requires_grad=True), "logits_img": img, "logits_txt": txt}
    loss(outputs, {"label": torch.tensor([0, 1])})["fusion_loss"].backward()
    assert img.grad is None


def test_sum_losses() -> None:
    a = {"ce_loss": torch.tensor(1.5), "logits": torch.zeros(2, 3)}
    b = {"moe_balance_loss": torch.tensor(0.25)}
    total, logged = sum_losses(a, b)
    assert total.item() == pytest.approx(1.75)
    assert {k: v.item() for k, v in logged.items()} == {"ce_loss": 1.5, "moe_balance_loss": 0.25, "loss": 1.75}
    with pytest.raises(ValueError, match="twice"):
        sum_losses(a, {"ce_loss": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="scalar"):
        sum_losses({"x_loss": torch.ones(2)})
    with pytest.raises(ValueError, match="no '\\*_loss' terms"):
        sum_losses({"logits": torch.zeros(1)})
