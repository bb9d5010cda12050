"""run_nq end to end: the demo pipeline at a smaller scale, and the CLI's errors."""

import json
import os
import sys

import pytest

from conftest import ROOT, run_module

TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 256, "type_vocab_size": 2, "initializer_range": 0.02,
        "model_type": "bert"}  # transformers' meaning of "gelu" (erf): this project's own config


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
    from nq_baseline.evaluation import scorer as nq_eval
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
                      f"--vocab_file={sample / 'vocab-nq.txt'}", "--train_precomputed_file=x", "--max_seq_length=1024")
    assert proc.returncode == 2 and "max_position_embeddings" in proc.stderr
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--bert_config_file={cfg}", f"--output_dir={tmp_path}",
                      f"--vocab_file={sample / 'vocab-nq.txt'}", f"--predict_file={tmp_path / 'missing.jsonl'}",
                      "--max_seq_length=192")
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr


# ----------------------------------------------------------------------------- faults, model folders, seeds
SMALL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
         "max_position_embeddings": 128}
SMALL_FLAGS = ("--max_seq_length=96", "--doc_stride=64")


@pytest.fixture(scope="module")
def small(sample, tmp_path_factory):
    """Training records of 300 sample examples at 96 tokens and a 1-layer config."""
    d = tmp_path_factory.mktemp("small")
    vocab_size = sum(1 for _ in open(sample / "vocab-nq.txt", encoding="utf-8"))
    (d / "bert_config.json").write_text(json.dumps(dict(SMALL, vocab_size=vocab_size)))
    proc = run_module("nq_baseline.prepare_nq_data", f"--vocab_file={sample / 'vocab-nq.txt'}", *SMALL_FLAGS,
                      f"--input_jsonl={sample / 'train-full.jsonl.gz'}", f"--output_tfrecord={d / 'train.tfrecord'}",
                      "--include_unknowns=0.5", "--max_examples=300", "--synonym_augment_copies=0")
    assert proc.returncode == 0, proc.stderr
    return d


def _train_predict(sample, small, out, seed, *extra):
    return run_module("nq_baseline.run_nq", "--do_train", "--do_predict", *SMALL_FLAGS,
                      f"--vocab_file={sample / 'vocab-nq.txt'}", f"--bert_config_file={small / 'bert_config.json'}",
                      f"--train_precomputed_file={small / 'train.tfrecord'}", f"--output_dir={out}",
                      "--max_steps=12", "--train_batch_size=8", "--learning_rate=1e-3", f"--random_seed={seed}",
                      "--save_checkpoints_steps=6", f"--predict_file={sample / 'dev-full.jsonl.gz'}",
                      "--predict_batch_size=32", *extra)


@pytest.fixture(scope="module")
def trained(sample, small, tmp_path_factory):
    """A model folder left by run_nq --do_train --do_predict (seed 1)."""
    out = tmp_path_factory.mktemp("trained") / "m"
    proc = _train_predict(sample, small, out, 1)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def _losses(out):
    return [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_same_seed_same_model_other_seed_another(sample, small, trained, tmp_path):
    """--random_seed seeds weights, dropout and the shuffle: two runs with the same flags give the
    same losses and the same predictions file, byte for byte; another seed gives others."""
    first, proc = trained
    assert "\r" not in proc.stderr  # no progress-bar frames when stderr is not a terminal
    assert "train: step 12/12" in proc.stderr
    runs = {"a": (_losses(first), (first / "predictions.json").read_bytes())}
    for name, seed in (("b", 1), ("c", 2)):
        proc = _train_predict(sample, small, tmp_path / name, seed)
        assert proc.returncode == 0, proc.stderr
        runs[name] = (_losses(tmp_path / name), (tmp_path / name / "predictions.json").read_bytes())
    assert runs["a"] == runs["b"]
    assert runs["a"][0] != runs["c"][0] and runs["a"][1] != runs["c"][1]


def test_model_folder_describes_itself(sample, trained, tmp_path):
    """--do_train leaves nq_model.json, the config and the vocabulary: --do_predict then needs
    only --output_dir; an explicit flag still wins, with a warning."""
    out, _ = trained
    spec = json.loads((out / "nq_model.json").read_text())
    assert spec["features"]["max_seq_length"] == 96 and spec["features"]["doc_stride"] == 64
    assert (out / "vocab.txt").read_bytes() == (sample / "vocab-nq.txt").read_bytes()
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={out}",
                      f"--vocab_file={sample / 'vocab-nq.txt'}",  # the same bytes: no warning
                      f"--predict_file={sample / 'dev-full.jsonl.gz'}", f"--output_prediction_file={tmp_path / 'p.json'}")
    assert proc.returncode == 0, proc.stderr
    assert "is not the file the model was trained with" not in proc.stderr
    assert (tmp_path / "p.json").read_bytes() == (out / "predictions.json").read_bytes()
    other_vocab = tmp_path / "other-vocab.txt"
    other_vocab.write_text((sample / "vocab-nq.txt").read_text() + "extraword\n")
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={out}", "--doc_stride=32",
                      f"--vocab_file={other_vocab}",
                      f"--predict_file={sample / 'dev-full.jsonl.gz'}", f"--output_prediction_file={tmp_path / 'q.json'}")
    assert proc.returncode == 0, proc.stderr
    assert "--doc_stride=32 differs from the model's training value 64" in proc.stderr
    assert f"--vocab_file={other_vocab} is not the file the model was trained with" in proc.stderr


def test_non_finite_loss_stops_and_keeps_the_last_finite_checkpoint(sample, small, tmp_path):
    out = tmp_path / "nan"
    proc = run_module("nq_baseline.run_nq", "--do_train", *SMALL_FLAGS, f"--vocab_file={sample / 'vocab-nq.txt'}",
                      f"--bert_config_file={small / 'bert_config.json'}", f"--output_dir={out}",
                      f"--train_precomputed_file={small / 'train.tfrecord'}", "--max_steps=40", "--train_batch_size=8",
                      "--learning_rate=1e6", "--warmup_proportion=0", "--save_checkpoints_steps=1", "--random_seed=0")
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("run_nq: error: the training loss is nan at step ") or "loss is inf" in line, line
    bad_step = int(line.split(" at step ")[1].split()[0])
    import numpy as np
    import tensorflow as tf
    kept = tf.train.latest_checkpoint(str(out))
    # Step 1 starts from finite initial weights, so with this seed a checkpoint is kept.
    assert bad_step > 1 and kept.endswith(f"ckpt-{bad_step - 1}") and kept in line, line
    reader = tf.train.load_checkpoint(kept)
    weights = [name for name in reader.get_variable_to_shape_map() if name.startswith("model/")]
    assert weights, "no model variable in the checkpoint"
    for name in weights:
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.isfinite(value).all(), f"{name} is not finite in {kept}"


def _cli(*args):
    proc = run_module("nq_baseline.run_nq", *args)
    lines = proc.stderr.strip().splitlines()
    return proc.returncode, (lines[-1] if lines else "")


@pytest.mark.parametrize("flag,named", [
    ("--doc_stride=0", "--doc_stride"), ("--doc_stride=-3", "--doc_stride"), ("--max_seq_length=0", "--max_seq_length"),
    ("--max_query_length=-1", "--max_query_length"), ("--train_batch_size=0", "--train_batch_size"),
    ("--predict_batch_size=-2", "--predict_batch_size"), ("--learning_rate=nan", "--learning_rate"),
    ("--learning_rate=-1", "--learning_rate"), ("--num_train_epochs=0", "--num_train_epochs"),
    ("--warmup_proportion=1.5", "--warmup_proportion"), ("--save_checkpoints_steps=0", "--save_checkpoints_steps"),
    ("--n_best_size=0", "--n_best_size"), ("--max_answer_length=0", "--max_answer_length"),
    ("--grad_accum_steps=0", "--grad_accum_steps"), ("--max_steps=-1", "--max_steps"),
    ("--train_num_precomputed=0", "--train_num_precomputed"), ("--include_unknowns=1.5", "--include_unknowns"),
    ("--max_contexts=-1", "--max_contexts"), ("--warmup_proportion=nan", "--warmup_proportion"),
    ("--random_seed=-1", "--random_seed"), ("--random_seed=4294967296", "--random_seed"),
    ("--num_workers=0", "--num_workers"), ("--lexical_weight=-1", "--lexical_weight"),
    ("--lexical_weight=inf", "--lexical_weight")])
def test_numeric_flags_are_validated(sample, small, tmp_path, flag, named):
    # --do_predict too: its --num_workers must fail before the training, not after it.
    code, line = _cli("--do_train", "--do_predict", f"--predict_file={sample / 'dev-full.jsonl.gz'}", *SMALL_FLAGS,
                      flag, f"--bert_config_file={small / 'bert_config.json'}",
                      f"--vocab_file={sample / 'vocab-nq.txt'}", f"--output_dir={tmp_path}",
                      f"--train_precomputed_file={small / 'train.tfrecord'}")
    assert code == 2 and line.startswith("run_nq: error: ") and named in line, line
    assert not any(tmp_path.iterdir())


def test_bad_training_inputs_are_refused(sample, small, tmp_path):
    common = (f"--bert_config_file={small / 'bert_config.json'}", f"--vocab_file={sample / 'vocab-nq.txt'}",
              f"--output_dir={tmp_path / 'out'}")
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    code, line = _cli("--do_train", *common, *SMALL_FLAGS, f"--train_precomputed_file={empty}")
    assert code == 2 and "empty.tfrecord" in line and "no records" in line, line
    code, line = _cli("--do_train", *common, *SMALL_FLAGS, f"--train_precomputed_file={small / 'train.tfrecord'}",
                      "--train_num_precomputed=1000000")
    assert code == 2 and "--train_num_precomputed 1000000 is larger than the" in line, line
    code, line = _cli("--do_train", *common, "--max_seq_length=80", f"--train_precomputed_file={small / 'train.tfrecord'}")
    assert code == 2 and "records of 96 positions, but --max_seq_length is 80" in line, line
    code, line = _cli("--do_train", *common, *SMALL_FLAGS, f"--train_precomputed_file={small / 'train.tfrecord'}",
                      f"--init_checkpoint={tmp_path / 'no-such.ckpt'}")
    assert code == 2 and line.startswith("run_nq: error: --init_checkpoint") and "no-such.ckpt" in line, line
    # bert_joint's relative style is a missing file, not a hub model name
    code, line = _cli("--do_train", *common, *SMALL_FLAGS, f"--train_precomputed_file={small / 'train.tfrecord'}",
                      "--init_checkpoint=bert_model.ckpt")
    assert code == 2 and "bert_model.ckpt: no such checkpoint" in line, line
    copied = tmp_path / "copied.tfrecord"
    copied.write_bytes((small / "train.tfrecord").read_bytes())
    (tmp_path / "copied.tfrecord.stats.json").write_text("{not json")
    code, line = _cli("--do_train", *common, *SMALL_FLAGS, f"--train_precomputed_file={copied}")
    assert code == 2 and "copied.tfrecord.stats.json: not a records stats JSON" in line, line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_duplicate_example_ids_are_refused(sample, trained, tmp_path):
    import gzip
    lines = gzip.open(sample / "dev-simplified.jsonl.gz", "rb").read().splitlines()[:3]
    dup = tmp_path / "dup.jsonl"
    dup.write_bytes(b"\n".join(lines + lines[1:2]) + b"\n")
    out, _ = trained
    code, line = _cli("--do_predict", f"--output_dir={out}", f"--predict_file={dup}",
                      f"--output_prediction_file={tmp_path / 'p.json'}")
    # The line of the repeat and of its first occurrence are both named.
    assert code == 2 and "dup.jsonl:4: duplicate example_id" in line and "dup.jsonl:2" in line, line
    assert not (tmp_path / "p.json").exists()


def test_records_of_another_file_are_refused(sample, trained, tmp_path):
    import gzip
    lines = gzip.open(sample / "dev-simplified.jsonl.gz", "rb").read().splitlines()
    first, other = tmp_path / "first.jsonl", tmp_path / "other.jsonl"
    first.write_bytes(b"\n".join(lines[:3]) + b"\n")
    other.write_bytes(b"\n".join(lines[3:6]) + b"\n")
    out, _ = trained
    records = tmp_path / "first.tfrecord"
    proc = run_module("nq_baseline.prepare_nq_data", f"--vocab_file={out / 'vocab.txt'}", *SMALL_FLAGS,
                      f"--input_jsonl={first}", f"--output_tfrecord={records}", "--is_training=false")
    assert proc.returncode == 0, proc.stderr
    code, line = _cli("--do_predict", f"--output_dir={out}", f"--predict_file={other}",
                      f"--predict_precomputed_file={records}", f"--output_prediction_file={tmp_path / 'p.json'}")
    assert code == 2 and "other.jsonl: a prediction record" in line and "another file" in line, line
    assert not (tmp_path / "p.json").exists()


def test_long_answer_head_trains_and_answers(sample, small, tmp_path):
    out = tmp_path / "head"
    proc = _train_predict(sample, small, out, 0, "--long_answer_head", "--null_score=answer_type",
                          "--answer_type_scope=example")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "nq_model.json").read_text())["model"]["long_answer_head"] is True
    preds = json.loads((out / "predictions.json").read_text())["predictions"]
    longs = [p for p in preds if p["long_answer"]["start_token"] >= 0]
    assert longs and any(p["long_answer_score"] != p["short_answers_score"] for p in longs)  # scored by the head
    for p in preds:  # every short answer lies inside the long answer
        for s in p["short_answers"]:
            assert p["long_answer"]["start_token"] <= s["start_token"] < s["end_token"] <= p["long_answer"]["end_token"]
    from nq_baseline import Reader
    reader = Reader.load(str(out))
    assert reader.postprocess.long_answer_from == "head" and reader.model.long_answer_head
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={small}", "--long_answer_from=head",
                      f"--predict_file={sample / 'dev-full.jsonl.gz'}", f"--bert_config_file={small / 'bert_config.json'}",
                      f"--vocab_file={sample / 'vocab-nq.txt'}", *SMALL_FLAGS, "--init_checkpoint=" + str(out))
    assert proc.returncode == 2 and "needs a model trained with --long_answer_head" in proc.stderr
