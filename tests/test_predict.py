"""The streaming prediction path: raw results, grouping per example, the predictions writer,
and run_nq --do_predict equal to the whole-file computation."""

import json
import os

import numpy as np
import pytest

from conftest import NQ_REAL, TINY_SEQ, run_module, tiny_model, write_tiny_records
from nq_baseline.features import windows as F
from nq_baseline.common import fileio
from nq_baseline.model import modeling
from nq_baseline.prediction import streaming as predict
from nq_baseline.model import datasets
from nq_baseline.prediction import postprocess as P
from nq_baseline.common.errors import NqInputError
from nq_baseline.reading.nq_data import Candidate, ExampleHead


def test_raw_results_keep_64_bit_ids_in_order(tmp_path):
    big = [2**31 + 5, 2**40 + 1, 2**53 + 1, 2**63 - 1, 3, 2**32, 2**62 + 7]
    path = write_tiny_records(tmp_path / "predict.tfrecord", len(big), is_training=False, unique_ids=big)
    model = tiny_model()
    results = list(predict.iter_raw_results(predict.ForwardFunction(model),
                                            datasets.make_predict_dataset(path, 3, TINY_SEQ)))
    assert [r.unique_id for r in results] == big
    assert all(type(r.unique_id) is int for r in results)
    r = results[1]
    assert r.start_logits.shape == (TINY_SEQ,) and r.start_logits.dtype == np.float32
    assert r.answer_type_logits.shape == (5,) and r.token_map.shape == (TINY_SEQ,)
    assert r.token_map[0] == -4 and r.example_id == 2**62 - 6 and r.doc_span_index == 1
    # Same numbers as calling the model directly.
    feats = next(iter(datasets.make_predict_dataset(path, 3, TINY_SEQ)))
    direct = model({k: feats[k] for k in modeling.MODEL_INPUT_KEYS})
    np.testing.assert_allclose(results[0].end_logits, direct["end_logits"][0], atol=1e-6)


def _raw(uid, eid=None, span=None, seq=8):
    rng = np.random.default_rng(uid & 0xFFFF)
    return P.RawResult(uid, rng.normal(size=seq).astype(np.float32), rng.normal(size=seq).astype(np.float32),
                       rng.normal(size=5).astype(np.float32), np.asarray([-1, -1, 0, 1, 2, 3, 4, -1]), eid, span)


def _heads(ids):
    return [ExampleHead(i, [Candidate(0, 5, True)]) for i in ids]


def test_grouping_streams_exactly_with_and_without_example_ids():
    ids = [2**63 - 2, 1000, 1001, -5, 77]
    windows = {2**63 - 2: 3, 1000: 2, 1001: 2, -5: 0, 77: 1}  # -5: a document without a window
    ours = [_raw(F.unique_id(e, k), e, k) for e in ids for k in range(windows[e])]
    legacy = [_raw(F.unique_id(e, k)) for e in ids for k in range(windows[e])]  # bert_joint records
    for results in (ours, legacy):
        grouped = list(predict.group_by_example(_heads(ids), iter(results)))
        assert [h.example_id for h, _ in grouped] == ids
        assert [len(w) for _, w in grouped] == [windows[e] for e in ids]
        assert grouped[0][1][2].unique_id == -(2**63)  # wrapped, yet kept with its example
    # adjacent ids collide in bert_joint's unique ids (1000+1 == 1001+0): grouping is still exact
    assert [w[1].unique_id for h, w in grouped if h.example_id == 1000] == [1001]


def test_grouping_refuses_duplicates_and_foreign_records():
    with pytest.raises(NqInputError, match="occurs twice"):
        list(predict.group_by_example(_heads([4, 5, 4]), iter([_raw(4, 4, 0), _raw(5, 5, 0), _raw(4, 4, 0)])))
    with pytest.raises(ValueError, match="belongs to no example"):
        list(predict.group_by_example(_heads([4]), iter([_raw(4, 4, 0), _raw(9, 9, 0)])))


def _known_window(example_id, k, start_at, end_at, value):
    """A window whose best span is [start_at, end_at] with score 2 * value ([CLS] logits are 0),
    positions 2..6 reading NQ tokens 10 + 5k .. 14 + 5k."""
    start, end = np.full(8, -10.0, np.float32), np.full(8, -10.0, np.float32)
    start[0] = end[0] = 0.0
    start[start_at], end[end_at] = value, value
    token_map = np.asarray([-1, -1] + [10 + 5 * k + i for i in range(5)] + [-1])
    return P.RawResult(F.unique_id(example_id, k), start, end, np.asarray([0, 0, 0, 5, 0], np.float32),
                       token_map, example_id, k)


def test_streaming_gives_each_example_its_known_answer():
    """Hand-made windows with known best spans: each example's prediction, streamed as its last
    window comes in, is the span and score worked out by hand (windows of another example, or
    none at all, change nothing)."""
    heads = [ExampleHead(e, [Candidate(0, 40, True)]) for e in (3, 9, -2**40, 77)]
    results = [_known_window(3, 0, 2, 3, 1.5), _known_window(3, 1, 4, 5, 2.5),  # window 1 wins: 5.0
               _known_window(9, 0, 3, 5, 4.0), _known_window(9, 1, 2, 2, 1.0),  # window 0 wins: 8.0
               _known_window(-2**40, 0, 6, 6, 0.25)]  # 77 has no window
    got = [p.prediction for p in predict.stream_predictions(heads, iter(results), P.PostprocessConfig())]

    def span(start, end):
        return {"start_token": start, "end_token": end, "start_byte": -1, "end_byte": -1}

    expected = [(3, span(17, 19), 5.0), (9, span(11, 14), 8.0), (-2**40, span(14, 15), 0.5)]
    for pred, (example_id, short, score) in zip(got, expected):
        assert pred == {"example_id": example_id, "long_answer": span(0, 40), "long_answer_score": score,
                        "short_answers": [short], "short_answers_score": score, "yes_no_answer": "NONE"}
    assert got[3]["example_id"] == 77 and got[3]["long_answer_score"] == P.NULL_SCORE
    assert got[3]["long_answer"] == span(-1, -1)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_predictions_writer_bytes_equal_the_json_file(tmp_path, count):
    preds = [P.predict_example(i, [Candidate(0, 5, True)], [_raw(i, i, 0)], P.PostprocessConfig(nbest=2))
             for i in range(count)]
    path, nbest = tmp_path / "p.json", tmp_path / "n.json"
    assert predict.write_predictions(str(path), iter(preds), str(nbest)) == count
    assert path.read_text() == fileio.json_text(P.predictions_json(preds))
    assert nbest.read_text() == fileio.json_text(P.nbest_json(preds))


def test_predictions_writer_leaves_nothing_on_error(tmp_path):
    def failing():
        yield P.predict_example(1, [], [], P.PostprocessConfig())
        raise ValueError("model failed")

    with pytest.raises(ValueError, match="model failed"):
        predict.write_predictions(str(tmp_path / "p.json"), failing())
    assert os.listdir(tmp_path) == []


def test_writing_removes_the_temporaries_of_killed_writers(tmp_path):
    """A killed run_nq (or nq_eval: every output goes through fileio) leaves its temporary;
    the next write of the same output removes it, not a live process's nor another output's."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale, live, other = (f".p.json.tmp-{dead}-0a0a0a0a", f".p.json.tmp-{os.getpid()}-1b1b1b1b",
                          f".q.json.tmp-{dead}-2c2c2c2c")
    for name in (stale, live, other):
        (tmp_path / name).write_text("partial")
    predict.write_predictions(str(tmp_path / "p.json"), iter([P.predict_example(1, [], [], P.PostprocessConfig())]))
    assert sorted(os.listdir(tmp_path)) == sorted([live, other, "p.json"])


def test_run_nq_predicts_the_same_from_the_file_and_from_its_records(random_model_folder, tmp_path):
    """Two routes to the windows: made in memory from the NQ file (run_nq's default, the Reader's
    path, grouped by the known count per example) and read from prepare_nq_data's records
    (grouped by example ids): the same predictions and n-best files, byte for byte, on the real
    NQ examples (both formats)."""
    folder, _ = random_model_folder
    predict_file = str(NQ_REAL / "*.jsonl.gz")
    records = tmp_path / "dev.tfrecord"
    proc = run_module("nq_baseline.prepare_nq_data", f"--vocab_file={folder / 'vocab.txt'}", "--is_training=false",
                      f"--input_jsonl={predict_file}", f"--output_tfrecord={records}", "--max_seq_length=128",
                      "--doc_stride=64")
    assert proc.returncode == 0, proc.stderr
    outputs = {}
    for route, extra in (("file", []), ("records", [f"--predict_precomputed_file={records}"])):
        out, nbest = tmp_path / f"{route}.json", tmp_path / f"{route}-nbest.json"
        proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={folder}",
                          f"--predict_file={predict_file}", f"--output_prediction_file={out}",
                          f"--output_nbest_file={nbest}", "--predict_batch_size=16", *extra)
        assert proc.returncode == 0, proc.stderr
        outputs[route] = (out.read_bytes(), nbest.read_bytes())
    assert outputs["file"] == outputs["records"]
    predictions = json.loads(outputs["file"][0])["predictions"]
    assert len(predictions) == 5 and len({p["example_id"] for p in predictions}) == 5
    assert any(p["long_answer"]["start_token"] >= 0 for p in predictions)
