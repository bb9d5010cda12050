"""NQ documents -> bert_joint examples -> windowed features (stage 2 and 3).

Layout (bert_joint's, reproduced exactly):
- The document is the word sequence
  `[ContextId=-1] [NoLongAnswer]` then, for every kept candidate i,
  `[ContextId=i] [Type=k] <its non-HTML tokens>`, where Type is Paragraph, Table, List or
  Other (by the candidate's first token) and k counts candidates of that type, capped at
  `max_position`.  Only top-level candidates are kept when `skip_nested_contexts`, and at
  most `max_contexts` contexts (the `[NoLongAnswer]` one included).
- The question is `[Q]` + its word pieces, keeping the LAST `max_query_length` pieces.
- Windows: `[CLS] question [SEP] chunk [SEP]`, segment ids 0 for `[CLS] question [SEP]` and
  1 for the chunk and its `[SEP]`, chunks of `max_seq_length - len(question) - 3` pieces
  every `doc_stride` pieces.
- Training labels: the first annotation with a long answer (smallest candidate index),
  preferring one with short answers; the span of its short answers (first start to last
  end), else the long-answer candidate's text; answer types UNKNOWN=0, YES=1, NO=2,
  SHORT=3, LONG=4.  A window holding the whole span is a positive; any other window (and
  every window of a null example) is kept with probability `include_unknowns` and labelled
  (0, 0, UNKNOWN).
- `token_map` (prediction): for each position, the index of the NQ document token its word
  piece came from, -1 for question, markers, [CLS]/[SEP] and padding.

Differences from bert_joint (see README), on by default, off with `legacy_labels=True`:
- a gold long answer that is a nested candidate is mapped to the top-level candidate that
  contains it when `skip_nested_contexts` (bert_joint silently labelled a span at the start
  of the document);
- a gold long answer past `max_contexts` makes the example UNKNOWN (likewise).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Optional

import numpy as np

from nq_baseline.reading.nq_data import NqDocument
from nq_baseline.features.tokenization import NqTokenizer

UNKNOWN, YES, NO, SHORT, LONG = 0, 1, 2, 3, 4
ANSWER_TYPE_NAMES = ("UNKNOWN", "YES", "NO", "SHORT", "LONG")


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    include_unknowns: float = -1.0
    skip_nested_contexts: bool = True
    max_contexts: int = 48  # 0: every context
    max_position: int = 50
    legacy_labels: bool = False
    negatives_per_positive: float = -1.0  # >= 0: null windows per answer window, instead of include_unknowns

    def __post_init__(self):
        """Settings that would loop, grow without bound or leave no room fail here, with
        the flag's name (every program builds its FeatureConfig from these flags)."""
        positive = ("max_seq_length", "doc_stride", "max_query_length", "max_contexts", "max_position")
        for name in positive:
            value = getattr(self, name)
            low = 0 if name == "max_contexts" else 1  # max_contexts 0: every context
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"--{name} must be a {'non-negative' if low == 0 else 'positive'} integer, "
                                 f"got {value!r}")
        if self.max_seq_length <= self.max_query_length + 3:
            raise ValueError(f"--max_seq_length ({self.max_seq_length}) must exceed --max_query_length "
                             f"({self.max_query_length}) + 3: [CLS], [SEP], [SEP] and at least one "
                             "document piece must fit")
        if not self.include_unknowns <= 1.0:  # NaN fails too
            raise ValueError(f"--include_unknowns must be at most 1 (< 0 keeps no null window), "
                             f"got {self.include_unknowns!r}")
        if not (self.negatives_per_positive < 0 or 0 <= self.negatives_per_positive <= 1000):
            raise ValueError(f"--negatives_per_positive must be within [0, 1000] (< 0: off), "
                             f"got {self.negatives_per_positive!r}")


@dataclasses.dataclass
class NqExample:
    """A document flattened into bert_joint's word sequence, with its label."""

    example_id: int
    question_text: str
    words: list[str]
    word_map: list[int]  # NQ token index of each word, -1 for markers
    answer_type: int = UNKNOWN
    start_word: int = 0
    end_word: int = 0  # inclusive
    has_correct_context: bool = True
    gold_status: str = "kept"  # kept | null | nested_mapped | past_max_contexts | legacy_misplaced
    context_candidates: list[int] = dataclasses.field(default_factory=list)
    context_words: list[int] = dataclasses.field(default_factory=list)  # word of each one's [ContextId=i]
    long_candidate: int = -1  # candidate whose marker is the long-answer label (-1: none)
    num_windows: int = 0  # set by make_features


@dataclasses.dataclass
class Feature:
    unique_id: int
    example_id: int
    doc_span_index: int
    input_ids: np.ndarray
    input_mask: np.ndarray
    segment_ids: np.ndarray
    token_map: np.ndarray
    start_position: int = 0
    end_position: int = 0
    answer_type: int = UNKNOWN
    candidate_map: Optional[np.ndarray] = None  # candidate index at its [ContextId=i] marker, else -1
    long_position: int = -1  # training: position of the gold candidate's marker, 0 ([CLS]) if not here


def candidate_type(doc: NqDocument, index: int) -> str:
    first = doc.token_text(doc.candidates[index].start_token)
    if first == "<Table>":
        return "Table"
    if first == "<P>":
        return "Paragraph"
    if first in ("<Ul>", "<Dl>", "<Ol>"):
        return "List"
    return "Other"


def kept_candidates(doc: NqDocument, cfg: FeatureConfig) -> list[int]:
    return [i for i, c in enumerate(doc.candidates) if c.top_level or not cfg.skip_nested_contexts]


def type_and_positions(doc: NqDocument, cfg: FeatureConfig, kept: list[int]) -> dict[int, str]:
    counts: dict[str, int] = {}
    out = {}
    for i in kept:
        kind = candidate_type(doc, i)
        n = counts.get(kind, 0)
        if n < cfg.max_position:
            n += 1
        counts[kind] = n
        out[i] = f"[{kind}={n}]"
    return out


def first_annotation(doc: NqDocument):
    """bert_joint's choice: (annotation, candidate index, short token span or None)."""
    positive = sorted((a for a in doc.annotations if a.has_long_answer), key=lambda a: a.candidate_index)
    for a in positive:
        if a.short_answers:
            return a, a.candidate_index, (a.short_answers[0].start_token, a.short_answers[-1].end_token)
    for a in positive:
        return a, a.candidate_index, None
    return None, -1, None


def _enclosing_top_level(doc: NqDocument, index: int) -> int:
    c = doc.candidates[index]
    for j, other in enumerate(doc.candidates):
        if other.top_level and other.start_token <= c.start_token and other.end_token >= c.end_token:
            return j
    return -1


def _candidate_words(doc: NqDocument, index: int) -> tuple[list[int], list[str]]:
    """(NQ token indices, words) of a candidate's non-HTML tokens (spaces removed from words)."""
    c = doc.candidates[index]
    positions, words = doc.text_tokens(c.start_token, c.end_token)  # the candidate's tokens only
    return positions, _without_spaces(words)


def _without_spaces(words: list[str]) -> list[str]:
    """The words with spaces removed (bert_joint drops them); the same list when none has one
    (the usual case: one C-level join tells)."""
    if " " not in "\n".join(words):
        return words
    return [w.replace(" ", "") for w in words]


def build_example(doc: NqDocument, cfg: FeatureConfig) -> Optional[NqExample]:
    """NqDocument -> NqExample (None: bert_joint drops the example for training)."""
    kept = kept_candidates(doc, cfg)
    kinds = type_and_positions(doc, cfg, kept)
    annotation, gold_idx, short = first_annotation(doc)

    words = ["[ContextId=-1]", "[NoLongAnswer]"]
    word_map = [-1, -1]
    context_start: dict[int, int] = {}  # candidate -> index of its first text word
    context_end: dict[int, int] = {}  # candidate -> one past its last text word
    contexts = [-1]
    context_words = []
    for i in kept:
        if cfg.max_contexts and len(contexts) >= cfg.max_contexts:
            break
        contexts.append(i)
        positions, cwords = _candidate_words(doc, i)
        context_words.append(len(words))
        words.append(f"[ContextId={i}]")
        words.append(kinds[i])
        word_map.extend((-1, -1))
        context_start[i] = len(words)
        words.extend(cwords)
        word_map.extend(positions)
        context_end[i] = len(words)

    ex = NqExample(doc.example_id, doc.question_text, words, word_map, context_candidates=contexts[1:],
                   context_words=context_words)
    ex.has_correct_context = gold_idx in contexts
    if annotation is None:
        ex.gold_status = "null"
        return ex

    label_idx = gold_idx
    if gold_idx not in context_start:
        if cfg.legacy_labels:
            return _legacy_misplaced(doc, ex, annotation, gold_idx, short, contexts)
        if cfg.skip_nested_contexts and not doc.candidates[gold_idx].top_level:
            label_idx = _enclosing_top_level(doc, gold_idx)
            ex.gold_status = "nested_mapped"
        if label_idx not in context_start:
            ex.gold_status = "past_max_contexts"
            return ex  # UNKNOWN, span (0, 0)

    ex.long_candidate = label_idx
    if short is not None:
        first, last = context_start[label_idx], context_end[label_idx]
        inside = [w for w in range(first, last) if short[0] <= word_map[w] < short[1]]
        if inside:
            ex.answer_type, ex.start_word, ex.end_word = SHORT, inside[0], inside[-1]
            return ex
    ex.answer_type = LONG
    if annotation.yes_no_answer == "YES":
        ex.answer_type = YES
    elif annotation.yes_no_answer == "NO":
        ex.answer_type = NO
    first, last = context_start[label_idx], context_end[label_idx]
    if last > first:
        ex.start_word, ex.end_word = first, last - 1
    else:  # a candidate with no text: point at its markers
        ex.start_word, ex.end_word = first - 2, first - 1
    return ex


def _legacy_misplaced(doc, ex, annotation, gold_idx, short, contexts) -> Optional[NqExample]:
    """bert_joint's labels when the gold candidate was not kept.

    Its character offsets, relative to the gold candidate, were never shifted into the
    flattened document, so the label lands near the start of the document.
    """
    ex.gold_status = "legacy_misplaced"
    positions, cwords = _candidate_words(doc, gold_idx)
    if short is not None:
        def char_offset(token_idx):
            return sum(len(w) + 1 for p, w in zip(positions, cwords) if p < token_idx)
        start, end = char_offset(short[0]), char_offset(short[1]) - 1
        kind = SHORT
    else:
        start, end = 0, len(" ".join(cwords))
        kind = {"YES": YES, "NO": NO}.get(annotation.yes_no_answer, LONG)
    text = " ".join(ex.words)
    if start >= len(text) or end > len(text):
        ex.answer_type, ex.start_word, ex.end_word = UNKNOWN, 0, 0
        return ex
    char_to_word = []
    for w, word in enumerate(ex.words):
        char_to_word.extend([w] * (len(word) + 1))
    answer = text[start:end]
    if not answer:
        return None
    s, e = char_to_word[start], char_to_word[start + len(answer) - 1]
    if " ".join(ex.words[s:e + 1]).find(" ".join(answer.split())) == -1:
        return None  # bert_joint: "Could not find answer" -> example dropped
    ex.answer_type, ex.start_word, ex.end_word = kind, s, e
    return ex


@dataclasses.dataclass
class DocumentPieces:
    """An example's word sequence as word pieces (computed once, whatever the question)."""

    pieces: np.ndarray  # int64 [n_pieces]
    word_start: np.ndarray  # int64 [n_words + 1]: first piece of each word
    token_map: np.ndarray  # int64 [n_pieces]: NQ token of each piece's word, -1 for markers
    marker_pieces: np.ndarray  # int64: the piece of each context's [ContextId=i] marker (one piece each)
    marker_candidates: np.ndarray  # int64: its candidate index i

    @property
    def num_pieces(self) -> int:
        return len(self.pieces)


def document_pieces(ex: NqExample, tokenizer: NqTokenizer) -> DocumentPieces:
    pieces, counts = tokenizer.word_pieces(ex.words)
    word_start = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=word_start[1:])
    return DocumentPieces(pieces, word_start, np.repeat(np.asarray(ex.word_map, np.int64), counts),
                          word_start[np.asarray(ex.context_words, np.int64)],
                          np.asarray(ex.context_candidates, np.int64))


def query_ids(question_text: str, tokenizer: NqTokenizer, max_query_length: int) -> tuple[list[int], bool]:
    """bert_joint's question: `[Q]` + its pieces, the LAST `max_query_length` kept ([Q] may
    go); and whether it was cut."""
    query = [tokenizer.vocab.get("[Q]", tokenizer.unk_id)] + tokenizer.tokenize_text(question_text)
    if len(query) > max_query_length:
        return query[-max_query_length:], True
    return query, False


def window_spans(n_pieces: int, max_doc: int, doc_stride: int) -> list[tuple[int, int]]:
    """(first piece, length) of each window: `max_doc` pieces every `doc_stride`, the last
    one ending at the document's end."""
    spans = []
    offset = 0
    while offset < n_pieces:
        length = min(n_pieces - offset, max_doc)
        spans.append((offset, length))
        if offset + length == n_pieces:
            break
        offset += min(length, doc_stride)
    return spans


def max_document_pieces(cfg: FeatureConfig, query: list[int]) -> int:
    max_doc = cfg.max_seq_length - len(query) - 3
    if max_doc <= 0:
        raise ValueError(f"max_seq_length {cfg.max_seq_length} leaves no room for the document "
                         f"after a question of {len(query)} pieces")
    return max_doc


def question_windows(doc: DocumentPieces, question: str, tokenizer: NqTokenizer, cfg: FeatureConfig,
                     layouts: Optional[dict] = None) -> tuple[dict[str, np.ndarray], bool]:
    """Every window of `question` over a document's pieces (`window_arrays`), and whether the
    question was cut to max_query_length; `layouts` caches the window spans per question length."""
    query, cut = query_ids(question, tokenizer, cfg.max_query_length)
    spans = layouts.get(len(query)) if layouts is not None else None
    if spans is None:
        spans = window_spans(doc.num_pieces, max_document_pieces(cfg, query), cfg.doc_stride)
        if layouts is not None:
            layouts[len(query)] = spans
    return window_arrays(doc, query, spans, list(range(len(spans))), tokenizer, cfg.max_seq_length), cut


def window_arrays(doc: DocumentPieces, query: list[int], spans: list[tuple[int, int]], rows: list[int],
                  tokenizer: NqTokenizer, seq: int) -> dict[str, np.ndarray]:
    """The [len(rows), seq] arrays of windows `rows` (indices into `spans`):
    `[CLS] query [SEP] chunk [SEP]` and padding, with segment ids, mask and token_map."""
    prefix = np.asarray([tokenizer.cls_id] + query + [tokenizer.sep_id], np.int64)
    doc_offset = len(prefix)
    n = len(rows)
    starts = np.asarray([spans[k][0] for k in rows], np.int64)
    lengths = np.asarray([spans[k][1] for k in rows], np.int64)
    col = np.arange(seq, dtype=np.int64)[None, :]
    rel = col - doc_offset  # position inside the chunk
    in_doc = (rel >= 0) & (rel < lengths[:, None])
    src = np.where(in_doc, starts[:, None] + rel, 0)
    input_ids = np.zeros((n, seq), np.int64)
    input_ids[:, :doc_offset] = prefix
    input_ids[in_doc] = doc.pieces[src[in_doc]]
    sep_col = doc_offset + lengths
    input_ids[np.arange(n), sep_col] = tokenizer.sep_id
    token_map = np.full((n, seq), -1, np.int64)
    token_map[in_doc] = doc.token_map[src[in_doc]]
    candidate_map = np.full((n, seq), -1, np.int64)
    rel_marker = doc.marker_pieces[None, :] - starts[:, None]  # [n, markers]
    row, k = np.nonzero((rel_marker >= 0) & (rel_marker < lengths[:, None]))
    candidate_map[row, doc_offset + rel_marker[row, k]] = doc.marker_candidates[k]
    return {"input_ids": input_ids, "input_mask": (col <= sep_col[:, None]).astype(np.int64),
            "segment_ids": ((col >= doc_offset) & (col <= sep_col[:, None])).astype(np.int64),
            "token_map": token_map, "candidate_map": candidate_map}


def make_features(ex: NqExample, tokenizer: NqTokenizer, cfg: FeatureConfig, is_training: bool,
                  rng: Optional[random.Random] = None) -> list[Feature]:
    """bert_joint's convert_single_example over one NqExample."""
    doc = document_pieces(ex, tokenizer)
    query, _ = query_ids(ex.question_text, tokenizer, cfg.max_query_length)
    spans = window_spans(doc.num_pieces, max_document_pieces(cfg, query), cfg.doc_stride)
    ex.num_windows = len(spans)
    if is_training:
        labels = _training_labels(ex, doc, query, spans, cfg, rng)
    else:
        labels = [(span_index, 0, 0, UNKNOWN) for span_index in range(len(spans))]
    if not labels:
        return []
    arrays = window_arrays(doc, query, spans, [k for k, *_ in labels], tokenizer, cfg.max_seq_length)
    long_positions = (_long_positions(ex, arrays["candidate_map"]) if is_training else [-1] * len(labels))
    return [Feature(unique_id=0, example_id=ex.example_id, doc_span_index=k, input_ids=arrays["input_ids"][r],
                    input_mask=arrays["input_mask"][r], segment_ids=arrays["segment_ids"][r],
                    token_map=arrays["token_map"][r], start_position=sp, end_position=ep, answer_type=at,
                    candidate_map=arrays["candidate_map"][r], long_position=lp)
            for r, ((k, sp, ep, at), lp) in enumerate(zip(labels, long_positions))]


def _long_positions(ex: NqExample, candidate_map: np.ndarray) -> list[int]:
    """The long-answer label of each window: where the gold candidate's [ContextId] marker
    is, or 0 ([CLS]: no long answer here) when the window does not hold it."""
    if ex.long_candidate < 0:
        return [0] * len(candidate_map)
    hit = candidate_map == ex.long_candidate
    return [int(np.argmax(row)) if row.any() else 0 for row in hit]


def _training_labels(ex, doc: DocumentPieces, query, spans, cfg: FeatureConfig, rng) -> list[tuple]:
    """(window, start, end, answer type) of the windows kept for training: those holding the
    whole answer span, and null windows labelled (0, 0, UNKNOWN): each with probability
    include_unknowns, or (negatives_per_positive >= 0) that many per answer window (one
    answer window counted for a null example), drawn at random."""
    tok_start = int(doc.word_start[ex.start_word])
    tok_end = int(doc.word_start[ex.end_word + 1]) - 1
    offset = doc_offset_of(query)
    positives, negatives = [], []
    for span_index, (start, length) in enumerate(spans):
        contains = tok_start >= start and tok_end <= start + length - 1
        if not contains or ex.answer_type == UNKNOWN:
            negatives.append(span_index)
        else:
            positives.append((span_index, tok_start - start + offset, tok_end - start + offset, ex.answer_type))
    if cfg.negatives_per_positive >= 0:
        wanted = cfg.negatives_per_positive * max(1, len(positives))
        count = min(len(negatives), int(wanted) + (rng.random() < wanted - int(wanted)))
        kept = set(rng.sample(negatives, count))
    else:
        kept = {k for k in negatives if not (cfg.include_unknowns < 0 or rng.random() > cfg.include_unknowns)}
    labels = positives + [(k, 0, 0, UNKNOWN) for k in negatives if k in kept]
    return sorted(labels)


def doc_offset_of(query: list[int]) -> int:
    """Index of the first document piece in a window: [CLS] + question + [SEP]."""
    return len(query) + 2


def unique_id(example_id: int, doc_span_index: int) -> int:
    """bert_joint's unique id, example_id + window index, wrapped into the signed 64-bit range.

    Kept for record compatibility; the exact feature -> example mapping is carried by the
    `example_ids` and `doc_span_index` features our records add.
    """
    value = (example_id + doc_span_index) & 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= (1 << 63) else value
