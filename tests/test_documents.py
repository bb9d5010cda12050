"""documents: raw HTML and plain text -> NqDocument.

References nobody here wrote: the real original-format NQ example (its `document_html`
rebuilt must give its own tokens and candidates), html5lib (the WHATWG tree builder: where
elements end in malformed HTML, and their text), and `tokenizers`' BertPreTokenizer rule
(white space split, punctuation isolated) for plain text.
"""

import collections
import gzip
import json
import random
import unicodedata

import pytest

from conftest import NQ_REAL
from nq_baseline.reading import html_page, plain_text, source_text, words
from nq_baseline.features import windows as F
from nq_baseline.reading import nq_data
from nq_baseline.common.errors import NqInputError
from nq_baseline.features.tokenization import NqTokenizer

CANDIDATE_TAGS = {"p", "table", "tr", "ul", "ol", "dl", "li", "dd", "dt"}


def _real_example():
    raw = gzip.open(NQ_REAL / "nq-dev-full-1.jsonl.gz", "rb").readline()
    return raw, json.loads(raw)


def _token_tuples(doc):
    return list(zip(doc.tokens, doc.is_html, doc.start_bytes, doc.end_bytes))


def _candidate_tuples(doc):
    return [(c.start_token, c.end_token, c.start_byte, c.end_byte, c.top_level) for c in doc.candidates]


# --------------------------------------------------------------------------- the real example


def test_real_example_candidates_and_title_are_rebuilt_exactly():
    raw, obj = _real_example()
    doc = html_page.document_from_html(obj["document_html"])
    theirs = [(c["start_token"], c["end_token"], c["start_byte"], c["end_byte"], c["top_level"])
              for c in obj["long_answer_candidates"]]
    assert _candidate_tuples(doc) == theirs  # 10 of 10: token and byte offsets, top_level
    assert doc.title == obj["document_title"]
    assert doc.simplified is False and doc.annotations == []


def test_real_example_tokens_match_at_99_7_percent_and_every_difference_is_known():
    """2,974 of the example's 2,983 tokens (99.70%) are rebuilt exactly (text, html flag,
    start and end byte), and 2,974 of our 2,977 (99.90%) are the example's.  Every
    difference, and why:

    - `<TITLE>Trade winds - Wikipedia`: NQ has `wikipedia` lower-cased (the only token it
      lower-cased anywhere); we keep the text.
    - `日本語` (the Japanese language link): NQ split it into `日本` `語` (a CJK word
      segmenter); a run of letters stays one word here.
    - MediaWiki's menus: NQ dropped the words of the navigation menus and footer links but
      kept `Talk` (pt-anontalk), `Contents` (n-contents), `About Wikipedia` (n-aboutsite,
      footer-places-about), and kept every language name but the first (`العربية`); the
      simplified examples show the same four kept and the first language dropped on
      other pages.  Nothing in the HTML tells those apart from their neighbours, so we drop
      all of the menus' words but the language names: 6 tokens missing, 1 extra.
    These are all outside the long-answer candidates, which are rebuilt exactly."""
    raw, obj = _real_example()
    doc = html_page.document_from_html(obj["document_html"])
    theirs = {(t["token"], t["html_token"], t["start_byte"], t["end_byte"]) for t in obj["document_tokens"]}
    ours = set(_token_tuples(doc))
    matched = len(theirs & ours)
    missing = sorted(theirs - ours, key=lambda t: t[2])
    extra = sorted(ours - theirs, key=lambda t: t[2])
    print(f"tokens: {matched}/{len(theirs)} of the example's ({matched / len(theirs):.2%}), "
          f"{matched}/{len(ours)} of ours ({matched / len(ours):.2%})")
    print("missing:", missing)
    print("extra:", extra)
    assert len(ours) == len(doc.tokens)  # no token twice
    assert matched / len(theirs) > 0.9969 and matched / len(ours) > 0.9989  # 99.70%, 99.90%
    # Every difference lies outside NQ's own long-answer candidates (page furniture, the title):
    # inside them, the example's tokens are rebuilt one for one.
    spans = [(c["start_byte"], c["end_byte"]) for c in obj["long_answer_candidates"]]
    for _, _, start, end in missing + extra:
        assert not any(a <= start and end <= b for a, b in spans), (start, end)
    inside = [t for t in theirs if any(a <= t[2] and t[3] <= b for a, b in spans)]
    assert inside and all(t in ours for t in inside)


def test_real_example_rebuilt_gives_the_same_bert_joint_features(nq_vocab):
    """With the example's annotations, the rebuilt document is labelled and windowed exactly
    as the original one (training and prediction)."""
    raw, obj = _real_example()
    original = nq_data.parse_line(raw)
    rebuilt = html_page.document_from_html(obj["document_html"], example_id=original.example_id,
                                   question_text=original.question_text)
    rebuilt.annotations = original.annotations
    tok = NqTokenizer(str(nq_vocab))
    cfg = F.FeatureConfig(include_unknowns=1.0)
    a, b = F.build_example(original, cfg), F.build_example(rebuilt, cfg)
    assert a.words == b.words and a.word_map == b.word_map and a.context_candidates == b.context_candidates
    assert (a.answer_type, a.start_word, a.end_word) == (b.answer_type, b.start_word, b.end_word)
    assert a.answer_type != F.UNKNOWN
    for training in (True, False):
        fa = F.make_features(a, tok, cfg, training, random.Random(0))
        fb = F.make_features(b, tok, cfg, training, random.Random(0))
        assert len(fa) == len(fb) > 1
        for x, y in zip(fa, fb):
            assert (x.input_ids == y.input_ids).all() and (x.token_map == y.token_map).all()
            assert (x.start_position, x.end_position, x.answer_type) == (y.start_position, y.end_position,
                                                                          y.answer_type)


def test_text_of_a_real_candidate_is_its_paragraphs_text():
    """The first candidate's text equals html5lib's text of that <P> (white space collapsed)."""
    html5lib = pytest.importorskip("html5lib")
    raw, obj = _real_example()
    doc = html_page.document_from_html(obj["document_html"])
    root = html5lib.parse(obj["document_html"], treebuilder="etree", namespaceHTMLElements=False)
    first_p = next(p for p in root.iter("p") if "".join(p.itertext()).strip())
    c = doc.candidates[0]
    got = source_text.text_of(doc, c.start_token, c.end_token, obj["document_html"])
    assert got == " ".join("".join(first_p.itertext()).split())
    assert got.startswith("The trade winds are the prevailing pattern") and "Earth's atmosphere," in got


# --------------------------------------------------------------------------- hand-made HTML


def test_tags_become_nq_html_tokens_spanning_the_whole_source_tag():
    page = ('<HTML><BODY><H2 id="s">Head</H2><DIV class="x"><P class="lead">A <A href="/x">link</A> '
            '<B>bold</B></P></DIV><TABLE border="1"><TR valign="top"><TH colspan="2" style="a">h</TH>'
            '<TD rowspan=3>d</TD></TR></TABLE><DL><DT>t</DT><DD>d</DD></DL><OL><LI>i</LI></OL></BODY></HTML>')
    doc = html_page.document_from_html(page)
    data = page.encode()
    tags = [(t, data[s:e].decode()) for t, h, s, e in _token_tuples(doc) if h]
    assert tags == [
        ("<H2>", '<H2 id="s">'), ("</H2>", "</H2>"), ("<P>", '<P class="lead">'), ("</P>", "</P>"),
        ("<Table>", '<TABLE border="1">'), ("<Tr>", '<TR valign="top">'),
        ('<Th colspan="2">', '<TH colspan="2" style="a">'), ("</Th>", "</TH>"), ('<Td rowspan="3">', "<TD rowspan=3>"),
        ("</Td>", "</TD>"), ("</Tr>", "</TR>"), ("</Table>", "</TABLE>"), ("<Dl>", "<DL>"), ("<Dt>", "<DT>"),
        ("</Dt>", "</DT>"), ("<Dd>", "<DD>"), ("</Dd>", "</DD>"), ("</Dl>", "</DL>"), ("<Ol>", "<OL>"),
        ("<Li>", "<LI>"), ("</Li>", "</LI>"), ("</Ol>", "</OL>")]
    assert all(nq_data.is_html_token(t) for t, _ in tags)
    assert [t for t, h in zip(doc.tokens, doc.is_html) if not h] == ["Head", "A", "link", "bold", "h", "d",
                                                                     "t", "d", "i"]


def test_nested_lists_and_tables_give_nested_candidates():
    page = ("<p>Intro text.</p><ul><li>one<ul><li>inner</li></ul></li><li>two</li></ul>"
            "<table><tr><td>cell<table><tr><td>deep</td></tr></table></td></tr><tr><td>row2</td></tr></table>")
    doc = html_page.document_from_html(page)
    data = page.encode()
    got = [(doc.tokens[c.start_token], c.top_level, data[c.start_byte:c.end_byte].decode()) for c in doc.candidates]
    assert got == [
        ("<P>", True, "<p>Intro text.</p>"),
        ("<Ul>", True, "<ul><li>one<ul><li>inner</li></ul></li><li>two</li></ul>"),
        ("<Li>", False, "<li>one<ul><li>inner</li></ul></li>"),
        ("<Ul>", False, "<ul><li>inner</li></ul>"),
        ("<Li>", False, "<li>inner</li>"),
        ("<Li>", False, "<li>two</li>"),
        ("<Table>", True, "<table><tr><td>cell<table><tr><td>deep</td></tr></table></td></tr><tr><td>row2</td></tr>"
                          "</table>"),
        ("<Tr>", False, "<tr><td>cell<table><tr><td>deep</td></tr></table></td></tr>"),
        ("<Table>", False, "<table><tr><td>deep</td></tr></table>"),
        ("<Tr>", False, "<tr><td>deep</td></tr>"),
        ("<Tr>", False, "<tr><td>row2</td></tr>"),
    ]
    for c in doc.candidates:  # token and byte offsets agree
        assert (doc.start_bytes[c.start_token], doc.end_bytes[c.end_token - 1]) == (c.start_byte, c.end_byte)


def test_entities_give_decoded_tokens_over_the_source_bytes():
    page = "<p>AT&amp;T &#8212; Earth&#39;s caf&eacute;&nbsp;bar &#x263A; &bogus; 5 &lt; 6</p>"
    doc = html_page.document_from_html(page)
    data = page.encode()
    words = [(t, data[s:e].decode()) for t, h, s, e in _token_tuples(doc) if not h]
    assert words == [("AT&T", "AT&amp;T"), ("--", "&#8212;"), ("Earth", "Earth"), ("'s", "&#39;s"),
                     ("café", "caf&eacute;"), ("bar", "bar"), ("☺", "&#x263A;"), ("&", "&"), ("bogus", "bogus"),
                     (";", ";"), ("5", "5"), ("<", "&lt;"), ("6", "6")]


def test_words_split_as_nq_splits_them():
    """Each case is one the real NQ examples show (original and simplified format)."""
    cases = {
        'He said "hi" [edit]': ["He", "said", "``", "hi", "''", "(", "edit", ")"],
        "Earth's world's don't cannot": ["Earth", "'s", "world", "'s", "do", "n't", "can", "not"],
        "mid-summer non-profit e-mail mid-2016 Pay-per-click 2-4 Bân-lâm-gú":
            ["mid-summer", "non-profit", "e-mail", "mid-2016", "Pay", "-", "per", "-", "click", "2", "-", "4",
             "Bân", "-", "lâm", "-", "gú"],
        "13,000 10.1016/j.margeo.2004.04.007 2.2.1 145–151 208..145A":
            ["13,000", "10.1016", "/", "j.", "margeo.", "2004.04.", "007", "2.2.", "1", "145", "--", "151", "208",
             "...", "145A"],
        "G. E. Smith, U. S. Survey, U.S. and Carol G. Braham; A&M Inc., p. 18. Springer. p. 1 Geology. 208":
            ["G.E.", "Smith", ",", "U.S.", "Survey", ",", "U.S.", "and", "Carol", "G.", "Braham", ";", "A&M", "Inc.",
             ",", "p.", "18", ".", "Springer", ".", "p.", "1", "Geology.", "208"],
        "(i.e., the end). Usinfo.state.gov (1909).Advanced":
            ["(", "i.e.", ",", "the", "end", ")", ".", "Usinfo.state.gov", "(", "1909", ").", "Advanced"],
        "https://en.wikipedia.org/w/index.php?title=X&oldid=1\". हिन्दी":
            ["https://en.wikipedia.org/w/index.php?title=X&oldid=1", "''", ".", "हिन्दी"],
    }
    for text, want in cases.items():
        assert [t for t, _, _ in words.nq_words(text)] == want, text
        for tok, s, e in words.nq_words(text):  # every token spans its own text
            assert e > s and (tok == text[s:e] or tok in ("``", "''", "(", ")", "--", "...")
                              or tok == text[s:e].replace(" ", "")), (tok, text[s:e])


def test_malformed_html_ends_elements_where_html5lib_does():
    """Unclosed <p>/<li>/<td>, stray end tags, misnested formatting: the candidates (tag and
    text) are html5lib's elements with text, on hand-picked cases and on 600 random tag soups."""
    html5lib = pytest.importorskip("html5lib")

    def reference(page):
        root = html5lib.parse(page, treebuilder="etree", namespaceHTMLElements=False)
        return collections.Counter(
            (el.tag, "".join("".join(el.itertext()).split())) for el in root.iter()
            if el.tag in CANDIDATE_TAGS and "".join(el.itertext()).strip())

    def ours(page):
        doc = html_page.document_from_html(page)
        return collections.Counter(
            (doc.tokens[c.start_token].strip("<>").split()[0].lower(),
             "".join(source_text.text_of(doc, c.start_token, c.end_token, page).split())) for c in doc.candidates)

    cases = ["<p>one<p>two</p></p><ul><li>a<li>b</ul>", "<table><tr><td>x<td>y<tr><th colspan=2>h</table>",
             "</p>stray<p>unclosed <b>bold", "<p>x<div>y</div>z</p>", "<dl><dt>term<dd>def<dt>t2</dl>",
             "<table><tr><td><table><tr><td>inner</td></tr></table>outer</td></tr></table>",
             "<ul><li>one<p>para in li<li>two</ul>", "<ol><li>x</ol></li></li><p>y",
             "<table><tbody><tr><td>1</td></tr></tbody><tbody><tr><td>2</tbody></table>",
             "<h2>head<p>para</h2>more", "<li>orphan item<li>another", "<p><ul><li>x</ul>tail</p>",
             "<p>a<b>b<p>c</b>d</p>", "<ul><li>x<h2><li>y</h2></ul>", "<body><p>x</body>y</html>z"]
    rng = random.Random(7)
    pieces = ["<p>", "</p>", "<li>", "</li>", "<ul>", "</ul>", "<ol>", "</ol>", "<div>", "</div>", "<b>", "</b>",
              "<dl>", "<dt>", "<dd>", "</dl>", "</dd>", "<h2>", "</h2>", "<span>", "</span>", "x", "y ", "&amp;",
              "<p/>", "<br/>", "<li/>"]
    cases += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 25))) for _ in range(600)]
    for page in cases:
        page = "<!DOCTYPE html>" + page  # standards mode: a <table> closes an open <p>
        assert ours(page) == reference(page), page


def test_malformed_html_never_fails_and_stays_consistent():
    rng = random.Random(3)
    pieces = ["<p>", "</p>", "<li>", "<ul>", "</ul>", "<table>", "<tr>", "<td>", "</td>", "</table>", "<div>",
              "</div>", "<b>", "</b>", "&amp;", "&#8212;", "&bogus;", "&", "<", ">", "<!--", "-->", "<script>",
              "</script>", "text", "wörd", "日本", " ", "\n", '"', "<h2>", "</h2>", '<sup><a href="#x">1</a></sup>',
              '<span style="display:none">', "</span>", "<br/>", "<p/>", "<dl>", "<dt>", "<dd>", "<th colspan=2>",
              "<!DOCTYPE html>", "<?x?>", "<![CDATA[x]]>", "<![foo[", "<![ ", "<![if x]>", "]]>", "</", "<a", 'x="y',
              "'", "p.", "...", "<!", "<!DOCTYPE x [", "<textarea>", "<title>", "<math>", "<p>\r\n", "\ufeff"]
    characters = list("<>!/[]&#;-'\"=?apli x\n") + ["<p", "</", "<!--", "-->", "<![", "&amp", "&#x", "<script"]
    pages = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40))) for _ in range(1500)]
    pages += ["".join(rng.choice(characters) for _ in range(rng.randrange(0, 60))) for _ in range(1500)]
    for page in pages:
        doc = html_page.document_from_html(page)
        size = len(page.encode())
        depth, previous = 0, 0
        for i, (tok, is_html, s, e) in enumerate(_token_tuples(doc)):
            assert previous <= s <= e <= size, page  # in document order, inside the page
            previous = s
            if is_html:
                assert nq_data.is_html_token(tok)
                depth += -1 if tok.startswith("</") else 1
                assert depth >= 0, page
            else:
                assert e > s and tok and not any(c.isspace() for c in tok), page
                seen = "".join(source_text.text_of(doc, i, i + 1, page).split())  # the word's own source text
                assert seen == tok or tok in ("``", "''", "(", ")", "--", "..."), (page, tok, seen)
        assert depth == 0, page  # every tag token is closed
        for c in doc.candidates:
            assert doc.is_html[c.start_token] and doc.tokens[c.end_token - 1].startswith("</")
            assert not all(doc.is_html[c.start_token:c.end_token])


def test_implicitly_closed_elements_end_with_an_empty_span_where_they_were_closed():
    page = "<p>one<p>two<ul><li>a<li>b</ul>"
    doc = html_page.document_from_html(page)
    ends = [(t, s, e) for t, h, s, e in _token_tuples(doc) if h and t.startswith("</")]
    assert ends == [("</P>", 6, 6), ("</P>", 12, 12), ("</Li>", 21, 21), ("</Li>", 26, 26), ("</Ul>", 26, 31)]
    assert [(c.start_byte, c.end_byte) for c in doc.candidates] == [(0, 6), (6, 12), (12, 31), (16, 21), (21, 26)]


def test_hidden_text_footnote_markers_and_comments_give_no_words():
    page = ("<head><title>T</title><style>p{color:red}</style><script>var x = '<p>no</p>';</script></head>"
            "<p>Seen<!-- not seen --> text<sup class=reference><a href='#cite_note-1'>[1]</a></sup>.</p>"
            "<p style='display: none'>gone</p><div hidden><p>gone too</p></div><noscript>nojs</noscript>"
            "<p>x<sup>2</sup> and <svg><text>vector</text></svg>end</p>")
    doc = html_page.document_from_html(page)
    assert [t for t, h in zip(doc.tokens, doc.is_html) if not h] == ["T", "Seen", "text", ".", "x2", "and", "end"]
    assert len(doc.candidates) == 2  # the hidden paragraphs are no candidates


def test_mediawiki_furniture_gives_no_candidate():
    page = ('<div id="toc" class="toc"><ul><li>1 History</li></ul></div><p>Body text.</p>'
            '<h2><span class="mw-headline" id="See_also">See also</span></h2><ul><li>Other page</li></ul>'
            '<h2><span class="mw-headline" id="Later">Later</span></h2><ul><li>Back in the body</li></ul>'
            '<table class="navbox"><tr><td>nav</td></tr></table>'
            '<div id="mw-navigation"><h2>Navigation menu</h2><ul><li>Main page</li></ul>'
            '<div id="p-lang"><h3 id="p-lang-label">Languages</h3><ul><li>Deutsch</li></ul></div></div>')
    doc = html_page.document_from_html(page)
    assert [source_text.text_of(doc, c.start_token, c.end_token, page) for c in doc.candidates] == [
        "Body text.", "Back in the body", "Back in the body"]
    words = [t for t, h in zip(doc.tokens, doc.is_html) if not h]
    assert "Main" not in words and "Languages" not in words and "Deutsch" in words and "History" in words


def test_page_without_candidates_goes_through_the_pipeline(nq_vocab):
    doc = html_page.document_from_html("<html><body><div>Just some text, no paragraph.</div></body></html>")
    assert doc.candidates == [] and "paragraph" in doc.tokens
    ex = F.build_example(doc, F.FeatureConfig())
    assert ex.words == ["[ContextId=-1]", "[NoLongAnswer]"] and ex.gold_status == "null"
    assert len(F.make_features(ex, NqTokenizer(str(nq_vocab)), F.FeatureConfig(), False)) == 1
    empty = html_page.document_from_html("")
    assert empty.tokens == [] and empty.candidates == []


def test_title_comes_from_h1_then_title_unless_given():
    assert html_page.document_from_html("<title>Page - Site</title><h1>The  <i>Heading</i></h1>").title == "The Heading"
    assert html_page.document_from_html("<title>Page &amp; Site</title><p>x</p>").title == "Page & Site"
    assert html_page.document_from_html("<h1>H</h1>", title="Mine").title == "Mine"
    assert html_page.document_from_html("<p>none</p>").title == ""


def test_str_and_bytes_give_the_same_document():
    page = "<p>Zweite Straße — naïve 日本語 🙂.</p>"
    assert html_page.document_from_html(page) == html_page.document_from_html(page.encode("utf-8"))
    text = "Zweite Straße.\n\n日本語 🙂"
    assert plain_text.document_from_text(text) == plain_text.document_from_text(text.encode("utf-8"))


@pytest.mark.parametrize("convert, source", [(html_page.document_from_html, "<html>"), (plain_text.document_from_text, "<text>")])
def test_bad_input_is_one_clear_error(convert, source):
    with pytest.raises(NqInputError, match=rf"^{source}: document is not UTF-8 \(byte offset 5"):
        convert(b"<p>ab\xff\xfe</p>")
    with pytest.raises(NqInputError, match=r"^page.html: document is 12 bytes, over the limit of 10 bytes"):
        convert("é" * 6, source="page.html", max_document_bytes=10)
    with pytest.raises(NqInputError, match="not valid Unicode"):
        convert("a\ud800b")
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="max_document_bytes"):
            convert("<p>x</p>", max_document_bytes=bad)
    with pytest.raises(TypeError):
        convert(12)
    assert convert("<p>x</p>", max_document_bytes=8).tokens  # at the limit is fine


# --------------------------------------------------------------------------- plain text


def _is_bert_punctuation(c: str) -> bool:
    cp = ord(c)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or \
        unicodedata.category(c).startswith("P")


def test_text_paragraphs_split_on_blank_lines():
    text = ("\n  First paragraph, line one.\n   line two\t\n \t \n\nSecond\r\n\r\n\u3000\n"
            "Third — the end.  \n\n\n")
    doc = plain_text.document_from_text(text, title="T")
    data = text.encode("utf-8")
    paragraphs = [data[c.start_byte:c.end_byte].decode() for c in doc.candidates]
    assert paragraphs == ["First paragraph, line one.\n   line two", "Second", "Third — the end."]
    assert all(c.top_level for c in doc.candidates) and doc.title == "T"
    for c in doc.candidates:
        assert doc.tokens[c.start_token] == "<P>" and doc.tokens[c.end_token - 1] == "</P>"
        assert (doc.start_bytes[c.start_token], doc.end_bytes[c.start_token]) == (c.start_byte, c.start_byte)
        assert (doc.start_bytes[c.end_token - 1], doc.end_bytes[c.end_token - 1]) == (c.end_byte, c.end_byte)
        assert not any(doc.is_html[c.start_token + 1:c.end_token - 1])
    assert doc.candidates[1].start_token == doc.candidates[0].end_token  # <P> words </P>, nothing between
    assert plain_text.document_from_text(" \n\t\n").tokens == [] and plain_text.document_from_text("").candidates == []


def test_text_words_are_bert_pre_tokenization_with_utf8_byte_offsets():
    text = ("Héllo, wörld! Don't stop: 3.14 «quoted» — naïve e\u0301t 日本語 🙂 x\u00a0y.\n\n"
            "Second paragraph (ünïcödé) ends here…")
    doc = plain_text.document_from_text(text)
    data = text.encode("utf-8")
    words = [(t, s, e) for t, h, s, e in _token_tuples(doc) if not h]
    pos = 0
    for word, start, end in words:
        pos = text.index(word, pos)  # where the word is, found independently
        assert (start, end) == (len(text[:pos].encode()), len(text[:pos + len(word)].encode()))
        assert data[start:end].decode() == word
        pos += len(word)
        assert not any(c.isspace() for c in word)
        assert len(word) == 1 or not any(_is_bert_punctuation(c) for c in word)  # punctuation stands alone
    # the words are the text without its white space, in order
    assert "".join(w for w, _, _ in words) == "".join(text.split())
    assert [w for w, _, _ in words][:8] == ["Héllo", ",", "wörld", "!", "Don", "'", "t", "stop"]


def test_text_of_rejoins_words_as_the_source_had_them():
    text = "Hello, world!  It's   fine.\n\nNext"
    doc = plain_text.document_from_text(text)
    c = doc.candidates[0]
    assert source_text.text_of(doc, c.start_token, c.end_token) == "Hello, world! It's fine."
    assert source_text.text_of(doc, c.start_token, c.end_token, text) == "Hello, world! It's fine."
    page = '<p>The <a href="x">tropics</a>, &quot;U. S.&quot; Earth&#39;s<sup><a href="#n">[1]</a></sup> end</p>'
    hdoc = html_page.document_from_html(page)
    h = hdoc.candidates[0]
    assert source_text.text_of(hdoc, h.start_token, h.end_token, page) == 'The tropics, "U. S." Earth\'s end'
    assert source_text.text_of(hdoc, h.start_token, h.end_token) == "The tropics , ``U.S.'' Earth's end"
    simplified = nq_data.NqDocument(1, "q", "t", ["<P>", "a", "b", "</P>"], [True, False, False, True], [], [])
    assert source_text.text_of(simplified, 0, 4) == "a b"
    with pytest.raises(ValueError):
        source_text.text_of(doc, 0, 999)


# --------------------------------------------------------------------------- helpers


def test_char_offsets_map_byte_spans_to_character_spans():
    page = "<p>Zweite Straße — naïve 日本語 🙂 end</p>"
    doc = html_page.document_from_html(page)
    data = page.encode()
    for s, e in zip(doc.start_bytes, doc.end_bytes):
        for given in (page, data):
            cs, ce = source_text.char_offsets(given, s, e)
            assert page[cs:ce] == data[s:e].decode()
    with pytest.raises(ValueError, match="cuts a UTF-8 character"):
        source_text.char_offsets(page, data.index("ß".encode()) + 1, len(data))
    with pytest.raises(ValueError, match="out of range"):
        source_text.char_offsets(page, 0, len(data) + 1)


def test_looks_like_html():
    for s in ("<!DOCTYPE html><title>x</title>", "  <html lang=en>", "text with <b>bold</b>", "<p>para",
              "line<br/>break", b"<div class='x'>y</div>", "\ufeff<!-- c -->text"):
        assert source_text.looks_like_html(s), s
    for s in ("plain text", "a < b and c > d", "x<y>z", "email me <someone@example.com>", "", "3 <5"):
        assert not source_text.looks_like_html(s), s


# --------------------------------------------------------------------------- the pipeline


def test_both_converters_feed_the_feature_pipeline_with_real_word_pieces(nq_vocab):
    tok = NqTokenizer(str(nq_vocab))
    cfg = F.FeatureConfig()
    page = ("<html><head><title>Trade winds</title></head><body><h1>Trade winds</h1>"
            "<p>The trade winds are the prevailing pattern of easterly surface winds found in the tropics.</p>"
            "<ul><li>Sailing ships used them for centuries.</li><li>They steer tropical storms.</li></ul>"
            "<table><tr><th>Region</th><td>Tropics</td></tr></table></body></html>")
    text = ("The trade winds are the prevailing pattern of easterly surface winds found in the tropics.\n\n"
            "Sailing ships used them for centuries.")
    for doc in (html_page.document_from_html(page, question_text="what are trade winds"),
                plain_text.document_from_text(text, question_text="what are trade winds")):
        ex = F.build_example(doc, cfg)
        assert len(ex.context_candidates) == sum(c.top_level for c in doc.candidates) >= 2
        feats = F.make_features(ex, tok, cfg, False)
        assert len(feats) == 1
        ids = feats[0].input_ids[feats[0].input_mask == 1].tolist()
        assert tok.unk_id not in ids
        assert tok.vocab["trade"] in ids and tok.vocab["prevailing"] in ids
        mapped = sorted({int(t) for t in feats[0].token_map if t >= 0})
        assert mapped and all(not doc.is_html[t] for t in mapped)
        assert "prevailing" in [doc.tokens[t] for t in mapped]


def test_text_of_keeps_the_words_of_two_cells_apart():
    """Table cells, list items and paragraphs touch in the source (`</td><td>`): their words are
    still two words in a span's text; inline tags (`<i>`) do not part words."""
    page = ("<table><tr><th>Mayor</th><td>Ilse Varn</td></tr><tr><th>Population</th><td>13,000</td></tr>"
            "</table><ul><li>mill</li><li>church</li></ul><p>Geology<i>x</i>.</p>")
    doc = html_page.document_from_html(page)
    assert source_text.text_of(doc, 0, len(doc.tokens), page) == "Mayor Ilse Varn Population 13,000 mill church Geologyx."
    # without the source, words are parted by their byte spans; cells and items still by their block
    without_source = source_text.text_of(doc, 0, len(doc.tokens))
    assert without_source.startswith("Mayor Ilse Varn Population 13,000 mill church Geology")
