"""Check that image files decode, cheaply: enough to catch corrupt or truncated files in ~1 ms each.

PNG: `verify()` walks every chunk and checks its CRC (no inflating). JPEG: decoded at 1/8 scale via
`draft`, which still reads every entropy-coded segment, so truncation is caught. Uncompressed pixel
data with a known row stride (plain BMP): the file must be long enough to hold it, which needs no read.
Anything else (RLE BMP, TIFF): fully loaded, since `verify()` checks nothing past its header.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from mmdiag.data.validation.violation import Violation

SUPPORTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "BMP": "BMP", "DIB": "BMP", "TIFF": "TIFF"}


def decode_problem(path: Path) -> str | None:
    """None if `path` is a decodable image of a supported format, else why not."""
    try:
        with Image.open(path) as image:
            fmt = image.format or "unknown"
            if fmt not in SUPPORTED_FORMATS:
                return f"is a {fmt} image; supported formats are PNG, JPEG, BMP, TIFF"
            if fmt == "PNG":
                image.verify()
            elif SUPPORTED_FORMATS[fmt] == "JPEG":
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
            elif (needed := _raw_bytes_needed(image)) is not None:
                size = os.path.getsize(path)
                if size < needed:
                    return f"is truncated ({size} bytes, its pixel data needs {needed})"
            else:
                image.load()
    except Exception as exc:  # PIL raises OSError, SyntaxError, struct.error, ... for bad files
        reason = str(exc).replace(f" {str(path)!r}", "") or type(exc).__name__  # the row names the file
        return f"cannot be decoded as an image ({reason})"
    return None


def _raw_bytes_needed(image: Image.Image) -> int | None:
    """File length that uncompressed pixel data implies, or None when the tiles are not plain raw rows."""
    needed = 0
    for codec, extents, offset, args in image.tile:  # plain tuples before Pillow 11, named after
        args = args if isinstance(args, tuple) else (args,)
        stride = args[1] if len(args) > 1 and isinstance(args[1], int) else 0
        if codec != "raw" or stride <= 0:
            return None
        needed = max(needed, offset + stride * (extents[3] - extents[1]))
    return needed or None


def check_image_files(root: Path, table_name: str, rows: list[tuple[int, str]], violations: list[Violation]) -> None:
    """Decode-check each (images.csv line, relative path); one violation per bad file, at its row."""
    problems: dict[str, str | None] = {}
    for line, rel_path in rows:
        if rel_path not in problems:
            problems[rel_path] = decode_problem(root / rel_path)
        problem = problems[rel_path]
        if problem is not None:
            violations.append(Violation(table_name, line, "path", f"{rel_path} {problem}"))
