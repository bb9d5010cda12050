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

Options beyond bert_joint, off by default (`PostprocessConfig`): the long-answer head picks
the candidate, the answer-type head's log-odds join the null score, the answer's form is
decided per example, and `lexical_weight` mixes each candidate's BM25 score for the
question (`nq_baseline.prediction.lexical`) into the scores of the spans inside it.

The streaming drivers (windows -> model -> these functions -> predictions file) are
`nq_baseline.prediction.streaming` (records) and `Reader.answer_stream` (windows made in memory).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Optional, Sequence

import numpy as np

from nq_baseline.features.windows import LONG, NO, YES
from nq_baseline.common.ids import wrap_int64
from nq_baseline.reading.nq_data import Candidate

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
    long_logits: Optional[np.ndarray] = None  # float32 [seq]: the long-answer head's scores
    candidate_map: Optional[np.ndarray] = None  # int [seq]: candidate index at its marker, else -1


LONG_ANSWER_FROM = ("auto", "span", "head")
NULL_SCORES = ("cls", "answer_type")
ANSWER_TYPE_SCOPES = ("window", "example")


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
    """How raw results become an answer. bert_joint's rule is `long_answer_from="span"`,
    `null_score="cls"`, `answer_type_scope="window"`, `short_inside_long=False` (with
    `use_answer_type=False` and `n_best_size=10` for its exact output)."""

    n_best_size: int = 20
    max_answer_length: int = 30
    use_answer_type: bool = True
    nbest: int = 0  # spans kept per example in ExamplePrediction.nbest (0: none)
    # "span": the long answer is the top-level candidate holding the best short span (bert_joint);
    # "head": the candidate the long-answer head scores best over all windows, the short answer
    # the best span inside it (needs a model with that head: `for_model` refuses it otherwise);
    # "auto": "head" for a model with the head, else "span" (`for_model` decides; the Reader's and
    # the programs' default)
    long_answer_from: str = "span"
    # "cls": score = span - [CLS] logits (bert_joint); "answer_type": plus the answer-type head's
    # log-odds that the window holds an answer (log P(not UNKNOWN) - log P(UNKNOWN))
    null_score: str = "cls"
    # "window": the answer's form (yes/no, long only, short) from the winning window's answer
    # type; "example": from the answer-type probabilities of every window holding the long answer
    answer_type_scope: str = "window"
    # a short span must lie inside one top-level candidate (else it is no answer)
    short_inside_long: bool = True
    # > 0: every span's (and, with the head, every candidate's) score gains lexical_weight times
    # its candidate's BM25 score for the question (`lexical.candidate_scores`), so the long
    # answer weighs the reader against the words (BERTserini); 0: the model alone
    lexical_weight: float = 0.0

    def __post_init__(self):
        for name in ("n_best_size", "max_answer_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.nbest < 0:
            raise ValueError(f"nbest must be >= 0, got {self.nbest}")
        if not (math.isfinite(self.lexical_weight) and self.lexical_weight >= 0):
            raise ValueError(f"--lexical_weight must be a finite number >= 0, got {self.lexical_weight!r}")
        for name, allowed in (("long_answer_from", LONG_ANSWER_FROM), ("null_score", NULL_SCORES),
                              ("answer_type_scope", ANSWER_TYPE_SCOPES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"--{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")


    def for_model(self, long_answer_head: bool) -> "PostprocessConfig":
        """This configuration for a model with (or without) the long-answer head: "auto" decided,
        "head" refused (ValueError naming the flag) for a model without the head. The one place
        the rule lives: run_nq, the Reader and the exports all call it."""
        if self.long_answer_from == "head" and not long_answer_head:
            raise ValueError("--long_answer_from=head needs a model trained with --long_answer_head")
        if self.long_answer_from != "auto":
            return self
        return dataclasses.replace(self, long_answer_from="head" if long_answer_head else "span")


@dataclasses.dataclass
class SpanCandidate:
    score: float
    start_token: int
    end_token: int  # exclusive
    answer_type_logits: np.ndarray
    window: int = 0  # index of the example's window it comes from


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


def answer_log_odds(answer_type_logits: np.ndarray) -> float:
    """log P(an answer) - log P(UNKNOWN) under the answer-type head's softmax."""
    logits = np.asarray(answer_type_logits, np.float64)
    rest = logits[1:]
    top = rest.max()
    return float(top + np.log(np.exp(rest - top).sum()) - logits[0])


def _scored_spans(results: Sequence[RawResult], candidates: Sequence[Candidate], config: PostprocessConfig,
                  lexical: Optional[np.ndarray] = None) -> list[SpanCandidate]:
    spans: list[SpanCandidate] = []
    for w, r in enumerate(results):
        found = window_candidates(r, config.n_best_size, config.max_answer_length)
        bonus = answer_log_odds(r.answer_type_logits) if config.null_score == "answer_type" else 0.0
        for c in found:
            c.window, c.score = w, c.score + bonus
        spans.extend(found)
    if config.short_inside_long or lexical is not None:
        enclosing = [enclosing_candidate(candidates, c.start_token, c.end_token) for c in spans]
        if lexical is not None:  # a span outside every candidate gains nothing
            for c, index in zip(spans, enclosing):
                c.score += config.lexical_weight * float(lexical[index]) if index >= 0 else 0.0
        if config.short_inside_long:
            spans = [c for c, index in zip(spans, enclosing) if index >= 0]
    return spans


def _lexical(candidates: Sequence[Candidate], config: PostprocessConfig,
             lexical_scores: Optional[Sequence[float]]) -> Optional[np.ndarray]:
    """The candidates' lexical scores to mix in, or None when lexical_weight is 0."""
    if config.lexical_weight == 0:
        return None
    if lexical_scores is None or len(lexical_scores) != len(candidates):
        raise ValueError(f"lexical_weight={config.lexical_weight} needs one lexical score per candidate "
                         f"({len(candidates)}), got {None if lexical_scores is None else len(lexical_scores)}")
    return np.asarray(lexical_scores, np.float64)


def best_long_candidate(results: Sequence[RawResult], config: PostprocessConfig,
                        lexical: Optional[np.ndarray] = None) -> tuple[int, float, int]:
    """(candidate index, score, window) the long-answer head scores best: at each candidate
    marker, its score minus the [CLS] score (plus lexical_weight times the candidate's
    lexical score); (-1, NULL_SCORE, -1) when no marker is seen."""
    best = (-1, NULL_SCORE, -1)
    for w, r in enumerate(results):
        if r.long_logits is None or r.candidate_map is None:
            continue
        positions = np.flatnonzero(np.asarray(r.candidate_map) >= 0)
        if not len(positions):
            continue
        scores = r.long_logits[positions].astype(np.float64) - float(r.long_logits[0])
        if config.null_score == "answer_type":
            scores = scores + answer_log_odds(r.answer_type_logits)
        if lexical is not None:
            scores = scores + config.lexical_weight * lexical[np.asarray(r.candidate_map)[positions]]
        k = int(np.argmax(scores))  # first of equal scores
        if best[0] < 0 or scores[k] > best[1]:
            best = (int(r.candidate_map[positions[k]]), float(scores[k]), w)
    return best


def _has_long_head(results: Sequence[RawResult]) -> bool:
    return any(r.long_logits is not None and r.candidate_map is not None and (np.asarray(r.candidate_map) >= 0).any()
               for r in results)


def _answer_kind(results: Sequence[RawResult], window_logits: np.ndarray, candidates: Sequence[Candidate],
                 long_index: int, config: PostprocessConfig) -> tuple[int, np.ndarray]:
    """(answer type, the logits it was read from) deciding the answer's form: the winning
    window's, or (scope "example") the mean probabilities of the windows holding the long
    answer, UNKNOWN left out since the example has that answer."""
    if config.answer_type_scope == "window" or long_index < 0:
        return int(np.argmax(window_logits)), window_logits
    holding = [r for r in results if _window_holds(r, candidates[long_index], long_index)]
    if not holding:
        return int(np.argmax(window_logits)), window_logits
    probs = np.mean([_softmax(r.answer_type_logits) for r in holding], axis=0)
    kind = 1 + int(np.argmax(probs[1:]))  # the example has this long answer: not UNKNOWN
    return kind, np.log(np.maximum(probs, 1e-30))


def _window_holds(r: RawResult, c: Candidate, index: int) -> bool:
    """Whether a window shows candidate `c` (number `index`): some of its words, or its marker."""
    tokens = np.asarray(r.token_map)
    if ((tokens >= c.start_token) & (tokens < c.end_token)).any():
        return True
    return r.candidate_map is not None and bool((np.asarray(r.candidate_map) == index).any())


def _softmax(logits) -> np.ndarray:
    x = np.asarray(logits, np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


def predict_example(example_id: int, candidates: Sequence[Candidate], results: Iterable[RawResult],
                    config: PostprocessConfig = PostprocessConfig(),
                    lexical_scores: Optional[Sequence[float]] = None) -> ExamplePrediction:
    """One example's prediction from the raw results of all its windows (and, when
    `config.lexical_weight` > 0, each candidate's `lexical.candidate_scores` for the question)."""
    results = list(results)
    lexical = _lexical(candidates, config, lexical_scores)
    spans = _scored_spans(results, candidates, config, lexical)
    pred = null_prediction(example_id)
    if config.long_answer_from in ("head", "auto") and _has_long_head(results):
        long_index, long_score, long_window = best_long_candidate(results, config, lexical)
        if long_index < 0:
            return ExamplePrediction(pred, [])
        c = candidates[long_index]
        inside = [s for s in spans if c.start_token <= s.start_token and s.end_token <= c.end_token]
        best = max(inside, key=lambda s: s.score) if inside else None
        window_logits = best.answer_type_logits if best is not None else results[long_window].answer_type_logits
        pred["long_answer"], pred["long_answer_score"] = _span(c.start_token, c.end_token), long_score
        pred["short_answers"] = [_span(best.start_token, best.end_token)] if best is not None else []
        pred["short_answers_score"] = best.score if best is not None else long_score
    else:
        if not spans:
            return ExamplePrediction(pred, [])
        # max() keeps the first of equal scores: windows in order, then start, then end rank
        best = max(spans, key=lambda s: s.score)
        long_index = enclosing_candidate(candidates, best.start_token, best.end_token)
        c = candidates[long_index] if long_index >= 0 else None
        pred["long_answer_score"] = pred["short_answers_score"] = best.score
        if c is not None:
            pred["long_answer"] = _span(c.start_token, c.end_token)
        pred["short_answers"] = [_span(best.start_token, best.end_token)]
        window_logits = best.answer_type_logits
    kind_logits = window_logits
    if config.use_answer_type:
        kind, kind_logits = _answer_kind(results, window_logits, candidates, long_index, config)
        if kind in (YES, NO):
            pred["yes_no_answer"] = "YES" if kind == YES else "NO"
            pred["short_answers"] = []
        elif kind == LONG:
            pred["short_answers"] = []
    nbest = []
    if config.nbest:
        ranked = sorted(spans, key=lambda s: -s.score)[:config.nbest]
        nbest = [{"start_token": s.start_token, "end_token": s.end_token, "score": s.score,
                  "answer_type_logits": [float(x) for x in s.answer_type_logits]} for s in ranked]
    return ExamplePrediction(pred, nbest, kind_logits, long_index)


def result_belongs_to(result: RawResult, example_id: int, windows_so_far: int) -> bool:
    """Whether `result` is the next window of `example_id` (which has `windows_so_far`).

    Our records carry `example_ids`; bert_joint's only `unique_ids` = example id + window
    index (wrapped to int64), and a prediction file's windows are consecutive from 0.
    """
    if result.example_id is not None:
        return result.example_id == example_id
    return wrap_int64(result.unique_id - example_id) == windows_so_far


def predictions_json(predictions: Iterable[ExamplePrediction]) -> dict:
    """The official predictions file's object: {"predictions": [...]}."""
    return {"predictions": [p.prediction for p in predictions]}


def nbest_json(predictions: Iterable[ExamplePrediction]) -> dict:
    """The n-best file's object: {str(example_id): [spans]}."""
    return {str(p.example_id): p.nbest for p in predictions}
