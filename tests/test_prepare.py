"""prepare_nq_data: bert_joint's feature layout, labels, records, determinism and bad input."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import NQ_REAL, ROOT, SHARED, require_nq_real, run_module
from nq_baseline import features as F
from nq_baseline import nq_data
from nq_baseline import records as R
from nq_baseline.prepare import PrepareConfig, iter_features, prepare
from nq_baseline.tokenization import SPECIAL_TOKEN_RE, NqTokenizer


# --------------------------------------------------------------------------- vocabulary


def test_vocab_builder_reproduces_bert_joint_vocab(nq_vocab):
    ref = SHARED / "bert-joint" / "vocab-nq.txt"
    if not ref.exists():
        pytest.skip(f"{ref} absent (../shared/data)")
    assert nq_vocab.read_bytes() == ref.read_bytes()


def test_vocab_builder_fails_without_unused_slots(tmp_path):
    small = tmp_path / "vocab.txt"
    small.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")
    out = tmp_path / "out.txt"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_nq_vocab.py"), "--input", str(small),
                           "--output", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unused" in proc.stderr and str(small) in proc.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- tokenizer


def test_tokenizer_matches_transformers_bert_tokenizer_on_real_text(nq_vocab):
    from transformers import BertTokenizer

    require_nq_real()
    ref = BertTokenizer(vocab=str(nq_vocab), do_lower_case=True)  # vocab_file= maps all to [UNK] in 5.x
    ours = NqTokenizer(str(nq_vocab))
    words = []
    for doc in nq_data.read_documents(str(NQ_REAL / "*.jsonl.gz")):
        words += [t for t, h in zip(doc.tokens, doc.is_html) if not h][:1500]
        words += doc.question_text.split(" ")
    words = [w.replace(" ", "") for w in words if w.strip() and not SPECIAL_TOKEN_RE.match(w)]
    got = ours.word_ids(words)
    mismatches = [w for w, ids in zip(words, got) if list(ids) != ref.convert_tokens_to_ids(ref.tokenize(w))]
    assert len(words) > 5000
    assert mismatches == []
    unk = sum(ids.count(ours.unk_id) for ids in got)
    assert unk / len(words) < 0.01, "real text must not come out as [UNK]"


def test_markers_are_looked_up_whole(nq_vocab):
    tok = NqTokenizer(str(nq_vocab))
    ids = tok.tokenize_text("[ContextId=3] [Paragraph=2] [Other=1] hello")
    assert tok.convert_ids_to_tokens(ids) == ["[ContextId=3]", "[Paragraph=2]", "[UNK]", "hello"]


# --------------------------------------------------------------------------- layout on real data


def _cfg(vocab, **kw):
    fkw = {k: kw.pop(k) for k in list(kw) if k in F.FeatureConfig.__dataclass_fields__}
    return PrepareConfig(vocab_file=str(vocab), features=F.FeatureConfig(**fkw), **kw)


def _doc_pieces(tok, doc, t):
    return list(tok.word_ids([doc.tokens[t].replace(" ", "")])[0])


def test_prediction_windows_follow_bert_joint_layout(nq_vocab):
    require_nq_real()
    tok = NqTokenizer(str(nq_vocab))
    cfg = _cfg(nq_vocab, is_training=False)
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


def test_training_labels_decode_to_the_gold_answer(nq_vocab):
    require_nq_real()
    cfg = _cfg(nq_vocab, is_training=True, include_unknowns=1.0)
    checked = 0
    for doc, ex, feats in iter_features(str(NQ_REAL / "*.jsonl.gz"), cfg):
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
    require_nq_real()
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
        cfg = _cfg(nq_vocab, is_training=training, include_unknowns=0.5)
        a = list(iter_features(str(tmp_path / "o.jsonl"), cfg))[0][2]
        b = list(iter_features(str(tmp_path / "s.jsonl"), cfg))[0][2]
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            for name in ("input_ids", "input_mask", "segment_ids", "token_map"):
                assert (getattr(x, name) == getattr(y, name)).all()
            assert (x.start_position, x.end_position, x.answer_type) == (y.start_position, y.end_position,
                                                                          y.answer_type)


# --------------------------------------------------------------------------- labels when gold is not kept


def _synthetic(gold_candidate: int, n_paragraphs: int = 3, short=True):
    """A tiny original-format doc: a table with a nested row, then paragraphs."""
    tokens, cands = [], []

    def block(open_tag, words, close_tag, top=True):
        start = len(tokens)
        tokens.append({"token": open_tag, "html_token": True})
        for w in words:
            tokens.append({"token": w, "html_token": False})
        tokens.append({"token": close_tag, "html_token": True})
        cands.append({"start_token": start, "end_token": len(tokens), "top_level": top})

    start = len(tokens)
    tokens.append({"token": "<Table>", "html_token": True})
    cands.append(None)
    block("<Tr>", ["mayor", "ilsa", "varn"], "</Tr>", top=False)
    tokens.append({"token": "</Table>", "html_token": True})
    cands[0] = {"start_token": start, "end_token": len(tokens), "top_level": True}
    for i in range(n_paragraphs):
        block("<P>", [f"word{i}", "alpha", "beta", f"fact{i}"], "</P>")
    c = cands[gold_candidate]
    ann = {"long_answer": {"start_token": c["start_token"], "end_token": c["end_token"],
                           "candidate_index": gold_candidate},
           "short_answers": [{"start_token": c["end_token"] - 3, "end_token": c["end_token"] - 1}] if short else [],
           "yes_no_answer": "NONE"}
    return {"example_id": 2**62 + 5, "question_text": "who is the mayor", "document_tokens": tokens,
            "long_answer_candidates": cands, "annotations": [ann]}


def _example(obj, **kw):
    doc = nq_data.document_from_json(obj)
    return doc, F.build_example(doc, F.FeatureConfig(**kw))


def test_nested_gold_maps_to_its_top_level_candidate():
    doc, ex = _example(_synthetic(gold_candidate=1))
    assert ex.gold_status == "nested_mapped" and not ex.has_correct_context
    assert ex.answer_type == F.SHORT
    assert [doc.tokens[ex.word_map[w]] for w in range(ex.start_word, ex.end_word + 1)] == ["ilsa", "varn"]
    doc, ex = _example(_synthetic(gold_candidate=1, short=False))
    assert ex.answer_type == F.LONG
    assert ex.words[ex.start_word - 2:ex.start_word] == ["[ContextId=0]", "[Table=1]"]


def test_legacy_labels_reproduce_bert_joint_misplaced_span():
    doc, ex = _example(_synthetic(gold_candidate=1), legacy_labels=True)
    assert ex.gold_status == "legacy_misplaced"
    # bert_joint never shifted the offsets into the flattened document: the span sits at its start
    assert ex.start_word < 4 and ex.words[0] == "[ContextId=-1]"


def test_gold_past_max_contexts_becomes_unknown():
    doc, ex = _example(_synthetic(gold_candidate=4, n_paragraphs=5), max_contexts=3)
    assert ex.gold_status == "past_max_contexts" and ex.answer_type == F.UNKNOWN
    assert (ex.start_word, ex.end_word) == (0, 0)
    doc, ex = _example(_synthetic(gold_candidate=3, n_paragraphs=5), max_contexts=5)
    assert ex.gold_status == "kept" and ex.answer_type == F.SHORT


def test_max_position_caps_type_counters():
    doc, ex = _example(_synthetic(gold_candidate=2, n_paragraphs=6), max_position=3)
    markers = [w for w in ex.words if w.startswith("[Paragraph=")]
    assert markers == ["[Paragraph=1]", "[Paragraph=2]", "[Paragraph=3]", "[Paragraph=3]", "[Paragraph=3]",
                       "[Paragraph=3]"]


def test_question_keeps_last_max_query_length_pieces(nq_vocab):
    obj = _synthetic(gold_candidate=2)
    obj["question_text"] = " ".join(f"q{i}" for i in range(40))
    doc = nq_data.document_from_json(obj)
    cfg = F.FeatureConfig(max_query_length=10, max_seq_length=64)
    tok = NqTokenizer(str(nq_vocab))
    f = F.make_features(F.build_example(doc, cfg), tok, cfg, False)[0]
    want = [tok.vocab["[Q]"]] + tok.tokenize_text(obj["question_text"])
    assert list(f.input_ids[1:11]) == want[-10:]


# --------------------------------------------------------------------------- records and the CLI


def _real_input(tmp_path, copies=6):
    """The real examples repeated (with distinct ids) to have enough windows to shuffle."""
    require_nq_real()
    out = tmp_path / "in.jsonl"
    with open(out, "wb") as handle:
        for k in range(copies):
            for path in sorted(NQ_REAL.glob("*.jsonl.gz")):
                for line in gzip.open(path, "rb"):
                    obj = json.loads(line)
                    obj["example_id"] = int(obj["example_id"]) + k
                    handle.write(json.dumps(obj).encode() + b"\n")
    return out


def test_output_identical_for_any_number_of_workers(nq_vocab, tmp_path):
    inp = _real_input(tmp_path)
    outs = []
    for workers in (1, 2):
        cfg = _cfg(nq_vocab, is_training=True, include_unknowns=0.3, num_workers=workers, random_seed=7)
        out = tmp_path / f"w{workers}.tfrecord"
        stats = prepare(str(inp), str(out), cfg)
        outs.append(out.read_bytes())
        assert stats["num_examples"] == 30
    assert outs[0] == outs[1]
    recs = [R.parse_record(r) for r in R.read_records(str(tmp_path / "w1.tfrecord"))]
    ids = [int(r["unique_ids"][0]) for r in recs]
    assert ids != sorted(ids), "training records are shuffled"
    cfg = _cfg(nq_vocab, is_training=True, include_unknowns=0.3, random_seed=8)
    prepare(str(inp), str(tmp_path / "s8.tfrecord"), cfg)
    assert (tmp_path / "s8.tfrecord").read_bytes() != outs[0], "the seed changes the sample"


def test_records_carry_bert_joint_names_and_exact_64bit_ids(nq_vocab, tmp_path):
    inp = _real_input(tmp_path, copies=1)
    prepare(str(inp), str(tmp_path / "p.tfrecord"), _cfg(nq_vocab, is_training=False))
    prepare(str(inp), str(tmp_path / "t.tfrecord"), _cfg(nq_vocab, is_training=True, include_unknowns=1.0))
    pred = [R.parse_record(r) for r in R.read_records(str(tmp_path / "p.tfrecord"))]
    train = [R.parse_record(r) for r in R.read_records(str(tmp_path / "t.tfrecord"))]
    assert set(pred[0]) == set(R.PREDICT_FEATURES) | set(R.EXTRA_FEATURES)
    assert set(train[0]) == set(R.TRAIN_FEATURES) | set(R.TRAIN_EXTRA_FEATURES)
    real_ids = {nq_data.parse_line(line).example_id for line in open(inp, "rb")}
    assert max(real_ids) > 2**62 and min(real_ids) < 0
    assert {int(r["example_ids"][0]) for r in pred} == real_ids
    for r in pred + train:
        assert int(r["unique_ids"][0]) == F.unique_id(int(r["example_ids"][0]), int(r["doc_span_index"][0]))
        assert len(r["input_ids"]) == 384
    assert all(0 <= r["answer_types"][0] <= 4 for r in train)


def test_shards_gzip_and_stats(nq_vocab, tmp_path):
    inp = _real_input(tmp_path, copies=2)
    out = tmp_path / "sh" / "train.tfrecord"
    cfg = _cfg(nq_vocab, is_training=True, include_unknowns=0.5, num_shards=3, gzip=True)
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
    return json.dumps(_synthetic(gold_candidate=2))


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
    cfg = _cfg(nq_vocab, is_training=False, skip_bad_examples=True)
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


def test_fast_serializer_equals_protobuf_serialization(nq_vocab):
    """Our numpy encoder gives the exact bytes of tf.train.Example's deterministic serialization."""
    require_nq_real()
    for training in (False, True):
        cfg = _cfg(nq_vocab, is_training=training, include_unknowns=1.0)
        for doc, ex, feats in iter_features(str(NQ_REAL / "*.jsonl.gz"), cfg):
            ids = [F.unique_id(doc.example_id, f.doc_span_index) for f in feats]
            fast = R.serialize_features(feats, training, ids)
            ref = [R.serialize_feature(f, training, u) for f, u in zip(feats, ids)]
            assert fast == ref


@pytest.mark.parametrize("block_size", [5, 64, 1 << 22])
def test_line_refs_read_back_the_same_lines(tmp_path, block_size):
    """Workers read plain files themselves from (offset, length) references: the lines, their
    numbers and the blank lines skipped are those of the plain line reader, whatever the
    buffer boundaries, and gzip lines come through as bytes."""
    lines = [b'{"a": 1}\n', b"\n", b"   \n", b'  {"b": 2}\r\n', b'{"c": "' + b"x" * 300 + b'"}\n',
             b"\t\n", b'{"d": 4}']  # the last line has no newline
    plain = tmp_path / "p.jsonl"
    plain.write_bytes(b"".join(lines))
    packed = tmp_path / "p.jsonl.gz"
    packed.write_bytes(gzip.compress(b"".join(lines)))
    for path in (plain, packed):
        reader = nq_data.LineReader()
        refs = list(nq_data.iter_line_refs(str(path), block_size=block_size))
        got = [(p, n, reader.read(p, n, ref)) for p, n, ref in refs]
        assert got == list(nq_data.iter_lines(str(path)))
        assert [n for _, n, _ in got] == [1, 4, 5, 7]
        assert all(isinstance(ref, nq_data.LineRef) == (path == plain) for _, _, ref in refs)
        reader.close()


def test_workers_name_the_bad_line_of_a_plain_file(nq_vocab, tmp_path):
    """With workers reading their own lines, the error still names the file and line."""
    good = _good_line()
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good] * 9 + ["", "{oops"] + [good] * 5) + "\n")
    cfg = _cfg(nq_vocab, is_training=False, num_workers=2)
    with pytest.raises(nq_data.NqInputError, match=rf"{path}:11: not valid JSON"):
        prepare(str(path), str(tmp_path / "o.tfrecord"), cfg)
    assert not list(tmp_path.glob("o.tfrecord*"))


def test_record_writer_bytes_equal_tensorflow_writer(tmp_path):
    """Our TFRecord framing is byte-identical to tf.io.TFRecordWriter's; our GZIP output reads
    back through tf.data to the same records."""
    import tensorflow as tf
    rng = np.random.default_rng(0)
    records = [b"", b"x", bytes(rng.integers(0, 256, 5000, dtype=np.uint8))] + \
              [bytes(rng.integers(0, 256, int(n), dtype=np.uint8)) for n in rng.integers(1, 700, 50)]
    ref = tmp_path / "ref.tfrecord"
    with tf.io.TFRecordWriter(str(ref)) as w:
        for r in records:
            w.write(r)
    for gz in (False, True):
        ours = tmp_path / f"ours{int(gz)}.tfrecord"
        w = R.AtomicRecordWriter(str(ours), gzip=gz)
        for i, r in enumerate(records):
            w.write(r) if i % 2 else w.write_framed(R.frame_record(r))
        w.commit()
        data = ours.read_bytes()
        if gz:
            assert data[:2] == b"\x1f\x8b"
            assert gzip.decompress(data) == ref.read_bytes()
        else:
            assert data == ref.read_bytes()
            assert list(R.iter_frames(data)) == [R.frame_record(r) for r in records]
        assert list(R.read_records(str(ours))) == records
    assert not list(tmp_path.glob("*.tmp-*"))


def test_prepare_does_not_import_tensorflow():
    """Preparing records needs no TensorFlow: light workers, quick start-up."""
    code = "import sys, nq_baseline.prepare_nq_data; print(any(m.startswith('tensorflow') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
