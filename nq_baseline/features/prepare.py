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
- outputs are written under temporary names beside them (`.<name>.tmp-<pid>-<random>`,
  the shuffle's buckets in `.<name>.buckets.tmp-<pid>-<random>/`) and renamed when
  complete, the stats file last; on any error, and on SIGTERM/SIGINT/SIGHUP in the CLI,
  nothing is left behind; what a killed (SIGKILL) run left is removed by the next run to
  the same output; pool workers die with their parent (PR_SET_PDEATHSIG);
- prediction features refuse a repeated example id (predictions are made per id), and
  training features refuse an example without annotations (nq_data);
- settings are validated in PrepareConfig (ValueError naming prepare_nq_data's flag).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import errno
import logging
import multiprocessing
import os
import random
import signal
import time
from typing import Iterator, Optional

from nq_baseline.features import windows as F
from nq_baseline.features import records as R
from nq_baseline.common.fileio import atomic_output, json_text, remove_stale_temporaries, temporary_directory
from nq_baseline.common.ids import wrap_int64
from nq_baseline.reading.nq_data import NqDocument, NqInputError, parse_line
from nq_baseline.common.inputs import LineReader, iter_line_refs
from nq_baseline.features.tokenization import NqTokenizer, missing_nq_tokens, nq_tokens


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

    def __post_init__(self):
        """Settings that would loop, grow without bound or fail late fail here, naming the
        flag of prepare_nq_data that sets them."""
        from nq_baseline.features.augment import SCOPES

        for name, (flag, low, high) in _integer_bounds().items():
            value = getattr(self, name)
            if (not isinstance(value, int) or isinstance(value, bool) or value < low
                    or (high is not None and value > high)):
                within = f"within [{low}, {high}]" if high is not None else f"at least {low}"
                raise ValueError(f"--{flag} must be an integer {within}, got {value!r}")
        if not 0.0 <= self.augment_rate <= 1.0:  # NaN too
            raise ValueError(f"--synonym_augment_rate must be within [0, 1], got {self.augment_rate!r}")
        if self.augment_scope not in SCOPES:
            raise ValueError(f"--synonym_augment_scope must be one of {', '.join(SCOPES)}, "
                             f"got {self.augment_scope!r}")
        if self.features.max_seq_length > MAX_SEQ_LENGTH:
            raise ValueError(f"--max_seq_length must be at most {MAX_SEQ_LENGTH} (BERT models have 512 "
                             f"positions), got {self.features.max_seq_length}")


MAX_SHARDS = 99_999  # shard names carry five digits
MAX_SHUFFLE_BUCKETS = 1024  # the bucket files are open at once
MAX_AUGMENT_COPIES = 100  # every copy is held in memory with its example
MAX_SEQ_LENGTH = 8192  # a window's arrays are allocated at this length


def max_workers() -> int:
    """More worker processes than 4 per CPU only add memory (each holds a tokenizer)."""
    return 4 * (os.cpu_count() or 1)


def _integer_bounds() -> dict[str, tuple[str, int, Optional[int]]]:
    """PrepareConfig field -> (its flag, lowest, highest or None)."""
    return {"num_workers": ("num_workers", 1, max_workers()), "num_shards": ("num_shards", 1, MAX_SHARDS),
            "shuffle_buckets": ("shuffle_buckets", 1, MAX_SHUFFLE_BUCKETS),
            "max_examples": ("max_examples", 0, None), "chunk_size": ("chunk_size", 1, None),
            "augment_copies": ("synonym_augment_copies", 0, MAX_AUGMENT_COPIES)}


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

    frame_records = True  # TFRecord framing done here, in the worker (the Beam path's sink frames its own)

    def __init__(self, cfg: PrepareConfig):
        self.cfg = cfg
        self.tokenizer = nq_tokenizer(cfg)
        self.reader = LineReader()
        self.synonyms = None
        if cfg.augment_copies > 0 and cfg.is_training:
            from nq_baseline.features import augment
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
        out = R.serialize_features(feats, cfg.is_training, [F.unique_id(id_for_unique, f.doc_span_index)
                                                            for f in feats])
        if self.frame_records:  # framed here (length + CRCs), in the worker process: the writer only copies bytes
            out = list(map(R.frame_record, out))
        return out, ex

    def process(self, ordinal: int, path: str, line: int, ref) -> tuple[list[bytes], PrepareStats, Optional[tuple]]:
        """One line (its bytes, or a LineRef this process reads itself) -> (records, stats,
        (example id, path, line) or None when skipped); bad input raises NqInputError (or is
        counted)."""
        cfg = self.cfg
        stats = PrepareStats()
        try:
            doc = parse_line(self.reader.read(path, line, ref), path, line, training=cfg.is_training,
                             byte_offsets=False)  # features use no byte offsets
            recs, ex = self._records(doc, example_rng(cfg.random_seed, ordinal), stats, doc.example_id)
        except NqInputError:
            if not cfg.skip_bad_examples:
                raise
            stats.num_skipped += 1
            return [], stats, None
        stats.num_examples += 1
        stats.windows_per_example[ex.num_windows if ex is not None else 0] += 1
        if ex is not None:
            stats.gold[ex.gold_status] += 1
            stats.examples_with_correct_context += ex.has_correct_context
        if self.synonyms is not None:
            recs.extend(self._augmented_records(doc, ordinal, stats))
        return recs, stats, (doc.example_id, path, line)

    def _augmented_records(self, doc: NqDocument, ordinal: int, stats: PrepareStats) -> list[bytes]:
        """The records of the synonym copies of a document with a long answer; of their
        counts only instances and replacements are kept (the copies are not new examples)."""
        from nq_baseline.features import augment

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


def nq_tokenizer(cfg: PrepareConfig) -> NqTokenizer:
    """The tokenizer of `cfg.vocab_file`, refused (NqInputError) without bert_joint's NQ tokens."""
    tokenizer = NqTokenizer(cfg.vocab_file, cfg.do_lower_case)
    missing = missing_nq_tokens(tokenizer.vocab)
    if missing:
        raise NqInputError(cfg.vocab_file, None, f"not an NQ vocabulary: it lacks {len(missing)} of the "
                           f"{len(nq_tokens())} NQ tokens ({', '.join(missing[:3])}, ...); make one from a "
                           "BERT vocab.txt with tools/make_nq_vocab.py --input vocab.txt --output vocab-nq.txt")
    return tokenizer


def _init_worker(cfg: PrepareConfig) -> None:
    """Builds this process's worker state (tokenizer, WordNet): pool workers forked after it
    inherit it, so they start at once and share its memory copy-on-write."""
    global _WORKER
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _WORKER = _Worker(cfg)


def _pool_process_start(parent_pid: int) -> None:
    """A pool worker dies with its parent, and leaves the parent's files to the parent."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)  # not the parent's handler, which removes its temporaries
    try:  # Linux: SIGKILL when the parent dies, however it dies (even by SIGKILL)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # elsewhere: the worker ends when it next reads its closed task pipe
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


_PR_SET_PDEATHSIG = 1


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
    """`_Worker.process`'s result per example, in input order; `_init_worker(cfg)` ran before."""
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

    Raises NqInputError (bad input, the vocabulary included), ValueError (bad settings) or
    OSError (an output that cannot be written), with nothing written. Temporaries that a
    killed earlier run left beside the outputs are removed first.
    """
    t_start = time.time()
    paths = R.shard_paths(output_path, cfg.num_shards)
    stats_path = output_path + ".stats.json"
    _init_worker(cfg)  # the vocabulary (checked) and WordNet, before anything is written
    _check_outputs(paths + [stats_path])
    _remove_stale_temporaries(output_path)
    with contextlib.ExitStack() as stack:
        stack.callback(_WORKER.reader.close)  # this process's input files (pool workers' close with them)
        buckets = _open_buckets(stack, output_path, cfg) if cfg.is_training and cfg.shuffle else None
        writers: list[R.AtomicRecordWriter] = []
        stack.callback(lambda: [w.abort() for w in writers])  # no-op for the committed ones
        for path in paths:
            writers.append(R.AtomicRecordWriter(path, cfg.gzip))
        pool = _open_pool(stack, cfg)
        t0 = time.time()
        totals, n_written = _convert(input_pattern, cfg, writers, buckets, pool)
        stats = dict(totals.as_json(cfg.is_training), num_instances=n_written, seconds=round(time.time() - t0, 3),
                     startup_seconds=round(t0 - t_start, 3), output_files=paths)
        with atomic_output(stats_path, "w", encoding="utf-8") as handle:
            handle.write(json_text(stats))
            handle.flush()
            # Every shard is flushed before any is renamed: a full disk fails in this loop,
            # with no record file (and no stats) in place.
            for w in writers:
                w.finish()
            for w in writers:
                w.publish()
    return stats


def _check_outputs(paths: list[str]) -> None:
    """The output folder exists (made if need be) and no output path is a folder."""
    folder = os.path.dirname(os.path.abspath(paths[0]))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, "is not a directory", folder)
    os.makedirs(folder, exist_ok=True)
    for path in paths:
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)


def _remove_stale_temporaries(output_path: str) -> None:
    """Removes the temporaries of `output_path` (shards, stats, buckets) left by killed runs."""
    directory, base = os.path.split(os.path.abspath(output_path))
    bases = {name[1:].rpartition(".tmp-")[0] for name in os.listdir(directory)
             if name.startswith("." + base) and ".tmp-" in name}
    removed = [path for b in sorted(bases) for path in remove_stale_temporaries(directory, b)]
    if removed:
        logging.getLogger(__name__).warning("removed %d temporaries of killed runs: %s", len(removed),
                                            ", ".join(removed))


def _open_buckets(stack: contextlib.ExitStack, output_path: str, cfg: PrepareConfig) -> _BucketFiles:
    """The shuffle's bucket files, in a temporary folder beside the output, removed at the end."""
    folder = stack.enter_context(temporary_directory(output_path, os.path.basename(output_path) + ".buckets"))
    buckets = _BucketFiles(folder, cfg.shuffle_buckets)
    stack.callback(buckets.close)
    return buckets


def _open_pool(stack: contextlib.ExitStack, cfg: PrepareConfig):
    """The worker processes (None for one worker), ended when `stack` closes."""
    if cfg.num_workers <= 1:
        return None
    pool = multiprocessing.get_context("fork").Pool(cfg.num_workers, initializer=_pool_process_start,
                                                    initargs=(os.getpid(),))
    stack.callback(pool.join)
    stack.callback(pool.terminate)
    return pool


def _convert(input_pattern: str, cfg: PrepareConfig, writers: list, buckets: Optional[_BucketFiles], pool
             ) -> tuple[PrepareStats, int]:
    """Writes the records (through `buckets` when shuffling); returns (stats, records written).
    Prediction features refuse a repeated example id: predictions are made per id."""
    totals = PrepareStats()
    first_line: dict[int, tuple[str, int]] = {}  # prediction: example id -> where it was first
    n_written = 0
    for recs, stats, key in _results(cfg, input_pattern, pool):
        totals.merge(stats)
        if key is not None and not cfg.is_training:
            _check_unique(first_line, *key)
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
    return totals, n_written


def _check_unique(first_line: dict, example_id: int, path: str, line: int) -> None:
    where = first_line.setdefault(example_id, (path, line))
    if where != (path, line):
        raise NqInputError(path, line, f"duplicate example_id {example_id} (first at {where[0]}:{where[1]}): "
                           "prediction needs one example per id (nq_eval refuses repeated ids)")


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
