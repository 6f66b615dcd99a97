"""Checksummed, resumable, atomic downloads with the standard library only.

A dataset file is trusted only once its md5/sha256 matches the published value. Bytes arrive in
`<name>.part` (resumed with an HTTP Range request when a previous attempt was cut off) and are renamed
to `<name>` only after verification, so a file under its final name is always a verified one.
Failures are fast (short connect timeout, a bounded number of resumes) and end in one `DownloadError`
that says where to put a manually downloaded copy, because offline machines are the common case.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from mmdiag.errors import DownloadError

CHUNK = 1 << 20
USER_AGENT = "mmdiag-downloader/1 (+python-urllib)"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class RemoteFile:
    """A published file: its name on disk, where to fetch it and its published checksum(s)."""

    filename: str
    url: str
    md5: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if not (self.md5 or self.sha256):
            raise ValueError(f"{self.filename}: a RemoteFile needs an md5 or a sha256 to be verifiable")
        if Path(self.filename).name != self.filename:
            raise ValueError(f"{self.filename!r}: filename must be a bare file name")

    @property
    def algorithm(self) -> str:
        """The checksum verified: sha256 when published, else md5."""
        return "sha256" if self.sha256 else "md5"

    @property
    def expected(self) -> str:
        return (self.sha256 or self.md5 or "").lower()

    def with_url(self, url: str) -> RemoteFile:
        """The same file (same checksums) fetched from another address, e.g. a mirror or a test server."""
        return RemoteFile(self.filename, url, self.md5, self.sha256)


def mirror_url(base: str, filename: str) -> str:
    """URL of `filename` on a mirror that serves files under their official names at `base`."""
    return f"{base.rstrip('/')}/{urllib.parse.quote(filename)}"


def file_digest(path: str | Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(
    remote: RemoteFile,
    dest_dir: str | Path,
    *,
    timeout: float = 5.0,
    retries: int = 2,
    progress: bool = True,
    config_key: str = "download_dir",
) -> Path:
    """Return `dest_dir/<filename>` verified against `remote`'s checksum, downloading it if needed.

    A file already at the destination with the right checksum is used without touching the network,
    which is how manually downloaded files are picked up.

    Args:
        remote: what to fetch and the checksum it must have.
        dest_dir: folder for the final file and its `.part`.
        timeout: seconds for the name lookup, the connection and each socket read.
        retries: resumed attempts after a transfer breaks off mid-way (connection failures are not retried).
        progress: show a tqdm bar on stderr.
        config_key: the config key that points at `dest_dir`, named in error messages.

    Raises:
        DownloadError: unreachable server, HTTP error, broken transfer or checksum mismatch.
    """
    dest_dir = Path(dest_dir)
    final = dest_dir / remote.filename
    if final.exists():
        actual = file_digest(final, remote.algorithm)
        if actual != remote.expected:
            raise DownloadError(
                f"{final} exists but its {remote.algorithm} is {actual}, not the published "
                f"{remote.expected}; it is a different or damaged copy of {remote.url}: replace it with a "
                f"good copy or delete it to download again"
            )
        return final
    part = final.with_name(final.name + ".part")
    attempts_left = retries
    while True:
        try:
            _transfer(remote.url, part, timeout=timeout, progress=progress, desc=remote.filename)
            break
        except _BrokenTransfer as exc:
            if attempts_left <= 0:
                raise DownloadError(_manual_hint(remote, final, str(exc) + _kept(part), config_key)) from None
            attempts_left -= 1
        except _Unavailable as exc:
            raise DownloadError(_manual_hint(remote, final, str(exc) + _kept(part), config_key)) from None
    actual = file_digest(part, remote.algorithm)
    if actual != remote.expected:
        part.unlink()
        raise DownloadError(
            _manual_hint(remote, final, f"the downloaded file's {remote.algorithm} is {actual} (deleted)", config_key)
        )
    os.replace(part, final)
    return final


def fetch_all(
    remotes: Sequence[RemoteFile],
    dest_dir: str | Path,
    *,
    timeout: float = 5.0,
    retries: int = 2,
    progress: bool = True,
    config_key: str = "download_dir",
) -> list[Path]:
    """`fetch` each file in turn; the first failure stops, and its message also lists the other files
    still missing, so an offline user learns everything to download from one error."""
    paths: list[Path] = []
    for k, remote in enumerate(remotes):
        try:
            paths.append(
                fetch(
                    remote,
                    dest_dir,
                    timeout=timeout,
                    retries=retries,
                    progress=progress,
                    config_key=config_key,
                )
            )
        except DownloadError as exc:
            missing = [r for r in remotes[k + 1 :] if not (Path(dest_dir) / r.filename).exists()]
            also = "".join(f"; also needed there: {r.filename} ({r.algorithm} {r.expected}, {r.url})" for r in missing)
            raise DownloadError(f"{exc}{also}") from None
    return paths


def _manual_hint(remote: RemoteFile, final: Path, reason: str, config_key: str) -> str:
    """The one message a failed fetch ends with: what failed, the checksum, where a manual copy goes."""
    return (
        f"could not get {remote.filename} from {remote.url}: {reason}. Download it yourself, check that its "
        f"{remote.algorithm} is {remote.expected}, and put it at {final} (or set {config_key} to the folder "
        f"holding it)"
    )


def _kept(part: Path) -> str:
    """Say what happens to the partial file; an empty one is removed rather than left behind."""
    size = part.stat().st_size if part.exists() else 0
    if not size:
        part.unlink(missing_ok=True)
        return ""
    return f"; the {size} bytes received are kept in {part} and resumed next time"


class _Unavailable(Exception):
    """The server could not be reached or refused the request: retrying now would not help."""


class _BrokenTransfer(Exception):
    """The transfer started but stopped early: a resumed attempt may finish it."""


def _transfer(url: str, part: Path, *, timeout: float, progress: bool, desc: str) -> None:
    """Bring `part` to the full content of `url`, resuming from its current size when it exists."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    _resolve_within(url, timeout)
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            # Nothing left to send: the part is complete (a crash hit between download and rename).
            # The caller's checksum decides whether it really is.
            return
        raise _Unavailable(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise _Unavailable(f"cannot connect ({reason})") from None
    with resp:
        total = _expected_total(resp, start)
        if resp.status != 206:
            start = 0  # the server ignored Range and sends everything: start the part over
        _copy_body(resp, part, start, total, progress=progress, desc=desc)


def _expected_total(resp: http.client.HTTPResponse, start: int) -> int | None:
    """Full size of the file when the response says it; checks a 206 continues where the part ends."""
    if resp.status == 206:
        m = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
        if not m or int(m.group(1)) != start:
            raise _Unavailable(f"server answered a resume from byte {start} with a different range")
        return int(m.group(3)) if m.group(3) != "*" else None
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _copy_body(
    resp: http.client.HTTPResponse, part: Path, start: int, total: int | None, *, progress: bool, desc: str
) -> None:
    """Append the response body to `part` (truncated first unless resuming), with a progress bar."""
    done = start
    part.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(part, "ab" if start else "wb") as fh,
        tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            file=sys.stderr,
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        while True:
            try:
                chunk = resp.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, IncompleteRead
                raise _BrokenTransfer(f"transfer broke off after {done} bytes ({exc!r})") from None
            if not chunk:
                break
            fh.write(chunk)
            done += len(chunk)
            bar.update(len(chunk))
    if total is not None and done < total:
        raise _BrokenTransfer(f"connection closed after {done} of {total} bytes")


def _resolve_within(url: str, timeout: float) -> None:
    """Fail within `timeout` when the host name cannot be looked up.

    The socket timeout does not cover name resolution, which can hang for tens of seconds on a
    machine without network; the lookup runs in a daemon thread so the caller can give up on time.
    Skipped when a proxy is configured (the proxy resolves the name).
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if not host or urllib.request.getproxies().get(parts.scheme):
        return
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise _Unavailable(f"cannot connect (looking up {host} took more than {timeout:g} s)")
    if outcome[0] is not None:
        raise _Unavailable(f"cannot connect (cannot resolve {host}: {outcome[0]})")
