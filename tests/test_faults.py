"""Faults that could lose a user's files, and damaged inputs: every program refuses them in ONE
line naming the file or flag, with exit status 2, before its work, and changes no file of the
user's (TensorFlow's start-up notices included in "one line": none may show)."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import NQ_REAL, ROOT, TINY_CONFIG, TINY_SEQ, run_module, write_tiny_records

REAL = str(NQ_REAL / "nq-dev-full-1.jsonl.gz")


def one_line(proc, *needles):
    """Exit status 2 and a single stderr line holding every needle."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def tree_digest(folder) -> dict:
    """Every file below `folder` and the SHA-256 of its bytes."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


@pytest.fixture()
def model(random_model_folder, tmp_path):
    """A copy of the random model folder the test may break."""
    folder = tmp_path / "model"
    shutil.copytree(random_model_folder[0], folder)
    return folder


# --------------------------------------------------------------------------- outputs over inputs


def test_export_never_replaces_the_model_folder(model, tmp_path):
    before = tree_digest(model)
    link = tmp_path / "link"
    link.symlink_to(model)
    for export_dir, how in ((model, "is the input"), (tmp_path, "holds the input"), (link, "is the input"),
                            (model / "inside", "lies inside the input")):
        proc = run_module("nq_baseline.export_nq", f"--model_dir={model}", f"--export_dir={export_dir}",
                          "--overwrite", "--format=hf")
        one_line(proc, "--export_dir", how, "--model_dir")
    assert tree_digest(model) == before and not (model / "inside").exists()


def test_predictions_never_overwrite_the_predict_file(model, tmp_path):
    predict_file = tmp_path / "dev.jsonl.gz"
    shutil.copy(REAL, predict_file)
    link = tmp_path / "dev-link.jsonl.gz"
    link.symlink_to(predict_file)
    before = predict_file.read_bytes()
    for output in (predict_file, link):
        proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={model}",
                          f"--predict_file={predict_file}", f"--output_prediction_file={output}")
        one_line(proc, "--output_prediction_file", "is the input --predict_file")
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={model}", f"--predict_file={predict_file}",
                      f"--output_prediction_file={tmp_path / 'p.json'}", f"--output_nbest_file={tmp_path / 'p.json'}")
    one_line(proc, "--output_prediction_file and --output_nbest_file are the same file")
    assert predict_file.read_bytes() == before and not (tmp_path / "p.json").exists()


def test_an_empty_predict_file_is_refused_and_the_model_folder_untouched(model, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    before = tree_digest(model)
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={model}", f"--predict_file={empty}")
    one_line(proc, "--predict_file", "holds no example")
    assert tree_digest(model) == before  # no predictions, no working files in the model folder


def test_an_output_under_a_file_is_refused_before_the_work(model, tmp_path):
    (tmp_path / "a_file").write_text("x")
    started = time.time()
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={model}", f"--predict_file={REAL}",
                      f"--output_prediction_file={tmp_path / 'a_file' / 'p.json'}")
    one_line(proc, "--output_prediction_file", "is a file, not a folder")
    assert time.time() - started < 60  # refused before any example is read into the model


# --------------------------------------------------------------------------- damaged checkpoints


def _data_file(folder, prefix="ckpt-1"):
    return next(folder / n for n in os.listdir(folder) if n.startswith(prefix + ".data"))


def _programs(model, tmp_path):
    """Every program that loads the model folder, with its flags."""
    return {"answer_nq": ["--question=who", f"--nq_file={REAL}"],
            "run_nq": ["--do_predict", f"--predict_file={REAL}", f"--output_prediction_file={tmp_path / 'p.json'}"],
            "export_nq": [f"--export_dir={tmp_path / 'hf'}", "--format=hf"],
            "serve_nq": ["--port=0"]}


@pytest.mark.parametrize("damage", ["overwritten", "cut short"])
def test_a_damaged_checkpoint_is_one_line_in_every_program(model, tmp_path, damage):
    data = _data_file(model)
    raw = data.read_bytes()
    data.write_bytes(b"\xff" * 64 + raw[64:] if damage == "overwritten" else raw[: len(raw) // 2])
    for program, flags in _programs(model, tmp_path).items():
        folder_flag = "--output_dir" if program == "run_nq" else "--model_dir"
        proc = run_module(f"nq_baseline.{program}", f"{folder_flag}={model}", *flags)
        one_line(proc, "ckpt-1", "the checkpoint is damaged", "no intact older checkpoint")
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "hf").exists()


def test_a_damaged_checkpoint_names_the_intact_older_one(model):
    for name in [n for n in os.listdir(model) if n.startswith("ckpt-1.")]:
        shutil.copy(model / name, model / name.replace("ckpt-1.", "ckpt-2."))
    (model / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-1"\n'
                                      'all_model_checkpoint_paths: "ckpt-2"\n')
    data = _data_file(model, "ckpt-2")
    data.write_bytes(data.read_bytes()[:100])
    proc = run_module("nq_baseline.answer_nq", f"--model_dir={model}", "--question=who", f"--nq_file={REAL}")
    one_line(proc, "ckpt-2: the checkpoint is damaged", f"intact older checkpoint, {model / 'ckpt-1'}")


# --------------------------------------------------------------------------- damaged records


def _tiny_training_flags(tmp_path, nq_vocab):
    config = tmp_path / "bert_config.json"
    config.write_text(json.dumps(dict(TINY_CONFIG, model_type="bert")))
    return [f"--bert_config_file={config}", f"--vocab_file={nq_vocab}", f"--max_seq_length={TINY_SEQ}", "--max_query_length=4",
            "--max_steps=2", "--train_batch_size=4"]


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_training_records_are_named_and_leave_no_model_folder(tmp_path, nq_vocab, damage):
    records = tmp_path / "train.tfrecord"
    write_tiny_records(records, 40)
    raw = records.read_bytes()
    records.write_bytes(raw[:-30] if damage == "truncated" else raw[:500] + bytes([raw[500] ^ 0xFF]) + raw[501:])
    out = tmp_path / "out"
    proc = run_module("nq_baseline.run_nq", "--do_train", *_tiny_training_flags(tmp_path, nq_vocab),
                      f"--train_precomputed_file={records}", f"--output_dir={out}")
    one_line(proc, str(records), f"{damage} record at byte")
    assert not out.exists()


def test_damaged_prediction_records_are_named(model, tmp_path):
    records = tmp_path / "dev.tfrecord"
    proc = run_module("nq_baseline.prepare_nq_data", f"--vocab_file={model / 'vocab.txt'}", "--is_training=false",
                      f"--input_jsonl={REAL}", f"--output_tfrecord={records}", "--max_seq_length=128",
                      "--doc_stride=64")
    assert proc.returncode == 0, proc.stderr
    records.write_bytes(records.read_bytes()[:-7])
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={model}", f"--predict_file={REAL}",
                      f"--predict_precomputed_file={records}", f"--output_prediction_file={tmp_path / 'p.json'}")
    one_line(proc, str(records), "truncated record at byte")
    assert not (tmp_path / "p.json").exists()


def test_a_batch_larger_than_the_records_is_refused_before_any_folder(tmp_path, nq_vocab):
    records = write_tiny_records(tmp_path / "train.tfrecord", 40)
    out = tmp_path / "out"
    flags = [f for f in _tiny_training_flags(tmp_path, nq_vocab) if not f.startswith("--train_batch_size")]
    proc = run_module("nq_baseline.run_nq", "--do_train", *flags, "--train_batch_size=60000",
                      f"--train_precomputed_file={records}", f"--output_dir={out}")
    one_line(proc, "--train_batch_size 60000 is larger than the 40 training records")
    proc = run_module("nq_baseline.run_nq", "--do_train", *flags, "--train_batch_size=1000000000",
                      f"--train_precomputed_file={records}", f"--output_dir={out}")
    one_line(proc, "--train_batch_size")
    assert not out.exists()


# --------------------------------------------------------------------------- questions and documents


def test_a_question_that_is_not_utf8_is_one_line(model):
    proc = subprocess.run([sys.executable, "-m", "nq_baseline.answer_nq", f"--model_dir={model}",
                           b"--question=caf\xe9 au lait", f"--nq_file={REAL}"], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    one_line(proc, "--question is not valid UTF-8")


@pytest.mark.parametrize("limit", [10**30, 2**62])
def test_a_huge_document_limit_is_a_flag_error(model, tmp_path, limit):
    page = tmp_path / "page.html"
    page.write_text("<p>Veldmoor was founded in 1820.</p>")
    proc = run_module("nq_baseline.answer_nq", f"--model_dir={model}", "--question=when", f"--html_file={page}",
                      f"--max_document_bytes={limit}")
    one_line(proc, "--max_document_bytes")


def test_ctrl_c_is_one_line_and_exit_130(model, tmp_path):
    # the input is a pipe the test holds open and never writes: the program is surely at work
    # (waiting on its input) when Ctrl-C comes, however fast the machine
    pipe = tmp_path / "examples.jsonl"
    os.mkfifo(pipe)
    # Ctrl-C as in a terminal: a child inherits an ignored SIGINT (a test runner's worker may
    # ignore it), and Python then leaves it ignored
    proc = subprocess.Popen([sys.executable, "-m", "nq_baseline.answer_nq", f"--model_dir={model}", "--question=who",
                             f"--nq_file={pipe}"], stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while True:  # opening the pipe's write end succeeds once the program has opened it to read
        try:
            writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, "answer_nq never opened its input"
            time.sleep(0.1)
    try:
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 130 and err.strip().splitlines() == ["answer_nq: interrupted"], err


# --------------------------------------------------------------------------- the server


def test_a_client_that_closes_mid_body_is_no_server_error(model):
    proc = subprocess.Popen([sys.executable, "-m", "nq_baseline.serve_nq", f"--model_dir={model}", "--port=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        line = proc.stdout.readline()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{\"question\": \"who\", \"text\": \"")
        time.sleep(2)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert b"200 OK" in sock.recv(4096)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "internal error" not in err and " 500" not in err, err
    assert "client closed the connection" in err, err
