"""A trained model folder as a TensorFlow SavedModel that answers questions by itself.

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
words' byte offsets), `word_pieces(words)` -> ids and `row_lengths` (NqTokenizer.word_pieces).

`answer_text` follows the Reader's plain-text path (`plain_text.document_from_text`,
`features.build_example` / `window_arrays`, `postprocess.predict_example`; the
post-processing settings are fixed at export, by default the Reader's for this model):
- paragraphs: runs of lines that are not blank (a line of only white space is blank);
  paragraph i is long-answer candidate i;
- words: `tokenizers`' BertPreTokenizer (split on white space, each punctuation character
  its own word); the document is `[ContextId=-1] [NoLongAnswer]`, then for every paragraph
  (or the first `--max_paragraphs`) `[ContextId=i] [Paragraph=min(i+1, max_position)]` and
  the paragraph's words, word-pieced (a marker the vocabulary lacks is `[UNK]`, as in the
  Reader); the question is `[Q]` + its pieces, the last
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
"""

from __future__ import annotations

import dataclasses
import os

from nq_baseline.common import fileio
from nq_baseline.export.answer_graph import choose_answer, first_argmax
from nq_baseline.export.publish import EXPORT_INFO_FILE, SAVED_MODEL, ExportError, TrainedModel, check_destination, export_info, publish
from nq_baseline.export.text_graph import TextLayout, text_span
from nq_baseline.features.windows import ANSWER_TYPE_NAMES
from nq_baseline.model.folder import ModelSpec
from nq_baseline.prediction.postprocess import NULL_SCORE

SERVING_SIGNATURE = "serving_default"
ANSWER_SIGNATURE = "answer_text"

ANSWER_OUTPUTS = {"answer": "string", "start_char": "int64", "end_char": "int64", "start_byte": "int64",
                  "end_byte": "int64", "score": "float32", "long_answer": "string", "long_start_char": "int64",
                  "long_end_char": "int64", "long_start_byte": "int64", "long_end_byte": "int64",
                  "long_answer_score": "float32", "paragraph": "int64", "answer_type": "string"}


def _saved_module(trained: TrainedModel, config, max_contexts: int = 0):
    """The tf.Module written as the SavedModel (`config`: a postprocess.PostprocessConfig)."""
    import tensorflow as tf

    spec = trained.spec
    # like a Reader, answer_text reads every paragraph unless told (max_contexts 0)
    layout = TextLayout(spec.vocab_file, spec.do_lower_case, dataclasses.replace(spec.features,
                                                                                 max_contexts=max_contexts))
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
            """NqTokenizer.word_pieces in the graph: flat ids and the number per word."""
            pieces = layout.word_pieces(words)
            return {"ids": pieces.flat_values, "row_lengths": pieces.row_lengths()}

        def _answer_one(self, pair):
            question, context = pair
            doc = layout.document(context)
            windows = layout.windows(layout.question_ids(question), doc)
            chosen = choose_answer(self._logits(windows), windows, doc["word_paragraph"], config)

            def at(values, index):  # values[index], 0 when index is -1 (then unused)
                return tf.concat([values, [0]], axis=0)[tf.maximum(index, 0)]

            short = text_span(context, chosen["has_short"], at(doc["word_begin"], chosen["first_word"]),
                               at(doc["word_end"], chosen["last_word"]))
            index = chosen["long_index"]
            long = text_span(context, chosen["has_long"], at(doc["paragraph_begin"], index),
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


def answer_config(spec: ModelSpec, postprocess=None):
    """The PostprocessConfig answer_text follows: `postprocess` (default: the Reader's default)
    decided for this model (`PostprocessConfig.for_model`), refused where the graph cannot
    follow it (ExportError)."""
    from nq_baseline.prediction.postprocess import PostprocessConfig

    try:
        config = (postprocess or PostprocessConfig(long_answer_from="auto")).for_model(spec.long_answer_head)
    except ValueError as err:
        raise ExportError(str(err)) from None
    if config.answer_type_scope != "window":
        raise ExportError("answer_text decides the answer's form from the winning window "
                          "(answer_type_scope=window) only")
    if config.lexical_weight:
        raise ExportError("answer_text has no lexical weight (BM25 is computed outside the graph): "
                          "export with lexical_weight 0")
    return config


def export_saved_model(trained: TrainedModel, export_dir: str, overwrite: bool = False, config=None,
                       max_contexts: int = 0) -> str:
    """Writes the SavedModel (signatures serving_default and answer_text) to `export_dir`;
    `config` (postprocess.PostprocessConfig) defaults to `answer_config(trained.spec)`;
    `max_contexts` caps the contexts answer_text reads, [NoLongAnswer] included (0: every
    paragraph, as a Reader reads)."""
    import tensorflow as tf

    config = config or answer_config(trained.spec)
    check_destination(export_dir, overwrite, trained.spec.model_dir)
    module = _saved_module(trained, config, max_contexts)
    info = export_info(trained, SAVED_MODEL, signatures=[SERVING_SIGNATURE, ANSWER_SIGNATURE],
                       postprocess=dataclasses.asdict(config), answer_text_max_contexts=max_contexts)

    def build(folder):
        tf.saved_model.save(module, folder, signatures={SERVING_SIGNATURE: module.serve,
                                                        ANSWER_SIGNATURE: module.answer})
        fileio.write_json_atomic(os.path.join(folder, EXPORT_INFO_FILE), info)

    return publish(export_dir, overwrite, build, trained.spec.model_dir)
