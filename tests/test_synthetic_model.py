"""The generative model: exact Bayes accuracy against brute force, default difficulty, sampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mmdiag.data.synthetic import generative
from mmdiag.data.synthetic.generative import (
    DEFAULT_TABLES,
    LABELS,
    VOCABULARIES,
    AttributeTable,
    GenerativeModel,
    bayes_accuracy,
    default_model,
)


def _random_model(seed: int, n_classes: int, sizes: dict[str, list[int]], zero: bool = False) -> GenerativeModel:
    rng = np.random.default_rng(seed)
    tables = []
    for modality, attribute_sizes in sizes.items():
        for i, n in enumerate(attribute_sizes):
            probs = rng.dirichlet(np.ones(n), size=n_classes)
            if zero:  # impossible values exercise the zero-probability paths
                probs[0, 0] = 0.0
                probs[0] /= probs[0].sum()
            tables.append(AttributeTable(modality, f"a{i}", tuple(f"v{j}" for j in range(n)), probs))
    prior = rng.dirichlet(np.ones(n_classes))
    return GenerativeModel([f"c{c}" for c in range(n_classes)], prior, tables)


def _brute_force(model: GenerativeModel, modalities: list[str] | None = None) -> float:
    """sum over every attribute combination of max_c P(c) prod_i P(x_i | c), with plain loops."""
    tables = model.tables_for(modalities)
    total = 0.0
    for combo in itertools.product(*(range(len(t.values)) for t in tables)):
        best = 0.0
        for c in range(len(model.labels)):
            p = float(model.prior[c])
            for t, v in zip(tables, combo):
                p *= float(t.probs[c, v])
            best = max(best, p)
        total += best
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("zero", [False, True])
def test_binary_bayes_accuracy_matches_brute_force(seed: int, zero: bool) -> None:
    model = _random_model(seed, 2, {"eus": [2, 3, 4], "wle": [3, 2]}, zero=zero)
    for modalities in (None, ["eus"], ["wle"]):
        assert model.bayes_accuracy(modalities) == pytest.approx(_brute_force(model, modalities), abs=1e-12)


def test_multiclass_bayes_accuracy_matches_brute_force_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _random_model(3, 3, {"eus": [3, 2, 4], "wle": [2, 3]})
    expected = _brute_force(model)
    assert model.bayes_accuracy() == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(generative, "_BLOCK", 5)  # force the leading attributes into Python-level blocks
    assert model.bayes_accuracy() == pytest.approx(expected, abs=1e-12)


def test_bayes_accuracy_edge_cases() -> None:
    uninformative = GenerativeModel(
        ["a", "b"], [0.3, 0.7], [AttributeTable("eus", "x", ("u", "v"), np.array([[0.5, 0.5], [0.5, 0.5]]))]
    )
    assert uninformative.bayes_accuracy() == pytest.approx(0.7)
    perfect = GenerativeModel(
        ["a", "b"], [0.5, 0.5], [AttributeTable("eus", "x", ("u", "v"), np.array([[1.0, 0.0], [0.0, 1.0]]))]
    )
    assert perfect.bayes_accuracy() == pytest.approx(1.0)
    assert perfect.bayes_accuracy(["eus"]) == pytest.approx(1.0)
    with pytest.raises(KeyError, match="unknown modalities"):
        perfect.bayes_accuracy(["wle"])


def test_default_difficulty_is_in_the_stated_ranges() -> None:
    model = default_model()
    full, eus, wle = model.bayes_accuracy(), model.bayes_accuracy(["eus"]), model.bayes_accuracy(["wle"])
    assert 0.85 <= full <= 0.92
    assert 0.75 <= eus <= 0.83 and 0.75 <= wle <= 0.83
    assert max(eus, wle) < full - 0.05  # each modality alone is noticeably weaker
    assert bayes_accuracy(model, ["eus"]) == eus


def test_bayes_accuracy_agrees_with_the_posterior_classifier_on_samples() -> None:
    model = default_model()
    rng = np.random.default_rng(0)
    n = 20000
    labels = rng.random(n) < model.prior[1]
    log_post = np.log(model.prior)[None, :].repeat(n, axis=0)
    for t in model.tables:
        cdf = np.cumsum(t.probs, axis=1)[labels.astype(int)]
        values = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), len(t.values) - 1)
        log_post = log_post + np.log(t.probs[:, values].T)
    accuracy = float(np.mean(log_post.argmax(axis=1) == labels))
    assert accuracy == pytest.approx(model.bayes_accuracy(), abs=0.012)


def test_sampling_posterior_and_tables() -> None:
    model = default_model(prevalence=0.3)
    assert model.prior.tolist() == pytest.approx([0.7, 0.3])
    assert [t.column for t in model.tables] == list(DEFAULT_TABLES)
    rng = np.random.default_rng(1)
    case = model.sample_attributes(rng, 1)
    assert set(case) == set(DEFAULT_TABLES)
    for column, value in case.items():
        modality, name = column.split(".")
        assert value in VOCABULARIES[modality][name]
    posterior = model.posterior(case)
    assert posterior.sum() == pytest.approx(1.0) and posterior.shape == (2,)
    assert model.posterior(case, ["wle"]).sum() == pytest.approx(1.0)
    # A textbook GIST picture is more likely gist than the prior says.
    gist_like = {
        c: VOCABULARIES[c.split(".")[0]][c.split(".")[1]][
            int(np.argmax(np.array(DEFAULT_TABLES[c]["gist"]) / np.array(DEFAULT_TABLES[c]["non_gist"])))
        ]
        for c in DEFAULT_TABLES
    }
    assert model.posterior(gist_like)[1] > 0.99
    meta = model.to_dict()
    assert meta["labels"] == list(LABELS)
    assert meta["tables"]["eus.echo_level"]["gist"] == list(DEFAULT_TABLES["eus.echo_level"]["gist"])


def test_invalid_tables_are_rejected() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        GenerativeModel(
            ["a", "b"],
            [0.5, 0.5],
            [AttributeTable("eus", "x", ("u", "v"), np.array([[0.5, 0.6], [0.5, 0.5]]))],
        )
    with pytest.raises(ValueError, match="shape"):
        GenerativeModel(
            ["a", "b"],
            [0.5, 0.5],
            [AttributeTable("eus", "x", ("u", "v", "w"), np.array([[0.5, 0.5], [0.5, 0.5]]))],
        )
    with pytest.raises(ValueError, match="prior"):
        GenerativeModel(["a", "b"], [0.5, 0.6], [])
