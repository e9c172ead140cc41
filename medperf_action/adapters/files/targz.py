"""Deterministic `.tar.gz` files, written at disk speed, hashed as they are written.

`write_tarball` packs a folder's contents (no top-level folder); `gzip_stream` gzips a
byte stream (a `docker save`). Both are pure functions of the bytes they read:

* Entries sorted by name (bytes), directories before their contents, GNU tar format (long
  names as `././@LongLink` entries, no pax headers), mtime 0, uid/gid 0, empty owner
  names, modes 0644 (files), 0755 (directories and files with any execute bit), 0777
  (symlinks), padded to tar's 10240-byte record. Hard links are stored as regular files.
  The gzip header has mtime 0, no file name and OS 255 ("unknown").
* Symlinks are kept as links when they point inside the folder (relative target,
  resolving inside, to something that exists); an absolute, escaping or dangling link is
  an error, and so is a socket, FIFO or device.
* Speed: weights do not compress, and zlib takes about 30 s/GiB on them at any level. The
  gzip stream is written here, region by region (1 MiB at a time): a sample of each
  region (four 4 KiB slices) is compressed at level 1, and the region is deflated only
  when the sample shrinks by at least 10 %; otherwise it goes into stored (uncompressed)
  deflate blocks. Such a stream is an ordinary `.tar.gz` for `tar`, `gzip` and Python's
  `tarfile`. The decision depends on the content alone, so the output stays
  deterministic; deflated regions are as reproducible as zlib itself is (the same zlib
  gives the same bytes; zlib-ng, for one, deflates differently).
* Everything streams through 1 MiB buffers, and each output's SHA-256 is computed as it
  is written, on a second thread (never read back).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import stat
import struct
import tarfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from medperf_action import shipping
from medperf_action.errors import PackageError

CHUNK_SIZE = 1 << 20
"""Read size, and the region over which compress-or-store is decided."""
ADDITIONAL_FILES_LEVEL = 6
IMAGE_LEVEL = 1
"""Image layers in ``docker save`` are uncompressed tars; level 1 keeps the archive quick."""
PROBE_SLICES = 4
PROBE_SLICE_SIZE = 4096
PROBE_RATIO = 0.9
"""A region is deflated when its sample compresses to less than this fraction."""
TAR_MTIME = 0
FILE_MODE = 0o644
EXEC_MODE = 0o755
DIR_MODE = 0o755
LINK_MODE = 0o777

_STORED_MAX = 0xFFFF
_SMALL_WRITE = 256 * 1024
_QUEUE_DEPTH = 2
# ID1 ID2 CM=deflate FLG=0 (no name, no extra) MTIME=0 XFL=0 OS=255 (unknown)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# An empty stored block with BFINAL=1: ends a deflate stream that is byte-aligned.
_FINAL_EMPTY_BLOCK = b"\x01\x00\x00\xff\xff"


# ---------------------------------------------------------------------------------------
# Output: hashed while written


class HashingWriter:
    """Writes to a binary file and computes the SHA-256 and size of what went through.

    Hashing and writing happen on a background thread, so that they overlap with reading,
    CRC-32 and compression on the caller's (all of them release the GIL). At most
    :data:`_QUEUE_DEPTH` pieces of up to a few MiB wait in between. Use as a context
    manager; ``close`` waits for the thread and re-raises any error it met.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._sha = hashlib.sha256()
        self.size = 0
        self._pending = bytearray()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="medperf-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so that the producer never blocks
            try:
                self._sha.update(data)
                self._file.write(data)
            except BaseException as exc:
                self._error = exc

    def _submit(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if not n:
            return
        self.size += n
        if n < _SMALL_WRITE:
            self._pending += data
            if len(self._pending) >= _SMALL_WRITE:
                self._submit(bytes(self._pending))
                self._pending.clear()
            return
        if self._pending:
            self._submit(bytes(self._pending))
            self._pending.clear()
        self._submit(data if isinstance(data, bytes) else bytes(data))

    def close(self) -> None:
        """Write what is pending and wait for the thread; raise the error it met, if any."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._pending and self._error is None:
                self._queue.put(bytes(self._pending))
                self._pending.clear()
        finally:
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
            return
        with contextlib.suppress(BaseException):  # the first error is the one to report
            self.close()

    def hexdigest(self) -> str:
        if not self._closed:
            raise RuntimeError("hexdigest() before close()")
        return self._sha.hexdigest()


class GzipWriter:
    """A gzip stream mixing deflated and stored regions, chosen by the caller.

    ``write(data, compress=True)`` deflates ``data`` (a raw deflate stream from
    :func:`zlib.compressobj`), ``compress=False`` stores it in uncompressed blocks written
    here, ``compress=None`` continues in the current mode. Switching from deflate to store
    ends the deflate segment with a sync flush (byte-aligned, BFINAL never set); a later
    deflated region starts a fresh raw deflate stream. ``close`` ends with a final block
    and the CRC-32/ISIZE trailer.
    """

    def __init__(self, out: HashingWriter, level: int) -> None:
        self._out = out
        self._level = level
        self._deflater: Any | None = None
        self._storing = False
        self._crc = 0
        self._isize = 0
        self.deflated_bytes = 0
        self.stored_bytes = 0
        self._closed = False
        out.write(_GZIP_HEADER)

    def write(self, data: bytes | bytearray | memoryview, compress: bool | None = None) -> None:
        n = len(data)
        if not n:
            return
        if compress is None:
            compress = not self._storing
        self._crc = zlib.crc32(data, self._crc)
        self._isize += n
        if compress:
            self._deflate(data)
            self.deflated_bytes += n
        else:
            self._store(data)
            self.stored_bytes += n

    def _deflate(self, data: bytes | bytearray | memoryview) -> None:
        if self._deflater is None:
            self._deflater = zlib.compressobj(self._level, zlib.DEFLATED, -15, 8)
        self._storing = False
        self._out.write(self._deflater.compress(data))

    def _store(self, data: bytes | bytearray | memoryview) -> None:
        if self._deflater is not None:
            # Byte-aligns and emits an empty non-final stored block: blocks may follow.
            self._out.write(self._deflater.flush(zlib.Z_SYNC_FLUSH))
            self._deflater = None
        self._storing = True
        view = memoryview(data).cast("B")
        parts: list[bytes | memoryview] = []
        for start in range(0, len(view), _STORED_MAX):
            block = view[start : start + _STORED_MAX]
            size = len(block)
            parts.append(struct.pack("<BHH", 0, size, size ^ 0xFFFF))
            parts.append(block)
        self._out.write(b"".join(parts))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._deflater is not None:
            self._out.write(self._deflater.flush(zlib.Z_FINISH))
            self._deflater = None
        else:
            self._out.write(_FINAL_EMPTY_BLOCK)
        self._out.write(struct.pack("<II", self._crc & 0xFFFFFFFF, self._isize & 0xFFFFFFFF))


def worth_compressing(region: bytes | bytearray | memoryview) -> bool:
    """Whether deflating ``region`` pays, judged from a sample of it (content only)."""
    view = memoryview(region).cast("B")
    n = len(view)
    if n <= PROBE_SLICES * PROBE_SLICE_SIZE:
        return True  # compressing it costs no more than probing it
    step = n // PROBE_SLICES
    sample = b"".join(view[i * step : i * step + PROBE_SLICE_SIZE] for i in range(PROBE_SLICES))
    return len(zlib.compress(sample, 1)) < len(sample) * PROBE_RATIO


def _read_full(file: io.RawIOBase, view: memoryview) -> int:
    """Fill ``view`` unless the file ends first; returns the bytes read."""
    got = 0
    while got < len(view):
        n = file.readinto(view[got:])
        if not n:
            break
        got += n
    return got


# ---------------------------------------------------------------------------------------
# additional_files.tar.gz


@dataclass(frozen=True)
class Entry:
    """One member of the tarball."""

    name: str
    """Relative POSIX path (no top-level folder)."""
    kind: str
    """One of "dir", "file", "link"."""
    path: Path
    size: int = 0
    mode: int = FILE_MODE
    target: str = ""


def _sort_key(entry: os.DirEntry[str]) -> bytes:
    return os.fsencode(entry.name)


def walk_additional_files(root: Path) -> Iterator[Entry]:
    """The tarball's members in order: sorted by name, a directory before its contents.

    Raises :class:`PackageError` for what `shipping` refuses: a symlink that is absolute,
    escapes ``root`` or dangles, and special files.
    """
    real_root = os.path.realpath(root)

    def walk(directory: str, prefix: str) -> Iterator[Entry]:
        with os.scandir(directory) as it:
            items = sorted(it, key=_sort_key)
        for item in items:
            rel = prefix + item.name
            st = item.stat(follow_symlinks=False)
            problem = shipping.kind_problem(st.st_mode)
            if problem is not None:
                raise PackageError(f"{item.path}: {problem}")
            if stat.S_ISLNK(st.st_mode):
                yield Entry(rel, "link", Path(item.path), mode=LINK_MODE, target=_link(item, rel))
            elif stat.S_ISDIR(st.st_mode):
                yield Entry(rel, "dir", Path(item.path), mode=DIR_MODE)
                yield from walk(item.path, rel + "/")
            else:
                mode = EXEC_MODE if st.st_mode & 0o111 else FILE_MODE
                yield Entry(rel, "file", Path(item.path), size=st.st_size, mode=mode)

    def _link(item: os.DirEntry[str], rel: str) -> str:
        target = os.readlink(item.path)
        problem = shipping.link_problem(real_root, item.path, rel, target)
        if problem is not None:
            raise PackageError(f"symlink {item.path} -> {target}: {problem}")
        return target

    if not os.path.isdir(root):
        raise PackageError(f"{root} is not a directory")
    yield from walk(str(root), "")


def _open_regular(path: Path) -> io.FileIO:
    """Open a file for reading, refusing one that became a symlink or a special file since
    the folder was listed (it would smuggle in content from elsewhere)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PackageError(f"{path} changed while it was being packaged")
        return io.FileIO(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _tar_header(entry: Entry) -> bytes:
    info = tarfile.TarInfo(entry.name)
    info.mtime = TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "link":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
    else:
        info.type = tarfile.REGTYPE
        info.size = entry.size
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


@dataclass
class TarballStats:
    size: int
    sha256: str
    entries: int = 0
    files: int = 0
    content_bytes: int = 0
    deflated_bytes: int = 0
    stored_bytes: int = 0


class _TarStream:
    """Tar framing on top of a :class:`GzipWriter`, counting the bytes it emits."""

    def __init__(self, gz: GzipWriter) -> None:
        self.gz = gz
        self.offset = 0

    def emit(self, data: bytes | bytearray | memoryview, compress: bool | None = None) -> None:
        self.gz.write(data, compress)
        self.offset += len(data)

    def pad(self, boundary: int) -> None:
        rest = self.offset % boundary
        if rest:
            self.emit(bytes(boundary - rest))

    def add_file(self, entry: Entry, buffer: bytearray) -> None:
        self.emit(_tar_header(entry))
        view = memoryview(buffer)
        remaining = entry.size
        with _open_regular(entry.path) as f:
            while remaining:
                want = view[: min(len(view), remaining)]
                got = _read_full(f, want)
                if got < len(want):
                    raise PackageError(f"{entry.path} shrank while it was being packaged")
                self.emit(want, worth_compressing(want))
                remaining -= got
            if f.read(1):
                raise PackageError(f"{entry.path} grew while it was being packaged")
        self.pad(tarfile.BLOCKSIZE)

    def close(self) -> None:
        self.emit(bytes(2 * tarfile.BLOCKSIZE))
        self.pad(tarfile.RECORDSIZE)
        self.gz.close()


def write_additional_files(
    source: Path, dest: Path, *, level: int = ADDITIONAL_FILES_LEVEL
) -> TarballStats:
    """Write ``source``'s contents (no top-level folder) to ``dest``, deterministically."""
    buffer = bytearray(CHUNK_SIZE)
    stats = TarballStats(0, "")
    with open(dest, "xb") as f, HashingWriter(f) as out:
        gz = GzipWriter(out, level)
        tar = _TarStream(gz)
        for entry in walk_additional_files(source):
            stats.entries += 1
            if entry.kind == "file":
                stats.files += 1
                stats.content_bytes += entry.size
                tar.add_file(entry, buffer)
            else:
                tar.emit(_tar_header(entry))
        tar.close()
    stats.size = out.size
    stats.sha256 = out.hexdigest()
    stats.deflated_bytes = gz.deflated_bytes
    stats.stored_bytes = gz.stored_bytes
    return stats


def gzip_regions(
    chunks: Iterable[bytes], dest: Path, *, level: int = IMAGE_LEVEL
) -> tuple[int, str]:
    """Gzip a byte stream to ``dest``, deciding per fixed 1 MiB region (so the output
    depends on the bytes only, not on how the stream was cut). Returns (size, sha256)."""
    buffer = bytearray(CHUNK_SIZE)
    region = memoryview(buffer)
    fill = 0
    with open(dest, "xb") as f, HashingWriter(f) as out:
        gz = GzipWriter(out, level)
        for chunk in chunks:
            piece = memoryview(chunk).cast("B")
            pos = 0
            while pos < len(piece):
                take = min(CHUNK_SIZE - fill, len(piece) - pos)
                region[fill : fill + take] = piece[pos : pos + take]
                fill += take
                pos += take
                if fill == CHUNK_SIZE:
                    gz.write(region, worth_compressing(region))
                    fill = 0
        if fill:
            gz.write(region[:fill], worth_compressing(region[:fill]))
        gz.close()
    return out.size, out.hexdigest()
