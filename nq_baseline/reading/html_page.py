"""A user's HTML page -> an NQ document (`nq_data.NqDocument`), as Natural Questions made its pages.

`document_from_html` does to any page what Natural Questions did to a Wikipedia page:
- HTML tags that define a heading, paragraph, table or list become html tokens, spelled as
  NQ spells them (`<P>`, `</P>`, `<Table>`, `<Tr>`, `<Td>`, `<Th colspan="2">`, `<Ul>`,
  `<Ol>`, `<Li>`, `<Dl>`, `<Dt>`, `<Dd>`, `<H1>`..`<H6>`), each spanning its whole source
  tag (attributes included); every other tag (`<A>`, `<B>`, `<SPAN>`, `<DIV>`...) is no
  token.  A tag that HTML closes implicitly (`<p>a<p>b`, `<li>` without `</li>`, the end of
  the page) gets its end token with an empty byte span where it was closed.
- Words: the visible text, tokenized like NQ's tokenizer (a Penn-Treebank-style one,
  measured on the real example: punctuation split off, `"` -> `` `` `` / `''`, `[ ]` ->
  `( )`, en/em dash -> `--`, `..` -> `...`, clitics `'s n't` split, hyphenated words split
  unless the first part is a prefix such as `non-` or `e-`, numbers like 13,000 whole,
  abbreviations and initials keep their period).  Inline tags do not separate words (NQ
  made `Geology</I>.` one token); a token's text is the decoded text, its bytes the source
  bytes (`&#39;s` -> `'s`, 6 bytes).
- Dropped text: `<script>`, `<style>`, `<noscript>`, `<template>`, `<svg>`, elements with
  `hidden` or `display:none` (with their tags), comments, footnote markers (a `<sup>` with
  an in-page link: `[1]`), and on MediaWiki pages the "From Wikipedia, the free
  encyclopedia" line and the words of the navigation menus and footer links (their tags
  stay tokens; the language names stay too), as NQ dropped them.
- Long-answer candidates: `<P>`, `<Table>`, `<Tr>`, `<Ul>`, `<Ol>`, `<Dl>`, `<Li>`,
  `<Dd>`, `<Dt>` elements holding at least one word, `top_level` when no other candidate
  contains them, byte span from the start tag's first byte to the end tag's last.  As in
  NQ, page furniture gives none: tables of contents, navigation, category links, footers,
  navboxes, reference lists and MediaWiki's end sections (See also, References, ...).

Parser: the standard library's `html.parser`.  Byte offsets must point at the source tags
one for one, and it is the one parser of the three that reports where every tag, text run
and entity is in the source (lxml and html5lib build a tree and lose the offsets, html5lib
also moves elements around as a browser would); it never fails on malformed input, and it
is no new dependency.  The HTML5 tree-building rules that decide where an element ends
(which tags close an open `<p>`, `<li>`, `<td>`; stray and misnested end tags) are
applied on top of it, and tested against html5lib.  Two differences remain by design:
text a browser would move out of a table (foster parenting) stays where it is, since NQ
spans are contiguous source ranges; and a `<table>` closes an open `<p>` as in standards
mode (a page without `<!DOCTYPE html>` is in quirks mode for a browser).
"""

from __future__ import annotations

import dataclasses
import html as _html
from html.parser import HTMLParser
from typing import Optional

import regex

from nq_baseline.reading.nq_data import Candidate, NqDocument
from nq_baseline.reading.source_text import Source, byte_offsets, collapse, decode_source
from nq_baseline.reading.words import nq_words


_TOKEN_TAGS = {"p": "P", "table": "Table", "tr": "Tr", "td": "Td", "th": "Th", "ul": "Ul", "ol": "Ol",
               "li": "Li", "dl": "Dl", "dt": "Dt", "dd": "Dd", "h1": "H1", "h2": "H2", "h3": "H3",
               "h4": "H4", "h5": "H5", "h6": "H6"}
_CANDIDATE_TAGS = frozenset({"p", "table", "tr", "ul", "ol", "dl", "li", "dd", "dt"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_KEPT_ATTRIBUTES = ("colspan", "rowspan")  # NQ keeps these on <Td>/<Th>: <Th colspan="2">
# Tags inside which words run on (NQ tokenized `Geology</I>.` as one token); any other tag
# separates words.
_INLINE_TAGS = frozenset({"a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del",
                          "dfn", "em", "font", "i", "ins", "kbd", "mark", "nobr", "q", "s", "samp", "small",
                          "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr"})
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
                        "param", "source", "track", "wbr", "basefont", "bgsound", "frame", "isindex"})
_HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template", "svg"})
_DISPLAY_NONE_RE = regex.compile(r"display\s*:\s*none", regex.IGNORECASE)
# MediaWiki's page furniture as NQ treats it (measured on the real example and the
# simplified ones): no words from the tagline, the navigation menus and the footer links
# (their tags stay tokens), except the names of the languages; no candidate in the table
# of contents, navigation, category links, footer, navboxes and reference lists, nor after
# the heading of an end section.
_NO_TEXT_IDS = frozenset({"siteSub", "mw-navigation", "footer-places", "p-lang-label"})
_TEXT_AGAIN_IDS = frozenset({"p-lang"})
_NO_CANDIDATE_IDS = frozenset({"toc", "mw-navigation", "mw-head", "mw-panel", "catlinks", "footer"})
_NO_CANDIDATE_CLASSES = frozenset({"toc", "navbox", "reflist", "references", "catlinks", "printfooter"})
_END_SECTIONS = frozenset({"See_also", "References", "Notes", "Notes_and_references", "Footnotes",
                           "Citations", "Sources", "Bibliography", "Further_reading", "External_links"})

# HTML5's tree-building rules that decide where an element ends (a tree builder's
# "implied end tags"): which open element a tag closes, and where the search for it stops.
_CLOSES_P = frozenset({"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir",
                       "div", "dl", "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup",
                       "hr", "listing", "main", "menu", "nav", "ol", "p", "pre", "search", "section", "summary",
                       "table", "ul", "xmp", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dd", "dt"})
_SCOPE = frozenset({"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"})
_BUTTON_SCOPE = _SCOPE | {"button"}
_LIST_SCOPE = _SCOPE | {"ol", "ul"}
_TABLE_SCOPE = frozenset({"html", "table", "template"})
_TABLE_PARTS = frozenset({"tr", "td", "th", "tbody", "thead", "tfoot", "caption", "colgroup", "col"})
_BLOCK_END = frozenset({"address", "article", "aside", "blockquote", "button", "center", "details", "dialog",
                        "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "form", "header",
                        "hgroup", "listing", "main", "menu", "nav", "ol", "pre", "search", "section", "summary",
                        "ul"})
_FORMATTING = frozenset({"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong",
                         "tt", "u"})
_SPECIAL = frozenset({"address", "applet", "area", "article", "aside", "base", "basefont", "bgsound",
                      "blockquote", "body", "br", "button", "caption", "center", "col", "colgroup", "dd",
                      "details", "dir", "div", "dl", "dt", "embed", "fieldset", "figcaption", "figure", "footer",
                      "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup",
                      "hr", "html", "iframe", "img", "input", "keygen", "li", "link", "listing", "main", "marquee",
                      "menu", "meta", "nav", "noembed", "noframes", "noscript", "object", "ol", "p", "param",
                      "plaintext", "pre", "script", "search", "section", "select", "source", "style", "summary",
                      "table", "tbody", "td", "template", "textarea", "tfoot", "th", "thead", "title", "tr",
                      "track", "ul", "wbr", "xmp"})


@dataclasses.dataclass
class _Open:
    """An element open on the parser's stack, with what it means for the text inside it."""

    tag: str
    token: Optional[str]  # its html token (<P>, <Li>...), None when it has none
    start_token: int = -1
    start_byte: int = -1
    words_at_start: int = 0
    candidate: bool = False
    hidden: bool = False  # neither tokens nor text inside
    no_text: bool = False  # tokens but no words inside
    no_candidate: bool = False
    in_sup: bool = False
    in_fragment_link: bool = False


_ROOT = _Open("#root", None)


class _PageParser(HTMLParser):
    """Streams the page into NQ tokens and candidates (see the module docstring)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.text = text
        self.bytes_at = byte_offsets(text)
        self.line_starts = [0] + [m.end() for m in regex.finditer("\n", text)]
        self.tokens: list[str] = []
        self.is_html: list[bool] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.candidates: list[tuple[int, int, int, int]] = []
        self.num_words = 0
        self.stack: list[_Open] = []
        self.end_matter = False  # inside a MediaWiki end section (See also, References...)
        self.run: list[tuple[str, list[int], list[int]]] = []  # text of the current run of words
        self.pending: Optional[tuple[int, str]] = None  # data event awaiting its end: (start, text)
        self.title_parts: dict[str, list[str]] = {"h1": [], "title": []}
        self.title_done: set[str] = set()

    # --- positions
    def _pos(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def _flush_pending(self, end: int) -> None:
        if self.pending is None:
            return
        start, payload = self.pending
        self.pending = None
        top = self.stack[-1] if self.stack else _ROOT
        if top.hidden or top.no_text or (top.in_sup and top.in_fragment_link):
            if payload.strip():
                self._flush_run()  # dropped text separates the words around it
            return
        decoded, char_starts, char_ends = _decode_span(self.text, start, end, len(payload))
        self.run.append((decoded, char_starts, char_ends))
        for tag in ("h1", "title"):
            if tag not in self.title_done and any(e.tag == tag for e in self.stack):
                self.title_parts[tag].append(decoded)

    def _flush_run(self) -> None:
        if not self.run:
            return
        text = "".join(part for part, _, _ in self.run)
        starts = [s for _, part, _ in self.run for s in part]
        ends = [e for _, _, part in self.run for e in part]
        self.run = []
        for tok, s, e in nq_words(text):
            self._emit(tok, False, self.bytes_at[starts[s]], self.bytes_at[ends[e - 1]])
            self.num_words += 1

    def _emit(self, token: str, is_html: bool, start_byte: int, end_byte: int) -> None:
        self.tokens.append(token)
        self.is_html.append(is_html)
        self.starts.append(start_byte)
        self.ends.append(end_byte)

    # --- the stack
    def _find_open(self, names, scope) -> int:
        """Index of the innermost open element named in `names`, -1 when a `scope` element comes first."""
        for i in range(len(self.stack) - 1, -1, -1):
            tag = self.stack[i].tag
            if tag in names:
                return i
            if tag in scope:
                return -1
        return -1

    def _close_from(self, index: int, pos: int, end_pos: int) -> None:
        """Closes stack[index:] (inner ones implicitly, at `pos`; stack[index] by the end tag [pos, end_pos))."""
        while len(self.stack) > index:
            entry = self.stack.pop()
            closing_tag = len(self.stack) == index
            if entry.tag not in _INLINE_TAGS:
                self._flush_run()
            if entry.tag in self.title_parts and entry.tag not in self.title_done and \
                    "".join(self.title_parts[entry.tag]).strip():
                self.title_done.add(entry.tag)
            if entry.token is None:
                continue
            start, end = (pos, end_pos) if closing_tag else (pos, pos)
            self._emit(f"</{entry.token.split(' ')[0].strip('<>')}>", True, self.bytes_at[start], self.bytes_at[end])
            if entry.candidate and self.num_words > entry.words_at_start:
                self.candidates.append((entry.start_token, len(self.tokens), entry.start_byte, self.bytes_at[end]))

    def _find_item(self, names) -> int:
        """HTML5's search for the list item (or dd/dt) a new one closes: it stops at any
        special element but address, div and p."""
        for i in range(len(self.stack) - 1, -1, -1):
            tag = self.stack[i].tag
            if tag in names:
                return i
            if tag in _SPECIAL and tag not in ("address", "div", "p"):
                return -1
        return -1

    def _implied_closes(self, tag: str, pos: int) -> None:
        if tag == "li":
            i = self._find_item({"li"})
        elif tag in ("dt", "dd"):
            i = self._find_item({"dt", "dd"})
        elif tag == "tr":
            i = self._find_open({"tr"}, _TABLE_SCOPE | {"tbody", "thead", "tfoot"})
        elif tag in ("td", "th"):
            i = self._find_open({"td", "th"}, _TABLE_SCOPE | {"tr"})
        elif tag in ("tbody", "thead", "tfoot"):
            i = self._find_open({"tbody", "thead", "tfoot"}, _TABLE_SCOPE)
            if i < 0:
                i = self._find_open({"tr"}, _TABLE_SCOPE)
        else:
            i = -1
        if i >= 0:
            self._close_from(i, pos, pos)
        if tag in _CLOSES_P:
            i = self._find_open({"p"}, _BUTTON_SCOPE)
            if i >= 0:
                self._close_from(i, pos, pos)
        if tag in _HEADINGS and self.stack and self.stack[-1].tag in _HEADINGS:
            self._close_from(len(self.stack) - 1, pos, pos)

    # --- parser events
    def handle_starttag(self, tag, attrs):
        pos = self._pos()
        self._flush_pending(pos)
        self._start(tag, attrs, pos, pos + len(self.get_starttag_text() or ""), self_closing=False)

    def handle_startendtag(self, tag, attrs):
        """`<x/>`: HTML5 ignores the slash (`<p/>` opens a paragraph) except in SVG and MathML."""
        pos = self._pos()
        self._flush_pending(pos)
        end = pos + len(self.get_starttag_text() or "")
        foreign = tag in ("svg", "math") or any(e.tag in ("svg", "math") for e in self.stack)
        self._start(tag, attrs, pos, end, self_closing=foreign)

    def _start(self, tag: str, attrs, pos: int, end: int, self_closing: bool) -> None:
        if tag in _TABLE_PARTS and self._find_open({"table"}, _TABLE_SCOPE) < 0:
            return  # a table part outside a table: HTML5 ignores the tag
        self._implied_closes(tag, pos)
        if tag not in _INLINE_TAGS:
            self._flush_run()
        parent = self.stack[-1] if self.stack else _ROOT
        attr = {k: (v or "") for k, v in attrs}
        classes = set(attr.get("class", "").split())
        hidden = parent.hidden or tag in _HIDDEN_TAGS or "hidden" in attr or \
            bool(_DISPLAY_NONE_RE.search(attr.get("style", "")))
        if tag == "span" and "mw-headline" in classes and any(e.tag == "h2" for e in self.stack):
            self.end_matter = attr.get("id", "") in _END_SECTIONS
        entry = _Open(
            tag, None, hidden=hidden,
            no_text=(parent.no_text or attr.get("id") in _NO_TEXT_IDS) and attr.get("id") not in _TEXT_AGAIN_IDS,
            no_candidate=parent.no_candidate or attr.get("id") in _NO_CANDIDATE_IDS or
            bool(classes & _NO_CANDIDATE_CLASSES),
            in_sup=parent.in_sup or tag == "sup",
            in_fragment_link=parent.in_fragment_link or (tag == "a" and attr.get("href", "").startswith("#")))
        if tag in _TOKEN_TAGS and not hidden:
            name = _TOKEN_TAGS[tag]
            if tag in ("td", "th"):
                name += "".join(f' {k}="{attr[k].strip()}"' for k in _KEPT_ATTRIBUTES
                                if attr.get(k, "").strip().isdigit())
            entry.token = f"<{name}>"
            entry.start_token, entry.start_byte = len(self.tokens), self.bytes_at[pos]
            entry.words_at_start = self.num_words
            entry.candidate = tag in _CANDIDATE_TAGS and not entry.no_candidate and not self.end_matter
            self._emit(entry.token, True, self.bytes_at[pos], self.bytes_at[end])
        if tag in _VOID_TAGS:
            return
        self.stack.append(entry)
        if self_closing:
            self._close_from(len(self.stack) - 1, end, end)

    def handle_endtag(self, tag):
        pos = self._pos()
        self._flush_pending(pos)
        gt = self.text.find(">", pos + 1)
        end = len(self.text) if gt < 0 else gt + 1
        if tag in ("body", "html"):
            return  # HTML5 keeps adding to the body after </body>
        if tag == "p":
            i = self._find_open({"p"}, _BUTTON_SCOPE)
        elif tag == "li":
            i = self._find_open({"li"}, _LIST_SCOPE)
        elif tag in ("dd", "dt"):
            i = self._find_open({tag}, _SCOPE)
        elif tag in _HEADINGS:
            i = self._find_open(_HEADINGS, _SCOPE)
        elif tag in _TABLE_PARTS or tag == "table":
            i = self._find_open({tag}, _TABLE_SCOPE)
        elif tag in _BLOCK_END:
            i = self._find_open({tag}, _SCOPE)
        elif tag in _FORMATTING:
            i = self._find_open({tag}, _SCOPE)
            if i >= 0 and any(e.tag in _SPECIAL for e in self.stack[i + 1:]):
                # HTML5's adoption agency: the blocks inside stay open; only the formatting ends
                del self.stack[i]
                return
        else:  # any other end tag closes its element unless a special element comes first
            i = self._find_open({tag}, _SPECIAL - {tag})
        if i < 0:  # a stray end tag: nothing to close
            if tag not in _INLINE_TAGS:
                self._flush_run()
            return
        self._close_from(i, pos, end)

    def _other(self, *_):
        self._flush_pending(self._pos())

    def parse_marked_section(self, i, report=1):
        """`<![...`: html.parser raises AssertionError on a keyword it does not know (`<![foo[`)
        or none (`<![ x`); HTML5 reads any of them as a bogus comment up to the next `>`."""
        end = self.rawdata.find(">", i + 3)
        if end < 0:
            return -1  # incomplete: at the end of the page it becomes text
        self.unknown_decl(self.rawdata[i + 3:end])
        return end + 1

    handle_comment = handle_decl = handle_pi = unknown_decl = _other

    def handle_data(self, data):
        pos = self._pos()
        self._flush_pending(pos)
        self.pending = (pos, data)

    def finish(self) -> None:
        self.close()
        self._flush_pending(len(self.text))
        self._close_from(0, len(self.text), len(self.text))
        self._flush_run()


_CHARREF_RE = regex.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


def _decode_span(text: str, start: int, end: int, decoded_length: int) -> tuple[str, list[int], list[int]]:
    """Decodes the entities of text[start:end] as html.parser did -> (decoded text, and for
    each decoded character its source span [starts[i], ends[i])); stops after
    `decoded_length` characters (the parser's own text) when the source runs on."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = start
    count = 0
    for m in _CHARREF_RE.finditer(text, start, end):
        if count >= decoded_length:
            break
        take = min(m.start() - pos, decoded_length - count)
        pieces.append(text[pos:pos + take])
        starts.extend(range(pos, pos + take))
        ends.extend(range(pos + 1, pos + take + 1))
        count += take
        if count >= decoded_length:
            break
        value = _html.unescape(m.group())
        if value == m.group():  # not an entity: plain characters
            pos = m.start()
            continue
        # `&ampa` -> `&a`: a name without `;` is decoded by its longest entity prefix, the rest
        # is text; the replacement spans the entity, each character of the rest itself.
        rest = 0
        while rest < len(value) - 1 and value[-1 - rest] == m.group()[-1 - rest]:
            rest += 1
        entity_end = m.end() - rest
        pieces.append(value)
        starts.extend([m.start()] * (len(value) - rest) + list(range(entity_end, m.end())))
        ends.extend([entity_end] * (len(value) - rest) + list(range(entity_end + 1, m.end() + 1)))
        count += len(value)
        pos = m.end()
    else:
        take = max(0, min(end - pos, decoded_length - count))
        pieces.append(text[pos:pos + take])
        starts.extend(range(pos, pos + take))
        ends.extend(range(pos + 1, pos + take + 1))
    return "".join(pieces), starts, ends


def _top_level(spans: list[tuple[int, int]]) -> list[bool]:
    """For token spans sorted by (start, -end): True where no other span contains it."""
    flags = []
    outer_end = -1
    for start, end in spans:
        flags.append(end > outer_end)
        if end > outer_end:
            outer_end = end
    return flags


def document_from_html(html: Source, *, example_id: int = 0, question_text: str = "",
                       title: Optional[str] = None, source: str = "<html>",
                       max_document_bytes: Optional[int] = None) -> NqDocument:
    """An HTML page (str, or UTF-8 bytes) -> NqDocument in NQ's original layout.

    Byte offsets (`start_bytes`, `end_bytes`, the candidates') index the UTF-8 bytes of
    `html`.  `title` defaults to the page's first `<h1>`, else its `<title>`.  Bad input
    (not UTF-8, over `max_document_bytes`) raises NqInputError naming `source`; malformed
    HTML is never an error."""
    text, _ = decode_source(html, source, max_document_bytes)
    parser = _PageParser(text)
    parser.feed(text)
    parser.finish()
    found = sorted(parser.candidates, key=lambda c: (c[0], -c[1]))
    tops = _top_level([(s, e) for s, e, _, _ in found])
    candidates = [Candidate(s, e, top, sb, eb) for (s, e, sb, eb), top in zip(found, tops)]
    if title is None:
        title = collapse("".join(parser.title_parts["h1"])) or collapse("".join(parser.title_parts["title"]))
    return NqDocument(example_id=example_id, question_text=question_text, title=title,
                      tokens=parser.tokens, is_html=parser.is_html, candidates=candidates, annotations=[],
                      start_bytes=parser.starts, end_bytes=parser.ends, simplified=False)
