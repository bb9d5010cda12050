"""What the page shows beside an answer: the document as blocks of words, its gold answers, and
the NQ examples of --examples_file that "random example" draws from."""

from __future__ import annotations

import dataclasses
from typing import Optional

import orjson

from nq_baseline.reading import source_text


def document_view(tokenized) -> dict:
    """The document as the page shows it: blocks of words (one block per run of words
    between two HTML tokens), each word [token index, its text, the text before it] so that
    the words of a span with their separators read exactly as the Reader's span text; and
    the gold answers of an annotated NQ example."""
    doc, source = tokenized.doc, tokenized.source
    blocks, words, tag, prev = [], [], "p", None
    for i, is_html in enumerate(doc.is_html):
        if is_html:
            if words:
                blocks.append({"tag": tag, "words": words})
                words, prev = [], None
            tag = _tag_name(doc.tokens[i]) or tag
            continue
        text = source_text.text_of(doc, i, i + 1, source)
        sep = ""
        if prev is not None:
            both = source_text.text_of(doc, prev, i + 1, source)
            sep = " " if len(both) > len(text) + len(words[-1][1]) else ""
        words.append([i, text, sep])
        prev = i
    if words:
        blocks.append({"tag": tag, "words": words})
    return {"kind": tokenized.kind, "title": doc.title, "num_tokens": len(doc.tokens), "blocks": blocks,
            "gold": [_gold(doc, a) for a in doc.annotations] if tokenized.kind == "nq" else []}


def _tag_name(token: str) -> str:
    """`<Td colspan="2">` -> td; closing tags give no new block style."""
    if token.startswith("</") or not token.startswith("<"):
        return ""
    return token[1:].split(" ", 1)[0].rstrip(">").lower()


def _gold(doc, annotation) -> dict:
    n = len(doc.tokens)

    def span(start: int, end: int) -> Optional[dict]:
        if not 0 <= start < end <= n:
            return None
        return {"start_token": start, "end_token": end, "text": source_text.text_of(doc, start, end)}

    return {"long_answer": span(annotation.long_start_token, annotation.long_end_token),
            "short_answers": [s for s in (span(a.start_token, a.end_token) for a in annotation.short_answers) if s],
            "yes_no_answer": annotation.yes_no_answer}


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
        examples.append(Example(doc.example_id, doc.question_text, doc.title, line, bool(doc.annotations)))
        if len(examples) >= max_examples:
            break
    return examples, too_large
