"""The fusion study's image + report classifier: every fusion module and head plugs in by name, trains, and
keeps using the report at inference; the distillation wrapper feeds teacher logits to the KD loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from mmdiag.data.batches import Cache, SampleSet
from mmdiag.losses import build_loss
from mmdiag.models.fusion import fusion_class
from mmdiag.models.image_text import Distiller, image_text
from mmdiag.registry import FUSIONS, HEADS

CNN = {"model_name": "resnet18", "width": 0.125, "pretrained": "off"}


@pytest.fixture(scope="module")
def cache(tiny_cache: Path) -> Cache:
    return Cache.load(tiny_cache / "cache")


def _cfg(cache: Cache, **kw: Any) -> dict[str, Any]:
    base = {
        "modalities": ["eus"],
        "num_classes": 2,
        "in_chans": {"eus": 1, "wle": 3},
        "encoder": CNN,
        "text": "report.wle",
        "text_encoder": {"dim": 16, "depth": 3, "heads": 2, "downsample": 4},
        "vocab_size": cache.meta["vocab_size"],
        "text_length": cache.meta["text_length"],
        "hidden": 16,
        "dropout": 0.0,
    }
    return {**base, **kw}


def _batch(cache: Cache, mods: list[str]) -> dict[str, Any]:
    s = SampleSet(cache, cache.cases["case_id"].tolist()[:6], mods)
    return s.batch(torch.arange(min(8, len(s))))


def _train_step(model: torch.nn.Module, batch: dict[str, Any], loss_name: str = "ce") -> tuple[float, float]:
    loss_fn = build_loss(loss_name)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def total() -> torch.Tensor:
        out = model(batch)
        return sum(v for k, v in {**loss_fn(out, batch), **out}.items() if k.endswith("_loss"))

    model.eval()  # deterministic: no dropout, BN uses running statistics
    before = total()
    opt.zero_grad()
    before.backward()
    opt.step()
    return before.item(), total().item()


@pytest.mark.parametrize("fusion", FUSIONS.list())
def test_every_fusion_with_image_and_report(cache: Cache, fusion: str) -> None:
    torch.manual_seed(0)
    levels = 3 if fusion_class(fusion).needs_levels else 1
    model = image_text(**_cfg(cache, fusion=fusion, num_levels=levels))
    batch = _batch(cache, ["eus"])
    out = model(batch)
    assert out["logits"].shape == (len(batch["label"]), 2)
    out["logits"].sum().backward()
    # the missing-modality tokens stand in only for absent images: complete data leaves them untouched
    dead = [n for n, p in model.named_parameters() if p.grad is None and not n.startswith("missing_")]
    assert not dead, dead[:5]
    model.zero_grad()
    before, after = _train_step(model, batch)
    assert after < before


@pytest.mark.parametrize("head", HEADS.list())
def test_every_head(cache: Cache, head: str) -> None:
    torch.manual_seed(0)
    model = image_text(**_cfg(cache, head=head))
    before, after = _train_step(model, _batch(cache, ["eus"]))
    assert after < before


def test_report_is_used_at_inference(cache: Cache) -> None:
    from mmdiag.experiments.evaluation import predict

    model = image_text(**_cfg(cache))
    assert model.uses_text_at_inference
    s = SampleSet(cache, cache.cases["case_id"].tolist()[:4], ["eus"])
    assert predict(model, s, 8)["probs"].shape == (len(s), 2)
    batch = s.batch(torch.arange(len(s)))
    del batch["text"]
    with pytest.raises(KeyError):
        model(batch)


def test_unimodal_heads_for_disagreement_loss(cache: Cache) -> None:
    torch.manual_seed(0)
    model = image_text(**_cfg(cache, unimodal_heads=True))
    out = model(_batch(cache, ["eus"]))
    assert out["logits_img"].shape == out["logits_txt"].shape == out["logits"].shape
    before, after = _train_step(model, _batch(cache, ["eus"]), "modality_disagreement")
    assert after < before


def test_images_only_two_modalities(cache: Cache) -> None:
    model = image_text(**_cfg(cache, modalities=["eus", "wle"], text=None))
    assert not model.uses_text_at_inference
    assert model(_batch(cache, ["eus", "wle"]))["logits"].shape[1] == 2


def test_distiller_feeds_teacher_logits_and_trains_student_only(cache: Cache) -> None:
    torch.manual_seed(0)
    teacher = image_text(**_cfg(cache, text=None))
    student = image_text(**_cfg(cache, text=None, hidden=8))
    wrapped = Distiller(student, teacher)
    wrapped.train()
    batch = _batch(cache, ["eus"])
    out = wrapped(batch)
    assert "teacher_logits" in out and not teacher.training
    terms = build_loss("distillation")(out, batch)
    sum(terms.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None for p in student.parameters())


@pytest.mark.parametrize(
    ("fusion", "text"), [("concat", "report.wle"), ("co_attention", None), ("hierarchical", "report")]
)
def test_absent_modality_uses_the_learned_token(cache: Cache, fusion: str, text: str | None) -> None:
    """`batch["present"][m]` False: that modality's pooled/token/level features become the learned token, so
    the sample's output no longer depends on its (zeroed) image, and the token receives gradient."""
    levels = 3 if fusion == "hierarchical" else 1
    model = image_text(**_cfg(cache, modalities=["eus", "wle"], fusion=fusion, num_levels=levels, text=text)).eval()
    batch = _batch(cache, ["eus", "wle"])
    n = batch["label"].shape[0]
    absent = torch.zeros(n, dtype=torch.bool)
    absent[0] = True
    batch["present"] = {"eus": torch.ones(n, dtype=torch.bool), "wle": ~absent}
    out = model(batch)["logits"]
    images = {**batch["images"], "wle": batch["images"]["wle"] + torch.randn_like(batch["images"]["wle"])}
    again = model({**batch, "images": images})["logits"]
    assert torch.allclose(out[0], again[0], atol=1e-5) and not torch.allclose(out[1:], again[1:])
    out[0].sum().backward()
    token = model.missing_levels["wle"] if levels > 1 else model.missing_token["wle"]
    assert token.grad is not None and token.grad.abs().sum() > 0
    assert model.missing_token["eus"].grad is None or model.missing_token["eus"].grad.abs().sum() == 0


def test_all_present_is_the_model_without_tokens(cache: Cache) -> None:
    """Complete data: the tokens are never used, and being zero-initialised they draw no random numbers."""
    torch.manual_seed(0)
    model = image_text(**_cfg(cache, modalities=["eus", "wle"])).eval()
    batch = _batch(cache, ["eus", "wle"])
    with_mask = {**batch, "present": {m: torch.ones(batch["label"].shape[0], dtype=torch.bool) for m in ("eus", "wle")}}
    assert torch.equal(model(batch)["logits"], model(with_mask)["logits"])
    assert all(not p.detach().any() for p in model.missing_token.values())
    assert Distiller.supports_missing_modality is False
