"""tf.data input from bert_joint's TFRecords: training batches (shuffled, sharded across
workers, or one `ShardedInput` per worker) and prediction batches, parsed to the model's
inputs.

Records are bert_joint's ``tf.train.Example``s (all int64, `features.records.record_schema`):
``unique_ids [1]``, ``input_ids / input_mask / segment_ids [seq]``; training records add
``start_positions / end_positions / answer_types [1]``, prediction records add ``token_map
[seq]`` (``example_ids`` / ``doc_span_index`` are read when present). Everything is cast to
int32 for the model except ``unique_ids`` (and ``example_ids``), which stay int64 end to end
(bert_joint's int32 cast of unique ids is a bug).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import tensorflow as tf

from nq_baseline.common import inputs
from nq_baseline.features import records


def _records(files: Sequence[str], shuffle: bool, seed: Optional[int], cycle_length: int = 8):
    compression = ["GZIP" if inputs.is_gzip(f) else "" for f in files]
    ds = tf.data.Dataset.from_tensor_slices((list(files), compression))
    if shuffle and len(files) > 1:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    cycle = max(1, min(cycle_length, len(files))) if shuffle else 1
    return ds.interleave(
        lambda f, c: tf.data.TFRecordDataset(f, compression_type=c, buffer_size=8 << 20),
        cycle_length=cycle,
        block_length=1,
        **({"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True} if cycle > 1 else {}),
    )


def _parser(seq_length: int, is_training: bool):
    """Batches of serialized records -> the model's features (`records.record_schema`)."""
    kinds = records.record_schema(is_training)
    spec = {name: (tf.io.VarLenFeature(tf.int64) if kind == records.LIST else
                   tf.io.FixedLenFeature([seq_length if kind == records.SEQUENCE else 1], tf.int64,
                                         default_value=None if default is None else [default]))
            for name, (kind, default) in kinds.items()}

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        out = {"candidate_map": _candidate_map(ex.pop("context_positions"), ex.pop("context_candidates"),
                                               tf.shape(serialized)[0], seq_length)}
        for k, v in ex.items():
            if spec[k].shape == [1]:
                v = tf.reshape(v, [-1])
            if k not in ("unique_ids", "example_ids"):
                v = tf.cast(v, tf.int32)
            out[k] = v
        return out

    return parse


def _candidate_map(positions: tf.SparseTensor, candidates: tf.SparseTensor, batch, seq_length: int) -> tf.Tensor:
    """[batch, seq] int32: the candidate index at each candidate marker's position, -1 elsewhere."""
    rows = positions.indices[:, 0]
    index = tf.stack([rows, positions.values], axis=1)
    dense = tf.fill(tf.stack([tf.cast(batch, tf.int64), seq_length]), tf.constant(-1, tf.int64))
    return tf.cast(tf.tensor_scatter_nd_update(dense, index, candidates.values), tf.int32)


def make_train_dataset(file_pattern, batch_size: int, seq_length: int, shuffle: bool = True,
                       seed: Optional[int] = 12345, repeat: bool = True,
                       shuffle_buffer: int = 1000, drop_remainder: bool = True,
                       num_shards: int = 1, shard_index: int = 0) -> tf.data.Dataset:
    """Batched, parsed training features from TFRecord files (plain or gzip).

    ``file_pattern``: a path, glob or comma-separated list.  Files are read interleaved
    in parallel (deterministic order for a given ``seed``), records shuffled in a
    ``shuffle_buffer``, batched (``drop_remainder`` keeps shapes static) and then parsed
    with one ``tf.io.parse_example`` per batch.  Elements: dict of ``unique_ids`` [b]
    int64, ``input_ids/input_mask/segment_ids`` [b, seq] int32 and
    ``start_positions/end_positions/answer_types`` [b] int32.

    ``num_shards`` > 1: this shard's records only, every ``num_shards``-th record of the
    seeded stream from ``shard_index`` on, so the shards together hold each record of one
    pass exactly once and batch k of all shards together is batch k of the unsharded
    stream at ``num_shards`` times the batch size (shuffling needs a ``seed`` then: every
    shard must see the same order).
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} is not within [0, {num_shards})")
    if num_shards > 1 and shuffle and seed is None:
        raise ValueError("sharded shuffled input needs a seed (every shard must shuffle alike)")
    files = inputs.expand_paths(file_pattern)
    ds = _records(files, shuffle, seed)
    if repeat:
        ds = ds.repeat()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if num_shards > 1:
        ds = ds.shard(num_shards, shard_index)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(_parser(seq_length, True), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass(frozen=True)
class ShardedInput:
    """Training input made by each worker for itself (``strategy.distribute_datasets_from_function``):
    ``make(input_context)`` is that input pipeline's share of the micro-batches, in batches of
    one replica's size; ``global_batch_size`` is the micro-batch of all replicas together."""

    make: Callable[[tf.distribute.InputContext], tf.data.Dataset]
    global_batch_size: int

    def map(self, transform: Callable[[tf.data.Dataset], tf.data.Dataset]) -> "ShardedInput":
        return ShardedInput(lambda context: transform(self.make(context)), self.global_batch_size)


def sharded_train_input(file_pattern, global_batch_size: int, seq_length: int, **dataset_options) -> ShardedInput:
    """:func:`make_train_dataset` for several workers: each input pipeline (one a worker) keeps
    its shard of the records (`dataset.shard`, no automatic sharding) and batches them at the
    per-replica size, so one step of all replicas sees exactly the examples one process
    would see at ``global_batch_size`` (and the same seed)."""

    def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
        dataset = make_train_dataset(file_pattern, context.get_per_replica_batch_size(global_batch_size),
                                     seq_length, num_shards=context.num_input_pipelines,
                                     shard_index=context.input_pipeline_id, **dataset_options)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return dataset.with_options(options)

    return ShardedInput(make, int(global_batch_size))


def make_predict_dataset(file_pattern, batch_size: int, seq_length: int) -> tf.data.Dataset:
    """Prediction features in file order (files sorted, records in order), batched.

    Elements: ``unique_ids`` [b] int64, ``input_ids/input_mask/segment_ids/token_map``
    [b, seq] int32, and ``example_ids`` [b] int64 / ``doc_span_index`` [b] int32 (-1 when
    the records do not carry them).  The last batch may be smaller.
    """
    files = inputs.expand_paths(file_pattern)
    ds = _records(files, shuffle=False, seed=None)
    ds = ds.batch(batch_size, drop_remainder=False)
    ds = ds.map(_parser(seq_length, False), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
