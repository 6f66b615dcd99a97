"""Checkpoints and job inputs that are safe to load and say what to do when they are damaged.

- `load_checkpoint` is the ONE way the library reads a `.pt` file: `weights_only=True`, so a crafted
  file cannot run code (a checkpoint may come from a DVC remote); anything unreadable raises
  `CheckpointError` naming the file and the command that rebuilds it. Everything the engine stores
  (weights, optimiser and scheduler state, RNG state as tensors, history as plain numbers) loads that way.
- `save_checkpoint` writes through a file object, so the bytes depend only on the content (a path makes
  torch name the zip's top folder after the temporary file, so every save differed), and atomically.
- `checkpoint_identity` hashes what a checkpoint holds (tensor names, dtypes, shapes and bytes, plain
  metadata), not its container: the identity provenance and resume fingerprints should use.
- `load_json_input` reads a JSON input of a job (e.g. a run's `metrics.json`) with the same one-line error.
- `set_aside` moves a damaged file out of the way (`<name>.corrupt-<n>`), keeping it for inspection.

torch is imported inside the functions: reporting jobs import this module for `load_json_input` alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmdiag.errors import CheckpointError, CorruptInputError
from mmdiag.io import atomic_path

log = logging.getLogger(__name__)


def rebuild_hint(path: str | Path) -> str:
    """The command that rebuilds a pipeline output (from the repository root, with the usual --configfile)."""
    return f"rebuild it with: snakemake {path} --force"


def _reason(exc: BaseException) -> str:
    """A short, human cause for a failed weights-only load (torch's own message is a page long)."""
    text = str(exc)
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return f"it holds pickled code ({found.group(1)}), refused without running it"
    if "central directory" in text or "zip archive" in text or isinstance(exc, EOFError):
        return "truncated or not a zip archive"
    if "Weights only load failed" in text:
        return "not a PyTorch checkpoint, or one holding objects other than tensors and plain values"
    first = text.strip().splitlines()[0][:160] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def load_checkpoint(path: str | Path, map_location: Any = "cpu", hint: str | None = None) -> Any:
    """`torch.load(path, weights_only=True)`, or `CheckpointError` naming `path` and how to rebuild it.

    `hint` replaces the default "rebuild it with: snakemake <path> --force"; "" leaves the message without one
    (the engine's own resume checkpoints are set aside instead, see `mmdiag.engine.trainer`).
    """
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on the way to refusing a file
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any failure to decode is the same failure for the user
        hint = rebuild_hint(path) if hint is None else hint
        suffix = f"; {hint}" if hint else ""
        raise CheckpointError(f"{path}: unreadable checkpoint ({_reason(exc)}){suffix}") from None


def save_checkpoint(path: str | Path, obj: Any) -> None:
    """Write `obj` atomically with bytes that depend only on its content (see the module docstring)."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def load_json_input(path: str | Path) -> Any:
    """Parse a JSON input of a job, or `CorruptInputError` naming the file and the command that rebuilds it."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise CorruptInputError(f"{path}: file not found; {rebuild_hint(path)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError):
            what = "not UTF-8 text"
        else:
            what = f"invalid JSON ({exc.msg}, line {exc.lineno})"
        raise CorruptInputError(f"{path}: {what}; {rebuild_hint(path)}") from None
    except OSError as exc:
        raise CorruptInputError(f"{path}: unreadable ({exc.strerror or exc}); {rebuild_hint(path)}") from None


def read_metrics_json(path: str | Path) -> dict[str, Any]:
    """A run's `metrics.json` (must be a mapping with `run` and `eval`), else `CorruptInputError`."""
    data = load_json_input(path)
    if not isinstance(data, dict) or not {"run", "eval"} <= data.keys():
        raise CorruptInputError(f"{path}: not a run's metrics (needs the keys 'run' and 'eval'); {rebuild_hint(path)}")
    return data


def set_aside(path: str | Path) -> Path:
    """Rename a damaged file to `<name>.corrupt-<n>` (first free n) and return the new path."""
    path = Path(path)
    n = 1
    while (target := path.with_name(f"{path.name}.corrupt-{n}")).exists():
        n += 1
    os.replace(path, target)
    return target


def checkpoint_identity(path: str | Path) -> str:
    """sha256 (hex) of what a checkpoint holds, independent of the zip container and of key order.

    Two saves of equal tensors and metadata give the same identity, whatever torch version or file name
    wrote them. Raises `CheckpointError` like `load_checkpoint` when the file is unreadable.
    """
    h = hashlib.sha256()
    _feed(h, load_checkpoint(path))
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, Mapping):
        h.update(f"M{len(obj)}".encode())
        for key in sorted(obj, key=str):
            h.update(f"K{key!s}".encode())
            _feed(h, obj[key])
    elif isinstance(obj, list | tuple):
        h.update(f"L{len(obj)}".encode())
        for item in obj:
            _feed(h, item)
    else:
        h.update(("V" + json.dumps(obj, sort_keys=True, default=str)).encode())
