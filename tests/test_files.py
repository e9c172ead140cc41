"""Tests of the files adapter: hashing, downloads, the cache and safe extraction."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import socket
import stat
import tarfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from urllib3.exceptions import NameResolutionError

from medperf_action.adapters import ci
from medperf_action.adapters.files import download as fetch_module
from medperf_action.adapters.files.download import Fetched, fails_fast, fetch, make_session
from medperf_action.adapters.files.extract import fetch_and_extract, safe_extract
from medperf_action.adapters.files.hashing import sha256_file, sha256_tree
from medperf_action.errors import (
    ArchiveUnsafe,
    DiskError,
    DownloadError,
    HashMismatch,
    InvalidInput,
)
from medperf_action.settings import cache_dir

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- a test server


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    repeat: int = 1  # the body is sent this many times (large downloads without a large body)
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # close the connection after this many body bytes
    send_length: bool = True  # False: no Content-Length, the body ends when the connection does


class Server:
    """An http.server on 127.0.0.1 serving scripted replies and counting requests."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                server.requests.append(path)
                replies = server.routes.get(path)
                if not replies:
                    self.send_error(404)
                    return
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                self.send_response(reply.status)
                length = len(reply.body) * reply.repeat
                if reply.send_length:
                    self.send_header("Content-Length", str(length))
                else:
                    self.close_connection = True
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                sent = 0
                for _ in range(reply.repeat):
                    chunk = reply.body
                    if reply.cut_after is not None:
                        chunk = chunk[: max(0, reply.cut_after - sent)]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if reply.cut_after is not None and sent >= reply.cut_after:
                        self.close_connection = True
                        return

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def fast_session() -> Iterator[object]:
    session = make_session(retries=3, backoff_factor=0.0)
    yield session
    session.close()


def blob_dir_entries(cache: Path) -> list[str]:
    blobs = cache / "blobs" / "sha256"
    return sorted(os.listdir(blobs)) if blobs.exists() else []


# --------------------------------------------------------------------------- hashing


@pytest.mark.parametrize("size", [0, 1, MiB - 1, MiB, 3 * MiB + 17])
def test_sha256_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert sha256_file(path) == sha(data)


def test_sha256_file_fallback_without_file_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * MiB + 5)
    path = tmp_path / "f"
    path.write_bytes(data)
    monkeypatch.delattr(hashlib, "file_digest", raising=False)
    assert sha256_file(path) == sha(data)


def make_tree(root: Path) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a" / "x.txt").write_text("x")
    (root / "a" / "b" / "y.bin").write_bytes(b"\0\1\2")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("a/x.txt")
    return root


def test_sha256_tree_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    one = make_tree(tmp_path / "one")
    two = make_tree(tmp_path / "two")
    os.utime(two / "a" / "x.txt", (0, 0))
    base = sha256_tree(one)
    assert base == sha256_tree(two) == sha256_tree(one)

    (two / "a" / "x.txt").write_text("X")
    assert sha256_tree(two) != base
    (two / "a" / "x.txt").write_text("x")
    assert sha256_tree(two) == base

    (two / "link").unlink()
    (two / "link").symlink_to("a/b/y.bin")
    assert sha256_tree(two) != base
    (two / "link").unlink()
    (two / "link").symlink_to("a/x.txt")

    (two / "run.sh").chmod(0o644)
    assert sha256_tree(two) != base
    (two / "run.sh").chmod(0o755)

    (two / "empty").rmdir()
    assert sha256_tree(two) != base
    (two / "empty").mkdir()

    (two / "a" / "x.txt").rename(two / "a" / "z.txt")
    assert sha256_tree(two) != base


def test_sha256_tree_of_a_file_differs_from_plain_digest(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    assert sha256_tree(path) == sha256_tree(path)
    assert sha256_tree(path) != sha256_file(path)
    other = tmp_path / "g"
    other.write_bytes(b"hellO")
    assert sha256_tree(other) != sha256_tree(path)


def test_sha256_tree_rejects_special_files_and_missing_paths(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InvalidInput, match="not a file, directory or symlink"):
        sha256_tree(tmp_path)
    with pytest.raises(InvalidInput, match="cannot hash"):
        sha256_tree(tmp_path / "missing")


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MEDPERF_ACTION_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "medperf-action"


# --------------------------------------------------------------------------- local sources


def test_fetch_local_path_and_file_url(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"payload")
    digest = sha(b"payload")

    got = fetch(str(path), digest, cache=cache)
    assert got == Fetched(path, digest)
    assert Path(got) == path and os.path.getsize(got) == 7  # Fetched is os.PathLike

    got = fetch(path.as_uri(), digest.upper(), cache=cache)
    assert got.path == path and got.sha256 == digest

    got = fetch(str(path), None, cache=cache)
    assert got.sha256 == digest
    assert not (cache / "blobs").exists()  # local files are verified in place, not copied


def test_fetch_local_wrong_hash(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"payload")
    wrong = "0" * 64
    with pytest.raises(HashMismatch) as info:
        fetch(str(path), wrong, cache=cache)
    assert info.value.expected == wrong and info.value.actual == sha(b"payload")
    assert str(path) in str(info.value) and wrong in str(info.value)
    assert blob_dir_entries(cache) == []


def test_fetch_rejects_bad_input(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(InvalidInput, match="invalid SHA-256"):
        fetch(str(tmp_path), "abc", cache=cache)
    with pytest.raises(InvalidInput, match="unsupported URL scheme 'ftp'"):
        fetch("ftp://127.0.0.1/x", None, cache=cache)
    with pytest.raises(InvalidInput, match="cannot read"):
        fetch(str(tmp_path / "missing"), None, cache=cache)
    with pytest.raises(InvalidInput, match="is a directory"):
        fetch(str(tmp_path), None, cache=cache)
    with pytest.raises(InvalidInput, match="must name a local file"):
        fetch("file://example.org/etc/passwd", None, cache=cache)


# --------------------------------------------------------------------------- HTTP


def test_http_download_is_cached_by_hash(server: Server, cache: Path) -> None:
    body = os.urandom(3 * MiB + 5)
    server.routes["/a.bin"] = [Reply(body=body)]
    url = server.url("/a.bin")

    first = fetch(url, sha(body), cache=cache)
    assert first.path == cache / "blobs" / "sha256" / sha(body)
    assert first.path.read_bytes() == body and not first.from_cache
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o444
    assert len(server.requests) == 1

    second = fetch(url, sha(body), cache=cache)
    assert second.path == first.path and second.from_cache
    assert len(server.requests) == 1  # a cache hit makes no request
    assert blob_dir_entries(cache) == [sha(body)]


def test_http_download_without_expected_hash(server: Server, cache: Path) -> None:
    server.routes["/b"] = [Reply(body=b"abc")]
    got = fetch(server.url("/b"), None, cache=cache)
    assert got.sha256 == sha(b"abc")
    assert got.path.read_bytes() == b"abc"
    # Without a digest there is nothing to look up: it downloads again.
    fetch(server.url("/b"), None, cache=cache)
    assert len(server.requests) == 2


def test_http_hash_mismatch_leaves_nothing(server: Server, cache: Path) -> None:
    server.routes["/c"] = [Reply(body=b"tampered")]
    expected = sha(b"original")
    url = server.url("/c") + "?token=s3cret"
    with pytest.raises(HashMismatch) as info:
        fetch(url, expected, cache=cache)
    message = str(info.value)
    assert expected in message and sha(b"tampered") in message
    assert server.url("/c") in message and "s3cret" not in message
    assert blob_dir_entries(cache) == []  # no blob and no .partial file


def test_http_retries_503_and_honours_retry_after(server: Server, cache: Path) -> None:
    server.routes["/r"] = [
        Reply(status=503, body=b"busy", headers={"Retry-After": "1"}),
        Reply(status=503, body=b"busy", headers={"Retry-After": "0"}),
        Reply(body=b"finally"),
    ]
    session = make_session(retries=3, backoff_factor=0.0)
    started = time.monotonic()
    got = fetch(server.url("/r"), sha(b"finally"), cache=cache, session=session)
    elapsed = time.monotonic() - started
    assert got.path.read_bytes() == b"finally"
    assert server.requests == ["/r"] * 3
    assert 0.9 <= elapsed < 10


def test_http_gives_up_after_bounded_retries(
    server: Server, cache: Path, fast_session: object
) -> None:
    server.routes["/down"] = [Reply(status=502, body=b"bad gateway")]
    with pytest.raises(DownloadError, match="HTTP 502"):
        fetch(server.url("/down"), None, cache=cache, session=fast_session)
    assert len(server.requests) == 4  # the first try and three retries
    assert blob_dir_entries(cache) == []


def test_http_404_is_not_retried(server: Server, cache: Path, fast_session: object) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url("/missing"), None, cache=cache, session=fast_session)
    assert len(server.requests) == 1


def test_http_body_cut_off_is_downloaded_again(
    server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "HTTP_BACKOFF_FACTOR", 0.0)
    body = os.urandom(256 * 1024)
    server.routes["/cut"] = [Reply(body=body, cut_after=1000), Reply(body=body)]
    got = fetch(server.url("/cut"), sha(body), cache=cache)
    assert got.path.read_bytes() == body
    assert len(server.requests) == 2
    assert blob_dir_entries(cache) == [sha(body)]


def test_http_connection_refused(cache: Path, fast_session: object) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot download"):
        fetch(f"http://127.0.0.1:{port}/x", None, cache=cache, session=fast_session)


def test_http_download_streams(server: Server, cache: Path) -> None:
    block = os.urandom(MiB)
    count = 50
    server.routes["/big"] = [Reply(body=block, repeat=count)]
    expected = hashlib.sha256()
    for _ in range(count):
        expected.update(block)
    tracemalloc.start()
    try:
        got = fetch(server.url("/big"), expected.hexdigest(), cache=cache)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.path.stat().st_size == count * MiB
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB while downloading 50 MiB"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_tty(
    server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/p"] = [Reply(body=b"x" * 4096)]
    stderr = FakeTTY()
    fetch(
        server.url("/p"),
        None,
        cache=cache,
        name="demo.tar.gz",
        progress=ci.TerminalProgress(stderr),
    )
    assert "demo.tar.gz" in stderr.getvalue() and "100%" in stderr.getvalue()

    quiet = FakeTTY()
    monkeypatch.setattr("sys.stderr", quiet)
    fetch(server.url("/p"), None, cache=cache)  # no progress asked for: none shown
    assert quiet.getvalue() == ""


def test_progress_lines_when_not_a_tty(
    server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ci, "PROGRESS_INTERVAL_SECONDS", 0.0)
    server.routes["/p"] = [Reply(body=b"x" * MiB, repeat=3)]
    stderr = io.StringIO()
    fetch(server.url("/p"), None, cache=cache, name="demo", progress=ci.TerminalProgress(stderr))
    lines = stderr.getvalue().splitlines()
    assert lines and all(line.startswith("demo: ") for line in lines)
    assert "\r" not in stderr.getvalue()
    assert lines[-1].startswith("demo: downloaded 3.0 MiB / 3.0 MiB (100%)")


# --------------------------------------------------------------------------- tarballs


def entry(name: str, kind: bytes = tarfile.REGTYPE, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def write_tar(
    path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w"
) -> Path:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def good_members() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [
        (entry(".", tarfile.DIRTYPE, mode=0o755), None),
        (entry("./data", tarfile.DIRTYPE, mode=0o500), None),
        (entry("./data/a.txt", mode=0o4755), b"alpha"),
        (entry("data/sub/b.bin", mode=0o000), b"\0" * 10),
        (entry("latest", tarfile.SYMTYPE, linkname="data/a.txt"), None),
        (entry("data/sub/up", tarfile.SYMTYPE, linkname="../a.txt"), None),
        (entry("copy.txt", tarfile.LNKTYPE, linkname="data/a.txt"), None),
        (entry("paths.yaml"), b"data_path: data\n"),
    ]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_good_archive_extracts(tmp_path: Path, mode: str) -> None:
    archive = write_tar(tmp_path / "good.tar", good_members(), mode)
    dest = tmp_path / "out" / "x"
    safe_extract(archive, dest)
    assert (dest / "data" / "a.txt").read_bytes() == b"alpha"
    assert (dest / "data" / "sub" / "b.bin").read_bytes() == b"\0" * 10
    assert os.readlink(dest / "latest") == "data/a.txt"
    assert (dest / "latest").read_bytes() == b"alpha"
    assert (dest / "data" / "sub" / "up").read_bytes() == b"alpha"
    assert (dest / "copy.txt").read_bytes() == b"alpha"
    assert os.path.samefile(dest / "copy.txt", dest / "data" / "a.txt")
    a_mode = stat.S_IMODE((dest / "data" / "a.txt").stat().st_mode)
    assert a_mode & (stat.S_ISUID | stat.S_ISGID) == 0 and a_mode == 0o755
    assert stat.S_IMODE((dest / "data" / "sub" / "b.bin").stat().st_mode) == 0o600
    assert stat.S_IMODE((dest / "data").stat().st_mode) == 0o700
    assert os.listdir(tmp_path / "out") == ["x"]  # the temporary directory was renamed


def test_extract_into_existing_destination(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "good.tar", good_members())
    empty = tmp_path / "empty"
    empty.mkdir()
    safe_extract(archive, empty)
    assert (empty / "paths.yaml").exists()
    with pytest.raises(DiskError, match="exists and is not empty"):
        safe_extract(archive, empty)


def dev(name: str, kind: bytes) -> tarfile.TarInfo:
    return entry(name, kind, devmajor=1, devminor=3)


HOSTILE: dict[str, list[tuple[tarfile.TarInfo, bytes | None]]] = {
    "absolute path": [(entry("/tmp/evil"), b"x")],
    "dotdot escape": [(entry("../evil"), b"x")],
    "dotdot inside": [(entry("a/../../evil"), b"x")],
    "symlink to /etc": [(entry("etc", tarfile.SYMTYPE, linkname="/etc"), None)],
    "relative symlink escape": [(entry("a/up", tarfile.SYMTYPE, linkname="../../etc"), None)],
    "symlink chain escape": [
        (entry("d", tarfile.DIRTYPE), None),
        (entry("d/up", tarfile.SYMTYPE, linkname=".."), None),
        # Lexically "d/up/.." is "d", but d/up is the root, so this is dest's parent.
        (entry("esc", tarfile.SYMTYPE, linkname="d/up/.."), None),
    ],
    "symlink loop": [
        (entry("a", tarfile.SYMTYPE, linkname="b"), None),
        (entry("b", tarfile.SYMTYPE, linkname="a"), None),
    ],
    "file below a symlink": [
        (entry("s", tarfile.SYMTYPE, linkname="."), None),
        (entry("s/f"), b"x"),
    ],
    "file replaced by a symlink": [
        (entry("x"), b"x"),
        (entry("x", tarfile.SYMTYPE, linkname="y"), None),
    ],
    "hardlink outside": [(entry("h", tarfile.LNKTYPE, linkname="../outside"), None)],
    "hardlink absolute": [(entry("h", tarfile.LNKTYPE, linkname="/etc/passwd"), None)],
    "hardlink through symlink": [
        (entry("s", tarfile.SYMTYPE, linkname="."), None),
        (entry("h", tarfile.LNKTYPE, linkname="s/../etc/passwd"), None),
    ],
    "hardlink to a missing member": [(entry("h", tarfile.LNKTYPE, linkname="nothing"), None)],
    "character device": [(dev("null", tarfile.CHRTYPE), None)],
    "block device": [(dev("sda", tarfile.BLKTYPE), None)],
    "fifo": [(entry("pipe", tarfile.FIFOTYPE), None)],
    "oversize member": [(entry("bomb"), bytes(2 * MiB))],
    "oversize in total": [(entry(f"part{i}"), bytes(400 * 1024)) for i in range(3)],
    "too many members": [(entry(f"m{i}"), b"") for i in range(11)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_hostile_archive_is_rejected(tmp_path: Path, case: str, mode: str) -> None:
    # A harmless first member shows that nothing at all is written, not just the bad part.
    members = [(entry("first.txt"), b"first"), *HOSTILE[case]]
    archive = write_tar(tmp_path / "bad.tar", members, mode)
    outside = tmp_path / "outside"
    out = tmp_path / "out"
    with pytest.raises(ArchiveUnsafe):
        safe_extract(archive, out / "dest", max_total_bytes=MiB, max_members=10)
    assert not out.exists()
    assert not outside.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not a tarball\n" * 100, "gzip-of-text", "truncated-gz"],
)
def test_corrupt_or_non_tar_file_is_rejected(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "file.tar.gz"
    if content == "gzip-of-text":
        path.write_bytes(gzip.compress(b"plain text, not a tar archive\n" * 50))
    elif content == "truncated-gz":
        members = [(entry(f"f{i}"), os.urandom(64 * 1024)) for i in range(4)]
        whole = write_tar(tmp_path / "whole.tar.gz", members, "w:gz").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    out = tmp_path / "out"
    with pytest.raises(ArchiveUnsafe, match=r"file\.tar\.gz"):
        safe_extract(path, out / "dest")
    assert not out.exists()


def test_plain_tar_truncated_inside_data_leaves_nothing(tmp_path: Path) -> None:
    members = [(entry("a"), b"a" * 10_000), (entry("b"), os.urandom(200_000))]
    whole = write_tar(tmp_path / "whole.tar", members).read_bytes()
    path = tmp_path / "cut.tar"
    path.write_bytes(whole[:100_000])
    out = tmp_path / "out"
    with pytest.raises(ArchiveUnsafe, match="corrupt or truncated"):
        safe_extract(path, out / "dest")
    assert not out.exists() or os.listdir(out) == []


# --------------------------------------------------------------------------- fetch_and_extract


def test_fetch_and_extract_once(server: Server, tmp_path: Path, cache: Path) -> None:
    archive = write_tar(tmp_path / "demo.tar.gz", good_members(), "w:gz")
    body = archive.read_bytes()
    digest = sha(body)
    server.routes["/demo.tar.gz"] = [Reply(body=body)]

    target = fetch_and_extract(server.url("/demo.tar.gz"), digest, cache=cache)
    assert target == cache / "extracted" / digest
    assert (target / "paths.yaml").read_text() == "data_path: data\n"
    (target / "marker").write_text("kept")

    again = fetch_and_extract(server.url("/demo.tar.gz"), digest, cache=cache)
    assert again == target and (again / "marker").read_text() == "kept"
    assert len(server.requests) == 1
    assert os.listdir(cache / "extracted") == [digest]

    local = fetch_and_extract(str(archive), None, cache=cache)
    assert local == target


def test_fetch_and_extract_hostile_leaves_nothing(tmp_path: Path, cache: Path) -> None:
    archive = write_tar(tmp_path / "evil.tar", HOSTILE["symlink chain escape"])
    with pytest.raises(ArchiveUnsafe):
        fetch_and_extract(archive.as_uri(), sha256_file(archive), cache=cache)
    assert not (cache / "extracted").exists() or os.listdir(cache / "extracted") == []


def test_fetch_and_extract_wrong_hash(tmp_path: Path, cache: Path) -> None:
    archive = write_tar(tmp_path / "demo.tar", good_members())
    with pytest.raises(HashMismatch):
        fetch_and_extract(str(archive), "f" * 64, cache=cache)
    assert not (cache / "extracted").exists()


def test_a_name_the_file_system_cannot_hold_is_the_archive_s_fault(tmp_path: Path) -> None:
    """A hostile archive whose member name no file system can hold is refused as unsafe
    (exit 1, the archive's fault), not reported as a disk failure (exit 4)."""
    archive = write_tar(tmp_path / "long.tar", [(entry("x" * 300 + ".txt"), b"data")])
    with pytest.raises(ArchiveUnsafe, match="cannot be extracted here"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- untrusted sources


def test_an_untrusted_download_stops_at_its_limit(server: Server, cache: Path) -> None:
    """A URL that serves more than its entry declares (or the registry allows) is cut off
    there, by its Content-Length or as soon as the body passes the limit; nothing stays."""
    server.routes["/big"] = [Reply(body=b"x" * MiB, repeat=3)]
    with pytest.raises(InvalidInput, match="larger than the 1,048,576 bytes allowed"):
        fetch(server.url("/big"), None, cache=cache, max_bytes=MiB)
    assert blob_dir_entries(cache) == []
    # No Content-Length to go by (a chunked body): stopped while it streams.
    server.routes["/chunked"] = [Reply(body=b"y" * MiB, repeat=3, send_length=False)]
    with pytest.raises(InvalidInput, match="larger than"):
        fetch(server.url("/chunked"), None, cache=cache, max_bytes=2 * MiB)
    assert blob_dir_entries(cache) == []
    assert fetch(server.url("/big"), None, cache=cache, max_bytes=3 * MiB).path.is_file()


def test_an_untrusted_source_is_fetched_only_over_https(
    server: Server, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/a"] = [Reply(body=b"a", repeat=1)]
    monkeypatch.delenv("MEDPERF_ACTION_INSECURE_HOSTS", raising=False)
    with pytest.raises(InvalidInput, match="only over https"):
        fetch(server.url("/a"), None, cache=cache, secure=True)
    local = tmp_path / "secret.txt"
    local.write_text("a file on the runner")
    for source in (str(local), local.as_uri()):
        with pytest.raises(InvalidInput, match="only over https"):
            fetch(source, None, cache=cache, secure=True)
    monkeypatch.setenv("MEDPERF_ACTION_INSECURE_HOSTS", "127.0.0.1")
    assert fetch(server.url("/a"), None, cache=cache, secure=True).sha256 == sha(b"a")


def test_http_retries_say_so_and_dns_or_refused_fail_at_once(server: Server, cache: Path) -> None:
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

    lines: list[str] = []
    server.routes["/r"] = [
        Reply(status=503, body=b"busy", headers={"Retry-After": "0"}),
        Reply(status=502, body=b"busy"),
        Reply(body=b"finally"),
    ]
    session = make_session(retries=5, backoff_factor=0.0, log=lines.append, label="demo dataset")
    got = fetch(server.url("/r"), sha(b"finally"), cache=cache, session=session)
    assert got.path.read_bytes() == b"finally"
    assert lines == [
        "demo dataset: retrying (1/5) after HTTP 503",
        "demo dataset: retrying (2/5) after HTTP 502",
    ]
    # A refused connection: one attempt, no retry, said plainly.
    lines.clear()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="the connection was refused") as info:
        fetch(f"http://127.0.0.1:{port}/x", None, cache=cache, session=session)
    assert lines == [] and "not retried" in str(info.value)
    # A name that does not resolve fails at once too (the error as urllib3 raises it).
    retry = session.get_adapter("http://x").max_retries
    dns = NameResolutionError("nowhere.invalid", None, socket.gaierror(-2, "Name unknown"))  # type: ignore[arg-type]
    with pytest.raises(MaxRetryError):
        retry.increment("GET", "/x", error=dns)
    refused = NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"
    )  # type: ignore[arg-type]
    with pytest.raises(MaxRetryError):
        retry.increment("GET", "/x", error=refused)
    assert lines == []
    session.close()


def test_fetch_says_when_it_retries(server: Server, cache: Path) -> None:
    lines: list[str] = []
    server.routes["/f"] = [
        Reply(status=503, body=b"busy", headers={"Retry-After": "0"}),
        Reply(body=b"ok"),
    ]
    fetch(server.url("/f"), sha(b"ok"), cache=cache, name="model image", log=lines.append)
    assert lines == ["model image: retrying (1/5) after HTTP 503"]


def test_a_temporary_dns_failure_is_retried_a_missing_name_is_not() -> None:
    def failure(errno: int, text: str) -> NameResolutionError:
        error = NameResolutionError("host", None, text)  # type: ignore[arg-type]
        error.__cause__ = socket.gaierror(errno, text)
        return error

    assert fails_fast(failure(socket.EAI_NONAME, "Name or service not known"))
    assert not fails_fast(failure(socket.EAI_AGAIN, "Temporary failure in name resolution"))
