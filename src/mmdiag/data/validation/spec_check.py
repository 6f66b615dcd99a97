"""Checks of `dataset.yaml`: parseable, known keys, and each key's shape and values.

Besides violations it returns `SpecFacts`: the parts of the spec sound enough for the CSV checks to
rely on. A broken part is None (or left out), so a bad `labels:` is reported once, not once per case.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmdiag.data.format import DATASET_YAML
from mmdiag.data.validation.violation import Violation
from mmdiag.data.validation.yaml_source import KeyPath, YamlSource, parse_yaml
from mmdiag.io import YAML_MAX_BYTES

NAME_PATTERN = re.compile(r"[a-z0-9_]+")
# Modality and attribute names form `<modality>.<attribute>` column names: no dots, no spaces.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
TASKS = ("binary", "multiclass")
CHANNELS = (1, 3)
KNOWN_KEYS = (
    "name",
    "description",
    "task",
    "labels",
    "positive_label",
    "modalities",
    "attributes",
    "centres",
    "synthetic",
    "metadata",
)


@dataclass(frozen=True)
class SpecFacts:
    """What the CSV checks may rely on; None means "unknown, skip checks that need it".

    Attributes:
        labels: label names.
        modalities: modality keys, in declaration order.
        attribute_vocab: `<modality>.<attribute>` column -> its value vocabulary (sound attributes only).
        centres: declared centre names, None when not declared (any centre is then fine).
    """

    labels: tuple[str, ...] | None = None
    modalities: tuple[str, ...] | None = None
    attribute_vocab: dict[str, tuple[str, ...]] = field(default_factory=dict)
    centres: tuple[str, ...] | None = None


class _SpecChecker:
    """Holds the parsed source so each check can locate its key without threading lines around."""

    def __init__(self, source: YamlSource) -> None:
        self.source = source
        self.violations: list[Violation] = []

    def report(self, path: KeyPath, message: str) -> None:
        """Column is the dotted key path (list indices left out), line is the key's or item's line."""
        column = ".".join(p for p in path if isinstance(p, str)) or None
        self.violations.append(Violation(DATASET_YAML, self.source.line_of(path), column, message))

    def scalar_text(self, path: KeyPath, value: Any, what: str) -> str | None:
        """The value as text if it is a usable name; reports YAML booleans/nulls/collections."""
        if isinstance(value, bool):
            self.report(path, f"{what} {value} was read as a YAML boolean; put the value in quotes ('yes', 'no')")
            return None
        if value is None or isinstance(value, (list, dict)) or not str(value).strip():
            self.report(path, f"{what} must be a non-empty text value, got {value!r}")
            return None
        return str(value)

    def name_list(self, path: KeyPath, value: Any, what: str) -> tuple[str, ...] | None:
        """A list of unique names; duplicates are reported and dropped, other damage returns None."""
        if not isinstance(value, list):
            self.report(path, f"must be a list of {what}s, got {type(value).__name__}")
            return None
        names: list[str] = []
        sound = True
        for index, item in enumerate(value):
            text = self.scalar_text((*path, index), item, what)
            if text is None:
                sound = False
            elif text in names:
                self.report((*path, index), f"{what} {text!r} appears more than once")
            else:
                names.append(text)
        return tuple(names) if sound else None


def check_spec(root: Path) -> tuple[SpecFacts, list[Violation]]:
    """Validate `root/dataset.yaml`; returns the usable facts and every violation found."""
    path = root / DATASET_YAML
    if (size := path.stat().st_size) > YAML_MAX_BYTES:
        return SpecFacts(), [Violation(DATASET_YAML, None, None, f"is {size:,} bytes; the limit is {YAML_MAX_BYTES:,}")]
    data = path.read_bytes()
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        return SpecFacts(), [
            Violation(DATASET_YAML, line, None, "is a binary file (it holds NUL bytes), not YAML text")
        ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        message = f"not valid UTF-8 (byte 0x{bad}); save the file as UTF-8"
        return SpecFacts(), [Violation(DATASET_YAML, line, None, message)]
    try:
        source = parse_yaml(text)
    except yaml.YAMLError as exc:
        return SpecFacts(), [_yaml_error(exc)]
    checker = _SpecChecker(source)
    if not isinstance(source.data, dict):
        got = "an empty file" if source.data is None else type(source.data).__name__
        checker.report((), f"must be a mapping of keys ({', '.join(KNOWN_KEYS[:6])}, ...), got {got}")
        return SpecFacts(), checker.violations
    for key_path, line, first in source.duplicates:
        checker.violations.append(
            Violation(DATASET_YAML, line, ".".join(map(str, key_path)), f"key repeated (first at line {first})")
        )
    data: dict[str, Any] = {str(k): v for k, v in source.data.items()}
    _check_unknown_keys(checker, data)
    _check_name(checker, data)
    _check_simple_keys(checker, data)
    labels = _check_labels(checker, data)
    modalities = _check_modalities(checker, data)
    vocab = _check_attributes(checker, data, modalities)
    centres = _check_centres(checker, data)
    return SpecFacts(labels, modalities, vocab, centres), checker.violations


def _yaml_error(exc: yaml.YAMLError) -> Violation:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if "'\\t'" in problem:
        problem += " (YAML indents with spaces, never tabs)"
    if mark is None:
        return Violation(DATASET_YAML, None, None, f"not valid YAML: {problem}")
    return Violation(DATASET_YAML, mark.line + 1, None, f"not valid YAML: {problem} (column {mark.column + 1})")


def _check_unknown_keys(checker: _SpecChecker, data: dict[str, Any]) -> None:
    """A misspelt optional key (`centers:`) would otherwise silently disable its check."""
    for key in data:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else " (free-form entries belong under metadata)"
            checker.report((key,), f"unknown key{hint}")


def _check_name(checker: _SpecChecker, data: dict[str, Any]) -> None:
    if "name" not in data:
        checker.report(("name",), "required key is missing")
        return
    name = checker.scalar_text(("name",), data["name"], "name")
    if name is not None and not NAME_PATTERN.fullmatch(name):
        checker.report(("name",), f"{name!r} must match [a-z0-9_]+ (it names the results/<name>/ folder)")


def _check_simple_keys(checker: _SpecChecker, data: dict[str, Any]) -> None:
    """task, synthetic, metadata, description: optional keys with a fixed type."""
    task = data.get("task", "binary")
    if task not in TASKS:
        checker.report(("task",), f"{task!r} is not a task; use one of {', '.join(TASKS)}")
    if "synthetic" in data and not isinstance(data["synthetic"], bool):
        checker.report(("synthetic",), f"must be true or false, got {data['synthetic']!r}")
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        checker.report(("metadata",), f"must be a mapping, got {type(data['metadata']).__name__}")
    if isinstance(data.get("description"), (list, dict)):
        checker.report(("description",), "must be text")


def _check_labels(checker: _SpecChecker, data: dict[str, Any]) -> tuple[str, ...] | None:
    if "labels" not in data:
        checker.report(("labels",), "required key is missing")
        return None
    labels = checker.name_list(("labels",), data["labels"], "label")
    task = data.get("task", "binary")
    if labels is not None:
        if len(labels) < 2:
            checker.report(("labels",), f"needs at least 2 distinct labels, got {len(labels)}")
        elif task == "binary" and len(labels) != 2:
            checker.report(
                ("labels",),
                f"a binary task needs exactly 2 labels, got {len(labels)} (or set task: multiclass)",
            )
    if "positive_label" in data:
        positive = checker.scalar_text(("positive_label",), data["positive_label"], "positive_label")
        if task == "multiclass":
            checker.report(("positive_label",), "applies to binary tasks only, but task is multiclass")
        elif positive is not None and labels is not None and positive not in labels:
            checker.report(("positive_label",), f"{positive!r} is not one of the labels ({', '.join(labels)})")
    return labels


def _check_modalities(checker: _SpecChecker, data: dict[str, Any]) -> tuple[str, ...] | None:
    if "modalities" not in data:
        checker.report(("modalities",), "required key is missing")
        return None
    modalities = data["modalities"]
    if not isinstance(modalities, dict) or not modalities:
        checker.report(("modalities",), "must map at least one modality name to {channels: 1 or 3}")
        return None
    names: list[str] = []
    for raw_name, body in modalities.items():
        name = str(raw_name)
        path: KeyPath = ("modalities", name)
        if not KEY_PATTERN.fullmatch(name):
            checker.report(path, f"modality name {name!r} must match [A-Za-z0-9_-]+ (it prefixes column names)")
            continue
        names.append(name)
        if body is None:
            continue
        if not isinstance(body, dict):
            checker.report(path, f"must be a mapping like {{channels: 3}}, got {body!r}")
            continue
        channels = body.get("channels", 3)
        if isinstance(channels, bool) or channels not in CHANNELS:
            checker.report((*path, "channels"), f"must be 1 (greyscale) or 3 (RGB), got {channels!r}")
    return tuple(names)


def _check_attributes(
    checker: _SpecChecker, data: dict[str, Any], modalities: tuple[str, ...] | None
) -> dict[str, tuple[str, ...]]:
    attributes = data.get("attributes")
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        checker.report(("attributes",), "must map modality -> attribute -> list of values")
        return {}
    vocab: dict[str, tuple[str, ...]] = {}
    for raw_modality, per_attribute in attributes.items():
        modality = str(raw_modality)
        path: KeyPath = ("attributes", modality)
        if modalities is not None and modality not in modalities:
            checker.report(path, f"attributes for modality {modality!r}, which is not declared under modalities")
            continue
        if not isinstance(per_attribute, dict) or not per_attribute:
            checker.report(path, "must map at least one attribute name to its list of values")
            continue
        for raw_attribute, values in per_attribute.items():
            attribute = str(raw_attribute)
            if not KEY_PATTERN.fullmatch(attribute):
                checker.report((*path, attribute), f"attribute name {attribute!r} must match [A-Za-z0-9_-]+")
                continue
            names = checker.name_list((*path, attribute), values, "value")
            if names is not None and not names:
                checker.report((*path, attribute), "vocabulary is empty; list at least one value")
            elif names is not None:
                vocab[f"{modality}.{attribute}"] = names
    return vocab


def _check_centres(checker: _SpecChecker, data: dict[str, Any]) -> tuple[str, ...] | None:
    """`centres` is optional; an empty list means "not declared", as `DatasetSpec.from_dict` reads it."""
    if data.get("centres") is None:
        return None
    centres = checker.name_list(("centres",), data["centres"], "centre")
    return centres or None
