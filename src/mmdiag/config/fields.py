"""Typed config sections: one dataclass field per key, from which the JSON schema and a checker are derived.

A section is a frozen dataclass whose fields are made with `option` (a value: its default, a one-line
description and its JSON Schema limits) or `section` (a nested section). That field list is the one place
the defaults live: `object_schema` turns a section into its JSON Schema fragment (what `mmdiag write-schema`
writes and Snakemake validates), `convert_fields` checks and converts a mapping key by key with messages
naming the key (the synthetic generator's `SyntheticConfig.from_dict`), and `fill` reads a validated
mapping as the typed section (missing keys take their defaults), so library code never restates a default.

Class-level settings of a section: `REQUIRED` (keys a mapping must hold) and `OPEN` (unknown keys allowed).
Types map to JSON Schema as: int -> integer, float -> number, str -> string, bool -> boolean,
`X | None` -> [X, null], `list[X]` -> array of X, `tuple[X, X]` -> array of exactly 2 X (value limits apply
to each element), `dict[str, X]` -> object whose values are X, a section -> object.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar

from mmdiag.errors import ConfigError

_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean"}
_NOT_LIMITS = ("doc", "cap_reason")  # metadata that is not a JSON Schema keyword of its own


def option(default: Any, doc: str, cap_reason: str | None = None, **limits: Any) -> Any:
    """A config value: its default (a list or dict is copied per instance), description and JSON Schema limits.

    Args:
        default: the value a config that leaves the key out gets.
        doc: one line for the schema's `description` (and config/README.md).
        cap_reason: why a maximum is there (`x-cap-reason`, quoted by the error a value above it gets).
        **limits: JSON Schema keywords (minimum, exclusiveMaximum, enum, pattern, items, minItems, ...).
    """
    meta = {"doc": doc, **limits, **({"cap_reason": cap_reason} if cap_reason else {})}
    if isinstance(default, list | dict):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type, doc: str) -> Any:
    """A nested section: an instance of `cls` with its own defaults; in the schema an object defaulting to {}."""
    return field(default_factory=cls, metadata={"doc": doc})


class Section:
    """Optional base of a section dataclass: the class-level schema settings with their defaults."""

    DESCRIPTION: ClassVar[str | None] = None  # of one entry, where the section is the value type of a map
    REQUIRED: ClassVar[tuple[str, ...]] = ()  # keys a mapping must hold (JSON Schema `required`) ...
    REQUIRED_FIRST: ClassVar[bool] = False  # ... itself (True), or once the defaults are filled in (False)
    OPEN: ClassVar[bool] = False  # unknown keys allowed (else an error: a typo must not pass silently)


def make_section(name: str, doc: str, fields: list[tuple[str, Any, Any]], module: str) -> type:
    """A frozen `Section` dataclass made from `(key, type, option(...))` triples, for generated field lists.

    Where a section's fields follow from data (one per training phase, the keys every MedMNIST source
    shares), the list is built once and this makes the class, as `@dataclass(frozen=True)` would.

    Args:
        name: the class name.
        doc: its docstring.
        fields: `(key, type hint, option(...) or section(...))` in schema order.
        module: the defining module's `__name__` (type hints and pickling resolve names there).
    """
    namespace = {"__module__": module, "__doc__": doc}
    return dataclasses.make_dataclass(name, fields, bases=(Section,), frozen=True, namespace=namespace)


# --------------------------------------------------------------------------------------------- schema
def plain(value: Any) -> Any:
    """`value` as YAML/JSON-safe data: tuples become lists, mapping keys strings, sections mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _is_section(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def json_type(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a Python type hint (see the module docstring), without description or default."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        kinds: list[Any] = []
        out: dict[str, Any] = {}
        for arg in args:
            if arg is type(None):
                continue
            sub = json_type(arg)
            kinds.append(sub.pop("type"))
            out.update(sub)
        if type(None) in args:
            kinds.append("null")
        return {"type": kinds[0] if len(kinds) == 1 else kinds, **out}
    if origin is tuple:
        return {"type": "array", "items": json_type(args[0]), "minItems": len(args), "maxItems": len(args)}
    if origin is list or hint is list:
        return {"type": "array", **({"items": json_type(args[0])} if args and args[0] is not Any else {})}
    if origin is dict or hint is dict:
        value = args[1] if args else Any
        if _is_section(value):  # a map of entries (encoders, arms): each entry filled where it is given
            entry = object_schema(value, getattr(value, "DESCRIPTION", None), default={})
            return {"type": "object", "additionalProperties": entry}
        return {"type": "object", "additionalProperties": True if value is Any else json_type(value)}
    if _is_section(hint):
        return object_schema(hint)
    return {"type": _SCALARS[hint]}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def field_default(f: dataclasses.Field) -> Any:
    """The default of a field (a fresh copy for factories)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"config field {f.name} has no default")


def field_schema(f: dataclasses.Field, hint: Any, default: Any = dataclasses.MISSING) -> dict[str, Any]:
    """The JSON Schema of one field: type, default (the field's unless given), description, then its limits."""
    if _is_section(hint):
        return {**object_schema(hint, f.metadata["doc"], default={})}
    derived = json_type(hint)
    kind = derived.pop("type")
    default = field_default(f) if default is dataclasses.MISSING else default
    if typing.get_origin(hint) is dict and _is_section(typing.get_args(hint)[1]):
        default = {}  # a map of sections (encoders, arms): entries are filled where they are given
    out: dict[str, Any] = {"type": kind, "default": plain(default), "description": f.metadata["doc"], **derived}
    limits = {k: v for k, v in f.metadata.items() if k not in _NOT_LIMITS}
    is_tuple = typing.get_origin(_unwrap_optional(hint)) is tuple
    if is_tuple:  # value limits of a fixed-length list apply to each element
        out["items"].update({k: v for k, v in limits.items() if k != "enum"})
        limits = {k: v for k, v in limits.items() if k == "enum"}
    for key, value in limits.items():  # a limit given explicitly (e.g. `items`) replaces the derived keyword
        out.pop(key, None)
        out[key] = value
    if "null" in (kind if isinstance(kind, list) else [kind]) and "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    if "cap_reason" in f.metadata:
        out["x-cap-reason"] = f.metadata["cap_reason"]
    return out


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint


def properties(cls: type) -> dict[str, dict[str, Any]]:
    """The schema of every field of section `cls`, in field order."""
    hints = _hints(cls)
    return {f.name: field_schema(f, hints[f.name]) for f in dataclasses.fields(cls)}


def object_schema(
    cls: type, description: str | None = None, default: Any = dataclasses.MISSING, props: dict | None = None
) -> dict[str, Any]:
    """The object schema of section `cls` (`properties` replaced by `props` when given).

    `description` and `default` are left out when not given (a list item, or a source fragment that a
    config fills only when it names the source).
    """
    out: dict[str, Any] = {"type": "object"}
    if description is not None:
        out["description"] = description
    out["additionalProperties"] = bool(getattr(cls, "OPEN", False))
    required = list(getattr(cls, "REQUIRED", ()))
    # JSON Schema keywords apply in order, and the default-filling validator fills `properties`: `required`
    # placed before them means the mapping itself must hold the keys, placed after it documents keys that
    # their defaults satisfy.
    if required and getattr(cls, "REQUIRED_FIRST", False):
        out["required"] = required
    out["properties"] = properties(cls) if props is None else props
    if default is not dataclasses.MISSING:
        out["default"] = default
    if required and "required" not in out:
        out["required"] = required
    return out


# ----------------------------------------------------------------------------------------- typed reads
def defaults(cls: type) -> dict[str, Any]:
    """Section `cls` with every default, as plain data (what a validated config holds when the key is absent)."""
    return plain(cls())


def fill(cls: type, data: Mapping[str, Any] | None) -> Any:
    """A validated mapping read as section `cls`: missing keys take their defaults; values are not converted.

    Nested sections, lists and maps of sections are read the same way; unknown keys are ignored (the
    schema has already refused them where the section is closed).
    """
    data = data or {}
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _fill_value(hints[f.name], data[f.name])
    return cls(**values)


def _fill_value(hint: Any, value: Any) -> Any:
    hint = _unwrap_optional(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_section(hint) and (value is None or isinstance(value, Mapping)):  # null: the section's defaults
        return fill(hint, value)
    if origin is dict and args and _is_section(args[1]) and isinstance(value, Mapping):
        return {k: fill(args[1], v) for k, v in value.items()}
    if origin is list and args and _is_section(args[0]) and isinstance(value, list):
        return [fill(args[0], v) for v in value]
    return value


# ------------------------------------------------------------------------------------------- checking
def _type_name(hint: Any) -> str:
    return {int: "int", float: "number", str: "string", bool: "bool"}.get(hint, str(hint))


def check_limits(value: Any, meta: Mapping[str, Any], path: str) -> None:
    """`value` against the JSON Schema limits in `meta` (enum, pattern, minimum, ...); ConfigError naming `path`."""
    if "enum" in meta and value not in meta["enum"]:
        raise ConfigError(f"{path}: {value!r} is not one of {meta['enum']}")
    if value is None:
        return
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        raise ConfigError(f"{path}: {value!r} does not match {meta['pattern']}")
    checks = [
        ("minimum", lambda v, lim: v >= lim, ">="),
        ("maximum", lambda v, lim: v <= lim, "<="),
        ("exclusiveMinimum", lambda v, lim: v > lim, ">"),
        ("exclusiveMaximum", lambda v, lim: v < lim, "<"),
    ]
    for key, ok, op in checks:
        if key in meta and isinstance(value, int | float) and not ok(value, meta[key]):
            raise ConfigError(f"{path}: {value!r} must be {op} {meta[key]}")


def convert(value: Any, hint: Any, meta: Mapping[str, Any], path: str) -> Any:
    """Convert one value to `hint` (int, float, str, bool, fixed tuples, optionals), checking its limits."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            check_limits(value, meta, path)
            return None
        return convert(value, next(a for a in args if a is not type(None)), meta, path)
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ConfigError(f"{path}: expected a list of {len(args)} {_type_name(args[0])}s, got {value!r}")
        return tuple(convert(v, a, meta, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif hint is bool:
        ok = isinstance(value, bool)
    else:  # pragma: no cover - a field type this checker was not taught
        raise TypeError(f"{path}: unsupported field type {hint}")
    if not ok:
        raise ConfigError(f"{path}: expected {_type_name(hint)}, got {value!r}")
    check_limits(value, meta, path)
    return value


def check_keys(d: Any, cls: type, path: str) -> None:
    """`d` is a mapping holding only fields of `cls` (unless the section is OPEN); ConfigError naming the key."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {d!r}")
    if getattr(cls, "OPEN", False):
        return
    known = [f.name for f in dataclasses.fields(cls)]
    for key in d:
        if key not in known:
            raise ConfigError(f"{path}.{key}: unknown key (known: {', '.join(known)})")


def convert_fields(
    cls: type, d: Mapping[str, Any], path: str, skip: tuple[str, ...] = (), keep_none: bool = True
) -> dict[str, Any]:
    """The fields of `cls` present in `d` (except `skip`), each converted and checked (`convert`).

    With `keep_none=False` a null value counts as absent (an override that keeps what it overrides).
    """
    hints = _hints(cls)
    return {
        f.name: convert(d[f.name], hints[f.name], f.metadata, f"{path}.{f.name}")
        for f in dataclasses.fields(cls)
        if f.name in d and f.name not in skip and (keep_none or d[f.name] is not None)
    }
