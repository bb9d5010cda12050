"""Answer questions with a trained model: `Reader.load(model_dir)`, then `reader.answer(...)`.

    from nq_baseline import Reader
    reader = Reader.load("demo_out/model")
    answer = reader.answer("when was the town founded", "<html>...</html>")
    answer.short_answers_text, answer.long_answer.text, answer.yes_no_answer

A document is an NQ example (a dict of either format, its JSON line, or an
`nq_data.NqDocument`), raw HTML, or plain text (paragraphs split on blank lines): see
`reading.html_page` and `reading.plain_text`. It is parsed, flattened into bert_joint's word sequence and tokenized ONCE;
every question then only adds its windows. The windows go through the same compiled
forward pass and the same post-processing (`postprocess.predict_example`) as
`run_nq --do_predict`, so the official prediction fields are those `run_nq` writes for the
same example.

For a server that batches the windows of several requests into one forward pass, the
three steps are public: `encode(questions, document)` -> `Encoded` (windows as arrays),
`run(windows)` -> model outputs, `decode(encoded, outputs)` -> answers.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from nq_baseline.reading import html_page, plain_text, source_text
from nq_baseline.common.errors import NqInputError
from nq_baseline.common.inputs import prefetched
from nq_baseline.features import windows as F
from nq_baseline.model.folder import ModelSpec
from nq_baseline.model.modeling import MODEL_INPUT_KEYS
from nq_baseline.prediction import confidence as C
from nq_baseline.prediction.lexical import candidate_scores
from nq_baseline.prediction.postprocess import (ExamplePrediction, PostprocessConfig, RawResult, enclosing_candidate,
                                                predict_example)
from nq_baseline.reading.nq_data import NqDocument, document_from_json, parse_line

DEFAULT_MAX_DOCUMENT_BYTES = 16 << 20
READ_EVERY_CONTEXT = 0  # FeatureConfig.max_contexts: no limit
DOCUMENT_KINDS = ("html", "text", "nq")
CONTEXT_WORDS = 12  # words shown on each side of a candidate answer
DocumentInput = Union[NqDocument, Mapping, str, bytes]


@dataclasses.dataclass(frozen=True)
class AnswerSpan:
    """A span of the document: NQ tokens [start_token, end_token), the source's bytes and
    characters where the source is known (HTML, text, original-format NQ; else -1)."""

    start_token: int
    end_token: int
    start_byte: int = -1
    end_byte: int = -1
    start_char: int = -1
    end_char: int = -1
    text: str = ""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RankedAnswer:
    """One of the candidate answers (`Answer.top_answers`): its span, score and probability
    (`prediction.confidence`), the words around it within its paragraph, and that paragraph's
    candidate index (-1: outside every top-level candidate)."""

    span: AnswerSpan
    score: float
    probability: float
    context_before: str
    context_after: str
    long_answer_candidate_index: int

    def to_json(self) -> dict:
        return dict(self.span.to_json(), score=self.score, probability=self.probability,
                    context_before=self.context_before, context_after=self.context_after,
                    long_answer_candidate_index=self.long_answer_candidate_index)


@dataclasses.dataclass(frozen=True)
class Answer:
    """One question's answer over one document."""

    question: str
    prediction: dict  # the official fields, exactly as run_nq --do_predict writes them
    long_answer: Optional[AnswerSpan]  # None: no long answer
    long_answer_index: int  # candidate index, -1 when none
    short_answers: tuple[AnswerSpan, ...]
    yes_no_answer: str  # "YES", "NO" or "NONE"
    long_answer_score: float
    short_answers_score: float
    answer_type: str  # of the window that gave the answer: UNKNOWN, YES, NO, SHORT, LONG
    answer_type_probabilities: dict  # name -> probability (softmax of that window's logits)
    example_id: Optional[int] = None  # the NQ example's id (None for HTML and text)
    question_truncated: bool = False  # longer than max_query_length: its first pieces were cut
    num_windows: int = 0
    document_cut: bool = False  # max_contexts left long-answer candidates of the document unread
    nbest: list = dataclasses.field(default_factory=list)  # the best spans, when PostprocessConfig.nbest > 0
    # with PostprocessConfig.nbest > 0 (`prediction.confidence`): the probability of the answer's
    # span (None: no answer, or no n-best span inside it), of no answer, and the distinct n-best
    # spans, best first
    confidence: Optional[float] = None
    no_answer_probability: Optional[float] = None
    top_answers: tuple[RankedAnswer, ...] = ()

    @property
    def short_answers_text(self) -> list[str]:
        return [s.text for s in self.short_answers]

    def to_json(self) -> dict:
        """The official prediction fields (spans with token offsets as in the predictions
        file, byte offsets filled where the document has them), plus the texts, the
        answer-type probabilities and the question's truncation. The example id is a string:
        NQ ids are 64-bit, and a JSON number past 2^53 reaches JavaScript (and any reader
        that parses numbers as doubles) rounded. (The predictions file keeps ints: the
        official scorer reads them as such.)"""
        out = json.loads(json.dumps(self.prediction))
        if self.example_id is None:
            out.pop("example_id", None)
        else:
            out["example_id"] = str(self.example_id)
        if self.long_answer is not None:
            out["long_answer"].update(start_byte=self.long_answer.start_byte, end_byte=self.long_answer.end_byte)
        for span, short in zip(out["short_answers"], self.short_answers):
            span.update(start_byte=short.start_byte, end_byte=short.end_byte)
        out.update(question=self.question, long_answer_text=self.long_answer.text if self.long_answer else "",
                   long_answer_candidate_index=self.long_answer_index,
                   short_answers_text=self.short_answers_text,
                   answer_type=self.answer_type, answer_type_probabilities=self.answer_type_probabilities,
                   question_truncated=self.question_truncated, num_windows=self.num_windows,
                   document_cut=self.document_cut)
        if self.long_answer is not None and self.long_answer.start_char >= 0:
            out["long_answer_chars"] = [self.long_answer.start_char, self.long_answer.end_char]
            out["short_answers_chars"] = [[s.start_char, s.end_char] for s in self.short_answers]
        if self.no_answer_probability is not None:
            out.update(confidence=self.confidence, no_answer_probability=self.no_answer_probability,
                       top_answers=[a.to_json() for a in self.top_answers])
        return out


@dataclasses.dataclass
class TokenizedDocument:
    """A document parsed, flattened and tokenized once, for any number of questions."""

    doc: NqDocument
    kind: str  # html | text | nq
    source: Optional[bytes]  # the HTML or text the byte offsets index (None for NQ examples)
    pieces: F.DocumentPieces
    contexts_read: int = 0  # long-answer candidates given a [ContextId] in the windows
    contexts_total: int = 0  # candidates there were to read (more: cut at max_contexts)
    layouts: dict = dataclasses.field(default_factory=dict)  # query length -> window spans (a cache)

    @property
    def cut(self) -> bool:
        """Whether max_contexts left candidates of the document unread."""
        return self.contexts_read < self.contexts_total

    @property
    def example_id(self) -> Optional[int]:
        return self.doc.example_id if self.kind == "nq" else None


@dataclasses.dataclass
class Encoded:
    """The windows of some questions over one tokenized document."""

    document: TokenizedDocument
    questions: list[str]
    truncated: list[bool]
    windows: dict  # input_ids, input_mask, segment_ids, token_map, candidate_map: [n, seq] int arrays
    counts: list[int]  # windows per question, in order

    @property
    def num_windows(self) -> int:
        return int(sum(self.counts))


class Reader:
    """A trained model, loaded once, answering questions over documents."""

    def __init__(self, model, tokenizer, features: F.FeatureConfig, postprocess: PostprocessConfig,
                 batch_size: int = 64, max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
                 spec: Optional[ModelSpec] = None, step: Optional[int] = None):
        from nq_baseline.prediction.streaming import ForwardFunction

        self.model, self.tokenizer, self.features, self.postprocess = model, tokenizer, features, postprocess
        self.batch_size, self.max_document_bytes = int(batch_size), int(max_document_bytes)
        if self.batch_size < 1 or self.max_document_bytes < 1:
            raise ValueError("batch_size and max_document_bytes must be >= 1")
        self.spec, self.step = spec, step
        self.forward = ForwardFunction(model)

    @classmethod
    def load(cls, model_dir: str, *, batch_size: int = 64, max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
             postprocess: Union[PostprocessConfig, Mapping[str, Any], None] = None,
             init_checkpoint: Optional[str] = None, **feature_overrides) -> "Reader":
        """The model folder `run_nq --do_train` leaves (nq_model.json, config, vocabulary,
        checkpoints; a folder without checkpoints answers with `init_checkpoint`'s weights).
        `postprocess`: a PostprocessConfig, or settings over the default one (e.g.
        {"lexical_weight": 0.5}); "auto" is decided for this model. The windows are the model's
        but for `max_contexts`: a Reader reads every paragraph of a document (max_contexts 0; a
        model trains on the first 48, bert_joint's limit); `feature_overrides` change them (e.g.
        doc_stride=64, or max_contexts=48 for the model's own layout, as run_nq predicts)."""
        spec = ModelSpec.load(model_dir)
        if postprocess is None or isinstance(postprocess, Mapping):
            postprocess = PostprocessConfig(**{"long_answer_from": "auto", **(postprocess or {})})
        try:
            postprocess = postprocess.for_model(spec.long_answer_head)
        except ValueError as err:
            raise ValueError(f"{model_dir}: {err}") from None
        features = dataclasses.replace(spec.features, **{"max_contexts": READ_EVERY_CONTEXT, **feature_overrides})
        model, step = spec.load_model(features.max_seq_length, init_checkpoint)
        return cls(model, spec.tokenizer(), features, postprocess, batch_size, max_document_bytes, spec, step)

    # ------------------------------------------------------------------ documents

    def tokenize(self, document: Union[DocumentInput, TokenizedDocument], kind: Optional[str] = None
                 ) -> TokenizedDocument:
        """Parses, flattens and tokenizes a document once. `kind` is html, text or nq; by default
        an NqDocument or a dict is an NQ example, a string or bytes HTML when it looks like HTML
        (`source_text.looks_like_html`), else plain text."""
        if isinstance(document, TokenizedDocument):
            return document
        kind = kind or _guess_kind(document)
        if kind not in DOCUMENT_KINDS:
            raise ValueError(f"document kind must be one of {DOCUMENT_KINDS}, got {kind!r}")
        source = None
        if kind == "nq":
            doc = _nq_document(document)
        else:
            if not isinstance(document, (str, bytes, bytearray)):
                raise NqInputError(f"<{kind}>", None, f"a {kind} document must be a string or bytes, "
                                   f"got {type(document).__name__}")
            convert = html_page.document_from_html if kind == "html" else plain_text.document_from_text
            doc = convert(document, source=f"<{kind}>", max_document_bytes=self.max_document_bytes)
            source = document.encode("utf-8") if isinstance(document, str) else bytes(document)
        example = F.build_example(doc, self.features)
        return TokenizedDocument(doc, kind, source, F.document_pieces(example, self.tokenizer),
                                 len(example.context_candidates), len(F.kept_candidates(doc, self.features)))

    # ------------------------------------------------------------------ the three steps

    def encode(self, questions: Sequence[str], document: Union[DocumentInput, TokenizedDocument],
               kind: Optional[str] = None) -> Encoded:
        """The windows of every question over the document (parsed once)."""
        if isinstance(questions, str) or not len(questions):
            raise ValueError("questions must be a non-empty list of strings")
        for i, q in enumerate(questions):
            _check_question("question" if len(questions) == 1 else f"questions[{i}]", q)
        tokenized = self.tokenize(document, kind)
        parts, counts, truncated = [], [], []
        for question in questions:
            arrays, cut = F.question_windows(tokenized.pieces, question, self.tokenizer, self.features,
                                             tokenized.layouts)
            parts.append(arrays)
            counts.append(len(arrays["input_ids"]))
            truncated.append(cut)
        windows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return Encoded(tokenized, list(questions), truncated, windows, counts)

    def run(self, windows: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's outputs for [n, seq] windows, in batches of `batch_size`."""
        n = len(windows["input_ids"])
        if n == 0:
            seq = self.features.max_seq_length
            return {"start_logits": np.zeros((0, seq), np.float32), "end_logits": np.zeros((0, seq), np.float32),
                    "answer_type_logits": np.zeros((0, 5), np.float32)}
        outs = [self.forward({k: v[lo:lo + self.batch_size] for k, v in windows.items()})
                for lo in range(0, n, self.batch_size)]
        return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[Answer]:
        """The answers of `encoded`'s questions from the model's outputs for its windows."""
        tokenized = encoded.document
        doc = tokenized.doc
        answers, lo = [], 0
        for question, cut, count in zip(encoded.questions, encoded.truncated, encoded.counts):
            long_logits = outputs.get("long_logits")
            results = [RawResult(F.unique_id(doc.example_id, k), outputs["start_logits"][lo + k],
                                 outputs["end_logits"][lo + k], outputs["answer_type_logits"][lo + k],
                                 encoded.windows["token_map"][lo + k], doc.example_id, k,
                                 None if long_logits is None else long_logits[lo + k],
                                 encoded.windows["candidate_map"][lo + k]) for k in range(count)]
            lo += count
            lexical = (candidate_scores(question, doc.tokens, doc.candidates)
                       if self.postprocess.lexical_weight else None)
            answers.append(self._answer(question, cut, tokenized, predict_example(
                doc.example_id, doc.candidates, results, self.postprocess, lexical), count))
        return answers

    def answer_stream(self, pairs: Iterable[tuple[str, Union[DocumentInput, TokenizedDocument]]],
                      kind: Optional[str] = None) -> Iterator[Answer]:
        """The answer of each (question, document) pair, in order, streaming: the documents are
        read and encoded a few ahead in a helper thread while the model runs full batches of
        `batch_size` windows drawn across documents, and each answer comes as soon as its last
        window is through (how `run_nq --do_predict` answers a whole NQ file)."""
        encoded = prefetched((self.encode([question], document, kind) for question, document in pairs),
                             depth=8, name="nq-encode")
        pending: collections.deque = collections.deque()  # [Encoded, outputs so far, windows still out]
        queued: list = []  # (entry, first row, end row) of windows not yet run
        queued_rows = 0
        for item in encoded:
            entry = [item, [], item.num_windows]
            pending.append(entry)
            if item.num_windows:
                queued.append((entry, 0, item.num_windows))
                queued_rows += item.num_windows
            while queued_rows >= self.batch_size:
                queued_rows -= self._run_queued(queued, self.batch_size)
            yield from self._finished(pending)
        while queued:
            self._run_queued(queued, self.batch_size)
        yield from self._finished(pending)

    def _run_queued(self, queued: list, limit: int) -> int:
        """Runs the first `limit` queued windows in one forward pass; hands each entry its rows."""
        taken, rows = [], 0
        while queued and rows < limit:
            entry, lo, hi = queued.pop(0)
            take = min(hi - lo, limit - rows)
            taken.append((entry, lo, lo + take))
            if lo + take < hi:
                queued.insert(0, (entry, lo + take, hi))
            rows += take
        inputs = {k: np.concatenate([e[0].windows[k][lo:hi] for e, lo, hi in taken]) for k in MODEL_INPUT_KEYS}
        outputs = self.forward(inputs)
        at = 0
        for entry, lo, hi in taken:
            entry[1].append({k: v[at:at + hi - lo] for k, v in outputs.items()})
            entry[2] -= hi - lo
            at += hi - lo
        return rows

    def _finished(self, pending: collections.deque) -> Iterator[Answer]:
        while pending and pending[0][2] == 0:
            item, parts, _ = pending.popleft()
            outputs = ({k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts
                       else self.run({k: v[:0] for k, v in item.windows.items()}))
            yield from self.decode(item, outputs)

    # ------------------------------------------------------------------ conveniences

    def answer_many(self, questions: Sequence[str], document: Union[DocumentInput, TokenizedDocument],
                    kind: Optional[str] = None) -> list[Answer]:
        """Answers to every question over one document: parsed and tokenized once, all the
        windows of all the questions through the model in shared batches."""
        encoded = self.encode(questions, document, kind)
        return self.decode(encoded, self.run(encoded.windows))

    def answer(self, question: str, document: Union[DocumentInput, TokenizedDocument],
               kind: Optional[str] = None) -> Answer:
        return self.answer_many([question], document, kind)[0]

    def describe(self) -> dict:
        """The model's size, checkpoint step and feature settings (for a service's /v1/model)."""
        config = self.model.config
        return {"model_dir": self.spec.model_dir if self.spec else None, "checkpoint_step": self.step,
                "encoder": {k: getattr(config, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                                             "num_attention_heads", "intermediate_size",
                                                             "max_position_embeddings")},
                "parameters": int(sum(np.prod(v.shape) for v in self.model.trainable_variables)),
                "features": dataclasses.asdict(self.features), "postprocess": dataclasses.asdict(self.postprocess),
                "do_lower_case": self.spec.do_lower_case if self.spec else None,
                "max_document_bytes": self.max_document_bytes}

    # ------------------------------------------------------------------ answers

    def _answer(self, question: str, truncated: bool, tokenized: TokenizedDocument, predicted: ExamplePrediction,
                num_windows: int) -> Answer:
        pred = predicted.prediction
        logits = predicted.answer_type_logits
        if logits is None:
            probabilities = {name: 0.0 for name in F.ANSWER_TYPE_NAMES}
            answer_type = "UNKNOWN"
        else:
            exp = np.exp(logits - np.max(logits))
            probabilities = {name: float(p) for name, p in zip(F.ANSWER_TYPE_NAMES, exp / exp.sum())}
            answer_type = F.ANSWER_TYPE_NAMES[int(np.argmax(logits))]
        long_span = pred["long_answer"]
        long_answer = (self._span(tokenized, long_span["start_token"], long_span["end_token"])
                       if long_span["start_token"] >= 0 else None)
        shorts = tuple(self._span(tokenized, s["start_token"], s["end_token"]) for s in pred["short_answers"]
                       if s["start_token"] >= 0)
        ranked = {}
        if self.postprocess.nbest:
            ranked = self._ranked(tokenized, predicted, shorts[0] if shorts else None, long_answer)
        return Answer(question=question, prediction=pred, long_answer=long_answer,
                      long_answer_index=predicted.long_answer_index, short_answers=shorts,
                      yes_no_answer=pred["yes_no_answer"], long_answer_score=pred["long_answer_score"],
                      short_answers_score=pred["short_answers_score"], answer_type=answer_type,
                      answer_type_probabilities=probabilities, example_id=tokenized.example_id,
                      question_truncated=truncated, num_windows=num_windows, document_cut=tokenized.cut,
                      nbest=predicted.nbest, **ranked)

    def _ranked(self, tokenized: TokenizedDocument, predicted: ExamplePrediction, short: Optional[AnswerSpan],
                long: Optional[AnswerSpan]) -> dict:
        """The confidence fields of an Answer from the n-best spans (`prediction.confidence`)."""
        short_key = (short.start_token, short.end_token) if short is not None else None
        also = [(*short_key, predicted.prediction["short_answers_score"])] if short_key else []
        spans, no_answer = C.ranked_spans(predicted.nbest, also)
        chosen = C.answer_span(spans, short_key, (long.start_token, long.end_token) if long is not None else None)
        top = tuple(self._ranked_answer(tokenized, s) for s in spans)
        return {"confidence": chosen.probability if chosen is not None else None,
                "no_answer_probability": no_answer, "top_answers": top}

    def _ranked_answer(self, tokenized: TokenizedDocument, ranked: C.RankedSpan) -> RankedAnswer:
        doc = tokenized.doc
        index = enclosing_candidate(doc.candidates, ranked.start_token, ranked.end_token)
        lo, hi = ((doc.candidates[index].start_token, doc.candidates[index].end_token) if index >= 0
                  else (0, len(doc.tokens)))
        before = [i for i in range(lo, ranked.start_token) if not doc.is_html[i]][-CONTEXT_WORDS:]
        after = [i for i in range(ranked.end_token, hi) if not doc.is_html[i]][:CONTEXT_WORDS]
        text = functools.partial(source_text.text_of, doc, source=tokenized.source)
        return RankedAnswer(self._span(tokenized, ranked.start_token, ranked.end_token), ranked.score,
                            ranked.probability, text(before[0], ranked.start_token) if before else "",
                            text(ranked.end_token, after[-1] + 1) if after else "", index)

    @staticmethod
    def _span(tokenized: TokenizedDocument, start: int, end: int) -> AnswerSpan:
        doc = tokenized.doc
        text = source_text.text_of(doc, start, end, tokenized.source)
        if doc.start_bytes is None or end <= start:
            return AnswerSpan(start, end, text=text)
        words = [i for i in range(start, end) if doc.start_bytes[i] >= 0]
        if not words:
            return AnswerSpan(start, end, text=text)
        start_byte, end_byte = doc.start_bytes[start], doc.end_bytes[end - 1]
        if start_byte < 0 or end_byte < 0:
            start_byte, end_byte = doc.start_bytes[words[0]], doc.end_bytes[words[-1]]
        if tokenized.source is None:
            return AnswerSpan(start, end, start_byte, end_byte, text=text)
        start_char, end_char = source_text.char_offsets(tokenized.source, start_byte, end_byte)
        return AnswerSpan(start, end, start_byte, end_byte, start_char, end_char, text)


def _check_question(field: str, question) -> None:
    """A question is a non-empty string of valid Unicode (a shell can pass bytes that are not
    UTF-8: Python keeps them as lone surrogates, which no tokenizer takes)."""
    if not isinstance(question, str) or not question.strip():
        raise NqInputError(field, None, "is empty: ask a question")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as err:
        raise NqInputError(field, None, f"is not valid UTF-8 text (character {err.start})") from None


def _guess_kind(document: Any) -> str:
    if isinstance(document, (NqDocument, Mapping)):
        return "nq"
    if isinstance(document, (str, bytes, bytearray)):
        return "html" if source_text.looks_like_html(document) else "text"
    raise NqInputError("<document>", None, f"not a document: {type(document).__name__} (give an NQ example, "
                       "HTML or text)")


def _nq_document(document: Any) -> NqDocument:
    if isinstance(document, NqDocument):
        return document
    if isinstance(document, Mapping):
        return document_from_json(dict(document), "<nq_example>", 1)
    if isinstance(document, (str, bytes, bytearray)):
        raw = document.encode("utf-8") if isinstance(document, str) else bytes(document)
        return parse_line(raw, "<nq_example>", 1)
    raise NqInputError("<nq_example>", None, f"not an NQ example: {type(document).__name__}")
