"""`encoders.<name>.stem: cifar`: the 3x3 stride-1 stem without max-pool of MedMNIST v2's 28-px ResNet-18.

Fast: encoders are built on the meta device or at 1/8 width, nothing is trained. The default stem must leave
a model exactly as before the option existed (same weights from the same seed, same random draws after).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from torch import nn

from mmdiag.config import load_config
from mmdiag.config.checks import _forward, probe_encoder
from mmdiag.errors import ConfigError
from mmdiag.models.encoders import create_image_encoder
from mmdiag.models.encoders.timm_image import TimmImageEncoder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def probe_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoder probes are cached per user; these tests keep theirs to themselves."""
    monkeypatch.setenv("MMDIAG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    ("recipe", "size", "grid"),
    [
        ({"model_name": "resnet18"}, 32, (1, 1)),
        ({"model_name": "resnet18", "model_kwargs": {"output_stride": 8}}, 32, (4, 4)),
        ({"model_name": "resnet18", "stem": "cifar"}, 32, (4, 4)),
        ({"model_name": "resnet18", "stem": "cifar"}, 28, (4, 4)),
        ({"model_name": "resnet50", "width": 0.25, "stem": "cifar"}, 32, (4, 4)),
    ],
)
def test_grid_of_the_last_map(recipe: dict, size: int, grid: tuple[int, int]) -> None:
    assert _forward(recipe, size) == grid


def test_cifar_stem_is_one_3x3_stride_1_conv_without_max_pool() -> None:
    with torch.device("meta"):
        enc = TimmImageEncoder("resnet18", in_chans=1, stem="cifar", num_levels=4)
    conv = enc.body.conv1
    assert (conv.in_channels, conv.out_channels) == (1, 64)
    assert (conv.kernel_size, conv.stride, conv.padding, conv.bias) == ((3, 3), (1, 1), (1, 1), None)
    assert isinstance(enc.body.maxpool, nn.Identity)
    assert enc.body.feature_info.reduction() == [1, 2, 4, 8]  # timm's [4, 8, 16, 32] without the stem's 4x
    out = enc(torch.empty(2, 1, 32, 32, device="meta"))
    assert out.grid == (4, 4) and out.tokens.shape == (2, 16, 512)


def test_default_stem_draws_what_timm_draws() -> None:
    """Same weights as timm's own model from the same seed, and the generator left in the same state."""
    torch.manual_seed(0)
    ref = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=1, in_chans=3)
    ref_next = torch.rand(4)
    torch.manual_seed(0)
    enc = create_image_encoder({"type": "timm", "model_name": "resnet18", "pretrained": "off", "stem": "default"}, 3)
    assert torch.equal(torch.rand(4), ref_next)
    assert isinstance(enc.body.maxpool, nn.MaxPool2d) and enc.body.conv1.kernel_size == (7, 7)
    ours = enc.body.state_dict()
    assert ours.keys() == ref.state_dict().keys()
    assert all(torch.equal(ours[k], v) for k, v in ref.state_dict().items())


def test_cifar_stem_changes_only_the_stem_conv() -> None:
    """The new conv is drawn after the backbone: every other weight is the default stem's from the same seed."""
    torch.manual_seed(0)
    default = TimmImageEncoder("resnet18", width=0.125).body.state_dict()
    torch.manual_seed(0)
    cifar = TimmImageEncoder("resnet18", width=0.125, stem="cifar").body.state_dict()
    assert cifar.keys() == default.keys()
    assert [k for k in default if not torch.equal(default[k], cifar[k])] == ["conv1.weight"]
    assert cifar["conv1.weight"].shape == (64, 3, 3, 3)  # width scales the stages, not the stem


@pytest.mark.parametrize(
    ("model_name", "kwargs"), [("vgg16", {}), ("densenet121", {}), ("vit_tiny_patch16_224", {"img_size": 32})]
)
def test_cifar_stem_needs_a_resnet(model_name: str, kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=rf"stem 'cifar' needs a timm ResNet .*not '{model_name}'"):
        _forward({"model_name": model_name, "stem": "cifar", "model_kwargs": kwargs}, 32)


def test_unknown_stem() -> None:
    with pytest.raises(ConfigError, match=r"stem 'deep' is not one of \['default', 'cifar'\]"):
        TimmImageEncoder("resnet18", stem="deep")


def test_probe_says_the_stem_is_wrong_not_the_size() -> None:
    probe = probe_encoder({"model_name": "vgg16", "width": 0.125, "stem": "cifar"}, 32)
    assert not probe.ok and probe.min_size is None and probe.error.startswith("ConfigError: stem 'cifar'")


def _load(tmp_path: Path, text: str) -> dict:
    user = tmp_path / "user.yaml"
    user.write_text(f"results: {tmp_path / 'results'}\n{text}", encoding="utf-8")
    return load_config(REPO / "config" / "config.yaml", user)


def test_config_refuses_a_cifar_stem_on_vgg_naming_the_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, "encoders:\n  vgg16_cpu: {stem: cifar}\n")
    msg = str(exc.value)
    assert "\n" not in msg and "user.yaml" in msg, msg
    assert "encoders.vgg16_cpu: stem 'cifar' needs a timm ResNet" in msg and "'vgg16'" in msg, msg


def test_config_takes_a_cifar_stem_and_refuses_an_unknown_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config = _load(tmp_path, "encoders:\n  resnet18_os8: {stem: cifar, model_kwargs: {}}\n")
    assert config["encoders"]["resnet18_os8"]["stem"] == "cifar"
    assert config["encoders"]["vgg16_cpu"]["stem"] == "default"  # every recipe gets the default filled in
    with pytest.raises(ConfigError, match=r"encoders\.resnet18_os8\.stem: must be one of default \| cifar"):
        _load(tmp_path, "encoders:\n  resnet18_os8: {stem: deep}\n")
