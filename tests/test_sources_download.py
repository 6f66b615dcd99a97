"""Checksummed, resumable, atomic downloads, against a loopback HTTP server (never another address)."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from mmdiag.data.sources import medmnist as mm
from mmdiag.data.sources import prepare_source
from mmdiag.data.sources.download import RemoteFile, fetch, fetch_all, mirror_url
from mmdiag.errors import DownloadError

PAYLOAD = np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would carry loopback requests elsewhere: these tests stay local."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@dataclass
class LoopbackServer:
    """Serves `files` on 127.0.0.1, honouring `Range: bytes=N-` unless told not to, and logs requests."""

    files: dict[str, bytes]
    ignore_range: bool = False
    cut_next_after: int | None = None  # the next response stops after this many body bytes
    log: list[tuple[str, str | None]] = field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{urllib.parse.quote(name)}"


def _handler(state: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a stuck client cannot hold the server

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            requested = self.headers.get("Range")
            state.log.append((self.path, requested))
            name = urllib.parse.unquote(self.path.lstrip("/").split("?")[0])
            if name not in state.files:
                self.send_error(404)
                return
            data, start = state.files[name], 0
            if requested and not state.ignore_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", requested).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_next_after is not None:
                body, state.cut_next_after = body[: state.cut_next_after], None
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    state = LoopbackServer(files={})
    httpd = HTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def closed_port_url(name: str = "file.bin") -> str:
    """A loopback URL nobody listens on: the fastest honest stand-in for 'network unavailable'."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def test_fetch_downloads_verifies_and_renames(server: LoopbackServer, tmp_path: Path) -> None:
    server.files["data.bin"] = PAYLOAD
    for remote in (
        RemoteFile("data.bin", server.url("data.bin"), md5=PAYLOAD_MD5),
        RemoteFile("data.bin", server.url("data.bin"), sha256=hashlib.sha256(PAYLOAD).hexdigest()),
    ):
        dest = tmp_path / remote.algorithm
        path = fetch(remote, dest, progress=False)
        assert path == dest / "data.bin" and path.read_bytes() == PAYLOAD
        assert files_under(dest) == [path]  # no .part left


def test_interrupted_download_resumes_from_partial_file(server: LoopbackServer, tmp_path: Path) -> None:
    server.files["data.bin"] = PAYLOAD
    server.cut_next_after = 1200
    remote = RemoteFile("data.bin", server.url("data.bin"), md5=PAYLOAD_MD5)
    with pytest.raises(DownloadError, match="1200 bytes received are kept"):
        fetch(remote, tmp_path, retries=0, progress=False)
    part = tmp_path / "data.bin.part"
    assert part.read_bytes() == PAYLOAD[:1200] and not (tmp_path / "data.bin").exists()

    path = fetch(remote, tmp_path, retries=0, progress=False)
    assert server.log == [("/data.bin", None), ("/data.bin", "bytes=1200-")]
    assert hashlib.md5(path.read_bytes()).hexdigest() == PAYLOAD_MD5
    assert not part.exists()


def test_broken_transfer_is_resumed_within_one_call(server: LoopbackServer, tmp_path: Path) -> None:
    server.files["data.bin"] = PAYLOAD
    server.cut_next_after = 999
    path = fetch(RemoteFile("data.bin", server.url("data.bin"), md5=PAYLOAD_MD5), tmp_path, retries=1, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert [r for _, r in server.log] == [None, "bytes=999-"]


def test_server_ignoring_range_restarts_the_file(server: LoopbackServer, tmp_path: Path) -> None:
    server.files["data.bin"] = PAYLOAD
    server.ignore_range = True
    (tmp_path / "data.bin.part").write_bytes(b"x" * 700)  # stale bytes that must not survive
    path = fetch(RemoteFile("data.bin", server.url("data.bin"), md5=PAYLOAD_MD5), tmp_path, progress=False)
    assert server.log == [("/data.bin", "bytes=700-")]
    assert path.read_bytes() == PAYLOAD


def test_complete_partial_file_is_verified_and_kept(server: LoopbackServer, tmp_path: Path) -> None:
    server.files["data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)  # crash between download and rename
    path = fetch(RemoteFile("data.bin", server.url("data.bin"), md5=PAYLOAD_MD5), tmp_path, progress=False)
    assert server.log == [("/data.bin", f"bytes={len(PAYLOAD)}-")]
    assert path.read_bytes() == PAYLOAD and files_under(tmp_path) == [path]


def test_checksum_mismatch_is_explained_and_leaves_nothing(server: LoopbackServer, tmp_path: Path) -> None:
    server.files["data.bin"] = PAYLOAD[::-1]
    remote = RemoteFile("data.bin", server.url("data.bin"), md5=PAYLOAD_MD5)
    with pytest.raises(DownloadError) as err:
        fetch(remote, tmp_path / "dl", progress=False)
    message = str(err.value)
    assert remote.url in message and PAYLOAD_MD5 in message and str(tmp_path / "dl" / "data.bin") in message
    assert hashlib.md5(PAYLOAD[::-1]).hexdigest() in message
    assert files_under(tmp_path) == []


def test_file_already_present_is_used_without_network(tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(PAYLOAD)
    remote = RemoteFile("data.bin", closed_port_url("data.bin"), md5=PAYLOAD_MD5)
    assert fetch(remote, tmp_path, progress=False) == tmp_path / "data.bin"


def test_present_file_with_wrong_checksum_is_reported_not_deleted(tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(b"a different release")
    remote = RemoteFile("data.bin", closed_port_url("data.bin"), md5=PAYLOAD_MD5)
    with pytest.raises(DownloadError, match=f"not the published {PAYLOAD_MD5}"):
        fetch(remote, tmp_path, progress=False)
    assert (tmp_path / "data.bin").read_bytes() == b"a different release"


def test_unreachable_server_fails_fast_with_one_actionable_message(tmp_path: Path) -> None:
    remote = RemoteFile("data.bin", closed_port_url("data.bin"), md5=PAYLOAD_MD5)
    started = time.monotonic()
    with pytest.raises(DownloadError) as err:
        fetch(remote, tmp_path / "dl", progress=False, config_key="dataset.x.download_dir")
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert "\n" not in message
    for part in (remote.url, PAYLOAD_MD5, str(tmp_path / "dl" / "data.bin"), "dataset.x.download_dir"):
        assert part in message
    assert files_under(tmp_path) == []


def test_slow_name_lookup_is_cut_short(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The socket timeout does not cover DNS: the lookup deadline does."""

    def hanging_lookup(*args: object, **kwargs: object) -> list:
        time.sleep(3)
        raise socket.gaierror("unreachable resolver")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    remote = RemoteFile("data.bin", "https://mirror.invalid/data.bin", md5=PAYLOAD_MD5)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"looking up mirror\.invalid took more than"):
        fetch(remote, tmp_path, timeout=0.3, progress=False)
    assert time.monotonic() - started < 2


def test_fetch_all_names_every_missing_file(tmp_path: Path) -> None:
    base = closed_port_url("")
    remotes = [RemoteFile(n, mirror_url(base, n), md5=PAYLOAD_MD5) for n in ("a.zip", "b.zip", "c.csv")]
    (tmp_path / "b.zip").write_bytes(PAYLOAD)
    with pytest.raises(DownloadError) as err:
        fetch_all(remotes, tmp_path, progress=False)
    message = str(err.value)
    assert "could not get a.zip" in message and "also needed there: c.csv" in message
    assert "b.zip" not in message


def _fixture_npz(path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 3), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 9).reshape(-1, 1)
    np.savez(path, **arrays)


def test_source_downloads_through_url_override(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`url_override` (a config parameter) points a real source at a mirror: here the loopback server."""
    _fixture_npz(tmp_path / "pathmnist.npz")
    data = (tmp_path / "pathmnist.npz").read_bytes()
    server.files["pathmnist.npz"] = data
    official = mm.remote_file

    def fixture_md5(flag: str, size: int, url_override: str | None = None) -> RemoteFile:
        return RemoteFile(
            official(flag, size, url_override).filename,
            official(flag, size, url_override).url,
            md5=hashlib.md5(data).hexdigest(),
        )

    monkeypatch.setattr(mm, "remote_file", fixture_md5)
    base = f"http://127.0.0.1:{server.port}/"
    spec = prepare_source(
        "medmnist",
        {"flag": "pathmnist", "url_override": base, "download_dir": str(tmp_path / "dl")},
        tmp_path / "out",
    )
    assert server.log == [("/pathmnist.npz", None)]
    assert (tmp_path / "dl" / "pathmnist.npz").read_bytes() == data
    assert spec.metadata["file"]["url"] == base + "pathmnist.npz"
    assert (tmp_path / "out" / "cases.csv").is_file()


@pytest.mark.parametrize(
    ("source", "cfg", "expect"),
    [
        (
            "medmnist",
            {"flag": "pathmnist", "size": 64},
            ["pathmnist_64.npz", "55aa9c1e0525abe5a6b9d8343a507616"],
        ),
        (
            "medmnist_pair",
            {"size": 28},
            [
                "pathmnist.npz",
                "a8b06965200029087d5bd730944a56c1",
                "also needed there: organamnist.npz",
                "68e3f8846a6bd62f0c9bf841c0d9eacc",
            ],
        ),
        (
            "ham10000",
            {},
            [
                "HAM10000_metadata.csv",
                "8f85fb1aa29d80a2797247e434deb79d",
                "4639bfa73ab251610530a97c898e6e46",
                "da43d6cc50f6613013be07e8986b384b",
            ],
        ),
    ],
)
def test_real_dataset_offline_fails_fast_and_writes_nothing(
    source: str, cfg: dict, expect: list[str], tmp_path: Path
) -> None:
    base = closed_port_url("")
    dl = tmp_path / "downloads"
    started = time.monotonic()
    with pytest.raises(DownloadError) as err:
        prepare_source(source, {**cfg, "url_override": base, "download_dir": str(dl)}, tmp_path / "data" / "x")
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert base in message and f"dataset.{source}.download_dir" in message
    assert str(dl / expect[0]) in message
    for text in expect[1:]:
        assert text in message
    assert list(tmp_path.rglob("*")) == []
