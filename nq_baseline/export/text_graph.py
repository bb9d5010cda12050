"""The Reader's plain-text path in TensorFlow ops (tensorflow-text), for the SavedModel's
`answer_text`: paragraphs and words (`plain_text.document_from_text`), word pieces
(`tokenization.NqTokenizer`), the flattened document and its windows (`features.windows`).

The word pieces restate, in RE2 and tensorflow-text ops, what `tokenization.NqTokenizer`
(BertNormalizer + BertPreTokenizer + WordPiece of `tokenizers`) does to one word: remove
control characters, space out CJK ideographs, (uncased) NFD + drop non-spacing marks +
lower-case character by character, split on white space and punctuation, WordPiece with
`[UNK]` for a word of more than 100 characters. Known differences: see tests/test_export.py.
"""

from __future__ import annotations

import numpy as np

from nq_baseline.features.tokenization import load_vocab
from nq_baseline.features.windows import FeatureConfig

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

        # max_contexts 0 reads every paragraph (`paragraph_limit` None): past the vocabulary's
        # markers (and max_position) the markers of paragraph i no longer change, so the table
        # ends there, whatever the limit, and its last row serves every later paragraph
        self.paragraph_limit = features.max_contexts - 1 if features.max_contexts else None
        rows = 2 + max(features.max_position, max((int(t[11:-1]) for t in vocab if t.startswith("[ContextId=")
                                                   and t[11:-1].lstrip("-").isdigit()), default=0))
        if self.paragraph_limit is not None:
            rows = min(rows, self.paragraph_limit)
        self.head_ids = [marker("[ContextId=-1]"), marker("[NoLongAnswer]")]
        self.question_id = marker("[Q]")
        self.paragraph_markers = [[marker(f"[ContextId={i}]"),
                                   marker(f"[Paragraph={min(i + 1, features.max_position)}]")]
                                  for i in range(rows)]

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
        limit = self.paragraph_limit
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
            tf.gather(tf.constant(self.paragraph_markers or np.zeros([1, 2]), tf.int64),
                      tf.minimum(tf.range(count), max(len(self.paragraph_markers), 1) - 1)))
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


def _collapsed(text):
    """source_text.text_of for plain text: words joined by one space where the source has
    white space between them (Python's str.split white space, \x1c-\x1f included)."""
    import tensorflow as tf

    text = tf.strings.regex_replace(text, f"[{_WHITE_SPACE}\\x1c-\\x1f]+", " ")
    return tf.strings.regex_replace(text, "^ | $", "")


def text_span(context, found, begin_byte, end_byte):
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
