"""prepare (the library) and prepare_nq_data (its CLI): determinism, shards, stats, bad input."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NQ_REAL, ROOT, prepare_config, real_input, require_nq_real, run_module, synthetic_nq
from nq_baseline import nq_data
from nq_baseline import records as R
from nq_baseline.prepare import prepare


def test_output_identical_for_any_number_of_workers(nq_vocab, tmp_path):
    inp = real_input(tmp_path)
    outs = []
    for workers in (1, 2):
        cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.3, num_workers=workers, random_seed=7)
        out = tmp_path / f"w{workers}.tfrecord"
        stats = prepare(str(inp), str(out), cfg)
        outs.append(out.read_bytes())
        assert stats["num_examples"] == 30
    assert outs[0] == outs[1]
    recs = [R.parse_record(r) for r in R.read_records(str(tmp_path / "w1.tfrecord"))]
    ids = [int(r["unique_ids"][0]) for r in recs]
    assert ids != sorted(ids), "training records are shuffled"
    cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.3, random_seed=8)
    prepare(str(inp), str(tmp_path / "s8.tfrecord"), cfg)
    assert (tmp_path / "s8.tfrecord").read_bytes() != outs[0], "the seed changes the sample"


def test_shards_gzip_and_stats(nq_vocab, tmp_path):
    inp = real_input(tmp_path, copies=2)
    out = tmp_path / "sh" / "train.tfrecord"
    cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.5, num_shards=3, gzip=True)
    stats = prepare(str(inp), str(out), cfg)
    shards = sorted((tmp_path / "sh").glob("train.tfrecord-*"))
    assert [p.name for p in shards] == [f"train.tfrecord-{i:05d}-of-00003" for i in range(3)]
    assert all(p.read_bytes()[:2] == b"\x1f\x8b" for p in shards)
    assert sum(1 for _ in R.read_records(str(out) + "-*")) == stats["num_instances"]
    saved = json.loads((tmp_path / "sh" / "train.tfrecord.stats.json").read_text())
    for key in ("num_examples", "num_instances", "num_skipped", "seconds", "examples_with_correct_context",
                "instances_by_answer_type", "windows_per_example"):
        assert key in saved
    assert sum(saved["instances_by_answer_type"].values()) == saved["num_instances"]
    assert not list((tmp_path / "sh").glob("*.tmp-*")) and not list((tmp_path / "sh").glob(".prepare-*"))


def _good_line():
    return json.dumps(synthetic_nq(gold_candidate=2))


@pytest.mark.parametrize("case,expect", [
    ("notjson", "not valid JSON"),
    ("missing", "lacks the field 'question_text'"),
    ("range", "out of range"),
    ("truncated", "unreadable input"),
])
def test_bad_input_is_named_and_leaves_nothing(nq_vocab, tmp_path, case, expect):
    good = _good_line()
    path = tmp_path / "bad.jsonl"
    if case == "notjson":
        path.write_text(good + "\n{oops\n")
    elif case == "missing":
        obj = json.loads(good)
        del obj["question_text"]
        path.write_text(good + "\n" + good + "\n" + json.dumps(obj) + "\n")
    elif case == "range":
        obj = json.loads(good)
        obj["long_answer_candidates"][1]["end_token"] = 10_000
        path.write_text(good + "\n" + json.dumps(obj) + "\n")
    else:
        path = tmp_path / "bad.jsonl.gz"
        data = gzip.compress(((good + "\n") * 50).encode())
        path.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out" / "x.tfrecord"
    proc = run_module("nq_baseline.prepare_nq_data", f"--vocab_file={nq_vocab}", f"--input_jsonl={path}",
                      f"--output_tfrecord={out}", "--include_unknowns=1", "--synonym_augment_copies=0")
    assert proc.returncode == 2, proc.stderr
    assert expect in proc.stderr and str(path) in proc.stderr
    if case in ("notjson", "missing", "range"):
        line = {"notjson": 2, "missing": 3, "range": 2}[case]
        assert f"{path}:{line}:" in proc.stderr
    leftovers = list(out.parent.glob("*")) if out.parent.exists() else []
    assert leftovers == []


def test_skip_bad_examples_counts_them(nq_vocab, tmp_path):
    good = _good_line()
    path = tmp_path / "mixed.jsonl"
    path.write_text(good + "\n{oops\n" + good + "\n")
    cfg = prepare_config(nq_vocab, is_training=False, skip_bad_examples=True)
    stats = prepare(str(path), str(tmp_path / "o.tfrecord"), cfg)
    assert stats["num_skipped"] == 1 and stats["num_examples"] == 2


def test_cli_help_and_glob_of_comma_list(nq_vocab, tmp_path):
    proc = run_module("nq_baseline.prepare_nq_data", "--helpfull")
    assert "include_unknowns" in proc.stdout and "synonym_augment_rate" in proc.stdout  # absl exits 1 after help
    require_nq_real()
    out = tmp_path / "p.tfrecord"
    proc = run_module("nq_baseline.prepare_nq_data", f"--vocab_file={nq_vocab}", "--is_training=false",
                      f"--input_jsonl={NQ_REAL}/nq-dev-*.jsonl.gz,{NQ_REAL}/nq-simplified-4.jsonl.gz",
                      f"--output_tfrecord={out}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(Path(str(out) + ".stats.json").read_text())["num_examples"] == 5


def test_workers_name_the_bad_line_of_a_plain_file(nq_vocab, tmp_path):
    """With workers reading their own lines, the error still names the file and line."""
    good = _good_line()
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good] * 9 + ["", "{oops"] + [good] * 5) + "\n")
    cfg = prepare_config(nq_vocab, is_training=False, num_workers=2)
    with pytest.raises(nq_data.NqInputError, match=rf"{path}:11: not valid JSON"):
        prepare(str(path), str(tmp_path / "o.tfrecord"), cfg)
    assert not list(tmp_path.glob("o.tfrecord*"))


def test_prepare_does_not_import_tensorflow():
    """Preparing records needs no TensorFlow: light workers, quick start-up."""
    code = "import sys, nq_baseline.prepare_nq_data; print(any(m.startswith('tensorflow') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"

