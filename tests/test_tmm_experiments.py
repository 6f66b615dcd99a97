"""TMM-Net experiments (mmdiag.experiments.tmm): checkpoint selection that measures what a stage is for,
and settings that fail before any training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mmdiag.config import deep_merge
from mmdiag.engine.checkpoint import load_checkpoint
from mmdiag.errors import ConfigError
from mmdiag.experiments.context import Context
from mmdiag.experiments.tmm import train_arm, train_stage1

SMALL_CNN = {
    "label": "tiny CNN",
    "model_name": "resnet18",
    "width": 0.125,
    "pretrained": "off",
    "model_kwargs": {"output_stride": 8},
}
CHAR_CNN = {"type": "char_cnn", "dim": 16, "width": 32, "kernels": [3, 5], "dropout": 0.0}


def _context(tiny_cache: Path, tiny_config: dict[str, Any], **over: Any) -> Context:
    cfg = deep_merge(
        tiny_config,
        {
            "encoders": {"small": SMALL_CNN},
            "text_encoders": {"cnn": CHAR_CNN},
            "tmmnet": {"encoder": "small", "text_encoder": "cnn"},
            "progress": False,
            **over,
        },
    )
    return Context.open(cfg, tiny_cache / "cache")


def test_stage1_keeps_the_epoch_with_the_best_retrieval_and_it_beats_chance(
    tiny_cache: Path, tiny_config: dict[str, Any], tmp_path: Path
) -> None:
    """Selection by image -> report retrieval over all validation cases (chance 1/cases), not by a CLIP loss
    that never leaves chance on a few cases. Validation = the training cases here, so that alignment is
    reachable in a few epochs on a tiny set: the test is of the selection, not of generalisation."""
    split = json.loads((tiny_cache / "splits" / "single_centre.json").read_text())
    split["partitions"]["val"] = split["partitions"]["train"]
    split_path = tmp_path / "split.json"
    split_path.write_text(json.dumps(split))
    ctx = _context(tiny_cache, tiny_config, tmmnet={"schedule": {"stage1": 8}}, trainer={"batch_size": 8})
    path = train_stage1(ctx, "small", "wle", split_path, tmp_path / "pre")
    history = pd.read_csv(tmp_path / "pre" / "history.csv")
    kept = int(load_checkpoint(path)["best_epoch"])
    assert kept == int(history["val_clip_top1"].idxmax())
    assert history["val_clip_top1"][kept] > history["val_clip_chance"][kept]
    assert kept > 0  # not the first epoch by default, as the old val-loss selection did


@pytest.mark.parametrize("key", ["val_acc", "val_clip_top1"])
def test_an_unknown_select_key_fails_before_training(
    tiny_cache: Path, tiny_config: dict[str, Any], tmp_path: Path, key: str
) -> None:
    ctx = _context(tiny_cache, tiny_config, trainer={"select": key})
    split = str(tiny_cache / "splits" / "single_centre.json")
    with pytest.raises(ConfigError, match=rf"trainer.select: '{key}' is not a validation key"):
        train_arm(ctx, "direct_fusion", "small", split, {"single_centre": (split, "test")}, tmp_path / "run")
    assert not list((tmp_path / "run").rglob("*.pt"))  # nothing trained, nothing written
