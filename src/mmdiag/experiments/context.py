"""What every experiment process loads once: the config, the preprocessing cache and the splits."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmdiag.config import config_hash
from mmdiag.config.fields import fill
from mmdiag.config.sections import DataConfig
from mmdiag.data.batches import Augment, Cache, SampleSet
from mmdiag.data.format import positive_index
from mmdiag.data.splits import Split
from mmdiag.errors import ConfigError
from mmdiag.io import read_json


@dataclass
class Context:
    config: dict[str, Any]
    cache: Cache
    _splits: dict[str, Split] = field(default_factory=dict)

    @classmethod
    def open(cls, config: Mapping[str, Any], cache_dir: str | Path) -> Context:
        return cls(dict(config), Cache.load(cache_dir))

    # -- dataset facts -------------------------------------------------------------------------------
    @property
    def dataset(self) -> dict[str, Any]:
        return self.cache.meta["dataset"]

    @property
    def task(self) -> str:
        return self.dataset.get("task", "binary")

    @property
    def labels(self) -> list[str]:
        return list(self.dataset["labels"])

    @property
    def positive_index(self) -> int:
        return positive_index(self.labels, self.dataset.get("positive_label"))

    def channels(self, modality: str) -> int:
        return int(self.dataset["modalities"][modality]["channels"])

    def attribute_sizes(self) -> dict[str, list[int]]:
        return {m: [len(v) for v in av.values()] for m, av in (self.dataset.get("attributes") or {}).items()}

    # -- what a model is told about the data (every model config starts from these) -------------------
    def model_inputs(self, modalities: Sequence[str]) -> dict[str, Any]:
        """A model's image modalities, its class count and each modality's channels."""
        mods = list(modalities)
        return {"modalities": mods, "num_classes": len(self.labels), "in_chans": {m: self.channels(m) for m in mods}}

    def text_inputs(self) -> dict[str, Any]:
        """What a text tower is built from: the corpus's vocabulary, the report length, id -> character."""
        meta = self.cache.meta
        return {
            "vocab_size": int(meta["vocab_size"]),
            "text_length": int(meta["text_length"]),
            "id_to_char": list(meta.get("id_to_char", [])),
        }

    def text_sections(self, modalities: Sequence[str]) -> dict[str, str]:
        cols = self.cache.meta["report_columns"]
        return {m: f"report.{m}" if f"report.{m}" in cols else "report" for m in modalities}

    # -- splits and samples --------------------------------------------------------------------------
    def split(self, path: str) -> Split:
        if path not in self._splits:
            self._splits[path] = Split.from_json(read_json(path))
        return self._splits[path]

    def samples(
        self, split_path: str | Path, partition: str, modalities: Sequence[str], missing: str | None = None
    ) -> SampleSet:
        """`missing`: override `data.missing_modality` (e.g. `drop` for a model without a missing-modality token)."""
        split = self.split(str(split_path))
        if partition not in split.partitions:
            raise ConfigError(f"{split_path}: no partition '{partition}' (has {', '.join(split.partitions)})")
        data = fill(DataConfig, self.config.get("data"))  # a bare Context (tests) gets the section's defaults
        return SampleSet(
            self.cache,
            split.partitions[partition],
            modalities,
            pairing=data.pairing,
            missing=missing or data.missing_modality,
            modality_dropout=float(data.modality_dropout) if partition == "train" else 0.0,
        )

    def augment(self, override: Mapping[str, Any] | None = None) -> Augment | None:
        """Training augmentation (`augment` config, or a run's own) with the cache's normalisation (CLAHE needs it)."""
        from mmdiag.data.augment import build_augment

        norm = self.cache.meta["normalisation"]
        cfg = self.config.get("augment") if override is None else override
        return build_augment(cfg, mean={m: v[0] for m, v in norm.items()}, std={m: v[1] for m, v in norm.items()})

    # -- config helpers ------------------------------------------------------------------------------
    def encoder_cfg(self, name: str) -> dict[str, Any]:
        """An `encoders.<name>` entry with `img_size: auto` resolved to the preprocessing size."""
        encoders = self.config["encoders"]
        if name not in encoders:
            raise ConfigError(f"encoders.{name}: not defined (defined: {', '.join(encoders)})")
        cfg = copy.deepcopy(encoders[name])
        kwargs = cfg.get("model_kwargs") or {}
        if kwargs.get("img_size") == "auto":
            kwargs["img_size"] = int(self.cache.meta["size"])
        cfg["model_kwargs"] = kwargs
        cfg.pop("label", None)
        return cfg

    def encoder_label(self, name: str) -> str:
        return str(self.config["encoders"].get(name, {}).get("label", name))

    def fingerprint(self, *parts: Any) -> str:
        """Identity of a training stage: settings + data, so a checkpoint is only resumed by the same job."""
        return config_hash([self.cache.meta["dataset_checksum"], self.cache.meta["size"], *parts])
