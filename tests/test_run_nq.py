"""run_nq end to end: the demo pipeline at a smaller scale, and the CLI's errors."""

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_module

TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 256, "type_vocab_size": 2, "initializer_range": 0.02}


def _run_tool(script, *args):
    import subprocess
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / script), *args], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """Sample NQ data, its vocab-nq.txt and a tiny BERT config."""
    d = tmp_path_factory.mktemp("sample")
    _run_tool("make_sample_nq.py", f"--output_dir={d}", "--num_train=3000", "--num_dev=60", "--seed=3")
    _run_tool("make_nq_vocab.py", "--input", str(d / "vocab.txt"), "--output", str(d / "vocab-nq.txt"))
    vocab_size = sum(1 for _ in open(d / "vocab-nq.txt", encoding="utf-8"))
    (d / "bert_config.json").write_text(json.dumps(dict(TINY, vocab_size=vocab_size)))
    return d


def test_pipeline_learns_on_sample_data(sample, tmp_path):
    """prepare -> train from scratch -> predict -> nq_eval, through the CLIs: the loss falls and
    the dev answers are far better than chance (the demo's pipeline, smaller)."""
    common = [f"--vocab_file={sample / 'vocab-nq.txt'}", "--max_seq_length=192", "--doc_stride=128"]
    records = tmp_path / "train.tfrecord"
    proc = run_module("nq_baseline.prepare_nq_data", *common, f"--input_jsonl={sample / 'train-full.jsonl.gz'}",
                      f"--output_tfrecord={records}", "--include_unknowns=1.0", "--num_workers=2",
                      "--synonym_augment_copies=0")
    assert proc.returncode == 0, proc.stderr
    model = tmp_path / "model"
    proc = run_module("nq_baseline.run_nq", "--do_train", *common, f"--bert_config_file={sample / 'bert_config.json'}",
                      f"--train_precomputed_file={records}", f"--output_dir={model}", "--max_steps=800",
                      "--train_batch_size=32", "--learning_rate=1.5e-3", "--save_checkpoints_steps=400")
    assert proc.returncode == 0, proc.stderr
    log = [json.loads(line) for line in (model / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 800
    assert log[-1]["loss"] < 0.85 * log[0]["loss"], log  # it learns (the demo trains longer)
    preds = tmp_path / "predictions.json"
    dev = sample / "dev-full.jsonl.gz"
    proc = run_module("nq_baseline.run_nq", "--do_predict", *common,
                      f"--bert_config_file={sample / 'bert_config.json'}", f"--predict_file={dev}",
                      f"--output_dir={model}", f"--output_prediction_file={preds}", "--predict_batch_size=64",
                      f"--output_nbest_file={tmp_path / 'nbest.json'}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(preds.read_text())
    assert len(out["predictions"]) == 60
    assert all(isinstance(p["example_id"], int) for p in out["predictions"])
    nbest = json.loads((tmp_path / "nbest.json").read_text())
    assert len(nbest) == 60 and all(len(v) <= 5 for v in nbest.values())
    from nq_baseline import nq_eval
    metrics = nq_eval.evaluate(str(dev), str(preds))
    # It answers: 0.61 / 0.52 measured (the demo, trained 2x longer on more data, reaches 0.93);
    # an H64 model trained 500 steps scored 0.20, so the bar tells a working pipeline apart.
    assert metrics["long-best-threshold-f1"] >= 0.45, metrics
    assert metrics["short-best-threshold-f1"] >= 0.3, metrics


def test_cli_errors_exit_2(tmp_path, sample):
    cfg = sample / "bert_config.json"
    proc = run_module("nq_baseline.run_nq", f"--bert_config_file={cfg}", f"--output_dir={tmp_path}")
    assert proc.returncode == 2 and "--do_train" in proc.stderr
    proc = run_module("nq_baseline.run_nq", "--do_train", f"--bert_config_file={tmp_path / 'nope.json'}",
                      f"--output_dir={tmp_path}", "--train_precomputed_file=x")
    assert proc.returncode == 2 and "nope.json" in proc.stderr
    proc = run_module("nq_baseline.run_nq", "--do_train", f"--bert_config_file={cfg}", f"--output_dir={tmp_path}",
                      "--train_precomputed_file=x", "--max_seq_length=1024")
    assert proc.returncode == 2 and "max_position_embeddings" in proc.stderr
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--bert_config_file={cfg}", f"--output_dir={tmp_path}",
                      f"--vocab_file={sample / 'vocab-nq.txt'}", f"--predict_file={tmp_path / 'missing.jsonl'}",
                      "--max_seq_length=192")
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr
