"""Typed config sections (issue 13): the one source of defaults reproduces the resolved configs exactly.

`tests/fixtures/config_3191b62/` holds the config files of commit 3191b62 (the default config, every preset,
the real-data recipe and the tiny test config); `FINGERPRINTS` are the sha256 of each one's validated,
default-filled config (key order included) and of every dataset source's resolved section, written by the
code BEFORE the sections replaced the hand-written schema (`python tests/test_config_sections.py` prints
them with whichever mmdiag is imported). A default changed on purpose changes a fingerprint: update it
in the same commit and say so.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mmdiag.config import validate_config
from mmdiag.config.layering import load_layered
from mmdiag.config.schema import config_schema

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "tests" / "fixtures" / "config_3191b62"
CASES: dict[str, tuple[str, ...]] = {
    "config.yaml": ("config/config.yaml",),
    "ham10000_fusion.yaml": ("config/config.yaml", "config/ham10000_fusion.yaml"),
    "medmnist_pair_small.yaml": ("config/config.yaml", "config/medmnist_pair_small.yaml"),
    "medmnist_pathmnist.yaml": ("config/config.yaml", "config/medmnist_pathmnist.yaml"),
    "paper_dualbranch.yaml": ("config/config.yaml", "config/paper_dualbranch.yaml"),
    "paper_tmmnet.yaml": ("config/config.yaml", "config/paper_tmmnet.yaml"),
    "recipes/real_data.yaml": ("config/config.yaml", "config/recipes/real_data.yaml"),
    "tests/configs/tiny.yaml": ("config/config.yaml", "tests/configs/tiny.yaml"),
}
# Updated when `encoders.<name>.stem` was added: every encoder recipe gains `stem: default`, nothing else changed
# (with that key removed each config gives the previous fingerprint). Updated again when `trainer.ema` was added:
# every config gains `trainer.ema: null` (off), nothing else changed (without that key: the previous fingerprints).
FINGERPRINTS = {
    "config.yaml": "dc48f0519d716c40a561f733a3d7251f81eb5b52e2a2db0069ac7fcd525db72b",
    "ham10000_fusion.yaml": "66e330db17f1933fbd5fe6667e4253cb3b6d9f63d0ef0411c854e48379b96d4d",
    "medmnist_pair_small.yaml": "47c9f69bda95fd339b11d3381ab050ba45aa45278aa98fad1401a5db922c76f1",
    "medmnist_pathmnist.yaml": "7c22797ec7fd30954220569c13d4bf1acb0eed906639fda79cea60f7ae34f25c",
    "paper_dualbranch.yaml": "e51a4e7000b1bff5f4b358d1be6ae8262e0368e078e200a64fd8296ac3154f6d",
    "paper_tmmnet.yaml": "caed2c905b0954aa13f53efd8e2f73d751c107b2a4239468cec4127877ac6f83",
    "recipes/real_data.yaml": "04ff4ccf5428658f67ed3dab0066ee74f330e3d0cb77913301cc8929ae14725b",
    "tests/configs/tiny.yaml": "2b7da2c850289f0aa5e53e162bb788b6d95fbff963104f468a798cfb04db0676",
}


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def resolved(case: str) -> dict[str, Any]:
    """The validated config of one snapshot case, and each dataset source's section as the source resolves it."""
    from mmdiag.data.sources import folder, ham10000, medmnist, medmnist_pair
    from mmdiag.data.sources.config import resolve_config
    from mmdiag.data.synthetic import SyntheticConfig

    config = validate_config(load_layered([SNAPSHOT / p for p in CASES[case]]), source=case)
    ds = config["dataset"]
    sources: dict[str, Any] = {"synthetic": SyntheticConfig.from_dict(ds.get("synthetic")).to_dict()}
    for mod, schema in (
        (medmnist, medmnist.MEDMNIST_SCHEMA),
        (medmnist_pair, medmnist_pair.MEDMNIST_PAIR_SCHEMA),
        (ham10000, ham10000.HAM10000_SCHEMA),
        (folder, folder.FOLDER_SCHEMA),
    ):
        name = mod.__name__.rsplit(".", 1)[1]
        sources[name] = resolve_config(ds.get(name), schema, f"dataset.{name}")
    return {"config": config, "sources": sources}


def fingerprint(case: str) -> str:
    return _sha(resolved(case))


@pytest.mark.parametrize("case", list(CASES))
def test_resolved_config_identical_to_before_the_sections(case: str) -> None:
    assert fingerprint(case) == FINGERPRINTS[case], f"{case}: the validated config changed (see module docstring)"


def test_typed_sections_read_what_the_validator_fills() -> None:
    """`fill(Section, config[...])` gives exactly the validated values, and `defaults` the schema's defaults."""
    from mmdiag.config import sections as s
    from mmdiag.config.fields import defaults, fill, plain

    config = resolved("tests/configs/tiny.yaml")["config"]
    typed = plain(fill(s.PipelineConfig, config))
    for key, value in config.items():
        if key in ("dataset", "augment"):  # their source sections / extra keys live outside the dataclass
            continue
        assert typed[key] == value, key
    bare = validate_config({"dataset": {"name": "x", "source": "synthetic"}, "studies": []})
    for key, cls in (("trainer", s.TrainerConfig), ("tmmnet", s.TmmnetConfig), ("splits", s.SplitsConfig)):
        assert bare[key] == defaults(cls), key
    assert (
        defaults(s.EncoderConfig)
        == validate_config({"dataset": {"name": "x", "source": "synthetic"}, "studies": [], "encoders": {"e": {}}})[
            "encoders"
        ]["e"]
    )


def test_every_key_has_type_description_and_default() -> None:
    def walk(node: dict[str, Any], path: str):
        for key, sub in (node.get("properties") or {}).items():
            yield f"{path}{key}", sub
            yield from walk(sub, f"{path}{key}.")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            yield from walk(extra, f"{path}<name>.")

    for path, sub in walk(config_schema(), ""):
        if path.startswith("dataset.synthetic.centres") or ".tables." in path or path.startswith("tmmnet.cv.schedule."):
            continue  # list items and fixed sub-objects without their own default
        if path.startswith("dataset.") and path.count(".") == 1 and path != "dataset.synthetic":
            assert {"type", "description"} <= set(sub), path  # a source: filled only when a config names it
            continue
        assert {"type", "description", "default"} <= set(sub), path


# `.get("<schema key>", <literal>)` calls that read something other than the pipeline config, or whose
# fallback is not the schema default: (file under src/mmdiag, key) -> why.
NOT_CONFIG_DEFAULTS = {
    ("config/checks.py", "description"): "a JSON Schema node",
    ("config/schema.py", "type"): "a JSON Schema node",
    ("config/schema.py", "description"): "a JSON Schema node",
    ("data/facts.py", "name"): "dataset.yaml",
    ("data/format.py", "description"): "dataset.yaml",
    ("data/format.py", "synthetic"): "dataset.yaml",
    ("data/sources/medmnist.py", "description"): "an entry of medmnist.info.INFO",
    ("experiments/provenance.py", "dataset"): "the cache's meta.json",
    ("experiments/provenance.py", "synthetic"): "the cache's meta.json",
    ("models/tmmnet.py", "model_name"): "a label for a message ('?': a family without model names)",
    ("reporting/seeds.py", "encoder"): "a run record",
    ("reporting/tmm_figures.py", "seed"): "a run record",
    ("reporting/tmm_tables.py", "arm"): "a CV run's metrics",
    ("reporting/study_tables.py", "fusion_study"): "a table built from a partial config (tests): no baseline row",
    ("reporting/study_tables.py", "base"): "a table built from a partial config (tests): no baseline row",
    ("reporting/study_tables.py", "fusion"): "a table built from a partial config (tests): no baseline row",
}


def _schema_keys() -> set[str]:
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                keys.add(key)
                walk(sub)
            for nested in (node.get("additionalProperties"), node.get("items")):
                walk(nested)

    walk(config_schema())
    return keys


def test_no_config_default_is_restated_in_the_library() -> None:
    """No `.get("<schema key>", <literal>)` under src/: the validated config has every default filled, so read
    it by key, as a typed section (`mmdiag.config.fields.fill`), or, before validation, with the default taken
    from its section class (`DatasetConfig.source`)."""
    keys = _schema_keys()
    literal = (ast.Constant, ast.List, ast.Dict, ast.Tuple, ast.Set, ast.UnaryOp)
    src = REPO / "src" / "mmdiag"
    found = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"):
                continue
            if len(node.args) != 2 or not isinstance(node.args[1], literal):
                continue
            key = node.args[0]
            if isinstance(key, ast.Constant) and key.value in keys and (rel, key.value) not in NOT_CONFIG_DEFAULTS:
                found.append(f"{rel}:{node.lineno}: .get({key.value!r}, {ast.unparse(node.args[1])})")
    assert not found, "config defaults restated:\n" + "\n".join(found)


if __name__ == "__main__":
    print(json.dumps({case: fingerprint(case) for case in CASES}, indent=4))
