"""Shared set-up for the benchmarks: a generated dataset, its cache, the default model and samples."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]


def build(n_cases: int = 120, arm: str = "direct_fusion") -> tuple[Any, Any, dict[str, Any]]:
    """(model, train SampleSet, config) on a freshly generated synthetic dataset at the default sizes."""
    from mmdiag.config import load_config
    from mmdiag.data.byo import dataset_checksum
    from mmdiag.data.synthetic import generate_dataset
    from mmdiag.experiments.context import Context
    from mmdiag.experiments.tmm import arm_spec, model_config
    from mmdiag.io import write_json
    from mmdiag.models.tmmnet import tmmnet
    from mmdiag.stages.data import build_corpus, preprocess

    config = load_config(REPO / "config" / "config.yaml")
    config["progress"] = False
    root = Path(tempfile.mkdtemp(prefix="mmdiag-bench-"))
    syn = dict(config["dataset"]["synthetic"])
    syn["centres"] = [{"name": "centre_a", "n_cases": n_cases, "device": "um2r"}]
    generate_dataset(root / "raw", syn, progress=False)
    write_json(root / "dataset.json", {"checksum": dataset_checksum(root / "raw")})
    build_corpus(config, str(root / "raw"), str(root / "corpus.json"))
    cfg = dict(config, splits={**config["splits"], "multi_centre": None, "cv": {}})
    preprocess(
        cfg,
        str(root / "raw"),
        str(root / "dataset.json"),
        str(root / "corpus.json"),
        str(root / "cache" / "meta.json"),
        str(root / "splits" / "index.json"),
    )
    ctx = Context.open(config, root / "cache")
    spec = arm_spec(ctx, arm)
    torch.manual_seed(0)
    model = tmmnet(**model_config(ctx, config["tmmnet"]["encoder"], spec["modalities"], False, False, False))
    model.set_active({"cls"})
    samples = ctx.samples(root / "splits" / "single_centre.json", "train", spec["modalities"])
    return model, samples, config
