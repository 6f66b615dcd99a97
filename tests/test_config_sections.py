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
    "config.yaml": "64adf8f7cb0f8143c4c33675e720077f61faeb694c874cf092e804073c6d8866",
    "ham10000_fusion.yaml": "7994af8e1412c9a5b2663216de34626502e6773d89c854b72149056ff487c175",
    "medmnist_pair_small.yaml": "9eb33d264a90b27bdb5663e341efdc9caeeaf22aca26beadd363d6e5b3dd992a",
    "medmnist_pathmnist.yaml": "3f6be6cc00634183ee9b3a930485fe85b4bb4ee693d798a370c5aba1a2f0a455",
    "paper_dualbranch.yaml": "e9aba1d25d9530aaef112aca74a757c3bf54de46c96133bdd4e421259ea23b3d",
    "paper_tmmnet.yaml": "7fe4740bc61fff247ab24fdb070634a37530a1fe538f90556210b282139c9458",
    "recipes/real_data.yaml": "77e2167714bed2fb8ba34d8c35dcea616eaa6b1cef316bc3685e84393796d912",
    "tests/configs/tiny.yaml": "74defe277e3f90dc64154fce9f544fbecab05f66257945648e025a0af7bfd342",
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
