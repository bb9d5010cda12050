"""`document_from_text` splits plain text into paragraphs at blank lines: each is one
top-level `<P>` candidate whose words are BERT's pre-tokenization of it (the layout a
TensorFlow graph reproduces, so it is exact: see the function).
"""

from __future__ import annotations

from typing import Optional

import regex
from tokenizers.pre_tokenizers import BertPreTokenizer

from nq_baseline.reading.nq_data import Candidate, NqDocument
from nq_baseline.reading.source_text import Source, byte_offsets, decode_source


_PRE_TOKENIZER = BertPreTokenizer()
_BLANK_RE = regex.compile(r"[\p{White_Space}]*")


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the paragraphs of `text`: runs of non-blank lines ('\\n'-separated;
    a line of white space only is blank), stripped of surrounding white space."""
    spans = []
    para_start = None  # first character of the current paragraph's first line
    line_start = 0
    for line_end in [m.start() for m in regex.finditer("\n", text)] + [len(text)]:
        blank = _BLANK_RE.fullmatch(text, line_start, line_end) is not None
        if not blank and para_start is None:
            para_start = line_start
        if blank and para_start is not None:
            spans.append(_strip_span(text, para_start, line_start))
            para_start = None
        line_start = line_end + 1
    if para_start is not None:
        spans.append(_strip_span(text, para_start, len(text)))
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    lead = _BLANK_RE.match(text, start, end).end()
    trail = end
    while trail > lead and _BLANK_RE.fullmatch(text[trail - 1]):
        trail -= 1
    return lead, trail


def document_from_text(text: Source, *, example_id: int = 0, question_text: str = "", title: str = "",
                       source: str = "<text>", max_document_bytes: Optional[int] = None) -> NqDocument:
    """Plain text (str, or UTF-8 bytes) -> NqDocument: one top-level `<P>` candidate per paragraph.

    The layout, which a TensorFlow graph reproduces and so must not change:
    - paragraphs: runs of lines ('\\n'-separated) that are not blank (a line of white space
      only is blank; white space is Unicode's White_Space, BERT's), each stripped of its
      surrounding white space;
    - tokens: for each paragraph `<P>`, its words, `</P>`; `<P>` and `</P>` are html tokens
      with an empty byte span, at the paragraph's first byte and one past its last;
    - words: `tokenizers.pre_tokenizers.BertPreTokenizer().pre_tokenize_str(paragraph)`
      (split on white space, every punctuation character a word), byte offsets into the
      UTF-8 bytes of the whole text;
    - candidates: one per paragraph, tokens [<P>, </P> + 1), top_level, the paragraph's bytes.
    """
    text, _ = decode_source(text, source, max_document_bytes)
    at = byte_offsets(text)
    tokens: list[str] = []
    is_html: list[bool] = []
    starts: list[int] = []
    ends: list[int] = []
    candidates = []
    for para_start, para_end in _paragraph_spans(text):
        first = len(tokens)
        tokens.append("<P>")
        is_html.append(True)
        starts.append(at[para_start])
        ends.append(at[para_start])
        for word, (s, e) in _PRE_TOKENIZER.pre_tokenize_str(text[para_start:para_end]):
            tokens.append(word)
            is_html.append(False)
            starts.append(at[para_start + s])
            ends.append(at[para_start + e])
        tokens.append("</P>")
        is_html.append(True)
        starts.append(at[para_end])
        ends.append(at[para_end])
        candidates.append(Candidate(first, len(tokens), True, at[para_start], at[para_end]))
    return NqDocument(example_id=example_id, question_text=question_text, title=title, tokens=tokens,
                      is_html=is_html, candidates=candidates, annotations=[], start_bytes=starts,
                      end_bytes=ends, simplified=False)
