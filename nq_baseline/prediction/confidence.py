"""How sure the model is of an answer: a softmax over the scores of the candidate answers.

A span's score (`postprocess.window_candidates`) is its start and end logits minus those of
its window's [CLS] position, the model's "no answer here"; so the no-answer option has the
score 0 on the same scale, and the candidates are the distinct n-best spans
(`PostprocessConfig.nbest`; a span seen in two overlapping windows counts once, with its
better score) plus that no-answer option:

    probability(span) = exp(score) / (exp(0) + sum of exp(score) over the distinct spans)

The n-best list leaves out the weaker spans, whose share is small (each of them scores below
every span kept). The answer's confidence is the probability of its span: the short answer,
or for a yes/no or long-only answer the best span inside the long answer (the span that chose
it). Raw scores are differences of logits, unbounded and not comparable across documents; the
probabilities add up to 1 with the no-answer option and are what the page shows.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Optional, Sequence

NO_ANSWER_SCORE = 0.0  # the [CLS] span's score, the one every span's score is relative to


@dataclasses.dataclass(frozen=True)
class RankedSpan:
    """A candidate answer: NQ tokens [start_token, end_token), its score and probability."""

    start_token: int
    end_token: int
    score: float
    probability: float


def ranked_spans(nbest: Iterable[dict], also: Sequence[tuple[int, int, float]] = ()
                 ) -> tuple[list[RankedSpan], float]:
    """The distinct spans of `nbest` ({start_token, end_token, score}) and of `also`
    ((start, end, score): a span the answer holds that the n-best list may have cut), best
    first (ties: first seen), each with its probability; and the no-answer probability."""
    best: dict[tuple[int, int], float] = {}
    for start, end, score in [(s["start_token"], s["end_token"], s["score"]) for s in nbest] + list(also):
        key = (int(start), int(end))
        if key not in best or score > best[key]:
            best[key] = float(score)
    top = max([NO_ANSWER_SCORE, *best.values()])
    total = math.exp(NO_ANSWER_SCORE - top) + sum(math.exp(s - top) for s in best.values())
    ordered = sorted(best.items(), key=lambda item: -item[1])  # stable: ties keep their first order
    spans = [RankedSpan(s, e, score, math.exp(score - top) / total) for (s, e), score in ordered]
    return spans, math.exp(NO_ANSWER_SCORE - top) / total


def answer_span(spans: Sequence[RankedSpan], short: Optional[tuple[int, int]],
                long: Optional[tuple[int, int]]) -> Optional[RankedSpan]:
    """The ranked span an answer stands on: its short span, else the best span inside its long
    answer; None when it has neither (or the n-best list holds no span inside)."""
    if short is not None:
        return next((s for s in spans if (s.start_token, s.end_token) == short), None)
    if long is not None:
        return next((s for s in spans if long[0] <= s.start_token and s.end_token <= long[1]), None)
    return None
