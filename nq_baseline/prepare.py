"""The conversion NQ jsonl -> TFRecord features, as a library (the CLI is prepare_nq_data).

Streaming and deterministic:
- lines are handed, in chunks, to `num_workers` processes; results come back in input
  order, so the output is identical for any number of workers. A plain (uncompressed) file
  is only scanned for newlines here and each worker reads its own lines, so no document
  goes through a pipe; lines of a gzip file are decompressed here and sent;
- every example draws its randomness (include_unknowns, augmentation, shuffle bucket) from
  its own generator seeded by (random_seed, ordinal in the input), never from shared state;
- training records are shuffled without holding them all in memory: each record goes to
  one of `shuffle_buckets` temporary files chosen at random, then each bucket is shuffled in
  memory and dealt to the output shards;
- outputs are written under temporary names and renamed when complete; on any error
  nothing is left behind.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from typing import Iterable, Iterator, Optional

from nq_baseline import features as F
from nq_baseline import records as R
from nq_baseline.nq_data import LineReader, NqDocument, NqInputError, iter_line_refs, iter_lines, parse_line
from nq_baseline.tokenization import NqTokenizer


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    vocab_file: str
    do_lower_case: bool = True
    features: F.FeatureConfig = F.FeatureConfig()
    is_training: bool = True
    random_seed: int = 0
    skip_bad_examples: bool = False
    max_examples: int = 0
    num_workers: int = 1
    num_shards: int = 1
    gzip: bool = False
    shuffle: bool = True
    shuffle_buckets: int = 32
    chunk_size: int = 8
    augment_copies: int = 0
    augment_rate: float = 0.2
    augment_seed: int = 0
    augment_scope: str = "document"


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def augmented_example_id(example_id: int, copy: int) -> int:
    """A signed 64-bit id for augmented copy `copy` (>= 1) of an example; never the original's."""
    value = _splitmix64((example_id & 0xFFFFFFFFFFFFFFFF) ^ (copy * 0xD1B54A32D192ED03))
    return value - (1 << 64) if value >= (1 << 63) else value


class _Worker:
    """Per-process state: tokenizer, synonym source."""

    def __init__(self, cfg: PrepareConfig):
        self.cfg = cfg
        self.tokenizer = NqTokenizer(cfg.vocab_file, cfg.do_lower_case)
        self.reader = LineReader()
        self.synonyms = None
        if cfg.augment_copies > 0 and cfg.is_training:
            from nq_baseline import augment
            self.synonyms = augment.default_synonym_source()  # WordNet loads once per process

    def _records(self, doc: NqDocument, rng: random.Random, stats: collections.Counter,
                 id_for_unique: int) -> list[bytes]:
        cfg = self.cfg
        ex = F.build_example(doc, cfg.features)
        if ex is None:
            stats["examples_dropped_unrecoverable_answer"] += 1
            return []
        stats[f"gold_{ex.gold_status}"] += 1
        feats = F.make_features(ex, self.tokenizer, cfg.features, cfg.is_training, rng)
        for f in feats:
            stats[f"instances_{F.ANSWER_TYPE_NAMES[f.answer_type]}"] += cfg.is_training
        # framed here (TFRecord length + CRCs), in the worker process, so the writer only copies bytes
        out = list(map(R.frame_record, R.serialize_features(
            feats, cfg.is_training, [F.unique_id(id_for_unique, f.doc_span_index) for f in feats])))
        stats["windows"] += ex.num_windows
        stats["has_correct_context"] += ex.has_correct_context
        return out

    def process(self, ordinal: int, path: str, line: int, ref):
        """One line (its bytes, or a LineRef this process reads itself) -> (records, stats
        Counter, windows); bad input raises NqInputError (or is counted)."""
        cfg = self.cfg
        stats: collections.Counter = collections.Counter()
        try:
            doc = parse_line(self.reader.read(path, line, ref), path, line)
            rng = random.Random(cfg.random_seed * 1_000_003 + ordinal)
            recs = self._records(doc, rng, stats, doc.example_id)
        except NqInputError:
            if not cfg.skip_bad_examples:
                raise
            stats["num_skipped"] += 1
            return [], stats, None
        stats["num_examples"] += 1
        stats["examples_with_correct_context"] += stats.pop("has_correct_context", 0)
        windows = stats.pop("windows", 0)
        if self.synonyms is not None:
            from nq_baseline import augment
            if augment.has_long_answer(doc):
                copies = augment.augment_copies(doc, cfg.augment_copies, cfg.augment_rate, cfg.augment_scope,
                                                cfg.augment_seed, self.synonyms)
                for k, (aug_doc, aug_stats) in enumerate(copies, start=1):
                    arng = random.Random((cfg.random_seed * 1_000_003 + ordinal) * 131 + k)
                    sub: collections.Counter = collections.Counter()
                    recs.extend(self._records(aug_doc, arng, sub, augmented_example_id(doc.example_id, k)))
                    sub.pop("has_correct_context", None)
                    sub.pop("windows", None)
                    for key, value in sub.items():
                        if key.startswith("instances_"):
                            stats[key] += value
                    stats["augmented_examples"] += 1
                    stats["augmented_instances"] += sum(v for key, v in sub.items() if key.startswith("instances_"))
                    stats["replaced_words"] += aug_stats.get("replaced_words", 0)
                    stats["replaced_question_words"] += aug_stats.get("question_replaced", 0)
        return recs, stats, windows


_WORKER: Optional[_Worker] = None


def _init_worker(cfg: PrepareConfig) -> None:
    """Builds this process's worker state (tokenizer, WordNet): pool workers forked after it
    inherit it, so they start at once and share its memory copy-on-write."""
    global _WORKER
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _WORKER = _Worker(cfg)


def _process_chunk(chunk):
    return [_WORKER.process(*item) for item in chunk]


def _chunks(cfg: PrepareConfig, input_pattern: str) -> Iterator[list]:
    chunk = []
    for ordinal, (path, line, ref) in enumerate(iter_line_refs(input_pattern)):
        if cfg.max_examples > 0 and ordinal >= cfg.max_examples:
            break
        chunk.append((ordinal, path, line, ref))
        if len(chunk) >= cfg.chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _results(cfg: PrepareConfig, input_pattern: str, pool=None) -> Iterator[tuple]:
    """(records, stats, windows) per example, in input order; `_init_worker(cfg)` ran before."""
    if pool is None:
        for chunk in _chunks(cfg, input_pattern):
            yield from _process_chunk(chunk)
        return
    for out in pool.imap(_process_chunk, _chunks(cfg, input_pattern)):
        yield from out


class _BucketFiles:
    """Temporary bucket files of framed records for the out-of-core shuffle."""

    def __init__(self, directory: str, n: int):
        self.paths = [os.path.join(directory, f"bucket-{i:04d}") for i in range(n)]
        self.handles = [open(p, "wb") for p in self.paths]

    def add(self, bucket: int, frame: bytes) -> None:
        self.handles[bucket].write(frame)

    def close(self) -> None:
        for h in self.handles:
            h.close()

    def read(self, i: int) -> list[bytes]:
        with open(self.paths[i], "rb") as h:
            return list(R.iter_frames(h.read()))


def prepare(input_pattern: str, output_path: str, cfg: PrepareConfig, progress=None) -> dict:
    """Converts `input_pattern` to TFRecord shard(s) at `output_path`; returns the stats dict.

    Raises NqInputError (bad input) or ValueError (bad settings) with nothing written.
    """
    t_start = time.time()
    if cfg.num_shards < 1:
        raise ValueError("num_shards must be >= 1")
    if cfg.features.max_seq_length < cfg.features.max_query_length + 4:
        raise ValueError("max_seq_length must exceed max_query_length + 3")
    out_dir = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(out_dir, exist_ok=True)
    paths = R.shard_paths(output_path, cfg.num_shards)
    writers = []
    totals: collections.Counter = collections.Counter()
    windows_hist: collections.Counter = collections.Counter()
    shuffle = cfg.is_training and cfg.shuffle
    tmpdir = tempfile.mkdtemp(prefix=".prepare-", dir=out_dir) if shuffle else None
    buckets = _BucketFiles(tmpdir, cfg.shuffle_buckets) if shuffle else None
    n_written = 0
    pool = None
    try:
        writers = [R.AtomicRecordWriter(p, cfg.gzip) for p in paths]
        # start-up (not in "seconds"): the vocabulary, WordNet, the worker processes
        _init_worker(cfg)
        if cfg.num_workers > 1:
            pool = multiprocessing.get_context("fork").Pool(cfg.num_workers)
        t0 = time.time()
        for recs, stats, windows in _results(cfg, input_pattern, pool):
            totals.update(stats)
            if windows is not None:
                windows_hist[windows] += 1
            if shuffle:
                # the bucket draw depends only on the record's position in the stream
                for rec in recs:
                    buckets.add(_splitmix64(cfg.random_seed * 7919 + n_written) % cfg.shuffle_buckets, rec)
                    n_written += 1
            else:
                for rec in recs:
                    writers[n_written % len(writers)].write_framed(rec)
                    n_written += 1
            if progress is not None:
                progress(totals)
        if shuffle:
            buckets.close()
            k = 0
            for b in range(cfg.shuffle_buckets):
                recs = buckets.read(b)
                random.Random(cfg.random_seed * 104_729 + b).shuffle(recs)
                for rec in recs:
                    writers[k % len(writers)].write_framed(rec)
                    k += 1
        for w in writers:
            w.commit()
        seconds = time.time() - t0
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if _WORKER is not None:
            _WORKER.reader.close()  # this process's open input files (pool workers' close with them)
        if buckets is not None:
            buckets.close()
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)

    num_examples = totals.pop("num_examples", 0)
    stats = {
        "num_examples": num_examples,
        "num_instances": n_written,
        "num_skipped": totals.pop("num_skipped", 0),
        "seconds": round(seconds, 3),
        "startup_seconds": round(t0 - t_start, 3),
        "is_training": cfg.is_training,
        "examples_with_correct_context": totals.pop("examples_with_correct_context", 0),
        "instances_by_answer_type": {name: totals.pop(f"instances_{name}", 0) for name in F.ANSWER_TYPE_NAMES}
        if cfg.is_training else None,
        "windows_per_example": {
            "mean": round(sum(k * v for k, v in windows_hist.items()) / max(1, num_examples), 3),
            "max": max(windows_hist) if windows_hist else 0,
            "histogram": {str(k): v for k, v in sorted(windows_hist.items())},
        },
        "gold": {key[5:]: totals.pop(key) for key in sorted(totals) if key.startswith("gold_")},
        "examples_dropped_unrecoverable_answer": totals.pop("examples_dropped_unrecoverable_answer", 0),
        "augmented_examples": totals.pop("augmented_examples", 0),
        "augmented_instances": totals.pop("augmented_instances", 0),
        "replaced_words": totals.pop("replaced_words", 0),
        "replaced_question_words": totals.pop("replaced_question_words", 0),
        "output_files": paths,
    }
    write_json_atomic(output_path + ".stats.json", stats)
    return stats


def write_json_atomic(path: str, obj) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def iter_features(input_pattern: str, cfg: PrepareConfig) -> Iterable[tuple[NqDocument, list]]:
    """(document, features) pairs, in memory, for tools and tests (no records written)."""
    tok = NqTokenizer(cfg.vocab_file, cfg.do_lower_case)
    for ordinal, (path, line, raw) in enumerate(iter_lines(input_pattern)):
        doc = parse_line(raw, path, line)
        ex = F.build_example(doc, cfg.features)
        rng = random.Random(cfg.random_seed * 1_000_003 + ordinal)
        yield doc, ex, ([] if ex is None else F.make_features(ex, tok, cfg.features, cfg.is_training, rng))
