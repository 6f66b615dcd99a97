"""Atomic file writes, bounded YAML: a crash never leaves a half-written output, a file never explodes.

Every writer goes to a temporary sibling and `os.replace`s it into place (atomic on POSIX). The
temporary file gets the permissions a plain `open()` would have given (0666 minus the umask), so a
lab sharing a results folder can read what the pipeline writes. A full disk ends in one `WriteError`
that names the file, whatever library did the writing (numpy: `OSError` ENOSPC; torch's C++ writer:
`basic_ios::clear: iostream error`).

`load_yaml` is the one YAML reader for files a user hands in (dataset.yaml, config files): safe
tags only, a size limit, and aliases expanded at most to a bounded size, so a 2.6 KB "alias bomb"
fails in milliseconds instead of growing into gigabytes downstream.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from mmdiag.errors import MmdiagError

# Limits of `load_yaml`. A real dataset.yaml has a few hundred nodes; the default config a few thousand.
YAML_MAX_BYTES = 1 << 20
YAML_MAX_NODES = 50_000  # scalars + collections after expanding every alias
YAML_MAX_TEXT = 1 << 20  # characters of scalar text after expanding every alias

_umask_lock = threading.Lock()


class WriteError(MmdiagError):
    """An output file could not be written (disk full, quota, permissions); names the file."""


class YamlLimitError(yaml.YAMLError):
    """A YAML document is larger than `load_yaml` allows; `problem_mark` locates the offending node."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark

    def __str__(self) -> str:
        return self.problem


def current_umask() -> int:
    """The process umask (read without a window in which another thread could see it changed)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """Permissions a plain `open()` / `mkdir()` would give: 0666 / 0777 minus the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def _write_error(path: Path, exc: BaseException) -> WriteError | None:
    """A `WriteError` naming `path` when `exc` is a failed write (ENOSPC and friends), else None."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        reason = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}.get(
            exc.errno, "file too large for the file system"
        )
    elif isinstance(exc, (OSError, RuntimeError)) and "iostream error" in str(exc):
        reason = "the write failed (torch reports 'iostream error'; usually the disk is full)"
    else:
        return None
    try:
        free = f"; {shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free there"
    except OSError:
        free = ""
    return WriteError(f"cannot write {path}: {reason}{free}. Free some space (or point `results` elsewhere) and rerun")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` if the block succeeds.

    Raises:
        WriteError: the disk filled up (or a quota was hit) while the block wrote; names `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, default_mode())  # mkstemp makes 0600 whatever the umask
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        error = _write_error(path, exc)
        if error is not None:
            raise error from exc
        raise


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """`tempfile.mkdtemp` in `parent` with the permissions of a plain `mkdir` (mkdtemp makes 0700)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, default_mode(directory=True))
    return tmp


def atomic_write(path: str | Path, write: Callable[[IO[Any]], None], mode: str = "w") -> None:
    """Open a temporary file, let `write(fh)` fill it, then move it onto `path`."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else "utf-8") as fh:
        write(fh)


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text))


def write_json(path: str | Path, obj: Any) -> None:
    """Pretty JSON in insertion order (deterministic bytes for identical content; declaration orders such as
    a dataset's attribute order survive)."""
    write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def file_sha256(path: str | Path) -> str:
    """Content hash (not mtime: DVC checkouts rewrite modification times)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- bounded YAML ------------------------------------------------------------------------------------


def compose_yaml(text: str, *, max_nodes: int = YAML_MAX_NODES, max_text: int = YAML_MAX_TEXT) -> yaml.Node | None:
    """The YAML node graph of `text` (safe tags), refused when aliases would expand it past the limits.

    PyYAML shares an aliased node instead of copying it, so a "billion laughs" document composes in
    microseconds; the damage comes later, from whatever walks the expanded structure (JSON dumps,
    validation). The expanded size is computed here with one memoised pass over the distinct nodes.

    Raises:
        yaml.YAMLError: a syntax error, or `YamlLimitError` naming the limit and the node's line.
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        _check_expansion(root, max_nodes, max_text)
    return root


def _check_expansion(root: yaml.Node, max_nodes: int, max_text: int) -> None:
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, characters) once expanded
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = (1, len(node.value))
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        if not children_done:
            if key in open_nodes:
                raise YamlLimitError("an alias refers to a node that contains it (recursive YAML)", node.start_mark)
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        open_nodes.discard(key)
        nodes = 1 + sum(sizes[id(c)][0] for c in children)
        chars = sum(sizes[id(c)][1] for c in children)
        if nodes > max_nodes or chars > max_text:
            raise YamlLimitError(
                f"expands to more than {max_nodes:,} values or {max_text:,} characters once its aliases "
                "(*name) are resolved: an alias bomb? Write the values out instead of nesting aliases",
                node.start_mark,
            )
        sizes[key] = (nodes, chars)


def load_yaml(text: str, *, max_bytes: int = YAML_MAX_BYTES, **limits: int) -> Any:
    """`yaml.safe_load(text)` with a size limit and bounded alias expansion (see `compose_yaml`).

    Raises:
        yaml.YAMLError: syntax error, or `YamlLimitError` for a too large text or expansion.
    """
    if len(text) > max_bytes:
        raise YamlLimitError(f"is {len(text):,} characters long; YAML files here are limited to {max_bytes:,}")
    root = compose_yaml(text, **limits)
    return None if root is None else yaml.SafeLoader("").construct_document(root)
