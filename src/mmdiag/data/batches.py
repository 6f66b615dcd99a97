"""In-memory batches from the preprocessing cache: the whole data path of training and evaluation.

The cache holds decoded, resized, normalised float16 arrays, so a batch is one `index_select` and a
cast — no decoding, no worker processes, no Python per sample. Shuffling draws from a generator
seeded by (seed, epoch): the order of epoch k is the same whether or not the run was interrupted
before it, which is what makes resume-from-checkpoint give identical metrics.

Pairing (TMM-Net §4.2 "1:1 pairing" of the EUS and WLE images of a case): with policy `cyclic` the
k-th image of each modality forms the k-th sample of the case, the shorter list cycling, so a case
yields max_m(n_m) samples; with `all` every combination is a sample (n_1 * n_2 ...). An absent
modality (policy `token`) takes part as a single placeholder row -1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmdiag.data import cache_layout
from mmdiag.io import read_json

Batch = dict[str, object]
Augment = Callable[[dict[str, torch.Tensor], torch.Generator], dict[str, torch.Tensor]]


@dataclass
class Cache:
    """The preprocessing cache, loaded into memory once per process."""

    root: Path
    images: dict[str, torch.Tensor]  # modality -> float16 [N, C, S, S]
    image_index: pd.DataFrame
    cases: pd.DataFrame
    texts: dict[str, torch.Tensor]  # report column -> int64 [n_cases, L]
    meta: dict

    @classmethod
    def load(cls, root: str | Path, modalities: Sequence[str] | None = None) -> Cache:
        root = Path(root)
        meta = read_json(root / cache_layout.META)
        mods = list(meta["shapes"]) if modalities is None else list(modalities)
        images = {m: torch.from_numpy(np.load(root / cache_layout.image_array(m))) for m in mods}
        texts = {
            c: torch.from_numpy(np.load(root / cache_layout.text_array(c)).astype(np.int64))
            for c in meta["report_columns"]
        }
        return cls(
            root,
            images,
            pd.read_csv(root / cache_layout.IMAGE_INDEX, dtype={"case_id": str}),
            pd.read_csv(root / cache_layout.CASES, dtype={"case_id": str}),
            texts,
            meta,
        )

    @property
    def attribute_columns(self) -> dict[str, list[str]]:
        """modality -> its `<modality>.<attribute>` columns (prototype streams, in order)."""
        attrs = self.meta["dataset"].get("attributes") or {}
        return {m: [f"{m}.{a}" for a in av] for m, av in attrs.items()}

    @property
    def labels(self) -> list[str]:
        return list(self.meta["dataset"]["labels"])


MISSING_POLICIES = ("drop", "token")


class SampleSet:
    """The samples (case, one image row per modality) of one split partition.

    Missing modalities (docs/data_format.md, "Missing modalities"): with `missing="drop"` only cases
    that have every modality in `modalities` are kept, the others are listed in `dropped_cases`; with
    `missing="token"` every case having at least one of them is kept, an absent modality's row is -1,
    its image tensor is zeros and `batch["present"][m]` is False for that sample (`present` is always in
    the batch; all True for complete data). Cases with none of the modalities are dropped either way.

    `modality_dropout` p: in shuffled (training) batches only, each present modality of a sample with at
    least two present is hidden (present False, image zeroed) with probability p, drawn from a generator
    seeded by (seed, epoch) like augmentation; if every present modality of a sample is drawn, the one
    drawn last (highest draw) stays, so no sample is left without an image.
    """

    def __init__(
        self,
        cache: Cache,
        case_ids: Sequence[str],
        modalities: Sequence[str],
        pairing: str = "cyclic",
        missing: str = "drop",
        modality_dropout: float = 0.0,
    ) -> None:
        if pairing not in ("cyclic", "all"):
            raise ValueError(f"unknown pairing policy '{pairing}' (cyclic | all)")
        if missing not in MISSING_POLICIES:
            raise ValueError(f"unknown missing-modality policy '{missing}' ({' | '.join(MISSING_POLICIES)})")
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
        self.cache = cache
        self.modalities = list(modalities)
        self.missing = missing
        self.modality_dropout = float(modality_dropout)
        pos = {cid: i for i, cid in enumerate(cache.cases["case_id"])}
        rows_by_case = {
            m: cache.image_index[cache.image_index["modality"] == m].groupby("case_id")["row"].apply(list)
            for m in self.modalities
        }
        case_pos: list[int] = []
        rows: dict[str, list[int]] = {m: [] for m in self.modalities}
        self.dropped_cases: list[str] = []
        for cid in case_ids:
            lists = [rows_by_case[m].get(cid, []) for m in self.modalities]
            have = [bool(x) for x in lists]
            if not any(have) or (missing == "drop" and not all(have)):
                self.dropped_cases.append(cid)
                continue
            real = [x if x else [-1] for x in lists]  # -1: this modality is absent for the case
            if pairing == "all":
                combos = list(itertools.product(*real))
            else:
                n = max(len(x) for x in lists)
                combos = [tuple(x[k % len(x)] for x in real) for k in range(n)]
            for combo in combos:
                case_pos.append(pos[cid])
                for m, r in zip(self.modalities, combo):
                    rows[m].append(r)
        self.case_pos = torch.tensor(case_pos, dtype=torch.long)
        self.rows = {m: torch.tensor(r, dtype=torch.long) for m, r in rows.items()}
        self.present = {m: r >= 0 for m, r in self.rows.items()}  # per sample, before modality dropout
        self.y = torch.tensor(cache.cases["y"].to_numpy(), dtype=torch.long)[self.case_pos]
        attr_cols = cache.attribute_columns
        self.attrs = {
            m: torch.tensor(cache.cases[cols].to_numpy(), dtype=torch.long)[self.case_pos]
            for m, cols in attr_cols.items()
            if m in self.modalities and cols
        }

    def __len__(self) -> int:
        return len(self.case_pos)

    @property
    def case_ids(self) -> list[str]:
        ids = self.cache.cases["case_id"].to_numpy()
        return ids[self.case_pos.numpy()].tolist()

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.y, minlength=num_classes).tolist()

    def batch(self, idx: torch.Tensor) -> Batch:
        """Materialise the samples at positions `idx` (float32 images, int64 targets, bool `present`)."""
        case = self.case_pos[idx]
        images, present = {}, {}
        for m in self.modalities:
            rows = self.rows[m][idx]
            present[m] = rows >= 0
            source = self.cache.images[m]
            if len(source):
                x = source.index_select(0, rows.clamp(min=0)).float()
                if not bool(present[m].all()):
                    x[~present[m]] = 0.0
            else:  # the modality has no image at all in this dataset
                x = torch.zeros((len(rows), *source.shape[1:]), dtype=torch.float32)
            images[m] = x
        return {
            "images": images,
            "present": present,
            "label": self.y[idx],
            "case": case,
            "attrs": {m: a[idx] for m, a in self.attrs.items()},
            "text": {c: t.index_select(0, case) for c, t in self.cache.texts.items()},
            "index": idx,
        }

    def _drop_modalities(self, b: Batch, g: torch.Generator) -> None:
        """Hide present modalities at random (see the class docstring), in place."""
        present = torch.stack([b["present"][m] for m in self.modalities], dim=1)  # [B, M]
        draws = torch.rand(present.shape, generator=g)
        several = present.sum(dim=1, keepdim=True) >= 2
        hide = present & several & (draws < self.modality_dropout)
        emptied = (present & ~hide).sum(dim=1) == 0
        if bool(emptied.any()):  # keep the highest-drawn present modality of a sample left with none
            keep = torch.where(present, draws, torch.full_like(draws, -1.0)).argmax(dim=1)
            hide[emptied, keep[emptied]] = False
        for k, m in enumerate(self.modalities):
            if bool(hide[:, k].any()):
                b["present"][m] = present[:, k] & ~hide[:, k]
                b["images"][m][hide[:, k]] = 0.0

    def order(self, epoch: int, seed: int, shuffle: bool, sampler: str = "uniform") -> torch.Tensor:
        """Sample order of one epoch; depends only on (seed, epoch), never on earlier epochs."""
        n = len(self)
        if not shuffle:
            return torch.arange(n)
        g = torch.Generator().manual_seed(_mix(seed, epoch))
        if sampler == "class_balanced":
            counts = torch.bincount(self.y).float()
            weights = 1.0 / counts[self.y]
            return torch.multinomial(weights, n, replacement=True, generator=g)
        if sampler != "uniform":
            raise ValueError(f"unknown sampler '{sampler}' (uniform | class_balanced)")
        return torch.randperm(n, generator=g)

    def batches(
        self,
        batch_size: int,
        epoch: int = 0,
        seed: int = 0,
        shuffle: bool = False,
        drop_last: bool = False,
        sampler: str = "uniform",
        augment: Augment | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[Batch]:
        """Yield batches; `augment` transforms the image dict with an (seed, epoch)-seeded generator.

        Modality dropout (if set) applies to shuffled batches only, i.e. training, never evaluation.
        """
        order = self._sharded(self.order(epoch, seed, shuffle, sampler), shard)
        g = torch.Generator().manual_seed(_mix(seed, epoch, 7919))
        dropout = shuffle and self.modality_dropout > 0 and len(self.modalities) > 1
        g_drop = torch.Generator().manual_seed(_mix(seed, epoch, 104729)) if dropout else None
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for start in range(0, stop, batch_size):
            b = self.batch(order[start : start + batch_size])
            if g_drop is not None:
                self._drop_modalities(b, g_drop)
            if augment is not None:
                b["images"] = augment(b["images"], g)
            yield b

    def num_batches(self, batch_size: int, drop_last: bool = False, shard: tuple[int, int] | None = None) -> int:
        n = len(self._sharded(torch.arange(len(self)), shard))
        return n // batch_size if drop_last else -(-n // batch_size)

    @staticmethod
    def _sharded(order: torch.Tensor, shard: tuple[int, int] | None) -> torch.Tensor:
        """This rank's share of an epoch's order under DDP (rank, world); the whole order otherwise."""
        if shard is None or shard[1] == 1:
            return order
        from mmdiag.engine.distributed import shard_order

        return shard_order(order, *shard)


def _mix(*xs: int) -> int:
    """Combine integers into one 63-bit seed (stable across processes, unlike hash())."""
    h = 1469598103934665603
    for x in xs:
        h = ((h ^ (int(x) & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) & 0x7FFFFFFFFFFFFFFF
    return h
