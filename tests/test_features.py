"""features: bert_joint's window layout, labels and token_map (build_example, make_features), and the
long-answer head's inputs: candidate markers per window, the long label, negative sampling, and their
round trip through records and the tf.data parser."""

import gzip
import json
import random

import numpy as np
import pytest

from conftest import NQ_REAL, prepare_config, real_input, synthetic_nq
from nq_baseline.features import windows as F
from nq_baseline.reading import nq_data
from nq_baseline.features import records as R
from nq_baseline.reading.nq_data import Annotation, Candidate, NqDocument
from support import iter_features, serialize_feature
from nq_baseline.features.tokenization import NqTokenizer


def _doc_pieces(tok, doc, t):
    return list(tok.word_ids([doc.tokens[t].replace(" ", "")])[0])


def test_prediction_windows_follow_bert_joint_layout(nq_vocab):
    tok = NqTokenizer(str(nq_vocab))
    cfg = prepare_config(nq_vocab, is_training=False)
    n_docs = 0
    for doc, ex, feats in iter_features(str(NQ_REAL / "*.jsonl.gz"), cfg):
        n_docs += 1
        assert feats, "every document gives at least one window"
        query = [tok.vocab["[Q]"]] + tok.tokenize_text(doc.question_text)
        query = query[-64:]
        seen_tokens = set()
        for k, f in enumerate(feats):
            assert f.doc_span_index == k and f.example_id == doc.example_id
            toks = tok.convert_ids_to_tokens(f.input_ids)
            n = int(f.input_mask.sum())
            assert toks[0] == "[CLS]" and toks[1] == "[Q]"
            assert list(f.input_ids[1:1 + len(query)]) == query
            assert toks[1 + len(query)] == "[SEP]" and toks[n - 1] == "[SEP]"
            assert list(f.input_mask[:n]) == [1] * n and not f.input_mask[n:].any()
            assert not f.segment_ids[:len(query) + 2].any()
            assert f.segment_ids[len(query) + 2:n].all() and not f.segment_ids[n:].any()
            assert not f.input_ids[n:].any()
            assert (f.token_map[:len(query) + 2] == -1).all() and (f.token_map[n - 1:] == -1).all()
            if k == 0:
                first_ctx = ex.context_candidates[0]
                kind = F.candidate_type(doc, first_ctx)
                assert toks[len(query) + 2:len(query) + 6] == [
                    "[ContextId=-1]", "[NoLongAnswer]", f"[ContextId={first_ctx}]", f"[{kind}=1]"]
            # every mapped piece is a piece of the NQ token it maps to, in order
            pos = len(query) + 2
            while pos < n - 1:
                t = int(f.token_map[pos])
                if t < 0:
                    assert toks[pos].startswith("[") and toks[pos].endswith("]")
                    pos += 1
                    continue
                assert not doc.is_html[t]
                pieces = _doc_pieces(tok, doc, t)
                run = 1
                while pos + run < n - 1 and int(f.token_map[pos + run]) == t:
                    run += 1
                window_pieces = list(f.input_ids[pos:pos + run])
                assert window_pieces == pieces[:run] or window_pieces == pieces[-run:], (t, doc.tokens[t])
                seen_tokens.add(t)
                pos += run
        # every annotated long and short answer decodes back through token_map
        for a in doc.annotations:
            if not a.has_long_answer or not doc.candidates[a.candidate_index].top_level:
                continue
            if a.candidate_index not in ex.context_candidates:
                continue
            want = {t for t in range(a.long_start_token, a.long_end_token)
                    if not doc.is_html[t] and tok.word_ids([doc.tokens[t].replace(" ", "")])[0]}
            assert want <= seen_tokens
            for s in a.short_answers:
                span = [t for t in range(s.start_token, s.end_token) if not doc.is_html[t]]
                assert set(span) <= seen_tokens
    assert n_docs == 5


def test_training_labels_decode_to_the_gold_answer(nq_vocab, tmp_path):
    cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=1.0)
    checked = 0
    for doc, ex, feats in iter_features(str(real_input(tmp_path, copies=1, annotated_only=True)), cfg):
        annotation, idx, short = F.first_annotation(doc)
        positives = [f for f in feats if f.answer_type != F.UNKNOWN]
        if annotation is None:
            assert positives == [] and ex.answer_type == F.UNKNOWN
            assert all((f.start_position, f.end_position) == (0, 0) for f in feats)
            continue
        assert positives, "an answer inside a kept context gives at least one positive window"
        for f in positives:
            mapped = [int(t) for t in f.token_map[f.start_position:f.end_position + 1]]
            assert -1 not in mapped
            if short is not None:
                want = [t for t in range(short[0], short[1]) if not doc.is_html[t]]
                assert f.answer_type == F.SHORT
            else:
                c = doc.candidates[idx]
                want = [t for t in range(c.start_token, c.end_token) if not doc.is_html[t]]
                assert f.answer_type == F.LONG
            assert sorted(set(mapped)) == want
            checked += 1
    assert checked >= 3


def test_simplified_and_original_formats_give_identical_features(nq_vocab, tmp_path):
    """The original example rewritten in the simplified format gives the same features."""
    raw = gzip.open(NQ_REAL / "nq-dev-full-1.jsonl.gz", "rb").readline()
    obj = json.loads(raw)
    assert all(nq_data.is_html_token(t["token"]) == t["html_token"] for t in obj["document_tokens"]), \
        "the simplified format's tag rule agrees with the real html_token flags"
    simple = {
        "example_id": obj["example_id"], "question_text": obj["question_text"],
        "document_text": " ".join(t["token"] for t in obj["document_tokens"]),
        "long_answer_candidates": [{k: c[k] for k in ("start_token", "end_token", "top_level")}
                                   for c in obj["long_answer_candidates"]],
        "annotations": [{"long_answer": {k: a["long_answer"][k] for k in ("start_token", "end_token",
                                                                         "candidate_index")},
                         "short_answers": [{"start_token": s["start_token"], "end_token": s["end_token"]}
                                           for s in a["short_answers"]],
                         "yes_no_answer": a["yes_no_answer"]} for a in obj["annotations"]],
    }
    (tmp_path / "s.jsonl").write_text(json.dumps(simple) + "\n")
    (tmp_path / "o.jsonl").write_bytes(raw)
    for training in (True, False):
        cfg = prepare_config(nq_vocab, is_training=training, include_unknowns=0.5)
        a = list(iter_features(str(tmp_path / "o.jsonl"), cfg))[0][2]
        b = list(iter_features(str(tmp_path / "s.jsonl"), cfg))[0][2]
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            for name in ("input_ids", "input_mask", "segment_ids", "token_map"):
                assert (getattr(x, name) == getattr(y, name)).all()
            assert (x.start_position, x.end_position, x.answer_type) == (y.start_position, y.end_position,
                                                                          y.answer_type)


def _example(obj, **kw):
    doc = nq_data.document_from_json(obj)
    return doc, F.build_example(doc, F.FeatureConfig(**kw))


def test_spaces_inside_a_token_are_removed_as_bert_joint_does():
    # bert_joint's create_example_from_jsonl joins the candidate's tokens with
    # t["token"].replace(" ", ""): a token holding a space is one word without it
    obj = synthetic_nq(gold_candidate=2)
    _, plain = _example(obj)
    text = [i for i, t in enumerate(obj["document_tokens"]) if not t["html_token"]]
    for i in text[:3]:
        token = obj["document_tokens"][i]["token"]
        obj["document_tokens"][i]["token"] = token[:1] + " " + token[1:] + " "
    doc, spaced = _example(obj)
    assert any(" " in doc.tokens[i] for i in text[:3])
    assert spaced.words == plain.words and spaced.word_map == plain.word_map
    assert not any(" " in w for w in spaced.words)


def test_nested_gold_maps_to_its_top_level_candidate():
    doc, ex = _example(synthetic_nq(gold_candidate=1))
    assert ex.gold_status == "nested_mapped" and not ex.has_correct_context
    assert ex.answer_type == F.SHORT
    assert [doc.tokens[ex.word_map[w]] for w in range(ex.start_word, ex.end_word + 1)] == ["ilsa", "varn"]
    doc, ex = _example(synthetic_nq(gold_candidate=1, short=False))
    assert ex.answer_type == F.LONG
    assert ex.words[ex.start_word - 2:ex.start_word] == ["[ContextId=0]", "[Table=1]"]


def test_legacy_labels_reproduce_bert_joint_misplaced_span():
    doc, ex = _example(synthetic_nq(gold_candidate=1), legacy_labels=True)
    assert ex.gold_status == "legacy_misplaced"
    # bert_joint never shifted the offsets into the flattened document: the span sits at its start
    assert ex.start_word < 4 and ex.words[0] == "[ContextId=-1]"


def test_gold_past_max_contexts_becomes_unknown():
    doc, ex = _example(synthetic_nq(gold_candidate=4, n_paragraphs=5), max_contexts=3)
    assert ex.gold_status == "past_max_contexts" and ex.answer_type == F.UNKNOWN
    assert (ex.start_word, ex.end_word) == (0, 0)
    doc, ex = _example(synthetic_nq(gold_candidate=3, n_paragraphs=5), max_contexts=5)
    assert ex.gold_status == "kept" and ex.answer_type == F.SHORT


def test_max_position_caps_type_counters():
    doc, ex = _example(synthetic_nq(gold_candidate=2, n_paragraphs=6), max_position=3)
    markers = [w for w in ex.words if w.startswith("[Paragraph=")]
    assert markers == ["[Paragraph=1]", "[Paragraph=2]", "[Paragraph=3]", "[Paragraph=3]", "[Paragraph=3]",
                       "[Paragraph=3]"]


def test_question_keeps_last_max_query_length_pieces(nq_vocab):
    obj = synthetic_nq(gold_candidate=2)
    obj["question_text"] = " ".join(f"q{i}" for i in range(40))
    doc = nq_data.document_from_json(obj)
    cfg = F.FeatureConfig(max_query_length=10, max_seq_length=64)
    tok = NqTokenizer(str(nq_vocab))
    f = F.make_features(F.build_example(doc, cfg), tok, cfg, False)[0]
    want = [tok.vocab["[Q]"]] + tok.tokenize_text(obj["question_text"])
    assert list(f.input_ids[1:11]) == want[-10:]


# ----------------------------------------------------------------------------- the long-answer head


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

    from nq_baseline.model import datasets

    tok = NqTokenizer(str(nq_vocab))
    doc = _doc(gold=52)
    for training_mode in (True, False):
        cfg = F.FeatureConfig(max_seq_length=64, doc_stride=32, max_query_length=16, max_contexts=100, include_unknowns=1.0)
        feats = F.make_features(F.build_example(doc, cfg), tok, cfg, training_mode, random.Random(1))
        ids = [F.unique_id(7, f.doc_span_index) for f in feats]
        blobs = R.serialize_features(feats, training_mode, ids)
        assert blobs == [serialize_feature(f, training_mode, u) for f, u in zip(feats, ids)]
        path = tmp_path / f"r{int(training_mode)}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as w:
            for b in blobs:
                w.write(b)
        ds = (datasets.make_train_dataset(str(path), len(feats), 64, shuffle=False, repeat=False) if training_mode
              else datasets.make_predict_dataset(str(path), len(feats), 64))
        batch = next(iter(ds))
        np.testing.assert_array_equal(batch["candidate_map"].numpy(), np.stack([f.candidate_map for f in feats]))
        if training_mode:
            assert batch["long_positions"].numpy().tolist() == [f.long_position for f in feats]


def test_simplified_tags_with_attributes_change_only_the_windows_that_follow_them(nq_vocab):
    """Reading `<Td_colspan="2">` as an html token (not as the words `td`, `_`, `colspan`...)
    changes the real examples' windows only from the first window that holds such a tag: the
    windows before it, and every window of the example without one, are those of the old
    reading (the same document with those tokens taken as words)."""
    import dataclasses

    tok = NqTokenizer(str(nq_vocab))
    cfg = F.FeatureConfig()
    docs = list(nq_data.read_documents(str(NQ_REAL / "nq-simplified-4.jsonl.gz")))
    changed_examples = 0
    for doc in docs:
        tagged = [i for i, t in enumerate(doc.tokens) if t.startswith("<") and "_" in t]
        old = dataclasses.replace(doc, is_html=[h and i not in tagged for i, h in enumerate(doc.is_html)])
        new_ex, old_ex = F.build_example(doc, cfg), F.build_example(old, cfg)
        new_words = [w for w in new_ex.words if "colspan" in w]
        assert not new_words
        new = F.question_windows(F.document_pieces(new_ex, tok), doc.question_text, tok, cfg)[0]
        was = F.question_windows(F.document_pieces(old_ex, tok), doc.question_text, tok, cfg)[0]
        first_tagged = min([w for w in range(len(was["token_map"]))
                            if set(was["token_map"][w].tolist()) & set(tagged)], default=None)
        same = min(len(new["input_ids"]), len(was["input_ids"])) if first_tagged is None else first_tagged
        for key in ("input_ids", "token_map"):
            assert (new[key][:same] == was[key][:same]).all(), (doc.example_id, key)
        if first_tagged is None:
            assert len(new["input_ids"]) == len(was["input_ids"])
        else:
            changed_examples += 1
            assert not (new["input_ids"][first_tagged] == was["input_ids"][first_tagged]).all()
    assert changed_examples >= 2  # the tags fall in the first 48 paragraphs of at least two pages
