"""Lexical evidence for long answers: how well each candidate matches the question's words.

BERTserini (Yang et al., NAACL 2019) found the passage holding the answer more often by
interpolating the reader's span score with a BM25 retriever's score than by either alone.
Here BM25 ranks the top-level candidates of one document against the question, its
statistics (document frequency, average length) taken over that document's own top-level
candidates: it needs nothing beyond the example, so streaming prediction, the Reader and
the service compute it one example at a time (`PostprocessConfig.lexical_weight` mixes it in).

The formula is Lucene's BM25 (k1 = 1.2, b = 0.75), the `method="lucene"` of the `bm25s`
library, which the tests compare it with: for each distinct question word w in candidate c,
idf(w) * tf / (tf + k1 * (1 - b + b * len(c) / avg_len)), idf(w) = ln(1 + (N - n_w + 0.5) /
(n_w + 0.5)). Words are `\\w+` tokens, lower-cased; HTML tokens (`<P>`) and punctuation
count for nothing, in the lengths too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Iterator, Sequence

import numpy as np

from nq_baseline.reading.nq_data import Candidate, ExampleHead, read_documents

WORD = re.compile(r"\w+", re.UNICODE)
K1, B = 1.2, 0.75


def question_words(question: str) -> set[str]:
    """The distinct lower-cased words of a question."""
    return {w.lower() for w in WORD.findall(question)}


def token_words(tokens: Iterable[str]) -> list[str]:
    """The lower-cased words among document tokens (whole tokens that are words), in order."""
    return [t.lower() for t in tokens if WORD.fullmatch(t)]


def candidate_scores(question: str, tokens: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
    """float64 [len(candidates)]: each top-level candidate's BM25 score for the question over
    the document's top-level candidates (>= 0); 0 for nested candidates."""
    words = {i: token_words(tokens[c.start_token:c.end_token]) for i, c in enumerate(candidates) if c.top_level}
    scores = np.zeros(len(candidates), np.float64)
    if not words:
        return scores
    total = len(words)
    average_length = max(sum(map(len, words.values())) / total, 1e-9)
    document_frequency = Counter(w for ws in words.values() for w in set(ws))
    asked = sorted(question_words(question))  # sorted: the same float sum in every process
    idf = {w: math.log(1 + (total - document_frequency[w] + 0.5) / (document_frequency[w] + 0.5)) for w in asked}
    for i, ws in words.items():
        counts = Counter(ws)
        norm = K1 * (1 - B + B * len(ws) / average_length)
        scores[i] = sum(idf[w] * counts[w] / (counts[w] + norm) for w in asked if counts[w])
    return scores


def read_heads_with_scores(pattern: str, skip_bad: bool = False) -> Iterator[ExampleHead]:
    """`nq_data.read_example_heads` with each candidate's BM25 score: the documents are
    decoded (the plain heads skip them), so this path is for `lexical_weight` > 0 only."""
    for doc in read_documents(pattern, skip_bad):
        yield ExampleHead(doc.example_id, doc.candidates, candidate_scores(doc.question_text, doc.tokens,
                                                                           doc.candidates))
