"""Raw model results -> the official NQ predictions (stage 6), as pure functions.

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

The streaming driver (records -> model -> these functions -> predictions file) is
`nq_baseline.predict`; `compute_predictions` here is the same computation over lists held
in memory (tools and tests).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Sequence

import numpy as np

from nq_baseline.features import LONG, NO, YES
from nq_baseline.fileio import wrap_int64
from nq_baseline.nq_data import Candidate

NULL_SCORE = -10000.0


@dataclasses.dataclass
class RawResult:
    """The model's outputs for one window (feature), with what maps them back."""

    unique_id: int
    start_logits: np.ndarray  # float32 [seq]
    end_logits: np.ndarray  # float32 [seq]
    answer_type_logits: np.ndarray  # float32 [5]
    token_map: np.ndarray  # int [seq]: NQ token of each position, -1 outside the document
    example_id: Optional[int] = None  # None: records of bert_joint, which carry no example id
    doc_span_index: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
    n_best_size: int = 20
    max_answer_length: int = 30
    use_answer_type: bool = True
    nbest: int = 0  # spans kept per example in ExamplePrediction.nbest (0: none)

    def __post_init__(self):
        for name in ("n_best_size", "max_answer_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.nbest < 0:
            raise ValueError(f"nbest must be >= 0, got {self.nbest}")


@dataclasses.dataclass
class SpanCandidate:
    score: float
    start_token: int
    end_token: int  # exclusive
    answer_type_logits: np.ndarray


@dataclasses.dataclass
class ExamplePrediction:
    """One example's answer: the official prediction fields, the n best spans (empty unless
    asked for), and what the Reader reports beside them."""

    prediction: dict  # example_id, long_answer, long_answer_score, short_answers, short_answers_score, yes_no_answer
    nbest: list  # [{start_token, end_token, score, answer_type_logits}], best first
    answer_type_logits: Optional[np.ndarray] = None  # of the window that gave the answer
    long_answer_index: int = -1  # candidate index of the long answer, -1 when null

    @property
    def example_id(self) -> int:
        return self.prediction["example_id"]


def best_indexes(logits: np.ndarray, n_best_size: int) -> np.ndarray:
    """Indices of the n best logits, position 0 excluded, best first (ties: lower index first)."""
    rest = np.asarray(logits[1:])
    order = np.argsort(-rest, kind="stable")[:n_best_size]
    return order + 1


def window_candidates(result: RawResult, n_best_size: int, max_answer_length: int) -> list[SpanCandidate]:
    """The scorable spans of one window, in bert_joint's order (start rank, then end rank)."""
    start, end, token_map = result.start_logits, result.end_logits, result.token_map
    starts = best_indexes(start, n_best_size)
    ends = best_indexes(end, n_best_size)
    starts = starts[token_map[starts] != -1]
    ends = ends[token_map[ends] != -1]
    if not len(starts) or not len(ends):
        return []
    length = ends[None, :] - starts[:, None] + 1  # [starts, ends], rank order
    valid = (length >= 1) & (length <= max_answer_length)
    rows, cols = np.nonzero(valid)  # row-major: start rank, then end rank
    if not len(rows):
        return []
    cls = float(start[0]) + float(end[0])
    s_pos, e_pos = starts[rows], ends[cols]
    # float(a) + float(b) - cls, as bert_joint sums Python floats (float64)
    scores = start[s_pos].astype(np.float64) + end[e_pos].astype(np.float64) - cls
    s_tok, e_tok = token_map[s_pos], token_map[e_pos]
    return [SpanCandidate(float(sc), int(s), int(e) + 1, result.answer_type_logits)
            for sc, s, e in zip(scores.tolist(), s_tok.tolist(), e_tok.tolist())]


def _span(start_token: int = -1, end_token: int = -1) -> dict:
    return {"start_token": start_token, "end_token": end_token, "start_byte": -1, "end_byte": -1}


def null_prediction(example_id: int) -> dict:
    return {"example_id": int(example_id), "long_answer": _span(), "long_answer_score": NULL_SCORE,
            "short_answers": [_span()], "short_answers_score": NULL_SCORE, "yes_no_answer": "NONE"}


def enclosing_candidate(candidates: Sequence[Candidate], start_token: int, end_token: int) -> int:
    """Index of the first top-level candidate holding [start_token, end_token), else -1."""
    for i, c in enumerate(candidates):
        if c.top_level and c.start_token <= start_token and c.end_token >= end_token:
            return i
    return -1


def predict_example(example_id: int, candidates: Sequence[Candidate], results: Iterable[RawResult],
                    config: PostprocessConfig = PostprocessConfig()) -> ExamplePrediction:
    """One example's prediction from the raw results of all its windows."""
    spans: list[SpanCandidate] = []
    for r in results:
        spans.extend(window_candidates(r, config.n_best_size, config.max_answer_length))
    pred = null_prediction(example_id)
    if not spans:
        return ExamplePrediction(pred, [])
    # max() keeps the first of equal scores: windows in order, then start, then end rank
    best = max(spans, key=lambda c: c.score)
    long_index = enclosing_candidate(candidates, best.start_token, best.end_token)
    pred["long_answer_score"] = pred["short_answers_score"] = best.score
    if long_index >= 0:
        c = candidates[long_index]
        pred["long_answer"] = _span(c.start_token, c.end_token)
    pred["short_answers"] = [_span(best.start_token, best.end_token)]
    if config.use_answer_type:
        kind = int(np.argmax(best.answer_type_logits))
        if kind in (YES, NO):
            pred["yes_no_answer"] = "YES" if kind == YES else "NO"
            pred["short_answers"] = []
        elif kind == LONG:
            pred["short_answers"] = []
    nbest = []
    if config.nbest:
        ranked = sorted(spans, key=lambda c: -c.score)[:config.nbest]
        nbest = [{"start_token": c.start_token, "end_token": c.end_token, "score": c.score,
                  "answer_type_logits": [float(x) for x in c.answer_type_logits]} for c in ranked]
    return ExamplePrediction(pred, nbest, best.answer_type_logits, long_index)


def result_belongs_to(result: RawResult, example_id: int, windows_so_far: int) -> bool:
    """Whether `result` is the next window of `example_id` (which has `windows_so_far`).

    Our records carry `example_ids`; bert_joint's only `unique_ids` = example id + window
    index (wrapped to int64), and a prediction file's windows are consecutive from 0.
    """
    if result.example_id is not None:
        return result.example_id == example_id
    return wrap_int64(result.unique_id - example_id) == windows_so_far


def group_results(results: Iterable[RawResult], example_ids: Sequence[int]) -> dict[int, list[RawResult]]:
    """Results grouped by example, exactly, whatever their order (see `result_belongs_to`
    for records without example ids: the known id u - k with the smallest k)."""
    known = set(example_ids)
    grouped: dict[int, list[RawResult]] = {e: [] for e in example_ids}
    for r in results:
        eid = r.example_id
        if eid is None:
            eid = next((wrap_int64(r.unique_id - k) for k in range(4096)
                        if wrap_int64(r.unique_id - k) in known), None)
        if eid not in grouped:
            raise ValueError(f"a prediction record (unique id {r.unique_id}) belongs to no example of the "
                             "predict file: were the records built from another file?")
        grouped[eid].append(r)
    return grouped


def compute_predictions(documents: Sequence, results: Iterable[RawResult],
                        config: PostprocessConfig = PostprocessConfig()) -> list[ExamplePrediction]:
    """All examples (objects with example_id and candidates) -> their predictions, in order."""
    grouped = group_results(results, [d.example_id for d in documents])
    return [predict_example(d.example_id, d.candidates, grouped[d.example_id], config) for d in documents]


def predictions_json(predictions: Iterable[ExamplePrediction]) -> dict:
    """The official predictions file's object: {"predictions": [...]}."""
    return {"predictions": [p.prediction for p in predictions]}


def nbest_json(predictions: Iterable[ExamplePrediction]) -> dict:
    """The n-best file's object: {str(example_id): [spans]}."""
    return {str(p.example_id): p.nbest for p in predictions}
