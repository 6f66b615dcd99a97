"""A streaming reader of `.npz` archives (the MedMNIST distribution format).

`numpy.load` decompresses a whole array on access: PathMNIST at 224 px is about 14 GB of training
images, so converting a few hundred of them would need all of it in memory. This reader parses each
member's `.npy` header and streams rows, holding one image at a time. medmnist's own dataset
classes are not used: they insist on the official sample counts, which small test files lack.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
import numpy.lib.format as npy_format

from mmdiag.errors import DataFormatError


class NpzArchive:
    """Read-only access to the arrays of an `.npz` file, whole or row by row."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise DataFormatError(str(self.path), [f"not a readable .npz archive ({exc})"]) from None
        self._members = {name.removesuffix(".npy"): name for name in self._zip.namelist() if name.endswith(".npy")}

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def keys(self) -> list[str]:
        """Array names, as `numpy.load(...).files` would list them."""
        return sorted(self._members)

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of array `key`, without reading its data."""
        with self._open(key) as fh:
            shape, _, dtype = self._read_header(key, fh)
        return shape, dtype

    def read(self, key: str) -> np.ndarray:
        """The whole array `key` (meant for small arrays such as labels)."""
        with self._open(key) as fh:
            try:
                return npy_format.read_array(fh, allow_pickle=False)
            except ValueError as exc:
                raise self._error(key, f"cannot read array ({exc})") from None

    def iter_rows(self, key: str, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield `(i, array[i])` for increasing, unique `indices`, reading the member once, front to back."""
        with self._open(key) as fh:
            shape, fortran, dtype = self._read_header(key, fh)
            if not shape:
                raise self._error(key, "is a scalar, expected an array of rows")
            if fortran:  # rows are not contiguous: fall back to reading the whole array
                fh.close()
                whole = self.read(key)
                for i in indices:
                    yield int(i), whole[int(i)]
                return
            row_shape = shape[1:]
            row_bytes = math.prod(row_shape) * dtype.itemsize
            position = 0
            for i in indices:
                i = int(i)
                if i < position or i >= shape[0]:
                    raise ValueError(f"{key}: index {i} is out of range or not increasing")
                if i > position:  # a forward seek; compressed members are decompressed on the way
                    fh.seek((i - position) * row_bytes, io.SEEK_CUR)
                data = fh.read(row_bytes)
                if len(data) != row_bytes:
                    raise self._error(key, f"is truncated at row {i}")
                yield i, np.frombuffer(data, dtype=dtype).reshape(row_shape)
                position = i + 1

    def _open(self, key: str) -> IO[bytes]:
        if key not in self._members:
            raise self._error(key, f"is missing (the archive holds: {', '.join(self.keys()) or 'nothing'})")
        return self._zip.open(self._members[key])

    def _read_header(self, key: str, fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
        try:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise self._error(key, f"has an unreadable .npy header ({exc})") from None
        if dtype.hasobject:
            raise self._error(key, "holds Python objects, which are never unpickled")
        return tuple(int(d) for d in shape), bool(fortran), dtype

    def _error(self, key: str, message: str) -> DataFormatError:
        return DataFormatError(str(self.path), [f"array {key!r} {message}"])
