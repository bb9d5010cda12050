"""A trained model folder as a TensorFlow SavedModel or as a Hugging Face folder.

SavedModel (`export_saved_model`), two signatures:
- `serving_default`: int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]` ->
  float32 `start_logits`, `end_logits` `[batch, seq]`, `answer_type_logits` `[batch, 5]`
  (the TF Serving / Model Garden convention; the client builds the windows).
- `answer_text`: string `question` and `context`, both `[batch]` (one question per context;
  send `[1]` for one) -> per example the best span: `answer` (its text), `start_char` /
  `end_char` (code points into the context, end exclusive; -1 without an answer),
  `start_byte` / `end_byte` (the same in UTF-8 bytes), `score`, `answer_type` (UNKNOWN, YES,
  NO, SHORT, LONG) and `paragraph` (0-based index of the non-empty paragraph, the long
  answer). Everything happens in the graph (tensorflow-text): a SavedModel alone answers
  questions, from TF Serving or any language that can load it.
Two more functions of the saved object (not signatures; `tf.saved_model.load(D).encode(q, c)`):
`encode(question, context)` -> the windows for `serving_default` (with `token_word`, the
word of each position, and the words' byte offsets), `word_pieces(words)` -> ids and
`row_lengths` (NqTokenizer.word_ids in the graph).

`answer_text` follows the Reader's plain-text path exactly (the reference is
`features.build_example` / `features.make_features` / `postprocess.predict_example`):
- paragraphs: the context split on blank lines (a line of only white space), empty ones
  dropped; paragraph i is long-answer candidate i;
- words: `tokenizers`' BertPreTokenizer (split on white space, each punctuation character
  its own word); the document is `[ContextId=-1] [NoLongAnswer]`, then for the first
  `max_contexts - 1` paragraphs `[ContextId=i] [Paragraph=min(i+1, max_position)]` and the
  paragraph's words, word-pieced; the question is `[Q]` + its pieces, the last
  `max_query_length` kept;
- windows `[CLS] question [SEP] chunk [SEP]` every `doc_stride` pieces;
- per window the `n_best_size` best starts and ends (position 0 excluded, ties: lower
  index first), pairs start <= end on document words, at most `max_answer_length`
  pieces, score start + end - (start[0] + end[0]) in float64; the first best over windows,
  start rank, end rank; the span extends to whole words; answer type = argmax of the
  winning window's answer-type logits.

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
import json
import os
import re
from typing import Callable, Optional

import numpy as np

from nq_baseline import fileio
from nq_baseline.errors import NqInputError
from nq_baseline.features import ANSWER_TYPE_NAMES, FeatureConfig
from nq_baseline.model_dir import ModelSpec
from nq_baseline.postprocess import NULL_SCORE
from nq_baseline.tokenization import load_vocab

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

    from nq_baseline import modeling, training

    if not os.path.isdir(model_dir):
        raise NqInputError(model_dir, None, "no such model folder")
    spec = ModelSpec.load(model_dir)
    try:
        config = spec.bert_config()
        model = modeling.build_nq_model(config, spec.features.max_seq_length)
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
    fileio.remove_stale_temporaries(os.path.dirname(final), base)
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

        pieces = self.word_pieces(words.flat_values)  # [words, pieces]
        by_paragraph = tf.RaggedTensor.from_row_splits(pieces, words.row_splits).merge_dims(1, 2)
        piece_word = tf.RaggedTensor.from_row_splits(
            pieces.with_flat_values(pieces.value_rowids()), words.row_splits).merge_dims(1, 2)
        markers = tf.RaggedTensor.from_tensor(
            tf.constant(self.paragraph_markers or np.zeros([0, 2]), tf.int64)[:count])
        no_word = tf.RaggedTensor.from_tensor(tf.fill([count, 2], tf.constant(-1, tf.int64)))
        ids = tf.concat([tf.constant(self.head_ids, tf.int64),
                         tf.concat([markers, by_paragraph], axis=1).flat_values], axis=0)
        piece_words = tf.concat([tf.constant([-1, -1], tf.int64),
                                 tf.concat([no_word, piece_word], axis=1).flat_values], axis=0)
        return {"ids": ids, "piece_word": piece_words, "word_begin": begin, "word_end": end,
                "word_paragraph": words.value_rowids()}

    def windows(self, query, doc_ids, piece_word):
        """features.make_features over in-graph ids: [windows, seq] input_ids, input_mask,
        segment_ids and the word of every position (-1 outside document words)."""
        import tensorflow as tf

        seq = self.features.max_seq_length
        n = tf.size(doc_ids, out_type=tf.int64)
        prefix = tf.concat([tf.constant([self.cls_id], tf.int64), query,
                            tf.constant([self.sep_id], tf.int64)], axis=0)
        doc_offset = tf.size(prefix, out_type=tf.int64)
        max_doc = seq - doc_offset - 1
        step = tf.minimum(max_doc, self.features.doc_stride)
        extra = tf.maximum(n - max_doc, 0)
        count = 1 + (extra + step - 1) // step
        starts = tf.range(count, dtype=tf.int64) * step
        lengths = tf.minimum(n - starts, max_doc)
        col = tf.range(seq, dtype=tf.int64)[tf.newaxis, :]
        rel = col - doc_offset
        in_doc = (rel >= 0) & (rel < lengths[:, tf.newaxis])
        src = tf.clip_by_value(starts[:, tf.newaxis] + rel, 0, tf.maximum(n - 1, 0))
        sep_col = (doc_offset + lengths)[:, tf.newaxis]
        prefix_row = tf.pad(prefix, [[0, seq - doc_offset]])[tf.newaxis, :]
        outside = tf.where(col == sep_col, tf.constant(self.sep_id, tf.int64),
                           tf.where(col < doc_offset, prefix_row, tf.constant(0, tf.int64)))
        input_ids = tf.where(in_doc, tf.gather(doc_ids, src), outside)
        input_mask = tf.cast(col <= sep_col, tf.int32)
        segment_ids = tf.cast((col >= doc_offset) & (col <= sep_col), tf.int32)
        token_word = tf.where(in_doc, tf.gather(piece_word, src), tf.constant(-1, tf.int64))
        return {"input_ids": tf.cast(input_ids, tf.int32), "input_mask": input_mask,
                "segment_ids": segment_ids, "token_word": token_word}


def best_span(start_logits, end_logits, token_word, n_best_size: int, max_answer_length: int):
    """postprocess.window_candidates + predict_example's choice, over [windows, seq] logits:
    (found, score float64, window, start position, end position)."""
    import tensorflow as tf

    seq = start_logits.shape[-1] or tf.shape(start_logits)[-1]
    k = min(n_best_size, seq - 1) if isinstance(seq, int) else tf.minimum(n_best_size, seq - 1)
    starts = tf.math.top_k(start_logits[:, 1:], k=k).indices + 1  # ties: lower index first
    ends = tf.math.top_k(end_logits[:, 1:], k=k).indices + 1
    start64 = tf.cast(start_logits, tf.float64)
    end64 = tf.cast(end_logits, tf.float64)
    on_word = token_word >= 0
    s, e = starts[:, :, tf.newaxis], ends[:, tf.newaxis, :]
    ok = (tf.gather(on_word, starts, batch_dims=1)[:, :, tf.newaxis]
          & tf.gather(on_word, ends, batch_dims=1)[:, tf.newaxis, :]
          & (e >= s) & (e - s + 1 <= max_answer_length))
    cls = start64[:, 0] + end64[:, 0]
    score = (tf.gather(start64, starts, batch_dims=1)[:, :, tf.newaxis]
             + tf.gather(end64, ends, batch_dims=1)[:, tf.newaxis, :]) - cls[:, tf.newaxis, tf.newaxis]
    flat = tf.reshape(tf.where(ok, score, tf.constant(-np.inf, tf.float64)), [-1])
    found = tf.reduce_any(ok)
    best = tf.reduce_max(flat)
    positions = tf.range(tf.size(flat))
    index = tf.reduce_min(tf.where(flat == best, positions, tf.size(flat)))  # the first best
    index = tf.minimum(index, tf.size(flat) - 1)
    k = tf.shape(starts)[1]
    window, rank = index // (k * k), index % (k * k)
    return found, best, window, starts[window, rank // k], ends[window, rank % k]


def first_argmax(values):
    """np.argmax's choice (the first of equal maxima) of a 1-D tensor."""
    import tensorflow as tf

    positions = tf.range(tf.size(values))
    return tf.reduce_min(tf.where(values == tf.reduce_max(values), positions, tf.size(values)))


# ----------------------------------------------------------------------------- SavedModel


def _saved_module(trained: TrainedModel, n_best_size: int, max_answer_length: int):
    import tensorflow as tf

    spec = trained.spec
    layout = TextLayout(spec.vocab_file, spec.do_lower_case, spec.features)
    model = trained.model
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
            out = model({k: features[k] for k in ("input_ids", "input_mask", "segment_ids")},
                             training=False)
            return {k: out[k] for k in ("start_logits", "end_logits", "answer_type_logits")}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name=n)
                                      for n in ("input_ids", "input_mask", "segment_ids")])
        def serve(self, input_ids, input_mask, segment_ids):
            return self._logits({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})

        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="question"),
                                      tf.TensorSpec([], tf.string, name="context")])
        def encode(self, question, context):
            """The windows of one question over one context (for clients of serving_default)."""
            doc = layout.document(context)
            out = layout.windows(layout.question_ids(question), doc["ids"], doc["piece_word"])
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
            windows = layout.windows(layout.question_ids(question), doc["ids"], doc["piece_word"])
            logits = self._logits(windows)
            found, score, window, start, end = best_span(
                logits["start_logits"], logits["end_logits"], windows["token_word"], n_best_size,
                max_answer_length)
            first_word = tf.maximum(windows["token_word"][window, start], 0)
            last_word = tf.maximum(windows["token_word"][window, end], 0)
            begins = tf.concat([doc["word_begin"], [0]], 0)  # never empty
            ends = tf.concat([doc["word_end"], [0]], 0)
            paragraphs = tf.concat([doc["word_paragraph"], [0]], 0)
            start_byte = tf.where(found, begins[first_word], -1)
            end_byte = tf.where(found, ends[last_word], -1)
            answer = tf.where(found, tf.strings.substr(context, tf.maximum(start_byte, 0),
                                                       tf.maximum(end_byte - start_byte, 0)), "")
            start_char = tf.where(found, tf.strings.length(
                tf.strings.substr(context, tf.constant(0, tf.int64), tf.maximum(start_byte, 0)), unit="UTF8_CHAR"), -1)
            end_char = tf.where(found, start_char + tf.strings.length(answer, unit="UTF8_CHAR"), -1)
            kind = first_argmax(logits["answer_type_logits"][window])
            return {"answer": answer, "start_char": tf.cast(start_char, tf.int64),
                    "end_char": tf.cast(end_char, tf.int64), "start_byte": start_byte, "end_byte": end_byte,
                    "score": tf.cast(tf.where(found, score, NULL_SCORE), tf.float32),
                    "answer_type": tf.where(found, tf.gather(type_names, kind), ANSWER_TYPE_NAMES[0]),
                    "paragraph": tf.where(found, paragraphs[first_word], -1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="question"),
                                      tf.TensorSpec([None], tf.string, name="context")])
        def answer(self, question, context):
            tf.debugging.assert_equal(tf.size(question), tf.size(context),
                                      message="answer_text: question and context need the same batch size")
            signature = {"answer": tf.TensorSpec([], tf.string), "start_char": tf.TensorSpec([], tf.int64),
                         "end_char": tf.TensorSpec([], tf.int64), "start_byte": tf.TensorSpec([], tf.int64),
                         "end_byte": tf.TensorSpec([], tf.int64), "score": tf.TensorSpec([], tf.float32),
                         "answer_type": tf.TensorSpec([], tf.string), "paragraph": tf.TensorSpec([], tf.int64)}
            return tf.map_fn(self._answer_one, (question, context), fn_output_signature=signature)

    return NqExport()


def export_saved_model(trained: TrainedModel, export_dir: str, overwrite: bool = False,
                       n_best_size: int = 20, max_answer_length: int = 30) -> str:
    """Writes the SavedModel (signatures serving_default and answer_text) to `export_dir`."""
    import tensorflow as tf

    for name, value in (("n_best_size", n_best_size), ("max_answer_length", max_answer_length)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ExportError(f"--{name} must be a positive integer, got {value!r}")
    check_destination(export_dir, overwrite)
    module = _saved_module(trained, n_best_size, max_answer_length)
    info = export_info(trained, SAVED_MODEL, n_best_size=n_best_size, max_answer_length=max_answer_length,
                       signatures=[SERVING_SIGNATURE, ANSWER_SIGNATURE])

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
    from nq_baseline.checkpoints import hf_to_google_name

    for candidate in _hf_candidates(google_name):
        mapped = hf_to_google_name(candidate)
        if mapped is not None and mapped[0] == google_name:
            return candidate, mapped[1]
    raise ExportError(f"no Hugging Face name maps to {google_name}")


def _split(value: np.ndarray, names, combine) -> list[np.ndarray]:
    """The source tensors a slot's `combine` joined (the inverse of _single / _concat_last)."""
    from nq_baseline import checkpoints

    if combine is checkpoints._single:
        return [value]
    if combine is checkpoints._concat_last:
        return np.split(value, len(names), axis=-1)
    raise ExportError(f"cannot split the model variable of {names}: unknown combination")


def hf_tensors(model) -> tuple[dict, dict]:
    """(BertForQuestionAnswering state dict, answer-type head dict) as numpy float32 arrays,
    derived from the loader's slot tables (checkpoints._encoder_slots / _head_slots)."""
    from nq_baseline import checkpoints

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

  classes UNKNOWN, YES, NO, SHORT, LONG.
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
    readme = HF_README.format(model_dir=spec.model_dir, step=trained.step, do_lower_case=spec.do_lower_case,
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
           n_best_size: int = 20, max_answer_length: int = 30) -> str:
    """Loads `model_dir` and writes it to `export_dir` in format `fmt` (saved_model or hf)."""
    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    check_destination(export_dir, overwrite)
    trained = load_trained_model(model_dir)
    if fmt == HF:
        return export_hf(trained, export_dir, overwrite)
    return export_saved_model(trained, export_dir, overwrite, n_best_size, max_answer_length)
