"""bert_joint's model built by Google's own `bert.modeling` (PyPI bert-tensorflow 1.0.4) in TF1
graph mode: it gets seeded random values, `tf.compat.v1.train.Saver` writes them as a
checkpoint, and the graph's logits on given windows are saved. A program, run by
tests/test_google_tf1.py in a subprocess of its own (TF1 graph mode and the eager TF2 of the
rest of the tests do not mix in one process):

    python tests/tf1_bert_joint.py --bert_config=bert_config.json --windows=windows.npz \
        --checkpoint=out/bert_joint.ckpt --logits=logits.npz

Only what TensorFlow 2 removed is replaced, everything else is Google's code running on
`tf.compat.v1`:
- `tf.contrib` is gone: `bert.modeling` imports `tensorflow.contrib.layers` for one function,
  `layer_norm`. A stand-in module provides it: contrib's computation (mean and variance over
  the last axis, epsilon 1e-12) under contrib's variable names (a scope `LayerNorm` by default,
  variables `beta` then `gamma`), so the checkpoint has Google's names
  (`bert/embeddings/LayerNorm/gamma`, ...).
- `tf.compat.v1.layers.dense`, used for every dense layer, is a Keras 2 layer that Keras 3
  no longer has: `TF_USE_LEGACY_KERAS=1` makes TensorFlow take it from `tf_keras`, the Keras 2
  package (set before TensorFlow is imported).

The NQ head is written here after bert_joint's `create_model` (run_nq.py of
google-research/language): start and end logits from the sequence output through
`cls/nq/output_weights` [2, hidden] and `cls/nq/output_bias` [2]; answer-type logits from the
pooled output through `answer_type_output_weights` [5, hidden] and `answer_type_output_bias` [5].
"""

import argparse
import os
import sys
import types

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

v1 = tf.compat.v1
NUM_ANSWER_TYPES = 5
INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")


def contrib_layer_norm(inputs, center=True, scale=True, begin_norm_axis=1, begin_params_axis=-1, scope=None,
                       reuse=None, trainable=True, **unsupported):
    """`tf.contrib.layers.layer_norm` as `bert.modeling` calls it (over the last axis)."""
    if unsupported or not (center and scale) or begin_norm_axis != -1 or begin_params_axis != -1:
        raise NotImplementedError("only the layer normalisation bert.modeling asks for is provided")
    with v1.variable_scope(scope, default_name="LayerNorm", reuse=reuse):
        params_shape = inputs.shape[-1:]
        beta = v1.get_variable("beta", params_shape, initializer=v1.zeros_initializer(), trainable=trainable)
        gamma = v1.get_variable("gamma", params_shape, initializer=v1.ones_initializer(), trainable=trainable)
        mean, variance = tf.nn.moments(inputs, [-1], keepdims=True)
        return tf.nn.batch_normalization(inputs, mean, variance, offset=beta, scale=gamma, variance_epsilon=1e-12)


def install_contrib_shim() -> None:
    contrib = types.ModuleType("tensorflow.contrib")
    contrib.layers = types.ModuleType("tensorflow.contrib.layers")
    contrib.layers.layer_norm = contrib_layer_norm
    sys.modules["tensorflow.contrib"] = contrib
    sys.modules["tensorflow.contrib.layers"] = contrib.layers


def nq_head(sequence_output, pooled_output, hidden_size: int):
    """bert_joint's head: (start_logits [b, seq], end_logits [b, seq], answer_type_logits [b, 5])."""
    span_weights = v1.get_variable("cls/nq/output_weights", [2, hidden_size],
                                   initializer=v1.truncated_normal_initializer(stddev=0.02))
    span_bias = v1.get_variable("cls/nq/output_bias", [2], initializer=v1.zeros_initializer())
    batch, seq = tf.shape(sequence_output)[0], tf.shape(sequence_output)[1]
    per_position = tf.reshape(sequence_output, [-1, hidden_size])
    span_logits = tf.nn.bias_add(tf.matmul(per_position, span_weights, transpose_b=True), span_bias)
    start_logits, end_logits = tf.unstack(tf.reshape(span_logits, [batch, seq, 2]), axis=-1)
    type_weights = v1.get_variable("answer_type_output_weights", [NUM_ANSWER_TYPES, hidden_size],
                                   initializer=v1.truncated_normal_initializer(stddev=0.02))
    type_bias = v1.get_variable("answer_type_output_bias", [NUM_ANSWER_TYPES], initializer=v1.zeros_initializer())
    answer_type_logits = tf.nn.bias_add(tf.matmul(pooled_output, type_weights, transpose_b=True), type_bias)
    return start_logits, end_logits, answer_type_logits


def seeded_values(variables, seed: int) -> dict:
    """A random value for every variable, in name order: none left at its initializer's zeros
    or ones, so a loader that puts one tensor in another's place changes the outputs."""
    rng = np.random.default_rng(seed)
    values = {}
    for var in sorted(variables, key=lambda v: v.op.name):
        shape = var.shape.as_list()
        noise = rng.normal(0.0, 0.2, shape).astype(np.float32)
        values[var] = noise + 1.0 if var.op.name.endswith("LayerNorm/gamma") else noise
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bert_config", required=True, help="Google bert_config.json")
    parser.add_argument("--windows", required=True, help="npz of input_ids, input_mask, segment_ids [n, seq]")
    parser.add_argument("--checkpoint", required=True, help="prefix the Saver writes")
    parser.add_argument("--logits", required=True, help="npz written: start/end/answer_type logits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    install_contrib_shim()
    from bert import modeling  # Google's code, with the shim in place

    v1.disable_v2_behavior()
    config = modeling.BertConfig.from_json_file(args.bert_config)
    windows = np.load(args.windows)
    with tf.Graph().as_default():
        inputs = {k: v1.placeholder(tf.int32, [None, None], name=k) for k in INPUT_NAMES}
        bert = modeling.BertModel(config=config, is_training=False, input_ids=inputs["input_ids"],
                                  input_mask=inputs["input_mask"], token_type_ids=inputs["segment_ids"],
                                  use_one_hot_embeddings=False)
        logits = nq_head(bert.get_sequence_output(), bert.get_pooled_output(), config.hidden_size)
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            for var, value in seeded_values(v1.global_variables(), args.seed).items():
                var.load(value, session)
            v1.train.Saver().save(session, args.checkpoint, write_meta_graph=False)
            start, end, answer_type = session.run(
                logits, feed_dict={inputs[k]: windows[k].astype(np.int32) for k in INPUT_NAMES})
    np.savez(args.logits, start_logits=start, end_logits=end, answer_type_logits=answer_type)


if __name__ == "__main__":
    main()
