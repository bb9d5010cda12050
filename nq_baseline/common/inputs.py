"""Reading inputs, the one place for it: paths, globs and comma lists (local, or URLs such as
gs://... through TensorFlow's file system), gzip detected by content, and files streamed line by
line (by the lines' bytes, or by where they lie so that worker processes read them themselves).

An input that is missing, a folder, unreadable or a truncated gzip stream raises NqInputError
naming the file (and the 1-based line where one is known).
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import os
import queue
import threading
import zlib
from typing import Callable, Iterable, Iterator, TypeVar, Union

from nq_baseline.common.errors import NqInputError

GZIP_MAGIC = b"\x1f\x8b\x08"


def _is_url(path: str) -> bool:
    return "://" in str(path)


def is_gzip(path: str) -> bool:
    """True when `path` holds a gzip stream: the gzip header (1f 8b 08) AND a deflate
    stream that starts validly (a plain TFRecord whose length happens to begin 1f 8b 08
    is not gzip). An empty or short file is not gzip; an unreadable one is bad input."""
    try:
        if _is_url(path):
            import tensorflow as tf

            with tf.io.gfile.GFile(path, "rb") as handle:
                head = handle.read(64)
        else:
            with open(path, "rb") as handle:
                head = handle.read(64)
    except OSError as err:
        raise NqInputError(path, None, f"unreadable input ({err.strerror or err})") from None
    return is_gzip_head(head)


def is_gzip_head(head: bytes) -> bool:
    """`is_gzip` of a file's first bytes (64 of them tell)."""
    if head[:3] != GZIP_MAGIC:
        return False
    try:
        zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
    except zlib.error:
        return False
    return True


def _tensorflow_glob(pattern: str) -> list[str]:
    import tensorflow as tf

    return tf.io.gfile.glob(pattern)


def _matches(part: str, remote_glob: Callable[[str], list[str]]) -> list[str]:
    if _is_url(part):
        return sorted(remote_glob(part))
    if any(c in part for c in "*?["):
        return sorted(p for p in glob.glob(part) if not os.path.isdir(p))
    if os.path.isdir(part):
        raise NqInputError(part, None, "is a directory, not a file (give a file, a glob or a list)")
    return [part] if os.path.exists(part) else []


def expand_paths(pattern: Union[str, os.PathLike, list, tuple],
                 remote_glob: Callable[[str], list[str]] = _tensorflow_glob) -> list[str]:
    """A path, a glob, or a comma-separated list of those (or a list) -> the existing files,
    each glob sorted, duplicates dropped, in the order given. URLs (gs://...) are listed by
    `remote_glob` (TensorFlow's file systems by default).

    Raises NqInputError naming the part that matches nothing, or that is a directory."""
    parts = pattern if isinstance(pattern, (list, tuple)) else os.fspath(pattern).split(",")
    paths: list[str] = []
    for part in (os.fspath(p).strip() for p in parts):
        if not part:
            continue
        matches = _matches(part, remote_glob)
        if not matches:
            raise NqInputError(part, None, "no such file (or the glob matched nothing)")
        paths.extend(m for m in matches if m not in paths)
    if not paths:
        raise NqInputError(str(pattern), None, "no input file given")
    return paths


# --------------------------------------------------------------------------- lines


def iter_lines(pattern: str) -> Iterator[tuple[str, int, bytes]]:
    """Streams (path, 1-based line number, raw line) over every file of `pattern`."""
    for path in expand_paths(pattern):
        yield from iter_file_lines(path, gzip.open if is_gzip(path) else open)


_BLANK_BYTES = frozenset(b" \t\n\r\x0b\x0c")


@dataclasses.dataclass(frozen=True)
class LineRef:
    """Where one line of a plain (uncompressed) file lies (read it with `LineReader`)."""

    offset: int
    length: int


def iter_line_refs(pattern: str, block_size: int = 1 << 22) -> Iterator[tuple[str, int, Union[bytes, LineRef]]]:
    """Like `iter_lines`, but a line of a plain file comes as a `LineRef` (offset, length)
    instead of its bytes: the reader only scans for newlines (memchr speed, one fixed
    buffer), and whoever converts the line reads it itself (worker processes, in parallel),
    so no line is copied through a pipe. Lines of gzip files come as bytes (a gzip stream
    cannot be read from the middle). Blank lines are skipped, as by `iter_lines`."""
    for path in expand_paths(pattern):
        if is_gzip(path):
            yield from iter_file_lines(path, gzip.open)
            continue
        try:
            with open(path, "rb", buffering=0) as handle:
                fd = handle.fileno()
                for line_no, (start, length, first) in enumerate(_scan_lines(handle, block_size), start=1):
                    if first in _BLANK_BYTES and not os.pread(fd, length, start).strip():
                        continue  # rare: a line that starts with white space; blank ones are skipped
                    yield path, line_no, LineRef(start, length)
        except OSError as err:
            raise NqInputError(path, None, f"unreadable input ({err})") from err


def _scan_lines(handle, block_size: int) -> Iterator[tuple[int, int, int]]:
    """(file offset, length with the newline, first byte) of every line of a binary file."""
    buf = bytearray(block_size)
    offset = line_start = 0  # file offsets of buf[0] and of the current line
    first = -1  # first byte of the current line (-1: not read yet)
    while True:
        n = handle.readinto(buf)
        if not n:
            break
        if first < 0:
            first = buf[0]
        pos = 0
        while True:
            i = buf.find(b"\n", pos, n)
            if i < 0:
                break
            end = offset + i + 1
            yield line_start, end - line_start, first
            line_start, pos = end, i + 1
            first = buf[pos] if pos < n else -1
        offset += n
    if line_start < offset:  # a last line without a newline
        yield line_start, offset - line_start, first


class LineReader:
    """Reads `LineRef`s (keeps one open file per path); bytes pass through unchanged."""

    def __init__(self):
        self._fds: dict[str, int] = {}

    def read(self, path: str, line: int, ref: Union[bytes, LineRef]) -> bytes:
        if not isinstance(ref, LineRef):
            return ref
        try:
            fd = self._fds.get(path)
            if fd is None:
                if len(self._fds) >= 64:
                    self.close()
                fd = self._fds[path] = os.open(path, os.O_RDONLY)
            raw = os.pread(fd, ref.length, ref.offset)
        except OSError as err:
            raise NqInputError(path, line, f"unreadable input ({err})") from err
        if len(raw) != ref.length:
            raise NqInputError(path, line, "the file changed while it was read (truncated)")
        return raw

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def iter_file_lines(path: str, opener) -> Iterator[tuple[str, int, bytes]]:
    line_no = 0
    try:
        with opener(path, "rb") as handle:
            for raw in handle:
                line_no += 1
                if raw.strip():
                    yield path, line_no, raw
    except (EOFError, OSError, zlib.error) as err:
        raise NqInputError(path, line_no + 1, f"unreadable input ({err})") from err


# --------------------------------------------------------------------------- reading ahead

T = TypeVar("T")


def prefetched(items: Iterable[T], depth: int = 4, name: str = "prefetch") -> Iterator[T]:
    """`items`, produced `depth` ahead in a helper thread: work that releases the GIL (zlib,
    TensorFlow, the Rust tokenizer) overlaps with the consumer's. An exception of the producer is
    raised in the consumer, at its place in the sequence; closing the iterator stops the producer."""
    box: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as err:  # handed to the consumer
            put((False, err))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            ok, item = box.get()
            if ok:
                yield item
            elif item is None:
                return
            else:
                raise item
    finally:
        stop.set()
        worker.join()
