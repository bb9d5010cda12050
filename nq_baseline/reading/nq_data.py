"""Reading Natural Questions files: both the original and the simplified format.

Stage 1 of the pipeline (jsonl -> documents).  Files are streamed line by line
(`.jsonl` or `.jsonl.gz`, a glob or a comma-separated list), every line becomes one
`NqDocument`, and any defect (truncated gzip, a line that is not JSON, a missing field,
offsets out of range) raises `NqInputError` naming the file and the 1-based line.

Labels are never lost silently: an `example_id` outside the signed 64-bit range (records
hold int64), a long answer whose token span is neither null (-1, -1) with candidate_index
-1 nor exactly its candidate's span, and, for training (`training=True`), an example
without `annotations` (a test-set example) are refused.

The two formats map to one representation:
- ORIGINAL: `document_tokens` carry `token`, `html_token`, `start_byte`, `end_byte`;
  candidates and annotations carry byte offsets too.
- SIMPLIFIED: `document_text` split on single spaces; a token is HTML when it looks
  like a tag (`<P>`, `</Table>`, `<Th_colspan="2">`: the simplification replaced the blanks
  inside a token by `_`); there are no byte offsets (they stay -1).

`example_id` is kept as a Python int (64-bit) everywhere.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import re
from typing import Iterator, Optional, Sequence, Union

import msgspec

from nq_baseline.common.errors import NqInputError  # noqa: F401  (re-exported: nq_data.NqInputError)
from nq_baseline.common.inputs import iter_lines
from nq_baseline.common.ids import in_int64

# A tag: `<P>`, `</Table>`, `<Th colspan="2">`, and the simplified format's spelling of a tag with
# attributes, whose blanks NQ's simplification turned into underscores: `<Th_colspan="2">`.
_HTML_TOKEN_RE = re.compile(r"^</?[A-Za-z][A-Za-z0-9]*(?:(?: |_(?=[A-Za-z][A-Za-z0-9_:-]*=))[^>]*)?/?>$")


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

    def token_text(self, index: int) -> str:
        return self.tokens[index]

    def text_tokens(self, start: int, end: int) -> tuple[list[int], list[str]]:
        """(indices, texts) of the tokens of [start, end) that are not HTML."""
        positions = list(itertools.filterfalse(self.is_html.__getitem__, range(start, end)))
        return positions, list(map(self.tokens.__getitem__, positions))


class _DecodedDocument(NqDocument):
    """An NqDocument of the original format read for features: its `tokens` and `is_html`
    lists are made from the decoded token structs the first time they are asked for. Until
    then `token_text` and `text_tokens` read the structs of the tokens asked for alone, since
    features read only their candidates' tokens (often under half a page). Once the lists
    exist they are what every method reads."""

    @classmethod
    def of(cls, decoded_tokens: list, **fields) -> "_DecodedDocument":
        doc = object.__new__(cls)  # every field but tokens and is_html, set as __init__ would
        doc.__dict__.update(fields, _decoded_tokens=decoded_tokens)
        return doc

    def __getattr__(self, name: str):  # called only while `tokens` or `is_html` is not yet made
        decoded = self.__dict__.get("_decoded_tokens")
        if name not in ("tokens", "is_html") or decoded is None:
            raise AttributeError(name)
        self.tokens, self.is_html = _token_lists(decoded)
        return self.__dict__[name]

    def __eq__(self, other):  # field by field, as NqDocument's own (which refuses another class)
        if not isinstance(other, NqDocument):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in dataclasses.fields(NqDocument))

    def token_text(self, index: int) -> str:
        if "tokens" in self.__dict__:
            return super().token_text(index)
        return self._decoded_tokens[index].token

    def text_tokens(self, start: int, end: int) -> tuple[list[int], list[str]]:
        if "tokens" in self.__dict__:
            return super().text_tokens(start, end)
        part = self._decoded_tokens[start:end]
        text = list(map(operator.not_, map(_HTML, part)))
        return list(itertools.compress(range(start, end), text)), list(map(_TOKEN, itertools.compress(part, text)))


def is_html_token(token: str) -> bool:
    """Simplified format: a token is HTML when it looks like a tag, attributes joined by `_`
    (`<Td_colspan="2">`) as NQ's simplified files spell them, or by a blank."""
    return bool(_HTML_TOKEN_RE.match(token))


class _Token(msgspec.Struct, gc=False):
    token: str
    html_token: bool
    start_byte: int = -1
    end_byte: int = -1


class _Candidate(msgspec.Struct, gc=False):
    start_token: int
    end_token: int
    top_level: bool = True
    start_byte: int = -1
    end_byte: int = -1


class _Span(msgspec.Struct, gc=False):
    start_token: int
    end_token: int
    start_byte: int = -1
    end_byte: int = -1


class _LongAnswer(msgspec.Struct, gc=False):
    start_token: int
    end_token: int
    candidate_index: int = -1
    start_byte: int = -1
    end_byte: int = -1


class _Annotation(msgspec.Struct, gc=False):
    long_answer: _LongAnswer
    short_answers: list[_Span] = []
    yes_no_answer: str = "NONE"


class _Example(msgspec.Struct, gc=False):
    """The fields we read; msgspec skips the rest (document_html, question_tokens...) unparsed."""

    example_id: Union[int, str]
    question_text: str
    long_answer_candidates: list[_Candidate]
    document_tokens: Optional[list[_Token]] = None
    document_text: Optional[str] = None
    document_title: str = ""
    annotations: Optional[list[_Annotation]] = None  # None: absent (test-set examples)


class _TextToken(msgspec.Struct, gc=False):
    """A document token without its byte offsets (features need none: they are skipped unbuilt)."""

    token: str
    html_token: bool


class _TextExample(msgspec.Struct, gc=False):
    """_Example with _TextTokens: the fields that features are made of."""

    example_id: Union[int, str]
    question_text: str
    long_answer_candidates: list[_Candidate]
    document_tokens: Optional[list[_TextToken]] = None
    document_text: Optional[str] = None
    document_title: str = ""
    annotations: Optional[list[_Annotation]] = None


_DECODER = msgspec.json.Decoder(_Example)
_TEXT_DECODER = msgspec.json.Decoder(_TextExample)
_TOKEN, _HTML = operator.attrgetter("token"), operator.attrgetter("html_token")
_START, _END = operator.attrgetter("start_byte"), operator.attrgetter("end_byte")


def _token_lists(decoded: list) -> tuple[list[str], list[bool]]:
    """The texts and HTML flags of decoded document tokens."""
    return list(map(_TOKEN, decoded)), list(map(_HTML, decoded))


_MISSING_RE = re.compile(r"Object missing required field `([^`]*)`(?: - at `\$(.*)`)?")


def _validation_message(err: Exception) -> str:
    text = str(err)
    m = _MISSING_RE.match(text)
    if m:
        where = m.group(2) or ""
        return f"{'example' if not where else where.lstrip('.')} lacks the field '{m.group(1)}'"
    return text


def parse_line(raw: bytes, path: str = "<memory>", line: int = 1, training: bool = False,
               byte_offsets: bool = True) -> NqDocument:
    """One JSON line of either format -> NqDocument (validated). `training`: the example must
    carry its annotations (a test-set example has none: it cannot give labels).
    `byte_offsets=False`: the tokens' byte offsets are neither read nor kept (start_bytes and
    end_bytes are None), as for features, which never use them."""
    try:
        obj = (_DECODER if byte_offsets else _TEXT_DECODER).decode(raw)
    except msgspec.ValidationError as err:
        raise NqInputError(path, line, _validation_message(err)) from None
    except msgspec.DecodeError as err:
        raise NqInputError(path, line, f"not valid JSON ({err})") from None
    return _to_document(obj, path, line, training)


def document_from_json(obj: dict, path: str = "<memory>", line: int = 1, training: bool = False) -> NqDocument:
    """A parsed JSON object (dict) of either format -> NqDocument (`training`: as parse_line)."""
    try:
        ex = msgspec.convert(obj, _Example)
    except msgspec.ValidationError as err:
        raise NqInputError(path, line, _validation_message(err)) from None
    return _to_document(ex, path, line, training)


def _example_id(value: Union[int, str], path: str, line: int) -> int:
    """The id as an int; NQ ids are signed 64-bit (records hold them as int64)."""
    try:
        example_id = int(value)
    except ValueError:
        raise NqInputError(path, line, f"example_id {value!r} is not an integer") from None
    if not in_int64(example_id):
        raise NqInputError(path, line, f"example_id {example_id} is outside the signed 64-bit range "
                           "[-2^63, 2^63)")
    return example_id


def _long_answer_error(la: "_LongAnswer", candidates: list[Candidate], n: int) -> Optional[str]:
    """Why a long answer is inconsistent (None when it is fine): its token span must be null
    (-1, -1) with candidate_index -1, or lie in the document and be its candidate's span."""
    span, index = (la.start_token, la.end_token), la.candidate_index
    if span == (-1, -1):
        return None if index == -1 else f"has candidate_index {index} but a null span (-1, -1)"
    if not 0 <= span[0] < span[1] <= n:
        return f"tokens [{span[0]}, {span[1]}) are neither null (-1, -1) nor in the document ({n} tokens)"
    if not 0 <= index < len(candidates):
        return f"tokens [{span[0]}, {span[1]}) but candidate_index {index} (no candidate)"
    c = candidates[index]
    if (c.start_token, c.end_token) != span:
        return (f"tokens [{span[0]}, {span[1]}) are not those of its candidate {index} "
                f"[{c.start_token}, {c.end_token})")
    return None


def _to_document(obj: Union[_Example, _TextExample], path: str, line: int, training: bool = False) -> NqDocument:
    example_id = _example_id(obj.example_id, path, line)
    if training and not obj.annotations:
        raise NqInputError(path, line, "training example without 'annotations' (a test-set example?): "
                           "its labels are unknown; use --is_training=false for prediction features")
    starts = ends = tokens = is_html = None
    decoded = obj.document_tokens
    if decoded is not None:
        if isinstance(obj, _Example):
            tokens, is_html = _token_lists(decoded)
            starts, ends = list(map(_START, decoded)), list(map(_END, decoded))
        n, simplified = len(decoded), False
    elif obj.document_text is not None:
        tokens = obj.document_text.split(" ")
        is_html = [is_html_token(t) for t in tokens]
        n, simplified = len(tokens), True
    else:
        raise NqInputError(path, line, "example lacks both 'document_tokens' and 'document_text'")

    candidates = []
    for i, c in enumerate(obj.long_answer_candidates):
        if not 0 <= c.start_token < c.end_token <= n:
            raise NqInputError(
                path, line, f"long_answer_candidates[{i}] tokens [{c.start_token}, {c.end_token}) "
                f"out of range for a document of {n} tokens")
        candidates.append(Candidate(c.start_token, c.end_token, c.top_level, c.start_byte, c.end_byte))

    annotations = []
    for i, a in enumerate(obj.annotations or ()):
        la = a.long_answer
        yes_no = a.yes_no_answer.upper()
        if yes_no not in ("YES", "NO", "NONE"):
            raise NqInputError(path, line, f"annotations[{i}] yes_no_answer {a.yes_no_answer!r} "
                               "is not YES, NO or NONE")
        if la.candidate_index >= len(candidates) or la.candidate_index < -1:
            raise NqInputError(path, line, f"annotations[{i}] candidate_index {la.candidate_index} "
                               f"out of range ({len(candidates)} candidates)")
        why = _long_answer_error(la, candidates, n)
        if why is not None:
            raise NqInputError(path, line, f"annotations[{i}].long_answer {why}")
        shorts = []
        for s in a.short_answers:
            if not 0 <= s.start_token < s.end_token <= n:
                raise NqInputError(path, line, f"annotations[{i}] short answer tokens "
                                   f"[{s.start_token}, {s.end_token}) out of range ({n} tokens)")
            shorts.append(ShortSpan(s.start_token, s.end_token, s.start_byte, s.end_byte))
        annotations.append(Annotation(la.candidate_index, la.start_token, la.end_token, shorts, yes_no,
                                      la.start_byte, la.end_byte))

    fields = dict(example_id=example_id, question_text=obj.question_text, title=obj.document_title,
                  candidates=candidates, annotations=annotations, start_bytes=starts, end_bytes=ends,
                  simplified=simplified)
    if tokens is None:  # the original format without byte offsets: features' own reading
        return _DecodedDocument.of(decoded, **fields)
    return NqDocument(tokens=tokens, is_html=is_html, **fields)


class _ExampleHead(msgspec.Struct, gc=False):
    """The id and candidates of an example: everything else (the document) is skipped unparsed."""

    example_id: Union[int, str]
    long_answer_candidates: list[_Candidate]


_HEAD_DECODER = msgspec.json.Decoder(_ExampleHead)


@dataclasses.dataclass(frozen=True)
class ExampleHead:
    """What post-processing needs of an example: its id and long-answer candidates (and,
    from `lexical.read_heads_with_scores`, each candidate's BM25 score for the question)."""

    example_id: int
    candidates: list[Candidate]
    lexical_scores: Optional[Sequence[float]] = None


def parse_head(raw: bytes, path: str = "<memory>", line: int = 1) -> ExampleHead:
    """One JSON line -> its ExampleHead, without decoding the document tokens."""
    try:
        obj = _HEAD_DECODER.decode(raw)
    except msgspec.ValidationError as err:
        raise NqInputError(path, line, _validation_message(err)) from None
    except msgspec.DecodeError as err:
        raise NqInputError(path, line, f"not valid JSON ({err})") from None
    example_id = _example_id(obj.example_id, path, line)
    return ExampleHead(example_id, [Candidate(c.start_token, c.end_token, c.top_level, c.start_byte, c.end_byte)
                                    for c in obj.long_answer_candidates])


def read_example_heads(pattern: str, skip_bad: bool = False) -> Iterator[ExampleHead]:
    """Streams the ExampleHead of every example of `pattern`, in file order.

    With `skip_bad`, a line is kept only when it passes the full validation of
    `parse_line`, so the heads are exactly the examples `read_documents(skip_bad=True)`
    (and prepare) keep; without it the fast path never decodes a document."""
    for path, line_no, raw in iter_lines(pattern):
        if not skip_bad:
            yield parse_head(raw, path, line_no)
            continue
        try:
            doc = parse_line(raw, path, line_no)
        except NqInputError:
            continue
        yield ExampleHead(doc.example_id, doc.candidates)


def iter_documents(pattern: str, skip_bad: bool = False) -> Iterator[tuple[str, int, NqDocument]]:
    """Streams (path, 1-based line, NqDocument) from `pattern`; with skip_bad, bad lines are left out."""
    for path, line_no, raw in iter_lines(pattern):
        try:
            yield path, line_no, parse_line(raw, path, line_no)
        except NqInputError:
            if not skip_bad:
                raise


def read_documents(pattern: str, skip_bad: bool = False) -> Iterator[NqDocument]:
    """Streams NqDocuments from `pattern`; with skip_bad, bad lines are left out."""
    for _, _, doc in iter_documents(pattern, skip_bad):
        yield doc
