"""Paths built from data (ids, names in a metadata file) that can never leave their folder.

A converter that writes `images/<lesion_id>/<image_id>.jpg` trusts two cells of someone else's CSV; a
`lesion_id` of `../../x` would write outside the dataset folder. `safe_component` turns any text into
one harmless path component, and `inside` refuses a path that still escapes (belt and braces).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from mmdiag.errors import DataFormatError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_COMPONENT = 100


def safe_component(text: str) -> str:
    """`text` as one path component of `[A-Za-z0-9._-]`, unchanged when it already is one.

    Anything else (separators, `..`, spaces, control characters, a leading dot, over-long names) is
    replaced and an 8-hex digest of the original is appended, so distinct ids stay distinct files.
    """
    text = str(text)
    if _UNSAFE.search(text) is None and text and not text.startswith(".") and len(text) <= MAX_COMPONENT:
        return text
    cleaned = _UNSAFE.sub("_", text).strip("._")[: MAX_COMPONENT - 9] or "x"
    return f"{cleaned}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def inside(root: str | Path, rel: str | Path) -> Path:
    """`root / rel`, after checking (without following symlinks) that it stays inside `root`.

    Raises:
        DataFormatError: `rel` is absolute or climbs out of `root` with `..`.
    """
    rel_path = Path(rel)
    parts = rel_path.parts
    if rel_path.is_absolute() or ".." in parts or not parts:
        raise DataFormatError(str(root), [f"refusing to write {str(rel)!r}: it would leave the dataset folder"])
    return Path(root) / rel_path
