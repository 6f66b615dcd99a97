"""The character frequency-rank vocabulary (TMM-Net §4.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmdiag.data.corpus import FIRST_RANK_ID, PAD_ID, UNK_ID, build_corpus, load_corpus, save_corpus


def test_ids_are_frequency_ranks_with_deterministic_ties() -> None:
    c = build_corpus(["aab", "ba", "c"], max_length=5)
    # a:3, b:2, c:1 -> ranks 1, 2, 3 -> ids 2, 3, 4
    assert c.vocab == {"a": FIRST_RANK_ID, "b": FIRST_RANK_ID + 1, "c": FIRST_RANK_ID + 2}
    tie = build_corpus(["yx"], max_length=2)
    assert tie.chars == ["x", "y"]  # equal counts: by code point


def test_encode_pads_truncates_and_masks() -> None:
    c = build_corpus(["abc"], max_length=4)
    ids, mask = c.encode(["ab", "abcz?"])
    assert ids.shape == (2, 4) and ids.dtype == np.int32
    assert ids[0].tolist()[2:] == [PAD_ID, PAD_ID] and mask[0].tolist() == [True, True, False, False]
    assert ids[1, 3] == UNK_ID  # 'z' is not in the corpus
    assert mask[1].all()


def test_roundtrip(tmp_path: Path) -> None:
    c = build_corpus(["hello world", "low"], max_length=16)
    save_corpus(c, tmp_path / "corpus.json")
    back = load_corpus(tmp_path / "corpus.json")
    assert back.vocab == c.vocab and back.max_length == 16 and back.counts == c.counts


def test_no_reports_gives_the_two_special_ids_only(tmp_path: Path) -> None:
    """A dataset without reports.csv (contract C1): the corpus holds padding and unknown, nothing else."""
    c = build_corpus([], max_length=8)
    assert c.vocab_size == FIRST_RANK_ID and c.vocab == {}
    save_corpus(c, tmp_path / "corpus.json")
    assert load_corpus(tmp_path / "corpus.json").vocab_size == 2
