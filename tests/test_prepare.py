"""prepare (the library) and prepare_nq_data (its CLI): determinism, shards, stats, bad input."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NQ_REAL, ROOT, prepare_config, real_input, run_module, synthetic_nq
from nq_baseline.reading import nq_data
from nq_baseline.features import records as R
from nq_baseline.features.prepare import prepare


def test_output_identical_for_any_number_of_workers(nq_vocab, tmp_path):
    inp = real_input(tmp_path, copies=3, annotated_only=True)
    outs = []
    for workers in (1, 2):
        cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.3, num_workers=workers, random_seed=7)
        out = tmp_path / f"w{workers}.tfrecord"
        stats = prepare(str(inp), str(out), cfg)
        outs.append(out.read_bytes())
        assert stats["num_examples"] == 12
    assert outs[0] == outs[1]
    recs = [R.parse_record(r) for r in R.read_records(str(tmp_path / "w1.tfrecord"))]
    ids = [int(r["unique_ids"][0]) for r in recs]
    assert ids != sorted(ids), "training records are shuffled"
    cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.3, random_seed=8)
    prepare(str(inp), str(tmp_path / "s8.tfrecord"), cfg)
    assert (tmp_path / "s8.tfrecord").read_bytes() != outs[0], "the seed changes the sample"


def test_shards_gzip_and_stats(nq_vocab, tmp_path):
    inp = real_input(tmp_path, copies=2, annotated_only=True)
    out = tmp_path / "sh" / "train.tfrecord"
    cfg = prepare_config(nq_vocab, is_training=True, include_unknowns=0.5, num_shards=3, gzip=True)
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
    # nothing else, hidden temporaries (shards, stats, shuffle buckets) included
    assert sorted(os.listdir(tmp_path / "sh")) == [p.name for p in shards] + ["train.tfrecord.stats.json"]


def _good_line(example_id=2**62 + 5):
    return json.dumps(dict(synthetic_nq(gold_candidate=2), example_id=example_id))


def _good_lines(n, first_id=1000):
    """`n` good lines with distinct ids (prediction refuses a repeated id)."""
    return [_good_line(first_id + k) for k in range(n)]


def _main(capsys, monkeypatch, *args):
    """prepare_nq_data's flag parsing and main, in this process: (exit status, its own lines on
    stderr: errors and warnings, its stdout)."""
    from absl import flags

    from nq_baseline import prepare_nq_data

    monkeypatch.setattr(prepare_nq_data.fileio, "install_signal_cleanup", lambda *a: None)  # pytest's own signals
    status = 0
    try:
        prepare_nq_data.main(prepare_nq_data.parse_flags(["prepare_nq_data", *args]))
    except SystemExit as err:
        status = err.code
    finally:
        flags.FLAGS.unparse_flags()
    out, err = capsys.readouterr()
    return status, [line for line in err.splitlines() if line.startswith("prepare_nq_data:")], out


def _entries(folder):
    """Everything in `folder`, hidden temporaries included (glob('*') skips those)."""
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


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
    assert _entries(out.parent) == []


def test_skip_bad_examples_counts_them(nq_vocab, tmp_path):
    first, second = _good_lines(2)
    path = tmp_path / "mixed.jsonl"
    path.write_text(first + "\n{oops\n" + second + "\n")
    cfg = prepare_config(nq_vocab, is_training=False, skip_bad_examples=True)
    stats = prepare(str(path), str(tmp_path / "o.tfrecord"), cfg)
    assert stats["num_skipped"] == 1 and stats["num_examples"] == 2


def test_cli_help_and_glob_of_comma_list(nq_vocab, tmp_path):
    proc = run_module("nq_baseline.prepare_nq_data", "--helpfull")
    assert "include_unknowns" in proc.stdout and "synonym_augment_rate" in proc.stdout  # absl exits 1 after help
    out = tmp_path / "p.tfrecord"
    proc = run_module("nq_baseline.prepare_nq_data", f"--vocab_file={nq_vocab}", "--is_training=false",
                      f"--input_jsonl={NQ_REAL}/nq-dev-*.jsonl.gz,{NQ_REAL}/nq-simplified-4.jsonl.gz",
                      f"--output_tfrecord={out}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(Path(str(out) + ".stats.json").read_text())["num_examples"] == 5


def test_workers_name_the_bad_line_of_a_plain_file(nq_vocab, tmp_path):
    """With workers reading their own lines, the error still names the file and line."""
    good = _good_lines(14)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(good[:9] + ["", "{oops"] + good[9:]) + "\n")
    cfg = prepare_config(nq_vocab, is_training=False, num_workers=2)
    with pytest.raises(nq_data.NqInputError, match=rf"{path}:11: not valid JSON"):
        prepare(str(path), str(tmp_path / "o.tfrecord"), cfg)
    assert _entries(tmp_path) == ["bad.jsonl"]


def test_prepare_does_not_import_tensorflow():
    """Preparing records needs no TensorFlow: light workers, quick start-up."""
    code = "import sys, nq_baseline.prepare_nq_data; print(any(m.startswith('tensorflow') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"



# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("flag", ["--num_shards=0", "--num_shards=two", "--shuffle_buckets=0",
                                  "--shuffle_buckets=100000", "--max_examples=-1", "--synonym_augment_rate=nan",
                                  "--synonym_augment_rate=1.5", "--synonym_augment_copies=-1",
                                  "--synonym_augment_copies=1000000"])
def test_bad_flag_values_are_one_line_errors(flag, capsys):
    """absl's own checks, reported as one line with exit status 2 (absl alone: 2 lines, status 1)."""
    from absl import flags

    from nq_baseline import prepare_nq_data

    try:
        with pytest.raises(SystemExit) as exit_info:
            prepare_nq_data.parse_flags(["prepare_nq_data", flag])
    finally:
        flags.FLAGS.unparse_flags()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("prepare_nq_data: error: ") and err.count("\n") == 1 and flag.split("=")[0] in err


@pytest.mark.parametrize("settings,flag", [
    ({"num_workers": 0}, "--num_workers"), ({"num_workers": 10**6}, "--num_workers"),
    ({"num_shards": 0}, "--num_shards"), ({"shuffle_buckets": 0}, "--shuffle_buckets"),
    ({"max_examples": -1}, "--max_examples"), ({"chunk_size": 0}, "--chunk_size"),
    ({"augment_copies": -1}, "--synonym_augment_copies"), ({"augment_rate": float("nan")}, "--synonym_augment_rate"),
    ({"augment_scope": "all"}, "--synonym_augment_scope"), ({"max_seq_length": 100_000}, "--max_seq_length"),
    ({"doc_stride": 0}, "--doc_stride"), ({"doc_stride": -3}, "--doc_stride"),
    ({"max_seq_length": 64, "max_query_length": 64}, "--max_seq_length"),
])
def test_bad_settings_are_refused_naming_the_flag(nq_vocab, settings, flag):
    """The library refuses them too (run_nq builds its prediction records with prepare())."""
    with pytest.raises(ValueError, match=flag):
        prepare_config(nq_vocab, **settings)


@pytest.mark.parametrize("flag", ["--doc_stride=-3", "--num_shards=0"])
def test_cli_refuses_a_bad_number_in_one_line(nq_vocab, tmp_path, flag):
    """--doc_stride=-3 grew without bound until the OOM killer came; 0 looped for ever."""
    path = tmp_path / "in.jsonl"
    path.write_text(_good_line() + "\n")
    out = tmp_path / "out" / "x.tfrecord"
    proc = run_module("nq_baseline.prepare_nq_data", f"--vocab_file={nq_vocab}", f"--input_jsonl={path}",
                      f"--output_tfrecord={out}", flag)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and flag.split("=")[0] in proc.stderr, proc.stderr
    assert not out.parent.exists()


def test_synonym_augmentation_is_off_by_default(capsys):
    """bert_joint's behaviour: no augmented copies unless --synonym_augment_copies asks for them."""
    from absl import flags

    from nq_baseline import prepare_nq_data

    try:
        prepare_nq_data.parse_flags(["prepare_nq_data", "--vocab_file=v.txt"])
        assert prepare_nq_data.config_from_flags().augment_copies == 0
    finally:
        flags.FLAGS.unparse_flags()


# --------------------------------------------------------------------------- bad input


def test_empty_input_warns(nq_vocab, tmp_path, capsys, monkeypatch):
    """An input without examples gives an empty record file, with a warning naming it."""
    empty, bad = tmp_path / "empty.jsonl", tmp_path / "bad.jsonl"
    empty.write_text("\n  \n")
    bad.write_text("{oops\n[]\n")
    for path, why in ((empty, "holds no example"), (bad, "all 2 examples were skipped")):
        out = tmp_path / f"{path.stem}.tfrecord"
        status, lines, summary = _main(capsys, monkeypatch, f"--vocab_file={nq_vocab}", f"--input_jsonl={path}",
                                       f"--output_tfrecord={out}", "--skip_bad_examples")
        assert status == 0 and "0 examples -> 0 instances" in summary
        assert len(lines) == 1 and lines[0].startswith("prepare_nq_data: warning:"), lines
        assert str(path) in lines[0] and why in lines[0]
        assert out.read_bytes() == b""


def test_vocabulary_without_nq_tokens_is_refused(bert_vocab, tmp_path):
    """A plain BERT vocab.txt turned every marker into [UNK]; now it points to make_nq_vocab."""
    path = tmp_path / "in.jsonl"
    path.write_text(_good_line() + "\n")
    out = tmp_path / "out" / "x.tfrecord"
    with pytest.raises(nq_data.NqInputError, match=rf"^{bert_vocab}: not an NQ vocabulary.*make_nq_vocab\.py"):
        prepare(str(path), str(out), prepare_config(bert_vocab, is_training=False))
    assert not out.parent.exists()


def test_repeated_example_id_is_refused_for_prediction(nq_vocab, tmp_path):
    """Predictions are made per id (nq_eval refuses repeated ids): refused up front, both lines
    named; training may repeat an example."""
    first, second = _good_lines(2)
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join([first, second, first]) + "\n")
    for skip in (False, True):
        with pytest.raises(nq_data.NqInputError, match=rf"^{path}:3: duplicate example_id 1000 \(first at {path}:1\)"):
            prepare(str(path), str(tmp_path / "p.tfrecord"), prepare_config(nq_vocab, is_training=False,
                                                                              skip_bad_examples=skip))
    assert _entries(tmp_path) == ["dup.jsonl"]
    stats = prepare(str(path), str(tmp_path / "t.tfrecord"), prepare_config(nq_vocab, include_unknowns=1.0))
    assert stats["num_examples"] == 3


def test_labels_are_never_lost_silently(nq_vocab, tmp_path):
    """Training: an example without annotations, or with a long answer off its candidate, is bad
    input (it used to become a null example); --skip_bad_examples skips and counts it."""
    good = synthetic_nq(gold_candidate=2)
    unannotated = dict(good, example_id=7)
    del unannotated["annotations"]
    off = json.loads(json.dumps(dict(good, example_id=8)))
    off["annotations"][0]["long_answer"].update(start_token=-5, end_token=10**9)
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in (good, unannotated, off, dict(good, example_id=9))) + "\n")
    with pytest.raises(nq_data.NqInputError, match=rf"^{path}:2: training example without 'annotations'"):
        prepare(str(path), str(tmp_path / "a.tfrecord"), prepare_config(nq_vocab))
    stats = prepare(str(path), str(tmp_path / "b.tfrecord"), prepare_config(nq_vocab, skip_bad_examples=True))
    assert (stats["num_examples"], stats["num_skipped"]) == (2, 2)
    assert stats["instances_by_answer_type"]["SHORT"] == 2
    with pytest.raises(nq_data.NqInputError, match=rf"^{path}:3: annotations\[0\].long_answer tokens \[-5, "):
        prepare(str(path), str(tmp_path / "c.tfrecord"), prepare_config(nq_vocab, is_training=False))


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("case", ["output_is_a_folder", "stats_is_a_folder", "parent_is_a_file",
                                  "input_is_a_folder"])
def test_unusable_paths_are_one_line_errors(nq_vocab, tmp_path, capsys, monkeypatch, case):
    """Tracebacks with status 1 before; now one line naming the flag or file, status 2, and
    nothing written (a stats path that is a folder used to leave the records without stats)."""
    good = tmp_path / "in.jsonl"
    good.write_text("\n".join(_good_lines(3)) + "\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out, inp, expect = out_dir / "x.tfrecord", good, "--output_tfrecord"
    if case == "output_is_a_folder":
        out.mkdir()
    elif case == "stats_is_a_folder":
        (out_dir / "x.tfrecord.stats.json").mkdir()
    elif case == "parent_is_a_file":
        out = tmp_path / "in.jsonl" / "x.tfrecord"
    else:
        inp, expect = out_dir, f"{out_dir}: is a directory"
    before = _entries(out_dir)
    status, lines, _ = _main(capsys, monkeypatch, f"--vocab_file={nq_vocab}", f"--input_jsonl={inp}",
                             f"--output_tfrecord={out}", "--is_training=false")
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("prepare_nq_data: error:") and expect in lines[0], lines
    assert _entries(out_dir) == before


def _in_private_tmpfs(folder, options, *command):
    """Runs `command` with a tmpfs (mount options `options`) on `folder`, in a private mount
    namespace (nothing changes outside); returns (process, the folder's entries after it)."""
    script = ('mount -t tmpfs -o "$1" tmpfs "$2" || exit 99; case "$1" in *ro*) mount -o remount,ro "$2";; esac; '
              'shift 2; "$@"; status=$?; echo "== entries"; ls -A "$0"; exit $status')
    try:
        proc = subprocess.run(["unshare", "-m", "sh", "-c", script, str(folder), options, str(folder), *command],
                              capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    except FileNotFoundError:
        pytest.skip("unshare is not available")
    if proc.returncode == 99 or "unshare:" in proc.stderr:
        pytest.skip(f"cannot mount a private tmpfs here (needs CAP_SYS_ADMIN): {proc.stderr.strip()}")
    return proc, proc.stdout.split("== entries\n")[-1].split()


@pytest.mark.parametrize("options,training,expect", [
    ("size=32k", True, "No space left on device"), ("size=32k", False, "No space left on device"),
    ("size=1m,ro", True, "Read-only file system"),
])
def test_full_or_read_only_disk_is_one_line_error(nq_vocab, tmp_path, options, training, expect):
    """Disk full used to leave a .prepare-* folder filling the disk; now nothing stays."""
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(_good_lines(60)) + "\n")  # about 150 KB of records
    folder = tmp_path / "small"
    folder.mkdir()
    proc, entries = _in_private_tmpfs(folder, options, sys.executable, "-m", "nq_baseline.prepare_nq_data",
                                      f"--vocab_file={nq_vocab}", f"--input_jsonl={path}",
                                      f"--output_tfrecord={folder / 'x.tfrecord'}", f"--is_training={training}",
                                      "--include_unknowns=1")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "--output_tfrecord" in proc.stderr and expect in proc.stderr, proc.stderr
    assert entries == []


@pytest.mark.parametrize("where", ["bucket", "record"])
def test_write_error_midway_leaves_nothing(nq_vocab, tmp_path, monkeypatch, where):
    """A failing write (here ENOSPC raised on the 20th record) removes every temporary."""
    import errno

    from nq_baseline.features import prepare as P

    target = (P._BucketFiles, "add") if where == "bucket" else (R.AtomicRecordWriter, "write_framed")
    original, calls = getattr(*target), []

    def failing(self, *args):
        calls.append(1)
        if len(calls) == 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args)

    monkeypatch.setattr(*target, failing)
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(_good_lines(50)) + "\n")
    out = tmp_path / "out" / "x.tfrecord"
    with pytest.raises(OSError, match="No space left"):
        prepare(str(path), str(out), prepare_config(nq_vocab, include_unknowns=1.0, shuffle=where == "bucket",
                                                    num_shards=2))
    assert len(calls) == 20 and _entries(out.parent) == []


def test_full_disk_while_closing_the_second_shard_leaves_no_shard(nq_vocab, tmp_path, monkeypatch):
    """The last flush of shard 2 fails (ENOSPC): shard 1, already flushed, is not renamed into place."""
    import errno

    original, closed = R.AtomicRecordWriter.finish, []

    def failing(self):
        closed.append(self.path)
        if len(closed) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self)

    monkeypatch.setattr(R.AtomicRecordWriter, "finish", failing)
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(_good_lines(50)) + "\n")
    out = tmp_path / "out" / "x.tfrecord"
    with pytest.raises(OSError, match="No space left"):
        prepare(str(path), str(out), prepare_config(nq_vocab, include_unknowns=1.0, num_shards=2))
    assert len(closed) == 2 and _entries(out.parent) == []


def test_stale_temporaries_of_killed_runs_are_removed(nq_vocab, tmp_path):
    """Temporaries whose process is gone go; a live process's and other outputs' stay."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    out_dir = tmp_path / "out"
    stale = [f".x.tfrecord.tmp-{dead}-0a0a0a0a", f".x.tfrecord-00001-of-00004.tmp-{dead}-1b1b1b1b",
             f".x.tfrecord.stats.json.tmp-{dead}-2c2c2c2c"]
    kept = [f".x.tfrecord.tmp-{os.getpid()}-3d3d3d3d", f".other.tfrecord.tmp-{dead}-4e4e4e4e"]
    out_dir.mkdir()
    for name in stale + kept:
        (out_dir / name).write_bytes(b"partial")
    buckets = out_dir / f".x.tfrecord.buckets.tmp-{dead}-5f5f5f5f"
    buckets.mkdir()
    (buckets / "bucket-0000").write_bytes(b"partial")
    path = tmp_path / "in.jsonl"
    path.write_text(_good_line() + "\n")
    prepare(str(path), str(out_dir / "x.tfrecord"), prepare_config(nq_vocab, is_training=False))
    assert _entries(out_dir) == sorted(kept + ["x.tfrecord", "x.tfrecord.stats.json"])


# --------------------------------------------------------------------------- signals


def _long_input(path, n=32):
    """`n` examples of 6800 words, 20,000 windows each at --doc_stride=1 (about a second
    each): a worker takes seconds over its chunk of 8."""
    from nq_baseline.reading import nq_writer

    blocks = [("p", [f"w{(7 * i + j) % 997}" for j in range(170)]) for i in range(40)]
    doc = nq_writer.build_document("Long", blocks)
    with open(path, "wb") as handle:
        for k in range(n):
            handle.write(doc.example_lines(10_000 + k, "what is w5", [nq_writer.GoldAnswer(3, span=(2, 4))])[1])


def _children(pid):
    """The live (not zombie) processes whose parent is `pid`."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    state, ppid = handle.read().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue
            if int(ppid) == pid and state != "Z":
                out.append(int(entry))
    return out


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _wait(condition, seconds):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _start_long_run(nq_vocab, tmp_path):
    """prepare_nq_data with 2 workers and the shuffle, once its workers and temporaries exist."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs /proc (Linux)")
    inp = tmp_path / "long.jsonl"
    _long_input(inp)
    out_dir = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "nq_baseline.prepare_nq_data", f"--vocab_file={nq_vocab}",
                             f"--input_jsonl={inp}", f"--output_tfrecord={out_dir / 'x.tfrecord'}",
                             "--include_unknowns=1", "--num_workers=2", "--max_seq_length=32",
                             "--max_query_length=8", "--doc_stride=1"],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    started = _wait(lambda: len(_children(proc.pid)) == 2 and any(".buckets.tmp-" in e for e in _entries(out_dir)),
                    60)
    workers = _children(proc.pid)
    if not started or proc.poll() is not None:
        proc.kill()
        pytest.fail(f"the run did not start its workers: {proc.communicate()[1][-2000:]}")
    return proc, workers, out_dir


def test_sigterm_removes_temporaries_and_ends_workers(nq_vocab, tmp_path):
    proc, workers, out_dir = _start_long_run(nq_vocab, tmp_path)
    proc.terminate()
    assert proc.wait(30) == -15
    assert _entries(out_dir) == []
    assert _wait(lambda: all(_gone(w) for w in workers), 3), "workers outlive their parent"


def test_sigkill_ends_workers_and_the_rerun_removes_temporaries(nq_vocab, tmp_path):
    proc, workers, out_dir = _start_long_run(nq_vocab, tmp_path)
    proc.kill()
    assert proc.wait(30) == -9
    assert _wait(lambda: all(_gone(w) for w in workers), 3), "workers outlive their parent"
    left = _entries(out_dir)
    assert left and all(f".tmp-{proc.pid}-" in name for name in left)  # what a killed run cannot remove
    good = tmp_path / "good.jsonl"
    good.write_text(_good_line() + "\n")
    prepare(str(good), str(out_dir / "x.tfrecord"), prepare_config(nq_vocab))  # the rerun
    assert _entries(out_dir) == ["x.tfrecord", "x.tfrecord.stats.json"]
