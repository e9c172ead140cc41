"""Downloads, SHA-256 checks, safe tar extraction and a content-addressed cache.

Layout of the cache (``cache_dir()`` unless a directory is passed)::

    <cache>/blobs/sha256/<hex>        verified downloads, read-only, named by their digest
    <cache>/blobs/sha256/.partial-*   a download in progress (removed on any failure)
    <cache>/extracted/<hex>/          the tarball <hex>, extracted once

Choices worth knowing:

* ``fetch`` returns a :class:`Fetched` (path and digest). It is ``os.PathLike``, so it can be
  passed wherever a path is expected; use ``.path`` for a :class:`~pathlib.Path`.
* A local source (a path or a ``file://`` URL) is verified in place and its own path is
  returned; it is not copied into the cache. Copying would double the disk used by large
  image archives and the digest is already known. If the blob for the expected digest is
  already cached, the cached copy is returned without reading the local file.
* Nothing is used before its digest is checked: a download goes to a temporary file that is
  hashed while it is written and only renamed to its content-addressed name after the
  digest matches. A mismatch leaves nothing behind.
* Cached blobs are trusted on a hit (they were verified before they got their name, and
  are fsynced first so a crash cannot leave a short file under a digest name).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

from medperf_action.errors import MedperfError

if TYPE_CHECKING:  # requests is imported only when something is downloaded over HTTP
    import requests

CHUNK_SIZE = 1 << 20
DEFAULT_MAX_TOTAL_BYTES = 20 << 30
DEFAULT_MAX_MEMBERS = 1_000_000
CACHE_ENV = "MEDPERF_ACTION_CACHE"

HTTP_RETRIES = 5
HTTP_BACKOFF_FACTOR = 0.5
MAX_RETRY_AFTER_SECONDS = 60.0
# A download cut off part-way is started again this many times in all.
STREAM_ATTEMPTS = 3
# (connect, read) in seconds; the read timeout is per socket read, not for the whole body.
HTTP_TIMEOUT = (30.0, 120.0)
PROGRESS_INTERVAL_SECONDS = 5.0

_HEX64 = re.compile(r"[0-9a-f]{64}")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_MAX_SYMLINK_DEPTH = 40

try:
    import lzma

    _DECOMPRESSION_ERRORS: tuple[type[Exception], ...] = (zlib.error, lzma.LZMAError)
except ImportError:  # pragma: no cover - Python built without lzma
    _DECOMPRESSION_ERRORS = (zlib.error,)
# What tarfile and the decompressors raise on a corrupt, truncated or non-tar file.
_CORRUPT_ERRORS = (tarfile.TarError, EOFError, OSError, ValueError, *_DECOMPRESSION_ERRORS)


class FetchError(MedperfError):
    """A download, checksum or extraction failed; the message says what and where."""


class HashMismatch(FetchError):
    """The content's SHA-256 is not the one that was asked for."""

    def __init__(self, source: str, expected: str, actual: str) -> None:
        self.source = source
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"SHA-256 mismatch for {source}: expected {expected}, got {actual}. "
            "The file is corrupt or was changed after its checksum was recorded; "
            "nothing was cached."
        )


class UnsafeArchive(FetchError):
    """A tar archive is corrupt, not a tar archive, or would write outside its destination."""


class _DestinationExists(FetchError):
    pass


@dataclass(frozen=True)
class Fetched:
    """A verified file: where it is, its SHA-256, and whether it came from the cache."""

    path: Path
    sha256: str
    from_cache: bool = field(default=False, compare=False)

    def __fspath__(self) -> str:
        return os.fspath(self.path)


# --------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, streaming it (never the whole file in memory)."""
    # Unbuffered: large readinto() calls go straight to read(2), with no extra copy.
    with open(path, "rb", buffering=0) as f:
        return _sha256_stream(f)


def _sha256_stream(f: BinaryIO) -> str:
    if hasattr(hashlib, "file_digest"):  # Python 3.11+
        return hashlib.file_digest(f, "sha256").hexdigest()
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    while True:
        n = f.readinto(buffer)
        if not n:
            break
        digest.update(view[:n])
    return digest.hexdigest()


def sha256_tree(path: str | os.PathLike[str]) -> str:
    """Return a stable SHA-256 of a file or a directory tree, for cache keys.

    The digest covers, for every entry in the tree sorted by relative path (bytes): its
    kind (directory, file, owner-executable file, symlink), its relative path and, for a
    file, the SHA-256 of its contents, for a symlink, its target text (links are never
    followed). Timestamps, owners and other permission bits are ignored, so a copy or a
    fresh checkout of the same content hashes the same. A top-level symlink is followed.
    The digest of a single file is *not* its plain ``sha256_file`` (the encoding differs,
    so a file can never collide with a directory).
    """
    root = Path(path)
    digest = hashlib.sha256(b"medperf-action tree v1\0")
    try:
        st = root.stat()
        if stat.S_ISDIR(st.st_mode):
            for rel, entry_path, entry_stat in sorted(_walk(root)):
                _hash_entry(digest, rel, entry_path, entry_stat)
        else:
            _hash_entry(digest, b".", root, st)
    except OSError as exc:
        where = exc.filename or root
        raise FetchError(f"cannot hash {where}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _walk(root: Path) -> Iterator[tuple[bytes, Path, os.stat_result]]:
    stack: list[tuple[Path, bytes]] = [(root, b"")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as it:
            children = list(it)
        for child in children:
            rel = prefix + os.fsencode(child.name)
            child_path = Path(child.path)
            child_stat = child.stat(follow_symlinks=False)
            yield rel, child_path, child_stat
            if stat.S_ISDIR(child_stat.st_mode):
                stack.append((child_path, rel + b"/"))


def _hash_entry(digest: hashlib._Hash, rel: bytes, path: Path, st: os.stat_result) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        kind, payload = b"d", b""
    elif stat.S_ISREG(mode):
        kind = b"x" if mode & stat.S_IXUSR else b"f"
        payload = sha256_file(path).encode()
    elif stat.S_ISLNK(mode):
        kind, payload = b"l", os.fsencode(os.readlink(path))
    else:
        raise FetchError(f"cannot hash {path}: not a file, directory or symlink")
    digest.update(kind + b"\0" + rel + b"\0" + payload + b"\0")


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """The cache directory: ``$MEDPERF_ACTION_CACHE`` or ``~/.cache/medperf-action``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "medperf-action"


def _blob_dir(cache: Path) -> Path:
    return cache / "blobs" / "sha256"


def _normalise_digest(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    value = value.removeprefix("sha256:")
    if not _HEX64.fullmatch(value):
        raise FetchError(f"invalid SHA-256 {sha256!r}: expected 64 hexadecimal characters")
    return value


# --------------------------------------------------------------------------- fetch


def make_session(
    *, retries: int = HTTP_RETRIES, backoff_factor: float = HTTP_BACKOFF_FACTOR
) -> requests.Session:
    """A requests session that retries connection errors, 429 and 5xx with back-off.

    ``Retry-After`` is honoured on 429 and 503 (capped at MAX_RETRY_AFTER_SECONDS).
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class _CappedRetry(Retry):
        def parse_retry_after(self, retry_after: str) -> float:
            return min(super().parse_retry_after(retry_after), MAX_RETRY_AFTER_SECONDS)

    retry = _CappedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        backoff_factor=backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch(
    source: str,
    sha256: str | None,
    *,
    cache: Path | None = None,
    name: str = "",
    progress: bool | None = None,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
) -> Fetched:
    """Fetch ``source`` (http(s) URL, ``file://`` URL or local path) and verify its SHA-256.

    With ``sha256`` given, a cached blob with that digest is returned at once (no network);
    otherwise the content is downloaded, hashed while written, and raises
    :class:`HashMismatch` (leaving nothing in the cache) unless the digest matches. With
    ``sha256=None`` the content is downloaded (always) and its digest is returned.
    ``progress``: None shows progress on stderr (a bar on a terminal, a line every few
    seconds otherwise), False silences it.
    """
    expected = _normalise_digest(sha256)
    cache = Path(cache) if cache is not None else cache_dir()
    label = name or _redact(source)
    blob_dir = _blob_dir(cache)
    if expected is not None:
        blob = blob_dir / expected
        if blob.is_file():
            return Fetched(blob, expected, from_cache=True)

    scheme_match = _URL_SCHEME.match(source)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if scheme in ("http", "https"):
        return _fetch_http(source, expected, blob_dir, label, progress, session, headers)
    if scheme == "file":
        return _verify_local(_file_url_to_path(source), expected, label)
    if scheme:
        raise FetchError(
            f"cannot fetch {label}: unsupported URL scheme {scheme!r} "
            "(use http(s)://, file:// or a local path)"
        )
    return _verify_local(Path(source).expanduser(), expected, label)


def _file_url_to_path(url: str) -> Path:
    parsed = urllib.parse.urlsplit(url)
    if parsed.netloc not in ("", "localhost"):
        raise FetchError(f"cannot fetch {url}: file:// URLs must name a local file")
    return Path(urllib.request.url2pathname(parsed.path))


def _verify_local(path: Path, expected: str | None, label: str) -> Fetched:
    try:
        actual = sha256_file(path)
    except IsADirectoryError as exc:
        raise FetchError(f"cannot fetch {label}: {path} is a directory, not a file") from exc
    except OSError as exc:
        raise FetchError(f"cannot read {label}: {exc.strerror or exc}") from exc
    if expected is not None and actual != expected:
        raise HashMismatch(label, expected, actual)
    return Fetched(path, actual)


def _fetch_http(
    url: str,
    expected: str | None,
    blob_dir: Path,
    label: str,
    progress: bool | None,
    session: requests.Session | None,
    headers: Mapping[str, str] | None,
) -> Fetched:
    try:
        blob_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create cache directory {blob_dir}: {exc}") from exc
    own_session = session is None
    http = make_session() if session is None else session
    try:
        tmp, actual = _download(url, blob_dir, label, progress, http, headers)
    finally:
        if own_session:
            http.close()
    try:
        if expected is not None and actual != expected:
            raise HashMismatch(label, expected, actual)
        blob = blob_dir / actual
        os.chmod(tmp, 0o444)
        os.replace(tmp, blob)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return Fetched(blob, actual)


def _download(
    url: str,
    blob_dir: Path,
    label: str,
    progress: bool | None,
    http: requests.Session,
    headers: Mapping[str, str] | None,
) -> tuple[Path, str]:
    """Stream ``url`` into a temporary file in ``blob_dir``; return it and its SHA-256."""
    import requests

    request_headers = {"Accept-Encoding": "identity", **(headers or {})}
    for attempt in range(1, STREAM_ATTEMPTS + 1):
        try:
            response = http.get(url, stream=True, timeout=HTTP_TIMEOUT, headers=request_headers)
        except requests.RequestException as exc:
            raise FetchError(f"cannot download {label}: {_describe(exc)}") from exc
        with response:
            if response.status_code >= 400:
                raise FetchError(
                    f"cannot download {label}: HTTP {response.status_code} "
                    f"{response.reason or ''}".rstrip()
                )
            fd, tmp_name = tempfile.mkstemp(dir=blob_dir, prefix=".partial-")
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    digest = _stream_body(response, out, label, progress)
                return tmp, digest
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                # Cut off while reading the body (connection errors before the response
                # are retried by the session's adapter and reported above).
                _unlink_quietly(tmp)
                if attempt == STREAM_ATTEMPTS:
                    raise FetchError(
                        f"cannot download {label}: {_describe(exc)} "
                        f"(gave up after {STREAM_ATTEMPTS} attempts)"
                    ) from exc
            except requests.RequestException as exc:
                _unlink_quietly(tmp)
                raise FetchError(f"cannot download {label}: {_describe(exc)}") from exc
            except BaseException:
                _unlink_quietly(tmp)
                raise
        time.sleep(HTTP_BACKOFF_FACTOR * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _stream_body(
    response: requests.Response, out: BinaryIO, label: str, progress: bool | None
) -> str:
    """Write the body to ``out`` while hashing it; fsync before returning the digest."""
    meter = _Progress(label, _content_length(response), progress)
    digest = hashlib.sha256()
    for chunk in response.iter_content(CHUNK_SIZE):
        out.write(chunk)
        digest.update(chunk)
        meter.update(len(chunk))
    out.flush()
    os.fsync(out.fileno())
    meter.finish()
    return digest.hexdigest()


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not value.isdigit():
        return None
    return int(value)


def _describe(exc: BaseException) -> str:
    # requests nests urllib3's reason a few levels deep; the innermost text is the useful one.
    reason: BaseException = exc
    while reason.args and isinstance(reason.args[0], BaseException):
        reason = reason.args[0]
    reason_text = getattr(reason, "reason", None)
    text = str(reason_text or reason) or type(reason).__name__
    return _redact_urls_in(text)


def _redact(source: str) -> str:
    """A URL without credentials or query string (signed URLs carry secrets there)."""
    if not _URL_SCHEME.match(source):
        return source
    parts = urllib.parse.urlsplit(source)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _redact_urls_in(text: str) -> str:
    return re.sub(r"(https?://[^\s'\"?]*)\?[^\s'\"]*", r"\1", text)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class _Progress:
    """Download progress on stderr: a bar on a terminal, else a line every few seconds."""

    def __init__(self, label: str, total: int | None, enabled: bool | None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = enabled is not False
        self.stream: IO[str] = sys.stderr
        self.tty = self.enabled and _isatty(self.stream)
        self.started = time.monotonic()
        self.last = self.started
        self.printed = False
        self.interval = 0.1 if self.tty else PROGRESS_INTERVAL_SECONDS

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._emit(final=False)

    def finish(self) -> None:
        if self.enabled and (self.tty or self.printed):
            self._emit(final=True)

    def _emit(self, *, final: bool) -> None:
        amount = _human(self.done)
        if self.total:
            amount += f" / {_human(self.total)} ({100 * self.done // self.total}%)"
        if self.tty:
            bar = ""
            if self.total:
                filled = min(30, 30 * self.done // self.total)
                bar = "[" + "#" * filled + "." * (30 - filled) + "] "
            end = "\n" if final else ""
            self.stream.write(f"\r{self.label}: {bar}{amount}\x1b[K{end}")
        else:
            verb = "downloaded" if final else "downloading"
            elapsed = time.monotonic() - self.started
            self.stream.write(f"{self.label}: {verb} {amount} in {elapsed:.0f} s\n")
        self.stream.flush()
        self.printed = True


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- extraction


@dataclass
class _Plan:
    """What a scanned archive will create, checked before anything is written."""

    members: list[tuple[tarfile.TarInfo, tuple[str, ...]]]
    hardlink_targets: dict[int, tuple[str, ...]]


def safe_extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> None:
    """Extract a tar archive (plain, gz, bz2 or xz) into ``dest``, refusing anything unsafe.

    Every member is checked before anything is written: no absolute paths or ``..``
    components, no member below a symlink, symlinks and hardlinks must resolve inside the
    archive, no devices or FIFOs, at most ``max_members`` members and ``max_total_bytes``
    of file data. The archive is extracted into a temporary directory beside ``dest`` that
    is renamed to ``dest`` at the end, so a rejected or failed extraction leaves nothing.
    ``dest`` must not exist or be an empty directory. Owners are not restored; setuid,
    setgid, sticky and group/other write bits are dropped; files are owner-readable and
    writable, directories owner-accessible.
    """
    archive = Path(archive)
    dest = Path(dest)
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise _DestinationExists(f"cannot extract {archive.name}: {dest} exists and is not empty")
    with _open_tar(archive) as tar:
        plan = _scan(tar, archive.name, max_total_bytes, max_members)
        parent = dest.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dest.name}.partial-"))
        try:
            # mkdtemp makes it 0700; the extracted folder gets an ordinary folder's mode, so
            # that a sandboxed container user can read what it holds.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)
            _write(tar, plan, tmp, archive.name)
            try:
                os.rename(tmp, dest)
            except OSError as exc:
                if dest.exists():
                    raise _DestinationExists(
                        f"cannot extract {archive.name}: {dest} appeared meanwhile"
                    ) from exc
                raise
        except BaseException:
            _rmtree(tmp)
            raise


def _open_tar(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except FileNotFoundError as exc:
        raise FetchError(f"cannot extract {archive}: no such file") from exc
    except _CORRUPT_ERRORS as exc:
        # tarfile's own text lists every compression it tried; the short form is clearer.
        detail = "" if isinstance(exc, tarfile.ReadError) else f": {exc}"
        raise UnsafeArchive(
            f"{archive.name} is not a tar archive (plain, gzip, bzip2 or xz) or is corrupt{detail}"
        ) from exc


def _scan(tar: tarfile.TarFile, label: str, max_total_bytes: int, max_members: int) -> _Plan:
    members: list[tuple[tarfile.TarInfo, tuple[str, ...]]] = []
    kinds: dict[tuple[str, ...], tarfile.TarInfo] = {}
    total = 0
    try:
        for info in tar:
            if len(members) >= max_members:
                raise UnsafeArchive(f"{label} has more than {max_members} members")
            parts = _member_parts(info, label)
            if info.isreg():
                total += info.size
                if total > max_total_bytes:
                    raise UnsafeArchive(
                        f"{label} would extract more than {_human(max_total_bytes)} "
                        f"({max_total_bytes} bytes; limit reached at {info.name!r})"
                    )
            elif not (info.isdir() or info.issym() or info.islnk()):
                raise UnsafeArchive(
                    f"{label}: {info.name!r} is a {_kind(info)}; only files, directories "
                    "and links are allowed"
                )
            previous = kinds.get(parts)
            if previous is not None and (
                _is_link(previous) or _is_link(info) or previous.isdir() != info.isdir()
            ):
                raise UnsafeArchive(f"{label}: {info.name!r} appears twice with different types")
            kinds[parts] = info
            members.append((info, parts))
    except _CORRUPT_ERRORS as exc:
        raise UnsafeArchive(f"{label} is corrupt or truncated: {exc}") from exc

    hardlink_targets: dict[int, tuple[str, ...]] = {}
    seen: set[tuple[str, ...]] = set()
    for index, (info, parts) in enumerate(members):
        for depth in range(1, len(parts)):
            ancestor = kinds.get(parts[:depth])
            if ancestor is not None and not ancestor.isdir():
                raise UnsafeArchive(
                    f"{label}: {info.name!r} lies below {ancestor.name!r}, which is a "
                    f"{'symlink' if _is_link(ancestor) else 'file'}, not a directory"
                )
        if info.issym():
            if info.linkname.startswith("/") or not info.linkname:
                raise UnsafeArchive(
                    f"{label}: symlink {info.name!r} has an absolute or empty target "
                    f"{info.linkname!r}"
                )
            start = parts[:-1] + tuple(info.linkname.split("/"))
            _resolve(start, kinds, label, info)
        elif info.islnk():
            if info.linkname.startswith("/"):
                raise UnsafeArchive(
                    f"{label}: hardlink {info.name!r} has an absolute target {info.linkname!r}"
                )
            target = _resolve(tuple(info.linkname.split("/")), kinds, label, info)
            target_info = kinds.get(target)
            if target_info is None or not target_info.isreg() or target not in seen:
                raise UnsafeArchive(
                    f"{label}: hardlink {info.name!r} must point to a regular file earlier "
                    f"in the archive, not {info.linkname!r}"
                )
            hardlink_targets[index] = target
        seen.add(parts)
    return _Plan(members, hardlink_targets)


def _member_parts(info: tarfile.TarInfo, label: str) -> tuple[str, ...]:
    name = info.name
    if name.startswith("/") or "\0" in name:
        raise UnsafeArchive(f"{label}: member {name!r} has an absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(f"{label}: member {name!r} contains a '..' component")
    if not parts and not info.isdir():
        raise UnsafeArchive(f"{label}: member {name!r} has an empty path")
    return parts


def _resolve(
    parts: tuple[str, ...],
    kinds: Mapping[tuple[str, ...], tarfile.TarInfo],
    label: str,
    link: tarfile.TarInfo,
    depth: int = 0,
) -> tuple[str, ...]:
    """Resolve a path as the OS would, following the archive's own symlinks.

    Raises UnsafeArchive if it would leave the archive root at any step.
    """
    if depth > _MAX_SYMLINK_DEPTH:
        raise UnsafeArchive(f"{label}: link {link.name!r} is part of a symlink loop")
    current: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                raise UnsafeArchive(
                    f"{label}: link {link.name!r} -> {link.linkname!r} points outside the archive"
                )
            current.pop()
            continue
        current.append(part)
        entry = kinds.get(tuple(current))
        if entry is not None and entry.issym():
            if entry.linkname.startswith("/"):
                raise UnsafeArchive(
                    f"{label}: link {link.name!r} resolves through absolute symlink {entry.name!r}"
                )
            target = tuple(current[:-1]) + tuple(entry.linkname.split("/"))
            current = list(_resolve(target, kinds, label, link, depth + 1))
    return tuple(current)


def _is_link(info: tarfile.TarInfo) -> bool:
    return info.issym() or info.islnk()


def _kind(info: tarfile.TarInfo) -> str:
    if info.ischr():
        return "character device"
    if info.isblk():
        return "block device"
    if info.isfifo():
        return "FIFO"
    return f"member of unsupported type {info.type!r}"


def _write(tar: tarfile.TarFile, plan: _Plan, root: Path, label: str) -> None:
    directories: list[tuple[Path, tarfile.TarInfo]] = []
    try:
        for index, (info, parts) in enumerate(plan.members):
            target = root.joinpath(*parts)
            if info.isdir():
                target.mkdir(parents=True, exist_ok=True)
                directories.append((target, info))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_file():  # a later copy of the same file replaces the earlier one
                target.unlink()
            if info.issym():
                os.symlink(info.linkname, target)
            elif info.islnk():
                os.link(root.joinpath(*plan.hardlink_targets[index]), target)
            else:
                source = tar.extractfile(info)
                if source is None:  # pragma: no cover - isreg() members always have data
                    raise UnsafeArchive(f"{label}: no data for {info.name!r}")
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with source, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK_SIZE)
                os.chmod(target, (info.mode & 0o755) | 0o600)
                _set_mtime(target, info)
        for directory, info in reversed(directories):
            os.chmod(directory, (info.mode & 0o755) | 0o700)
            _set_mtime(directory, info)
    except (tarfile.TarError, EOFError, ValueError, *_DECOMPRESSION_ERRORS) as exc:
        raise UnsafeArchive(f"{label} is corrupt or truncated: {exc}") from exc
    except OSError as exc:
        raise FetchError(f"cannot extract {label}: {exc}") from exc


def _set_mtime(path: Path, info: tarfile.TarInfo) -> None:
    with contextlib.suppress(OSError, OverflowError, ValueError):
        os.utime(path, (info.mtime, info.mtime))


def _rmtree(path: Path) -> None:
    # Extraction leaves every directory owner-writable, so a plain rmtree always works.
    shutil.rmtree(path, ignore_errors=True)


def fetch_and_extract(
    source: str,
    sha256: str | None,
    *,
    cache: Path | None = None,
    name: str = "",
    progress: bool | None = None,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> Path:
    """Fetch a tarball (see :func:`fetch`) and return ``<cache>/extracted/<sha256>/``.

    The archive is extracted once; a later call with the same digest reuses the directory.
    """
    cache = Path(cache) if cache is not None else cache_dir()
    fetched = fetch(source, sha256, cache=cache, name=name, progress=progress)
    target = cache / "extracted" / fetched.sha256
    if target.is_dir():
        return target
    try:
        safe_extract(fetched.path, target, max_total_bytes=max_total_bytes)
    except _DestinationExists:
        if not target.is_dir():
            raise
    return target
