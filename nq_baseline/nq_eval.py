r"""Natural Questions metrics: an independent re-implementation of the official scorer.

The numbers are those of Google's `natural_questions/nq_eval.py` (version 1.0.6):
long- and short-answer F1 at the best score threshold, and recall at precision
>= 0.5 / 0.75 / 0.9, under the same JSON keys.  What differs is everything around
the arithmetic:

* gold may be in the ORIGINAL format (byte and token offsets) or the SIMPLIFIED one
  (token offsets only: missing byte offsets read as -1), gzipped or plain, a path,
  a glob or a comma-separated list;
* only the annotations and the example id of each gold line are decoded (the
  document, thousands of tokens, is never turned into Python objects);
* `--cache_gold_data` stores the decoded annotations in a small JSON file keyed by
  the gold files' paths, sizes and modification times (written atomically);
* examples without a prediction count as null predictions; bad predictions or bad
  gold raise `NqEvalError` (a `ValueError`) naming the file, the line or the
  example; the command line prints that one line and exits with status 2;
* `--output_path` writes the metrics JSON, `--plot_path` draws the PR curves.

Command line::

    python -m nq_baseline.nq_eval --gold_path='nq-dev-0?.jsonl.gz' \
        --predictions_path=predictions.json [--pretty_print] [--cache_gold_data]

Library::

    from nq_baseline.nq_eval import evaluate
    metrics = evaluate("nq-dev-*.jsonl.gz", "predictions.json")

Scoring rules (the official ones)
---------------------------------
A span is four integers (start_byte, end_byte, start_token, end_token); it is null
when all four are negative.  Two non-null spans are equal when both carry byte
offsets and those agree, or when both carry token offsets and those agree.

Gold has a long answer when at least `long_non_null_threshold` annotators gave a
non-null long answer; it has a short answer when at least
`short_non_null_threshold` annotators gave a non-null short span or a yes/no
answer.  A long prediction is correct when gold has a long answer and the
predicted span equals one annotator's non-null long answer.  A short prediction is
correct when gold has a short answer and either its yes/no value (when not NONE)
equals one annotator's yes/no value, or its set of non-null spans equals one
annotator's set (every span on each side equals some span on the other side).

Thresholds: the scored predictions are sorted by decreasing score; after each group
of equal scores, precision = correct / predicted-so-far and recall = correct /
gold-with-answer.  The best threshold is the first group reaching the highest F1
(strictly greater than every earlier one); recall at precision >= t is the highest
recall (first reached) among groups whose precision is at least t.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import math
import os
import queue
import re
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Optional, Union

import orjson

from nq_baseline import nq_data
from nq_baseline.nq_data import NqInputError

__all__ = [
    "AnswerStat", "EvalReport", "GoldAnnotation", "GoldData", "GoldDataError", "NqEvalError",
    "PRPoint", "Prediction", "PredictionError", "Span", "TARGET_PRECISIONS", "evaluate",
    "evaluate_report", "format_tables", "gold_from_json", "load_gold", "load_predictions",
    "metrics_from_stats", "pr_curve", "render_pr_plot", "run", "score_answers", "span_sets_equal",
    "spans_equal", "unthresholded_scores",
]

log = logging.getLogger(__name__)

TARGET_PRECISIONS = (0.5, 0.75, 0.9)
CACHE_FORMAT = "nq_eval-gold-cache-v1"
_READ_CHUNK = 1 << 18
_DEFAULT_THREADS = 10

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------- errors

class NqEvalError(NqInputError):
    """Bad gold data or bad predictions.  A `ValueError`; `str()` names the file (and line)."""


class GoldDataError(NqEvalError):
    """The gold file is unreadable, not JSON, or holds a malformed annotation."""


class PredictionError(NqEvalError):
    """A prediction is malformed or names an example that is not in the gold data."""

    def __init__(self, path: str, line: Optional[int], message: str, example_id: Any = None):
        super().__init__(path, line, message)
        self.example_id = example_id


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


class Prediction(NamedTuple):
    """One system answer; `short_answers` keeps only the non-null spans."""

    example_id: int
    long_answer: Span
    long_answer_score: Any  # int or float, as given
    short_answers: tuple[Span, ...]
    short_answers_score: Any
    yes_no_answer: str  # lower case


class AnswerStat(NamedTuple):
    """Per example: does gold have an answer, does the system, is it right, and its score."""

    has_gold: bool
    has_pred: bool
    is_correct: bool
    score: Any  # None when there is no prediction at all


class PRPoint(NamedTuple):
    threshold: Any
    precision: float
    recall: float


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


class EvalReport(NamedTuple):
    metrics: dict
    long_stats: list[AnswerStat]
    short_stats: list[AnswerStat]


# --------------------------------------------------------------------------- span logic

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


def spans_equal(a: Span, b: Span) -> bool:
    """Equality of two non-null spans: by bytes where both have bytes, else (or also) by tokens."""
    if a[0] >= 0 and a[1] >= 0 and b[0] >= 0 and b[1] >= 0 and a[0] == b[0] and a[1] == b[1]:
        return True
    return a[2] >= 0 and a[3] >= 0 and b[2] >= 0 and b[3] >= 0 and a[2] == b[2] and a[3] == b[3]


def span_sets_equal(gold: tuple[Span, ...], pred: tuple[Span, ...]) -> bool:
    """Every span on one side equals some span on the other (both without null spans)."""
    return (all(any(spans_equal(p, g) for g in gold) for p in pred)
            and all(any(spans_equal(p, g) for p in pred) for g in gold))


# --------------------------------------------------------------------------- value helpers

def _as_int(value: Any) -> int:
    """JSON integer (or an integral float) -> int; anything else raises TypeError."""
    if isinstance(value, bool):
        raise TypeError("a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"{value!r} is not an integer")


def _example_id(value: Any) -> int:
    """An example id: a JSON integer or a string of digits (the simplified test files)."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise TypeError(f"example_id {value!r} is not an integer") from None
    try:
        return _as_int(value)
    except TypeError:
        raise TypeError(f"example_id {value!r} is not an integer") from None


def _span_from_json(obj: Any, what: str, bytes_optional: bool) -> Span:
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


def _score(value: Any, what: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} {value!r} is not a number")
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"{what} is NaN")
    return value


# --------------------------------------------------------------------------- gold

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
        long_span = _span_from_json(ann["long_answer"], f"{what}.long_answer", bytes_optional=True)
        shorts = ann.get("short_answers") or []
        if not isinstance(shorts, list):
            raise ValueError(f"{what}.short_answers is not a list")
        short_spans = []
        for j, s in enumerate(shorts):
            span = _span_from_json(s, f"{what}.short_answers[{j}]", bytes_optional=True)
            if not span.is_null:
                short_spans.append(span)
        yes_no = ann.get("yes_no_answer", "NONE")
        if yes_no is None:
            yes_no = "NONE"
        if not isinstance(yes_no, str):
            raise ValueError(f"{what}.yes_no_answer {yes_no!r} is not a string")
        out.append(GoldAnnotation(long_span, tuple(short_spans), yes_no.lower()))
    return tuple(out)


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
    if fast is not None:
        example_id, raw = fast
    else:
        try:
            obj = orjson.loads(buf[start:end])
        except orjson.JSONDecodeError as err:
            raise GoldDataError(path, line_no, f"not valid JSON ({err})") from None
        if not isinstance(obj, dict):
            raise GoldDataError(path, line_no, "a gold line must hold one JSON object")
        if "example_id" not in obj:
            raise GoldDataError(path, line_no, "the example lacks 'example_id'")
        try:
            example_id = _example_id(obj["example_id"])
        except TypeError as err:
            raise GoldDataError(path, line_no, str(err)) from None
        raw = obj.get("annotations")
    try:
        return example_id, _gold_annotations(raw)
    except ValueError as err:
        raise GoldDataError(path, line_no, f"example {example_id}: {err}") from None


def _blocks(handle) -> Iterator[bytes]:
    """The file's bytes in blocks, inflated when it is gzip (several members allowed)."""
    gz = handle.read(2) == b"\x1f\x8b"
    handle.seek(0)
    if not gz:
        yield from iter(lambda: handle.read(_READ_CHUNK), b"")
        return
    inflater = zlib.decompressobj(31)
    while True:
        data = handle.read(_READ_CHUNK)
        if not data:
            break
        while data:
            if inflater.eof:
                if not data.strip(b"\0"):
                    break  # zero padding after the last member
                if data[:2] != b"\x1f\x8b"[:len(data)]:
                    raise zlib.error("trailing garbage after the gzip data")
                inflater = zlib.decompressobj(31)
            out = inflater.decompress(data)
            data = inflater.unused_data if inflater.eof else b""
            if out:
                yield out
    if not inflater.eof:
        raise EOFError("truncated gzip file (the compressed stream ends early)")


def _prefetched(blocks: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """Runs `blocks` in a helper thread: zlib inflates without the GIL while the caller
    looks for the annotations in the previous blocks."""
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
            for block in blocks:
                if not put((True, block)):
                    return
            put((False, None))
        except BaseException as err:  # handed to the consumer
            put((False, err))

    worker = threading.Thread(target=produce, name="nq_eval-inflate", daemon=True)
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


def _iter_file_lines(path: str) -> Iterator[tuple[int, bytes, int, int]]:
    """(1-based line number, buffer, start, end) per line; the line is buffer[start:end].

    Lines are left inside the inflated blocks (no copy) unless they straddle two blocks.
    """
    line_no = 0
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            blocks = _blocks(handle)
            if size > 4 * _READ_CHUNK:
                blocks = _prefetched(blocks)
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
    except (OSError, EOFError, zlib.error) as err:
        raise GoldDataError(path, line_no + 1, f"unreadable input ({err})") from None


def _is_blank(buf: bytes, start: int, end: int) -> bool:
    return start == end or (buf[start] in _BLANKS and not buf[start:end].strip())


def _read_gold_file(path: str) -> list[tuple[int, int, tuple[GoldAnnotation, ...]]]:
    return [(line_no, *_gold_line(buf, start, end, path, line_no))
            for line_no, buf, start, end in _iter_file_lines(path) if not _is_blank(buf, start, end)]


def _expand(pattern: PathLike) -> list[str]:
    try:
        return nq_data.expand_paths(os.fspath(pattern))
    except NqInputError as err:
        raise GoldDataError(err.path, err.line, err.reason) from None


def _read_gold_files(paths: list[str], num_threads: int) -> dict[int, tuple[GoldAnnotation, ...]]:
    workers = max(1, min(num_threads, len(paths)))
    if workers == 1:
        per_file = [_read_gold_file(p) for p in paths]
    else:
        # zlib releases the GIL while inflating, so threads overlap the heavy part.
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            per_file = list(pool.map(_read_gold_file, paths))
    examples: dict[int, tuple[GoldAnnotation, ...]] = {}
    for path, rows in zip(paths, per_file):
        for line_no, example_id, annotations in rows:
            if example_id in examples:
                raise GoldDataError(path, line_no, f"duplicate example_id {example_id}")
            examples[example_id] = annotations
    return examples


# --------------------------------------------------------------------------- gold cache

def _cache_key(paths: list[str]) -> list:
    key = []
    for p in paths:
        st = os.stat(p)
        key.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
    return key


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
        directory = os.path.dirname(target)
        tmp = None
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".nq_eval_cache-", suffix=".tmp", dir=directory)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(tmp, target)
            log.info("cached gold annotations in %s", target)
            return target
        except OSError as err:
            log.info("cannot write the gold cache at %s (%s)", target, err)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
    log.warning("the gold cache could not be written anywhere (%s)", ", ".join(candidates))
    return None


def _read_cache(candidates: list[str], key: list) -> Optional[tuple[str, dict]]:
    for target in candidates:
        try:
            with open(target, "rb") as handle:
                data = orjson.loads(handle.read())
        except FileNotFoundError:
            continue
        except (OSError, orjson.JSONDecodeError) as err:
            log.warning("ignoring an unreadable gold cache %s (%s)", target, err)
            continue
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("key") != key:
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


def load_gold(pattern: PathLike, *, cache_gold_data: bool = False, cache_dir: Optional[PathLike] = None,
              num_threads: int = _DEFAULT_THREADS) -> GoldData:
    """Reads gold annotations from a path, glob or comma list (gzipped or plain JSON lines).

    With `cache_gold_data`, the decoded annotations are kept in `.nq_eval_cache-<hash>.json`
    next to the first gold file (or in `cache_dir`; when the gold directory is read-only,
    in $XDG_CACHE_HOME or ~/.cache, under nq_baseline/nq_eval) and reused while the files keep their size and mtime.
    """
    paths = _expand(pattern)
    source = os.fspath(pattern)
    candidates = key = None
    if cache_gold_data:
        key = [CACHE_FORMAT, *_cache_key(paths)]
        candidates = _cache_candidates(paths, cache_dir)
        hit = _read_cache(candidates, key)
        if hit is not None:
            log.info("read gold annotations from cache %s", hit[0])
            return GoldData(hit[1], source, from_cache=hit[0])
    examples = _read_gold_files(paths, num_threads)
    if cache_gold_data:
        _write_cache(candidates, key, examples)
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
            eid = _example_id(eid)
            if eid in out:
                raise ValueError(f"duplicate example_id {eid}")
            out[eid] = _gold_annotations(anns)
        except (TypeError, ValueError) as err:
            raise GoldDataError(source, None, f"example {eid}: {err}") from None
    return GoldData(out, source)


# --------------------------------------------------------------------------- predictions

def _prediction(item: Any, index: int, source: str) -> Prediction:
    if not isinstance(item, Mapping):
        raise PredictionError(source, None, f"predictions[{index}] is not an object")
    if "example_id" not in item:
        raise PredictionError(source, None, f"predictions[{index}] lacks 'example_id'")
    try:
        example_id = _example_id(item["example_id"])
    except TypeError as err:
        raise PredictionError(source, None, f"predictions[{index}]: {err}") from None
    try:
        long_raw = item.get("long_answer")
        long_span = NULL_SPAN if long_raw is None else _span_from_json(long_raw, "long_answer", False)
        shorts = item.get("short_answers")
        if shorts is None:
            shorts = []
        if not isinstance(shorts, list):
            raise ValueError("short_answers is not a list")
        short_spans = tuple(s for s in (_span_from_json(s, f"short_answers[{j}]", False)
                                        for j, s in enumerate(shorts)) if not s.is_null)
        yes_no = item.get("yes_no_answer")
        if yes_no is None:
            yes_no = "none"
        if not isinstance(yes_no, str) or yes_no.lower() not in ("yes", "no", "none"):
            raise ValueError(f"yes_no_answer {yes_no!r} is not YES, NO or NONE")
        yes_no = yes_no.lower()
        if yes_no != "none" and short_spans:
            raise ValueError(f"yes_no_answer {item['yes_no_answer']!r} together with non-null short_answers "
                             "(give one or the other)")
        scores = []
        for key in ("long_answer_score", "short_answers_score"):
            if key not in item:
                raise ValueError(f"lacks '{key}'")
            scores.append(_score(item[key], key))
    except ValueError as err:
        raise PredictionError(source, None, f"predictions[{index}] (example_id {example_id}): {err}",
                              example_id) from None
    return Prediction(example_id, long_span, scores[0], short_spans, scores[1], yes_no)


def load_predictions(source: Any) -> dict[int, Prediction]:
    """Predictions from a JSON file path, a {"predictions": [...]} object or a list of predictions."""
    name = "<predictions>"
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            with open(name, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise PredictionError(name, None, f"cannot read the predictions ({err.strerror or err})") from None
        try:
            source = orjson.loads(data)
        except orjson.JSONDecodeError:
            # Python's json module writes (and reads) Infinity / NaN scores; orjson does not.
            try:
                source = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                line = getattr(err, "lineno", None)
                reason = f"{err.msg}, column {err.colno}" if line else str(err)
                raise PredictionError(name, line, f"not valid JSON ({reason})") from None
    if isinstance(source, Mapping):
        if "predictions" not in source:
            raise PredictionError(name, None, "the JSON object lacks the key 'predictions'")
        items = source["predictions"]
    else:
        items = source
    if not isinstance(items, list):
        raise PredictionError(name, None, "'predictions' is not a list")
    out: dict[int, Prediction] = {}
    for index, item in enumerate(items):
        pred = _prediction(item, index, name)
        if pred.example_id in out:
            raise PredictionError(name, None, f"predictions[{index}]: example_id {pred.example_id} "
                                  "is predicted twice", pred.example_id)
        out[pred.example_id] = pred
    return out


# --------------------------------------------------------------------------- scoring

def score_answers(gold: GoldData, predictions: Mapping[int, Prediction], long_non_null_threshold: int = 2,
                  short_non_null_threshold: int = 2, predictions_source: str = "<predictions>"
                  ) -> tuple[list[AnswerStat], list[AnswerStat]]:
    """One AnswerStat per gold example for long and for short answers (gold order)."""
    examples = gold.examples
    unknown = [eid for eid in predictions if eid not in examples]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise PredictionError(predictions_source, None, f"example_id {unknown[0]} is not in the gold data "
                              f"{gold.source}{more}", unknown[0])
    long_stats, short_stats = [], []
    for eid, anns in examples.items():
        pred = predictions.get(eid)
        # An example with no annotation at all never has a gold answer, whatever the threshold.
        gold_long = bool(anns) and sum(a.has_long for a in anns) >= long_non_null_threshold
        gold_short = bool(anns) and sum(a.has_short for a in anns) >= short_non_null_threshold
        if pred is None:
            long_stats.append(AnswerStat(gold_long, False, False, None))
            short_stats.append(AnswerStat(gold_short, False, False, None))
            continue

        pred_long = not pred.long_answer.is_null
        long_ok = gold_long and pred_long and any(
            a.has_long and spans_equal(a.long_answer, pred.long_answer) for a in anns)
        long_stats.append(AnswerStat(gold_long, pred_long, long_ok, pred.long_answer_score))

        pred_short = bool(pred.short_answers) or pred.yes_no_answer != "none"
        short_ok = False
        if gold_short and pred_short:
            if pred.yes_no_answer != "none":
                short_ok = any(a.yes_no_answer == pred.yes_no_answer for a in anns)
            else:
                short_ok = any(span_sets_equal(a.short_answers, pred.short_answers) for a in anns)
        short_stats.append(AnswerStat(gold_short, pred_short, short_ok, pred.short_answers_score))
    return long_stats, short_stats


def _ratio(x, y):
    return x / y if y else 0


def pr_curve(stats: list[AnswerStat]) -> list[PRPoint]:
    """Precision and recall after each group of equal scores, by decreasing score.

    Only examples with a prediction move the curve: one without (or with a null
    answer) adds neither a prediction nor a correct answer, so it cannot change any
    threshold the sweep picks.
    """
    total_gold = sum(s.has_gold for s in stats)
    scored = sorted((s for s in stats if s.has_pred), key=lambda s: s.score, reverse=True)
    points = []
    correct = predicted = 0
    i, n = 0, len(scored)
    while i < n:
        threshold = scored[i].score
        while i < n and scored[i].score == threshold:
            correct += scored[i].is_correct
            predicted += 1
            i += 1
        points.append(PRPoint(threshold, _ratio(correct, predicted), _ratio(correct, total_gold)))
    return points


def _sweep(stats: list[AnswerStat], targets=TARGET_PRECISIONS):
    best = (0.0, 0.0, 0.0, 0.0)  # f1, precision, recall, threshold
    at_target = [[0, 0, None] for _ in targets]  # recall, precision, threshold
    for threshold, precision, recall in pr_curve(stats):
        for t, target in enumerate(targets):
            if precision >= target and recall > at_target[t][0]:
                at_target[t] = [recall, precision, threshold]
        f1 = _ratio(2 * precision * recall, precision + recall)
        if f1 > best[0]:
            best = (f1, precision, recall, threshold)
    return best, at_target


def _metrics_for(stats: list[AnswerStat], prefix: str) -> dict:
    (f1, precision, recall, threshold), at_target = _sweep(stats)
    out = {
        f"{prefix}best-threshold-f1": f1,
        f"{prefix}best-threshold-precision": precision,
        f"{prefix}best-threshold-recall": recall,
        f"{prefix}best-threshold": threshold,
    }
    for target, (r, p, _) in zip(TARGET_PRECISIONS, at_target):
        out[f"{prefix}recall-at-precision>={target:.2}"] = r
        out[f"{prefix}precision-at-precision>={target:.2}"] = p
    return out


def metrics_from_stats(long_stats: list[AnswerStat], short_stats: list[AnswerStat]) -> dict:
    """The official metrics dictionary (same keys, same order, same values)."""
    metrics = _metrics_for(long_stats, "long-")
    metrics.update(_metrics_for(short_stats, "short-"))
    return metrics


def unthresholded_scores(stats: list[AnswerStat]) -> tuple[int, float, float, float]:
    """(n, f1, precision, recall) counting every prediction, whatever its score."""
    correct = sum(s.is_correct for s in stats)
    precision = _ratio(correct, sum(s.has_pred for s in stats))
    recall = _ratio(correct, sum(s.has_gold for s in stats))
    return len(stats), _ratio(2 * precision * recall, precision + recall), precision, recall


def _as_gold(gold: Any, **load_kwargs) -> GoldData:
    if isinstance(gold, GoldData):
        return gold
    if isinstance(gold, (str, os.PathLike)):
        return load_gold(gold, **load_kwargs)
    return gold_from_json(gold)


def _as_predictions(predictions: Any) -> tuple[dict[int, Prediction], str]:
    if isinstance(predictions, (str, os.PathLike)):
        return load_predictions(predictions), os.fspath(predictions)
    if isinstance(predictions, Mapping) and "predictions" not in predictions and all(
            isinstance(p, Prediction) for p in predictions.values()):
        return dict(predictions), "<predictions>"
    return load_predictions(predictions), "<predictions>"


def evaluate_report(gold: Any, predictions: Any, long_non_null_threshold: int = 2,
                    short_non_null_threshold: int = 2, *, cache_gold_data: bool = False,
                    cache_dir: Optional[PathLike] = None, num_threads: int = _DEFAULT_THREADS) -> EvalReport:
    """Like `evaluate`, also returning the per-example statistics (for tables and plots)."""
    gold_data = _as_gold(gold, cache_gold_data=cache_gold_data, cache_dir=cache_dir, num_threads=num_threads)
    preds, source = _as_predictions(predictions)
    long_stats, short_stats = score_answers(gold_data, preds, long_non_null_threshold,
                                            short_non_null_threshold, predictions_source=source)
    return EvalReport(metrics_from_stats(long_stats, short_stats), long_stats, short_stats)


def evaluate(gold: Any, predictions: Any, long_non_null_threshold: int = 2, short_non_null_threshold: int = 2,
             *, cache_gold_data: bool = False, cache_dir: Optional[PathLike] = None,
             num_threads: int = _DEFAULT_THREADS) -> dict:
    """The official NQ metrics dictionary.

    gold: a path / glob / comma list of NQ JSON-lines files (original or simplified, gzipped
      or not), a `GoldData` from `load_gold`, {example_id: [annotation dicts]}, or a list of
      NQ example dicts.
    predictions: a path to the predictions JSON, the parsed {"predictions": [...]} object, a
      list of prediction dicts, or the {example_id: Prediction} dict from `load_predictions`.
    long/short_non_null_threshold: annotators needed for gold to have an answer (2 for the
      5-way dev set, 1 for singly annotated training data).
    Raises `NqEvalError` (a ValueError) on bad gold or predictions.
    """
    return evaluate_report(gold, predictions, long_non_null_threshold, short_non_null_threshold,
                           cache_gold_data=cache_gold_data, cache_dir=cache_dir,
                           num_threads=num_threads).metrics


# --------------------------------------------------------------------------- reports

def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "n/a"
    return format(float(value), spec)


def format_tables(report: EvalReport) -> str:
    """The official --pretty_print text (R@P tables, then metrics ignoring scores)."""
    lines = []
    for title, stats in (("LONG", report.long_stats), ("SHORT", report.short_stats)):
        (f1, precision, recall, threshold), at_target = _sweep(stats)
        lines += ["*" * 20, f"{title} ANSWER R@P TABLE:",
                  f"Optimal threshold: {_fmt(threshold, '.5')}",
                  " F1     /  P      /  R",
                  "{: >7.2%} / {: >7.2%} / {: >7.2%}".format(f1, precision, recall)]
        for target, (r, p, thr) in zip(TARGET_PRECISIONS, at_target):
            lines.append(f"R@P={target}: {r:.2%} (actual p={p:.2%}, score threshold={_fmt(thr, '.4')})")
    n, lf1, lp, lr = unthresholded_scores(report.long_stats)
    _, sf1, sp, sr = unthresholded_scores(report.short_stats)
    lines += ["*" * 20, f"METRICS IGNORING SCORES (n={n}):",
              "              F1     /  P      /  R",
              "Long answer  {: >7.2%} / {: >7.2%} / {: >7.2%}".format(lf1, lp, lr),
              "Short answer {: >7.2%} / {: >7.2%} / {: >7.2%}".format(sf1, sp, sr)]
    return "\n".join(lines)


def _atomic_write(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _import_pyplot_free_matplotlib():
    """The Agg canvas and Figure, without touching pyplot's global backend."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise NqEvalError("--plot_path", None, f"plotting needs matplotlib ({err}); "
                          "install it with: pip install 'nq-baseline[plot]'") from None
    return FigureCanvasAgg, Figure


def render_pr_plot(report: EvalReport) -> bytes:
    """PNG bytes: precision-recall curves of long and short answers, best-F1 points marked."""
    import io

    FigureCanvasAgg, Figure = _import_pyplot_free_matplotlib()
    fig = Figure(figsize=(10, 4.5))
    FigureCanvasAgg(fig)
    for k, (title, stats, prefix) in enumerate((("Long answer", report.long_stats, "long-"),
                                                 ("Short answer", report.short_stats, "short-"))):
        ax = fig.add_subplot(1, 2, k + 1)
        curve = pr_curve(stats)
        if curve:
            ax.plot([p.recall for p in curve], [p.precision for p in curve], drawstyle="steps-post", lw=1.5)
        m = report.metrics
        ax.plot([m[prefix + "best-threshold-recall"]], [m[prefix + "best-threshold-precision"]], "o",
                label=f"best F1 {m[prefix + 'best-threshold-f1']:.3f} "
                      f"@ {_fmt(m[prefix + 'best-threshold'], '.4')}")
        for target in TARGET_PRECISIONS:
            ax.axhline(target, color="grey", lw=0.5, ls=":")
        ax.set(title=title, xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
        ax.legend(loc="lower left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


# --------------------------------------------------------------------------- command line

def _define_flags() -> None:
    """Defines the flags once, at run time: importing this module defines none, so it can
    share a process with the official scorer (which owns some of these names)."""
    from absl import flags

    def define(kind, name, default, help_text):
        if name not in flags.FLAGS:
            getattr(flags, f"DEFINE_{kind}")(name, default, help_text)

    define("string", "gold_path", None, "Gold NQ JSON lines (.jsonl or .jsonl.gz, original or simplified "
           "format): a path, a glob (e.g. 'nq-dev-0?.jsonl.gz') or a comma-separated list.")
    define("string", "predictions_path", None, "Predictions JSON: {\"predictions\": [...]}.")
    define("bool", "cache_gold_data", False, "Keep the decoded gold annotations in a small cache file "
           "(next to the gold files, else --cache_dir or ~/.cache/nq_baseline) to speed up later runs.")
    define("string", "cache_dir", None, "Directory for the gold cache (default: beside the gold files).")
    define("integer", "num_threads", _DEFAULT_THREADS, "Threads reading several gold files at once.")
    define("bool", "pretty_print", False, "Print the R@P tables instead of the metrics JSON.")
    define("string", "output_path", None, "Also write the metrics JSON to this file.")
    define("string", "plot_path", None, "Write precision-recall curves (PNG) to this file (needs matplotlib).")
    define("integer", "long_non_null_threshold", 2, "Annotators with a non-null long answer needed for the "
           "gold to have a long answer (2 for 5-way dev data, 1 for single annotations).")
    define("integer", "short_non_null_threshold", 2, "Annotators with a non-null short answer or yes/no "
           "needed for the gold to have a short answer.")


def _fail(message: str) -> int:
    print(f"nq_eval: error: {message}", file=sys.stderr)
    return 2


def main(argv) -> int:
    from absl import flags

    f = flags.FLAGS
    if len(argv) > 1:
        return _fail(f"unexpected arguments: {' '.join(argv[1:])}")
    for name in ("gold_path", "predictions_path"):
        if not f[name].value:
            return _fail(f"--{name} is required")
    try:
        report = evaluate_report(f.gold_path, f.predictions_path, f.long_non_null_threshold,
                                 f.short_non_null_threshold, cache_gold_data=f.cache_gold_data,
                                 cache_dir=f.cache_dir, num_threads=f.num_threads)
        png = render_pr_plot(report) if f.plot_path else None
        if f.output_path:
            _atomic_write(f.output_path, (json.dumps(report.metrics, indent=2) + "\n").encode())
        if png is not None:
            _atomic_write(f.plot_path, png)
    except (NqInputError, OSError) as err:
        return _fail(str(err))
    if f.pretty_print:
        print(format_tables(report))
    else:
        print(json.dumps(report.metrics))
    return 0


def run() -> None:
    """Console script entry point (`nq_eval`)."""
    from absl import app

    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
