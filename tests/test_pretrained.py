"""Pretrained weights offline: `off`, `preferred` (fall back, say so) and `required` (stop), and local files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import timm
import torch

from mmdiag.errors import ConfigError
from mmdiag.models.encoders.timm_image import TimmImageEncoder

NAME = "resnet18"


def test_off_builds_from_scratch() -> None:
    enc = TimmImageEncoder(NAME, pretrained="off")
    assert not enc.pretrained_status.loaded and "off" in enc.pretrained_status.message


def test_preferred_falls_back_offline_with_one_clear_line(caplog: pytest.LogCaptureFixture) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # conftest: no 75 s of hub retries (a fact, not a timing)
    enc = TimmImageEncoder(NAME, pretrained="preferred")
    status = enc.pretrained_status.to_json()
    assert status["loaded"] is False and "training from scratch" in status["message"]
    assert any("unavailable" in r.getMessage() for r in caplog.records)
    assert enc(torch.randn(2, 3, 32, 32)).pooled.shape == (2, 512)


def test_required_stops_with_instructions() -> None:
    with pytest.raises(ConfigError, match=r"required but could not be loaded.*pretrained_file"):
        TimmImageEncoder(NAME, pretrained="required")


def test_required_loads_a_local_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = timm.create_model(NAME, pretrained=False)
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    enc = TimmImageEncoder(NAME, pretrained="required", pretrained_file=str(path))
    assert enc.pretrained_status.loaded
    loaded = dict(enc.body.named_parameters())
    assert torch.equal(loaded["conv1.weight"], source.conv1.weight)


def test_invalid_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pretrained"):
        TimmImageEncoder(NAME, pretrained="sometimes")
