"""nq_writer: one structured document -> examples in both NQ formats."""

import json

import pytest

from nq_baseline.reading import nq_data

from nq_baseline.reading import nq_writer
from nq_baseline.reading.nq_writer import GoldAnswer


def test_writer_title_and_paragraphs():
    """The SQuAD-style use: title + paragraphs, answers from character offsets."""
    text = "Tesla moved to New York in 1884 , at age 28 ."
    offsets = nq_writer.tokenize("Tesla moved to New York in 1884, at age 28.")
    words = [w for w, _, _ in offsets]
    assert words == text.split()
    span = nq_writer.char_span_to_word_span(offsets, 15, 23)  # "New York"
    assert words[span[0]:span[1]] == ["New", "York"]
    blocks = [("p", "Nikola Tesla was an inventor ."), ("p", words)]
    original, simplified = nq_writer.nq_examples(2 ** 62 + 7, "where did tesla move", "Nikola Tesla", blocks,
                                                   [GoldAnswer(1, span=span), None])
    for obj in (original, simplified):
        doc = nq_data.parse_line(json.dumps(obj).encode())
        assert doc.example_id == 2 ** 62 + 7
        assert len(doc.candidates) == 2 and all(c.top_level for c in doc.candidates)
        a = doc.annotations[0]
        assert a.candidate_index == 1
        assert doc.tokens[a.short_answers[0].start_token:a.short_answers[0].end_token] == ["New", "York"]
        assert not doc.annotations[1].has_long_answer
    assert nq_writer.find_span(words, "New York") == span


def test_writer_nested_and_escaping():
    blocks = [("h2", "Facts"), ("table", [[("th", "Name"), ("th", "Value")], ["A&B", "<x"]]),
              ("ul", ["one two", ["three"]])]
    original, _ = nq_writer.nq_examples(-5, "q", "T", blocks,
                                          [GoldAnswer(1, nested=1, span=(0, 2)), GoldAnswer(2, span=[(0, 1), (2, 3)]),
                                           GoldAnswer(2, nested=0, yes_no="YES")], html_style="wiki")
    doc = nq_data.document_from_json(original)
    assert [c.top_level for c in doc.candidates] == [True, False, False, True, False, False]
    raw = original["document_html"].encode()
    amp = doc.tokens.index("A&B")
    assert raw[doc.start_bytes[amp]:doc.end_bytes[amp]] == b"A&amp;B"
    a0, a1, a2 = doc.annotations
    short = range(a0.short_answers[0].start_token, a0.short_answers[0].end_token)
    assert a0.candidate_index == 2 and [doc.tokens[t] for t in short if not doc.is_html[t]] == ["A&B", "<x"]
    assert a1.candidate_index == 3 and [doc.tokens[s.start_token] for s in a1.short_answers] == ["one", "three"]
    assert a2.candidate_index == 4 and a2.yes_no_answer == "YES"


@pytest.mark.parametrize("blocks,answer,message", [
    ([("p", ["a b"])], None, "whitespace"),
    ([("p", ["<P>"])], None, "HTML tag"),
    ([("p", [""])], None, "non-empty"),
    ([("div", "a")], None, "unknown kind"),
    ([("p", "a b")], GoldAnswer(3), "out of range"),
    ([("h2", "a b")], GoldAnswer(0), "heading"),
    ([("ul", ["a"])], GoldAnswer(0, nested=2), "nested index"),
    ([("p", "a b")], GoldAnswer(0, span=(1, 3)), "short answer"),
    ([("p", "a b")], GoldAnswer(0, yes_no="MAYBE"), "yes_no"),
])
def test_writer_rejects(blocks, answer, message):
    with pytest.raises(ValueError, match=message):
        nq_writer.nq_examples(1, "q", "T", blocks, [answer])
