"""Downloads into a content-addressed cache, every byte SHA-256-checked before use.

Layout of the cache (`settings.cache_dir()` unless a folder is passed)::

    <cache>/blobs/sha256/<hex>        verified downloads, read-only, named by their digest
    <cache>/blobs/sha256/.partial-*   a download in progress (removed on any failure)
    <cache>/extracted/<hex>/          the tarball <hex>, extracted once (`extract.py`)

Choices worth knowing:

* `fetch` returns a `Fetched` (path and digest). It is `os.PathLike`, so it can be passed
  wherever a path is expected; use `.path` for a `Path`.
* A local source (a path or a `file://` URL) is verified in place and its own path is
  returned; it is not copied into the cache. Copying would double the disk used by large
  image archives and the digest is already known. If the blob for the expected digest is
  already cached, the cached copy is returned without reading the local file.
* Nothing is used before its digest is checked: a download goes to a temporary file that is
  hashed while it is written and only renamed to its content-addressed name after the
  digest matches. A mismatch leaves nothing behind.
* Cached blobs are trusted on a hit (they were verified before they got their name, and
  are fsynced first so a crash cannot leave a short file under a digest name).
* `requests` is imported at the first download, not with this module: it costs about
  80 ms, and a cached run downloads nothing (bench/overhead.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from medperf_action.adapters.files.hashing import sha256_file
from medperf_action.errors import (
    DiskError,
    DownloadError,
    DownloadTooLarge,
    HashMismatch,
    InsecureSource,
    InvalidInput,
)
from medperf_action.settings import cache_dir, insecure_hosts
from medperf_action.text import Log

if TYPE_CHECKING:
    from types import TracebackType

    import requests
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

CHUNK_SIZE = 1 << 20
HTTP_RETRIES = 5
HTTP_BACKOFF_FACTOR = 0.5
MAX_RETRY_AFTER_SECONDS = 60.0
# A download cut off part-way is started again this many times in all.
STREAM_ATTEMPTS = 3
# (connect, read) in seconds; the read timeout is per socket read, not for the whole body.
HTTP_TIMEOUT = (30.0, 120.0)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class Progress(Protocol):
    """Told of each piece of a download: `(label, bytes done, total or None, final)`."""

    def __call__(self, label: str, done: int, total: int | None, final: bool) -> None: ...


@dataclass(frozen=True)
class Fetched:
    """A verified file: where it is, its SHA-256, and whether it came from the cache."""

    path: Path
    sha256: str
    from_cache: bool = field(default=False, compare=False)

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def blob_dir(cache: Path) -> Path:
    return cache / "blobs" / "sha256"


def normalise_digest(sha256: str | None) -> str | None:
    """A SHA-256 as 64 lower-case hex digits (a `sha256:` prefix dropped), or None."""
    if sha256 is None:
        return None
    value = sha256.strip().lower().removeprefix("sha256:")
    if not _HEX64.fullmatch(value):
        raise InvalidInput(f"invalid SHA-256 {sha256!r}: expected 64 hexadecimal characters")
    return value


def make_session(
    *,
    retries: int = HTTP_RETRIES,
    backoff_factor: float = HTTP_BACKOFF_FACTOR,
    log: Log | None = None,
    label: str = "download",
) -> requests.Session:
    """A requests session that retries network errors, 429 and 5xx with back-off, saying
    so to `log` ("LABEL: retrying (2/5) after HTTP 503").

    ``Retry-After`` is honoured on 429 and 503 (capped at MAX_RETRY_AFTER_SECONDS). A
    host name that does not resolve and a refused connection fail at once: waiting does
    not mend a wrong URL or a server that is not there.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.exceptions import MaxRetryError
    from urllib3.util.retry import Retry

    class _CappedRetry(Retry):
        def parse_retry_after(self, retry_after: str) -> float:
            return min(super().parse_retry_after(retry_after), MAX_RETRY_AFTER_SECONDS)

        def increment(
            self,
            method: str | None = None,
            url: str | None = None,
            response: BaseHTTPResponse | None = None,
            error: Exception | None = None,
            _pool: ConnectionPool | None = None,
            _stacktrace: TracebackType | None = None,
        ) -> _CappedRetry:
            if error is not None and fails_fast(error):
                raise MaxRetryError(_pool, url or "", error) from error  # type: ignore[arg-type]
            new = super().increment(method, url, response, error, _pool, _stacktrace)
            if log is not None:
                why = f"HTTP {response.status}" if response is not None else _retry_reason(error)
                log(f"{label}: retrying ({len(new.history)}/{retries}) after {why}")
            return new

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


def fails_fast(error: BaseException) -> bool:
    """A network error that retrying will not mend: the host name does not resolve
    (DNS), or the host refused the connection (nothing listens there)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    if isinstance(error, NameResolutionError):
        # "temporary failure in name resolution" (EAI_AGAIN) may mend: retried
        cause = error.__cause__ or error.__context__
        return getattr(cause, "errno", None) != socket.EAI_AGAIN and "Temporary failure" not in str(
            error
        )
    if not isinstance(error, NewConnectionError):
        return False
    cause = error.__cause__ or error.__context__
    return isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(error)


def _retry_reason(error: BaseException | None) -> str:
    """A network error, briefly, for "retrying after …"."""
    from urllib3.exceptions import ConnectTimeoutError, ProtocolError, ReadTimeoutError

    if isinstance(error, ConnectTimeoutError):
        return "a connection time-out"
    if isinstance(error, ReadTimeoutError):
        return "a read time-out"
    if isinstance(error, ProtocolError):
        return "the connection was cut"
    return type(error).__name__ if error is not None else "an error"


def fetch(
    source: str,
    sha256: str | None,
    *,
    cache: Path | None = None,
    name: str = "",
    progress: Progress | None = None,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
    secure: bool = False,
    log: Log | None = None,
) -> Fetched:
    """Fetch ``source`` (http(s) URL, ``file://`` URL or local path) and verify its SHA-256.

    With ``sha256`` given, a cached blob with that digest is returned at once (no network);
    otherwise the content is downloaded, hashed while written, and raises
    :class:`HashMismatch` (leaving nothing in the cache) unless the digest matches. With
    ``sha256=None`` the content is downloaded (always) and its digest is returned.
    ``progress`` is told of every MiB of an HTTP download, ``log`` of every retry.

    For an untrusted source: ``max_bytes`` stops a download as soon as it is exceeded
    (and refuses one whose Content-Length already says so); ``secure`` takes only https
    URLs, or http to a host ``$MEDPERF_ACTION_INSECURE_HOSTS`` names, never a local file.
    """
    expected = normalise_digest(sha256)
    cache = Path(cache) if cache is not None else cache_dir()
    label = name or _redact(source)
    blobs = blob_dir(cache)
    if expected is not None:
        blob = blobs / expected
        if blob.is_file():
            return Fetched(blob, expected, from_cache=True)

    scheme_match = _URL_SCHEME.match(source)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if secure:
        _check_secure(source, scheme, label)
    if scheme in ("http", "https"):
        http = _Http(session, headers, progress, max_bytes, log)
        return _fetch_http(source, expected, blobs, label, http)
    if scheme == "file":
        return _verify_local(_file_url_to_path(source), expected, label)
    if scheme:
        raise InvalidInput(
            f"cannot fetch {label}: unsupported URL scheme {scheme!r} "
            "(use http(s)://, file:// or a local path)"
        )
    return _verify_local(Path(source).expanduser(), expected, label)


def _check_secure(source: str, scheme: str, label: str) -> None:
    host = (urllib.parse.urlsplit(source).hostname or "").lower() if scheme else ""
    if scheme == "https" or (scheme == "http" and host in insecure_hosts()):
        return
    raise InsecureSource(
        f"cannot fetch {label}: an untrusted source is fetched only over https (not "
        f"{scheme or 'a local path'})"
    )


@dataclass(frozen=True)
class _Http:
    """How an HTTP download goes: its session and headers, who hears of its progress,
    and the most bytes it may have."""

    session: requests.Session | None
    headers: Mapping[str, str] | None
    progress: Progress | None
    max_bytes: int | None
    log: Log | None = None


def _file_url_to_path(url: str) -> Path:
    parsed = urllib.parse.urlsplit(url)
    if parsed.netloc not in ("", "localhost"):
        raise InvalidInput(f"cannot fetch {url}: file:// URLs must name a local file")
    return Path(urllib.parse.unquote(parsed.path))


def _verify_local(path: Path, expected: str | None, label: str) -> Fetched:
    try:
        actual = sha256_file(path)
    except IsADirectoryError as exc:
        raise InvalidInput(f"cannot fetch {label}: {path} is a directory, not a file") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read {label}: {exc.strerror or exc}") from exc
    if expected is not None and actual != expected:
        raise HashMismatch(label, expected, actual)
    return Fetched(path, actual)


def _fetch_http(url: str, expected: str | None, blob_dir: Path, label: str, how: _Http) -> Fetched:
    try:
        blob_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DiskError(f"cannot create cache directory {blob_dir}: {exc}") from exc
    http = make_session(log=how.log, label=label) if how.session is None else how.session
    try:
        tmp, actual = _download(url, blob_dir, label, how, http)
    finally:
        if how.session is None:
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
    url: str, blob_dir: Path, label: str, how: _Http, http: requests.Session
) -> tuple[Path, str]:
    """Stream ``url`` into a temporary file in ``blob_dir``; return it and its SHA-256."""
    import requests

    request_headers = {"Accept-Encoding": "identity", **(how.headers or {})}
    for attempt in range(1, STREAM_ATTEMPTS + 1):
        try:
            response = http.get(url, stream=True, timeout=HTTP_TIMEOUT, headers=request_headers)
        except requests.RequestException as exc:
            raise DownloadError(f"cannot download {label}: {_describe(exc)}") from exc
        with response:
            if response.status_code >= 400:
                raise DownloadError(
                    f"cannot download {label}: HTTP {response.status_code} "
                    f"{response.reason or ''}".rstrip()
                )
            _check_length(_content_length(response), how.max_bytes, label)
            fd, tmp_name = tempfile.mkstemp(dir=blob_dir, prefix=".partial-")
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    digest = _stream_body(response, out, label, how)
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
                    raise DownloadError(
                        f"cannot download {label}: {_describe(exc)} "
                        f"(gave up after {STREAM_ATTEMPTS} attempts)"
                    ) from exc
            except requests.RequestException as exc:
                _unlink_quietly(tmp)
                raise DownloadError(f"cannot download {label}: {_describe(exc)}") from exc
            except BaseException:
                _unlink_quietly(tmp)
                raise
        if how.log is not None:
            how.log(
                f"{label}: retrying ({attempt}/{STREAM_ATTEMPTS - 1}) after the download was cut"
            )
        time.sleep(HTTP_BACKOFF_FACTOR * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _check_length(size: int | None, max_bytes: int | None, label: str) -> None:
    if size is not None and max_bytes is not None and size > max_bytes:
        raise DownloadTooLarge(
            f"cannot download {label}: it is larger than the {max_bytes:,} bytes allowed"
        )


def _stream_body(response: requests.Response, out: BinaryIO, label: str, how: _Http) -> str:
    """Write the body to ``out`` while hashing it; fsync before returning the digest.
    A body longer than ``how.max_bytes`` is stopped there."""
    total = _content_length(response)
    progress = how.progress
    digest = hashlib.sha256()
    done = 0
    for chunk in response.iter_content(CHUNK_SIZE):
        done += len(chunk)
        _check_length(done, how.max_bytes, label)
        out.write(chunk)
        digest.update(chunk)
        if progress is not None:
            progress(label, done, total, False)
    out.flush()
    os.fsync(out.fileno())
    if progress is not None:
        progress(label, done, total, True)
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
    found = getattr(reason, "reason", None)
    if isinstance(found, BaseException) and fails_fast(found):
        reason = found
    if fails_fast(reason):
        from urllib3.exceptions import NameResolutionError

        if isinstance(reason, NameResolutionError):
            return "the host name does not resolve (DNS); check the URL (not retried)"
        return "the connection was refused: nothing listens there (not retried)"
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
