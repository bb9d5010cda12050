"""prepare_nq_data on Apache Beam (`--beam_pipeline_options`): the conversion of `prepare`
as a Beam pipeline, for any runner (DirectRunner, DataflowRunner, FlinkRunner, SparkRunner).

Each example gets the same work as on the local path (`prepare._Worker.process`) with the
same seed, so its records are the same bytes; only their order differs (the training
records are shuffled another way): the records are, as a multiset, the local path's.

The pipeline:
- CountLines reads each input file once as the local reader does (Python's gzip module):
  its number of non-blank lines, and the defects of a truncated or damaged gzip stream
  (Beam's text source takes those for the end of the file), named by file and line;
- ReadLines reads each file through Beam's text source and numbers its lines (1-based,
  blank lines counted, not emitted); a Reshuffle then spreads the lines over the workers
  (one file would otherwise be converted by one worker);
- Convert gives each line the local path's ordinal, its position among the non-blank
  lines of the whole input: the non-blank lines of the files before it (CountLines'
  counts, a side input) plus its position among those of its file; then `_Worker.process`
  seeded by that ordinal, as locally;
- training records are grouped into `shuffle_buckets` buckets by a hash of (seed, ordinal,
  record index) and each bucket is sorted by that hash: a shuffle that does not depend on
  the runner's order; prediction records keep no order (run_nq --do_predict builds its own
  records in example order);
- WriteToTFRecord writes the shards (Beam's sink frames the records); the counts are
  combined into the stats JSON's figures, and counted as Beam metrics (namespace
  `nq_baseline.prepare`); prediction: repeated example ids are grouped, and the first
  repeat in input order is refused with the local path's error.

Outputs go to a temporary folder beside the output (`.<name>.beam.tmp-<pid>-<random>`,
Beam's own temporaries inside it) and are moved into place once the pipeline has
succeeded, the stats JSON last: a failing pipeline leaves no shard. Paths may be any that
Beam's FileSystems serves (gs://... with apache-beam[gcp]); the temporaries of a killed run
are removed by the next run to the same local output.

Bad input raises NqInputError naming the file and line, as on the local path (the first
bad line a worker meets: with several, which one is named depends on the runner); a
failure of the runner itself raises PipelineFailed. This module imports Apache Beam in
its functions only: importing it needs no Beam.
"""

from __future__ import annotations

import binascii
import contextlib
import dataclasses
import gzip
import io
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import time
import zlib
from typing import Iterable, Iterator, Optional

from nq_baseline.common import fileio, inputs
from nq_baseline.common.errors import NqInputError
from nq_baseline.features import prepare as P
from nq_baseline.features import records as R

FLAG = "--beam_pipeline_options"
METRICS_NAMESPACE = "nq_baseline.prepare"
READ_BUFFER = 1 << 20  # Beam's text source grows its buffer by this much: NQ lines are ~100 KB-1 MB
STATS_PART = "stats-part.json"


class PipelineFailed(RuntimeError):
    """The runner failed for another reason than bad input; the message is one line."""


def import_beam():
    """apache_beam, imported without its warnings about Google Cloud clients it may not need."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        import apache_beam
    except ImportError as err:
        raise ValueError(f"{FLAG} needs Apache Beam, which is not installed ({err}): "
                         "pip install -e '.[beam]'") from None
    finally:
        root.setLevel(level)
    return apache_beam


# --------------------------------------------------------------------------- options


def pipeline_flags(text: str) -> list[str]:
    """`runner=DirectRunner,direct_num_workers=2` (TensorFlow Datasets' convention) -> Beam's
    flags `['--runner=DirectRunner', '--direct_num_workers=2']`, checked by Beam's own
    parser: an unknown option or a bad value is a ValueError naming it."""
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    if not items:
        raise ValueError(f"{FLAG} is empty: give Beam's options as name=value,name=value "
                         "(runner=DirectRunner,direct_num_workers=2)")
    flags = ["--" + item.lstrip("-") for item in items]
    import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(flags)
    usage = io.StringIO()
    try:
        with contextlib.redirect_stderr(usage):  # argparse prints its whole usage, then exits
            known = options.get_all_options()
            given = options.get_all_options(retain_unknown_options=True)
    except SystemExit:
        why = usage.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]
        raise ValueError(f"{FLAG}: {why}") from None
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"{FLAG}: unknown Beam pipeline option{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)}")
    return flags


def _is_direct(options) -> bool:
    """runner=DirectRunner (Beam's default), spelt as Beam accepts it (Direct, directrunner)."""
    from apache_beam.options.pipeline_options import StandardOptions

    runner = options.view_as(StandardOptions).runner
    return runner is None or (runner.lower().removesuffix("runner") in ("direct", "switchingdirect"))


def _direct_runner(options):
    """The runner of runner=DirectRunner: Beam's DirectRunner first tries the Prism runner,
    which it downloads from GitHub, then falls back to its Python runner; that runner
    (FnApiRunner, which reads direct_num_workers and direct_running_mode) runs here at once,
    with no network."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


@contextlib.contextmanager
def _stderr_aside(enabled: bool) -> Iterator[Optional[str]]:
    """On the local runner, what Beam and its worker processes write on stderr (their logs,
    the tracebacks of a worker's error) goes to a log file while the pipeline runs, so that
    an error is reported in one line; yields the log's path (None when not enabled)."""
    if not enabled:
        yield None
        return
    # a temporary's name (the next run removes it when this process was killed outright)
    log_path = fileio.temporary_name(os.path.join(tempfile.gettempdir(), "prepare_nq_data-beam.log"))
    fileio.register_temporary(log_path)  # removed on a signal too
    handle = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(handle, 2)  # the worker processes started meanwhile inherit it
    os.close(handle)
    try:
        yield log_path
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# --------------------------------------------------------------------------- paths


def is_remote(path: str) -> bool:
    """A path for Beam's FileSystems (gs://, s3://, hdfs://...) rather than the local disk."""
    return "://" in path


def expand_inputs(pattern: str) -> list[str]:
    """`inputs.expand_paths`, remote parts listed by Beam's FileSystems (each glob sorted)."""
    def beam_glob(part: str) -> list[str]:
        from apache_beam.io.filesystems import FileSystems

        return [m.path for m in FileSystems.match([part])[0].metadata_list]

    return inputs.expand_paths(pattern, remote_glob=beam_glob)


def _open_raw(path: str):
    """The bytes of a file as stored (no decompression), local or remote."""
    if not is_remote(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _is_gzip(path: str) -> bool:
    try:
        with _open_raw(path) as handle:
            return inputs.is_gzip_head(handle.read(64))
    except OSError as err:
        raise NqInputError(path, None, f"unreadable input ({err.strerror or err})") from None


@contextlib.contextmanager
def _text_opener(path: str, mode: str = "rb"):
    """The file opened as the local reader opens it (gzip told by its stream, read by
    Python's gzip module), local or remote."""
    gz = _is_gzip(path)
    with _open_raw(path) as raw:
        if not gz:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as handle:
            yield handle


def _read_bytes(path: str, what: str) -> bytes:
    try:
        with _open_raw(path) as handle:
            return handle.read()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the {what} ({err.strerror or err})") from None


# --------------------------------------------------------------------------- errors across processes

_MARK = "nq-baseline-error:"
_MARK_RE = re.compile(re.escape(_MARK) + r"([0-9a-f]+)")


def _marked(err: ValueError) -> RuntimeError:
    """`err` as an error a runner carries back in its text: runners re-raise a worker's
    error as their own exception with the worker's traceback as text, so the error's
    fields travel in it, hex-encoded, for `_unmarked` to rebuild it."""
    if isinstance(err, NqInputError):
        fields = {"path": err.path, "line": err.line, "reason": err.reason}
    else:
        fields = {"message": str(err)}
    payload = binascii.hexlify(json.dumps(fields).encode()).decode()
    return RuntimeError(f"{err} [{_MARK}{payload}]")


def _unmarked(exc: BaseException) -> Optional[ValueError]:
    """The error `_marked` carried in `exc` (its text or that of its causes), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        match = _MARK_RE.search(str(exc))
        try:
            fields = json.loads(binascii.unhexlify(match.group(1))) if match else None
        except (ValueError, binascii.Error):  # cut short by a runner that shortens its messages
            fields = None
        if fields is not None:
            if "path" in fields:
                return NqInputError(fields["path"], fields["line"], fields["reason"])
            return ValueError(fields["message"])
        exc = exc.__cause__ or exc.__context__
    return None


def _failure_summary(exc: BaseException) -> str:
    """One line of a runner's failure: the last `SomeError: message` line of a traceback in
    its text, else its text on one line."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b:?", line)]
    if "Traceback (most recent call last)" in text and errors:
        text = errors[-1]
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + "..."


# --------------------------------------------------------------------------- the pipeline's steps


class CountLines:
    """(file index, path) -> (file index, its number of non-blank lines), read as the local
    path reads it; a damaged or truncated file raises its NqInputError."""

    def process(self, element):
        index, path = element
        try:
            n = sum(1 for _ in inputs.iter_file_lines(path, _text_opener))
        except NqInputError as err:
            raise _marked(err) from None
        yield index, n


class ReadLines:
    """(file index, path) -> (file index, position among its non-blank lines, line number,
    line with its newline) for each non-blank line, through Beam's text source (each file
    whole: line numbers count from its start). It runs after CountLines (their counts are
    its side input), so a damaged file is named as the local path names it, and the counts
    are checked to agree."""

    def process(self, element, counts):
        from apache_beam import coders
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.range_trackers import OffsetRangeTracker
        from apache_beam.io.textio import _TextSource

        index, path = element
        compression = CompressionTypes.GZIP if _is_gzip(path) else CompressionTypes.UNCOMPRESSED
        source = _TextSource(path, 0, compression, strip_trailing_newlines=False, coder=coders.BytesCoder(),
                             buffer_size=READ_BUFFER, validate=False)
        whole_file = OffsetRangeTracker(0, OffsetRangeTracker.OFFSET_INFINITY)
        position = line_no = 0
        try:
            for line_no, raw in enumerate(source.read_records(path, whole_file), start=1):
                if raw.strip():
                    yield index, position, line_no, raw
                    position += 1
        except (OSError, EOFError, zlib.error) as err:
            raise _marked(NqInputError(path, line_no + 1, f"unreadable input ({err})")) from None
        if position != counts[index]:
            raise _marked(NqInputError(path, None, f"the file changed while it was read ({counts[index]} "
                                       f"non-blank lines, then {position})"))


def _ordinal_offsets(counts: dict) -> list[int]:
    """Non-blank lines of the files before each file: file i's first ordinal."""
    offsets, total = [], 0
    for index in range(len(counts)):
        offsets.append(total)
        total += counts[index]
    return offsets


class Convert:
    """A numbered line -> its records (main output), its counts ('stats': (PrepareStats,
    number of records)) and, for prediction, ('ids': (example id, (ordinal, path, line))).
    Builds its `_Worker` (tokenizer, WordNet) on first use, in the worker process."""

    def __init__(self, cfg: P.PrepareConfig, vocab: bytes, paths: list[str]):
        self.cfg = cfg
        self.vocab = vocab
        self.paths = paths
        self._worker = None
        self._offsets = None

    def __getstate__(self):
        return {"cfg": self.cfg, "vocab": self.vocab, "paths": self.paths}

    def __setstate__(self, state):
        self.__init__(state["cfg"], state["vocab"], state["paths"])

    def _start(self):
        """The worker of this process: the vocabulary written to a local file (the driver's
        may be on another machine), read, removed."""
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        handle, local_vocab = tempfile.mkstemp(prefix="nq-vocab-", suffix=".txt")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(self.vocab)
            self._worker = _RecordWorker(dataclasses.replace(self.cfg, vocab_file=local_vocab))
        except ValueError as err:  # WordNet missing on this worker, say
            raise _marked(err) from None
        finally:
            os.unlink(local_vocab)

    def process(self, element, counts):
        from apache_beam import pvalue

        if self._worker is None:
            self._start()
        if self._offsets is None:
            self._offsets = _ordinal_offsets(counts)
        index, position, line_no, raw = element
        ordinal = self._offsets[index] + position
        if self.cfg.max_examples > 0 and ordinal >= self.cfg.max_examples:
            return
        try:
            recs, stats, key = self._worker.process(ordinal, self.paths[index], line_no, raw)
        except NqInputError as err:
            raise _marked(err) from None
        _count(stats, len(recs))
        yield pvalue.TaggedOutput("stats", (stats, len(recs)))
        if key is not None and not self.cfg.is_training:
            example_id, path, line = key
            yield pvalue.TaggedOutput("ids", (example_id, (ordinal, path, line)))
        for k, rec in enumerate(recs):
            yield (ordinal, k, rec)


class _RecordWorker(P._Worker):
    """The local path's worker, its records left unframed: Beam's sink frames them."""

    frame_records = False


def _count(stats: P.PrepareStats, n_records: int) -> None:
    """The stats' counts of one example as Beam metrics."""
    from apache_beam.metrics import Metrics

    counts = {"num_instances": n_records}
    for field in dataclasses.fields(stats):
        value = getattr(stats, field.name)
        if isinstance(value, int):
            counts[field.name] = value
    counts.update((f"instances_{name}", n) for name, n in stats.instances_by_answer_type.items())
    counts.update((f"gold_{name}", n) for name, n in stats.gold.items())
    for name, value in counts.items():
        if value:
            Metrics.counter(METRICS_NAMESPACE, name).inc(value)
    for windows, n in stats.windows_per_example.items():
        for _ in range(n):
            Metrics.distribution(METRICS_NAMESPACE, "windows_per_example").update(windows)


def merge_stats(parts: Iterable[tuple[P.PrepareStats, int]]) -> tuple[P.PrepareStats, int]:
    """Beam's combine of the counts (associative: it also merges its own results)."""
    total, n_records = P.PrepareStats(), 0
    for stats, n in parts:
        total.merge(stats)
        n_records += n
    return total, n_records


def stats_part(combined: tuple[P.PrepareStats, int], is_training: bool) -> str:
    stats, n_records = combined
    return json.dumps(dict(stats.as_json(is_training), num_instances=n_records), sort_keys=True)


def shuffle_key(random_seed: int, ordinal: int, k: int) -> int:
    """A 64-bit hash of (seed, ordinal, record index): the record's bucket and rank in it."""
    return P._splitmix64(P._splitmix64(random_seed * 104_729 + ordinal) ^ k)


def keyed_by_bucket(record: tuple, random_seed: int, buckets: int):
    ordinal, k, rec = record
    key = shuffle_key(random_seed, ordinal, k)
    return key % buckets, (key, rec)


def bucket_in_order(bucket: tuple) -> Iterator[bytes]:
    """A bucket's records, sorted by their hash (the bytes break a tie)."""
    _, keyed = bucket
    for _, rec in sorted(keyed):
        yield rec


def repeated_id(group: tuple) -> Iterator[tuple[int, str]]:
    """(ordinal of the first repeat, its error) for an example id seen more than once, with
    the message of the local path's check."""
    example_id, where = group
    first: dict = {}
    for ordinal, path, line in sorted(where):
        try:
            P._check_unique(first, example_id, path, line)
        except NqInputError as err:
            yield ordinal, json.dumps({"path": err.path, "line": err.line, "reason": err.reason})
            return


def first_of(errors: Iterable[tuple[int, str]]) -> Optional[tuple[int, str]]:
    """The repeat that comes first in the input: the one the local path meets first."""
    return min((e for e in errors if e is not None), default=None)  # None: Beam's own empty partial results


def refuse(error: Optional[tuple[int, str]]) -> Iterator[None]:
    if error is not None:
        fields = json.loads(error[1])
        raise _marked(NqInputError(fields["path"], fields["line"], fields["reason"]))
    return iter(())


# --------------------------------------------------------------------------- outputs


class _Staging:
    """The temporary folder the pipeline writes into, beside the output, and the moves of
    its files into place."""

    def __init__(self, output_path: str, finals: list[str], stack: contextlib.ExitStack):
        self.remote = is_remote(output_path)
        base = os.path.basename(output_path)
        if self.remote:
            from apache_beam.io.filesystems import FileSystems

            parent = output_path[: len(output_path) - len(base)].rstrip("/")
            self.folder = FileSystems.join(parent, f".{base}.beam.tmp-{os.getpid()}-{secrets.token_hex(4)}")
            stack.callback(self._remove_remote)
        else:
            P._check_outputs(finals + [output_path + ".stats.json"])
            P._remove_stale_temporaries(output_path)
            self.folder = stack.enter_context(fileio.temporary_directory(output_path, base + ".beam"))
        self.prefix = self.join(base)

    def join(self, name: str) -> str:
        if self.remote:
            from apache_beam.io.filesystems import FileSystems

            return FileSystems.join(self.folder, name)
        return os.path.join(self.folder, name)

    def _remove_remote(self) -> None:
        from apache_beam.io.filesystems import FileSystems

        try:
            FileSystems.delete([self.folder + "/"])  # the folder and all it holds
        except Exception as err:  # noqa: BLE001 - nothing was written there, or it stays (hidden)
            left = FileSystems.match([self.folder + "/*"])[0].metadata_list
            if left:
                logging.getLogger(__name__).warning("could not remove %s: %s", self.folder, err)

    def read_text(self, name: str) -> str:
        with _open_raw(self.join(name)) as handle:
            return handle.read().decode("utf-8")

    def publish(self, moves: list[tuple[str, str]], stats_text: str, stats_path: str) -> None:
        """Moves the shards into place, then writes the stats JSON (a reader that sees the
        stats sees every shard)."""
        if self.remote:
            from apache_beam.io.filesystems import FileSystems

            staged_stats = self.join("stats.json")
            with FileSystems.create(staged_stats, mime_type="application/json") as handle:
                handle.write(stats_text.encode("utf-8"))
            FileSystems.rename([src for src, _ in moves], [dst for _, dst in moves])
            FileSystems.rename([staged_stats], [stats_path])
            return
        P._check_outputs([dst for _, dst in moves] + [stats_path])
        with fileio.atomic_output(stats_path, "w", encoding="utf-8") as handle:
            handle.write(stats_text)
            handle.flush()
            for src, dst in moves:
                os.replace(src, dst)


# --------------------------------------------------------------------------- the driver


def prepare_beam(input_pattern: str, output_path: str, cfg: P.PrepareConfig, pipeline_options: str) -> dict:
    """`prepare` as a Beam pipeline run with `pipeline_options` (`name=value,...`); returns
    the stats dict, also written to `<output_path>.stats.json`.

    Raises NqInputError (bad input, the vocabulary included), ValueError (bad settings or
    options), PipelineFailed (the runner failed) or OSError (the outputs), with no output
    written."""
    t_start = time.time()
    pipeline, local = _new_pipeline(pipeline_flags(pipeline_options))
    vocab = _read_bytes(cfg.vocab_file, "vocabulary")
    _check_vocabulary(cfg, vocab)
    paths = expand_inputs(input_pattern)
    finals = R.shard_paths(output_path, cfg.num_shards)
    with contextlib.ExitStack() as stack:
        staging = _Staging(output_path, finals, stack)
        staged = R.shard_paths(staging.prefix, cfg.num_shards)
        _add_steps(pipeline, paths, cfg, vocab, staging)
        t0 = time.time()
        result = _run(pipeline, local)
        seconds = time.time() - t0
        stats = dict(json.loads(staging.read_text(STATS_PART)), seconds=round(seconds, 3),
                     startup_seconds=round(t0 - t_start, 3), output_files=finals,
                     beam_pipeline_options=pipeline_options, beam_metrics=_metrics(result))
        staging.publish(list(zip(staged, finals)), fileio.json_text(stats), output_path + ".stats.json")
    return stats


def _check_vocabulary(cfg: P.PrepareConfig, vocab: bytes) -> None:
    """The vocabulary is an NQ one (as the local path checks it), before anything runs."""
    if not is_remote(cfg.vocab_file):
        P.nq_tokenizer(cfg)
        return
    with tempfile.NamedTemporaryFile(suffix=".txt") as local:
        local.write(vocab)
        local.flush()
        try:
            P.nq_tokenizer(dataclasses.replace(cfg, vocab_file=local.name))
        except ValueError as err:
            raise type(err)(str(err).replace(local.name, cfg.vocab_file)) from None


def _new_pipeline(flags: list[str]):
    """(an empty pipeline on the runner of `flags`, whether that runner is the local one);
    the runner checks its options here, before any output is made."""
    beam = import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(flags)
    local = _is_direct(options)
    try:
        pipeline = beam.Pipeline(runner=_direct_runner(options) if local else None, options=options)
    except (ValueError, ImportError, RuntimeError) as err:  # an unknown runner, options it refuses, a missing extra
        raise ValueError(f"{FLAG}: {' '.join(str(err).split())}") from None
    return pipeline, local


def _add_steps(pipeline, paths: list[str], cfg: P.PrepareConfig, vocab: bytes, staging: _Staging) -> None:
    beam = import_beam()
    from apache_beam.io.filesystem import CompressionTypes

    files = pipeline | "Files" >> beam.Create(list(enumerate(paths)))
    counts = files | "CountLines" >> beam.FlatMap(CountLines().process)
    lines = (files
             | "SpreadFiles" >> beam.Reshuffle()
             | "ReadLines" >> beam.FlatMap(ReadLines().process, beam.pvalue.AsDict(counts))
             | "SpreadLines" >> beam.Reshuffle())
    converted = lines | "Convert" >> beam.FlatMap(Convert(cfg, vocab, paths).process, beam.pvalue.AsDict(counts)
                                                  ).with_outputs("stats", "ids", main="records")
    records = converted.records
    if cfg.is_training and cfg.shuffle:
        records = (records
                   | "Bucket" >> beam.Map(keyed_by_bucket, cfg.random_seed, cfg.shuffle_buckets)
                   | "GroupBuckets" >> beam.GroupByKey()
                   | "ShuffleBuckets" >> beam.FlatMap(bucket_in_order))
    else:
        records = records | "Records" >> beam.Map(lambda keyed: keyed[2])
    records | "Write" >> beam.io.WriteToTFRecord(
        staging.prefix, num_shards=cfg.num_shards, shard_name_template=None if cfg.num_shards > 1 else "",
        compression_type=CompressionTypes.GZIP if cfg.gzip else CompressionTypes.UNCOMPRESSED)
    (converted.stats
     | "MergeStats" >> beam.CombineGlobally(merge_stats)
     | "StatsJson" >> beam.Map(stats_part, cfg.is_training)
     | "WriteStats" >> beam.io.WriteToText(staging.join(STATS_PART), num_shards=1, shard_name_template=""))
    if not cfg.is_training:
        (converted.ids
         | "GroupIds" >> beam.GroupByKey()
         | "RepeatedIds" >> beam.FlatMap(repeated_id)
         | "FirstRepeat" >> beam.CombineGlobally(first_of)
         | "RefuseRepeat" >> beam.FlatMap(refuse))


def _run(pipeline, local: bool):
    """Runs `pipeline` to its end; bad input met by a worker comes back as its NqInputError.
    On the local runner, Beam's log is kept (and named) only when the runner itself failed."""
    from apache_beam.runners.runner import PipelineState

    log_path = None
    try:
        with _stderr_aside(local) as log_path:
            result = pipeline.run()
            state = result.wait_until_finish()
    except Exception as exc:  # the runner's own exception, the worker's error inside its text
        carried = _unmarked(exc)
        if carried is not None:
            raise carried from None
        kept = ""
        if log_path:  # kept under a name of its own
            kept_path = os.path.join(os.path.dirname(log_path), f"prepare_nq_data-beam-{os.getpid()}.log")
            os.replace(log_path, kept_path)
            fileio.release_temporary(log_path)
            kept = f" (Beam's log: {kept_path})"
        log_path = None
        raise PipelineFailed(f"the Beam pipeline failed: {_failure_summary(exc)}{kept}") from None
    finally:
        if log_path:
            fileio.remove_path(log_path)
            fileio.release_temporary(log_path)
    if state != PipelineState.DONE:
        raise PipelineFailed(f"the Beam pipeline ended {state} instead of DONE")
    return result


def _metrics(result) -> Optional[dict]:
    """The counters of the run as the runner reports them (committed where it can), or None
    where it reports none."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        found = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except Exception:  # noqa: BLE001 - a runner without metrics support
        return None
    counters: dict[str, int] = {}
    for counter in found["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + int(value or 0)
    for dist in found["distributions"]:
        value = dist.committed if dist.committed is not None else dist.attempted
        if value is not None and value.count:
            counters[f"{dist.key.metric.name}_max"] = int(value.max)
    return dict(sorted(counters.items()))
