"""Two unrelated MedMNIST subsets paired into one two-modality BYO dataset (dual-branch study, §2).

PathMNIST (colon pathology, RGB, 9 classes) and OrganAMNIST (abdominal CT, grey, 11 classes) share no
patients: the "pairs" the dual-branch paper trains on are an artefact of a pairing rule. The rule is
therefore explicit, seeded, named in `dataset.yaml` (`metadata.pairing`) and never hidden:

- `random_same_split`: each primary sample of split s gets a secondary sample of split s, drawn
  uniformly with a seeded RNG (a random permutation of the split, reused only once exhausted).
  The secondary image is then independent of the label.
- `class_aligned`: a primary sample of class k gets a secondary sample of class k mod K2 (K2 =
  number of secondary classes) of the same split, drawn the same way. This manufactures a
  correlation between the secondary image and the label: useful to test that fusion can exploit a
  second modality, meaningless as a clinical result.

The label is always the primary subset's label; the official splits of both subsets are respected.
Cases that share a secondary image (or identical pixels) form one group (`group_id`), so a split never
puts one image on both sides; MedMNIST has no text, so no reports.csv is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mmdiag.data.sources.medmnist as mm
from mmdiag.config.fields import make_section, object_schema, option
from mmdiag.data.byo import atomic_dir, write_tables
from mmdiag.data.format import DatasetSpec, ModalitySpec
from mmdiag.data.sources.config import download_dir, resolve_config
from mmdiag.data.sources.download import fetch_all
from mmdiag.data.sources.npz import NpzArchive
from mmdiag.data.sources.sampling import cycled_draw
from mmdiag.errors import ConfigError

NOT_CORRESPONDING = (
    "The two modalities come from unrelated datasets and different patients: the pairs are NOT "
    "corresponding samples. They were built by the pairing policy named here; the label is the primary "
    "subset's label."
)


def pair_random_same_split(
    primary_labels: np.ndarray, secondary_labels: np.ndarray, rng: np.random.Generator, n_secondary: int
) -> np.ndarray:
    """Secondary index per primary sample: uniform over the split, each reused at most ceil(n1/n2) times."""
    return cycled_draw(np.arange(len(secondary_labels)), len(primary_labels), rng)


def pair_class_aligned(
    primary_labels: np.ndarray, secondary_labels: np.ndarray, rng: np.random.Generator, n_secondary: int
) -> np.ndarray:
    """Secondary index per primary sample of class k: uniform over secondary class k mod n_secondary."""
    out = np.empty(len(primary_labels), dtype=np.int64)
    for k in np.unique(primary_labels):
        pool = np.flatnonzero(secondary_labels == k % n_secondary)
        if not len(pool):
            raise ConfigError(
                f"pairing 'class_aligned' needs secondary class {k % n_secondary} for primary class {k}, "
                "but this split has none; use pairing: random_same_split"
            )
        where = np.flatnonzero(primary_labels == k)
        out[where] = cycled_draw(pool, len(where), rng)
    return out


PAIRING_POLICIES: dict[str, tuple[Callable[..., np.ndarray], str]] = {
    "random_same_split": (
        pair_random_same_split,
        "each primary sample of split s is paired with a secondary sample of split s drawn uniformly with a "
        "seeded RNG (numpy default_rng([seed, 1, split index]); a random permutation of the split, reused "
        "only once exhausted); the secondary image is independent of the label",
    ),
    "class_aligned": (
        pair_class_aligned,
        "each primary sample of class k in split s is paired with a secondary sample of class k mod K2 "
        "(K2 = number of secondary classes) of split s, drawn uniformly with a seeded RNG (numpy "
        "default_rng([seed, 1, split index])); this manufactures a label correlation in the secondary "
        "modality by construction",
    ),
}


def name_pair(default: list[str], doc: str, pattern: str) -> Any:
    """An option holding exactly two names (primary, secondary), each matching `pattern`."""
    return option(default, doc, items={"type": "string", "pattern": pattern}, minItems=2, maxItems=2)


MedmnistPairConfig = make_section(
    "MedmnistPairConfig",
    "`dataset.medmnist_pair`: which two subsets, paired how.",
    [
        (
            "flags",
            list[str],
            name_pair(
                ["pathmnist", "organamnist"],
                "[primary, secondary] MedMNIST subsets; the primary gives the label",
                "^[a-z0-9]+$",
            ),
        ),
        (
            "modalities",
            list[str],
            name_pair(["path", "organ"], "modality keys of the primary and secondary images", "^[a-z0-9_]+$"),
        ),
        (
            "pairing",
            str,
            option(
                "random_same_split",
                "pairing policy: random_same_split (secondary independent of the label) or class_aligned "
                "(secondary class = primary class mod K2)",
                enum=list(PAIRING_POLICIES),
            ),
        ),
        *mm.shared_fields("pairs", "subsampling and pairing", size=64),
    ],
    __name__,
)
MEDMNIST_PAIR_SCHEMA: dict[str, Any] = object_schema(
    MedmnistPairConfig,
    "Two unrelated 2D MedMNIST subsets paired by an explicit, seeded policy into one two-modality dataset "
    "(label = the first subset's label). The pairs are NOT corresponding samples.",
)


def convert_pair(
    npz_paths: tuple[str | Path, str | Path],
    out_dir: str | Path,
    subsets: tuple[mm.Subset, mm.Subset],
    *,
    modalities: tuple[str, str] = ("path", "organ"),
    pairing: str = "random_same_split",
    seed: int = 0,
    max_per_split: int | None = None,
    name: str | None = None,
) -> DatasetSpec:
    """Write the paired BYO dataset into `out_dir` (the caller makes it atomic).

    Each case is one (subsampled) primary sample plus the secondary sample the policy assigns it.
    A secondary image used by several cases is stored once and referenced by each; those cases share a
    group (see `sources.duplicates`).
    """
    if pairing not in PAIRING_POLICIES:
        raise ConfigError(f"unknown pairing {pairing!r}; use one of {', '.join(PAIRING_POLICIES)}")
    if modalities[0] == modalities[1]:
        raise ConfigError(f"the two modalities need distinct names, got {list(modalities)}")
    out_dir = Path(out_dir)
    first, second = subsets
    m1, m2 = modalities
    policy, rule = PAIRING_POLICIES[pairing]
    cases: list[dict[str, Any]] = []
    images: list[dict[str, str]] = []
    case_digests: dict[str, list[str]] = {}
    with NpzArchive(npz_paths[0]) as npz1, NpzArchive(npz_paths[1]) as npz2:
        labels1, labels2 = mm.read_labels(npz1, first), mm.read_labels(npz2, second)
        for split in mm.SPLITS:
            keep = mm.select(labels1[split], max_per_split, seed, split, stream=0)
            rng = np.random.default_rng([seed, 1, mm.SPLITS.index(split)])
            try:
                partner = policy(labels1[split][keep], labels2[split], rng, len(second.labels))
            except ConfigError as exc:
                raise ConfigError(f"{second.flag} {split} split: {exc}") from None
            digests1: dict[int, str] = {}
            digests2: dict[int, str] = {}
            paths1 = mm.export_images(npz1, split, keep, out_dir, m1, digests1)
            paths2 = mm.export_images(npz2, split, partner, out_dir, m2, digests2)
            for i, j in zip(keep.tolist(), partner.tolist()):
                case_id = f"{split}_{i:06d}"
                case_digests[case_id] = [f"{m1}:{digests1[i]}", f"{m2}:{digests2[j]}"]
                cases.append(
                    {
                        "case_id": case_id,
                        "centre": first.flag,
                        "label": first.labels[labels1[split][i]],
                        "split": split,
                        "source_index": i,
                        f"{m2}_source_index": j,
                        f"{m2}_source_label": second.labels[labels2[split][j]],
                    }
                )
                images.append({"case_id": case_id, "modality": m1, "path": paths1[i]})
                images.append({"case_id": case_id, "modality": m2, "path": paths2[j]})
    cases, images, dropped = mm.drop_duplicates(out_dir, cases, images, case_digests)
    counts = pd.Series([c["split"] for c in cases]).value_counts()
    spec = DatasetSpec(
        name=name or mm.default_name([first.flag, second.flag], first.size, max_per_split),
        labels=first.labels,
        modalities={
            m1: ModalitySpec(m1, first.channels, f"{first.display_name}: {mm.IMAGING.get(first.flag, '')}"),
            m2: ModalitySpec(m2, second.channels, f"{second.display_name}: {mm.IMAGING.get(second.flag, '')}"),
        },
        task=first.task,
        positive_label=first.positive_label,
        centres=(first.flag,),
        synthetic=False,
        description=(
            f"{first.display_name} paired with {second.display_name} ({first.size}x{first.size}) by the "
            f"'{pairing}' policy (seed {seed}). {NOT_CORRESPONDING}"
        ),
        metadata={
            "source": "medmnist_pair",
            "pairing": {
                "policy": pairing,
                "seed": seed,
                "rule": rule,
                "corresponding_samples": False,
                "statement": NOT_CORRESPONDING,
                "primary": {"flag": first.flag, "modality": m1},
                "secondary": {"flag": second.flag, "modality": m2},
            },
            "subsets": {m1: mm.source_metadata(first), m2: mm.source_metadata(second)},
            "homepage": mm.HOMEPAGE,
            "citation": mm.CITATION,
            "converted_samples": {s: int(counts.get(s, 0)) for s in mm.SPLITS},
            "max_per_split": max_per_split,
            "subsampling": "primary samples: label-stratified within each official split, numpy "
            "default_rng([seed, 0, split index])",
            "reports": mm.NO_TEXT_NOTE,
            "duplicates": {
                "policy": "cases sharing a secondary image (or identical pixels) share a group_id; "
                + mm.DUPLICATES_NOTE,
                "dropped": dropped,
            },
        },
    )
    write_tables(out_dir, spec, pd.DataFrame(cases), pd.DataFrame(images))
    return spec


def prepare(cfg: Mapping[str, Any], out_dir: Path) -> DatasetSpec:
    """Fetch (or find) both `.npz` files, verify their MD5s, then pair and convert atomically."""
    c = resolve_config(cfg, MEDMNIST_PAIR_SCHEMA, "dataset.medmnist_pair")
    flags = tuple(c["flags"])
    if flags[0] == flags[1]:
        raise ConfigError(f"dataset.medmnist_pair.flags: pair two different subsets, got {list(flags)}")
    subsets = tuple(mm.subset(f, c["size"], c["url_override"]) for f in flags)
    where = download_dir(c["download_dir"], out_dir, "medmnist")
    paths = fetch_all(
        [s.remote for s in subsets],
        where,
        timeout=c["timeout_s"],
        config_key="dataset.medmnist_pair.download_dir",
    )
    with atomic_dir(out_dir) as tmp:
        return convert_pair(
            (paths[0], paths[1]),
            tmp,
            subsets,
            modalities=tuple(c["modalities"]),
            pairing=c["pairing"],
            seed=c["seed"],
            max_per_split=c["max_per_split"],
            name=c["name"],
        )
