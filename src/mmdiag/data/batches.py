"""In-memory batches from the preprocessing cache: the whole data path of training and evaluation.

The cache holds decoded, resized, normalised float16 arrays, so a batch is one `index_select` and a
cast — no decoding, no worker processes, no Python per sample. Shuffling draws from a generator
seeded by (seed, epoch): the order of epoch k is the same whether or not the run was interrupted
before it, which is what makes resume-from-checkpoint give identical metrics.

Pairing (TMM-Net §4.2 "1:1 pairing" of the EUS and WLE images of a case): with policy `cyclic` the
k-th image of each modality forms the k-th sample of the case, the shorter list cycling, so a case
yields max_m(n_m) samples; with `all` every combination is a sample (n_1 * n_2 ...).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

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
        meta = read_json(root / "meta.json")
        mods = list(meta["shapes"]) if modalities is None else list(modalities)
        images = {m: torch.from_numpy(np.load(root / f"images_{m}.npy")) for m in mods}
        texts = {c: torch.from_numpy(np.load(root / f"text_{c}.npy").astype(np.int64)) for c in meta["report_columns"]}
        return cls(
            root,
            images,
            pd.read_csv(root / "images.csv", dtype={"case_id": str}),
            pd.read_csv(root / "cases.csv", dtype={"case_id": str}),
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


class SampleSet:
    """The samples (case, one image row per modality) of one split partition."""

    def __init__(
        self, cache: Cache, case_ids: Sequence[str], modalities: Sequence[str], pairing: str = "cyclic"
    ) -> None:
        self.cache = cache
        self.modalities = list(modalities)
        pos = {cid: i for i, cid in enumerate(cache.cases["case_id"])}
        rows_by_case = {
            m: cache.image_index[cache.image_index["modality"] == m].groupby("case_id")["row"].apply(list)
            for m in self.modalities
        }
        case_pos: list[int] = []
        rows: dict[str, list[int]] = {m: [] for m in self.modalities}
        for cid in case_ids:
            lists = [rows_by_case[m].get(cid, []) for m in self.modalities]
            if any(not x for x in lists):
                raise ValueError(
                    f"case {cid} has no image of modality {[m for m, x in zip(self.modalities, lists) if not x]}"
                )
            if pairing == "all":
                combos = list(itertools.product(*lists))
            elif pairing == "cyclic":
                n = max(len(x) for x in lists)
                combos = [tuple(x[k % len(x)] for x in lists) for k in range(n)]
            else:
                raise ValueError(f"unknown pairing policy '{pairing}' (cyclic | all)")
            for combo in combos:
                case_pos.append(pos[cid])
                for m, r in zip(self.modalities, combo):
                    rows[m].append(r)
        self.case_pos = torch.tensor(case_pos, dtype=torch.long)
        self.rows = {m: torch.tensor(r, dtype=torch.long) for m, r in rows.items()}
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
        """Materialise the samples at positions `idx` (float32 images, int64 targets)."""
        case = self.case_pos[idx]
        return {
            "images": {m: self.cache.images[m].index_select(0, self.rows[m][idx]).float() for m in self.modalities},
            "label": self.y[idx],
            "case": case,
            "attrs": {m: a[idx] for m, a in self.attrs.items()},
            "text": {c: t.index_select(0, case) for c, t in self.cache.texts.items()},
            "index": idx,
        }

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
        """Yield batches; `augment` transforms the image dict with an (seed, epoch)-seeded generator."""
        order = self._sharded(self.order(epoch, seed, shuffle, sampler), shard)
        g = torch.Generator().manual_seed(_mix(seed, epoch, 7919))
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for start in range(0, stop, batch_size):
            b = self.batch(order[start : start + batch_size])
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
        from mmdiag.cluster.ddp import shard_order

        return shard_order(order, *shard)


def _mix(*xs: int) -> int:
    """Combine integers into one 63-bit seed (stable across processes, unlike hash())."""
    h = 1469598103934665603
    for x in xs:
        h = ((h ^ (int(x) & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) & 0x7FFFFFFFFFFFFFFF
    return h
