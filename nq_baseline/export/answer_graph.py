"""`postprocess.predict_example` over one example's windows, in TensorFlow ops: the answer the
SavedModel's `answer_text` gives is chosen inside the graph, by the same rules (see
`choose_answer`)."""

from __future__ import annotations

import numpy as np

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
