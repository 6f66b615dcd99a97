"""Parse `dataset.yaml` keeping the line of every key, so spec errors point at their line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from mmdiag.io import YAML_MAX_BYTES, YamlLimitError, compose_yaml

KeyPath = tuple[str | int, ...]


@dataclass
class YamlSource:
    """Parsed `dataset.yaml`.

    Attributes:
        data: what `yaml.safe_load` returns (None when unparseable or empty).
        lines: key path (mapping keys and list indices) -> 1-based line where that key or item starts.
        duplicates: (key path, line, line of the first occurrence) for repeated mapping keys, which
            PyYAML otherwise resolves silently to the last value.
    """

    data: Any = None
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int, int]] = field(default_factory=list)

    def line_of(self, path: KeyPath) -> int | None:
        """Line of `path`, else of its nearest ancestor that has one (None at the top level)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def parse_yaml(text: str) -> YamlSource:
    """Compose once (bounded, see `mmdiag.io.compose_yaml`), then construct values and record lines.

    Raises:
        yaml.YAMLError: with a problem mark; `YamlLimitError` for a too large file or alias expansion.
    """
    if len(text) > YAML_MAX_BYTES:
        raise YamlLimitError(f"is {len(text):,} characters long; dataset.yaml is limited to {YAML_MAX_BYTES:,}")
    root = compose_yaml(text)
    if root is None:
        return YamlSource()
    source = YamlSource(data=yaml.SafeLoader("").construct_document(root))
    _walk(root, (), source)
    return source


def _walk(node: yaml.Node, path: KeyPath, source: YamlSource) -> None:
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            child = (*path, key)
            if key in first_seen:
                source.duplicates.append((child, line, first_seen[key]))
            else:
                first_seen[key] = line
            source.lines[child] = line  # the last occurrence is the one safe_load keeps
            _walk(value_node, child, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            source.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), source)
