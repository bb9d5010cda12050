"""Features for the long-answer head: candidate markers per window, the long label, negative sampling,
and their round trip through records and the tf.data parser."""

import random

import numpy as np
import pytest

from nq_baseline import features as F
from nq_baseline import records as R
from nq_baseline.nq_data import Annotation, Candidate, NqDocument
from nq_baseline.tokenization import NqTokenizer


def _doc(n_paragraphs=60, words=6, gold=None, nested_first=True):
    """Paragraphs of `words` words; with nested_first, candidate 0 is a list holding candidate 1
    (so top-level indices are not consecutive); `gold`: index of the long-answer candidate."""
    tokens, is_html, cands = [], [], []
    if nested_first:
        tokens += ["<Ul>", "<Li>", "item", "one", "</Li>", "</Ul>"]
        is_html += [True, True, False, False, True, True]
        cands += [Candidate(0, 6, True), Candidate(1, 5, False)]
    for p in range(n_paragraphs):
        start = len(tokens)
        tokens += ["<P>"] + [f"w{p}x{k}" if k else "town" for k in range(words)] + ["</P>"]
        is_html += [True] + [False] * words + [True]
        cands.append(Candidate(start, len(tokens), True))
    anns = []
    if gold is not None:
        c = cands[gold]
        anns = [Annotation(gold, c.start_token, c.end_token, [], "NONE")]
    return NqDocument(7, "where is the town", "T", tokens, is_html, cands, anns)


def test_candidate_map_marks_every_marker_with_its_candidate_even_past_50(nq_vocab):
    tok = NqTokenizer(str(nq_vocab))
    doc = _doc(gold=55)
    cfg = F.FeatureConfig(max_seq_length=64, doc_stride=32, max_query_length=16, max_contexts=100)
    ex = F.build_example(doc, cfg)
    feats = F.make_features(ex, tok, cfg, is_training=False)
    seen = {}
    for f in feats:
        for pos in np.flatnonzero(f.candidate_map >= 0):
            cand = int(f.candidate_map[pos])
            word = tok.convert_ids_to_tokens([f.input_ids[pos]])[0]
            # the vocabulary knows [ContextId=i] up to 50: past it the marker is [UNK], the map still knows
            assert word == (f"[ContextId={cand}]" if cand <= 50 else "[UNK]")
            assert f.token_map[pos] == -1 and doc.candidates[cand].top_level
            seen[cand] = True
    assert sorted(seen) == [i for i, c in enumerate(doc.candidates) if c.top_level][:cfg.max_contexts - 1]
    train = F.make_features(F.build_example(doc, dataclasses_replace(cfg, include_unknowns=1.0)), tok,
                            dataclasses_replace(cfg, include_unknowns=1.0), True, random.Random(0))
    for f in train:
        if f.long_position > 0:
            assert f.candidate_map[f.long_position] == 55
        else:
            assert f.long_position == 0 and 55 not in f.candidate_map
    assert any(f.long_position > 0 for f in train)


def dataclasses_replace(cfg, **kw):
    import dataclasses
    return dataclasses.replace(cfg, **kw)


def test_negatives_per_positive(nq_vocab):
    tok = NqTokenizer(str(nq_vocab))
    cfg = F.FeatureConfig(max_seq_length=64, doc_stride=32, max_query_length=16, max_contexts=100, negatives_per_positive=2.0)
    answered, null = _doc(gold=30), _doc(gold=None)
    for doc, positives in ((answered, None), (null, 0)):
        ex = F.build_example(doc, cfg)
        for seed in range(5):
            feats = F.make_features(ex, tok, cfg, True, random.Random(seed))
            n_pos = sum(f.answer_type != F.UNKNOWN for f in feats)
            assert positives is None or n_pos == positives
            assert sum(f.answer_type == F.UNKNOWN for f in feats) == 2 * max(1, n_pos)
            assert [f.doc_span_index for f in feats] == sorted(f.doc_span_index for f in feats)
    half = dataclasses_replace(cfg, negatives_per_positive=0.5)
    counts = [sum(f.answer_type == F.UNKNOWN for f in F.make_features(F.build_example(null, half), tok, half, True,
                                                                         random.Random(s))) for s in range(200)]
    assert set(counts) == {0, 1} and 70 < sum(counts) < 130
    with pytest.raises(ValueError, match="negatives_per_positive"):
        F.FeatureConfig(negatives_per_positive=float("nan"))


def test_marker_lists_round_trip_through_records_and_the_parser(nq_vocab, tmp_path):
    import tensorflow as tf

    from nq_baseline import training

    tok = NqTokenizer(str(nq_vocab))
    doc = _doc(gold=52)
    for training_mode in (True, False):
        cfg = F.FeatureConfig(max_seq_length=64, doc_stride=32, max_query_length=16, max_contexts=100, include_unknowns=1.0)
        feats = F.make_features(F.build_example(doc, cfg), tok, cfg, training_mode, random.Random(1))
        ids = [F.unique_id(7, f.doc_span_index) for f in feats]
        blobs = R.serialize_features(feats, training_mode, ids)
        assert blobs == [R.serialize_feature(f, training_mode, u) for f, u in zip(feats, ids)]
        path = tmp_path / f"r{int(training_mode)}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as w:
            for b in blobs:
                w.write(b)
        ds = (training.make_train_dataset(str(path), len(feats), 64, shuffle=False, repeat=False) if training_mode
              else training.make_predict_dataset(str(path), len(feats), 64))
        batch = next(iter(ds))
        np.testing.assert_array_equal(batch["candidate_map"].numpy(), np.stack([f.candidate_map for f in feats]))
        if training_mode:
            assert batch["long_positions"].numpy().tolist() == [f.long_position for f in feats]
