"""Raw model results -> the official NQ predictions JSON (stage 6).

bert_joint's rule, per example, over all its windows:
- the `n_best_size` best start and end positions of each window (position 0, [CLS], left
  out), pairs with end >= start, both inside the document (`token_map` != -1) and at most
  `max_answer_length` pieces long;
- score = (start + end logits) - (start[0] + end[0] logits); the best pair over all windows
  is the short answer, mapped to NQ tokens through `token_map`;
- the long answer is the first top-level candidate that contains the short span;
- an example with no scorable window gets a null prediction with score -10000.
bert_joint hard-coded n_best_size=10 and max_answer_length=30 whatever its flags said; here
the flags are honoured (pass n_best_size=10 for its exact behaviour).

Beyond bert_joint (on by default, `use_answer_type=False` for its exact output): the
answer-type head of the winning window decides the answer's form: YES/NO give a yes/no
answer with no short span, LONG gives the long answer alone, SHORT and UNKNOWN the span.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Sequence

import numpy as np

from nq_baseline.features import LONG, NO, YES
from nq_baseline.nq_data import Candidate

NULL_SCORE = -10000.0


@dataclasses.dataclass
class RawResult:
    unique_id: int
    start_logits: np.ndarray
    end_logits: np.ndarray
    answer_type_logits: np.ndarray
    token_map: np.ndarray
    example_id: Optional[int] = None
    doc_span_index: Optional[int] = None


@dataclasses.dataclass
class SpanCandidate:
    score: float
    start_token: int
    end_token: int  # exclusive
    answer_type_logits: np.ndarray


def best_indexes(logits: np.ndarray, n_best_size: int) -> np.ndarray:
    """Indices of the n best logits, position 0 excluded, best first (ties: lower index first)."""
    rest = np.asarray(logits[1:])
    order = np.argsort(-rest, kind="stable")[:n_best_size]
    return order + 1


def window_candidates(result: RawResult, n_best_size: int, max_answer_length: int) -> list[SpanCandidate]:
    start, end, token_map = result.start_logits, result.end_logits, result.token_map
    starts = best_indexes(start, n_best_size)
    ends = best_indexes(end, n_best_size)
    cls = float(start[0]) + float(end[0])
    out = []
    for s in starts:
        if token_map[s] == -1:
            continue
        for e in ends:
            if e < s or token_map[e] == -1 or e - s + 1 > max_answer_length:
                continue
            score = float(start[s]) + float(end[e]) - cls
            out.append(SpanCandidate(score, int(token_map[s]), int(token_map[e]) + 1, result.answer_type_logits))
    return out


def _span(start_token: int = -1, end_token: int = -1) -> dict:
    return {"start_token": start_token, "end_token": end_token, "start_byte": -1, "end_byte": -1}


def predict_example(example_id: int, candidates: Sequence[Candidate], results: Iterable[RawResult],
                    n_best_size: int = 20, max_answer_length: int = 30, use_answer_type: bool = True,
                    nbest: int = 0):
    """One example's prediction dict (official format); with nbest > 0 also its n-best list."""
    spans: list[SpanCandidate] = []
    for r in results:
        spans.extend(window_candidates(r, n_best_size, max_answer_length))
    pred = {"example_id": int(example_id), "long_answer": _span(), "long_answer_score": NULL_SCORE,
            "short_answers": [_span()], "short_answers_score": NULL_SCORE, "yes_no_answer": "NONE"}
    if not spans:
        return (pred, []) if nbest else pred
    # max() keeps the first of equal scores: windows in order, then start, then end rank
    best = max(spans, key=lambda c: c.score)
    long_span = None
    for c in candidates:
        if c.top_level and c.start_token <= best.start_token and c.end_token >= best.end_token:
            long_span = c
            break
    pred["long_answer_score"] = pred["short_answers_score"] = best.score
    if long_span is not None:
        pred["long_answer"] = _span(long_span.start_token, long_span.end_token)
    pred["short_answers"] = [_span(best.start_token, best.end_token)]
    if use_answer_type:
        kind = int(np.argmax(best.answer_type_logits))
        if kind in (YES, NO):
            pred["yes_no_answer"] = "YES" if kind == YES else "NO"
            pred["short_answers"] = []
        elif kind == LONG:
            pred["short_answers"] = []
    if not nbest:
        return pred
    ranked = sorted(spans, key=lambda c: -c.score)[:nbest]
    return pred, [{"start_token": c.start_token, "end_token": c.end_token, "score": c.score,
                   "answer_type_logits": [float(x) for x in c.answer_type_logits]} for c in ranked]


def group_results(results: Iterable[RawResult], example_ids: Sequence[int]) -> dict[int, list[RawResult]]:
    """Results grouped by example, exactly.

    Our records carry `example_ids`; bert_joint's only `unique_ids` = example id + window
    index, so for those the example is found as the known id u - k with the smallest k.
    """
    known = set(example_ids)
    grouped: dict[int, list[RawResult]] = {e: [] for e in example_ids}
    for r in results:
        eid = r.example_id
        if eid is None:
            for k in range(0, 4096):
                value = (r.unique_id - k + (1 << 63)) % (1 << 64) - (1 << 63)
                if value in known:
                    eid = value
                    break
        if eid not in grouped:
            raise ValueError(f"a prediction record (unique id {r.unique_id}) belongs to no example of the "
                             "predict file: were the records built from another file?")
        grouped[eid].append(r)
    return grouped


def compute_predictions(documents: Sequence, results: Iterable[RawResult], n_best_size: int = 20,
                        max_answer_length: int = 30, use_answer_type: bool = True, nbest: int = 0):
    """All examples (documents: objects with example_id and candidates) -> predictions JSON dict.

    Returns {"predictions": [...]} (and the n-best dict keyed by example id when nbest > 0).
    """
    ids = [d.example_id for d in documents]
    grouped = group_results(results, ids)
    preds, nbests = [], {}
    for d in documents:
        out = predict_example(d.example_id, d.candidates, grouped[d.example_id], n_best_size,
                              max_answer_length, use_answer_type, nbest)
        if nbest:
            out, nb = out
            nbests[str(d.example_id)] = nb
        preds.append(out)
    return ({"predictions": preds}, nbests) if nbest else {"predictions": preds}
