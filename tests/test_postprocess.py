"""Post-processing: bert_joint's span selection, our fixes, and a round trip through nq_eval."""

import numpy as np
import pytest

from conftest import NQ_REAL
from nq_baseline.features import windows as F
from nq_baseline.prediction import postprocess as P
from nq_baseline.reading.nq_data import Candidate
from nq_baseline.features.prepare import PrepareConfig
from support import iter_features

SEQ = 16


def _predict(example_id, candidates, results, **settings) -> dict:
    return P.predict_example(example_id, candidates, results, P.PostprocessConfig(**settings)).prediction


def _result(start, end, token_map, types=(5, 0, 0, 1, 0), uid=100, eid=None, span=None):
    s = np.full(SEQ, -5.0, np.float32)
    e = np.full(SEQ, -5.0, np.float32)
    for pos, val in start.items():
        s[pos] = val
    for pos, val in end.items():
        e[pos] = val
    return P.RawResult(uid, s, e, np.asarray(types, np.float32), np.asarray(token_map), eid, span)


TOKEN_MAP = [-1, -1, -1, -1] + list(range(10, 21)) + [-1]  # positions 4..14 -> NQ tokens 10..20
CANDS = [Candidate(0, 8, True), Candidate(9, 30, True), Candidate(12, 16, False)]


def test_best_indexes_skip_cls_and_rank():
    logits = np.asarray([9.0, 1.0, 3.0, 3.0, 2.0])
    assert P.best_indexes(logits, 3).tolist() == [2, 3, 4]


def test_best_span_score_and_long_answer():
    r = _result({6: 4.0, 0: 1.0}, {8: 3.0, 0: 0.5}, TOKEN_MAP)
    pred = _predict(7, CANDS, [r], use_answer_type=False)
    assert pred["short_answers"] == [{"start_token": 12, "end_token": 15, "start_byte": -1, "end_byte": -1}]
    assert pred["long_answer"]["start_token"] == 9 and pred["long_answer"]["end_token"] == 30
    assert pred["long_answer_score"] == pytest.approx((4.0 + 3.0) - (1.0 + 0.5))
    assert pred["yes_no_answer"] == "NONE" and pred["example_id"] == 7


def test_invalid_pairs_are_skipped():
    # best end before best start, and a start on the question: the next valid pair wins
    r = _result({9: 5.0, 2: 6.0, 5: 1.0}, {7: 5.0, 10: 0.0}, TOKEN_MAP)
    pred = _predict(1, CANDS, [r], use_answer_type=False)
    assert pred["short_answers"][0]["start_token"] == 11 and pred["short_answers"][0]["end_token"] == 14


def test_max_answer_length_and_n_best_size_are_honoured():
    r = _result({4: 5.0, 10: 4.0}, {14: 5.0, 11: 1.0}, TOKEN_MAP)
    long_ok = _predict(1, CANDS, [r], max_answer_length=30, use_answer_type=False)
    assert long_ok["short_answers"][0]["start_token"] == 10 and long_ok["short_answers"][0]["end_token"] == 21
    short = _predict(1, CANDS, [r], max_answer_length=5, use_answer_type=False)
    assert short["short_answers"][0]["start_token"] == 16 and short["short_answers"][0]["end_token"] == 21
    # with n_best_size=1 only the single best start (4) and end (14) are tried: length 11 > 5 -> null
    none = _predict(1, CANDS, [r], n_best_size=1, max_answer_length=5, use_answer_type=False)
    assert none["long_answer_score"] == P.NULL_SCORE and none["long_answer"]["start_token"] == -1


def test_best_window_wins_across_windows():
    a = _result({5: 2.0}, {6: 2.0}, TOKEN_MAP)
    b = _result({7: 3.0}, {8: 3.0}, TOKEN_MAP)
    pred = _predict(1, CANDS, [a, b], use_answer_type=False)
    assert pred["short_answers"][0]["start_token"] == 13


@pytest.mark.parametrize("kind,yes_no,n_short", [(F.YES, "YES", 0), (F.NO, "NO", 0), (F.LONG, "NONE", 0),
                                                 (F.SHORT, "NONE", 1), (F.UNKNOWN, "NONE", 1)])
def test_answer_type_head_shapes_the_answer(kind, yes_no, n_short):
    types = [0.0] * 5
    types[kind] = 9.0
    r = _result({6: 4.0}, {8: 3.0}, TOKEN_MAP, types=types)
    pred = _predict(1, CANDS, [r])
    assert pred["yes_no_answer"] == yes_no and len(pred["short_answers"]) == n_short
    assert pred["long_answer"]["start_token"] == 9
    legacy = _predict(1, CANDS, [r], use_answer_type=False)
    assert legacy["yes_no_answer"] == "NONE" and len(legacy["short_answers"]) == 1


def test_example_without_windows_gets_a_null_prediction():
    pred = P.predict_example(3, CANDS, []).prediction
    assert pred["example_id"] == 3 and pred["long_answer_score"] == P.NULL_SCORE
    assert pred["long_answer"]["start_token"] == -1 and pred["yes_no_answer"] == "NONE"


def test_oracle_logits_round_trip_through_features_and_nq_eval(nq_vocab):
    """Logits pointing at the gold tokens through token_map give official F1 = 1 on real NQ."""
    from nq_baseline.evaluation import scorer as nq_eval

    cfg = PrepareConfig(vocab_file=str(nq_vocab), is_training=False)
    docs, results = [], {}
    for doc, ex, feats in iter_features(str(NQ_REAL / "*.jsonl.gz"), cfg):
        annotation, idx, short = F.first_annotation(doc)
        if annotation is None or short is None or not doc.candidates[idx].top_level:
            continue
        docs.append(doc)
        first = next(t for t in range(short[0], short[1]) if not doc.is_html[t])
        last = max(t for t in range(short[0], short[1]) if not doc.is_html[t])
        for f in feats:
            s = np.where(f.token_map == first, 10.0, 0.0).astype(np.float32)
            e = np.where(f.token_map == last, 10.0, 0.0).astype(np.float32)
            if s.max() > 0:  # the first piece of the first token, the last piece of the last one
                s[np.argmax(s) + 1:] = 0
                e[:len(e) - np.argmax(e[::-1]) - 1] = 0
            results.setdefault(doc.example_id, []).append(P.RawResult(
                F.unique_id(doc.example_id, f.doc_span_index), s, e, np.asarray([0, 0, 0, 5, 0], np.float32),
                f.token_map, doc.example_id, f.doc_span_index))
    assert len(docs) >= 2
    preds = P.predictions_json(P.predict_example(d.example_id, d.candidates, results.get(d.example_id, []))
                               for d in docs)
    by_id = {p["example_id"]: p for p in preds["predictions"]}
    gold_file = str(NQ_REAL / "nq-simplified-4.jsonl.gz")
    metrics = nq_eval.evaluate(gold_file, {"predictions": [by_id[d.example_id] for d in docs
                                                           if d.simplified]},
                               long_non_null_threshold=1, short_non_null_threshold=1)
    assert metrics["long-best-threshold-f1"] == pytest.approx(1.0)
    assert metrics["short-best-threshold-f1"] == pytest.approx(1.0)


def test_predict_raw_keeps_negative_and_64bit_example_ids(nq_vocab, tmp_path):
    """Real NQ ids are 64-bit and may be negative: records -> predict_raw keeps them exactly."""
    from nq_baseline.model import modeling
    from nq_baseline.prediction import streaming as predict
    from nq_baseline.model import datasets
    from nq_baseline.features.prepare import prepare

    records = tmp_path / "p.tfrecord"
    prepare(str(NQ_REAL / "*.jsonl.gz"), str(records), PrepareConfig(vocab_file=str(nq_vocab), is_training=False,
                                                                      features=F.FeatureConfig(max_seq_length=128)))
    config = modeling.BertConfig.from_dict({"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 1,
                                            "num_attention_heads": 2, "intermediate_size": 64,
                                            "max_position_embeddings": 128})
    model = modeling.build_nq_model(config, 128)
    got = list(predict.iter_raw_results(predict.ForwardFunction(model),
                                        datasets.make_predict_dataset(str(records), 64, 128)))
    ids = {r.example_id for r in got}
    assert None not in ids and min(ids) < 0 and max(ids) > 2**62
    assert all(r.unique_id == F.unique_id(r.example_id, r.doc_span_index) for r in got)


# ----------------------------------------------------------------------------- beyond bert_joint's rule


def _with_long(r, markers, long_scores):
    """`r` with a long-answer head: markers {position: candidate}, scores {position: logit}."""
    cmap = np.full(SEQ, -1)
    for pos, cand in markers.items():
        cmap[pos] = cand
    long = np.zeros(SEQ, np.float32)
    for pos, val in long_scores.items():
        long[pos] = val
    r.candidate_map, r.long_logits = cmap, long
    return r


# candidates: 0 [0, 8) top, 1 [9, 30) top, 2 [12, 16) nested, 3 [30, 40) top
CANDS4 = CANDS + [Candidate(30, 40, True)]
TOKEN_MAP2 = [-1, -1, -1] + list(range(10, 20)) + [-1] + [31, 32]  # positions 3..12 -> 10..19, 14..15 -> 31..32


def test_short_spans_outside_every_top_level_candidate_are_no_answer():
    # the best span (8 -> 12, NQ tokens 7..11) crosses candidates 0 and 1; bert_joint kept it with a null long answer
    tm = [-1, -1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, -1]
    r = _result({4: 6.0, 9: 2.0}, {8: 6.0, 10: 2.0}, tm)
    legacy = _predict(1, CANDS, [r], use_answer_type=False, short_inside_long=False)
    assert legacy["long_answer"]["start_token"] == -1 and legacy["short_answers"][0]["start_token"] == 7
    fixed = _predict(1, CANDS, [r], use_answer_type=False)
    assert fixed["short_answers"][0]["start_token"] == 12 and fixed["long_answer"]["start_token"] == 9


def test_long_answer_head_picks_the_candidate_and_the_span_inside_it():
    # spans: the best one (score 8) is in candidate 1; the head prefers candidate 3 (marker at 13)
    r = _result({5: 4.0, 14: 2.0}, {6: 4.0, 15: 2.0}, TOKEN_MAP2)
    r = _with_long(r, {2: 1, 13: 3}, {0: 1.0, 2: 2.0, 13: 4.5})
    by_span = _predict(1, CANDS4, [r], use_answer_type=False)
    assert by_span["long_answer"]["start_token"] == 9
    head = P.predict_example(1, CANDS4, [r], P.PostprocessConfig(use_answer_type=False, long_answer_from="head"))
    pred = head.prediction
    assert head.long_answer_index == 3 and pred["long_answer"]["start_token"] == 30
    assert pred["long_answer_score"] == pytest.approx(4.5 - 1.0)
    assert pred["short_answers"][0]["start_token"] == 31 and pred["short_answers"][0]["end_token"] == 33
    assert pred["short_answers_score"] == pytest.approx(4.0 - (-10.0))  # 2 + 2 - (start[0] + end[0] = -10)
    # the best candidate over all windows; a window without markers has no say
    other = _with_long(_result({5: 9.0}, {6: 9.0}, TOKEN_MAP2), {2: 1}, {0: 0.0, 2: 9.0})
    both = P.predict_example(1, CANDS4, [r, other], P.PostprocessConfig(long_answer_from="head")).prediction
    assert both["long_answer"]["start_token"] == 9 and both["long_answer_score"] == pytest.approx(9.0)
    # no marker anywhere (bert_joint's records): the span rule
    plain = _result({5: 4.0, 14: 2.0}, {6: 4.0, 15: 2.0}, TOKEN_MAP2)
    assert _predict(1, CANDS4, [plain], long_answer_from="head") == _predict(1, CANDS4, [plain])


def test_null_score_from_the_answer_type_head():
    a = _result({5: 3.0}, {6: 3.0}, TOKEN_MAP, types=(2.0, 0, 0, 0, 0))  # span 16, likely UNKNOWN
    b = _result({7: 2.0}, {8: 2.0}, TOKEN_MAP, types=(-2.0, 0, 0, 1.0, 0))  # span 14, likely an answer
    cls = _predict(1, CANDS, [a, b], use_answer_type=False)
    assert cls["short_answers"][0]["start_token"] == 11
    typed = _predict(1, CANDS, [a, b], use_answer_type=False, null_score="answer_type")
    assert typed["short_answers"][0]["start_token"] == 13
    odds = float(np.log(np.exp([0, 0, 1.0, 0]).sum()) + 2.0)
    assert typed["short_answers_score"] == pytest.approx(14.0 + odds)


def test_answer_form_decided_over_the_windows_of_the_long_answer():
    # window a wins the span (SHORT-ish there), but the windows holding candidate 1 say YES on average
    a = _result({5: 4.0}, {6: 4.0}, TOKEN_MAP, types=(0, 2.0, 0, 2.2, 0))
    b = _result({5: 1.0}, {6: 1.0}, TOKEN_MAP, types=(0, 4.0, 0, 0.0, 0))
    window = _predict(1, CANDS, [a, b])
    assert window["yes_no_answer"] == "NONE" and len(window["short_answers"]) == 1
    example = P.predict_example(1, CANDS, [a, b], P.PostprocessConfig(answer_type_scope="example"))
    assert example.prediction["yes_no_answer"] == "YES" and example.prediction["short_answers"] == []
    probs = np.exp(example.answer_type_logits)
    assert probs.sum() == pytest.approx(1.0) and probs[1] == max(probs)
    with pytest.raises(ValueError, match="answer_type_scope"):
        P.PostprocessConfig(answer_type_scope="page")
