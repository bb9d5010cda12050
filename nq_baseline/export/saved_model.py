"""A trained model folder as a TensorFlow SavedModel or as a Hugging Face folder.

SavedModel (`export_saved_model`), two signatures:
- `serving_default`: int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]` ->
  float32 `start_logits`, `end_logits` `[batch, seq]`, `answer_type_logits` `[batch, 5]`
  (and `long_logits` `[batch, seq]` for a model with the long-answer head): the TF
  Serving / Model Garden convention, the client builds the windows.
- `answer_text`: string `question` and `context`, both `[batch]` (one question per
  context; send `[1]` for one). Per example, what `Reader.answer(question, context,
  kind="text")` answers: the short span `answer` (its words, white space between them one
  space), `start_char` / `end_char` (code points into the context, end exclusive),
  `start_byte` / `end_byte` (UTF-8 bytes), `score`; the long answer, i.e. the paragraph:
  `paragraph` (0-based among the non-empty paragraphs), `long_answer`, `long_start_char`,
  `long_end_char`, `long_start_byte`, `long_end_byte`, `long_answer_score`; and
  `answer_type` (UNKNOWN, YES, NO, SHORT, LONG, of the window that gave the answer).
  Without an answer: offsets -1, texts "", scores -10000, type UNKNOWN. The span is given
  whatever the answer type; the Reader's `use_answer_type` form (YES/NO: a yes/no answer,
  LONG: the paragraph alone) is the client's to apply. Everything happens in the graph
  (tensorflow-text): a SavedModel alone answers questions, from TF Serving or any
  language that loads SavedModels (with the tensorflow-text ops).
Two more functions of the saved object (not signatures; `tf.saved_model.load(D).encode(q, c)`):
`encode(question, context)` -> the windows for `serving_default` (with `token_word`, the
word of each position, `candidate`, the paragraph at each `[ContextId=i]` marker, and the
words' byte offsets), `word_pieces(words)` -> ids and `row_lengths` (NqTokenizer.word_ids).

`answer_text` follows the Reader's plain-text path (`documents.document_from_text`,
`features.build_example` / `window_arrays`, `postprocess.predict_example`; the
post-processing settings are fixed at export, by default the Reader's for this model):
- paragraphs: runs of lines that are not blank (a line of only white space is blank);
  paragraph i is long-answer candidate i;
- words: `tokenizers`' BertPreTokenizer (split on white space, each punctuation character
  its own word); the document is `[ContextId=-1] [NoLongAnswer]`, then for the first
  `max_contexts - 1` paragraphs `[ContextId=i] [Paragraph=min(i+1, max_position)]` and the
  paragraph's words, word-pieced; the question is `[Q]` + its pieces, the last
  `max_query_length` kept;
- windows `[CLS] question [SEP] chunk [SEP]` every `doc_stride` pieces;
- per window the `n_best_size` best starts and ends (position 0 excluded, ties: lower
  index first), pairs start <= end on document words, at most `max_answer_length`
  pieces (and inside one paragraph with `short_inside_long`), score start + end -
  (start[0] + end[0]) in float64 (plus the answer-type log-odds with
  `null_score="answer_type"`); the first best over windows, start rank, end rank; with
  `long_answer_from="head"` first the paragraph whose marker the long-answer head scores
  best, then the best span inside it; the span extends to whole words.

The word pieces restate, in RE2 and tensorflow-text ops, what `tokenization.NqTokenizer`
(BertNormalizer + BertPreTokenizer + WordPiece of `tokenizers`) does to one word: remove
control characters, space out CJK ideographs, (uncased) NFD + drop non-spacing marks +
lower-case character by character, split on white space and punctuation, WordPiece with
`[UNK]` for a word of more than 100 characters. Known differences: see tests/test_export.py.

Hugging Face (`export_hf`): `config.json` + `model.safetensors` of a
`BertForQuestionAnswering` (the start/end projection is its `qa_outputs`), the tokenizer
files (`tokenizer.json` with the same normalizer and pre-tokenizer, `vocab.txt`,
`tokenizer_config.json`), and the answer-type head with the pooler it needs in
`nq_answer_type_head.safetensors`, described in the folder's README.md. The names come
from `checkpoints.hf_to_google_name`, the table the HF loader uses.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import re
from typing import Callable

import numpy as np

from nq_baseline.common import fileio
from nq_baseline.common.errors import NqInputError
from nq_baseline.features.windows import ANSWER_TYPE_NAMES, FeatureConfig
from nq_baseline.model.folder import ModelSpec
from nq_baseline.prediction.postprocess import NULL_SCORE
from nq_baseline.features.tokenization import load_vocab

SAVED_MODEL, HF = "saved_model", "hf"
FORMATS = (SAVED_MODEL, HF)
SERVING_SIGNATURE = "serving_default"
ANSWER_SIGNATURE = "answer_text"
EXPORT_INFO_FILE = "nq_export.json"
HEAD_FILE = "nq_answer_type_head.safetensors"
MAX_CHARS_PER_WORD = 100  # tokenization.NqTokenizer's WordPiece limit (characters)

# ----------------------------------------------------------------------------- RE2 rules
# Unicode White_Space (Rust's char::is_whitespace, which BertPreTokenizer splits on).
_WHITE_SPACE = (r"\t\n\x{0B}\x{0C}\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}"
                r"\x{202F}\x{205F}\x{3000}")
# BertPreTokenizer's punctuation: ASCII punctuation and the Unicode P* categories.
_PUNCTUATION = r"!-/:-@\[-`{-~\p{P}"
WORD_DELIMITER = f"[{_WHITE_SPACE}]+|[{_PUNCTUATION}]"
WORD_KEPT = f"[{_PUNCTUATION}]"
BLANK_LINES = f"\\n[{_WHITE_SPACE}]*\\n"
# BertNormalizer's clean_text removes NUL, U+FFFD and "other" characters (Cc but \t \n \r,
# Cf, Co; Cn, unassigned code points, has no RE2 class and stays).
_REMOVED = r"\x00-\x08\x{0B}\x{0C}\x{0E}-\x{1F}\x{7F}-\x{9F}\p{Cf}\p{Co}\x{FFFD}"
# BertNormalizer's "Chinese characters", spaced out so that each is its own word.
_CJK = (r"\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
        r"\x{2B740}-\x{2B81F}\x{2B920}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}")
# tokenization.SPECIAL_TOKEN_RE, `^\[[^ ]*\]$`: Python's `$` also matches before a final newline.
QUESTION_MARKER = r"\[[^ ]*\]\n?"


class ExportError(ValueError):
    """An export that cannot be made (destination, model folder); one line."""


# ----------------------------------------------------------------------------- model folder


@dataclasses.dataclass
class TrainedModel:
    spec: ModelSpec
    config: object  # modeling.BertConfig
    model: object  # modeling.BertNqModel, weights restored
    step: int


def load_trained_model(model_dir: str) -> TrainedModel:
    """The model folder's description, encoder config and latest checkpoint, restored.

    Raises NqInputError naming the file (or the folder) that is missing or does not fit."""
    import tensorflow as tf

    from nq_baseline.model import training

    if not os.path.isdir(model_dir):
        raise NqInputError(model_dir, None, "no such model folder")
    spec = ModelSpec.load(model_dir)
    try:
        config = spec.bert_config()
        model = spec.build_model()
    except (OSError, ValueError, TypeError) as err:
        raise NqInputError(spec.bert_config_file, None, f"unusable encoder config ({err})") from None
    failure = None
    try:
        step = training.restore_latest(model, model_dir)
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        failure = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if failure is not None:
        del model
        gc.collect()  # TF logs the failed restore's leftovers now, not after the error line
        raise NqInputError(model_dir, None, f"the checkpoint does not fit {spec.bert_config_file} ({failure})")
    if step is None:
        raise NqInputError(model_dir, None, "no checkpoint: train it first (run_nq --do_train)")
    return TrainedModel(spec, config, model, step)


# ----------------------------------------------------------------------------- publishing


def check_destination(export_dir: str, overwrite: bool) -> None:
    """ExportError unless `export_dir` is absent, an empty folder, or `overwrite`."""
    if not export_dir:
        raise ExportError("--export_dir is required")
    if os.path.lexists(export_dir) and not os.path.isdir(export_dir):
        raise ExportError(f"--export_dir {export_dir}: exists and is not a folder")
    if os.path.isdir(export_dir) and os.listdir(export_dir) and not overwrite:
        raise ExportError(f"--export_dir {export_dir}: exists and is not empty (--overwrite replaces it)")
    parent = os.path.dirname(os.path.abspath(export_dir))
    while not os.path.lexists(parent):  # the folder that the temporary export is made in
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ExportError(f"--export_dir {export_dir}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"--export_dir {export_dir}: cannot write in {parent}")


def publish(export_dir: str, overwrite: bool, build: Callable[[str], None]) -> str:
    """Runs `build(folder)` in a temporary folder beside `export_dir`, then puts it in place
    (an existing folder is replaced only once the new one is complete)."""
    check_destination(export_dir, overwrite)
    final = os.path.abspath(export_dir)
    base = os.path.basename(final.rstrip(os.sep)) or "export"
    try:
        with fileio.temporary_directory(final, base) as work:
            build(work)
            if os.path.isdir(final):
                with fileio.temporary_directory(final, base) as old:
                    previous = os.path.join(old, "previous")
                    os.rename(final, previous)
                    try:
                        os.rename(work, final)
                    except OSError:
                        os.rename(previous, final)
                        raise
            else:
                os.rename(work, final)
    except OSError as err:  # no space, no permission, a folder that vanished
        where = f": {err.filename}" if err.filename else ""
        raise ExportError(f"--export_dir {export_dir}: cannot write the export ({err.strerror or err}{where})") from None
    return final


def export_info(trained: TrainedModel, fmt: str, **extra) -> dict:
    spec = trained.spec
    return {"format": fmt, "model_dir": spec.model_dir, "step": trained.step,
            "do_lower_case": spec.do_lower_case, "features": spec.feature_settings(), **extra}


# ----------------------------------------------------------------------------- in-graph text


def without_nul(texts):
    """tensorflow-text's regex split stops at a NUL byte: \\x01 is the same to the rules
    (neither white space nor punctuation, removed by the normaliser) and as long."""
    import tensorflow as tf

    return tf.strings.regex_replace(texts, r"\x00", "\x01")


def split_words(texts):
    """BertPreTokenizer's words of each text: RaggedTensors words, begin, end (byte offsets)."""
    import tensorflow_text as tf_text

    return tf_text.regex_split_with_offsets(without_nul(texts), WORD_DELIMITER, WORD_KEPT)


def wordpiece_vocabulary(vocab: dict[str, int]) -> list[str]:
    """Token of each id, as tensorflow-text wants it (id = position). Ids that name no token
    (an empty or repeated line of vocab.txt) get a name with a space, which no word has."""
    tokens = [f" unused line {i}" for i in range(max(vocab.values()) + 1)]
    for token, index in vocab.items():
        tokens[index] = token
    return tokens


class TextLayout:
    """The Reader's plain-text path in TensorFlow ops: word pieces, the question, the
    flattened document and its windows. Its tokenizer and table must be attributes of the
    tf.Module that is saved (see `_saved_module`)."""

    def __init__(self, vocab_file: str, do_lower_case: bool, features: FeatureConfig):
        import tensorflow as tf
        import tensorflow_text as tf_text

        vocab = load_vocab(vocab_file)
        self.do_lower_case = do_lower_case
        self.features = features
        self.unk_id, self.cls_id, self.sep_id = vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"]
        self.wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=wordpiece_vocabulary(vocab), suffix_indicator="##", unknown_token="[UNK]",
            max_bytes_per_word=4 * MAX_CHARS_PER_WORD, token_out_type=tf.int64, no_pretokenization=True)
        self.whole_words = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(list(vocab), list(vocab.values()), tf.string, tf.int64),
            default_value=self.unk_id)

        def marker(name):
            return vocab.get(name, self.unk_id)

        paragraphs = features.max_contexts - 1
        self.head_ids = [marker("[ContextId=-1]"), marker("[NoLongAnswer]")]
        self.question_id = marker("[Q]")
        self.paragraph_markers = [[marker(f"[ContextId={i}]"),
                                   marker(f"[Paragraph={min(i + 1, features.max_position)}]")]
                                  for i in range(paragraphs)]

    # --- words -> pieces

    def word_pieces(self, words):
        """1-D words -> RaggedTensor [words, pieces] of int64 ids, as NqTokenizer.word_ids: a
        bracketed word (`[Q]`) is looked up whole, any other is normalised and word-pieced."""
        import tensorflow as tf

        whole = tf.strings.regex_full_match(words, QUESTION_MARKER)
        whole_ids = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(self.whole_words.lookup(words), whole), tf.cast(whole, tf.int64))
        return tf.concat([whole_ids, self._plain_word_pieces(tf.where(whole, "", words))], axis=1)

    def _plain_word_pieces(self, words):
        import tensorflow as tf
        import tensorflow_text as tf_text

        clean = tf.strings.regex_replace(words, f"[{_REMOVED}]", "")
        clean = tf.strings.regex_replace(clean, f"([{_CJK}])", r" \1 ")
        if self.do_lower_case:
            clean = tf_text.normalize_utf8(clean, "NFD")
            clean = tf.strings.regex_replace(clean, r"\p{Mn}", "")
            # tokenizers lower-cases one character at a time; ICU's lower() would turn a
            # final capital sigma into final-form ς.
            clean = tf.strings.regex_replace(clean, "\u03a3", "\u03c3")
            clean = tf.strings.lower(clean, encoding="utf-8")
        sub_words = tf_text.regex_split(clean, WORD_DELIMITER, WORD_KEPT)  # [words, sub-words]
        flat = sub_words.flat_values
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        pieces = self.wordpiece.tokenize(tf.where(too_long, "", flat))
        unknown = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(too_long, tf.int32))], tf.constant(self.unk_id, tf.int64)),
            tf.cast(too_long, tf.int64))
        pieces = tf.concat([unknown, pieces], axis=1)
        return sub_words.with_flat_values(pieces).merge_dims(1, 2)

    def question_ids(self, question):
        """Scalar question -> int64 ids: `[Q]` + pieces, the last max_query_length kept
        (NqTokenizer.tokenize_text: split on single spaces, bracketed words whole)."""
        import tensorflow as tf

        pieces = self.word_pieces(tf.strings.split(question, sep=" ")).flat_values
        ids = tf.concat([tf.constant([self.question_id], tf.int64), pieces], axis=0)
        return ids[-self.features.max_query_length:]

    def document(self, context):
        """Scalar context -> the flattened document: piece ids, the word of each piece (-1
        on markers), and per word its byte offsets and paragraph."""
        import tensorflow as tf
        import tensorflow_text as tf_text

        paragraphs, paragraph_begin, _ = tf_text.regex_split_with_offsets(
            without_nul(context[tf.newaxis]), BLANK_LINES)
        words, begin, end = split_words(paragraphs.flat_values)  # [paragraphs, words]
        kept = words.row_lengths() > 0
        limit = len(self.paragraph_markers)
        words = tf.ragged.boolean_mask(words, kept)[:limit]
        offset = tf.boolean_mask(paragraph_begin.flat_values, kept)[:limit, tf.newaxis]
        begin = (tf.ragged.boolean_mask(begin, kept)[:limit] + offset).flat_values
        end = (tf.ragged.boolean_mask(end, kept)[:limit] + offset).flat_values
        count = words.nrows()
        minus_one = tf.constant(-1, tf.int64)

        pieces = self.word_pieces(words.flat_values)  # [words, pieces]
        by_paragraph = tf.RaggedTensor.from_row_splits(pieces, words.row_splits).merge_dims(1, 2)
        piece_word = tf.RaggedTensor.from_row_splits(
            pieces.with_flat_values(pieces.value_rowids()), words.row_splits).merge_dims(1, 2)
        markers = tf.RaggedTensor.from_tensor(
            tf.constant(self.paragraph_markers or np.zeros([0, 2]), tf.int64)[:count])
        # the candidate index at its [ContextId=i] marker (features' candidate_map), else -1
        index = tf.range(count, dtype=tf.int64)[:, tf.newaxis]
        marker_candidate = tf.RaggedTensor.from_tensor(tf.concat([index, tf.fill([count, 1], minus_one)], axis=1))
        marker_word = tf.RaggedTensor.from_tensor(tf.fill([count, 2], minus_one))
        no_candidate = by_paragraph.with_flat_values(tf.fill(tf.shape(by_paragraph.flat_values), minus_one))

        def flat(head, per_paragraph, pieces_of):
            return tf.concat([tf.constant(head, tf.int64),
                              tf.concat([per_paragraph, pieces_of], axis=1).flat_values], axis=0)

        first_word = words.row_splits[:-1]
        return {"ids": flat(self.head_ids, markers, by_paragraph),
                "piece_word": flat([-1, -1], marker_word, piece_word),
                "piece_candidate": flat([-1, -1], marker_candidate, no_candidate),
                "word_begin": begin, "word_end": end, "word_paragraph": words.value_rowids(),
                "paragraph_begin": tf.gather(begin, first_word),
                "paragraph_end": tf.gather(end, words.row_splits[1:] - 1)}

    def windows(self, query, doc):
        """features.window_arrays over in-graph ids: [windows, seq] input_ids, input_mask,
        segment_ids, the word of every position (-1 outside document words) and the
        candidate at every [ContextId=i] marker (-1 elsewhere)."""
        import tensorflow as tf

        seq = self.features.max_seq_length
        doc_ids = doc["ids"]
        n = tf.size(doc_ids, out_type=tf.int64)
        prefix = tf.concat([tf.constant([self.cls_id], tf.int64), query,
                            tf.constant([self.sep_id], tf.int64)], axis=0)
        doc_offset = tf.size(prefix, out_type=tf.int64)
        max_doc = seq - doc_offset - 1
        step = tf.minimum(max_doc, self.features.doc_stride)
        count = 1 + (tf.maximum(n - max_doc, 0) + step - 1) // step  # features.window_spans
        starts = tf.range(count, dtype=tf.int64) * step
        lengths = tf.minimum(n - starts, max_doc)
        col = tf.range(seq, dtype=tf.int64)[tf.newaxis, :]
        rel = col - doc_offset
        in_doc = (rel >= 0) & (rel < lengths[:, tf.newaxis])
        src = tf.clip_by_value(starts[:, tf.newaxis] + rel, 0, tf.maximum(n - 1, 0))
        sep_col = (doc_offset + lengths)[:, tf.newaxis]
        prefix_row = tf.pad(prefix, [[0, seq - doc_offset]])[tf.newaxis, :]
        minus_one = tf.constant(-1, tf.int64)
        outside = tf.where(col == sep_col, tf.constant(self.sep_id, tf.int64),
                           tf.where(col < doc_offset, prefix_row, tf.constant(0, tf.int64)))
        return {"input_ids": tf.cast(tf.where(in_doc, tf.gather(doc_ids, src), outside), tf.int32),
                "input_mask": tf.cast(col <= sep_col, tf.int32),
                "segment_ids": tf.cast((col >= doc_offset) & (col <= sep_col), tf.int32),
                "token_word": tf.where(in_doc, tf.gather(doc["piece_word"], src), minus_one),
                "candidate": tf.where(in_doc, tf.gather(doc["piece_candidate"], src), minus_one)}


# ----------------------------------------------------------------------------- answers in the graph


def first_best(scores, valid):
    """(found, flat index, score) of the first maximum of `scores` where `valid`, in
    row-major order: Python's max() and np.argmax keep the first of equal scores."""
    import tensorflow as tf

    flat = tf.reshape(tf.where(valid, scores, tf.constant(-np.inf, scores.dtype)), [-1])
    size = tf.size(flat)
    best = tf.reduce_max(flat)
    index = tf.reduce_min(tf.where(flat == best, tf.range(size), size))
    return tf.reduce_any(valid), tf.minimum(index, size - 1), best


def first_argmax(values):
    """np.argmax's choice (the first of equal maxima) of a 1-D tensor."""
    import tensorflow as tf

    return first_best(values, tf.ones_like(values, tf.bool))[1]


def answer_log_odds(answer_type_logits):
    """postprocess.answer_log_odds per window, float64: log P(an answer) - log P(UNKNOWN)."""
    import tensorflow as tf

    rest = answer_type_logits[:, 1:]
    top = tf.reduce_max(rest, axis=1)
    return top + tf.math.log(tf.reduce_sum(tf.exp(rest - top[:, tf.newaxis]), axis=1)) - answer_type_logits[:, 0]


def choose_answer(outputs, windows, word_paragraph, config):
    """postprocess.predict_example over one example's windows, in the graph: the short span
    (window, start and end position), its score, the long answer (paragraph) and its score,
    and the answer-type logits that decide the answer's form."""
    import tensorflow as tf

    start64 = tf.cast(outputs["start_logits"], tf.float64)
    end64 = tf.cast(outputs["end_logits"], tf.float64)
    type64 = tf.cast(outputs["answer_type_logits"], tf.float64)
    token_word = windows["token_word"]
    seq = int(outputs["start_logits"].shape[-1])
    bonus = answer_log_odds(type64) if config.null_score == "answer_type" else tf.zeros_like(type64[:, 0])

    # window_candidates: the n best starts and ends (position 0 left out, ties: lower index)
    k = min(config.n_best_size, seq - 1)
    starts = tf.math.top_k(outputs["start_logits"][:, 1:], k=k).indices + 1
    ends = tf.math.top_k(outputs["end_logits"][:, 1:], k=k).indices + 1
    paragraph_of = tf.concat([word_paragraph, [-1]], axis=0)  # index -1 reads the -1 at the end

    def paragraph(word):
        return tf.gather(paragraph_of, tf.where(word >= 0, word, tf.size(word_paragraph, out_type=tf.int64)))

    s_word = tf.gather(token_word, starts, batch_dims=1)  # [windows, k]
    e_word = tf.gather(token_word, ends, batch_dims=1)
    s_par, e_par = paragraph(s_word)[:, :, tf.newaxis], paragraph(e_word)[:, tf.newaxis, :]
    s, e = starts[:, :, tf.newaxis], ends[:, tf.newaxis, :]
    valid = ((s_word >= 0)[:, :, tf.newaxis] & (e_word >= 0)[:, tf.newaxis, :]
             & (e >= s) & (e - s + 1 <= config.max_answer_length))
    if config.short_inside_long:  # every paragraph is a top-level candidate
        valid &= s_par == e_par
    cls = start64[:, 0] + end64[:, 0]
    span_score = ((tf.gather(start64, starts, batch_dims=1)[:, :, tf.newaxis]
                   + tf.gather(end64, ends, batch_dims=1)[:, tf.newaxis, :]) - cls[:, tf.newaxis, tf.newaxis]
                  + bonus[:, tf.newaxis, tf.newaxis])

    if config.long_answer_from == "head":  # best_long_candidate, then the best span inside it
        candidate = windows["candidate"]
        long64 = tf.cast(outputs["long_logits"], tf.float64)
        long_score = long64 - long64[:, :1] + bonus[:, tf.newaxis]
        has_long, long_at, long_value = first_best(long_score, candidate >= 0)
        long_window = long_at // seq
        long_index = tf.where(has_long, tf.reshape(candidate, [-1])[long_at], -1)
        inside = valid & (s_par == long_index) & (e_par == long_index)
        has_short, span_at, short_value = first_best(span_score, inside)
        short_value = tf.where(has_short, short_value, long_value)
        type_window = tf.where(has_short, span_at // (k * k), long_window)
    else:  # bert_joint: the best span, and the paragraph holding it
        has_short, span_at, short_value = first_best(span_score, valid)
        long_value = short_value
        type_window = span_at // (k * k)
    window, rank = span_at // (k * k), span_at % (k * k)
    first, last = s_word[window, rank // k], e_word[window, rank % k]
    if config.long_answer_from != "head":  # none when the span crosses paragraphs
        long_index = tf.where(has_short & (paragraph(first) == paragraph(last)), paragraph(first), -1)
        has_long = long_index >= 0
    return {"has_short": has_short, "first_word": first, "last_word": last, "short_score": short_value,
            "has_long": has_long, "long_index": long_index, "long_score": long_value,
            "answer_type_logits": outputs["answer_type_logits"][type_window]}


def _collapsed(text):
    """documents.text_of for plain text: words joined by one space where the source has
    white space between them (Python's str.split white space, \x1c-\x1f included)."""
    import tensorflow as tf

    text = tf.strings.regex_replace(text, f"[{_WHITE_SPACE}\\x1c-\\x1f]+", " ")
    return tf.strings.regex_replace(text, "^ | $", "")


# ----------------------------------------------------------------------------- SavedModel

ANSWER_OUTPUTS = {"answer": "string", "start_char": "int64", "end_char": "int64", "start_byte": "int64",
                  "end_byte": "int64", "score": "float32", "long_answer": "string", "long_start_char": "int64",
                  "long_end_char": "int64", "long_start_byte": "int64", "long_end_byte": "int64",
                  "long_answer_score": "float32", "paragraph": "int64", "answer_type": "string"}


def _text_span(context, found, begin_byte, end_byte):
    """(text, start_char, end_char, start_byte, end_byte) of a byte span; "" and -1 without one."""
    import tensorflow as tf

    zero = tf.constant(0, tf.int64)
    begin_byte, end_byte = tf.where(found, begin_byte, zero), tf.where(found, end_byte, zero)
    raw = tf.strings.substr(context, begin_byte, end_byte - begin_byte)
    start_char = tf.strings.length(tf.strings.substr(context, zero, begin_byte), unit="UTF8_CHAR")
    end_char = start_char + tf.strings.length(raw, unit="UTF8_CHAR")
    none = tf.constant(-1, tf.int64)
    return (tf.where(found, _collapsed(raw), ""), tf.where(found, tf.cast(start_char, tf.int64), none),
            tf.where(found, tf.cast(end_char, tf.int64), none), tf.where(found, begin_byte, none),
            tf.where(found, end_byte, none))


def _saved_module(trained: TrainedModel, config):
    """The tf.Module written as the SavedModel (`config`: a postprocess.PostprocessConfig)."""
    import tensorflow as tf

    spec = trained.spec
    layout = TextLayout(spec.vocab_file, spec.do_lower_case, spec.features)
    model = trained.model
    logit_names = ["start_logits", "end_logits", "answer_type_logits"]
    if getattr(model, "long_answer_head", False):
        logit_names.append("long_logits")
    type_names = tf.constant(ANSWER_TYPE_NAMES)

    class NqExport(tf.Module):
        def __init__(self):
            super().__init__(name="nq_export")
            # The variables, not the Keras model: tf.saved_model.save would trace the model's
            # own default signature, which a subclassed model has none of.
            self.model_variables = list(model.variables)
            self.wordpiece = layout.wordpiece
            self.whole_words = layout.whole_words
            self.vocabulary = tf.saved_model.Asset(spec.vocab_file)

        def _logits(self, features):
            out = model({k: features[k] for k in ("input_ids", "input_mask", "segment_ids")}, training=False)
            return {k: out[k] for k in logit_names}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name=n)
                                      for n in ("input_ids", "input_mask", "segment_ids")])
        def serve(self, input_ids, input_mask, segment_ids):
            return self._logits({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})

        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="question"),
                                      tf.TensorSpec([], tf.string, name="context")])
        def encode(self, question, context):
            """The windows of one question over one context (for clients of serving_default)."""
            doc = layout.document(context)
            out = layout.windows(layout.question_ids(question), doc)
            out["word_begin"], out["word_end"] = doc["word_begin"], doc["word_end"]
            return out

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
        def word_pieces(self, words):
            """NqTokenizer.word_ids in the graph: flat ids and the number per word."""
            pieces = layout.word_pieces(words)
            return {"ids": pieces.flat_values, "row_lengths": pieces.row_lengths()}

        def _answer_one(self, pair):
            question, context = pair
            doc = layout.document(context)
            windows = layout.windows(layout.question_ids(question), doc)
            chosen = choose_answer(self._logits(windows), windows, doc["word_paragraph"], config)

            def at(values, index):  # values[index], 0 when index is -1 (then unused)
                return tf.concat([values, [0]], axis=0)[tf.maximum(index, 0)]

            short = _text_span(context, chosen["has_short"], at(doc["word_begin"], chosen["first_word"]),
                               at(doc["word_end"], chosen["last_word"]))
            index = chosen["long_index"]
            long = _text_span(context, chosen["has_long"], at(doc["paragraph_begin"], index),
                              at(doc["paragraph_end"], index))
            found = chosen["has_long"] | chosen["has_short"]
            null = tf.constant(NULL_SCORE, tf.float64)
            kind = tf.where(found, tf.gather(type_names, first_argmax(chosen["answer_type_logits"])),
                            ANSWER_TYPE_NAMES[0])
            return dict(zip(ANSWER_OUTPUTS, [
                *short, tf.cast(tf.where(found, chosen["short_score"], null), tf.float32),
                *long, tf.cast(tf.where(found, chosen["long_score"], null), tf.float32),
                index, kind]))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="question"),
                                      tf.TensorSpec([None], tf.string, name="context")])
        def answer(self, question, context):
            tf.debugging.assert_equal(tf.size(question), tf.size(context),
                                      message="answer_text: question and context need the same batch size")
            signature = {name: tf.TensorSpec([], getattr(tf, dtype)) for name, dtype in ANSWER_OUTPUTS.items()}
            return tf.map_fn(self._answer_one, (question, context), fn_output_signature=signature)

    return NqExport()


def answer_config(spec: ModelSpec, long_answer_from: str = "auto", **settings):
    """The PostprocessConfig answer_text follows: the Reader's default for this model
    (its long-answer head when it has one), with `settings` (n_best_size,
    max_answer_length, null_score, short_inside_long) changed."""
    from nq_baseline.prediction.postprocess import PostprocessConfig

    if long_answer_from == "head" and not spec.long_answer_head:
        raise ExportError("--long_answer_from=head needs a model trained with --long_answer_head")
    if long_answer_from == "auto":
        long_answer_from = "head" if spec.long_answer_head else "span"
    try:
        config = PostprocessConfig(long_answer_from=long_answer_from, **settings)
    except (TypeError, ValueError) as err:
        raise ExportError(str(err)) from None
    if config.answer_type_scope != "window":
        raise ExportError("answer_text decides the answer's form from the winning window "
                          "(answer_type_scope=window) only")
    if config.lexical_weight:
        raise ExportError("answer_text has no lexical weight (BM25 is computed outside the graph): "
                          "export with lexical_weight 0")
    return config


def export_saved_model(trained: TrainedModel, export_dir: str, overwrite: bool = False, config=None) -> str:
    """Writes the SavedModel (signatures serving_default and answer_text) to `export_dir`;
    `config` (postprocess.PostprocessConfig) defaults to `answer_config(trained.spec)`."""
    import tensorflow as tf

    config = config or answer_config(trained.spec)
    check_destination(export_dir, overwrite)
    module = _saved_module(trained, config)
    info = export_info(trained, SAVED_MODEL, signatures=[SERVING_SIGNATURE, ANSWER_SIGNATURE],
                       postprocess=dataclasses.asdict(config))

    def build(folder):
        tf.saved_model.save(module, folder, signatures={SERVING_SIGNATURE: module.serve,
                                                        ANSWER_SIGNATURE: module.answer})
        fileio.write_json_atomic(os.path.join(folder, EXPORT_INFO_FILE), info)

    return publish(export_dir, overwrite, build)


# ----------------------------------------------------------------------------- Hugging Face

_GOOGLE_LEAF_TO_HF = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
_HF_HEAD_MODULES = ("qa_outputs",)  # BertForQuestionAnswering's own head, outside `bert.`


def _hf_candidates(google_name: str) -> list[str]:
    """HF names that may denote `google_name`; `hf_to_google_name` decides which one does."""
    parts = google_name.split("/")
    if parts[0] == "bert":
        parts = parts[1:]
    parts = [re.sub(r"^layer_(\d+)$", r"layer.\1", p) for p in parts]
    if parts[-1] in _GOOGLE_LEAF_TO_HF:
        parts[-1] = _GOOGLE_LEAF_TO_HF[parts[-1]]
    else:
        parts.append("weight")
    names = ["bert." + ".".join(parts)]
    names += [f"{m}.{leaf}" for m in _HF_HEAD_MODULES for leaf in ("weight", "bias")]
    return names


def hf_name(google_name: str) -> tuple[str, bool]:
    """Google name -> (HF BertForQuestionAnswering name, transpose?), the inverse of
    `checkpoints.hf_to_google_name` (ExportError when it has none)."""
    from nq_baseline.model.checkpoints import hf_to_google_name

    for candidate in _hf_candidates(google_name):
        mapped = hf_to_google_name(candidate)
        if mapped is not None and mapped[0] == google_name:
            return candidate, mapped[1]
    raise ExportError(f"no Hugging Face name maps to {google_name}")


def _split(value: np.ndarray, names, combine) -> list[np.ndarray]:
    """The source tensors a slot's `combine` joined (the inverse of _single / _concat_last)."""
    from nq_baseline.model import checkpoints

    if combine is checkpoints._single:
        return [value]
    if combine is checkpoints._concat_last:
        return np.split(value, len(names), axis=-1)
    raise ExportError(f"cannot split the model variable of {names}: unknown combination")


def hf_tensors(model) -> tuple[dict, dict]:
    """(BertForQuestionAnswering state dict, answer-type head dict) as numpy float32 arrays,
    derived from the loader's slot tables (checkpoints._encoder_slots / _head_slots)."""
    from nq_baseline.model import checkpoints

    qa, head = {}, {}
    slots = checkpoints._encoder_slots(model.encoder) + checkpoints._head_slots(model)
    for variable, names, combine in slots:
        for google, value in zip(names, _split(np.asarray(variable.numpy(), np.float32), names, combine)):
            if google.startswith("answer_type_output"):
                head[google] = np.ascontiguousarray(value)
                continue
            name, transpose = hf_name(google)
            value = np.ascontiguousarray(value.T if transpose else value)
            (head if name.startswith("bert.pooler.") else qa)[name] = value
    if getattr(model.head, "long_answer_head", False):  # no loader name: the variables' own
        head["long_output_weights"] = np.asarray(model.head.long_output_weights.numpy(), np.float32)
        head["long_output_bias"] = np.asarray(model.head.long_output_bias.numpy(), np.float32)
    return qa, head


_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "swish": "silu", "silu": "silu", "tanh": "tanh"}


def hf_config(config, max_seq_length: int) -> dict:
    """transformers' BertConfig of a BertForQuestionAnswering with our encoder's shape."""
    act = (config.hidden_act or "").lower()
    hidden_act = _HF_ACTIVATIONS.get(act, "gelu_new" if act.startswith("gelu") else None)
    if hidden_act is None:
        raise ExportError(f"hidden_act {config.hidden_act!r} has no transformers equivalent")
    return {"architectures": ["BertForQuestionAnswering"], "model_type": "bert",
            "vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
            "num_hidden_layers": config.num_hidden_layers, "num_attention_heads": config.num_attention_heads,
            "intermediate_size": config.intermediate_size, "hidden_act": hidden_act,
            "hidden_dropout_prob": config.hidden_dropout_prob,
            "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
            "max_position_embeddings": config.max_position_embeddings,
            "type_vocab_size": config.type_vocab_size, "initializer_range": config.initializer_range,
            "layer_norm_eps": config.layer_norm_eps, "pad_token_id": 0,
            "position_embedding_type": "absolute", "num_labels": 2, "max_seq_length": max_seq_length,
            "torch_dtype": "float32"}


def _hf_tokenizer(vocab_file: str, do_lower_case: bool):
    """tokenizers' BERT pipeline (NqTokenizer's normalizer, pre-tokenizer and WordPiece) with
    the [CLS] A [SEP] B [SEP] template a question-answering pipeline needs."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = load_vocab(vocab_file)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_CHARS_PER_WORD))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=do_lower_case)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok, vocab


HF_README = """# Natural Questions model, Hugging Face layout

Exported by `export_nq --format=hf` from `{model_dir}` (training step {step}).

- `config.json`, `model.safetensors`: a `transformers.BertForQuestionAnswering`; its
  `qa_outputs` is bert_joint's start/end projection (row 0 start, row 1 end).
- `vocab.txt`, `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`: the
  WordPiece tokenizer the model was trained with (lower case: {do_lower_case}).
- `{head_file}`: the answer-type head, which `BertForQuestionAnswering` has no place for:
  `bert.pooler.dense.weight` `[hidden, hidden]`, `bert.pooler.dense.bias` (torch layout),
  `answer_type_output_weights` `[5, hidden]`, `answer_type_output_bias` `[5]`:

      pooled = tanh(last_hidden_state[:, 0] @ pooler.weight.T + pooler.bias)
      answer_type_logits = pooled @ answer_type_output_weights.T + answer_type_output_bias

  classes UNKNOWN, YES, NO, SHORT, LONG.{long_head}
- `nq_export.json`: the feature settings of training.

The model was trained on bert_joint's layout: the question is `[Q]` + its pieces, the
context `[ContextId=-1] [NoLongAnswer] [ContextId=0] [Paragraph=1] ...`
(max_seq_length {max_seq_length}, doc_stride {doc_stride}, max_query_length
{max_query_length}). `pipeline("question-answering")` feeds the plain question and
context without those markers, so its answers can differ from the Reader's.
"""


def export_hf(trained: TrainedModel, export_dir: str, overwrite: bool = False) -> str:
    """Writes the Hugging Face folder (BertForQuestionAnswering + tokenizer + answer-type head)."""
    from safetensors.numpy import save_file

    check_destination(export_dir, overwrite)
    spec = trained.spec
    qa, head = hf_tensors(trained.model)
    config = hf_config(trained.config, spec.features.max_seq_length)
    tokenizer, vocab = _hf_tokenizer(spec.vocab_file, spec.do_lower_case)
    features = spec.features
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer", "do_lower_case": spec.do_lower_case,
        "model_max_length": features.max_seq_length, "unk_token": "[UNK]", "sep_token": "[SEP]",
        "pad_token": "[PAD]" if "[PAD]" in vocab else "[UNK]", "cls_token": "[CLS]",
        "mask_token": "[MASK]" if "[MASK]" in vocab else "[UNK]", "tokenize_chinese_chars": True,
        "strip_accents": None, "clean_up_tokenization_spaces": False}
    special = {k: tokenizer_config[k] for k in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")}
    long_head = ("\n- In the same file, the long-answer head: `long_output_weights` `[1, hidden]`, "
                 "`long_output_bias` `[1]`,\n  a score per position (`last_hidden_state @ long_output_weights.T "
                 "+ long_output_bias`)\n  read at each paragraph's `[ContextId=i]` marker, minus the score of "
                 "`[CLS]`." if "long_output_weights" in head else "")
    readme = HF_README.format(model_dir=spec.model_dir, step=trained.step, do_lower_case=spec.do_lower_case,
                              long_head=long_head,
                              head_file=HEAD_FILE, max_seq_length=features.max_seq_length,
                              doc_stride=features.doc_stride, max_query_length=features.max_query_length)
    info = export_info(trained, HF, head_file=HEAD_FILE)

    def build(folder):
        fileio.write_json_atomic(os.path.join(folder, "config.json"), config)
        save_file(qa, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        save_file(head, os.path.join(folder, HEAD_FILE), metadata={"format": "pt"})
        tokenizer.save(os.path.join(folder, "tokenizer.json"))
        with open(spec.vocab_file, "rb") as src, open(os.path.join(folder, "vocab.txt"), "wb") as dst:
            dst.write(src.read())
        fileio.write_json_atomic(os.path.join(folder, "tokenizer_config.json"), tokenizer_config)
        fileio.write_json_atomic(os.path.join(folder, "special_tokens_map.json"), special)
        fileio.write_json_atomic(os.path.join(folder, EXPORT_INFO_FILE), info)
        fileio.atomic_write(os.path.join(folder, "README.md"), readme)

    return publish(export_dir, overwrite, build)


def export(model_dir: str, export_dir: str, fmt: str = SAVED_MODEL, overwrite: bool = False,
           **answer_settings) -> str:
    """Loads `model_dir` and writes it to `export_dir` in format `fmt` (saved_model or hf).
    `answer_settings` (SavedModel only): `answer_config`'s long_answer_from, n_best_size,
    max_answer_length, null_score, short_inside_long."""
    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    check_destination(export_dir, overwrite)
    if not os.path.isdir(model_dir):
        raise NqInputError(model_dir, None, "no such model folder")
    config = answer_config(ModelSpec.load(model_dir), **answer_settings) if fmt == SAVED_MODEL else None
    trained = load_trained_model(model_dir)
    if fmt == HF:
        return export_hf(trained, export_dir, overwrite)
    return export_saved_model(trained, export_dir, overwrite, config)
