"""What the page shows beside an answer: the document as blocks of words, its gold answers, and
the NQ examples of --examples_file that "random example" draws from."""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

import orjson

from nq_baseline.reading import source_text


def document_view(tokenized) -> dict:
    """The document as the page shows it: blocks of words (one block per run of words
    between two HTML tokens), each word [token index, its text, the text before it] so that
    the words of a span with their separators read exactly as the Reader's span text; the
    gold answers of an annotated NQ example; how many paragraphs (long-answer candidates)
    there are and were read.

    A block's tag is that of the HTML token opening it. The words of a page's `<title>` (NQ
    keeps them as the page's first words, and so does `html_page`) are a block tagged
    "title", which the page shows as the document's heading: on an NQ page the words before
    its first tag, on an HTML page the words inside its `<title>` element."""
    doc, source = tokenized.doc, tokenized.source
    # prev: the last word read, across blocks, so that a block's first word carries the
    # space the Reader's span text puts between two blocks
    blocks, words, prev, prev_text = [], [], None, ""
    in_title = _title_words(tokenized)
    tag = "title" if in_title(0) else "p"
    for i, is_html in enumerate(doc.is_html):
        if is_html:
            if words:
                blocks.append({"tag": tag, "words": words})
                words = []
            tag = _tag_name(doc.tokens[i]) or ("p" if tag == "title" else tag)
            continue
        if tag == "title" and not in_title(i):
            if words:
                blocks.append({"tag": tag, "words": words})
                words = []
            tag = "p"
        text = source_text.text_of(doc, i, i + 1, source)
        sep = ""
        if prev is not None:
            both = source_text.text_of(doc, prev, i + 1, source)
            sep = " " if len(both) > len(text) + len(prev_text) else ""
        words.append([i, text, sep])
        prev, prev_text = i, text
    if words:
        blocks.append({"tag": tag, "words": words})
    return {"kind": tokenized.kind, "title": doc.title, "num_tokens": len(doc.tokens), "blocks": blocks,
            "paragraphs_total": tokenized.contexts_total, "paragraphs_read": tokenized.contexts_read,
            "gold": [_gold(doc, a) for a in doc.annotations] if tokenized.kind == "nq" else []}


_TAG_NAME_RE = re.compile(r"<([A-Za-z][A-Za-z0-9]*)")
_TITLE_ELEMENT_RE = re.compile(rb"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def _title_words(tokenized):
    """token index -> whether it is a word of the page's `<title>`."""
    doc = tokenized.doc
    if tokenized.kind == "nq":
        end = _nq_title_end(doc)
        return lambda i: i < end
    m = _TITLE_ELEMENT_RE.search(tokenized.source) if tokenized.kind == "html" and tokenized.source else None
    if m is None or doc.start_bytes is None:
        return lambda i: False
    lo, hi = m.span(1)
    return lambda i: i < len(doc.tokens) and lo <= doc.start_bytes[i] < hi


def _tag_name(token: str) -> str:
    """`<Td colspan="2">`, `<Td_colspan="2">` -> td; closing tags give no new block style."""
    m = _TAG_NAME_RE.match(token)
    return m.group(1).lower() if m else ""


def _gold(doc, annotation) -> dict:
    n = len(doc.tokens)

    def span(start: int, end: int) -> Optional[dict]:
        if not 0 <= start < end <= n:
            return None
        return {"start_token": start, "end_token": end, "text": source_text.text_of(doc, start, end)}

    return {"long_answer": span(annotation.long_start_token, annotation.long_end_token),
            "short_answers": [s for s in (span(a.start_token, a.end_token) for a in annotation.short_answers) if s],
            "yes_no_answer": annotation.yes_no_answer}


def _nq_title_end(doc) -> int:
    """Where an NQ page's <title> words end: NQ keeps them as the words before its first tag."""
    return next((i for i, h in enumerate(doc.is_html) if h), len(doc.tokens))


def _page_title(doc, limit: int = 200) -> str:
    """The words of an NQ page's <title>: simplified examples have no document_title."""
    return " ".join(doc.tokens[:_nq_title_end(doc)])[:limit]


@dataclasses.dataclass(frozen=True)
class Example:
    example_id: int
    question: str
    title: str
    line: str  # the example's JSON line, as the page posts it back
    annotated: bool


def load_examples(path: str, max_examples: int, max_request_bytes: int) -> tuple[list[Example], int]:
    """The first `max_examples` examples of an NQ jsonl(.gz) file that fit in a request
    (posted back as a JSON string); (examples, how many were left out as too large).
    NqInputError names the file and line of a bad one."""
    from nq_baseline.common.inputs import iter_lines
    from nq_baseline.reading.nq_data import parse_line

    examples, too_large = [], 0
    for p, line_no, raw in iter_lines(path):
        doc = parse_line(raw, p, line_no)
        line = raw.decode("utf-8").rstrip("\r\n")
        if len(orjson.dumps({"question": doc.question_text, "nq_example": line, "document_view": True})) \
                > max_request_bytes:
            too_large += 1
            continue
        examples.append(Example(doc.example_id, doc.question_text, doc.title or _page_title(doc), line,
                                bool(doc.annotations)))
        if len(examples) >= max_examples:
            break
    return examples, too_large
