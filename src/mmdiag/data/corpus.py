"""The report vocabulary of TMM-Net §4.1 ("SELs corpus").

Every report is split into single characters, characters are counted over all reports and sorted by
count; the vocabulary maps each character to its frequency rank. Reports are encoded with it,
padded/truncated to one length, and a padding mask keeps attention off the padding.

Our choices where the paper is silent (named here and in docs): ids 0 and 1 are reserved for
padding and unknown characters (ranks start at id 2); ties in count are broken by the character's
code point so the vocabulary is deterministic; the corpus is built from every report of the dataset,
as in the paper (it holds characters only, no labels).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmdiag.io import write_text

PAD_ID = 0
UNK_ID = 1
FIRST_RANK_ID = 2


@dataclass(frozen=True)
class Corpus:
    """Character -> id (frequency rank + 2) with the counts it was built from."""

    counts: dict[str, int]
    max_length: int

    @property
    def chars(self) -> list[str]:
        """Characters by descending count (ties by code point): index = rank - 1."""
        return sorted(self.counts, key=lambda c: (-self.counts[c], ord(c)))

    @property
    def vocab(self) -> dict[str, int]:
        return {c: i + FIRST_RANK_ID for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.counts) + FIRST_RANK_ID

    def encode(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Encode texts to ([N, max_length] int32 ids, [N, max_length] bool mask, True = real char)."""
        vocab = self.vocab
        texts = list(texts)
        ids = np.full((len(texts), self.max_length), PAD_ID, dtype=np.int32)
        for i, text in enumerate(texts):
            row = [vocab.get(ch, UNK_ID) for ch in text[: self.max_length]]
            ids[i, : len(row)] = row
        return ids, ids != PAD_ID

    def to_json(self) -> dict:
        return {
            "max_length": self.max_length,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "vocab_size": self.vocab_size,
            "chars": [{"char": c, "count": self.counts[c], "id": i} for c, i in self.vocab.items()],
        }

    @classmethod
    def from_json(cls, d: dict) -> Corpus:
        return cls(counts={e["char"]: int(e["count"]) for e in d["chars"]}, max_length=int(d["max_length"]))


def build_corpus(reports: Iterable[str], max_length: int) -> Corpus:
    """Count characters over all reports (the paper's corpus construction)."""
    counts: Counter[str] = Counter()
    for text in reports:
        counts.update(text)
    return Corpus(counts=dict(counts), max_length=max_length)


def save_corpus(corpus: Corpus, path: str | Path) -> None:
    """Write the corpus JSON atomically."""
    write_text(path, json.dumps(corpus.to_json(), ensure_ascii=False, indent=1) + "\n")


def load_corpus(path: str | Path) -> Corpus:
    return Corpus.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
