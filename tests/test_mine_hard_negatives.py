"""tools/mine_hard_negatives.py: the null windows a model scores highest, as training records."""

import importlib.util
import json

import numpy as np

from conftest import NQ_REAL, ROOT
from nq_baseline.prediction import postprocess as P

_spec = importlib.util.spec_from_file_location("mine_hard_negatives", ROOT / "tools" / "mine_hard_negatives.py")
mine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mine)


def test_window_score_is_the_best_span_of_the_post_processing():
    """Against post-processing itself: the best span score with every position a candidate."""
    rng = np.random.default_rng(0)
    n, seq = 6, 24
    outputs = {"start_logits": rng.normal(size=(n, seq)).astype(np.float32),
               "end_logits": rng.normal(size=(n, seq)).astype(np.float32)}
    token_map = np.where(rng.random((n, seq)) < 0.8, np.arange(seq), -1)
    token_map[:, 0] = -1
    windows = {"token_map": token_map, "candidate_map": np.full((n, seq), -1)}
    got = mine.window_scores(outputs, windows, max_answer_length=5)
    for i in range(n):
        r = P.RawResult(0, outputs["start_logits"][i], outputs["end_logits"][i], np.zeros(5, np.float32), token_map[i])
        best = max(c.score for c in P.window_candidates(r, seq, 5))
        assert got[i] == np.float32(best) or abs(got[i] - best) < 1e-5


def test_mined_records_are_the_highest_scored_null_windows(random_model_folder, tmp_path):
    from nq_baseline import Reader
    from nq_baseline.model import datasets

    folder, _ = random_model_folder
    out = tmp_path / "hard.tfrecord"
    assert mine.main([f"--model_dir={folder}", f"--input_jsonl={NQ_REAL / '*.jsonl.gz'}",
                      f"--output_tfrecord={out}", "--per_example=3"]) == 0
    stats = json.loads((tmp_path / "hard.tfrecord.stats.json").read_text())
    batch = next(iter(datasets.make_train_dataset(str(out), stats["num_instances"], 128, shuffle=False,
                                                  repeat=False)))
    assert stats["num_instances"] == 15 and stats["num_examples"] == 5  # 3 of each example's many windows
    assert set(batch["answer_types"].numpy()) == {0} and set(batch["start_positions"].numpy()) == {0}
    assert set(batch["long_positions"].numpy()) == {0}
    # the choice checked by another path: every window of the first example through the Reader,
    # scored by post-processing; the chosen ones are null windows scoring at least every other null one
    import dataclasses
    import random

    from nq_baseline.features import windows as F
    from nq_baseline.reading.nq_data import read_documents

    reader = Reader.load(str(folder))
    path = str(NQ_REAL / "nq-dev-full-1.jsonl.gz")
    doc = next(iter(read_documents(path)))
    (feats, _), = list(mine.mine(reader, path, 3, 0))
    chosen = {f.doc_span_index for f in feats}
    every = dataclasses.replace(reader.features, include_unknowns=1.0)
    labels = F.make_features(F.build_example(doc, every), reader.tokenizer, every, True, random.Random(0))
    null_windows = {f.doc_span_index for f in labels if f.answer_type == F.UNKNOWN}
    assert len(chosen) == 3 and chosen <= null_windows and len(null_windows) > 3
    enc = reader.encode([doc.question_text], doc)
    out = reader.run(enc.windows)
    seq = enc.windows["input_ids"].shape[1]
    scores = [max(c.score for c in P.window_candidates(
        P.RawResult(0, out["start_logits"][k], out["end_logits"][k], out["answer_type_logits"][k],
                    enc.windows["token_map"][k]), seq, 30)) for k in range(enc.num_windows)]
    assert min(scores[k] for k in chosen) >= max(scores[k] for k in null_windows - chosen) - 1e-5
