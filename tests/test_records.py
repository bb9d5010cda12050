"""records: tf.train.Example encoding and TFRecord framing, byte for byte against TensorFlow."""

import gzip

import numpy as np

from conftest import NQ_REAL, prepare_config, real_input
from nq_baseline.features import windows as F
from nq_baseline.reading import nq_data
from nq_baseline.features import records as R
from nq_baseline.features.prepare import prepare
from support import iter_features, serialize_feature


def test_records_carry_bert_joint_names_and_exact_64bit_ids(nq_vocab, tmp_path):
    inp = real_input(tmp_path, copies=1)
    prepare(str(inp), str(tmp_path / "p.tfrecord"), prepare_config(nq_vocab, is_training=False))
    prepare(str(real_input(tmp_path, copies=1, annotated_only=True)), str(tmp_path / "t.tfrecord"),
            prepare_config(nq_vocab, is_training=True, include_unknowns=1.0))
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


def test_fast_serializer_equals_protobuf_serialization(nq_vocab, tmp_path):
    """Our numpy encoder gives the exact bytes of tf.train.Example's deterministic serialization."""
    for training in (False, True):
        cfg = prepare_config(nq_vocab, is_training=training, include_unknowns=1.0)
        pattern = real_input(tmp_path, copies=1, annotated_only=True) if training else NQ_REAL / "*.jsonl.gz"
        for doc, ex, feats in iter_features(str(pattern), cfg):
            ids = [F.unique_id(doc.example_id, f.doc_span_index) for f in feats]
            fast = R.serialize_features(feats, training, ids)
            ref = [serialize_feature(f, training, u) for f, u in zip(feats, ids)]
            assert fast == ref


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



def test_packed_varints_equal_protobuf_on_every_value_range():
    """Each row's payload is the packed field protobuf writes for an Int64List of it: masks,
    ids in the table, rows that are mostly -1 (10 bytes each), values past the table,
    other negatives and the int64 extremes."""
    from tensorflow.core.example import feature_pb2
    rng = np.random.default_rng(7)
    shape = (6, 97)
    cases = {
        "mask": rng.integers(0, 2, shape),
        "ids": rng.integers(0, 30522, shape),
        "few -1": np.where(rng.random(shape) < 0.1, -1, rng.integers(0, 3000, shape)),
        "mostly -1": np.where(rng.random(shape) < 0.8, -1, rng.integers(0, 3000, shape)),
        "all -1": np.full(shape, -1),
        "table edge": rng.choice([0, 127, 128, 16383, 16384, 65535], shape),
        "past the table": rng.integers(60000, 2**40, shape),
        "negatives": rng.integers(-(2**40), 2, shape),
        "extremes": rng.choice([-(2**63), 2**63 - 1, -1, 0], shape),
        "one row": rng.integers(0, 30522, (1, 5)),
    }
    for name, values in cases.items():
        for row, payload in zip(values, R._packed_varints(values)):
            field = feature_pb2.Int64List(value=row.tolist()).SerializeToString()
            assert field == b"\x0a" + R._varint(len(payload)) + payload, name
