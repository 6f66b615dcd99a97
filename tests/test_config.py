"""Config loading: merge order, defaults from the schema, errors naming file and key, schema drift."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mmdiag.config import config_hash, deep_merge, load_config, lookup, validate_config
from mmdiag.config.schema import README_PATH, SCHEMA_PATH, schema_markdown, schema_yaml
from mmdiag.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_deep_merge_replaces_lists_and_merges_maps() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    merged = deep_merge(base, {"a": {"y": [3]}, "c": 2})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}
    assert base["a"]["y"] == [1, 2]  # inputs untouched


def test_defaults_filled_from_schema() -> None:
    cfg = validate_config({"dataset": {"name": "x", "source": "synthetic"}})
    assert cfg["trainer"]["batch_size"] == 32
    assert cfg["splits"]["single_centre"]["test_fraction"] == 0.3
    assert cfg["preprocess"]["size"] == 32


def test_wrong_type_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  batch_size: many\n")
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config" / "config.yaml", bad)
    msg = str(exc.value)
    assert "bad.yaml" in msg and "trainer.batch_size" in msg and "'many'" in msg


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="tranier"):
        validate_config({"dataset": {"name": "x", "source": "synthetic"}, "tranier": {}})


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("a: 1\nb: [1, 2\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+: invalid YAML"):
        load_config(bad)


def test_lookup_and_hash() -> None:
    cfg = {"a": {"b": 3}}
    assert lookup(cfg, "a.b") == 3
    assert lookup(cfg, "a.c", None) is None
    with pytest.raises(ConfigError, match=r"a\.c"):
        lookup(cfg, "a.c")
    assert config_hash({"x": 1, "y": 2}) == config_hash({"y": 2, "x": 1})
    assert config_hash({"x": 1}) != config_hash({"x": 2})


def test_committed_schema_and_reference_match_library() -> None:
    """config/schema/config.schema.yaml and config/README.md are generated (`mmdiag write-schema`); no drift."""
    assert (REPO / SCHEMA_PATH).read_text() == schema_yaml(), "run `make schema` and commit the schema"
    assert (REPO / README_PATH).read_text() == schema_markdown(), "run `make schema` and commit config/README.md"


@pytest.mark.parametrize("preset", sorted(p.name for p in (REPO / "config").glob("*.yaml")))
def test_every_preset_validates(preset: str) -> None:
    paths = [REPO / "config" / "config.yaml"]
    if preset != "config.yaml":
        paths.append(REPO / "config" / preset)
    cfg = load_config(*paths)
    assert yaml.safe_dump(cfg)
