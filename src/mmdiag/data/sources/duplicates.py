"""Identical images under several cases: keep them in one group, and out of two official splits.

Public datasets are not free of exact duplicates (the official BreastMNIST file holds one image in
both train and test), and the dual-branch pairing reuses a secondary image for several cases. The BYO
validator refuses one image under two cases of different groups, because a split could then put the
same pixels in train and test. Converters therefore call `group_shared_images`: cases that share an
image (by pixel digest) form one group; a group spanning several official splits keeps only its cases
of the highest-priority split (test, then val, then train), so the official test set stays as published
and the training side loses the copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

SPLIT_PRIORITY = ("test", "val", "train")


def group_shared_images(
    case_images: Mapping[str, Sequence[str]], case_split: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Group cases that share an image digest and resolve groups that span official splits.

    Args:
        case_images: case id -> digests of its images (any hashable text), in case order.
        case_split: case id -> its official split.

    Returns:
        (groups, dropped): case id -> group id for every kept case in a group of two or more (the group
        id is its first case's id); dropped case id -> the kept case it duplicates.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_case: dict[str, str] = {}
    for case, digests in case_images.items():
        find(case)
        for digest in digests:
            other = first_case.setdefault(digest, case)
            if other != case:
                a, b = find(other), find(case)
                if a != b:
                    parent[b] = a
    members: dict[str, list[str]] = {}
    for case in case_images:
        members.setdefault(find(case), []).append(case)
    groups: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for cases in members.values():
        if len(cases) < 2:
            continue
        splits = {case_split[c] for c in cases}
        keep_split = min(splits, key=lambda s: SPLIT_PRIORITY.index(s) if s in SPLIT_PRIORITY else len(SPLIT_PRIORITY))
        kept = [c for c in cases if case_split[c] == keep_split]
        for c in cases:
            if case_split[c] != keep_split:
                dropped[c] = kept[0]
        if len(kept) > 1:
            groups.update({c: kept[0] for c in kept})
    return groups, dropped
