"""The class -> attribute generative model of the synthetic dataset and its exact Bayes accuracy.

A case's label is drawn first; each of the 11 lesion attributes (6 EUS, 5 WLE) is then drawn from its own
categorical distribution given the label, independently of the others (naive-Bayes structure). Images
and reports are rendered from the attributes alone, so no method can beat the Bayes-optimal accuracy
computed here from the true attributes: it is the ceiling every table built on this data is read against.

The default tables are loosely shaped after the clinical picture of gastric subepithelial lesions (GISTs
mostly arise from the muscularis propria, are hypoechoic, more often heterogeneous and extraluminal;
lipomas are hyperechoic and yellowish, cysts translucent and bluish, ectopic pancreas sits in the antrum,
leiomyomas near the cardia), then softened so the task is hard (Bayes accuracy about 0.88) and each
modality alone is clearly weaker. They were never tuned to favour any method.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LABELS: tuple[str, ...] = ("non_gist", "gist")
POSITIVE_LABEL = "gist"

# modality -> attribute -> ordered vocabulary (the order is the class index of attribute heads).
VOCABULARIES: dict[str, dict[str, tuple[str, ...]]] = {
    "eus": {
        "origin_layer": ("mucosa", "muscularis_mucosae", "submucosa", "muscularis_propria"),
        "morphology": ("round", "oval", "lobulated", "irregular"),
        "echo_level": ("hypoechoic", "isoechoic", "hyperechoic"),
        "echo_heterogeneity": ("homogeneous", "heterogeneous"),
        "growth_pattern": ("intraluminal", "extraluminal", "mixed"),
        "boundary": ("clear", "unclear"),
    },
    "wle": {
        "location": ("cardia", "fundus", "body", "antrum"),
        "morphology": ("hemispherical", "semipedunculated", "flat", "lobulated"),
        "surface_mucosa": ("smooth", "erosion", "ulceration"),
        "colour": ("normal", "yellowish", "reddish", "bluish"),
        "translucency": ("absent", "present"),
    },
}

# "<modality>.<attribute>" -> label -> P(value | label), values in VOCABULARIES order.
DEFAULT_TABLES: dict[str, dict[str, tuple[float, ...]]] = {
    "eus.origin_layer": {"non_gist": (0.15, 0.25, 0.38, 0.22), "gist": (0.02, 0.08, 0.15, 0.75)},
    "eus.morphology": {"non_gist": (0.38, 0.36, 0.16, 0.10), "gist": (0.22, 0.28, 0.27, 0.23)},
    "eus.echo_level": {"non_gist": (0.45, 0.25, 0.30), "gist": (0.82, 0.14, 0.04)},
    "eus.echo_heterogeneity": {"non_gist": (0.72, 0.28), "gist": (0.40, 0.60)},
    "eus.growth_pattern": {"non_gist": (0.72, 0.10, 0.18), "gist": (0.45, 0.30, 0.25)},
    "eus.boundary": {"non_gist": (0.82, 0.18), "gist": (0.72, 0.28)},
    "wle.location": {"non_gist": (0.32, 0.14, 0.22, 0.32), "gist": (0.10, 0.35, 0.45, 0.10)},
    "wle.morphology": {"non_gist": (0.48, 0.14, 0.26, 0.12), "gist": (0.52, 0.16, 0.10, 0.22)},
    "wle.surface_mucosa": {"non_gist": (0.84, 0.11, 0.05), "gist": (0.66, 0.16, 0.18)},
    "wle.colour": {"non_gist": (0.50, 0.28, 0.10, 0.12), "gist": (0.82, 0.03, 0.12, 0.03)},
    "wle.translucency": {"non_gist": (0.78, 0.22), "gist": (0.96, 0.04)},
}

# Above this many attribute combinations per block, exact enumeration is split into blocks.
_BLOCK = 1 << 20


@dataclass(frozen=True)
class AttributeTable:
    """P(value | class) of one attribute: `probs[c, v]`, rows summing to 1."""

    modality: str
    name: str
    values: tuple[str, ...]
    probs: np.ndarray

    @property
    def column(self) -> str:
        """The `cases.csv` column of this attribute."""
        return f"{self.modality}.{self.name}"


class GenerativeModel:
    """Label prior and conditionally independent attribute tables, with sampling and exact Bayes accuracy."""

    def __init__(self, labels: Sequence[str], prior: Sequence[float], tables: Sequence[AttributeTable]) -> None:
        self.labels = tuple(labels)
        self.prior = np.asarray(prior, dtype=np.float64)
        self.tables = tuple(tables)
        if self.prior.shape != (len(self.labels),) or not np.isclose(self.prior.sum(), 1.0):
            raise ValueError(f"prior {self.prior.tolist()} must have one entry per label and sum to 1")
        for t in self.tables:
            if t.probs.shape != (len(self.labels), len(t.values)):
                raise ValueError(f"{t.column}: table shape {t.probs.shape} != (classes, values)")
            if (t.probs < 0).any() or not np.allclose(t.probs.sum(axis=1), 1.0):
                raise ValueError(f"{t.column}: every row must be non-negative and sum to 1")

    @classmethod
    def from_tables(
        cls,
        tables: Mapping[str, Mapping[str, Sequence[float]]],
        vocabularies: Mapping[str, Mapping[str, Sequence[str]]] = VOCABULARIES,
        labels: Sequence[str] = LABELS,
        prevalence: float = 0.5,
    ) -> GenerativeModel:
        """Build from `{"<modality>.<attribute>": {label: probs}}` tables.

        Two labels get the prior `[1 - prevalence, prevalence]`; more labels a uniform prior.
        """
        built = []
        for modality, attrs in vocabularies.items():
            for name, values in attrs.items():
                rows = tables[f"{modality}.{name}"]
                probs = np.array([rows[label] for label in labels], dtype=np.float64)
                built.append(AttributeTable(modality, name, tuple(values), probs))
        prior = [1.0 - prevalence, prevalence] if len(labels) == 2 else [1.0 / len(labels)] * len(labels)
        return cls(labels, prior, built)

    @property
    def modalities(self) -> list[str]:
        """Modalities in table order, each once."""
        return list(dict.fromkeys(t.modality for t in self.tables))

    def tables_for(self, modalities: Sequence[str] | None = None) -> list[AttributeTable]:
        """The tables of `modalities` (all when None); an unknown modality is an error."""
        if modalities is None:
            return list(self.tables)
        unknown = sorted(set(modalities) - set(self.modalities))
        if unknown:
            raise KeyError(f"unknown modalities {unknown}; the model has {self.modalities}")
        return [t for t in self.tables if t.modality in modalities]

    def sample_attributes(self, rng: np.random.Generator, label_index: int) -> dict[str, str]:
        """One case's attributes given its class: column -> value name."""
        return {t.column: t.values[int(rng.choice(len(t.values), p=t.probs[label_index]))] for t in self.tables}

    def posterior(self, attributes: Mapping[str, str], modalities: Sequence[str] | None = None) -> np.ndarray:
        """P(class | the attributes of `modalities`), the Bayes-optimal classifier's belief."""
        log_p = np.log(self.prior)
        with np.errstate(divide="ignore"):
            for t in self.tables_for(modalities):
                log_p = log_p + np.log(t.probs[:, t.values.index(attributes[t.column])])
        p = np.exp(log_p - log_p.max())
        return p / p.sum()

    def bayes_accuracy(self, modalities: Sequence[str] | None = None) -> float:
        """Exact accuracy of the Bayes-optimal classifier that sees the true attributes of `modalities`.

        Equals the sum over every attribute combination x of max_c P(c) P(x | c).
        """
        factors = [t.probs for t in self.tables_for(modalities)]
        if len(self.labels) == 2:
            return _binary_bayes_accuracy(self.prior, factors)
        return _enumerated_bayes_accuracy(self.prior, factors)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python parameter tables for `dataset.yaml` metadata."""
        return {
            "labels": list(self.labels),
            "prior": [float(p) for p in self.prior],
            "tables": {
                t.column: {
                    "values": list(t.values),
                    **{label: [float(p) for p in t.probs[c]] for c, label in enumerate(self.labels)},
                }
                for t in self.tables
            },
        }


def bayes_accuracy(model: GenerativeModel, modalities: Sequence[str] | None = None) -> float:
    """Exact Bayes-optimal accuracy of `model` from the attributes of `modalities` (all when None)."""
    return model.bayes_accuracy(modalities)


def default_model(prevalence: float = 0.5) -> GenerativeModel:
    """The model with the default tables."""
    return GenerativeModel.from_tables(DEFAULT_TABLES, prevalence=prevalence)


def _joint(factors: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """(classes, combinations) array of prod_i P(x_i | c), combinations in C order over `factors`."""
    joint = np.ones((n_classes, 1))
    for f in factors:
        joint = (joint[:, :, None] * f[:, None, :]).reshape(n_classes, -1)
    return joint


def _binary_bayes_accuracy(prior: np.ndarray, factors: Sequence[np.ndarray]) -> float:
    """Meet in the middle: split the attributes in two halves A and B, enumerate each half alone.

    For combinations a (with the prior folded in) and b, class 1 wins iff a1*b1 > a0*b0, i.e. iff
    atan2(b1, b0) > atan2(a0, a1); atan2 keeps zero probabilities exact. Sorting B by that angle and
    taking cumulative sums gives sum_b max(a0*b0, a1*b1) for every a at once: O(|A| log|B|) instead of
    O(|A| |B|).
    """
    sizes = [f.shape[1] for f in factors]
    best_split, best_cost = 0, np.inf
    for k in range(len(factors) + 1):
        cost = max(np.prod(sizes[:k], dtype=float), np.prod(sizes[k:], dtype=float))
        if cost < best_cost:
            best_split, best_cost = k, cost
    a = prior[:, None] * _joint(factors[:best_split], 2)
    b = _joint(factors[best_split:], 2)
    order = np.argsort(np.arctan2(b[1], b[0]), kind="stable")
    angles = np.arctan2(b[1], b[0])[order]
    cum_b0 = np.concatenate([[0.0], np.cumsum(b[0][order])])
    cum_b1 = np.concatenate([[0.0], np.cumsum(b[1][order])])
    # B combinations up to `split` (angle <= threshold) go to class 0, the rest to class 1.
    split = np.searchsorted(angles, np.arctan2(a[0], a[1]), side="right")
    return float(np.sum(a[0] * cum_b0[split] + a[1] * (cum_b1[-1] - cum_b1[split])))


def _enumerated_bayes_accuracy(prior: np.ndarray, factors: Sequence[np.ndarray]) -> float:
    """Any number of classes: enumerate every combination, in blocks of at most `_BLOCK` columns."""
    n_classes = len(prior)
    n_lead = 0
    while n_lead < len(factors) and np.prod([f.shape[1] for f in factors[n_lead:]], dtype=float) > _BLOCK:
        n_lead += 1
    tail = prior[:, None] * _joint(factors[n_lead:], n_classes)
    total = 0.0
    for lead in itertools.product(*(range(f.shape[1]) for f in factors[:n_lead])):
        scale = np.ones(n_classes)
        for f, v in zip(factors[:n_lead], lead):
            scale = scale * f[:, v]
        total += float(np.max(scale[:, None] * tail, axis=0).sum())
    return total
