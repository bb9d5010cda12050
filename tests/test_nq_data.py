"""nq_data: reading NQ files (both formats), line references, validation."""

import dataclasses
import gzip
import json

import pytest

from conftest import synthetic_nq
from nq_baseline.reading import nq_data


# --------------------------------------------------------------------------- validation (bad input)


def _line(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize("example_id", [2**64, 2**63, -(2**63) - 1, str(2**64)])
def test_example_id_outside_int64_is_refused(example_id):
    """Records hold ids as int64: 2^64 was written as 0, 2^63 as a negative id."""
    obj = synthetic_nq(gold_candidate=2)
    obj["example_id"] = example_id
    with pytest.raises(nq_data.NqInputError, match=r"^in\.jsonl:7: example_id .* outside the signed 64-bit"):
        nq_data.parse_line(_line(obj), "in.jsonl", 7)
    with pytest.raises(nq_data.NqInputError, match=r"^in\.jsonl:7: example_id"):
        nq_data.parse_head(_line(obj), "in.jsonl", 7)


@pytest.mark.parametrize("example_id", [2**63 - 1, -(2**63), "-17"])
def test_example_id_at_the_int64_limits_is_kept(example_id):
    obj = synthetic_nq(gold_candidate=2)
    obj["example_id"] = example_id
    assert nq_data.parse_line(_line(obj)).example_id == int(example_id)


@pytest.mark.parametrize("start,end,index,expect", [
    (-5, 10**9, 2, r"tokens \[-5, 1000000000\) are neither null"),
    (8, 13, 2, r"tokens \[8, 13\) are not those of its candidate 2 \[7, 13\)"),
    (7, 13, -1, r"tokens \[7, 13\) but candidate_index -1"),
    (-1, -1, 2, r"candidate_index 2 but a null span"),
    (-1, 13, 2, r"tokens \[-1, 13\) are neither null"),
    (7, 13, -5, r"candidate_index -5 out of range"),
])
def test_inconsistent_long_answer_is_refused(start, end, index, expect):
    """A long answer whose span does not match its candidate used to become a null example."""
    obj = synthetic_nq(gold_candidate=2)
    assert obj["long_answer_candidates"][2]["start_token"] == 7  # the spans above are about it
    obj["annotations"][0]["long_answer"] = {"start_token": start, "end_token": end, "candidate_index": index}
    with pytest.raises(nq_data.NqInputError, match=rf"^in\.jsonl:3: annotations\[0\].*{expect}"):
        nq_data.parse_line(_line(obj), "in.jsonl", 3)


def test_training_needs_annotations():
    """A test-set example (no annotations) gives no labels: refused for training only."""
    obj = synthetic_nq(gold_candidate=2)
    del obj["annotations"]
    assert nq_data.parse_line(_line(obj), "in.jsonl", 4).annotations == []
    for annotations in (None, []):
        if annotations is not None:
            obj["annotations"] = annotations
        with pytest.raises(nq_data.NqInputError, match=r"^in\.jsonl:4: training example without 'annotations'"):
            nq_data.parse_line(_line(obj), "in.jsonl", 4, training=True)
    good = synthetic_nq(gold_candidate=2)
    assert nq_data.parse_line(_line(good), training=True).annotations[0].candidate_index == 2


def test_documents_without_byte_offsets_are_otherwise_the_same():
    """parse_line(byte_offsets=False), what prepare reads features from, keeps every field
    but the tokens' byte offsets, on a real NQ example (original format)."""
    from conftest import NQ_REAL

    path = NQ_REAL / "nq-dev-full-1.jsonl.gz"
    raw = gzip.open(path, "rb").readline()
    full = nq_data.parse_line(raw, str(path), 1, training=True)
    lean = nq_data.parse_line(raw, str(path), 1, training=True, byte_offsets=False)
    assert full.start_bytes is not None and len(full.start_bytes) == len(full.tokens) > 0
    assert lean.start_bytes is None and lean.end_bytes is None
    # a candidate's text tokens, read from the decoded tokens before the lists are made, then after
    spans = [(c.start_token, c.end_token) for c in full.candidates] + [(0, len(full.tokens))]
    for _ in range(2):
        assert [lean.text_tokens(*span) for span in spans] == [full.text_tokens(*span) for span in spans]
        assert [lean.token_text(s) for s, _ in spans] == [full.tokens[s] for s, _ in spans]
        same = lambda d: {f.name: getattr(d, f.name) for f in dataclasses.fields(d)  # noqa: E731
                          if f.name not in ("start_bytes", "end_bytes")}
        assert same(lean) == same(full)
    without_bytes = dataclasses.replace(full, start_bytes=None, end_bytes=None)
    assert lean == without_bytes and without_bytes == lean
    assert lean != dataclasses.replace(without_bytes, tokens=without_bytes.tokens[:-1])
    assert any(full.is_html) and not all(full.is_html)


# --------------------------------------------------------------------------- simplified-format tags


def _real_simplified():
    from conftest import NQ_REAL

    return list(nq_data.read_documents(str(NQ_REAL / "nq-simplified-4.jsonl.gz")))


def test_simplified_tags_with_attributes_are_html():
    """NQ's simplified files spell `<Th colspan="3">` as `<Th_colspan="3">` (blanks become `_`):
    50 of them in the 4 real examples. Each is an html token, so every table cell the real
    pages open is closed by its `</Th>` or `</Td>` (the real files pair them), and none is a word."""
    import collections

    docs = _real_simplified()
    with_attributes = [t for d in docs for t in d.tokens if t.startswith("<") and "_" in t and t.endswith(">")]
    assert len(with_attributes) == 50 and {t.split("=")[0] for t in with_attributes} == {"<Th_colspan", "<Td_colspan"}
    for doc in docs:
        opened, closed = collections.Counter(), collections.Counter()
        for token, is_html in zip(doc.tokens, doc.is_html):
            if is_html:
                name = token.strip("</>").split("_")[0].split(" ")[0]
                (closed if token.startswith("</") else opened)[name] += 1
        assert opened == closed, doc.example_id
        assert not [t for t, h in zip(doc.tokens, doc.is_html) if not h and t.startswith("<") and t.endswith(">")]


@pytest.mark.parametrize("token,is_html", [
    ('<Th_colspan="3">', True), ('<Td_colspan="2"_rowspan="2">', True), ('<Th colspan="2">', True),
    ("<P>", True), ("</Table>", True), ("<snake_case>", False), ("<x_=1>", False), ("a<b", False),
])
def test_html_token_rule(token, is_html):
    assert nq_data.is_html_token(token) is is_html
