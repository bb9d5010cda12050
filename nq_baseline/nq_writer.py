"""Writing Natural Questions examples: one structured document -> both NQ formats.

The inverse of `nq_data`: a title plus a list of blocks becomes one example in the
ORIGINAL format (`document_html`, `document_tokens` with byte offsets, candidates and
annotations with bytes) and the SIMPLIFIED one (`document_text`, no bytes), with the same
tokens, candidates and annotations.  Used by `tools/make_sample_nq.py`; reusable by any
converter (e.g. SQuAD: title + paragraphs).

Blocks (a `words` value is a list of tokens or a string split on spaces):
  ("p", words)                  a paragraph: `<P> words </P>`, a top-level candidate
  ("table", rows)               `<Table> <Tr> <Td> cell </Td> ... </Tr> ... </Table>`; the table
                                is a candidate and so is every row (nested: top_level false).
                                A row is a list of cells; a cell is `words` or ("th", words)
  ("ul", items) / ("ol", items) `<Ul> <Li> item </Li> ... </Ul>`; the list and every item are
                                candidates (items nested)
  ("h2", words) .. ("h6", words) a heading: tokens, but no candidate

Answers (`Answer`) point into the blocks: `block` is the index in the block list, `nested`
(optional) a row / item of that block, and then the long answer is that nested candidate,
else the block's own candidate.  `span` = (start, end), end exclusive, counts the WORDS
(non-HTML tokens) of the long-answer candidate: for a table or list without `nested`, the
words of all its cells / items in order.  `span` may also be a list of such pairs (several
short answers).  `yes_no` is "YES", "NO" or "NONE".  An annotation that is `None` is null.

  original, simplified = build_example(example_id, "who founded x", "X", blocks,
                                       [Answer(block=2, span=(4, 6)), None, None])
"""

from __future__ import annotations

import dataclasses
import hashlib
import html as _html
import random
import re
from typing import Optional, Sequence, Union

from nq_baseline import nq_data

Words = Union[str, Sequence[str]]
Span = tuple[int, int]

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_TOKEN_PUNCT_RE = re.compile(r"\w+(?:[-'.,]\w+)*|[^\w\s]", re.UNICODE)


@dataclasses.dataclass(frozen=True)
class Answer:
    """One non-null annotation: where the long answer is and which words are short answers."""

    block: int
    nested: Optional[int] = None
    span: Union[None, Span, Sequence[Span]] = None
    yes_no: str = "NONE"

    def spans(self) -> list[Span]:
        if self.span is None:
            return []
        if len(self.span) == 2 and all(isinstance(x, int) for x in self.span):
            return [tuple(self.span)]  # type: ignore[list-item]
        return [tuple(s) for s in self.span]  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- tokens


def words_of(value: Words) -> list[str]:
    """`words` -> list of tokens (a string is split on whitespace)."""
    if isinstance(value, str):
        return value.split()
    return list(value)


def simple_tokenize(text: str) -> list[tuple[str, int, int]]:
    """Text -> [(word, char_start, char_end)]: words, numbers like `12,400` or `1.5` whole,
    every other punctuation character a token of its own (NQ-like tokens)."""
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN_PUNCT_RE.finditer(text)]


def char_span_to_word_span(offsets: Sequence[tuple[str, int, int]], char_start: int,
                           char_end: int) -> Optional[Span]:
    """The words of `simple_tokenize` overlapping [char_start, char_end) -> (start, end) or None."""
    inside = [i for i, (_, s, e) in enumerate(offsets) if s < char_end and e > char_start]
    if not inside:
        return None
    return inside[0], inside[-1] + 1


def find_span(words: Sequence[str], phrase: Words, start: int = 0) -> Optional[Span]:
    """First occurrence of `phrase` (tokens) in `words` at or after `start` -> (start, end)."""
    target = words_of(phrase)
    n = len(target)
    for i in range(start, len(words) - n + 1):
        if list(words[i:i + n]) == target:
            return i, i + n
    return None


def _check_word(word: str) -> str:
    if not isinstance(word, str) or not word:
        raise ValueError(f"a document word must be a non-empty string, got {word!r}")
    if any(c.isspace() for c in word):
        raise ValueError(f"a document word must not contain whitespace: {word!r}")
    if nq_data.is_html_token(word):
        raise ValueError(f"a document word must not look like an HTML tag: {word!r}")
    return word


def stable_id(*parts) -> int:
    """A deterministic non-negative 63-bit id from `parts` (e.g. annotation ids)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


# ----------------------------------------------------------------------------- HTML

_WIKI_ATTRS = {
    "P": "", "TABLE": ' class="wikitable sortable" style="text-align:left;width:auto"',
    "TR": ' valign="top"', "TD": ' style="padding:0.2em 0.4em"', "TH": ' scope="row" class="navbox-group"',
    "UL": ' class="plainlist"', "OL": "", "LI": ' class="mw-list-item"',
    "H1": ' id="firstHeading" class="firstHeading" lang="en"', "H2": "", "H3": "",
}

_CSS_WORDS = ("margin", "padding", "border", "font-size", "line-height", "color", "background",
              "display", "position", "z-index", "width", "height", "overflow", "text-align")
_JS_WORDS = ("mw", "config", "loader", "state", "implement", "function", "return", "var", "window",
             "document", "RLQ", "push", "wgPageName", "wgTitle", "wgCategories", "skin", "vector")


def _wiki_head(title: str, rng: random.Random, bulk_bytes: int) -> str:
    """A <HEAD> that looks like Wikipedia's: <TITLE>, stylesheet links, a big <STYLE> and <SCRIPT>."""
    esc = _html.escape(title)
    css, js = [], []
    size = 0
    while size < bulk_bytes // 2:
        rule = (f".mw-{rng.choice(_JS_WORDS).lower()}-{rng.randrange(1000)} "
                f"{{{rng.choice(_CSS_WORDS)}:{rng.randrange(40)}px;{rng.choice(_CSS_WORDS)}:"
                f"#{rng.randrange(16 ** 6):06x}}}")
        css.append(rule)
        size += len(rule)
    size = 0
    while size < bulk_bytes // 2:
        stmt = (f"{rng.choice(_JS_WORDS)}.{rng.choice(_JS_WORDS)}({{\"{rng.choice(_JS_WORDS)}\":"
                f"{rng.randrange(10 ** 6)},\"{rng.choice(_JS_WORDS)}\":\"{rng.choice(_JS_WORDS)}\"}});")
        js.append(stmt)
        size += len(stmt)
    return ("<!DOCTYPE html>\n<HTML class=\"client-js ve-not-available\" lang=\"en\" dir=\"ltr\"><HEAD>\n"
            f"<META charset=\"UTF-8\"/>\n<TITLE>{esc} - Wikipedia</TITLE>\n"
            "<LINK rel=\"stylesheet\" href=\"/w/load.php?debug=false&amp;lang=en&amp;modules=site.styles"
            "&amp;only=styles&amp;skin=vector\"/>\n"
            f"<STYLE>\n{''.join(css)}\n</STYLE>\n<SCRIPT>\n{''.join(js)}\n</SCRIPT>\n</HEAD>\n"
            "<BODY class=\"mediawiki ltr sitedir-ltr mw-hide-empty-elt ns-0 ns-subject page-"
            f"{_html.escape(title.replace(' ', '_'))} rootpage skin-vector action-view\">\n"
            "<DIV id=\"mw-page-base\" class=\"noprint\"></DIV><DIV id=\"content\" class=\"mw-body\" "
            "role=\"main\">\n")


_WIKI_TAIL = ("\n</DIV>\n<DIV id=\"mw-navigation\"><H2>Navigation menu</H2><DIV id=\"p-personal\" "
              "role=\"navigation\"></DIV></DIV>\n<DIV id=\"footer\" role=\"contentinfo\"><UL id=\"footer-info\">"
              "<LI id=\"footer-info-copyright\">Text is available under the Creative Commons "
              "Attribution-ShareAlike License</LI></UL></DIV>\n</BODY></HTML>\n")


# ----------------------------------------------------------------------------- document


class _Doc:
    """Accumulates tokens, HTML bytes and candidates in document order."""

    def __init__(self, style: str, rng: random.Random):
        self.style = style
        self.rng = rng
        self.chunks: list[bytes] = []
        self.offset = 0
        self.tokens: list[tuple[str, bool, int, int]] = []  # token, is_html, start_byte, end_byte
        self.candidates: list[list] = []  # [start_token, end_token, top_level]
        self.cand_words: list[list[int]] = []  # token indices of each candidate's words
        self.block_cand: list[Optional[int]] = []  # block -> its candidate
        self.nested_cand: list[list[int]] = []  # block -> candidates of its rows / items
        self.open: list[int] = []  # candidates being built

    def raw(self, text: str) -> None:
        data = text.encode("utf-8")
        self.chunks.append(data)
        self.offset += len(data)

    def _token(self, token: str, is_html: bool, text: str) -> None:
        data = text.encode("utf-8")
        self.tokens.append((token, is_html, self.offset, self.offset + len(data)))
        self.chunks.append(data)
        self.offset += len(data)

    def tag(self, token: str) -> None:
        """An HTML token such as `<P>` or `</Td>`; in wiki style the HTML tag has attributes."""
        if self.style == "wiki":
            name = token.strip("</>").upper()
            attrs = "" if token.startswith("</") else _WIKI_ATTRS.get(name, "")
            text = f"</{name}>" if token.startswith("</") else f"<{name}{attrs}>"
        else:
            text = token
        self._token(token, True, text)
        self.raw("\n" if token.startswith("</") and token[2:4] in ("P>", "Ta", "Tr", "Ul", "Ol", "Li", "H1",
                                                                  "H2", "H3") else " ")

    def word(self, word: str) -> None:
        _check_word(word)
        index = len(self.tokens)
        text = _html.escape(word, quote=False)
        link = self.style == "wiki" and word[:1].isalpha() and self.rng.random() < 0.06
        if link:
            self.raw(f'<A href="/wiki/{_html.escape(word)}" title="{_html.escape(word)}">')
        self._token(word, False, text)
        if link:
            self.raw("</A>")
        if self.style == "wiki" and word == "." and self.rng.random() < 0.15:
            n = self.rng.randrange(1, 60)
            self.raw(f'<SUP id="cite_ref-{n}" class="reference"><A href="#cite_note-{n}">&#91;{n}&#93;</A></SUP>')
        self.raw(" ")
        for c in self.open:
            self.cand_words[c].append(index)

    def words(self, value: Words) -> None:
        for w in words_of(value):
            self.word(w)

    def begin(self, top_level: bool) -> int:
        index = len(self.candidates)
        self.candidates.append([len(self.tokens), -1, top_level])
        self.cand_words.append([])
        self.open.append(index)
        return index

    def end(self, index: int) -> None:
        self.candidates[index][1] = len(self.tokens)
        self.open.remove(index)


def _add_block(doc: _Doc, block, index: int) -> None:
    if not isinstance(block, (tuple, list)) or len(block) != 2 or not isinstance(block[0], str):
        raise ValueError(f"block {index}: expected (kind, content), got {block!r:.80}")
    kind, content = block[0].lower(), block[1]
    nested: list[int] = []
    cand: Optional[int] = None
    if kind in HEADINGS:
        tag = kind.upper()
        doc.tag(f"<{tag}>")
        doc.words(content)
        doc.tag(f"</{tag}>")
    elif kind == "p":
        cand = doc.begin(top_level=not doc.open)
        doc.tag("<P>")
        doc.words(content)
        doc.tag("</P>")
        doc.end(cand)
    elif kind == "table":
        cand = doc.begin(top_level=not doc.open)
        doc.tag("<Table>")
        for row in content:
            r = doc.begin(top_level=False)
            nested.append(r)
            doc.tag("<Tr>")
            for cell in row:
                tag = "Td"
                if isinstance(cell, tuple) and len(cell) == 2 and cell[0] in ("th", "td"):
                    tag, cell = cell[0].capitalize(), cell[1]
                doc.tag(f"<{tag}>")
                doc.words(cell)
                doc.tag(f"</{tag}>")
            doc.tag("</Tr>")
            doc.end(r)
        doc.tag("</Table>")
        doc.end(cand)
    elif kind in ("ul", "ol"):
        tag = kind.capitalize()
        cand = doc.begin(top_level=not doc.open)
        doc.tag(f"<{tag}>")
        for item in content:
            li = doc.begin(top_level=False)
            nested.append(li)
            doc.tag("<Li>")
            doc.words(item)
            doc.tag("</Li>")
            doc.end(li)
        doc.tag(f"</{tag}>")
        doc.end(cand)
    else:
        raise ValueError(f"block {index}: unknown kind {block[0]!r} (p, table, ul, ol, h1..h6)")
    doc.block_cand.append(cand)
    doc.nested_cand.append(nested)


def _resolve(doc: _Doc, answer: Answer, n_blocks: int) -> tuple[int, list[Span]]:
    """Answer -> (candidate index, short answers as token spans)."""
    if not 0 <= answer.block < n_blocks:
        raise ValueError(f"answer block {answer.block} out of range ({n_blocks} blocks)")
    cand = doc.block_cand[answer.block]
    if cand is None:
        raise ValueError(f"answer block {answer.block} is a heading, not a long-answer candidate")
    if answer.nested is not None:
        rows = doc.nested_cand[answer.block]
        if not 0 <= answer.nested < len(rows):
            raise ValueError(f"answer nested index {answer.nested} out of range for block {answer.block} "
                             f"({len(rows)} rows / items)")
        cand = rows[answer.nested]
    if answer.yes_no not in ("YES", "NO", "NONE"):
        raise ValueError(f"yes_no must be YES, NO or NONE, got {answer.yes_no!r}")
    words = doc.cand_words[cand]
    shorts = []
    for start, end in answer.spans():
        if not 0 <= start < end <= len(words):
            raise ValueError(f"short answer words [{start}, {end}) out of range for a long answer of "
                             f"{len(words)} words")
        shorts.append((words[start], words[end - 1] + 1))
    return cand, shorts


def build_example(example_id: int, question: str, title: str, blocks: Sequence,
                  annotations: Sequence[Optional[Answer]], *, url: Optional[str] = None,
                  html_style: str = "plain", head_bytes: int = 0, title_heading: bool = True,
                  seed: Optional[int] = None) -> tuple[dict, dict]:
    """One example -> (original-format dict, simplified-format dict).

    html_style: "plain" (each tag token is written as itself) or "wiki" (Wikipedia-like
    tags with attributes, links, reference marks, and a <HEAD> of about `head_bytes` bytes of
    CSS and scripts).  `title_heading` starts the document with `<H1> title </H1>`.
    Deterministic: the decorations draw from a Random seeded by `seed` (default example_id).
    """
    if html_style not in ("plain", "wiki"):
        raise ValueError(f"html_style must be 'plain' or 'wiki', got {html_style!r}")
    example_id = int(example_id)
    if not -2 ** 63 <= example_id < 2 ** 63:
        raise ValueError(f"example_id {example_id} does not fit in 64 bits")
    rng = random.Random(example_id if seed is None else seed)
    doc = _Doc(html_style, rng)
    if html_style == "wiki":
        doc.raw(_wiki_head(title, rng, head_bytes))
    else:
        doc.raw(f"<HTML><HEAD><TITLE>{_html.escape(title)}</TITLE></HEAD><BODY>\n")
    if title_heading:
        doc.tag("<H1>")
        doc.words(title)
        doc.tag("</H1>")
    for i, block in enumerate(blocks):
        _add_block(doc, block, i)
    doc.raw(_WIKI_TAIL if html_style == "wiki" else "\n</BODY></HTML>\n")
    if not doc.tokens:
        raise ValueError("the document has no tokens")

    html_bytes = b"".join(doc.chunks)
    tok_start = [t[2] for t in doc.tokens]
    tok_end = [t[3] for t in doc.tokens]

    orig_cands, simp_cands = [], []
    for start, end, top in doc.candidates:
        orig_cands.append({"start_token": start, "end_token": end, "start_byte": tok_start[start],
                           "end_byte": tok_end[end - 1], "top_level": top})
        simp_cands.append({"start_token": start, "end_token": end, "top_level": top})

    orig_anns, simp_anns = [], []
    for k, answer in enumerate(annotations):
        ann_id = stable_id(example_id, k)
        if answer is None:
            orig_la = {"start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1,
                       "candidate_index": -1}
            simp_la = {"start_token": -1, "end_token": -1, "candidate_index": -1}
            shorts: list[Span] = []
            yes_no = "NONE"
        else:
            cand, shorts = _resolve(doc, answer, len(blocks))
            start, end = doc.candidates[cand][0], doc.candidates[cand][1]
            orig_la = {"start_token": start, "end_token": end, "start_byte": tok_start[start],
                       "end_byte": tok_end[end - 1], "candidate_index": cand}
            simp_la = {"start_token": start, "end_token": end, "candidate_index": cand}
            yes_no = answer.yes_no
        orig_anns.append({
            "annotation_id": ann_id, "long_answer": orig_la,
            "short_answers": [{"start_token": s, "end_token": e, "start_byte": tok_start[s],
                               "end_byte": tok_end[e - 1]} for s, e in shorts],
            "yes_no_answer": yes_no})
        simp_anns.append({"annotation_id": ann_id, "long_answer": simp_la,
                          "short_answers": [{"start_token": s, "end_token": e} for s, e in shorts],
                          "yes_no_answer": yes_no})

    if url is None:
        url = f"https://en.wikipedia.org//w/index.php?title={title.replace(' ', '_')}&oldid={stable_id(title) % 10 ** 9}"
    original = {
        "example_id": example_id,
        "question_text": question,
        "question_tokens": question.split(),
        "document_title": title,
        "document_url": url,
        "document_html": html_bytes.decode("utf-8"),
        "document_tokens": [{"token": t, "start_byte": s, "end_byte": e, "html_token": h}
                            for t, h, s, e in doc.tokens],
        "long_answer_candidates": orig_cands,
        "annotations": orig_anns,
    }
    simplified = {
        "example_id": example_id,
        "question_text": question,
        "document_text": " ".join(t[0] for t in doc.tokens),
        "document_url": url,
        "long_answer_candidates": simp_cands,
        "annotations": simp_anns,
    }
    return original, simplified
