"""The source registry and the config schema fragments the pipeline schema embeds."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

import mmdiag.data.sources as sources
from mmdiag.errors import ConfigError

BUILT_IN = ("folder", "ham10000", "medmnist", "medmnist_pair")
SCHEMAS = {
    "medmnist": sources.MEDMNIST_SCHEMA,
    "medmnist_pair": sources.MEDMNIST_PAIR_SCHEMA,
    "ham10000": sources.HAM10000_SCHEMA,
    "folder": sources.FOLDER_SCHEMA,
}


def test_built_in_sources_are_registered() -> None:
    assert set(BUILT_IN) <= set(sources.list_sources())


def test_unknown_source_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown dataset source 'kaggle'; known: .*ham10000"):
        sources.prepare_source("kaggle", {}, tmp_path / "out")
    with pytest.raises(ConfigError, match="unknown dataset source"):
        sources.source_schema("kaggle")


def test_registering_a_name_twice_is_an_error() -> None:
    with pytest.raises(KeyError, match="already registered"):
        sources.register_source("folder", lambda cfg, out: None, {})


@pytest.mark.parametrize("name", BUILT_IN)
def test_schema_fragments_are_complete_draft_2020_12(name: str) -> None:
    schema = SCHEMAS[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    for key, prop in schema["properties"].items():
        assert {"type", "description", "default"} <= set(prop), key
        jsonschema.validate(prop["default"], prop, cls=jsonschema.Draft202012Validator)  # defaults are valid
    assert sources.source_schema(name) == schema and sources.source_schema(name) is not schema
