"""Features <-> TFRecord `tf.train.Example`s, with bert_joint's feature names (stage 4).

Every feature is int64 (`Int64List`):
- `unique_ids` [1]: bert_joint's id, example_id + window index (wrapped to int64);
- `input_ids`, `input_mask`, `segment_ids` [max_seq_length];
- training: `start_positions`, `end_positions`, `answer_types` [1];
- prediction: `token_map` [max_seq_length];
- added here (bert_joint's readers ignore extra features): `example_ids` [1], the full
  64-bit NQ example id, and `doc_span_index` [1], so a feature maps back to its example
  exactly.

Serialization goes through the protobuf library's `tf.train.Example`.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2

from nq_baseline.features import Feature

TRAIN_FEATURES = ("unique_ids", "input_ids", "input_mask", "segment_ids",
                  "start_positions", "end_positions", "answer_types")
PREDICT_FEATURES = ("unique_ids", "input_ids", "input_mask", "segment_ids", "token_map")
EXTRA_FEATURES = ("example_ids", "doc_span_index")


def _ints(values) -> feature_pb2.Feature:
    return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=values))


def serialize_feature(f: Feature, is_training: bool, unique_id: int) -> bytes:
    feats = {
        "unique_ids": _ints([unique_id]),
        "input_ids": _ints(f.input_ids.tolist()),
        "input_mask": _ints(f.input_mask.tolist()),
        "segment_ids": _ints(f.segment_ids.tolist()),
        "example_ids": _ints([f.example_id]),
        "doc_span_index": _ints([f.doc_span_index]),
    }
    if is_training:
        feats["start_positions"] = _ints([f.start_position])
        feats["end_positions"] = _ints([f.end_position])
        feats["answer_types"] = _ints([f.answer_type])
    else:
        feats["token_map"] = _ints(f.token_map.tolist())
    return example_pb2.Example(features=feature_pb2.Features(feature=feats)).SerializeToString()


def parse_record(raw: bytes) -> dict[str, np.ndarray]:
    """One serialized Example -> {name: int64 array} (for tests and tools)."""
    ex = example_pb2.Example.FromString(raw)
    return {k: np.asarray(v.int64_list.value, dtype=np.int64) for k, v in ex.features.feature.items()}


def shard_paths(output: str, num_shards: int) -> list[str]:
    if num_shards <= 1:
        return [output]
    return [f"{output}-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]


def read_records(pattern: str) -> Iterator[bytes]:
    """Serialized records from a path, glob or comma list (GZIP detected by its header)."""
    import tensorflow as tf

    from nq_baseline.nq_data import expand_paths
    for path in expand_paths(pattern):
        with open(path, "rb") as handle:
            gz = handle.read(2) == b"\x1f\x8b"
        for rec in tf.data.TFRecordDataset(path, compression_type="GZIP" if gz else ""):
            yield rec.numpy()


class AtomicRecordWriter:
    """TFRecord writer to `path`, through `path.tmp-<pid>` renamed on close()."""

    def __init__(self, path: str, gzip: bool = False):
        import tensorflow as tf
        self.path = path
        self.tmp = f"{path}.tmp-{os.getpid()}"
        options = tf.io.TFRecordOptions(compression_type="GZIP" if gzip else "")
        self._writer = tf.io.TFRecordWriter(self.tmp, options)
        self.count = 0

    def write(self, record: bytes) -> None:
        self._writer.write(record)
        self.count += 1

    def write_all(self, records: Iterable[bytes]) -> None:
        for r in records:
            self.write(r)

    def commit(self) -> None:
        self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._writer.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)
