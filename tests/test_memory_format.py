"""`encoders.<name>.memory_format`: NHWC (channels_last) runs the same model as NCHW, in another layout.

Fast: 1/8-width encoders at 32 px, one backward pass, nothing trained. The default (`contiguous`) must leave
a model exactly as before the option existed; `channels_last` must give the same outputs and gradients, with
the weights really in NHWC. Compared in float64: in float32 the two layouts round differently, and through
DenseNet201's 200 layers with batch statistics of 4 images single gradients differ by up to 15 % (float64:
1e-10), so float32 is only checked on a forward pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmdiag.config import load_config
from mmdiag.errors import ConfigError
from mmdiag.models.encoders import create_image_encoder

REPO = Path(__file__).resolve().parents[1]


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str, rel: float = 1e-3) -> None:
    """Equal up to rounding: max error within `rel` of the tensor's largest value (a layout bug is O(1))."""
    scale = float(expected.detach().abs().max()) or 1.0
    assert float((actual - expected).detach().abs().max()) <= rel * scale, what


def _pair(recipe: dict) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    nchw = create_image_encoder({**recipe, "memory_format": "contiguous"}, in_chans=3)
    torch.manual_seed(0)
    nhwc = create_image_encoder({**recipe, "memory_format": "channels_last"}, in_chans=3)
    return nchw, nhwc


@pytest.mark.parametrize(
    "recipe",
    [
        {"model_name": "resnet50", "width": 0.125},
        {"model_name": "densenet201", "width": 0.125},
        {"model_name": "vgg16", "width": 0.125},
        {"model_name": "resnet18", "width": 0.25, "model_kwargs": {"output_stride": 8}},
    ],
)
def test_channels_last_is_the_same_model(recipe: dict) -> None:
    nchw, nhwc = (m.double() for m in _pair(recipe))
    for a, b in zip(nchw.state_dict().values(), nhwc.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # same initial weights: only the layout differs
    convs = [m.weight for m in nhwc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    out_a, out_b = nchw(x), nhwc(x)
    assert out_a.grid == out_b.grid and out_a.tokens.shape == out_b.tokens.shape
    _assert_close(out_b.tokens, out_a.tokens, "tokens", rel=1e-8)
    out_a.pooled.square().sum().backward()
    out_b.pooled.square().sum().backward()
    for (name, pa), pb in zip(nchw.named_parameters(), nhwc.parameters(), strict=True):
        _assert_close(pb.grad, pa.grad, name, rel=1e-8)
    _assert_close(nhwc.feature_map(x), nchw.feature_map(x), "feature_map", rel=1e-8)


def test_channels_last_float32_forward() -> None:
    nchw, nhwc = (m.eval() for m in _pair({"model_name": "resnet50", "width": 0.125}))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        _assert_close(nhwc(x).tokens, nchw(x).tokens, "tokens")


def test_default_is_nchw_and_unchanged() -> None:
    torch.manual_seed(0)
    default = create_image_encoder({"model_name": "resnet50", "width": 0.125}, in_chans=3)
    nchw, _ = _pair({"model_name": "resnet50", "width": 0.125})
    assert not default.channels_last
    for a, b in zip(default.state_dict().values(), nchw.state_dict().values(), strict=True):
        assert torch.equal(a, b) and a.is_contiguous()


def test_unknown_memory_format_is_refused() -> None:
    with pytest.raises(ConfigError, match="memory_format 'nhwc'"):
        create_image_encoder({"model_name": "resnet18", "width": 0.25, "memory_format": "nhwc"}, in_chans=3)


def test_config_schema_refuses_unknown_memory_format(tmp_path: Path) -> None:
    user = tmp_path / "user.yaml"
    user.write_text("encoders:\n  resnet18_cpu:\n    memory_format: nhwc\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="memory_format"):
        load_config(REPO / "config" / "config.yaml", user)


def test_default_encoder_keeps_nchw() -> None:
    """The TMM-Net encoder measured slower in NHWC (bench/cpu_kernels.py); the Tables 1-2 CNNs run NHWC."""
    encoders = load_config(REPO / "config" / "config.yaml")["encoders"]
    assert encoders["resnet18_os8"].get("memory_format", "contiguous") == "contiguous"
    assert {encoders[n]["memory_format"] for n in ("resnet50_cpu", "vgg16_cpu", "densenet201_cpu")} == {"channels_last"}
