"""A bert_joint checkpoint made by Google's own TF1 code, with Google's graph as the oracle.

`tests/tf1_bert_joint.py` builds BERT with `bert.modeling` of PyPI bert-tensorflow 1.0.4 in
TF1 graph mode, adds bert_joint's NQ head under bert_joint's variable names, gives every
variable a seeded random value, saves them with `tf.compat.v1.train.Saver` (as bert_joint's
checkpoints were saved) and runs the graph on windows of real NQ examples. It runs in a
subprocess of its own, bounded in time: TF1 graph mode and the eager TF2 of this process do
not mix. What it shims and why is said in its docstring: `tf.contrib.layers.layer_norm` (gone
with `tf.contrib`; replaced under contrib's variable names `LayerNorm/beta`, `LayerNorm/gamma`)
and `tf.compat.v1.layers.dense` (a Keras 2 layer, taken from `tf_keras` through
`TF_USE_LEGACY_KERAS=1`); the rest is Google's code on `tf.compat.v1`.

Then `run_nq --do_predict --init_checkpoint=<that checkpoint>` predicts on the same NQ file,
and this package's model, loaded by `load_init_checkpoint`, runs on the same windows: its
logits must equal the TF1 graph's, and run_nq's predictions and n-best files must equal what
the post-processing makes of the TF1 graph's logits.

The activation: bert-tensorflow's "gelu" is the tanh approximation
(0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))), where transformers' "gelu" is the exact erf
form. Both sides get the SAME Google bert_config.json ("gelu"): run_nq must read it as Google's
code does (a config without transformers' `model_type` is Google's), so the comparison covers
the config's meaning, the weights' mapping and the model's arithmetic.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, real_input

TF1_SCRIPT = ROOT / "tests" / "tf1_bert_joint.py"
TOLERANCE = 1e-4
SEQ = 384  # run_nq's default --max_seq_length
SUBPROCESS_TIMEOUT_S = 600


def google_config(vocab_size: int) -> dict:
    return {"vocab_size": vocab_size, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
            "initializer_range": 0.02}


def require_google_bert() -> None:
    for module, package in (("bert", "bert-tensorflow==1.0.4"), ("tf_keras", "tf_keras")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{package} not installed (pip install -e '.[test]')")


def run_bounded(*command) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, *map(str, command)], capture_output=True, text=True, env=env,
                          timeout=SUBPROCESS_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def read_windows(records) -> dict:
    """Every window of the records, in file order, as run_nq's input pipeline reads them."""
    from nq_baseline.model import datasets

    batch = next(iter(datasets.make_predict_dataset(str(records), 100_000, SEQ)))
    return {k: v.numpy() for k, v in batch.items()}


def tf1_checkpoint_and_logits(tmp_path, config_file, windows) -> tuple[str, dict]:
    """Google's graph: (the checkpoint prefix it saved, its logits on `windows`)."""
    windows_file, logits_file = tmp_path / "windows.npz", tmp_path / "tf1_logits.npz"
    np.savez(windows_file, **{k: windows[k] for k in ("input_ids", "input_mask", "segment_ids")})
    prefix = tmp_path / "bert_joint" / "bert_joint.ckpt"
    run_bounded(TF1_SCRIPT, f"--bert_config={config_file}", f"--windows={windows_file}", f"--checkpoint={prefix}",
                f"--logits={logits_file}", "--seed=11")
    return str(prefix), dict(np.load(logits_file))


def assert_same_windows_in_memory(predict_file, vocab, windows) -> None:
    """run_nq makes its windows in memory (the Reader's path): they are the records' windows."""
    from nq_baseline.features import windows as F
    from nq_baseline.features.tokenization import NqTokenizer
    from nq_baseline.reading.nq_data import read_documents

    tokenizer, cfg = NqTokenizer(str(vocab)), F.FeatureConfig(max_seq_length=SEQ)
    parts = [F.question_windows(F.document_pieces(F.build_example(doc, cfg), tokenizer), doc.question_text,
                                tokenizer, cfg)[0] for doc in read_documents(str(predict_file))]
    for name in ("input_ids", "input_mask", "segment_ids", "token_map"):
        np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), windows[name], err_msg=name)


def our_logits(config_file, prefix, windows) -> dict:
    from nq_baseline.model import checkpoints, modeling
    from nq_baseline.prediction.streaming import ForwardFunction

    model = modeling.build_nq_model(modeling.BertConfig.from_json_file(str(config_file)), SEQ)
    report = checkpoints.load_init_checkpoint(model, prefix)
    assert report.kind == "tf1" and report.head_loaded and not report.missing and not report.unused, report
    return ForwardFunction(model)(windows)


def predictions_from(logits, windows, predict_file, out_dir) -> tuple[dict, dict]:
    """The predictions and n-best files the post-processing makes of `logits` (run_nq's defaults)."""
    from nq_baseline.prediction.postprocess import PostprocessConfig
    from nq_baseline.prediction.streaming import raw_results_of_batch, stream_predictions, write_predictions
    from nq_baseline.reading.nq_data import read_example_heads

    results = raw_results_of_batch(windows, logits)
    predictions = stream_predictions(read_example_heads(str(predict_file)), results, PostprocessConfig(nbest=5))
    path, nbest = out_dir / "predictions.json", out_dir / "nbest.json"
    write_predictions(str(path), predictions, str(nbest))
    return json.loads(path.read_text()), json.loads(nbest.read_text())


def assert_same_json(ours, expected, where="$"):
    """Same structure and values; numbers within TOLERANCE."""
    if isinstance(expected, dict):
        assert isinstance(ours, dict) and sorted(ours) == sorted(expected), where
        for key in expected:
            assert_same_json(ours[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(ours, list) and len(ours) == len(expected), where
        for i, (a, b) in enumerate(zip(ours, expected)):
            assert_same_json(a, b, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert abs(ours - expected) <= TOLERANCE, f"{where}: {ours} vs {expected}"
    else:
        assert ours == expected, f"{where}: {ours!r} vs {expected!r}"


def test_run_nq_predicts_from_a_google_tf1_bert_joint_checkpoint_as_googles_graph_does(nq_vocab, tmp_path):
    require_google_bert()
    predict_file = real_input(tmp_path, copies=1)  # the 5 real NQ examples, both formats
    vocab_size = sum(1 for _ in open(nq_vocab, encoding="utf-8"))
    google = google_config(vocab_size)
    google_file = tmp_path / "bert_config.json"
    google_file.write_text(json.dumps(google))

    records = tmp_path / "windows.tfrecord"
    run_bounded("-m", "nq_baseline.prepare_nq_data", f"--input_jsonl={predict_file}",
                f"--output_tfrecord={records}", f"--vocab_file={nq_vocab}", "--is_training=false",
                f"--max_seq_length={SEQ}")
    windows = read_windows(records)
    assert len(set(windows["example_ids"].tolist())) == 5 and len(windows["input_ids"]) > 5
    prefix, tf1 = tf1_checkpoint_and_logits(tmp_path, google_file, windows)

    out = tmp_path / "run_nq"
    run_bounded("-m", "nq_baseline.run_nq", "--do_predict", f"--init_checkpoint={prefix}",
                f"--bert_config_file={google_file}", f"--vocab_file={nq_vocab}", f"--predict_file={predict_file}",
                f"--output_dir={out}", f"--output_nbest_file={out / 'nbest.json'}")
    assert_same_windows_in_memory(predict_file, nq_vocab, windows)  # what run_nq fed its model

    ours = our_logits(google_file, prefix, windows)
    for name in ("start_logits", "end_logits", "answer_type_logits"):
        assert ours[name].shape == tf1[name].shape, name
        np.testing.assert_allclose(ours[name], tf1[name], rtol=0, atol=TOLERANCE, err_msg=name)
    assert np.ptp(tf1["start_logits"]) > 1.0  # seeded values far from any initializer: the logits vary

    expected_dir = tmp_path / "from_tf1_logits"
    expected_dir.mkdir()
    expected, expected_nbest = predictions_from(tf1, windows, predict_file, expected_dir)
    assert len(expected["predictions"]) == 5
    assert_same_json(json.loads((out / "predictions.json").read_text()), expected)
    assert_same_json(json.loads((out / "nbest.json").read_text()), expected_nbest)
