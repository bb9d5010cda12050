"""Writing Natural Questions examples: one structured document -> both NQ formats.

The inverse of `nq_data`: a title plus a list of blocks becomes one document (tokens,
`document_html` with byte offsets, long-answer candidates with `top_level`), and every
question asked over it one example in the ORIGINAL format (`document_html`,
`document_tokens` with byte offsets, candidates and annotations with bytes) and the
SIMPLIFIED one (`document_text`, no bytes), with the same tokens, candidates and
annotations.  Used by `tools/make_sample_nq.py` (synthetic documents) and
`tools/squad_to_nq.py` (title + SQuAD paragraphs, answers from character offsets).

Blocks.  `words` is a list of tokens, a string split on whitespace, or `Text("running
text")`: tokenized by `tokenize` (NQ-like: punctuation split off, numbers like 13,000 and
initialisms like U.S. whole), its original spacing kept in the HTML.
  ("p", words)                  a paragraph: `<P> words </P>`, a top-level candidate
  ("table", rows)               `<Table> <Tr> <Td> cell </Td> ... </Tr> ... </Table>`; the table
                                is a candidate and so is every row (nested: top_level false).
                                A row is a list of cells; a cell is `words` or ("th", words)
  ("ul", items) / ("ol", items) `<Ul> <Li> item </Li> ... </Ul>`; the list and every item are
                                candidates (items nested)
  ("h2", words) .. ("h6", words) a heading: tokens, but no candidate
The document starts with `<H1> title </H1>` (the title tokenized like `Text`).

Answers (`GoldAnswer`) point into the blocks: `block` is the index in the block list, `nested`
(optional) a row / item of that block, and then the long answer is that nested candidate,
else the block's own candidate.  Short answers are given either as `span` = (start, end),
end exclusive, counting the WORDS (non-HTML tokens) of the long-answer candidate (for a
table or list without `nested`: the words of all its cells / items in order), or as
`chars` = (start, end) character offsets into the `Text` of a paragraph block (the short
answer is every word overlapping them).  Either may be a list of pairs (several short
answers).  `yes_no` is "YES", "NO" or "NONE".  An annotation that is `None` is null.

  original, simplified = nq_examples(example_id, "who founded x", "X", blocks,
                                       [GoldAnswer(block=2, span=(4, 6)), None, None])
  doc = build_document("X", blocks)            # one document, many questions:
  full_line, simple_line = doc.example_lines(example_id, "who founded x", [GoldAnswer(2, span=(4, 6))])
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import html as _html
import random
import re
import unicodedata
from typing import Optional, Sequence, Union

import orjson

from nq_baseline.reading import nq_data

WordSpan = tuple[int, int]

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


@dataclasses.dataclass(frozen=True)
class Text:
    """Running text for a block: split by `tokenize`, the original spacing kept in the HTML."""

    text: str


Words = Union[str, Sequence[str], Text]


def _pairs(value) -> list[WordSpan]:
    if value is None:
        return []
    if len(value) == 2 and all(isinstance(x, int) for x in value):
        return [(value[0], value[1])]
    return [(s[0], s[1]) for s in value]


@dataclasses.dataclass(frozen=True)
class GoldAnswer:
    """One non-null annotation: where the long answer is and which words are short answers."""

    block: int
    nested: Optional[int] = None
    span: Union[None, WordSpan, Sequence[WordSpan]] = None
    yes_no: str = "NONE"
    chars: Union[None, WordSpan, Sequence[WordSpan]] = None

    def spans(self) -> list[WordSpan]:
        """The short answers as word spans of the long-answer candidate (`span`)."""
        return _pairs(self.span)


# ----------------------------------------------------------------------------- tokens

# Word tokens, NQ style: numbers keep their inner separators (13,000  3.14), initialisms keep
# their periods (U.S.), hyphenated words and A&M stay whole, clitics ('s 're ...) split off,
# any other punctuation or symbol is a token of its own.
_TOKEN_RE = re.compile(
    r"\d+(?:[.,:]\d+)+(?![\w])"
    r"|(?:[^\W\d_]\.){2,}"
    r"|['\u2019](?:[sS]|re|RE|ve|VE|ll|LL|[dD]|[mM])(?!\w)"
    r"|\w+(?:[-&]\w+)*"
    r"|\S")


def _is_gap(tok: str) -> bool:
    """Invisible characters (zero-width spaces, controls, BOM) separate tokens."""
    return all(unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") for c in tok)


def _is_mark(tok: str) -> bool:
    return all(unicodedata.category(c).startswith("M") for c in tok)


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Text -> [(token, char_start, char_end)]: NQ-like word tokens with character offsets."""
    out: list[tuple[str, int, int]] = []
    for m in _TOKEN_RE.finditer(text):
        tok, s, e = m.group(), m.start(), m.end()
        if _is_gap(tok):
            continue
        if out and out[-1][2] == s and (_is_mark(tok) or _is_mark(out[-1][0][-1])):
            # A combining mark (Devanagari vowel signs, accents) belongs to its word.
            prev, ps, _ = out.pop()
            tok, s = prev + tok, ps
        out.append((tok, s, e))
    return out


def char_span_to_word_span(offsets: Sequence[tuple[str, int, int]], char_start: int,
                           char_end: int) -> Optional[WordSpan]:
    """The words of `tokenize` overlapping [char_start, char_end) -> (start, end) or None."""
    first = bisect.bisect_right([e for _, _, e in offsets], char_start)  # first word ending after start
    last = bisect.bisect_left([s for _, s, _ in offsets], char_end)  # words starting before end
    return (first, last) if first < last else None


def words_of(value: Words) -> list[str]:
    """`words` -> list of tokens (a string is split on whitespace, a Text tokenized)."""
    if isinstance(value, Text):
        return [t for t, _, _ in tokenize(value.text)]
    if isinstance(value, str):
        return value.split()
    return list(value)


def find_span(words: Sequence[str], phrase: Words, start: int = 0) -> Optional[WordSpan]:
    """First occurrence of `phrase` (tokens) in `words` at or after `start` -> (start, end)."""
    target = words_of(phrase)
    n = len(target)
    for i in range(start, len(words) - n + 1):
        if list(words[i:i + n]) == target:
            return i, i + n
    return None


def question_tokens(question: str) -> list[str]:
    """NQ's `question_tokens`: the question's tokens, lowercased."""
    return [t.lower() for t, _, _ in tokenize(question)]


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


# ----------------------------------------------------------------------------- building


class _Builder:
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
        self.block_text: list[Optional[list[tuple[int, int, int]]]] = []  # block -> (token, char s, e)
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

    def word(self, word: str, after: str = " ") -> int:
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
        if after:
            self.raw(after)
        for c in self.open:
            self.cand_words[c].append(index)
        return index

    def words(self, value: Words) -> Optional[list[tuple[int, int, int]]]:
        """Writes `value`; for a Text, returns its words as (token index, char start, char end)."""
        if not isinstance(value, Text):
            for w in words_of(value):
                self.word(w)
            return None
        text, pos, out = value.text, 0, []
        for tok, s, e in tokenize(text):
            if s > pos:
                self.raw(_html.escape(text[pos:s], quote=False))
            out.append((self.word(tok, after=""), s, e))
            pos = e
        self.raw(_html.escape(text[pos:], quote=False) + " ")
        return out

    def begin(self, top_level: bool) -> int:
        index = len(self.candidates)
        self.candidates.append([len(self.tokens), -1, top_level])
        self.cand_words.append([])
        self.open.append(index)
        return index

    def end(self, index: int) -> None:
        self.candidates[index][1] = len(self.tokens)
        self.open.remove(index)


def _add_block(doc: _Builder, block, index: int) -> None:
    if not isinstance(block, (tuple, list)) or len(block) != 2 or not isinstance(block[0], str):
        raise ValueError(f"block {index}: expected (kind, content), got {block!r:.80}")
    kind, content = block[0].lower(), block[1]
    nested: list[int] = []
    cand: Optional[int] = None
    text_words = None
    if kind in HEADINGS:
        tag = kind.upper()
        doc.tag(f"<{tag}>")
        doc.words(content)
        doc.tag(f"</{tag}>")
    elif kind == "p":
        cand = doc.begin(top_level=not doc.open)
        doc.tag("<P>")
        text_words = doc.words(content)
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
    doc.block_text.append(text_words)


class NqPage:
    """One built document: tokens, HTML and candidates; `example*` add a question and annotations.

    `tokens` and `candidates` are the original-format dicts (shared by every example made
    from this document: do not modify them)."""

    def __init__(self, title: str, url: str, builder: _Builder):
        self.title = title
        self.url = url
        self.html = b"".join(builder.chunks).decode("utf-8")
        self.tokens = [{"token": t, "start_byte": s, "end_byte": e, "html_token": h}
                       for t, h, s, e in builder.tokens]
        self.candidates = [{"start_token": s, "end_token": e, "start_byte": builder.tokens[s][2],
                            "end_byte": builder.tokens[e - 1][3], "top_level": top}
                           for s, e, top in builder.candidates]
        self._block_cand = builder.block_cand
        self._nested_cand = builder.nested_cand
        self._cand_words = builder.cand_words
        self._block_text = builder.block_text
        self._full_tail: Optional[bytes] = None
        self._simple_tail: Optional[bytes] = None

    @property
    def document_text(self) -> str:
        return " ".join(t["token"] for t in self.tokens)

    def words(self, start: int, end: int) -> list[str]:
        """The non-HTML tokens of [start, end)."""
        return [t["token"] for t in self.tokens[start:end] if not t["html_token"]]

    def candidate_index(self, block: int, nested: Optional[int] = None) -> int:
        """The candidate of a block (or of its row / item `nested`)."""
        if not 0 <= block < len(self._block_cand):
            raise ValueError(f"answer block {block} out of range ({len(self._block_cand)} blocks)")
        cand = self._block_cand[block]
        if cand is None:
            raise ValueError(f"answer block {block} is a heading, not a long-answer candidate")
        if nested is not None:
            rows = self._nested_cand[block]
            if not 0 <= nested < len(rows):
                raise ValueError(f"answer nested index {nested} out of range for block {block} "
                                 f"({len(rows)} rows / items)")
            cand = rows[nested]
        return cand

    def resolve(self, answer: GoldAnswer) -> tuple[int, list[WordSpan]]:
        """GoldAnswer -> (candidate index, short answers as token spans [start, end))."""
        cand = self.candidate_index(answer.block, answer.nested)
        if answer.yes_no not in ("YES", "NO", "NONE"):
            raise ValueError(f"yes_no must be YES, NO or NONE, got {answer.yes_no!r}")
        if answer.span is not None and answer.chars is not None:
            raise ValueError("an answer gives its short answers as span or as chars, not both")
        words = self._cand_words[cand]
        shorts = []
        for start, end in answer.spans():
            if not 0 <= start < end <= len(words):
                raise ValueError(f"short answer words [{start}, {end}) out of range for a long answer of "
                                 f"{len(words)} words")
            shorts.append((words[start], words[end - 1] + 1))
        char_spans = _pairs(answer.chars)
        if char_spans:
            text_words = self._block_text[answer.block] if answer.nested is None else None
            if text_words is None:
                raise ValueError(f"answer chars need a paragraph block written as Text (block {answer.block})")
            starts = [s for _, s, _ in text_words]
            ends = [e for _, _, e in text_words]
            for cs, ce in char_spans:
                first = bisect.bisect_right(ends, cs)
                last = bisect.bisect_left(starts, ce)
                if not 0 <= cs < ce or first >= last:
                    raise ValueError(f"answer characters [{cs}, {ce}) cover no word of block {answer.block}")
                shorts.append((text_words[first][0], text_words[last - 1][0] + 1))
        return cand, shorts

    def _annotations(self, example_id: int, annotations: Sequence[Optional[GoldAnswer]],
                     annotation_ids: Optional[Sequence[int]]) -> tuple[list[dict], list[dict]]:
        if annotation_ids is not None and len(annotation_ids) != len(annotations):
            raise ValueError(f"{len(annotation_ids)} annotation ids for {len(annotations)} annotations")
        toks = self.tokens
        orig, simple = [], []
        for k, answer in enumerate(annotations):
            ann_id = stable_id(example_id, k) if annotation_ids is None else int(annotation_ids[k])
            if answer is None:
                orig_la = {"start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1,
                           "candidate_index": -1}
                simp_la = {"start_token": -1, "end_token": -1, "candidate_index": -1}
                shorts: list[WordSpan] = []
                yes_no = "NONE"
            else:
                cand, shorts = self.resolve(answer)
                c = self.candidates[cand]
                orig_la = {"start_token": c["start_token"], "end_token": c["end_token"],
                           "start_byte": c["start_byte"], "end_byte": c["end_byte"], "candidate_index": cand}
                simp_la = {"start_token": c["start_token"], "end_token": c["end_token"], "candidate_index": cand}
                yes_no = answer.yes_no
            orig.append({"annotation_id": ann_id, "long_answer": orig_la,
                         "short_answers": [{"start_token": s, "end_token": e, "start_byte": toks[s]["start_byte"],
                                            "end_byte": toks[e - 1]["end_byte"]} for s, e in shorts],
                         "yes_no_answer": yes_no})
            simple.append({"annotation_id": ann_id, "long_answer": simp_la,
                           "short_answers": [{"start_token": s, "end_token": e} for s, e in shorts],
                           "yes_no_answer": yes_no})
        return orig, simple

    @staticmethod
    def _check_id(example_id: int) -> int:
        example_id = int(example_id)
        if not -2 ** 63 <= example_id < 2 ** 63:
            raise ValueError(f"example_id {example_id} does not fit in 64 bits")
        return example_id

    def example(self, example_id: int, question: str, annotations: Sequence[Optional[GoldAnswer]],
                annotation_ids: Optional[Sequence[int]] = None) -> tuple[dict, dict]:
        """One question over this document -> (original-format dict, simplified-format dict)."""
        example_id = self._check_id(example_id)
        orig_anns, simp_anns = self._annotations(example_id, annotations, annotation_ids)
        original = {
            "example_id": example_id,
            "question_text": question,
            "question_tokens": question_tokens(question),
            "document_title": self.title,
            "document_url": self.url,
            "document_html": self.html,
            "document_tokens": self.tokens,
            "long_answer_candidates": self.candidates,
            "annotations": orig_anns,
        }
        simplified = {
            "example_id": example_id,
            "question_text": question,
            "document_text": self.document_text,
            "document_url": self.url,
            "long_answer_candidates": [{"start_token": c["start_token"], "end_token": c["end_token"],
                                        "top_level": c["top_level"]} for c in self.candidates],
            "annotations": simp_anns,
        }
        return original, simplified

    def example_lines(self, example_id: int, question: str, annotations: Sequence[Optional[GoldAnswer]],
                      annotation_ids: Optional[Sequence[int]] = None) -> tuple[bytes, bytes]:
        """Like `example`, as newline-terminated JSON lines; the document's part is serialized
        once per document (many questions over one long document stay cheap)."""
        example_id = self._check_id(example_id)
        orig_anns, simp_anns = self._annotations(example_id, annotations, annotation_ids)
        if self._full_tail is None:
            self._full_tail = (b'"document_title":' + orjson.dumps(self.title)
                               + b',"document_url":' + orjson.dumps(self.url)
                               + b',"document_html":' + orjson.dumps(self.html)
                               + b',"document_tokens":' + orjson.dumps(self.tokens)
                               + b',"long_answer_candidates":' + orjson.dumps(self.candidates))
            simple_cands = [{"start_token": c["start_token"], "end_token": c["end_token"],
                             "top_level": c["top_level"]} for c in self.candidates]
            self._simple_tail = (b'"document_text":' + orjson.dumps(self.document_text)
                                 + b',"document_url":' + orjson.dumps(self.url)
                                 + b',"long_answer_candidates":' + orjson.dumps(simple_cands))
        head = {"example_id": example_id, "question_text": question}
        full = (orjson.dumps(dict(head, question_tokens=question_tokens(question), annotations=orig_anns))[:-1]
                + b"," + self._full_tail + b"}\n")
        simple = orjson.dumps(dict(head, annotations=simp_anns))[:-1] + b"," + self._simple_tail + b"}\n"
        return full, simple


def build_document(title: str, blocks: Sequence, *, url: Optional[str] = None, html_style: str = "plain",
                   head_bytes: int = 0, title_heading: bool = True, seed: int = 0) -> NqPage:
    """Title + blocks -> NqPage (tokens, HTML with byte offsets, candidates).

    html_style: "plain" (each tag token is written as itself) or "wiki" (Wikipedia-like
    tags with attributes, links, reference marks, and a <HEAD> of about `head_bytes` bytes of
    CSS and scripts).  `title_heading` starts the document with `<H1> title </H1>`.
    Deterministic: the decorations draw from a Random seeded by `seed`.
    """
    if html_style not in ("plain", "wiki"):
        raise ValueError(f"html_style must be 'plain' or 'wiki', got {html_style!r}")
    rng = random.Random(seed)
    doc = _Builder(html_style, rng)
    if html_style == "wiki":
        doc.raw(_wiki_head(title, rng, head_bytes))
    else:
        doc.raw(f"<HTML><HEAD><TITLE>{_html.escape(title)}</TITLE></HEAD><BODY>\n")
    if title_heading:
        doc.tag("<H1>")
        doc.words(Text(title))
        doc.tag("</H1>")
    for i, block in enumerate(blocks):
        _add_block(doc, block, i)
    doc.raw(_WIKI_TAIL if html_style == "wiki" else "\n</BODY></HTML>\n")
    if not doc.tokens:
        raise ValueError("the document has no tokens")
    if url is None:
        url = f"https://en.wikipedia.org//w/index.php?title={title.replace(' ', '_')}&oldid={stable_id(title) % 10 ** 9}"
    return NqPage(title, url, doc)


def nq_examples(example_id: int, question: str, title: str, blocks: Sequence,
                  annotations: Sequence[Optional[GoldAnswer]], *, url: Optional[str] = None,
                  html_style: str = "plain", head_bytes: int = 0, title_heading: bool = True,
                  seed: Optional[int] = None) -> tuple[dict, dict]:
    """One example -> (original-format dict, simplified-format dict); see `build_document`
    (`seed` defaults to the example id)."""
    example_id = NqPage._check_id(example_id)
    doc = build_document(title, blocks, url=url, html_style=html_style, head_bytes=head_bytes,
                         title_heading=title_heading, seed=example_id if seed is None else seed)
    return doc.example(example_id, question, annotations)
