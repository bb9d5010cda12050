"""Features <-> TFRecord `tf.train.Example`s, with bert_joint's feature names (stage 4).

Every feature is int64 (`Int64List`):
- `unique_ids` [1]: bert_joint's id, example_id + window index (wrapped to int64);
- `input_ids`, `input_mask`, `segment_ids` [max_seq_length];
- training: `start_positions`, `end_positions`, `answer_types` [1];
- prediction: `token_map` [max_seq_length];
- added here (bert_joint's readers ignore extra features): `example_ids` [1], the full
  64-bit NQ example id, and `doc_span_index` [1], so a feature maps back to its example
  exactly; `context_positions` and `context_candidates` (one value per long-answer
  candidate marker `[ContextId=i]` in the window: its position and its candidate index i,
  which the vocabulary cannot tell past 50), and in training records `long_positions` [1]
  (the gold candidate's marker position, 0 when not in the window): the long-answer head's
  inputs and label.

Serialization is our own numpy encoder of `tf.train.Example` (checked byte for byte against
the protobuf library's deterministic serialization), and files are written with our own
TFRecord framing (length, masked CRC-32C of the length, data, masked CRC-32C of the data;
CRC-32C from `google-crc32c`), byte-identical to `tf.io.TFRecordWriter`'s. So preparing
records needs no TensorFlow (lighter processes, faster start-up), and worker processes can
frame their records themselves. TensorFlow is imported only to read records.
"""

from __future__ import annotations

import errno
import gzip as _gzip
import os
import struct
import zlib
from typing import Iterator, Optional

import google_crc32c
import numpy as np

from nq_baseline.common import fileio, inputs
from nq_baseline.common.errors import NqInputError
from nq_baseline.features.windows import Feature

TRAIN_FEATURES = ("unique_ids", "input_ids", "input_mask", "segment_ids",
                  "start_positions", "end_positions", "answer_types")
PREDICT_FEATURES = ("unique_ids", "input_ids", "input_mask", "segment_ids", "token_map")
EXTRA_FEATURES = ("example_ids", "doc_span_index", "context_positions", "context_candidates")
TRAIN_EXTRA_FEATURES = EXTRA_FEATURES + ("long_positions",)
TRAIN_LABELS = ("start_positions", "end_positions", "answer_types")
# Records of bert_joint carry no `example_ids`; NQ ids may be negative, so the "absent" mark is
# the one int64 value no NQ id takes.
NO_EXAMPLE_ID = -(2**63)
SEQUENCE, SCALAR, LIST = "sequence", "scalar", "list"  # a feature's length: max_seq_length, 1, any


def record_schema(is_training: bool) -> dict[str, tuple[str, Optional[int]]]:
    """What a reader of these records parses: name -> (length kind, the value when a record lacks
    the feature, None when it must have it). The features this project adds have defaults, so
    bert_joint's records read as well."""
    schema = {"unique_ids": (SCALAR, None), "input_ids": (SEQUENCE, None), "input_mask": (SEQUENCE, None),
              "segment_ids": (SEQUENCE, None),
              # the long-answer head's: absent from bert_joint's records (then no candidate marker is known)
              "context_positions": (LIST, None), "context_candidates": (LIST, None)}
    if is_training:
        schema.update({name: (SCALAR, None) for name in TRAIN_LABELS})
        schema["long_positions"] = (SCALAR, -1)
    else:
        schema.update(token_map=(SEQUENCE, None), example_ids=(SCALAR, NO_EXAMPLE_ID), doc_span_index=(SCALAR, -1))
    return schema


def _varint_slow(n: int) -> bytes:
    out = bytearray()
    n &= 0xFFFFFFFFFFFFFFFF
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_SMALL_VARINTS = tuple(_varint_slow(n) for n in range(1 << 14))  # lengths and small ids: a lookup


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint of an int64 (negative numbers take 10 bytes, as protobuf's)."""
    if 0 <= n < 16384:
        return _SMALL_VARINTS[n]
    return _varint_slow(n)


_TABLE_LO, _TABLE_HI = -1, 1 << 16  # values with a precomputed varint (ids, positions, -1)
_TABLE: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None


def _varint_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The varints of _TABLE_LO.._TABLE_HI-1 end to end (uint8), the offset of each there
    and its length in bytes (1 to 3, and 10 for -1)."""
    global _TABLE
    if _TABLE is None:
        encoded, lengths = _encode_varints(np.arange(_TABLE_LO, _TABLE_HI, dtype=np.int64))
        keep = np.arange(encoded.shape[1])[None, :] < lengths[:, None]
        _TABLE = (encoded[keep], np.cumsum(lengths) - lengths, lengths)
    return _TABLE


def _encode_varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-D int64 -> (bytes [n, width] uint8 left-aligned, number of bytes [n])."""
    u = values.view(np.uint64)
    nbytes = np.ones(u.shape, np.int64)
    shifted = u >> np.uint64(7)
    while shifted.any():
        nbytes += shifted != 0
        shifted = shifted >> np.uint64(7)
    width = int(nbytes.max()) if u.size else 1
    out = np.empty(u.shape + (width,), np.uint8)
    for b in range(width):
        chunk = ((u >> np.uint64(7 * b)) & np.uint64(0x7F)).astype(np.uint8)
        out[:, b] = np.where(b < nbytes - 1, chunk | 0x80, chunk)
    return out, nbytes


def _packed_varints(values: np.ndarray) -> list[bytes]:
    """Rows of an int64 [rows, n] array -> the protobuf packed-varint payload of each row."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    rows, per_row = values.shape
    flat = values.reshape(-1)
    if flat.size == 0:
        return [b""] * rows
    lo, hi = int(flat.min()), int(flat.max())
    if lo >= 0 and hi < 128:  # masks, segment ids: one byte each
        return [row.tobytes() for row in values.astype(np.uint8)]
    return _split_payloads(*_varints_end_to_end(flat, lo, hi), np.arange(1, rows + 1) * per_row)


def _varints_end_to_end(values: np.ndarray, lo: int, hi: int) -> tuple[bytes, np.ndarray]:
    """1-D int64 whose least and greatest are lo and hi -> (their varints end to end, the end
    offset of each)."""
    if _TABLE_LO <= lo and hi < _TABLE_HI:  # the usual case
        return _gathered_varints(values - _TABLE_LO)
    encoded, nbytes = _encode_varints(values)
    keep = np.arange(encoded.shape[1])[None, :] < nbytes[:, None]
    return encoded[keep].tobytes(), np.cumsum(nbytes)


def _split_payloads(data: bytes, ends: np.ndarray, row_ends: np.ndarray) -> list[bytes]:
    """The bytes of each row, from the end offset of every value and each row's end value."""
    byte_ends = np.concatenate([[0], ends])[row_ends].tolist()
    return [data[b:e] for b, e in zip([0] + byte_ends[:-1], byte_ends)]


def _gathered_varints(index: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(the varints of table entries `index` end to end, the end offset of each), in one
    gather: output byte j is table byte j - (start of its varint) + (its varint's offset in
    the table). Only the bytes a varint has are read, so a few -1s (10 bytes each) do not
    make every value as wide as theirs."""
    table, offsets, lengths = _varint_table()
    nbytes = lengths[index]
    ends = np.cumsum(nbytes)
    source = np.arange(int(ends[-1])) + np.repeat(offsets[index] - (ends - nbytes), nbytes)
    return table[source].tobytes(), ends


def _entry_prefix(name: bytes, payload_len: int) -> bytes:
    """The bytes of a map<string, Feature> entry holding an Int64List, up to its packed payload."""
    if payload_len == 0:  # an empty list: protobuf writes no packed field at all
        feature = b"\x1a\x00"
    else:
        int64_list_len = 1 + len(_varint(payload_len)) + payload_len
        feature = b"\x1a" + _varint(int64_list_len) + b"\x0a" + _varint(payload_len)
    feature_len = len(feature) + payload_len
    entry = b"\x0a" + _varint(len(name)) + name + b"\x12" + _varint(feature_len) + feature
    return b"\x0a" + _varint(len(entry) + payload_len) + entry


_PREFIXES: dict[tuple[bytes, int], bytes] = {}


def _entries(name: bytes, payloads: list[bytes]) -> list[bytes]:
    """The map<string, Feature> entry of each payload (packed varints) under `name`."""
    if len(_PREFIXES) > 100_000:
        _PREFIXES.clear()
    out = []
    for payload in payloads:
        key = (name, len(payload))
        prefix = _PREFIXES.get(key)
        if prefix is None:
            prefix = _PREFIXES[key] = _entry_prefix(name, len(payload))
        out.append(prefix + payload)
    return out


def serialize_features(feats: list[Feature], is_training: bool, unique_ids: list[int]) -> list[bytes]:
    """Features -> serialized `tf.train.Example`s, encoded with numpy over all windows at once.

    The bytes equal protobuf's deterministic serialization (map keys in sorted order), which
    the tests check against `tf.train.Example.SerializeToString(deterministic=True)`.
    """
    if not feats:
        return []
    arrays = {
        "input_ids": _rows([f.input_ids for f in feats]),
        "input_mask": _rows([f.input_mask for f in feats]),
        "segment_ids": _rows([f.segment_ids for f in feats]),
    }
    scalars = {
        "unique_ids": unique_ids,
        "example_ids": [f.example_id for f in feats],
        "doc_span_index": [f.doc_span_index for f in feats],
    }
    if is_training:
        scalars["start_positions"] = [f.start_position for f in feats]
        scalars["end_positions"] = [f.end_position for f in feats]
        scalars["answer_types"] = [f.answer_type for f in feats]
        scalars["long_positions"] = [f.long_position for f in feats]
    else:
        arrays["token_map"] = _rows([f.token_map for f in feats])
    payloads = {name.encode(): _packed_varints(a) for name, a in arrays.items()}
    payloads.update({name.encode(): list(map(_varint, vals)) for name, vals in scalars.items()})
    payloads.update({name.encode(): rows for name, rows in _context_lists(feats).items()})
    columns = [_entries(name, payloads[name]) for name in sorted(payloads)]
    return [b"\x0a" + _varint(len(body)) + body for body in map(b"".join, zip(*columns))]


def _rows(rows: list[np.ndarray]) -> np.ndarray:
    """Equal-length 1-D arrays -> one [len(rows), n] int64 array (np.array copies them in C,
    about 2.6x faster than np.stack for the ~10 windows of a page)."""
    return np.array(rows, dtype=np.int64)


def _context_lists(feats: list[Feature]) -> dict[str, list[bytes]]:
    """Per window, the payloads of the positions of its candidate markers and of their
    candidate indices (a few per window: plain Python beats numpy's per-call cost here)."""
    positions, candidates = [], []
    for f in feats:
        cols = np.flatnonzero(f.candidate_map >= 0) if f.candidate_map is not None else np.zeros(0, np.int64)
        positions.append(b"".join(map(_varint, cols.tolist())))
        candidates.append(b"".join(map(_varint, f.candidate_map[cols].tolist())) if len(cols) else b"")
    return {"context_positions": positions, "context_candidates": candidates}


def parse_record(raw: bytes) -> dict[str, np.ndarray]:
    """One serialized Example -> {name: int64 array} (for tests and tools)."""
    from tensorflow.core.example import example_pb2
    ex = example_pb2.Example.FromString(raw)
    return {k: np.asarray(v.int64_list.value, dtype=np.int64) for k, v in ex.features.feature.items()}


def first_record(path: str) -> dict[str, np.ndarray]:
    """The first record of a TFRecord file (plain or GZIP), parsed; {} when it holds none."""
    opener = _gzip.open if inputs.is_gzip(path) else open
    with opener(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12:
            return {}
        (length,) = _LENGTH.unpack_from(header)
        return parse_record(handle.read(length))


def shard_paths(output: str, num_shards: int) -> list[str]:
    if num_shards <= 1:
        return [output]
    return [f"{output}-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]


def read_records(pattern: str) -> Iterator[bytes]:
    """Serialized records from a path, glob or comma list (GZIP detected by its stream)."""
    import tensorflow as tf

    for path in inputs.expand_paths(pattern):
        compression = "GZIP" if inputs.is_gzip(path) else ""
        for rec in tf.data.TFRecordDataset(path, compression_type=compression):
            yield rec.numpy()


_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(record: bytes) -> bytes:
    """One record in TFRecord framing, as `tf.io.TFRecordWriter` writes it."""
    header = _LENGTH.pack(len(record))
    return b"".join((header, _CRC.pack(_masked_crc(header)), record, _CRC.pack(_masked_crc(record))))


def check_framing(path: str) -> int:
    """Reads a TFRecord file (plain or GZIP) through and checks every record's framing: lengths,
    and the CRC-32C of each length and each record. Returns the number of records; a truncated
    or corrupted file raises NqInputError naming it and the byte offset of the bad record
    (TensorFlow's own reader says "corrupted record at 476" without the file)."""
    opener = _gzip.open if inputs.is_gzip(path) else open
    count, offset = 0, 0
    try:
        with opener(path, "rb") as reader:
            while True:
                header = reader.read(12)
                if not header:
                    return count
                if len(header) < 12:
                    raise NqInputError(path, None, f"truncated record at byte {offset} (the file ends in its header)")
                (length,) = _LENGTH.unpack_from(header)
                if _CRC.unpack_from(header, 8)[0] != _masked_crc(header[:8]):
                    raise NqInputError(path, None, f"corrupted record at byte {offset} (its length's checksum "
                                       "does not match): not a TFRecord file, or a damaged one")
                data = reader.read(length + 4)
                if len(data) < length + 4:
                    raise NqInputError(path, None, f"truncated record at byte {offset} (the file ends inside it)")
                if _CRC.unpack_from(data, length)[0] != _masked_crc(data[:length]):
                    raise NqInputError(path, None, f"corrupted record at byte {offset} (its checksum does not match)")
                count += 1
                offset += 16 + length
    except (OSError, EOFError, zlib.error) as err:
        raise NqInputError(path, None, f"unreadable records ({err})") from None


def iter_frames(data: bytes) -> Iterator[bytes]:
    """The framed records of a concatenation of TFRecord frames (framing not re-checked)."""
    pos, end = 0, len(data)
    while pos < end:
        (n,) = _LENGTH.unpack_from(data, pos)
        yield data[pos:pos + n + 16]
        pos += n + 16


class AtomicRecordWriter:
    """TFRecord writer to `path` through a temporary beside it (`fileio.temporary_name`),
    renamed on commit(); abort() (or a signal) removes it. GZIP as TF's (zlib level 6, a
    standard gzip stream that `tf.data.TFRecordDataset` reads)."""

    def __init__(self, path: str, gzip: bool = False):
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        self.path = path
        self.tmp = fileio.temporary_name(path)
        fileio.register_temporary(self.tmp)
        try:
            self._file = open(self.tmp, "wb", buffering=1 << 20)
        except BaseException:
            fileio.release_temporary(self.tmp)
            raise
        self._out = (_gzip.GzipFile(filename="", mode="wb", fileobj=self._file, compresslevel=6, mtime=0)
                     if gzip else self._file)
        self.count = 0
        self.committed = False

    def write(self, record: bytes) -> None:
        """An unframed record (a serialized Example)."""
        self.write_framed(frame_record(record))

    def write_framed(self, frame: bytes) -> None:
        """A record already in TFRecord framing (`frame_record`)."""
        self._out.write(frame)
        self.count += 1

    def _close(self) -> None:
        try:
            if self._out is not self._file:
                self._out.close()
        finally:
            self._file.close()

    def finish(self) -> None:
        """Flushes and closes the temporary (a full disk fails here); `publish` renames it."""
        self._close()

    def publish(self) -> None:
        os.replace(self.tmp, self.path)
        fileio.release_temporary(self.tmp)
        self.committed = True

    def commit(self) -> None:
        self.finish()
        self.publish()

    def abort(self) -> None:
        """Removes the temporary, even when closing it fails (a full disk cannot flush);
        nothing to do once committed."""
        if self.committed:
            return
        try:
            self._close()
        except OSError:
            pass
        finally:
            fileio.remove_path(self.tmp)
            fileio.release_temporary(self.tmp)
