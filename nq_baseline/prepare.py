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
import contextlib
import dataclasses
import multiprocessing
import os
import random
import time
from typing import Iterable, Iterator, Optional

from nq_baseline import features as F
from nq_baseline import records as R
from nq_baseline.fileio import temporary_directory, wrap_int64, write_json_atomic  # run_nq imports the last from here
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


@dataclasses.dataclass
class PrepareStats:
    """Counts of a conversion; `merge` adds another's (per example, per worker chunk)."""

    num_examples: int = 0
    num_skipped: int = 0
    examples_with_correct_context: int = 0
    examples_dropped_unrecoverable_answer: int = 0
    augmented_examples: int = 0
    augmented_instances: int = 0
    replaced_words: int = 0
    replaced_question_words: int = 0
    gold: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    instances_by_answer_type: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    windows_per_example: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def merge(self, other: "PrepareStats") -> None:
        for field in dataclasses.fields(self):
            mine = getattr(self, field.name)
            if isinstance(mine, collections.Counter):
                mine.update(getattr(other, field.name))
            else:
                setattr(self, field.name, mine + getattr(other, field.name))

    def as_json(self, is_training: bool) -> dict:
        """The stats JSON's counting part (its layout is the records' documentation)."""
        hist = self.windows_per_example
        counts = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if not isinstance(getattr(self, f.name), collections.Counter)}
        return dict(
            counts,
            is_training=is_training,
            instances_by_answer_type={name: self.instances_by_answer_type[name] for name in F.ANSWER_TYPE_NAMES}
            if is_training else None,
            windows_per_example={
                "mean": round(sum(k * v for k, v in hist.items()) / max(1, self.num_examples), 3),
                "max": max(hist) if hist else 0,
                "histogram": {str(k): v for k, v in sorted(hist.items())},
            },
            gold=dict(sorted(self.gold.items())))


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def example_rng(random_seed: int, ordinal: int, copy: int = 0) -> random.Random:
    """The generator of example number `ordinal` of the input (copy 0) or of its augmented
    copy `copy` >= 1: a function of these numbers only, so any worker draws the same."""
    seed = random_seed * 1_000_003 + ordinal
    return random.Random(seed if copy == 0 else seed * 131 + copy)


def augmented_example_id(example_id: int, copy: int) -> int:
    """A signed 64-bit id for augmented copy `copy` (>= 1) of an example; never the original's."""
    return wrap_int64(_splitmix64((example_id & 0xFFFFFFFFFFFFFFFF) ^ (copy * 0xD1B54A32D192ED03)))


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

    def _records(self, doc: NqDocument, rng: random.Random, stats: PrepareStats, id_for_unique: int
                 ) -> tuple[list[bytes], Optional[F.NqExample]]:
        """The framed records of one document (counted in `stats`) and its example."""
        cfg = self.cfg
        ex = F.build_example(doc, cfg.features)
        if ex is None:
            stats.examples_dropped_unrecoverable_answer += 1
            return [], None
        feats = F.make_features(ex, self.tokenizer, cfg.features, cfg.is_training, rng)
        if cfg.is_training:
            stats.instances_by_answer_type.update(F.ANSWER_TYPE_NAMES[f.answer_type] for f in feats)
        # framed here (TFRecord length + CRCs), in the worker process, so the writer only copies bytes
        out = list(map(R.frame_record, R.serialize_features(
            feats, cfg.is_training, [F.unique_id(id_for_unique, f.doc_span_index) for f in feats])))
        return out, ex

    def process(self, ordinal: int, path: str, line: int, ref) -> tuple[list[bytes], PrepareStats]:
        """One line (its bytes, or a LineRef this process reads itself) -> (records, stats);
        bad input raises NqInputError (or is counted)."""
        cfg = self.cfg
        stats = PrepareStats()
        try:
            doc = parse_line(self.reader.read(path, line, ref), path, line)
            recs, ex = self._records(doc, example_rng(cfg.random_seed, ordinal), stats, doc.example_id)
        except NqInputError:
            if not cfg.skip_bad_examples:
                raise
            stats.num_skipped += 1
            return [], stats
        stats.num_examples += 1
        stats.windows_per_example[ex.num_windows if ex is not None else 0] += 1
        if ex is not None:
            stats.gold[ex.gold_status] += 1
            stats.examples_with_correct_context += ex.has_correct_context
        if self.synonyms is not None:
            recs.extend(self._augmented_records(doc, ordinal, stats))
        return recs, stats

    def _augmented_records(self, doc: NqDocument, ordinal: int, stats: PrepareStats) -> list[bytes]:
        """The records of the synonym copies of a document with a long answer; of their
        counts only instances and replacements are kept (the copies are not new examples)."""
        from nq_baseline import augment

        cfg = self.cfg
        if not augment.has_long_answer(doc):
            return []
        recs: list[bytes] = []
        copies = augment.augment_copies(doc, cfg.augment_copies, cfg.augment_rate, cfg.augment_scope,
                                        cfg.augment_seed, self.synonyms)
        for k, (aug_doc, aug_stats) in enumerate(copies, start=1):
            sub = PrepareStats()
            recs.extend(self._records(aug_doc, example_rng(cfg.random_seed, ordinal, k), sub,
                                      augmented_example_id(doc.example_id, k))[0])
            stats.instances_by_answer_type.update(sub.instances_by_answer_type)
            stats.augmented_examples += 1
            stats.augmented_instances += sum(sub.instances_by_answer_type.values())
            stats.replaced_words += aug_stats.get("replaced_words", 0)
            stats.replaced_question_words += aug_stats.get("question_replaced", 0)
        return recs


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
    """(records, stats) per example, in input order; `_init_worker(cfg)` ran before."""
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
        self.handles = []
        try:
            for p in self.paths:
                self.handles.append(open(p, "wb"))
        except OSError:
            self.close()
            raise

    def add(self, bucket: int, frame: bytes) -> None:
        self.handles[bucket].write(frame)

    def close(self) -> None:
        """Closes every bucket file, even when one fails to (a full disk cannot flush)."""
        errors = []
        for h in self.handles:
            try:
                h.close()
            except OSError as err:
                errors.append(err)
        if errors:
            raise errors[0]

    def read(self, i: int) -> list[bytes]:
        with open(self.paths[i], "rb") as h:
            return list(R.iter_frames(h.read()))


def prepare(input_pattern: str, output_path: str, cfg: PrepareConfig) -> dict:
    """Converts `input_pattern` to TFRecord shard(s) at `output_path`; returns the stats dict.

    Raises NqInputError (bad input) or ValueError (bad settings) with nothing written.
    """
    t_start = time.time()
    if cfg.num_shards < 1:
        raise ValueError("num_shards must be >= 1")
    paths = R.shard_paths(output_path, cfg.num_shards)
    shuffle = cfg.is_training and cfg.shuffle
    with contextlib.ExitStack() as cleanup:
        buckets = None
        if shuffle:
            tmpdir = cleanup.enter_context(temporary_directory(output_path, "prepare"))
            buckets = _BucketFiles(tmpdir, cfg.shuffle_buckets)
            cleanup.callback(buckets.close)
        totals, n_written, t0, seconds = _convert(input_pattern, paths, cfg, buckets)
    stats = dict(totals.as_json(cfg.is_training), num_instances=n_written, seconds=round(seconds, 3),
                 startup_seconds=round(t0 - t_start, 3), output_files=paths)
    write_json_atomic(output_path + ".stats.json", stats)
    return stats


def _convert(input_pattern: str, paths: list[str], cfg: PrepareConfig, buckets: Optional[_BucketFiles]
             ) -> tuple[PrepareStats, int, float, float]:
    """Writes the records (through `buckets` when shuffling); returns (stats, records written,
    start time of the conversion proper, its seconds)."""
    writers = []
    totals = PrepareStats()
    n_written = 0
    pool = None
    try:
        writers = [R.AtomicRecordWriter(p, cfg.gzip) for p in paths]
        # start-up (not in "seconds"): the vocabulary, WordNet, the worker processes
        _init_worker(cfg)
        if cfg.num_workers > 1:
            pool = multiprocessing.get_context("fork").Pool(cfg.num_workers)
        t0 = time.time()
        for recs, stats in _results(cfg, input_pattern, pool):
            totals.merge(stats)
            if buckets is not None:
                # the bucket draw depends only on the record's position in the stream
                for rec in recs:
                    buckets.add(_splitmix64(cfg.random_seed * 7919 + n_written) % cfg.shuffle_buckets, rec)
                    n_written += 1
            else:
                for rec in recs:
                    writers[n_written % len(writers)].write_framed(rec)
                    n_written += 1
        if buckets is not None:
            _deal_buckets(buckets, writers, cfg)
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
    return totals, n_written, t0, seconds


def _deal_buckets(buckets: _BucketFiles, writers: list, cfg: PrepareConfig) -> None:
    """Each bucket shuffled in memory, dealt in turn to the output shards."""
    buckets.close()
    k = 0
    for b in range(cfg.shuffle_buckets):
        recs = buckets.read(b)
        random.Random(cfg.random_seed * 104_729 + b).shuffle(recs)
        for rec in recs:
            writers[k % len(writers)].write_framed(rec)
            k += 1


def iter_features(input_pattern: str, cfg: PrepareConfig) -> Iterable[tuple[NqDocument, Optional[F.NqExample], list]]:
    """(document, example, features) triples, in memory, for tools and tests (no records written)."""
    tok = NqTokenizer(cfg.vocab_file, cfg.do_lower_case)
    for ordinal, (path, line, raw) in enumerate(iter_lines(input_pattern)):
        doc = parse_line(raw, path, line)
        ex = F.build_example(doc, cfg.features)
        rng = example_rng(cfg.random_seed, ordinal)
        yield doc, ex, ([] if ex is None else F.make_features(ex, tok, cfg.features, cfg.is_training, rng))
