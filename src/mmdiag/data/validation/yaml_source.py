"""Parse `dataset.yaml` keeping the line of every key, so spec errors point at their line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

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
    """Compose (for lines) and load (for values); raises `yaml.YAMLError` with a problem mark."""
    source = YamlSource(data=yaml.safe_load(text))
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
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
