"""Reading Natural Questions files: both the original and the simplified format.

Stage 1 of the pipeline (jsonl -> documents).  Files are streamed line by line
(`.jsonl` or `.jsonl.gz`, a glob or a comma-separated list), every line becomes one
`NqDocument`, and any defect (truncated gzip, a line that is not JSON, a missing field,
offsets out of range) raises `NqInputError` naming the file and the 1-based line.

The two formats map to one representation:
- ORIGINAL: `document_tokens` carry `token`, `html_token`, `start_byte`, `end_byte`;
  candidates and annotations carry byte offsets too.
- SIMPLIFIED: `document_text` split on single spaces; a token is HTML when it looks
  like a tag (`<P>`, `</Table>`, ...); there are no byte offsets (they stay -1).

`example_id` is kept as a Python int (64-bit) everywhere.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import os
import re
import zlib
from typing import Iterator, Optional

import orjson

_HTML_TOKEN_RE = re.compile(r"^</?[A-Za-z][A-Za-z0-9]*( [^>]*)?/?>$")


class NqInputError(ValueError):
    """Bad input: carries the file and 1-based line it was found at."""

    def __init__(self, path: str, line: Optional[int], message: str):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.reason = message

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.line, self.reason))


@dataclasses.dataclass
class Candidate:
    start_token: int
    end_token: int  # exclusive
    top_level: bool
    start_byte: int = -1
    end_byte: int = -1


@dataclasses.dataclass
class ShortSpan:
    start_token: int
    end_token: int  # exclusive
    start_byte: int = -1
    end_byte: int = -1


@dataclasses.dataclass
class Annotation:
    candidate_index: int  # -1: no long answer
    long_start_token: int
    long_end_token: int
    short_answers: list[ShortSpan]
    yes_no_answer: str  # "YES", "NO" or "NONE"
    long_start_byte: int = -1
    long_end_byte: int = -1

    @property
    def has_long_answer(self) -> bool:
        return self.long_start_token >= 0 and self.long_end_token >= 0


@dataclasses.dataclass
class NqDocument:
    """One NQ example, format-independent."""

    example_id: int
    question_text: str
    title: str
    tokens: list[str]
    is_html: list[bool]
    candidates: list[Candidate]
    annotations: list[Annotation]
    start_bytes: Optional[list[int]] = None  # original format only
    end_bytes: Optional[list[int]] = None
    simplified: bool = False


def is_html_token(token: str) -> bool:
    """Simplified format: a token is HTML when it looks like a tag."""
    return bool(_HTML_TOKEN_RE.match(token))


def expand_paths(pattern: str) -> list[str]:
    """A path, a glob, or a comma-separated list of either -> sorted, existing files."""
    paths: list[str] = []
    for part in pattern.split(","):
        part = part.strip()
        if not part:
            continue
        matches = sorted(glob.glob(part))
        if not matches:
            raise NqInputError(part, None, "no such file (or the glob matched nothing)")
        paths.extend(matches)
    return paths


def iter_lines(pattern: str) -> Iterator[tuple[str, int, bytes]]:
    """Streams (path, 1-based line number, raw line) over every file of `pattern`."""
    for path in expand_paths(pattern):
        opener = gzip.open if _is_gzip(path) else open
        line_no = 0
        try:
            with opener(path, "rb") as handle:
                for raw in handle:
                    line_no += 1
                    if raw.strip():
                        yield path, line_no, raw
        except (EOFError, OSError, zlib.error) as err:
            raise NqInputError(path, line_no + 1, f"unreadable input ({err})") from err


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _field(obj: dict, key: str, path: str, line: int, what: str = "example"):
    try:
        return obj[key]
    except (KeyError, TypeError):
        raise NqInputError(path, line, f"{what} lacks the field '{key}'") from None


def parse_line(raw: bytes, path: str = "<memory>", line: int = 1) -> NqDocument:
    """One JSON line of either format -> NqDocument (validated)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise NqInputError(path, line, f"not valid JSON ({err})") from None
    if not isinstance(obj, dict):
        raise NqInputError(path, line, "a line must hold one JSON object")
    return document_from_json(obj, path, line)


def document_from_json(obj: dict, path: str = "<memory>", line: int = 1) -> NqDocument:
    example_id = _field(obj, "example_id", path, line)
    try:
        example_id = int(example_id)
    except (TypeError, ValueError):
        raise NqInputError(path, line, f"example_id {example_id!r} is not an integer") from None
    question = _field(obj, "question_text", path, line)
    starts = ends = None
    if "document_tokens" in obj:
        doc_tokens = obj["document_tokens"]
        try:
            tokens = [t["token"] for t in doc_tokens]
            is_html = [bool(t["html_token"]) for t in doc_tokens]
            starts = [int(t.get("start_byte", -1)) for t in doc_tokens]
            ends = [int(t.get("end_byte", -1)) for t in doc_tokens]
        except (KeyError, TypeError) as err:
            raise NqInputError(path, line, f"a document token lacks the field {err}") from None
        simplified = False
        title = obj.get("document_title", "")
    elif "document_text" in obj:
        tokens = obj["document_text"].split(" ")
        is_html = [is_html_token(t) for t in tokens]
        simplified = True
        title = obj.get("document_title", "")
    else:
        raise NqInputError(path, line, "example lacks both 'document_tokens' and 'document_text'")
    n = len(tokens)

    candidates = []
    for i, c in enumerate(_field(obj, "long_answer_candidates", path, line)):
        try:
            cand = Candidate(int(c["start_token"]), int(c["end_token"]), bool(c.get("top_level", True)),
                             int(c.get("start_byte", -1)), int(c.get("end_byte", -1)))
        except (KeyError, TypeError) as err:
            raise NqInputError(path, line, f"long_answer_candidates[{i}] lacks the field {err}") from None
        if not 0 <= cand.start_token < cand.end_token <= n:
            raise NqInputError(
                path, line, f"long_answer_candidates[{i}] tokens [{cand.start_token}, {cand.end_token}) "
                f"out of range for a document of {n} tokens")
        candidates.append(cand)

    annotations = []
    for i, a in enumerate(obj.get("annotations", [])):
        try:
            la = a["long_answer"]
            shorts = [ShortSpan(int(s["start_token"]), int(s["end_token"]),
                                int(s.get("start_byte", -1)), int(s.get("end_byte", -1)))
                      for s in a.get("short_answers", [])]
            ann = Annotation(int(la.get("candidate_index", -1)), int(la["start_token"]), int(la["end_token"]),
                             shorts, str(a.get("yes_no_answer", "NONE")).upper(),
                             int(la.get("start_byte", -1)), int(la.get("end_byte", -1)))
        except (KeyError, TypeError) as err:
            raise NqInputError(path, line, f"annotations[{i}] lacks the field {err}") from None
        if ann.yes_no_answer not in ("YES", "NO", "NONE"):
            raise NqInputError(path, line, f"annotations[{i}] yes_no_answer {ann.yes_no_answer!r} "
                               "is not YES, NO or NONE")
        if ann.candidate_index >= len(candidates):
            raise NqInputError(path, line, f"annotations[{i}] candidate_index {ann.candidate_index} "
                               f"out of range ({len(candidates)} candidates)")
        for s in shorts:
            if not 0 <= s.start_token < s.end_token <= n:
                raise NqInputError(path, line, f"annotations[{i}] short answer tokens "
                                   f"[{s.start_token}, {s.end_token}) out of range ({n} tokens)")
        annotations.append(ann)

    return NqDocument(example_id=example_id, question_text=str(question), title=str(title), tokens=tokens,
                      is_html=is_html, candidates=candidates, annotations=annotations,
                      start_bytes=starts, end_bytes=ends, simplified=simplified)


def read_documents(pattern: str, skip_bad: bool = False, stats: Optional[dict] = None
                   ) -> Iterator[NqDocument]:
    """Streams NqDocuments from `pattern`; with skip_bad, bad lines are counted in stats['num_skipped']."""
    for path, line_no, raw in iter_lines(pattern):
        try:
            yield parse_line(raw, path, line_no)
        except NqInputError:
            if not skip_bad:
                raise
            if stats is not None:
                stats["num_skipped"] = stats.get("num_skipped", 0) + 1


def display_path(path: str) -> str:
    return os.path.relpath(path) if not path.startswith("..") else path
