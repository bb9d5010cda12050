"""The source of a user's document (HTML or text): its bytes and limits, and for whoever shows
answers the text of a token span (`text_of`), a byte span in characters (`char_offsets`), and
whether a string looks like HTML (`looks_like_html`).
"""

from __future__ import annotations

import html as _html
from typing import Optional, Union

import numpy as np
import regex

from nq_baseline.common.errors import NqInputError
from nq_baseline.reading.nq_data import NqDocument

Source = Union[str, bytes]


def _check_limit(max_document_bytes: Optional[int]) -> None:
    if max_document_bytes is None:
        return
    if not isinstance(max_document_bytes, int) or isinstance(max_document_bytes, bool) or max_document_bytes < 1:
        raise ValueError(f"max_document_bytes must be a positive integer or None, got {max_document_bytes!r}")


def decode_source(data: Source, source: str, max_document_bytes: Optional[int]) -> tuple[str, bytes]:
    """str or UTF-8 bytes -> (text, its UTF-8 bytes); NqInputError for anything else."""
    _check_limit(max_document_bytes)
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if max_document_bytes is not None and len(raw) > max_document_bytes:
            raise NqInputError(source, None, f"document is {len(raw)} bytes, over the limit of "
                                             f"{max_document_bytes} bytes (max_document_bytes)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise NqInputError(source, None, f"document is not UTF-8 (byte offset {err.start}: "
                                             f"{err.reason})") from None
        return text, raw
    if not isinstance(data, str):
        raise TypeError(f"a document must be str or bytes, got {type(data).__name__}")
    try:
        raw = data.encode("utf-8")
    except UnicodeEncodeError as err:
        raise NqInputError(source, None, f"document is not valid Unicode (character offset {err.start}: "
                                         f"{err.reason})") from None
    if max_document_bytes is not None and len(raw) > max_document_bytes:
        raise NqInputError(source, None, f"document is {len(raw)} bytes, over the limit of "
                                         f"{max_document_bytes} bytes (max_document_bytes)")
    return data, raw


def byte_offsets(text: str) -> list[int]:
    """UTF-8 byte offset of every character of `text`, and of its end (len(text) + 1 values)."""
    if text.isascii():
        return list(range(len(text) + 1))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    sizes = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
    offsets = np.zeros(len(codes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return offsets.tolist()


def char_offsets(doc_source: Source, start_byte: int, end_byte: int) -> tuple[int, int]:
    """A byte span of the UTF-8 source -> the same span in characters of the decoded source
    (what a browser or a Python str indexes).  ValueError for a span out of range or one
    that cuts a character."""
    data = doc_source.encode("utf-8") if isinstance(doc_source, str) else bytes(doc_source)
    if not 0 <= start_byte <= end_byte <= len(data):
        raise ValueError(f"byte span [{start_byte}, {end_byte}) out of range for a source of {len(data)} bytes")
    try:
        start_char = len(data[:start_byte].decode("utf-8"))
        return start_char, start_char + len(data[start_byte:end_byte].decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"byte span [{start_byte}, {end_byte}) cuts a UTF-8 character") from None


_TAG_RE = regex.compile(r"<!--.*?(?:-->|\Z)|<[^>]*>", regex.DOTALL)  # comments, then tags


def text_of(doc: NqDocument, start_token: int, end_token: int, source: Optional[Source] = None) -> str:
    """The words of tokens [start_token, end_token) without tags, as the source had them.

    With `source` (the document's HTML or text) each word is its source text (entities
    decoded, inline tags removed: `"` rather than `` `` ``) and two words are joined by a
    space when the source has white space or dropped text between them, by nothing when
    it has none (`Earth's`, `tropics,`).  Without it, words are joined by a space where
    their byte spans are apart, by nothing where they touch, and by spaces when the
    document has no byte offsets (simplified format). Words of two blocks (an html token
    between them: table cells, list items, paragraphs) are always apart."""
    if not 0 <= start_token <= end_token <= len(doc.tokens):
        raise ValueError(f"token range [{start_token}, {end_token}) out of range for {len(doc.tokens)} tokens")
    words = [i for i in range(start_token, end_token) if not doc.is_html[i]]
    if doc.start_bytes is None or doc.end_bytes is None or any(doc.start_bytes[i] < 0 for i in words):
        return " ".join(doc.tokens[i] for i in words)
    data = None
    if source is not None:
        data = source.encode("utf-8") if isinstance(source, str) else bytes(source)
    out: list[str] = []
    prev, prev_end = None, None
    for i in words:
        start, end = doc.start_bytes[i], doc.end_bytes[i]
        if prev_end is not None:
            if i > prev + 1 and any(doc.is_html[prev + 1:i]):  # another block
                apart = True
            elif data is None:
                apart = start > prev_end
            else:
                apart = bool(_source_text(data, prev_end, start))
            if apart:
                out.append(" ")
        out.append(doc.tokens[i] if data is None else collapse(_source_text(data, start, end)) or doc.tokens[i])
        prev, prev_end = i, end
    return "".join(out)


def _source_text(data: bytes, start: int, end: int) -> str:
    """The text of source bytes [start, end) with tags removed and entities decoded."""
    return _html.unescape(_TAG_RE.sub("", data[start:end].decode("utf-8", errors="replace")))


_HTML_START_RE = regex.compile(r"\A[\s\ufeff]*(?:<!doctype\s+html|<html[\s>]|<!--)", regex.IGNORECASE)
_HTML_TAG_RE = regex.compile(
    r"</?(?:a|abbr|article|aside|b|blockquote|body|br|caption|center|code|dd|div|dl|dt|em|footer|form|"
    r"h[1-6]|head|header|hr|html|i|img|li|link|main|meta|nav|ol|p|pre|script|section|span|strong|style|"
    r"sub|sup|table|tbody|td|th|thead|title|tr|u|ul)(?:\s[^<>]*)?/?>", regex.IGNORECASE)


def looks_like_html(s: Source) -> bool:
    """Whether a string of unknown kind is HTML: it starts like a page (`<!DOCTYPE html>`,
    `<html>`, a comment) or holds a tag of a common HTML element (`<p>`, `</div>`, `<br/>`)."""
    if isinstance(s, (bytes, bytearray, memoryview)):
        s = bytes(s).decode("utf-8", errors="replace")
    return bool(_HTML_START_RE.match(s) or _HTML_TAG_RE.search(s))


def collapse(text: str) -> str:
    return " ".join(text.split())
