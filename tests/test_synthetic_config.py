"""SyntheticConfig: defaults, device presets, error messages naming the key, and the JSON schema."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from mmdiag.data.synthetic import DEVICE_PRESETS, SYNTHETIC_SCHEMA, SyntheticConfig
from mmdiag.data.synthetic.generative import DEFAULT_TABLES
from mmdiag.errors import ConfigError


def test_defaults() -> None:
    config = SyntheticConfig()
    assert config == SyntheticConfig.from_dict({}) == SyntheticConfig.from_dict(None)
    assert [(c.name, c.n_cases, c.device) for c in config.centres] == [
        ("centre_a", 240, "um2r"),
        ("centre_b", 80, "um3r"),
    ]
    assert config.images_per_modality == 3 and config.seed == 0
    assert config.centres[1].eus == DEVICE_PRESETS["um3r"][1]
    assert config.centres[0].eus.size != config.centres[1].eus.size


def test_presets_and_overrides() -> None:
    config = SyntheticConfig.from_dict(
        {
            "seed": 7,
            "images_per_modality": 2,
            "centres": [
                {"name": "centre_b", "n_cases": 10},  # device left out: the default centre_b's preset
                {
                    "name": "site-x",
                    "n_cases": 4,
                    "images_per_modality": 5,
                    "eus": {"speckle": 0.1, "gain": None},
                    "wle": {"mask": "none", "size": [50, 40]},
                },
                {"name": "site_y", "n_cases": 3, "device": "um3r", "description": "my scanner"},
            ],
        }
    )
    b, x, y = config.centres
    assert b.device == "um3r" and b.eus == DEVICE_PRESETS["um3r"][1] and b.wle == DEVICE_PRESETS["um3r"][2]
    assert x.device == "um2r"
    assert x.eus.speckle == 0.1 and x.eus.gain == DEVICE_PRESETS["um2r"][1].gain  # null keeps the preset
    assert x.wle.mask == "none" and x.wle.size == (50, 40)
    assert y.description == "my scanner" and b.description == DEVICE_PRESETS["um3r"][0]
    assert [config.images_for(c) for c in config.centres] == [2, 5, 2]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"centres": [{"name": "a", "n_cases": 3}, {"name": "b", "n_cases": "abc"}]},
            "dataset.synthetic.centres[1].n_cases: expected int, got 'abc'",
        ),
        ({"seed": True}, "dataset.synthetic.seed: expected int, got True"),
        ({"seed": -1}, "dataset.synthetic.seed: -1 must be >= 0"),
        ({"prevalence": 1.0}, "dataset.synthetic.prevalence: 1.0 must be < 1"),
        ({"n_cases": 3}, "dataset.synthetic.n_cases: unknown key"),
        ({"name": "Bad Name"}, "dataset.synthetic.name: 'Bad Name' does not match"),
        ({"lesion_size_mm": [30, 10]}, "dataset.synthetic.lesion_size_mm: min 30.0 is above max 10.0"),
        ({"lesion_size_mm": [10]}, "dataset.synthetic.lesion_size_mm: expected a list of 2 numbers"),
        ({"centres": []}, "dataset.synthetic.centres: expected a non-empty list"),
        ({"centres": [{"name": "a"}]}, "dataset.synthetic.centres[0].n_cases: required key is missing"),
        (
            {"centres": [{"name": "a", "n_cases": 1}, {"name": "a", "n_cases": 2}]},
            "centre names must be unique",
        ),
        (
            {"centres": [{"name": "a", "n_cases": 1, "device": "um9"}]},
            "dataset.synthetic.centres[0].device: 'um9'",
        ),
        (
            {"centres": [{"name": "a", "n_cases": 1, "eus": {"speckle": 2}}]},
            "dataset.synthetic.centres[0].eus.speckle: 2.0 must be <= 1",
        ),
        (
            {"centres": [{"name": "a", "n_cases": 1, "wle": {"colour_cast": [1, "x", 1]}}]},
            "dataset.synthetic.centres[0].wle.colour_cast[1]: expected number, got 'x'",
        ),
        (
            {"centres": [{"name": "a", "n_cases": 1, "wle": {"fan_degrees": 3}}]},
            "dataset.synthetic.centres[0].wle.fan_degrees: unknown key",
        ),
        ({"tables": {"eus.colour": {}}}, "dataset.synthetic.tables.eus.colour: unknown attribute"),
        (
            {"tables": {"eus.boundary": {"gist": [0.5, 0.5]}}},
            "dataset.synthetic.tables.eus.boundary: expected a mapping",
        ),
        (
            {"tables": {"eus.boundary": {"gist": [0.5, 0.5], "non_gist": [0.5, 0.6]}}},
            "dataset.synthetic.tables.eus.boundary.non_gist: probabilities of ['clear', 'unclear'] must sum",
        ),
        (
            {"tables": {"eus.boundary": {"gist": [0.5, 0.5, 0.0], "non_gist": [0.5, 0.5]}}},
            "dataset.synthetic.tables.eus.boundary.gist: expected a list of 2 numbers",
        ),
    ],
)
def test_errors_name_the_key(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SyntheticConfig.from_dict(settings)
    assert message in str(info.value)


def test_custom_prefix_and_table_overrides() -> None:
    with pytest.raises(ConfigError, match=r"^x\.y\.seed: "):
        SyntheticConfig.from_dict({"seed": "1"}, prefix="x.y")
    flat = {"gist": [0.5, 0.5], "non_gist": [0.5, 0.5]}
    config = SyntheticConfig.from_dict({"tables": {"eus.boundary": flat}})
    assert config.model().tables[5].probs.tolist() == [[0.5, 0.5], [0.5, 0.5]]
    easier = {"gist": [0.0, 0.0, 1.0], "non_gist": [1.0, 0.0, 0.0]}
    assert SyntheticConfig.from_dict({"tables": {"eus.echo_level": easier}}).model().bayes_accuracy() == 1.0


def _walk(schema: dict[str, Any], path: str = "dataset.synthetic"):
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict) and schema["items"].get("type") == "object":
        yield from _walk(schema["items"], f"{path}[]")


def test_schema_is_valid_and_documents_every_key() -> None:
    jsonschema.Draft202012Validator.check_schema(SYNTHETIC_SCHEMA)
    for path, sub in _walk(SYNTHETIC_SCHEMA):
        if path.endswith("[]"):
            continue
        assert {"type", "description", "default"} <= set(sub), path
        assert sub["description"], path
    validator = jsonschema.Draft202012Validator(SYNTHETIC_SCHEMA)
    validator.validate(SyntheticConfig().to_dict())
    validator.validate({})
    assert not validator.is_valid({"seed": "x"})
    assert not validator.is_valid({"centres": [{"name": "a"}]})
    assert not validator.is_valid({"tables": {"eus.boundary": {"gist": [0.5], "non_gist": [0.5, 0.5]}}})
    assert set(SYNTHETIC_SCHEMA["properties"]["tables"]["properties"]) == set(DEFAULT_TABLES)


def _fill_defaults(schema: dict[str, Any], value: Any) -> Any:
    """What a default-filling validator (e.g. Snakemake's) does to a config mapping."""
    if schema.get("type") == "object" and isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in value and key != "tables":  # table defaults are the documented tables themselves
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = _fill_defaults(sub, value[key])
    if schema.get("type") == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        value = [_fill_defaults(schema["items"], v) for v in value]
    return value


def test_schema_defaults_reproduce_the_default_config() -> None:
    filled = _fill_defaults(SYNTHETIC_SCHEMA, {})
    assert SyntheticConfig.from_dict(filled) == SyntheticConfig()
    with_tables = _fill_defaults(SYNTHETIC_SCHEMA, {})
    with_tables["tables"] = SYNTHETIC_SCHEMA["properties"]["tables"]["properties"]
    with_tables["tables"] = {k: v["default"] for k, v in with_tables["tables"].items()}
    assert SyntheticConfig.from_dict(with_tables).model().bayes_accuracy() == SyntheticConfig().model().bayes_accuracy()
