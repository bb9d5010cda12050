r"""Gold annotations for the scorer: reading NQ gold files, and their cache.

This is the reading half of the scorer (the official package keeps it in `eval_utils`,
the scoring in `nq_eval`):

* gold may be in the ORIGINAL format (byte and token offsets) or the SIMPLIFIED one
  (token offsets only: missing byte offsets read as -1), gzipped or plain, a path, a
  glob or a comma-separated list;
* only the annotations and the example id of each gold line are decoded: a key scanner
  finds them in the raw bytes, so the document (thousands of tokens) is never parsed;
  a line the scanner cannot read is decoded in full;
* bad gold raises `GoldDataError` (a `ValueError`) naming the file and the line:
  unreadable or truncated files, lines that are not JSON, malformed spans, duplicate
  ids, ids outside the signed 64-bit range;
* `load_gold(..., cache_gold_data=True)` keeps the decoded annotations in a small JSON
  file keyed on the SHA-256 of each gold file's bytes (as stored, compressed or not), so
  a gold file rewritten in any way -- even at the same size and with its mtime restored --
  misses the cache. Hashing reads the file without inflating it (a small share of a cold
  read: benchmarks/bench_nq_eval.py), done while the cache file is read; a cold read with
  caching hashes the bytes as it inflates them.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import math
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Optional, Union

import orjson

from nq_baseline.common import fileio, ids, inputs
from nq_baseline.common.errors import NqInputError

__all__ = [
    "CACHE_FORMAT", "GoldAnnotation", "GoldData", "GoldDataError", "NULL_SPAN", "NqEvalError", "Span",
    "example_id_from_json", "gold_from_json", "load_gold", "score_from_json", "span_from_json",
]

log = logging.getLogger(__name__)

CACHE_FORMAT = "nq_eval-gold-cache-v2"  # v2: keyed on the SHA-256 of the gold bytes
_READ_CHUNK = 1 << 18
_HASH_CHUNK = 1 << 20
DEFAULT_THREADS = 10

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------- errors

class NqEvalError(NqInputError):
    """Bad gold data or bad predictions.  A `ValueError`; `str()` names the file (and line)."""


class GoldDataError(NqEvalError):
    """The gold file is unreadable, not JSON, or holds a malformed annotation."""


# --------------------------------------------------------------------------- data types

class Span(NamedTuple):
    start_byte: int
    end_byte: int
    start_token: int
    end_token: int

    @property
    def is_null(self) -> bool:
        return self.start_byte < 0 and self.end_byte < 0 and self.start_token < 0 and self.end_token < 0


NULL_SPAN = Span(-1, -1, -1, -1)


class GoldAnnotation(NamedTuple):
    """One annotator's answer; `short_answers` keeps only the non-null spans."""

    long_answer: Span
    short_answers: tuple[Span, ...]
    yes_no_answer: str  # lower case: "yes", "no", "none"

    @property
    def has_long(self) -> bool:
        return not self.long_answer.is_null

    @property
    def has_short(self) -> bool:
        return bool(self.short_answers) or self.yes_no_answer != "none"


class GoldData:
    """Decoded gold annotations: example_id -> tuple of GoldAnnotation (possibly empty)."""

    def __init__(self, examples: dict[int, tuple[GoldAnnotation, ...]], source: str = "<gold>",
                 from_cache: Optional[str] = None):
        self.examples = examples
        self.source = source
        self.from_cache = from_cache

    def __len__(self) -> int:
        return len(self.examples)

    def __repr__(self) -> str:
        cached = f", from cache {self.from_cache}" if self.from_cache else ""
        return f"GoldData({len(self.examples)} examples from {self.source}{cached})"


# --------------------------------------------------------------------------- JSON values

def _span_problem(s: Span) -> Optional[str]:
    """Why a span is not acceptable (the official constructor's rules), or None."""
    if (s.start_byte < 0) != (s.end_byte < 0):
        return f"start_byte {s.start_byte} and end_byte {s.end_byte}: only one of them is null (-1)"
    if (s.start_token < 0) != (s.end_token < 0):
        return f"start_token {s.start_token} and end_token {s.end_token}: only one of them is null (-1)"
    if s.start_byte >= 0 and s.start_byte >= s.end_byte:
        return f"empty byte span [{s.start_byte}, {s.end_byte})"
    if s.start_token >= 0 and s.start_token >= s.end_token:
        return f"empty token span [{s.start_token}, {s.end_token})"
    return None


def _as_int(value: Any) -> int:
    """JSON integer (or an integral float) -> int; anything else raises TypeError."""
    if isinstance(value, bool):
        raise TypeError("a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"{value!r} is not an integer")


def example_id_from_json(value: Any) -> int:
    """An example id: a JSON integer or a string of digits (the simplified test files),
    within the signed 64-bit range of NQ ids. TypeError explains a bad one."""
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise TypeError(f"example_id {value!r} is not an integer") from None
    elif isinstance(value, float) and abs(value) >= 2.0**63:
        # orjson reads an integer beyond 64 bits as a float (-2**63 - 1 as -2.0**63): refuse
        # it as what it was, not as the in-range integer the float rounds to.
        raise TypeError(f"example_id {value!r} (an integer beyond 64 bits) is outside the signed 64-bit "
                        "range of NQ ids")
    else:
        try:
            number = _as_int(value)
        except TypeError:
            raise TypeError(f"example_id {value!r} is not an integer") from None
    return _checked_id(number)


def _checked_id(number: int) -> int:
    if not ids.in_int64(number):
        raise TypeError(f"example_id {number} is outside the signed 64-bit range of NQ ids")
    return number


def span_from_json(obj: Any, what: str, bytes_optional: bool) -> Span:
    """A {start_byte, end_byte, start_token, end_token} object -> Span (ValueError explains)."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{what} is not an object")
    values = []
    for key in ("start_byte", "end_byte", "start_token", "end_token"):
        if key not in obj:
            if bytes_optional and key.endswith("_byte"):
                values.append(-1)
                continue
            raise ValueError(f"{what} lacks the key '{key}'")
        try:
            values.append(_as_int(obj[key]))
        except TypeError as err:
            raise ValueError(f"{what}.{key}: {err}") from None
    span = Span(*values)
    problem = _span_problem(span)
    if problem:
        raise ValueError(f"{what}: {problem}")
    return span


def score_from_json(value: Any, what: str):
    """A prediction score: a JSON number, not NaN (ValueError explains)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} {value!r} is not a number")
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"{what} is NaN")
    return value


def _gold_annotations(raw: Any) -> tuple[GoldAnnotation, ...]:
    """The JSON `annotations` list of one example -> GoldAnnotations (ValueError explains)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("'annotations' is not a list")
    out = []
    for i, ann in enumerate(raw):
        what = f"annotations[{i}]"
        if not isinstance(ann, Mapping):
            raise ValueError(f"{what} is not an object")
        if "long_answer" not in ann:
            raise ValueError(f"{what} lacks the key 'long_answer'")
        long_span = span_from_json(ann["long_answer"], f"{what}.long_answer", bytes_optional=True)
        shorts = ann.get("short_answers") or []
        if not isinstance(shorts, list):
            raise ValueError(f"{what}.short_answers is not a list")
        short_spans = []
        for j, s in enumerate(shorts):
            span = span_from_json(s, f"{what}.short_answers[{j}]", bytes_optional=True)
            if not span.is_null:
                short_spans.append(span)
        yes_no = ann.get("yes_no_answer", "NONE")
        if yes_no is None:
            yes_no = "NONE"
        if not isinstance(yes_no, str):
            raise ValueError(f"{what}.yes_no_answer {yes_no!r} is not a string")
        out.append(GoldAnnotation(long_span, tuple(short_spans), yes_no.lower()))
    return tuple(out)


# --------------------------------------------------------------------------- one gold line

_BLANKS = b" \t\r\n"


def _find_key(buf: bytes, key: bytes, start: int, end: int, from_end: bool) -> int:
    """Offset just past `"key" :` (and blanks) within buf[start:end], or -1.

    An unescaped `"key"` can only be an object key or a whole string value; a value
    is not followed by a colon, so those hits are skipped.
    """
    needle = b'"' + key + b'"'
    lo, hi = start, end
    while True:
        pos = buf.rfind(needle, lo, hi) if from_end else buf.find(needle, lo, hi)
        if pos < 0:
            return -1
        i = pos + len(needle)
        while i < end and buf[i] in _BLANKS:
            i += 1
        if i < end and buf[i] == 58:  # ':'
            i += 1
            while i < end and buf[i] in _BLANKS:
                i += 1
            return i
        if from_end:
            hi = pos
        else:
            lo = pos + 1


_EXAMPLE_ID_RE = re.compile(rb'(?:(-?\d+)|"\s*(-?\d+)\s*")\s*[,}]')


def _fast_extract(buf: bytes, start: int = 0, end: Optional[int] = None) -> Optional[tuple[int, Any]]:
    """(example_id, raw annotations) of the JSON line buf[start:end] without decoding the
    document, or None when the line must be decoded in full."""
    if end is None:
        end = len(buf)
    while end > start and buf[end - 1] in _BLANKS:
        end -= 1
    if end - start < 2 or buf[start] != 123 or buf[end - 1] != 125:  # '{' ... '}'
        return None
    i = _find_key(buf, b"example_id", start, end, from_end=True)
    if i < 0:
        return None
    m = _EXAMPLE_ID_RE.match(buf, i, end)
    if not m:
        return None
    example_id = int(m.group(1) or m.group(2))
    i = _find_key(buf, b"annotations", start, end, from_end=False)
    if i < 0 or buf[i] != 91:  # '['
        # No annotations (test data) or something unusual: decode the whole line.
        return None
    # Annotations hold numbers and short strings ("NONE"): the first closing bracket
    # that balances the opening ones ends the list.  Anything odd fails to parse
    # and falls back to decoding the whole line.
    close = buf.find(b"]", i, end)
    while close >= 0 and buf.count(b"[", i, close + 1) != buf.count(b"]", i, close + 1):
        close = buf.find(b"]", close + 1, end)
    if close < 0:
        return None
    try:
        raw = orjson.loads(buf[i:close + 1])
    except orjson.JSONDecodeError:
        return None
    return example_id, raw


def _gold_line(buf: bytes, start: int, end: int, path: str, line_no: int
               ) -> tuple[int, tuple[GoldAnnotation, ...]]:
    fast = _fast_extract(buf, start, end)
    try:
        if fast is not None:
            example_id, raw = _checked_id(fast[0]), fast[1]
        else:
            example_id, raw = _decode_gold_line(buf[start:end], path, line_no)
    except TypeError as err:
        raise GoldDataError(path, line_no, str(err)) from None
    try:
        return example_id, _gold_annotations(raw)
    except ValueError as err:
        raise GoldDataError(path, line_no, f"example {example_id}: {err}") from None


def _decode_gold_line(line: bytes, path: str, line_no: int) -> tuple[int, Any]:
    """(example_id, raw annotations) of a line the scanner could not read: decoded in full."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        raise GoldDataError(path, line_no, f"not valid JSON ({err})") from None
    if not isinstance(obj, dict):
        raise GoldDataError(path, line_no, "a gold line must hold one JSON object")
    if "example_id" not in obj:
        raise GoldDataError(path, line_no, "the example lacks 'example_id'")
    return example_id_from_json(obj["example_id"]), obj.get("annotations")


# --------------------------------------------------------------------------- gold files

def _raw_blocks(handle, digest) -> Iterator[bytes]:
    for data in iter(lambda: handle.read(_READ_CHUNK), b""):
        if digest is not None:
            digest.update(data)
        yield data


try:  # Intel's ISA-L inflates gzip 2-3x faster than zlib, with the same stream semantics
    from isal import isal_zlib as _inflate
    _INFLATE_ERRORS: tuple = (zlib.error, _inflate.error)
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    _inflate = zlib
    _INFLATE_ERRORS = (zlib.error,)


def _blocks(handle, gz: bool, digest=None) -> Iterator[bytes]:
    """The file's bytes in blocks, inflated when it is gzip (several members allowed); every
    byte read is fed to `digest` when given (the cache key of what was decoded)."""
    if not gz:
        yield from _raw_blocks(handle, digest)
        return
    inflater = _inflate.decompressobj(31)
    for data in _raw_blocks(handle, digest):
        while data:
            if inflater.eof:
                if not data.strip(b"\0"):
                    break  # zero padding after the last member
                if data[:2] != b"\x1f\x8b"[:len(data)]:
                    raise zlib.error("trailing garbage after the gzip data")
                inflater = _inflate.decompressobj(31)
            out = inflater.decompress(data)
            data = inflater.unused_data if inflater.eof else b""
            if out:
                yield out
    if not inflater.eof:
        raise EOFError("truncated gzip file (the compressed stream ends early)")


def _iter_file_lines(path: str, digest=None) -> Iterator[tuple[int, bytes, int, int]]:
    """(1-based line number, buffer, start, end) per line; the line is buffer[start:end].

    Lines are left inside the inflated blocks (no copy) unless they straddle two blocks.
    """
    line_no = 0
    try:
        gz = inputs.is_gzip(path)
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            blocks = _blocks(handle, gz, digest)
            if size > 4 * _READ_CHUNK:
                blocks = inputs.prefetched(blocks)
            try:
                parts: list[bytes] = []  # the unfinished line, across blocks
                for block in blocks:
                    nl = block.find(b"\n")
                    start = 0
                    if parts:
                        if nl < 0:
                            parts.append(block)
                            continue
                        parts.append(block[:nl])
                        line = b"".join(parts)
                        parts = []
                        line_no += 1
                        yield line_no, line, 0, len(line)
                        start = nl + 1
                        nl = block.find(b"\n", start)
                    while nl >= 0:
                        line_no += 1
                        yield line_no, block, start, nl
                        start = nl + 1
                        nl = block.find(b"\n", start)
                    if start < len(block):
                        parts.append(block[start:])
                if parts:
                    line = b"".join(parts)
                    line_no += 1
                    yield line_no, line, 0, len(line)
            finally:
                blocks.close()  # stops the prefetch thread before the file closes
    except (OSError, EOFError) + _INFLATE_ERRORS as err:
        raise GoldDataError(path, line_no + 1, f"unreadable input ({err})") from None


def _is_blank(buf: bytes, start: int, end: int) -> bool:
    return start == end or (buf[start] in _BLANKS and not buf[start:end].strip())


class _GoldFile(NamedTuple):
    rows: list[tuple[int, int, tuple[GoldAnnotation, ...]]]  # (line number, example_id, annotations)
    digest: Optional[str]  # SHA-256 of the bytes read, as stored (when asked for)


def _read_gold_file(path: str, hashed: bool = False) -> _GoldFile:
    digest = hashlib.sha256() if hashed else None
    rows = [(line_no, *_gold_line(buf, start, end, path, line_no))
            for line_no, buf, start, end in _iter_file_lines(path, digest) if not _is_blank(buf, start, end)]
    return _GoldFile(rows, digest.hexdigest() if hashed else None)


def _read_hashed_gold_file(path: str) -> _GoldFile:
    return _read_gold_file(path, hashed=True)


def _expand(pattern: PathLike) -> list[str]:
    try:
        return inputs.expand_paths(os.fspath(pattern))
    except NqInputError as err:
        raise GoldDataError(err.path, err.line, err.reason) from None


def _in_threads(function, paths: list[str], num_threads: int) -> list:
    """`function` over the paths; in threads when there are several (zlib and hashlib
    release the GIL on large blocks, so the heavy parts overlap)."""
    workers = max(1, min(num_threads, len(paths)))
    if workers == 1:
        return [function(p) for p in paths]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, paths))


def _merge(paths: list[str], files: list[_GoldFile]) -> dict[int, tuple[GoldAnnotation, ...]]:
    examples: dict[int, tuple[GoldAnnotation, ...]] = {}
    for path, gold_file in zip(paths, files):
        for line_no, example_id, example_annotations in gold_file.rows:
            if example_id in examples:
                raise GoldDataError(path, line_no, f"duplicate example_id {example_id}")
            examples[example_id] = example_annotations
    return examples


# --------------------------------------------------------------------------- gold cache

def _file_digest(path: str) -> str:
    """SHA-256 of the file's bytes as stored (no inflating: the cheap part of a read)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_HASH_CHUNK), b""):
                digest.update(block)
    except OSError as err:
        raise GoldDataError(path, None, f"unreadable input ({err.strerror or err})") from None
    return digest.hexdigest()


def _cache_key(paths: list[str], digests: list[str]) -> list:
    """What a cache must match: the format, and each gold file's path and content hash."""
    return [CACHE_FORMAT, *([os.path.abspath(p), d] for p, d in zip(paths, digests))]


def _cache_candidates(paths: list[str], cache_dir: Optional[PathLike]) -> list[str]:
    digest = hashlib.sha256("\0".join(os.path.abspath(p) for p in paths).encode()).hexdigest()[:16]
    # A leading dot keeps the cache out of globs such as "nq-dev-*".
    name = f".nq_eval_cache-{digest}.json"
    if cache_dir is not None:
        return [os.path.join(os.fspath(cache_dir), name)]
    user = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    fallback = os.path.join(user, "nq_baseline", "nq_eval", name)
    gold_dir = os.path.dirname(os.path.abspath(paths[0]))
    if not _dir_writable(gold_dir):
        return [fallback]
    return [os.path.join(gold_dir, name), fallback]


def _dir_writable(directory: str) -> bool:
    """Writable, and not marked read-only (no write bit) even for root, who could write anyway."""
    try:
        return bool(os.stat(directory).st_mode & 0o222) and os.access(directory, os.W_OK)
    except OSError:
        return False


def _encode_span(s: Span) -> list:
    return [s.start_byte, s.end_byte, s.start_token, s.end_token]


def _write_cache(candidates: list[str], key: list, examples: dict) -> Optional[str]:
    payload = orjson.dumps({
        "format": CACHE_FORMAT,
        "key": key,
        "examples": [[eid, [[_encode_span(a.long_answer), [_encode_span(s) for s in a.short_answers],
                             a.yes_no_answer] for a in anns]]
                     for eid, anns in examples.items()],
    })
    for target in candidates:
        try:
            fileio.atomic_write(target, payload)
            log.info("cached gold annotations in %s", target)
            return target
        except OSError as err:
            log.info("cannot write the gold cache at %s (%s)", target, err)
    log.warning("the gold cache could not be written anywhere (%s)", ", ".join(candidates))
    return None


def _read_cache(candidates: list[str], key: Callable[[], list]) -> Optional[tuple[str, dict]]:
    """The first candidate cache whose key equals `key()` (called once a cache file is read,
    so hashing the gold can overlap reading the cache)."""
    for target in candidates:
        try:
            with open(target, "rb") as handle:
                data = orjson.loads(handle.read())
        except FileNotFoundError:
            continue
        except (OSError, orjson.JSONDecodeError) as err:
            log.warning("ignoring an unreadable gold cache %s (%s)", target, err)
            continue
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("key") != key():
            log.info("gold cache %s is stale", target)
            continue
        try:
            examples = {}
            for eid, anns in data["examples"]:
                examples[eid] = tuple(
                    GoldAnnotation(Span(*lng), tuple(Span(*s) for s in shorts), yn)
                    for lng, shorts, yn in anns)
        except (KeyError, TypeError, ValueError) as err:
            log.warning("ignoring a malformed gold cache %s (%s)", target, err)
            continue
        return target, examples
    return None


# --------------------------------------------------------------------------- API

def load_gold(pattern: PathLike, *, cache_gold_data: bool = False, cache_dir: Optional[PathLike] = None,
              num_threads: int = DEFAULT_THREADS) -> GoldData:
    """Reads gold annotations from a path, glob or comma list (gzipped or plain JSON lines).

    With `cache_gold_data`, the decoded annotations are kept in `.nq_eval_cache-<hash>.json`
    next to the first gold file (or in `cache_dir`; when the gold directory is read-only,
    in $XDG_CACHE_HOME or ~/.cache, under nq_baseline/nq_eval) and reused while every gold
    file keeps its content (SHA-256 of its bytes).
    """
    paths = _expand(pattern)
    source = os.fspath(pattern)
    if not cache_gold_data:
        return GoldData(_merge(paths, _in_threads(_read_gold_file, paths, num_threads)), source)
    candidates = _cache_candidates(paths, cache_dir)
    with concurrent.futures.ThreadPoolExecutor(max(1, min(num_threads, len(paths)))) as pool:
        # The gold is hashed in threads (hashlib releases the GIL) while the cache is read.
        digests = [pool.submit(_file_digest, p) for p in paths]
        hit = _read_cache(candidates, lambda: _cache_key(paths, [d.result() for d in digests]))
    if hit is not None:
        log.info("read gold annotations from cache %s", hit[0])
        return GoldData(hit[1], source, from_cache=hit[0])
    files = _in_threads(_read_hashed_gold_file, paths, num_threads)
    examples = _merge(paths, files)
    # Keyed on the bytes actually decoded: a file rewritten meanwhile cannot be cached under
    # its former hash.
    _write_cache(candidates, _cache_key(paths, [f.digest for f in files]), examples)
    return GoldData(examples, source)


def gold_from_json(examples: Union[Mapping, Iterable], source: str = "<gold>") -> GoldData:
    """Already-parsed gold: {example_id: [annotation, ...]} or an iterable of NQ example dicts."""
    out: dict[int, tuple[GoldAnnotation, ...]] = {}
    if isinstance(examples, Mapping):
        items = examples.items()
    else:
        items = []
        for n, ex in enumerate(examples):
            if not isinstance(ex, Mapping) or "example_id" not in ex:
                raise GoldDataError(source, None, f"gold example #{n} is not an object with an example_id")
            items.append((ex["example_id"], ex.get("annotations")))
    for eid, anns in items:
        try:
            eid = example_id_from_json(eid)
            if eid in out:
                raise ValueError(f"duplicate example_id {eid}")
            out[eid] = _gold_annotations(anns)
        except (TypeError, ValueError) as err:
            raise GoldDataError(source, None, f"example {eid}: {err}") from None
    return GoldData(out, source)
