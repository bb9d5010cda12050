"""Input pipelines, optimizer, training loop (resume, accumulation)."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from nq_baseline.common import inputs
from nq_baseline.model import modeling

from nq_baseline.model import checkpoints, datasets, training
from nq_baseline.common.errors import NqInputError

from conftest import TINY_SEQ as SEQ
from conftest import tiny_model as fresh_model
from conftest import write_tiny_records as write_records


@pytest.fixture(scope="module")
def train_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("records")
    a = write_records(d / "train-00.tfrecord", 24, seed=1)
    b = write_records(d / "train-01.tfrecord.gz", 24, seed=2, first_id=100, gz=True)
    return a, b


def weights(model):
    return [v.numpy() for v in model.trainable_variables]


# ----------------------------------------------------------------------------- input


def test_datasets_read_plain_gzip_glob_and_keep_int64_ids(tmp_path, train_files):
    a, b = train_files
    assert not inputs.is_gzip(a) and inputs.is_gzip(b)
    disguised = tmp_path / "disguised.rec"  # gzip without the .gz suffix: found by header
    disguised.write_bytes(open(b, "rb").read())
    assert inputs.is_gzip(str(disguised))
    assert inputs.expand_paths(f"{os.path.dirname(a)}/train-*") == [a, b]
    ds = datasets.make_train_dataset(f"{a},{disguised}", 5, SEQ, shuffle=False, repeat=False)
    spec = ds.element_spec
    assert spec["unique_ids"].dtype == tf.int64 and spec["input_ids"].dtype == tf.int32
    assert spec["input_ids"].shape == (5, SEQ) and spec["answer_types"].shape == (5,)
    ids = np.concatenate([b_["unique_ids"].numpy() for b_ in ds])
    assert len(ids) == 45  # 48 records, remainder dropped
    assert sorted(set(ids)) == sorted(ids)
    with pytest.raises(NqInputError, match="nothing-"):
        inputs.expand_paths(str(tmp_path / "nothing-*.tfrecord"))


def test_shuffled_dataset_is_deterministic_per_seed(train_files):
    def first(seed):
        ds = datasets.make_train_dataset(",".join(train_files), 4, SEQ, seed=seed)
        return np.concatenate([b["unique_ids"].numpy() for b in ds.take(6)])

    assert (first(3) == first(3)).all()
    assert not (first(3) == first(4)).all()


# ----------------------------------------------------------------------------- optimizer


def test_schedule_warmup_then_linear_decay():
    opt = training.create_optimizer(1e-4, num_train_steps=1000, num_warmup_steps=100)
    lr = opt._learning_rate
    assert isinstance(lr, training.WarmupLinearDecay)
    at = lambda s: float(lr(s))
    assert at(0) == 0.0
    np.testing.assert_allclose(at(50), 0.5e-4, rtol=1e-6)
    np.testing.assert_allclose(at(99), 0.99e-4, rtol=1e-6)
    np.testing.assert_allclose(at(100), 1e-4 * (1 - 100 / 1000), rtol=1e-6)  # BERT: decay from 0
    np.testing.assert_allclose(at(550), 1e-4 * 0.45, rtol=1e-5)
    assert at(1000) == 0.0 and at(5000) == 0.0
    no_warmup = training.create_optimizer(2e-5, 10, 0)._learning_rate
    np.testing.assert_allclose(float(no_warmup(0)), 2e-5, rtol=1e-6)
    assert opt.epsilon == 1e-6 and opt.weight_decay == 0.01


def test_weight_decay_skips_layer_norm_and_bias():
    model = fresh_model()
    opt = training.create_optimizer(0.1, 100, 0, weight_decay=0.5)
    opt.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if opt._use_weight_decay(v)}
    excluded = {v.path for v in model.trainable_variables} - decayed
    assert excluded and all(("LayerNorm" in p or "bias" in p) for p in excluded)
    assert any("LayerNorm_gamma" in p for p in excluded)
    assert any(p.endswith("qkv/bias") for p in excluded)
    assert any(p.endswith("word_embeddings") for p in decayed)
    assert any(p.endswith("output_weights") for p in decayed)
    # Zero gradients: Adam moves nothing, so only decay acts.
    before = {v.path: v.numpy() for v in model.trainable_variables}
    opt.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    for v in model.trainable_variables:
        factor = 1 - 0.1 * 0.5 if v.path in decayed else 1.0
        np.testing.assert_allclose(v.numpy(), before[v.path] * factor, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- training


def test_loss_decreases_on_tiny_overfit_set(tmp_path, train_files):
    model = fresh_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ds = datasets.make_train_dataset(train_files[0], 8, SEQ, shuffle=False).take(1).cache().repeat()
    losses = []
    result = training.train(model, ds, output_dir=str(tmp_path), num_train_steps=60,
                            learning_rate=1e-2, warmup_proportion=0.1, save_checkpoints_steps=1000,
                            log_every=10, progress=False,
                            step_callback=lambda step, loss: losses.append(loss))
    assert result.step == 60 and result.resumed_from is None
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses
    log = [json.loads(l) for l in open(tmp_path / "train_log.jsonl")]
    assert [r["step"] for r in log] == [10, 20, 30, 40, 50, 60]
    assert set(log[0]) >= {"step", "loss", "learning_rate", "seconds"}
    assert os.listdir(tmp_path / "train")  # TensorBoard events
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-60")
    assert modeling.BertConfig.from_json_file(str(tmp_path / "bert_config.json")) == model.config
    # Prediction side: restore_latest gives the trained weights and the step.
    other = fresh_model(seed=5, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    assert checkpoints.restore_latest(other, str(tmp_path)) == 60
    for a, b in zip(weights(model), weights(other)):
        np.testing.assert_array_equal(a, b)
    assert checkpoints.restore_latest(other, str(tmp_path / "empty")) is None


class Killed(Exception):
    pass


@pytest.mark.parametrize("strategy_name,checkpoint_iterator,mixed_precision,accum", [
    ("default", True, None, 1),  # input position from the checkpointed iterator state
    ("default", False, None, 1),  # input position by skipping consumed batches
    ("mirrored", True, "fp16", 2),  # distributed iterators are not checkpointable: skip
])
def test_exact_resume_after_kill(tmp_path, train_files, strategy_name, checkpoint_iterator,
                                 mixed_precision, accum):
    """Killed at step 5 (last checkpoint at 4) and rerun with the same flags ==
    one uninterrupted run: same weights, optimizer state, dropout and data order."""
    files = ",".join(train_files)
    strategy = training.make_strategy(strategy_name)

    def model(seed):
        with strategy.scope():
            return fresh_model(seed=seed)

    init = tf.train.Checkpoint(model=model(1)).save(str(tmp_path / "init" / "ckpt"))
    flags = dict(num_train_steps=7, learning_rate=1e-3, warmup_proportion=0.3,
                 save_checkpoints_steps=2, log_every=1, progress=False, init_checkpoint=init,
                 checkpoint_iterator=checkpoint_iterator, strategy=strategy,
                 mixed_precision=mixed_precision, grad_accum_steps=accum)

    def dataset():
        # The same global seed, as a rerun with the same flags has (fresh_model reseeds).
        tf.random.set_seed(0)
        return datasets.make_train_dataset(files, 4, SEQ, shuffle=True, seed=7, shuffle_buffer=16)

    straight = model(2)
    seen_straight = []
    training.train(straight, dataset(), output_dir=str(tmp_path / "straight"),
                   step_callback=lambda s, l: seen_straight.append(l), **flags)

    def kill_at_5(step, loss):
        if step == 5:
            raise Killed()

    out = str(tmp_path / "resumed")
    with pytest.raises(Killed):
        training.train(model(3), dataset(), output_dir=out, step_callback=kill_at_5, **flags)
    assert tf.train.latest_checkpoint(out).endswith("ckpt-4")
    resumed = model(4)  # a new process would start from other random weights
    seen_resumed = []
    result = training.train(resumed, dataset(), output_dir=out,
                            step_callback=lambda s, l: seen_resumed.append(l), **flags)
    assert result.resumed_from == 4 and result.step == 7
    np.testing.assert_allclose(seen_resumed, seen_straight[4:], rtol=1e-6)
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    log_steps = [json.loads(l)["step"] for l in open(os.path.join(out, "train_log.jsonl"))]
    assert log_steps == [1, 2, 3, 4, 5, 5, 6, 7]  # step 5 was redone after the kill


def test_grad_accumulation_equals_double_batch(tmp_path, train_files):
    """accum=2 x batch 4 == accum=1 x batch 8 for one update (no dropout, no clipping)."""
    no_dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    init = tf.train.Checkpoint(model=fresh_model(seed=1, **no_dropout)).save(str(tmp_path / "i" / "c"))
    results = {}
    for accum, batch in ((1, 8), (2, 4)):
        model = fresh_model(seed=accum, **no_dropout)
        ds = datasets.make_train_dataset(train_files[0], batch, SEQ, shuffle=False)
        result = training.train(model, ds, output_dir=str(tmp_path / f"a{accum}"), num_train_steps=1,
                                learning_rate=1e-3, warmup_proportion=0.0, save_checkpoints_steps=10,
                                grad_accum_steps=accum, log_every=1, progress=False,
                                init_checkpoint=init, clip_norm=None)
        opt_vars = tf.train.load_checkpoint(result.checkpoint)
        moments = {n: opt_vars.get_tensor(n) for n, _ in tf.train.list_variables(result.checkpoint)
                   if n.startswith("optimizer/") and "VARIABLE_VALUE" in n}
        results[accum] = (result.loss, weights(model), moments)
    (loss1, w1, m1), (loss2, w2, m2) = results[1], results[2]
    np.testing.assert_allclose(loss1, loss2, rtol=1e-5)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert m1.keys() == m2.keys() and len(m1) > 10
    for k in m1:  # Adam moments are proportional to the (squared) gradient: a strict check
        scale = float(np.abs(m1[k]).max()) or 1.0
        np.testing.assert_allclose(m1[k], m2[k], rtol=1e-4, atol=1e-4 * scale + 1e-9, err_msg=k)


def test_mirrored_strategy_accumulation_and_bf16(tmp_path, train_files):
    strategy = training.make_strategy("mirrored")
    with strategy.scope():
        model = fresh_model()
    ds = datasets.make_train_dataset(",".join(train_files), 4, SEQ)
    result = training.train(model, ds, output_dir=str(tmp_path), num_train_steps=3, learning_rate=1e-3,
                            save_checkpoints_steps=2, grad_accum_steps=2, mixed_precision="bf16",
                            strategy=strategy, log_every=1, progress=False)
    assert result.step == 3 and np.isfinite(result.loss)
    assert model.compute_dtype == "bfloat16"
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    with pytest.raises(ValueError, match="unknown strategy"):
        training.make_strategy("bogus")
    assert training.compute_num_train_steps(1000, 32, 2.0) == 62
    assert training.compute_num_train_steps(1000, 32, 2.0, max_steps=5) == 5


def test_finite_input_stops_cleanly_with_a_checkpoint(tmp_path, train_files):
    ds = datasets.make_train_dataset(train_files[0], 8, SEQ, shuffle=False, repeat=False)
    result = training.train(fresh_model(), ds, output_dir=str(tmp_path), num_train_steps=10,
                            save_checkpoints_steps=100, progress=False)
    assert result.step == 3 and result.checkpoint.endswith("ckpt-3")
    assert [json.loads(l)["step"] for l in open(tmp_path / "train_log.jsonl")] == [3]
