"""The test split's own ceiling (a perfect reader of the true attributes) from the generator's stored model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmdiag.data.synthetic.generative import default_model
from mmdiag.reporting.catalog import TABLES
from mmdiag.reporting.ceiling import TRUE_ATTRIBUTES, bayes_decisions, split_ceiling
from mmdiag.reporting.render import to_markdown
from test_reporting_fixtures import ARMS, make_cache, make_meta, make_run


def _sampled(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    model = default_model()
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame([model.sample_attributes(rng, int(c)) for c in y]), y


def test_decisions_equal_the_generators_posterior() -> None:
    model = default_model()
    frame, _ = _sampled(300)
    decided = bayes_decisions(frame, {"generative_model": model.to_dict()})
    expected = [int(np.argmax(model.posterior(row))) for row in frame.to_dict("records")]
    assert decided.tolist() == expected


def test_integer_codes_and_unknown_attributes() -> None:
    model = default_model()
    frame, _ = _sampled(200, seed=1)
    meta = {"generative_model": model.to_dict()}
    vocab = {t.modality: {} for t in model.tables}
    for t in model.tables:
        vocab[t.modality][t.name] = list(t.values)
    codes = frame.apply(lambda col: col.map(lambda v, c=col.name: vocab[c.split(".")[0]][c.split(".")[1]].index(v)))
    assert (bayes_decisions(codes, meta, vocab) == bayes_decisions(frame, meta)).all()
    # an attribute unknown for every case: the decision is the posterior of the others (its factor left out)
    hidden = codes.copy()
    hidden["eus.origin_layer"] = -1
    eus_less = [int(np.argmax(_posterior_without(model, row, "eus.origin_layer"))) for row in frame.to_dict("records")]
    assert bayes_decisions(hidden, meta, vocab).tolist() == eus_less
    with pytest.raises(ValueError, match="vocabulary"):
        bayes_decisions(frame.assign(**{"wle.colour": "green"}), meta)
    with pytest.raises(ValueError, match="generative_model"):
        bayes_decisions(frame, {})


def _posterior_without(model, row, column):
    """The generator's log posterior from every attribute but `column`."""
    log_p = np.log(model.prior)
    for t in model.tables:
        if t.column != column:
            log_p = log_p + np.log(t.probs[:, t.values.index(row[t.column])])
    return log_p


def test_split_ceiling_reads_the_cache_and_prefers_true_attributes(tmp_path) -> None:
    meta, _split = make_cache(tmp_path, n_cases=12, generator=True)
    ids = [f"case_{i:03d}" for i in range(12)]
    ceiling = split_ceiling(meta, ids)
    cases = pd.read_csv(meta.parent / "cases.csv", dtype={"case_id": str})
    # fixture model: every attribute leans to its first value for class 0 and its last for class 1
    assert ceiling is not None and ceiling.n_cases == 12 and ceiling.n_partial == 0
    frame = cases.set_index("case_id").loc[ids]
    decided = bayes_decisions(frame, {"generative_model": _model(meta)}, _vocab(meta))
    assert ceiling.accuracy == pytest.approx(float(np.mean(decided == frame["y"].to_numpy())))
    assert ceiling.bayes_accuracy == 0.9
    # sparse annotation: the cache holds -1; a true_attributes.csv beside meta.json is what the ceiling reads
    sparse = cases.copy()
    sparse.loc[:5, "eus.echo_level"] = -1
    sparse.to_csv(meta.parent / "cases.csv", index=False)
    partial = split_ceiling(meta, ids)
    assert partial.n_partial == 6 and "6 of the cases lack some attribute annotation" in partial.line()
    names = cases.copy()
    for m, attrs in {"eus": ["echo_level", "boundary"], "wle": ["colour", "translucency"]}.items():
        for a in attrs:
            values = _vocab(meta)[m][a]
            names[f"{m}.{a}"] = [values[int(c)] for c in cases[f"{m}.{a}"]]
    names.drop(columns=["label", "y"]).to_csv(meta.parent / TRUE_ATTRIBUTES, index=False)
    truth = split_ceiling(meta, ids)
    assert truth.n_partial == 0 and truth.accuracy == ceiling.accuracy
    raw = meta.parent.parent / "raw"  # or in the dataset folder the cache was built from
    raw.mkdir()
    (meta.parent / TRUE_ATTRIBUTES).rename(raw / TRUE_ATTRIBUTES)
    assert split_ceiling(meta, ids) == truth
    assert split_ceiling(make_meta(tmp_path / "plain"), ids) is None  # no generator model: no ceiling


def _model(meta):
    return json.loads(meta.read_text())["dataset"]["metadata"]["generative_model"]


def _vocab(meta):
    return json.loads(meta.read_text())["dataset"]["attributes"]


def test_ceiling_is_printed_under_table_3(tmp_path) -> None:
    meta, _ = make_cache(tmp_path, n_cases=20, generator=True)
    paths = [str(make_run(tmp_path / a, a, ARMS[a])) for a in ("baseline1", "tmmnet")]
    table = TABLES.get("tmmnet_t3_ablation")(runs=paths, meta=str(meta), config={})
    md = to_markdown(table)
    expected = split_ceiling(meta, [f"case_{i:03d}" for i in range(20)])
    line = (
        "Single-centre test-split ceiling (perfect reader of the true attributes on these 20 test cases): "
        f"{expected.accuracy:.3f}; Bayes accuracy: 0.900."
    )
    assert line in md and "Multi-centre test-split ceiling" in md
    assert table.extras["test_ceiling_single_centre"] == expected.accuracy
