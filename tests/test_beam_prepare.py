"""prepare_nq_data on Apache Beam (--beam_pipeline_options): the records are the local path's,
as a multiset, byte for byte (real NQ examples and generated pages; training with and without
synonym augmentation, prediction); the stats agree; bad input gets the local path's error; a
failing pipeline leaves no shard; remote (URL) paths go through Beam's FileSystems."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NQ_REAL, ROOT, prepare_config, real_input, synthetic_nq

pytest.importorskip("apache_beam", reason="apache-beam is not installed (pip install -e '.[beam]')")

from apache_beam.io.filesystem import FileMetadata, MatchResult  # noqa: E402
from apache_beam.io.localfilesystem import LocalFileSystem  # noqa: E402

from nq_baseline.common.errors import NqInputError  # noqa: E402
from nq_baseline.features import beam_prepare as B  # noqa: E402
from nq_baseline.features import records as R  # noqa: E402
from nq_baseline.features.prepare import prepare  # noqa: E402

IN_PROCESS = "runner=DirectRunner"
TWO_PROCESSES = "runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing"
CLI_SECONDS = 300  # a multi-process pipeline of a few hundred pages takes ~15 s here
# the counts of the stats JSON that depend on the examples only (not on timing or paths)
COUNTS = ("num_examples", "num_skipped", "num_instances", "examples_with_correct_context",
          "examples_dropped_unrecoverable_answer", "augmented_examples", "augmented_instances", "replaced_words",
          "replaced_question_words", "gold", "instances_by_answer_type", "windows_per_example", "is_training")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Generated pages (tools/make_sample_nq.py): 200 training and 40 dev examples, both formats."""
    out = tmp_path_factory.mktemp("pages")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_sample_nq.py"), f"--output_dir={out}",
                           "--num_train=200", "--num_dev=40"], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def _records(stats: dict) -> list[bytes]:
    """The records of every output file, read back by TensorFlow's reader, sorted (a multiset)."""
    return sorted(rec for path in stats["output_files"] for rec in R.read_records(path))


def _entries(folder) -> list[str]:
    """Everything in `folder`, hidden temporaries included."""
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _same_as_local(inp: str, tmp_path: Path, cfg, options=IN_PROCESS) -> tuple[dict, dict]:
    """Runs both paths on `inp`; checks the records (a multiset) and the counts agree, and that
    the Beam output folder holds the outputs alone; returns (local stats, Beam stats)."""
    local = prepare(inp, str(tmp_path / "local" / "x.tfrecord"), cfg)
    out = tmp_path / "beam" / "x.tfrecord"
    on_beam = B.prepare_beam(inp, str(out), cfg, options)
    assert local["num_instances"] > 0
    assert _records(on_beam) == _records(local)
    assert {k: on_beam[k] for k in COUNTS} == {k: local[k] for k in COUNTS}
    assert json.loads(Path(str(out) + ".stats.json").read_text()) == on_beam
    assert _entries(out.parent) == sorted([Path(p).name for p in on_beam["output_files"]] + ["x.tfrecord.stats.json"])
    return local, on_beam


def _run_cli(*args, timeout=CLI_SECONDS) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nq_baseline.prepare_nq_data", *args], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=timeout)


# --------------------------------------------------------------------------- the same records


def test_training_pages_on_two_worker_processes_equal_the_local_records(nq_vocab, pages, tmp_path):
    """The CLI with two DirectRunner worker processes, two input files (ordinals run on across
    them: the include_unknowns draws would differ otherwise), three shards."""
    inp = f"{pages}/train-full.jsonl.gz,{pages}/train-simplified.jsonl.gz"
    settings = dict(is_training=True, include_unknowns=0.5, random_seed=5, num_shards=3)
    local = prepare(inp, str(tmp_path / "local" / "x.tfrecord"), prepare_config(nq_vocab, **settings))
    out = tmp_path / "beam" / "x.tfrecord"
    proc = _run_cli(f"--vocab_file={nq_vocab}", f"--input_jsonl={inp}", f"--output_tfrecord={out}",
                    "--is_training", "--include_unknowns=0.5", "--random_seed=5", "--num_shards=3",
                    f"--beam_pipeline_options={TWO_PROCESSES}")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(Path(str(out) + ".stats.json").read_text())
    assert stats["output_files"] == [f"{out}-{i:05d}-of-00003" for i in range(3)]
    assert _entries(out.parent) == sorted([Path(p).name for p in stats["output_files"]] + ["x.tfrecord.stats.json"])
    records = _records(stats)
    assert records == _records(local) and len(records) == stats["num_instances"] == local["num_instances"]
    assert {k: stats[k] for k in COUNTS} == {k: local[k] for k in COUNTS}
    assert stats["num_examples"] == 400
    # the Beam metrics count what the stats count
    metrics = stats["beam_metrics"]
    assert metrics["num_examples"] == stats["num_examples"] and metrics["num_instances"] == stats["num_instances"]
    assert {k[len("instances_"):]: v for k, v in metrics.items() if k.startswith("instances_")} == \
        {k: v for k, v in stats["instances_by_answer_type"].items() if v}
    assert {k[len("gold_"):]: v for k, v in metrics.items() if k.startswith("gold_")} == stats["gold"]


def test_training_pages_with_synonym_augmentation(nq_vocab, pages, tmp_path):
    from nq_baseline import wordnet_setup

    try:
        wordnet_setup.load_wordnet()
    except wordnet_setup.WordNetMissingError as err:
        pytest.skip(f"WordNet cannot be loaded, so augmentation cannot be tested: {err}")
    cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.2, augment_copies=1, augment_seed=3)
    local, _ = _same_as_local(f"{pages}/train-full.jsonl.gz", tmp_path, cfg)
    assert local["augmented_examples"] > 100 and local["replaced_words"] > 0


def test_prediction_pages(nq_vocab, pages, tmp_path):
    """Two files, two shards, and --max_examples: the first 100 examples of the input; the
    staging folder a killed run left is removed."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / "beam" / f".x.tfrecord.beam.tmp-{dead}-0a0a0a0a"
    stale.mkdir(parents=True)
    (stale / "x.tfrecord-00000-of-00002").write_bytes(b"partial")
    cfg = prepare_config(nq_vocab, is_training=False, num_shards=2, max_examples=100)
    local, _ = _same_as_local(f"{pages}/dev-full.jsonl.gz,{pages}/train-simplified.jsonl.gz", tmp_path, cfg)
    assert local["num_examples"] == 100


def test_real_nq_examples_training_and_prediction(nq_vocab, tmp_path):
    """Real NQ pages (many windows each): training from a plain jsonl file, prediction from the
    gzipped files as they come, gzip records."""
    inp = real_input(tmp_path, copies=2, annotated_only=True)
    lines = inp.read_bytes().splitlines(keepends=True)
    inp.write_bytes(b"".join(lines[:2] + [b"\n", b"  \n"] + lines[2:]))  # blank lines: numbered, not counted
    inp = str(inp)
    cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.3, random_seed=2)
    local, _ = _same_as_local(inp, tmp_path / "train", cfg)
    assert local["windows_per_example"]["mean"] > 5
    cfg = prepare_config(nq_vocab, is_training=False, gzip=True)
    _same_as_local(f"{NQ_REAL}/nq-dev-*.jsonl.gz,{NQ_REAL}/nq-simplified-4.jsonl.gz", tmp_path / "predict", cfg)


# --------------------------------------------------------------------------- bad input, failures


def _lines_with_a_bad_one(path: Path) -> None:
    """Six good examples with distinct ids, a blank line, then a line that is not JSON at line 8."""
    good = [json.dumps(dict(synthetic_nq(gold_candidate=2), example_id=1000 + k)) for k in range(6)]
    path.write_bytes(gzip.compress(("\n".join(good + ["", "{oops"] + good[:1]) + "\n").encode()))


def test_bad_line_gets_the_local_error_and_leaves_nothing(nq_vocab, tmp_path):
    """Two worker processes: the worker's error comes back as the local path's one line, exit 2."""
    path = tmp_path / "bad.jsonl.gz"
    _lines_with_a_bad_one(path)
    errors = []
    for name, extra in (("local", []), ("beam", [f"--beam_pipeline_options={TWO_PROCESSES}"])):
        out = tmp_path / name / "x.tfrecord"
        proc = _run_cli(f"--vocab_file={nq_vocab}", f"--input_jsonl={path}", f"--output_tfrecord={out}",
                        "--is_training=false", "--num_shards=2", *extra)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
        errors.append(proc.stderr)
        assert _entries(out.parent) == []
    assert errors[0] == errors[1] and errors[0].startswith(f"prepare_nq_data: error: {path}:8: not valid JSON")


def test_truncated_gzip_is_named_as_locally(nq_vocab, tmp_path):
    """Beam's text source takes a truncated gzip stream for its end; the count of lines, read as
    the local path reads them, names the defect."""
    path = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(((json.dumps(synthetic_nq(gold_candidate=2)) + "\n") * 40).encode())
    path.write_bytes(data[: len(data) // 2])
    cfg = prepare_config(nq_vocab, is_training=True)
    with pytest.raises(NqInputError) as local:
        prepare(str(path), str(tmp_path / "local" / "x.tfrecord"), cfg)
    with pytest.raises(NqInputError) as on_beam:
        B.prepare_beam(str(path), str(tmp_path / "beam" / "x.tfrecord"), cfg, IN_PROCESS)
    assert str(on_beam.value) == str(local.value) and "unreadable input" in str(local.value)
    assert _entries(tmp_path / "beam") == []


def test_failing_pipeline_leaves_no_shards(nq_vocab, tmp_path):
    """A repeated example id (prediction) fails the pipeline in a branch of its own, which Beam
    may run after its sink has moved the shards into place: nothing is left; the error is the
    local path's."""
    lines = [json.dumps(dict(synthetic_nq(gold_candidate=2), example_id=2000 + k % 5)) for k in range(8)]
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join(lines) + "\n")
    cfg = prepare_config(nq_vocab, is_training=False, num_shards=2)
    with pytest.raises(NqInputError) as local:
        prepare(str(path), str(tmp_path / "local" / "x.tfrecord"), cfg)
    out = tmp_path / "beam" / "x.tfrecord"
    with pytest.raises(NqInputError) as on_beam:
        B.prepare_beam(str(path), str(out), cfg, IN_PROCESS)
    assert str(on_beam.value) == str(local.value) == (
        f"{path}:6: duplicate example_id 2000 (first at {path}:1): prediction needs one example per id "
        "(nq_eval refuses repeated ids)")
    assert _entries(out.parent) == []


def test_a_runner_failure_is_one_line_naming_beams_log(nq_vocab, tmp_path, monkeypatch):
    """A worker's failure that is not bad input: one line with the worker's error, and the
    log of Beam and its workers, kept for it (otherwise it is removed)."""
    import re

    def broken(self, *args):
        raise RuntimeError("the worker broke")

    monkeypatch.setattr(B._RecordWorker, "process", broken)
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(synthetic_nq(gold_candidate=2)) + "\n")
    out = tmp_path / "out" / "x.tfrecord"
    with pytest.raises(B.PipelineFailed) as failed:
        B.prepare_beam(str(path), str(out), prepare_config(nq_vocab), IN_PROCESS)
    message = str(failed.value)
    assert "\n" not in message and message.startswith("the Beam pipeline failed: ") and "the worker broke" in message
    log = Path(re.search(r"\(Beam's log: (\S+)\)$", message).group(1))
    assert log.is_file()  # (empty here: pytest takes the log records; the program writes them there)
    log.unlink()
    assert _entries(out.parent) == []


@pytest.mark.parametrize("options,expect", [
    ("runer=DirectRunner", "unknown Beam pipeline option runer"),
    ("runner=DirectRunner,direct_num_workers=two", "argument --direct_num_workers: invalid int value: 'two'"),
    (",", "is empty"),
    ("runner=NoSuchRunner", "Unexpected pipeline runner: NoSuchRunner"),
])
def test_bad_pipeline_options_are_one_line_errors(nq_vocab, tmp_path, capsys, monkeypatch, options, expect):
    from absl import flags

    from nq_baseline import prepare_nq_data

    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(synthetic_nq(gold_candidate=2)) + "\n")
    out = tmp_path / "out" / "x.tfrecord"
    monkeypatch.setattr(prepare_nq_data.fileio, "install_signal_cleanup", lambda *a: None)  # pytest's own signals
    try:
        with pytest.raises(SystemExit) as exit_info:
            prepare_nq_data.main(prepare_nq_data.parse_flags(
                ["prepare_nq_data", f"--vocab_file={nq_vocab}", f"--input_jsonl={path}", f"--output_tfrecord={out}",
                 f"--beam_pipeline_options={options}"]))
    finally:
        flags.FLAGS.unparse_flags()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("prepare_nq_data: error: --beam_pipeline_options") and expect in err
    assert not out.parent.exists()


def test_without_the_flag_beam_is_not_imported(nq_vocab, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(synthetic_nq(gold_candidate=2)) + "\n")
    code = ("import runpy, sys\n"
            f"sys.argv = ['prepare_nq_data', '--vocab_file={nq_vocab}', '--input_jsonl={path}', "
            f"'--output_tfrecord={tmp_path / 'x.tfrecord'}']\n"
            "try:\n    runpy.run_module('nq_baseline.prepare_nq_data', run_name='__main__')\n"
            "except SystemExit as err:\n    assert not err.code, err.code\n"
            "print(sorted(m for m in sys.modules if m.startswith('apache_beam')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "x.tfrecord.stats.json").exists()


# --------------------------------------------------------------------------- remote paths


class _UrlFileSystem(LocalFileSystem):
    """`nqtest://<absolute path>`: the local disk behind a URL scheme, as gs:// paths reach the
    Beam path (Beam's FileSystems picks a file system by scheme, among the classes defined)."""

    PREFIX = "nqtest://"

    @classmethod
    def scheme(cls):
        return "nqtest"

    @classmethod
    def _disk(cls, path):
        return path[len(cls.PREFIX):] if path.startswith(cls.PREFIX) else path

    @classmethod
    def _url(cls, path):
        return cls.PREFIX + path

    def join(self, basepath, *paths):
        if not basepath.startswith(self.PREFIX):  # the local file system's own use
            return super().join(basepath, *paths)
        return self._url(super().join(self._disk(basepath), *paths))

    def split(self, path):
        if not path.startswith(self.PREFIX):
            return super().split(path)
        head, tail = super().split(self._disk(path))
        return self._url(head), tail

    def match(self, patterns, limits=None):
        found = super().match([self._disk(p) for p in patterns], limits)
        return [MatchResult(self._url(r.pattern), [FileMetadata(self._url(m.path), m.size_in_bytes,
                                                                m.last_updated_in_seconds)
                                                   for m in r.metadata_list]) for r in found]

    def mkdirs(self, path):
        return super().mkdirs(self._disk(path))

    def create(self, path, *args, **kwargs):
        return super().create(self._disk(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._disk(path), *args, **kwargs)

    def copy(self, sources, destinations):
        return super().copy([self._disk(p) for p in sources], [self._disk(p) for p in destinations])

    def rename(self, sources, destinations):
        return super().rename([self._disk(p) for p in sources], [self._disk(p) for p in destinations])

    def exists(self, path):
        return super().exists(self._disk(path))

    def size(self, path):
        return super().size(self._disk(path))

    def last_updated(self, path):
        return super().last_updated(self._disk(path))

    def checksum(self, path):
        return super().checksum(self._disk(path))

    def delete(self, paths):
        for path in map(self._disk, paths):  # a folder with all it holds, as on GCS
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    def report_lineage(self, path, lineage):
        pass


def test_remote_paths_go_through_beams_file_systems(nq_vocab, pages, tmp_path, monkeypatch):
    """Input, vocabulary and output given as URLs (as gs:// ones): the same records, the outputs
    in place, nothing else left there, and no local folder made from a URL."""
    monkeypatch.chdir(tmp_path)
    url = _UrlFileSystem.PREFIX
    cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.5, num_shards=2)
    local = prepare(f"{pages}/train-simplified.jsonl.gz", str(tmp_path / "local" / "x.tfrecord"), cfg)
    out = tmp_path / "remote" / "x.tfrecord"
    on_beam = B.prepare_beam(f"{url}{pages}/train-simplified.jsonl.gz", f"{url}{out}",
                             prepare_config(f"{url}{nq_vocab}", is_training=True, include_unknowns=0.5, num_shards=2),
                             IN_PROCESS)
    assert on_beam["output_files"] == [f"{url}{out}-{i:05d}-of-00002" for i in range(2)]
    finals = [_UrlFileSystem._disk(p) for p in on_beam["output_files"]]
    assert sorted(rec for p in finals for rec in R.read_records(p)) == _records(local)
    assert json.loads(Path(str(out) + ".stats.json").read_text())["num_instances"] == local["num_instances"]
    assert _entries(out.parent) == ["x.tfrecord-00000-of-00002", "x.tfrecord-00001-of-00002", "x.tfrecord.stats.json"]
    assert _entries(tmp_path) == ["local", "remote"]


def test_the_local_path_refuses_a_url_output(nq_vocab, tmp_path, capsys, monkeypatch):
    """Without --beam_pipeline_options a gs:// output would have been a local folder 'gs:'."""
    from absl import flags

    from nq_baseline import prepare_nq_data

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(synthetic_nq(gold_candidate=2)) + "\n")
    try:
        with pytest.raises(SystemExit) as exit_info:
            prepare_nq_data.main(prepare_nq_data.parse_flags(
                ["prepare_nq_data", f"--vocab_file={nq_vocab}", f"--input_jsonl={path}",
                 "--output_tfrecord=gs://bucket/records/x.tfrecord"]))
    finally:
        flags.FLAGS.unparse_flags()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith("prepare_nq_data: error: --output_tfrecord=gs://bucket/records/x.tfrecord: a URL needs "
                          "--beam_pipeline_options")
    assert _entries(tmp_path) == ["in.jsonl"]


def test_a_scheme_without_its_file_system_is_one_line_error(nq_vocab, tmp_path):
    with pytest.raises(ValueError, match=r"Unable to get filesystem from specified path.*nosuchfs://b/in"):
        B.prepare_beam("nosuchfs://b/in.jsonl.gz", str(tmp_path / "x.tfrecord"), prepare_config(nq_vocab),
                       IN_PROCESS)
    assert _entries(tmp_path) == []
