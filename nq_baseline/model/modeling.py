"""BERT encoder and the bert_joint Natural Questions head, in Keras 3 (TensorFlow backend).

Written from the BERT paper / the public checkpoint layouts, not copied from any
implementation.  The encoder is a plain post-LayerNorm BERT of any size:

    embeddings = LayerNorm(word[ids] + position[0:seq] + type[segment_ids]) -> dropout
    per layer:  x = LayerNorm(x + dropout(attention(x) @ Wo + bo))
                x = LayerNorm(x + dropout(gelu(x @ Wi + bi) @ Wout + bout))
    pooled    = tanh(x[:, 0] @ Wp + bp)

CPU-oriented choices: hidden states stay 2-D ``[batch * seq, hidden]`` so every dense
layer is one GEMM; Q, K and V come out of ONE fused ``[hidden, 3 * hidden]`` GEMM; the
attention mask is an additive bias ``(1 - mask) * -10000`` broadcast over heads and
queries; the softmax scale is folded into Q (smaller than the score tensor).

The head follows bert_joint: one ``[2, hidden]`` projection of the sequence output gives
start and end logits, and a ``[5, hidden]`` projection of the pooled output gives the
answer-type logits (UNKNOWN=0, YES=1, NO=2, SHORT=3, LONG=4).  Head variables keep
bert_joint's ``[classes, hidden]`` layout so checkpoints map one to one.

All float outputs are float32 even under a mixed-precision dtype policy.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Dict, Mapping, Optional

import keras
import tensorflow as tf

from nq_baseline.features.windows import ANSWER_TYPE_NAMES

NUM_ANSWER_TYPES = len(ANSWER_TYPE_NAMES)  # UNKNOWN, YES, NO, SHORT, LONG (features.py)
MODEL_INPUT_KEYS = ("input_ids", "input_mask", "segment_ids")

_MASK_NEGATIVE = -10000.0  # BERT's additive mask value; representable in fp16 too.


# --------------------------------------------------------------------------- config


@dataclasses.dataclass
class BertConfig:
    """Hyper-parameters of a BERT encoder (Google ``bert_config.json`` field names)."""

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not a multiple of "
                f"num_attention_heads={self.num_attention_heads}"
            )
        _activation(self.hidden_act)  # validates the name early

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], google: Optional[bool] = None) -> "BertConfig":
        """From a Google ``bert_config.json`` or HF ``config.json`` dict; extra keys ignored.

        "gelu" means two things: Google's BERT code (and so every TF1 BERT and bert_joint
        checkpoint) computes it with the tanh approximation, transformers with erf. A dict
        with HF's ``model_type`` key is read as HF's, one without as Google's (``google``
        decides when given); the config keeps the unambiguous names ("gelu" erf, "gelu_new"
        tanh) and `to_json_string` writes ``model_type`` so its file reads back the same."""
        data = dict(data)
        if google is None:
            google = "model_type" not in data
        if google and str(data.get("hidden_act", "")).lower() == "gelu":
            data["hidden_act"] = "gelu_new"  # Google's gelu: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))
        # HF spellings that differ from Google's.
        aliases = {"layer_norm_epsilon": "layer_norm_eps", "n_layers": "num_hidden_layers"}
        for src, dst in aliases.items():
            if src in data and dst not in data:
                data[dst] = data[src]
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(
                "only absolute position embeddings are supported, got "
                f"position_embedding_type={data['position_embedding_type']!r}"
            )
        if "vocab_size" not in data:
            raise ValueError("BERT config has no 'vocab_size'")
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})

    @classmethod
    def from_json_file(cls, path: str, google: Optional[bool] = None) -> "BertConfig":
        with tf.io.gfile.GFile(path, "r") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not a JSON BERT config: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a JSON BERT config (not an object)")
        try:
            return cls.from_dict(data, google)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json_string(self) -> str:
        """The config as JSON, in transformers' meaning of the activation names (``model_type``
        says so to `from_dict`)."""
        return json.dumps(dict(self.to_dict(), model_type="bert"), indent=2, sort_keys=True) + "\n"


def _activation(name: str):
    name = (name or "").lower()
    if name == "gelu":  # exact, erf based
        return lambda x: tf.nn.gelu(x, approximate=False)
    if name in ("gelu_new", "gelu_fast", "gelu_pytorch_tanh", "gelu_tanh", "gelu_approximate"):
        return lambda x: tf.nn.gelu(x, approximate=True)
    if name == "relu":
        return tf.nn.relu
    if name in ("swish", "silu"):
        return tf.nn.silu
    if name == "tanh":
        return tf.math.tanh
    raise ValueError(f"unsupported hidden_act {name!r}")


def _init(config: BertConfig):
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


# --------------------------------------------------------------------------- layers


class LayerNorm(keras.layers.Layer):
    """LayerNorm over the last axis; statistics in float32 even under mixed precision.

    Weight names carry ``LayerNorm`` so the optimizer can exclude them from weight decay.
    """

    def __init__(self, epsilon: float, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        dim = input_shape[-1]
        self.gamma = self.add_weight(name="LayerNorm_gamma", shape=(dim,), initializer="ones")
        self.beta = self.add_weight(name="LayerNorm_beta", shape=(dim,), initializer="zeros")

    def call(self, x):
        dtype = x.dtype
        x32 = tf.cast(x, tf.float32)
        mean, var = tf.nn.moments(x32, axes=[-1], keepdims=True)
        inv = tf.math.rsqrt(var + self.epsilon)
        gamma = tf.cast(self.gamma.value, tf.float32)
        beta = tf.cast(self.beta.value, tf.float32)
        y = (x32 - mean) * (inv * gamma) + beta
        return tf.cast(y, dtype)


class Dropout(keras.layers.Layer):
    """Inverted dropout drawing 16 random bits per element (half the Philox work of
    ``keras.layers.Dropout``'s float uniforms, which dominate attention-dropout time on CPU).

    An element is dropped when its 16-bit draw is below ``round(rate * 65536)``; kept
    values are scaled by ``65536 / (65536 - threshold)``, so the layer stays unbiased and
    the effective rate is within 1e-5 of ``rate``.  Seeds come from a Keras
    ``SeedGenerator`` (its state is a variable: checkpointed by training for exact resume).
    """

    def __init__(self, rate: float, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.threshold = int(round(self.rate * 65536))
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.threshold == 0:
            return x
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        n = tf.size(x)
        words = tf.random.stateless_uniform(
            [(n + 1) // 2], seed=seed, minval=None, maxval=None, dtype=tf.int32)
        bits = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:n]
        keep = tf.reshape(bits >= tf.constant(self.threshold, tf.uint16), tf.shape(x))
        scale = tf.constant(65536.0 / (65536 - self.threshold), x.dtype)
        # One mask tensor, reused by the backward pass (dy * mask).
        mask = tf.where(keep, scale, tf.zeros_like(scale))
        return x * mask


class Dense(keras.layers.Layer):
    """``x @ kernel + bias`` on a 2-D input, kernel stored ``[in, out]`` (Google layout)."""

    def __init__(self, units: int, initializer, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.initializer = initializer
        self.activation = activation

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.units), initializer=self.initializer
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        y = tf.nn.bias_add(tf.matmul(x, self.kernel.value), self.bias.value)
        return self.activation(y) if self.activation is not None else y


class BertEmbeddings(keras.layers.Layer):
    def __init__(self, config: BertConfig, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.layer_norm = LayerNorm(config.layer_norm_eps, name="LayerNorm", dtype=self.dtype_policy)
        self.dropout = Dropout(config.hidden_dropout_prob, seed=seed, dtype=self.dtype_policy)

    def build(self, input_shape):
        c = self.config
        init = _init(c)
        self.word_embeddings = self.add_weight(
            name="word_embeddings", shape=(c.vocab_size, c.hidden_size), initializer=init
        )
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(c.max_position_embeddings, c.hidden_size),
            initializer=init,
        )
        self.token_type_embeddings = self.add_weight(
            name="token_type_embeddings", shape=(c.type_vocab_size, c.hidden_size), initializer=init
        )
        self.layer_norm.build((None, c.hidden_size))

    def call(self, input_ids, segment_ids, training=False):
        """ids ``[b, s]`` -> embeddings ``[b, s, h]``."""
        seq_len = tf.shape(input_ids)[1]
        x = tf.gather(self.word_embeddings.value, input_ids)
        x += tf.gather(self.token_type_embeddings.value, segment_ids)
        x += self.position_embeddings.value[tf.newaxis, :seq_len]
        x = self.layer_norm(x)
        return self.dropout(x, training=training)


class TransformerLayer(keras.layers.Layer):
    """One post-LN BERT layer working on 2-D ``[batch * seq, hidden]`` states."""

    def __init__(self, config: BertConfig, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        c = self.config = config
        init = _init(c)
        self.num_heads = c.num_attention_heads
        self.head_dim = c.hidden_size // c.num_attention_heads
        p = self.dtype_policy
        # Fused Q|K|V projection: columns [0:h] = query, [h:2h] = key, [2h:3h] = value.
        self.qkv = Dense(3 * c.hidden_size, init, name="attention_qkv", dtype=p)
        self.attention_output = Dense(c.hidden_size, init, name="attention_output", dtype=p)
        self.attention_layer_norm = LayerNorm(c.layer_norm_eps, name="attention_LayerNorm", dtype=p)
        self.intermediate = Dense(
            c.intermediate_size, init, activation=_activation(c.hidden_act), name="intermediate", dtype=p
        )
        self.output_dense = Dense(c.hidden_size, init, name="output", dtype=p)
        self.output_layer_norm = LayerNorm(c.layer_norm_eps, name="output_LayerNorm", dtype=p)
        self.attention_dropout = Dropout(c.attention_probs_dropout_prob, seed=seed, dtype=p)
        self.attention_output_dropout = Dropout(c.hidden_dropout_prob, seed=seed + 1, dtype=p)
        self.output_dropout = Dropout(c.hidden_dropout_prob, seed=seed + 2, dtype=p)

    def build(self, input_shape):
        h, i = self.config.hidden_size, self.config.intermediate_size
        self.qkv.build((None, h))
        self.attention_output.build((None, h))
        self.attention_layer_norm.build((None, h))
        self.intermediate.build((None, h))
        self.output_dense.build((None, i))
        self.output_layer_norm.build((None, h))

    def call(self, x, attention_bias, batch_size, seq_len, training=False):
        n, d = self.num_heads, self.head_dim
        qkv = self.qkv(x)  # [b*s, 3h]
        qkv = tf.reshape(qkv, [batch_size, seq_len, 3, n, d])
        qkv = tf.transpose(qkv, [2, 0, 3, 1, 4])  # [3, b, n, s, d]
        # unstack, not qkv[i]: its gradient is one Pack, not 3 full-size StridedSliceGrads.
        q, k, v = tf.unstack(qkv, num=3, axis=0)
        q = q * tf.cast(1.0 / math.sqrt(d), q.dtype)
        scores = tf.matmul(q, k, transpose_b=True)  # [b, n, s, s]
        scores += tf.cast(attention_bias, scores.dtype)
        probs = tf.nn.softmax(scores, axis=-1)
        probs = self.attention_dropout(probs, training=training)
        context = tf.matmul(probs, v)  # [b, n, s, d]
        context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [-1, n * d])
        attn = self.attention_output(context)
        attn = self.attention_output_dropout(attn, training=training)
        x = self.attention_layer_norm(x + attn)
        y = self.output_dense(self.intermediate(x))
        y = self.output_dropout(y, training=training)
        return self.output_layer_norm(x + y)


class BertEncoder(keras.Model):
    """BERT encoder: ``{"input_ids","input_mask","segment_ids"}`` ->
    ``{"sequence_output": [b, s, h], "pooled_output": [b, h]}`` (float32).

    The dict also carries ``_sequence_2d`` ``[b * s, h]`` and ``_pooled`` in the compute
    dtype, which the NQ head consumes (internal)."""

    def __init__(self, config: BertConfig, seed: int = 0, **kwargs):
        kwargs.setdefault("name", "bert")
        super().__init__(**kwargs)
        self.config = config
        p = self.dtype_policy
        self.embeddings = BertEmbeddings(config, seed=seed, name="embeddings", dtype=p)
        # One attribute per layer (not a list): TF object-based checkpoints only follow
        # plain attributes of Keras 3 layers.
        for i in range(config.num_hidden_layers):
            layer = TransformerLayer(config, seed=seed + 10 * (i + 1), name=f"layer_{i}", dtype=p)
            setattr(self, f"layer_{i}", layer)
        self.pooler = Dense(config.hidden_size, _init(config), activation=tf.math.tanh, name="pooler", dtype=p)

    @property
    def encoder_layers(self):
        return [getattr(self, f"layer_{i}") for i in range(self.config.num_hidden_layers)]

    def build(self, input_shape=None):
        self.embeddings.build(None)
        for layer in self.encoder_layers:
            layer.build(None)
        self.pooler.build((None, self.config.hidden_size))
        self.built = True

    def call(self, inputs, training=False):
        input_ids = tf.cast(inputs["input_ids"], tf.int32)
        segment_ids = tf.cast(inputs["segment_ids"], tf.int32)
        mask = inputs["input_mask"]
        shape = tf.shape(input_ids)
        batch_size, seq_len = shape[0], shape[1]
        x = self.embeddings(input_ids, segment_ids, training=training)
        x = tf.reshape(x, [-1, self.config.hidden_size])
        # [b, 1, 1, s]: 0 where attended, -10000 on padding.
        bias = (1.0 - tf.cast(mask, tf.float32)) * _MASK_NEGATIVE
        bias = bias[:, tf.newaxis, tf.newaxis, :]
        for layer in self.encoder_layers:
            x = layer(x, bias, batch_size, seq_len, training=training)
        sequence = tf.reshape(x, [batch_size, seq_len, self.config.hidden_size])
        pooled = self.pooler(sequence[:, 0])
        return {
            "sequence_output": tf.cast(sequence, tf.float32),
            "pooled_output": tf.cast(pooled, tf.float32),
            "_sequence_2d": x,  # compute dtype, for the head (avoids a reshape/cast)
            "_pooled": pooled,
        }


class NqHead(keras.layers.Layer):
    """bert_joint's output layer (weights stored ``[classes, hidden]`` like bert_joint), and
    optionally the long-answer head: one more ``[1, hidden]`` projection of the sequence
    output, a score at every position, read at the candidates' ``[ContextId=i]`` markers
    (``[CLS]``, position 0, scores "no long answer")."""

    def __init__(self, config: BertConfig, long_answer_head: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.long_answer_head = bool(long_answer_head)

    def build(self, input_shape=None):
        h, init = self.config.hidden_size, _init(self.config)
        self.output_weights = self.add_weight(name="output_weights", shape=(2, h), initializer=init)
        self.output_bias = self.add_weight(name="output_bias", shape=(2,), initializer="zeros")
        self.answer_type_output_weights = self.add_weight(
            name="answer_type_output_weights", shape=(NUM_ANSWER_TYPES, h), initializer=init
        )
        self.answer_type_output_bias = self.add_weight(
            name="answer_type_output_bias", shape=(NUM_ANSWER_TYPES,), initializer="zeros"
        )
        if self.long_answer_head:
            self.long_output_weights = self.add_weight(name="long_output_weights", shape=(1, h), initializer=init)
            self.long_output_bias = self.add_weight(name="long_output_bias", shape=(1,), initializer="zeros")

    def call(self, sequence_2d, pooled, batch_size, seq_len):
        weights, bias = self.output_weights.value, self.output_bias.value
        if self.long_answer_head:  # one GEMM for start, end and long scores
            weights = tf.concat([weights, self.long_output_weights.value], axis=0)
            bias = tf.concat([bias, self.long_output_bias.value], axis=0)
        logits = tf.matmul(sequence_2d, weights, transpose_b=True)
        logits = tf.cast(tf.nn.bias_add(logits, bias), tf.float32)
        logits = tf.reshape(logits, [batch_size, seq_len, -1])
        at = tf.matmul(pooled, self.answer_type_output_weights.value, transpose_b=True)
        at = tf.cast(tf.nn.bias_add(at, self.answer_type_output_bias.value), tf.float32)
        out = {"start_logits": logits[:, :, 0], "end_logits": logits[:, :, 1], "answer_type_logits": at}
        if self.long_answer_head:
            out["long_logits"] = logits[:, :, 2]
        return out


class BertNqModel(keras.Model):
    """Encoder + bert_joint head (+ the long-answer head when ``long_answer_head``).
    ``model.encoder`` is the bare :class:`BertEncoder`."""

    def __init__(self, config: BertConfig, seed: int = 0, long_answer_head: bool = False, **kwargs):
        kwargs.setdefault("name", "bert_nq")
        super().__init__(**kwargs)
        self.config = config
        self.long_answer_head = bool(long_answer_head)
        self.encoder = BertEncoder(config, seed=seed, dtype=self.dtype_policy)
        self.head = NqHead(config, long_answer_head, name="nq_head", dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.encoder.build(None)
        self.head.build(None)
        self.built = True

    def call(self, inputs, training=False):
        enc = self.encoder(
            {k: inputs[k] for k in MODEL_INPUT_KEYS}, training=training
        )
        shape = tf.shape(inputs["input_ids"])
        return self.head(enc["_sequence_2d"], enc["_pooled"], shape[0], shape[1])


def dtype_policy(mixed_precision: Optional[str]) -> Optional["keras.DTypePolicy"]:
    """The Keras dtype policy of "fp16" / "bf16" (None for float32)."""
    if mixed_precision in (None, "", "none", "fp32", "float32"):
        return None
    names = {"fp16": "mixed_float16", "bf16": "mixed_bfloat16",
             "mixed_float16": "mixed_float16", "mixed_bfloat16": "mixed_bfloat16"}
    if mixed_precision not in names:
        raise ValueError(f"mixed_precision must be None, 'fp16' or 'bf16', got {mixed_precision!r}")
    return keras.DTypePolicy(names[mixed_precision])


def set_mixed_precision(model: keras.Model, mixed_precision: Optional[str]) -> keras.Model:
    """Switch an already built model (and all its sub-layers) to a dtype policy.

    Variables stay float32; only the compute dtype changes ("fp16", "bf16" or None for
    float32).  Call before tracing any tf.function over the model.
    """
    policy = dtype_policy(mixed_precision) or keras.DTypePolicy("float32")
    for layer in model._flatten_layers(include_self=True, recursive=True):
        layer.dtype_policy = policy
    return model


def _dummy_inputs(max_seq_length: int):
    z = tf.zeros([1, max_seq_length], tf.int32)
    return {"input_ids": z, "input_mask": tf.ones_like(z), "segment_ids": z}


def build_encoder(config: BertConfig, max_seq_length: Optional[int] = None,
                  mixed_precision: Optional[str] = None, seed: int = 0) -> BertEncoder:
    """A built :class:`BertEncoder` (variables created, traced once on a dummy batch)."""
    policy = dtype_policy(mixed_precision)
    encoder = BertEncoder(config, seed=seed, dtype=policy)
    encoder(_dummy_inputs(min(max_seq_length or 8, config.max_position_embeddings)))
    return encoder


def build_nq_model(config: BertConfig, max_seq_length: Optional[int] = None,
                   mixed_precision: Optional[str] = None, seed: int = 0,
                   long_answer_head: bool = False) -> BertNqModel:
    """The bert_joint model, built.

    Input: dict with int ``input_ids``, ``input_mask``, ``segment_ids`` ``[batch, seq]``
    (other keys ignored).  Output: dict ``start_logits [b, s]``, ``end_logits [b, s]``,
    ``answer_type_logits [b, 5]``, all float32.  ``mixed_precision`` is None, "fp16" or
    "bf16" (a Keras mixed dtype policy for this model only).  ``seed`` fixes the dropout
    streams (weights are initialised from Keras' global RNG; see keras.utils.set_random_seed).
    Build it under ``strategy.scope()`` when training with a distribution strategy.
    """
    if max_seq_length is not None and max_seq_length > config.max_position_embeddings:
        raise ValueError(
            f"max_seq_length={max_seq_length} > max_position_embeddings="
            f"{config.max_position_embeddings}"
        )
    policy = dtype_policy(mixed_precision)
    model = BertNqModel(config, seed=seed, long_answer_head=long_answer_head, dtype=policy)
    model(_dummy_inputs(min(max_seq_length or 8, config.max_position_embeddings)))
    return model


def nq_loss(labels: Mapping[str, tf.Tensor], outputs: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """bert_joint's loss: mean of the start, end and answer-type cross-entropies; with the
    long-answer head, the mean of those and the long-answer cross-entropy.

    ``labels``: ``start_positions``, ``end_positions`` (indices into the sequence) and
    ``answer_types`` (0..4), each ``[batch]`` or ``[batch, 1]``; for the long head also
    ``long_positions`` (the gold marker's position, 0 for none, -1 for no label: such rows,
    e.g. from records without it, do not count) and ``candidate_map`` ``[batch, seq]``
    (>= 0 at candidate markers).  The long cross-entropy runs over [CLS] and the window's
    markers only.  Each term is averaged over the batch.
    """

    def ce(logits, positions):
        positions = tf.reshape(tf.cast(positions, tf.int32), [-1])
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=positions, logits=tf.cast(logits, tf.float32)
        )
        return tf.reduce_mean(losses)

    start = ce(outputs["start_logits"], labels["start_positions"])
    end = ce(outputs["end_logits"], labels["end_positions"])
    answer_type = ce(outputs["answer_type_logits"], labels["answer_types"])
    if "long_logits" not in outputs:
        return (start + end + answer_type) / 3.0
    return (start + end + answer_type + long_answer_loss(labels, outputs["long_logits"])) / 4.0


def long_answer_loss(labels: Mapping[str, tf.Tensor], long_logits: tf.Tensor) -> tf.Tensor:
    """Cross-entropy of the long-answer head over each window's [CLS] and candidate markers."""
    positions = tf.reshape(tf.cast(labels["long_positions"], tf.int32), [-1])
    allowed = tf.cast(labels["candidate_map"], tf.int32) >= 0
    allowed = tf.logical_or(allowed, tf.range(tf.shape(allowed)[1])[tf.newaxis, :] == 0)
    logits = tf.where(allowed, tf.cast(long_logits, tf.float32), _MASK_NEGATIVE * 10.0)
    valid = positions >= 0
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(positions, 0), logits=logits)
    weights = tf.cast(valid, tf.float32)
    return tf.reduce_sum(losses * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
