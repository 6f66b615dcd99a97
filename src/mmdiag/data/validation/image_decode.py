"""The one image decoder: what the validator checks is exactly what `preprocess` reads.

Two jobs, one module:

- `decode_problem` checks cheaply that a file decodes (~1 ms each). PNG: `verify()` walks every chunk
  and checks its CRC (no inflating). JPEG: decoded at 1/8 scale via `draft`, which still reads every
  entropy-coded segment, so truncation is caught. Uncompressed pixel data with a known row stride
  (plain BMP): the file must be long enough to hold it. Anything else (RLE BMP, TIFF) and every
  image whose values need checking (32-bit integer, float): fully loaded.
- `to_model_mode` / `load_pixels` turn any mode Pillow reads into the 0..255 scale the cache is
  normalised from, honouring bit depth and value range (docs/data_format.md, "Image modes"):

  - 8-bit modes (1, L, P, PA, LA, RGB, RGBA, RGBX, CMYK, YCbCr, LAB, HSV) are converted by Pillow to
    L or RGB; alpha is dropped (not composited), a palette is looked up.
  - Integer modes of more than 8 bits (I;16, I;16L, I;16B, I;16N, 32-bit I) are scaled by a bit depth
    b: value * 255 / (2**b - 1). `preprocess` uses one b per modality, the smallest even depth (at
    least 8) that holds the largest value of that modality's images, so 12-bit data stored in 16-bit
    files fills the range and relative brightness between images is kept. Negative values are refused.
  - Float images (F): values within [0, 1] are fractions (x 255); values within [0, 255] are used as
    they are; anything else (NaN, inf, other ranges such as Hounsfield units) is refused: the right
    window is the user's decision, not a silent min-max.

  Greyscale sources become 3 identical channels for an RGB modality; RGB sources become luma
  (ITU-R 601) for a greyscale one. Only the first frame of a multi-frame file is read.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mmdiag.data.validation.violation import Violation

SUPPORTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "BMP": "BMP", "DIB": "BMP", "TIFF": "TIFF"}
EIGHT_BIT_MODES = frozenset(
    {"1", "L", "P", "PA", "LA", "La", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV"}
)
INTEGER_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
FLOAT_MODES = frozenset({"F"})
_BYTES_IO = re.compile(r" <_io\.BytesIO object at 0x[0-9a-fA-F]+>")
_VIA = {"La": "LA", "RGBa": "RGBA", "PA": "RGBA", "LAB": "RGB"}  # premultiplied alpha, palette+alpha, Lab


class ImageModeError(ValueError):
    """An image whose mode or value range the decoder refuses; the message says what to do."""

    path: Path | None = None


def mode_problem(mode: str) -> str | None:
    """None when `mode` can be decoded, else why not (a sentence fragment after the file name)."""
    if mode in EIGHT_BIT_MODES or mode in INTEGER_MODES or mode in FLOAT_MODES:
        return None
    return (
        f"has image mode {mode!r}, which mmdiag does not decode; save it as 8-bit grey/RGB or 16-bit grey "
        "(supported: 8-bit modes, I;16, I, F)"
    )


def bit_depth(peak: int) -> int:
    """Smallest even bit depth, at least 8, that holds `peak` (4095 -> 12, 65535 -> 16, 300 -> 10)."""
    bits = max(8, int(peak).bit_length())
    return bits + (bits % 2)


def integer_peak(image: Image.Image) -> int:
    """Largest value of an integer-mode image.

    Raises:
        ImageModeError: the image holds negative values.
    """
    arr = np.asarray(image)  # getextrema() refuses I;16B
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if lo < 0:
        raise ImageModeError(
            f"holds negative values ({lo}..{hi}, mode {image.mode}); shift or window it to 0..2**bits - 1 first"
        )
    return int(hi)


def float_scale(image: Image.Image) -> float:
    """Factor that brings a float image onto 0..255: 255 for values within [0, 1], 1 within [0, 255].

    Raises:
        ImageModeError: non-finite values, or values outside both ranges.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.size and not np.isfinite(arr).all():
        raise ImageModeError("holds NaN or infinite values (float image); write finite values")
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if lo >= 0.0 and hi <= 1.0:
        return 255.0
    if lo >= 0.0 and hi <= 255.0:
        return 1.0
    raise ImageModeError(
        f"is a float image with values {lo:g}..{hi:g}; mmdiag reads float images within [0, 1] or [0, 255] "
        "only: apply your intensity window and save it in one of those ranges (or as 8/16-bit)"
    )


def to_model_mode(image: Image.Image, channels: int, bits: int | None = None) -> Image.Image:
    """`image` on the 0..255 scale: mode L/RGB (per `channels`) for 8-bit sources, grey mode F otherwise.

    Args:
        image: an opened image (any mode `mode_problem` accepts).
        channels: 1 (grey) or 3 (RGB); F results are grey, the caller repeats them for RGB.
        bits: bit depth of integer modes (None: inferred from this image's own largest value).

    Raises:
        ImageModeError: unsupported mode or value range.
    """
    mode = image.mode
    if (problem := mode_problem(mode)) is not None:
        raise ImageModeError(problem)
    if mode in EIGHT_BIT_MODES:
        target = "L" if channels == 1 else "RGB"
        if mode == target:
            return image
        if mode in _VIA:  # modes Pillow converts to L/RGB only through another mode
            image = image.convert(_VIA[mode])
        return image if image.mode == target else image.convert(target)
    if mode in INTEGER_MODES:
        peak = integer_peak(image)
        depth = bits if bits is not None else bit_depth(peak)
        arr = np.asarray(image).astype(np.float32) * np.float32(255.0 / (2.0**depth - 1.0))
        return Image.fromarray(np.minimum(arr, np.float32(255.0)))
    return Image.fromarray(np.asarray(image, dtype=np.float32) * np.float32(float_scale(image)))


def load_pixels(path: str | Path, channels: int, size: int, bits: int | None = None) -> np.ndarray:
    """Decode, short-side resize (antialiased bilinear), centre crop: float32 [C, size, size] on 0..255.

    8-bit sources are resized as 8-bit images (so their values stay integers, as they always were);
    others are resized in float, so a 16-bit copy of an 8-bit image gives (nearly) the same array.

    Raises:
        ImageModeError: unsupported mode or value range (the message lacks the file name: add it).
    """
    with Image.open(path) as opened:
        im = to_model_mode(opened, channels, bits)
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        arr = np.asarray(im, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
        return np.repeat(arr, channels, axis=0) if channels > 1 else arr
    return arr.transpose(2, 0, 1)


@dataclass(frozen=True)
class ImageScan:
    """What a pass over one modality's image headers found: Pillow modes (with counts) and the bit depth."""

    modes: dict[str, int]
    bits: int | None  # for its integer-mode (> 8 bit) images; None when it has none


def scan_images(paths: list[Path]) -> ImageScan:
    """Modes of `paths` and one bit depth for their integer-mode images (see the module docstring).

    Opens every header (cheap) and fully decodes only the integer-mode images, for their largest value.

    Raises:
        ImageModeError: an unsupported mode or negative values; its `path` attribute names the file.
    """
    modes: Counter[str] = Counter()
    peak = None
    for path in paths:
        with Image.open(path) as im:
            modes[im.mode] += 1
            try:
                if (problem := mode_problem(im.mode)) is not None:
                    raise ImageModeError(problem)
                if im.mode in INTEGER_MODES:
                    value = integer_peak(im)
                    peak = value if peak is None else max(peak, value)
            except ImageModeError as exc:
                exc.path = path
                raise
    return ImageScan(dict(modes), None if peak is None else bit_depth(peak))


def image_mode(path: str | Path) -> str:
    """The Pillow mode of an image file, from its header only (for the validator's summary)."""
    with Image.open(path) as im:
        return im.mode


def decode_problem(path: Path, data: bytes | None = None) -> str | None:
    """None if `path` (whose bytes may be given as `data`) is a decodable image mmdiag reads, else why not."""
    source = io.BytesIO(data) if data is not None else path
    try:
        with Image.open(source) as image:
            fmt = image.format or "unknown"
            if fmt not in SUPPORTED_FORMATS:
                return f"is a {fmt} image; supported formats are PNG, JPEG, BMP, TIFF"
            if (problem := mode_problem(image.mode)) is not None:
                return problem
            if image.mode == "I" or image.mode in FLOAT_MODES:
                image.load()  # their value range decides whether they can be read
                if image.mode == "I":
                    integer_peak(image)
                else:
                    float_scale(image)
            elif fmt == "PNG":
                image.verify()
            elif SUPPORTED_FORMATS[fmt] == "JPEG":
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
            elif (needed := _raw_bytes_needed(image)) is not None:
                size = len(data) if data is not None else path.stat().st_size
                if size < needed:
                    return f"is truncated ({size} bytes, its pixel data needs {needed})"
            else:
                image.load()
    except ImageModeError as exc:
        return str(exc)
    except Exception as exc:  # PIL raises OSError, SyntaxError, struct.error, ... for bad files
        reason = _BYTES_IO.sub("", str(exc).replace(f" {str(path)!r}", "")) or type(exc).__name__  # row names it
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


def check_image_files(
    root: Path, table_name: str, rows: list[tuple[int, str]], violations: list[Violation]
) -> dict[str, str]:
    """Decode-check each (images.csv line, relative path); one violation per bad file, at its row.

    Returns relative path -> sha256 of its bytes (read once for both jobs), for the duplicate check.
    """
    problems: dict[str, str | None] = {}
    digests: dict[str, str] = {}
    for line, rel_path in rows:
        if rel_path not in problems:
            try:
                data = (root / rel_path).read_bytes()
            except OSError as exc:
                problems[rel_path] = f"cannot be read ({exc.strerror or exc})"
            else:
                digests[rel_path] = hashlib.sha256(data).hexdigest()
                problems[rel_path] = decode_problem(root / rel_path, data)
        problem = problems[rel_path]
        if problem is not None:
            violations.append(Violation(table_name, line, "path", f"{rel_path} {problem}"))
    return digests


__all__ = [
    "EIGHT_BIT_MODES",
    "FLOAT_MODES",
    "INTEGER_MODES",
    "ImageModeError",
    "ImageScan",
    "bit_depth",
    "check_image_files",
    "decode_problem",
    "image_mode",
    "load_pixels",
    "mode_problem",
    "scan_images",
    "to_model_mode",
]
