"""TMM-Net: losses by hand, prototype shapes, gradients per stage, every arm trains, image-only prediction."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import PAPER_ARMS
from mmdiag.data.batches import Cache, SampleSet
from mmdiag.losses import build_loss
from mmdiag.losses.contrastive import clip_loss
from mmdiag.losses.prototype import prototype_matching_loss, prototype_matrix
from mmdiag.models.tmmnet import tmmnet

TINY_VIT = {
    "model_name": "vit_tiny_patch16_224",
    "pretrained": "off",
    "model_kwargs": {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2},
}


def _cfg(cache: Cache, arm: dict[str, Any], encoder: dict[str, Any] | None = None) -> dict[str, Any]:
    attrs = cache.meta["dataset"]["attributes"]
    mods = arm["modalities"]
    return {
        "modalities": mods,
        "num_classes": 2,
        "in_chans": {"eus": 1, "wle": 3},
        "attribute_sizes": {m: [len(v) for v in attrs[m].values()] for m in mods},
        "encoder": encoder or TINY_VIT,
        "text_encoder": {"dim": 32, "depth": 1, "heads": 2},
        "vocab_size": cache.meta["vocab_size"],
        "text_length": cache.meta["text_length"],
        "stage1": arm.get("stage1", False),
        "stage2": arm.get("stage2", False),
        "attention": arm.get("attention", False),
        "attributes": arm.get("attributes", False),
        "embed_dim": 16,
        "proto_dim": 8,
        "attn_dim": 16,
        "text_sections": {m: f"report.{m}" for m in mods},
    }


@pytest.fixture(scope="module")
def cache(tiny_cache: Path) -> Cache:
    return Cache.load(tiny_cache / "cache")


def _batch(cache: Cache, mods: list[str], n: int = 6) -> dict[str, Any]:
    s = SampleSet(cache, cache.cases["case_id"].tolist()[:n], mods)
    return s.batch(torch.arange(min(n, len(s))))


def test_clip_loss_hand_computed_3x3() -> None:
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    txt = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    m = [[sum(a * b for a, b in zip(i, t)) for t in txt.tolist()] for i in img.tolist()]
    rows = [-(m[i][i] - math.log(sum(math.exp(x) for x in m[i]))) for i in range(3)]
    cols = [-(m[j][j] - math.log(sum(math.exp(m[i][j]) for i in range(3)))) for j in range(3)]
    expected = (sum(rows) / 3 + sum(cols) / 3) / 2
    assert clip_loss(img, txt).item() == pytest.approx(expected, rel=1e-6)
    # distinct cases: the multi-positive form is exactly the paper's arange target
    assert clip_loss(img, txt, torch.tensor([7, 8, 9])).item() == pytest.approx(expected, rel=1e-6)


def test_same_case_pairs_are_not_negatives() -> None:
    # Samples 0 and 1 are two views of one case; their report embeddings differ slightly (dropout), and each
    # image lies closer to the OTHER view's report. arange targets punish that as a wrong match; with
    # multi-positive targets the same-case report is not a negative.
    img = torch.nn.functional.normalize(torch.tensor([[1.0, -0.3], [1.0, 0.3], [0.0, 1.0]]), dim=-1)
    txt = torch.nn.functional.normalize(torch.tensor([[1.0, 0.3], [1.0, -0.3], [-0.5, 1.0]]), dim=-1)
    distinct = clip_loss(img, txt, torch.tensor([0, 1, 2]), 10.0)
    same = clip_loss(img, txt, torch.tensor([0, 0, 1]), 10.0)
    assert same < distinct - 0.1
    # With identical same-case reports both targets give the same value (the duplicate column is no signal).
    twin = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=-1)
    assert clip_loss(img, twin, torch.tensor([0, 0, 1])).item() == pytest.approx(clip_loss(img, twin).item())


def test_prototype_matrices_are_6x6_and_5x5(cache: Cache) -> None:
    model = tmmnet(**_cfg(cache, PAPER_ARMS["tmmnet"]))
    model.set_active({"proto", "attr", "cls"})
    out = model(_batch(cache, ["eus", "wle"]))
    shapes = {m: prototype_matrix(*out["protos"][m]).shape[1:] for m in ("eus", "wle")}
    assert shapes == {"eus": (6, 6), "wle": (5, 5)}
    assert [lg.shape[1] for lg in out["attr_logits"]["eus"]] == [4, 4, 3, 2, 3, 2]
    p = torch.nn.functional.normalize(torch.randn(2, 5, 8), dim=-1)
    perfect = prototype_matching_loss(p, p, 50.0)
    shuffled = prototype_matching_loss(p, p[:, torch.randperm(5)], 50.0)
    assert perfect < shuffled


PHASES = {
    "stage1": ({"clip"}, ["image", "text", "img_proj", "txt_proj", "logit_scale"]),
    "stage2": ({"proto", "attr"}, ["image", "text", "img_protos", "txt_protos", "attr_heads", "proto_scale"]),
    "classify": ({"cls", "clip", "proto", "attr"}, ["image", "fusion", "head", "img_protos", "attr_heads"]),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_gradients_reach_every_trainable_part(cache: Cache, phase: str) -> None:
    torch.manual_seed(0)
    model = tmmnet(**_cfg(cache, PAPER_ARMS["tmmnet"]))
    terms, parts = PHASES[phase]
    model.set_active(terms)
    batch = _batch(cache, ["eus", "wle"])
    # the tiny set is sparsely annotated (a quarter of the cases): give every sample a label for this check
    batch["attrs"] = {m: a.clamp(min=0) for m, a in batch["attrs"].items()}
    loss_fn = build_loss("guided")
    out = model(batch)
    sum(v for k, v in {**loss_fn(out, batch), **out}.items() if k.endswith("_loss")).backward()
    for part in parts:
        params = [(n, p) for n, p in model.named_parameters() if n.split(".")[0] == part]
        assert params, part
        dead = [n for n, p in params if p.grad is None or not p.grad.abs().sum() > 0]
        assert not dead, f"{phase}: no gradient in {dead[:5]}"


def test_stage3_gradients_reach_attention(cache: Cache) -> None:
    torch.manual_seed(0)
    model = tmmnet(**_cfg(cache, PAPER_ARMS["tmmnet"]))
    model.set_active({"cls"})
    batch = _batch(cache, ["eus", "wle"])
    build_loss("ce")(model(batch), batch)["ce_loss"].backward()
    for name, p in model.fusion.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("arm", list(PAPER_ARMS))
def test_each_arm_builds_and_trains_one_step(cache: Cache, arm: str) -> None:
    torch.manual_seed(0)
    spec = PAPER_ARMS[arm]
    model = tmmnet(**_cfg(cache, spec))
    terms = (
        {"cls"}
        | ({"clip"} if spec.get("stage1") else set())
        | ({"proto", "attr"} if spec.get("stage2") else set())
        | ({"attr"} if spec.get("attributes") else set())
    )
    model.set_active(terms)
    batch = _batch(cache, spec["modalities"])
    loss_fn = build_loss("guided")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)  # small step: a descent direction must lower the loss

    def total() -> torch.Tensor:
        out = model(batch)
        return sum(v for k, v in {**loss_fn(out, batch), **out}.items() if k.endswith("_loss"))

    model.eval()  # no dropout: the loss before/after one step is comparable
    before = total()
    opt.zero_grad()
    before.backward()
    opt.step()
    assert total().item() < before.item()


def test_prediction_needs_no_report(cache: Cache) -> None:
    from mmdiag.experiments.evaluation import predict

    model = tmmnet(**_cfg(cache, PAPER_ARMS["tmmnet"]))
    s = SampleSet(cache, cache.cases["case_id"].tolist()[:4], ["eus", "wle"])
    pred = predict(model, s, batch_size=4)
    assert pred["probs"].shape == (len(s), 2)
    assert set(pred["attr_probs"]) == {("eus", k) for k in range(6)} | {("wle", k) for k in range(5)}
    batch = s.batch(torch.arange(len(s)))
    del batch["text"]
    model.eval()
    model.set_active({"cls", "attr"})
    with torch.no_grad():
        assert model(batch)["logits"].shape == (len(s), 2)
    model.set_active({"cls", "clip"})
    with torch.no_grad():  # a text objective without a report: the model still predicts, skips the term
        out = model(batch)
    assert "clip" not in out and out["logits"].shape == (len(s), 2)


def test_invalid_arms_are_rejected(cache: Cache) -> None:
    with pytest.raises(ValueError, match="two modalities"):
        tmmnet(**_cfg(cache, {"modalities": ["eus"], "stage1": True, "stage2": True, "attention": True}))
    with pytest.raises(ValueError, match="stage 2 builds on stage 1"):
        tmmnet(**_cfg(cache, {"modalities": ["eus", "wle"], "stage2": True}))
    model = tmmnet(**_cfg(cache, PAPER_ARMS["direct_fusion"]))
    with pytest.raises(ValueError, match="not part of this arm"):
        model.set_active({"clip"})


def test_cnn_backbone_plugin(cache: Cache) -> None:
    """Text guidance as a plug-in for CNN backbones (Table 2): stages 1,2 + direct fusion on a ResNet."""
    cnn = {"model_name": "resnet50", "width": 0.125, "pretrained": "off"}
    model = tmmnet(**_cfg(cache, PAPER_ARMS["stages12"], encoder=cnn))
    model.set_active({"cls", "clip", "proto", "attr"})
    out = model(_batch(cache, ["eus", "wle"]))
    assert out["logits"].shape[1] == 2 and "protos" in out and "clip" in out


def test_attention_over_a_1x1_grid_is_refused_naming_encoder_and_size(cache: Cache) -> None:
    """A stride-32 CNN at 32 px gives one token: stage 3 would silently be a linear map."""
    cnn = {"model_name": "resnet18", "width": 0.25, "pretrained": "off"}
    cfg = {**_cfg(cache, PAPER_ARMS["tmmnet"], encoder=cnn), "image_size": 32, "encoder_label": "resnet18_cpu"}
    with pytest.raises(ValueError, match=r"at least 2x2, but encoder 'resnet18_cpu' gives 1x1 at 32 px"):
        tmmnet(**cfg)
    ok = {**cnn, "model_kwargs": {"output_stride": 8}}
    model = tmmnet(**{**_cfg(cache, PAPER_ARMS["tmmnet"], encoder=ok), "image_size": 32})
    assert model(_batch(cache, ["eus", "wle"]))["attention_maps"][0].shape[1] == 16  # a 4x4 grid


def test_attributes_arm_learns_attributes_without_a_text_tower(cache: Cache) -> None:
    model = tmmnet(**_cfg(cache, PAPER_ARMS["attributes_no_text"]))
    assert len(model.text) == 0 and not hasattr(model, "txt_protos")
    with pytest.raises(ValueError, match="not part of this arm"):
        model.set_active({"proto"})
    model.set_active({"cls", "attr"})
    out = model(_batch(cache, ["eus", "wle"]))
    assert "protos" not in out and [lg.shape[1] for lg in out["attr_logits"]["wle"]] == [4, 4, 3, 4, 2]


def test_unannotated_attributes_and_missing_modalities_take_no_part_in_the_losses(cache: Cache) -> None:
    """-1 targets are skipped (an all-unannotated batch gives 0, not NaN); samples without a modality
    get the learned token and leave that modality's attribute and CLIP terms."""
    torch.manual_seed(0)
    model = tmmnet(**{**_cfg(cache, PAPER_ARMS["tmmnet"]), "missing_token": True})
    model.set_active({"cls", "clip", "proto", "attr"})
    batch = _batch(cache, ["eus", "wle"])
    n = batch["label"].shape[0]
    batch["attrs"] = {m: torch.full_like(a, -1) for m, a in batch["attrs"].items()}
    batch["present"] = {"eus": torch.ones(n, dtype=torch.bool), "wle": torch.arange(n) % 2 == 0}
    batch["images"]["wle"][~batch["present"]["wle"]] = 0.0
    terms = build_loss("guided")(model(batch), batch)
    assert terms["attr_loss"].item() == 0.0 and all(torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    assert model.missing["wle"].grad is not None and model.missing["wle"].grad.abs().sum() > 0
