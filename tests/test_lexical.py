"""Lexical evidence for long answers (nq_baseline.prediction.lexical) and its weight in post-processing."""

import json
import os
import subprocess
import sys

import bm25s
import numpy as np
import pytest

from conftest import NQ_REAL
from nq_baseline.prediction import lexical
from nq_baseline.prediction import postprocess as P
from nq_baseline.reading.nq_data import Candidate, read_documents

# three top-level paragraphs, the second with a nested list inside it
TOKENS = ("<P> The tower was built in 1889 . </P> "
          "<P> Gustave Eiffel 's company built the Tower <Ul> <Li> iron </Li> </Ul> </P> "
          "<P> The tower is in Paris . </P>").split()
CANDS = [Candidate(0, 9, True), Candidate(9, 23, True), Candidate(17, 22, False), Candidate(23, 31, True)]


def _bm25s_scores(question, tokens, candidates):
    """The reference: the bm25s library's Lucene BM25 over the top-level candidates."""
    tops = [i for i, c in enumerate(candidates) if c.top_level]
    corpus = [lexical.token_words(tokens[candidates[i].start_token:candidates[i].end_token]) for i in tops]
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index(corpus, show_progress=False)
    known = {w for ws in corpus for w in ws}
    query = sorted(lexical.question_words(question) & known)
    expected = np.zeros(len(candidates))
    if query:
        expected[tops] = retriever.get_scores(query)
    return expected


def test_scores_equal_the_bm25s_library():
    for question in ("Who BUILT the tower, in which year?", "is it paris", "eiffel tower iron company", "nothing"):
        got = lexical.candidate_scores(question, TOKENS, CANDS)
        assert got[2] == 0.0  # nested: never a long answer of its own
        np.testing.assert_allclose(got, _bm25s_scores(question, TOKENS, CANDS), rtol=1e-5, atol=1e-7)
    scores = lexical.candidate_scores("Who built the tower?", TOKENS, CANDS)
    assert scores[0] > scores[3] > 0  # "built" is in the first paragraph, not the last


def test_scores_equal_the_bm25s_library_on_real_nq():
    for d in read_documents(str(NQ_REAL / "*.jsonl.gz")):
        got = lexical.candidate_scores(d.question_text, d.tokens, d.candidates)
        np.testing.assert_allclose(got, _bm25s_scores(d.question_text, d.tokens, d.candidates), rtol=1e-5, atol=1e-7)
        assert (got > 0).any()  # real questions share words with their pages


def test_html_tokens_and_punctuation_are_not_words():
    assert lexical.token_words(["<P>", "Eiffel", "'s", ".", "1889", "</P>"]) == ["eiffel", "1889"]
    assert lexical.question_words("Eiffel's tower?") == {"eiffel", "s", "tower"}
    assert lexical.candidate_scores("P Li Ul", TOKENS, CANDS).tolist() == [0.0, 0.0, 0.0, 0.0]
    assert lexical.candidate_scores("tower", TOKENS, [Candidate(17, 22, False)]).tolist() == [0.0]


def test_scores_are_the_same_in_every_process():
    """The float sum runs in sorted word order, so the string hash seed cannot change it."""
    code = ("import json, sys; from nq_baseline.prediction import lexical; from nq_baseline.reading.nq_data import Candidate; "
            "tokens, cands = json.load(sys.stdin); "
            "print(repr(lexical.candidate_scores('the tower built in which year was it', tokens, "
            "[Candidate(*c) for c in cands]).tolist()))")
    data = json.dumps([TOKENS, [(c.start_token, c.end_token, c.top_level) for c in CANDS]])
    outs = {subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, text=True, check=True,
                           env=dict(os.environ, PYTHONHASHSEED=seed)).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1 and outs.pop().startswith("[")


def _window(token_map, starts, ends, seq=12):
    s, e = np.full(seq, -5.0, np.float32), np.full(seq, -5.0, np.float32)
    s[0] = e[0] = 0.0
    for pos, val in starts.items():
        s[pos] = val
    for pos, val in ends.items():
        e[pos] = val
    return P.RawResult(1, s, e, np.asarray([0, 0, 0, 9, 0], np.float32), np.asarray(token_map))  # SHORT


# window positions 2..7 -> NQ tokens 1..6 (first paragraph, "1889" at 7), 8..11 -> 25..28 (last, "Paris" at 11)
WINDOW_MAP = [-1, -1, 1, 2, 3, 4, 5, 6, 25, 26, 27, 28]


@pytest.mark.parametrize("weight,expected_long", [(0.0, (0, 9)), (0.5, (23, 31))])
def test_the_weight_moves_the_long_answer_to_the_paragraph_with_the_words(weight, expected_long):
    # the model prefers "1889" (first paragraph, score 4.0) a little over "Paris" (last, 3.6);
    # the question's words are in the last paragraph only
    window = _window(WINDOW_MAP, {7: 2.0, 11: 1.8}, {7: 2.0, 11: 1.8})
    scores = lexical.candidate_scores("is it paris", TOKENS, CANDS)
    assert scores[3] > 0 and scores[0] == scores[1] == 0
    config = P.PostprocessConfig(lexical_weight=weight)
    pred = P.predict_example(5, CANDS, [window], config, scores).prediction
    assert (pred["long_answer"]["start_token"], pred["long_answer"]["end_token"]) == expected_long
    short = pred["short_answers"][0]
    assert expected_long[0] <= short["start_token"] < short["end_token"] <= expected_long[1]
    best = 4.0 if weight == 0 else 3.6 + weight * scores[3]
    assert pred["long_answer_score"] == pytest.approx(best) and pred["short_answers_score"] == pytest.approx(best)


def test_the_weight_needs_the_overlap_and_a_sane_value():
    window = _window(WINDOW_MAP, {7: 2.0}, {7: 2.0})
    with pytest.raises(ValueError, match="one lexical score per candidate"):
        P.predict_example(5, CANDS, [window], P.PostprocessConfig(lexical_weight=0.5))
    with pytest.raises(ValueError, match="one lexical score per candidate"):
        P.predict_example(5, CANDS, [window], P.PostprocessConfig(lexical_weight=0.5), [1.0])
    for bad in (-0.1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="--lexical_weight"):
            P.PostprocessConfig(lexical_weight=bad)
    # weight 0: the scores are not needed, and ignored when given
    alone = P.predict_example(5, CANDS, [window], P.PostprocessConfig()).prediction
    given = P.predict_example(5, CANDS, [window], P.PostprocessConfig(), [9.0, 9.0, 9.0, 9.0]).prediction
    assert alone == given


def test_streamed_heads_carry_the_bm25s_scores_of_their_documents_on_real_nq():
    """The heads the records path of run_nq streams: each example's id, its candidates, and the
    bm25s library's scores of its question over its own paragraphs."""
    pattern = str(NQ_REAL / "*.jsonl.gz")
    docs = list(read_documents(pattern))
    heads = list(lexical.read_heads_with_scores(pattern))
    assert [h.example_id for h in heads] == [d.example_id for d in docs]
    for h, d in zip(heads, docs):
        assert h.candidates == d.candidates
        np.testing.assert_allclose(h.lexical_scores, _bm25s_scores(d.question_text, d.tokens, d.candidates),
                                   rtol=1e-5, atol=1e-7)
