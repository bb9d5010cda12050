"""Training on several workers: `run_nq --do_train --strategy=multi_worker` with TF_CONFIG, two CPU
worker processes on 127.0.0.1 (free ports, every wait bounded, every process killed at the end).

What makes two workers at global batch B train exactly what one process trains at batch B on the
same records and seed (the comparison below):
- dropout is off (the config's dropout probabilities are 0): each worker would draw its own masks
  for its half of the batch, which one process cannot reproduce;
- the global batch of each step holds the same examples: every worker reads the one seeded,
  shuffled stream (two record files, interleaved and shuffled, reshuffled every epoch) and keeps
  every second record of it, at B / 2 a batch, so step k of both workers together is batch k of
  the one process. The shuffle stays on, seeded alike, so the test also shows that the stream is
  the same in separate processes;
- the loss of a step is the mean over its examples, and the gradient is summed over the workers
  before clipping: equal up to the order of float additions (1e-4 is the tolerance).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, TINY_CONFIG, TINY_SEQ, write_tiny_records

STEPS, SAVE_EVERY, BATCH = 60, 10, 4
RUN_LIMIT = 240  # seconds: the longest any run here may take (they take 20-40 s)


# --------------------------------------------------------------------------- a cluster on 127.0.0.1


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def user_env(**extra) -> dict:
    """The environment of a user's shell: TF_CPP_MIN_LOG_LEVEL unset (the test session sets it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG")}
    return dict(env, PYTHONPATH=str(ROOT), **extra)


class Processes:
    """run_nq processes with their stderr in files; all killed when the block ends."""

    def __init__(self, folder):
        self.folder, self.procs, self.logs = folder, [], []

    def start(self, flags, env):
        log = self.folder / f"stderr-{len(self.procs)}-{time.time_ns()}.txt"
        with open(log, "w") as handle:
            self.procs.append(subprocess.Popen([sys.executable, "-m", "nq_baseline.run_nq", *flags], env=env,
                                               stdout=subprocess.DEVNULL, stderr=handle, cwd=ROOT))
        self.logs.append(log)
        return self.procs[-1]

    def start_cluster(self, count, flags, ports=None):
        """`count` workers of one TF_CONFIG cluster; returns their addresses."""
        workers = [f"127.0.0.1:{port}" for port in ports or free_ports(count)]
        for index in range(count):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            self.start([*flags, "--strategy=multi_worker"], user_env(TF_CONFIG=json.dumps(config)))
        return workers

    def stderr(self, index) -> str:
        return self.logs[index].read_text()

    def wait_all(self, limit=RUN_LIMIT) -> list[int]:
        deadline = time.time() + limit
        for proc in self.procs:
            proc.wait(timeout=max(1.0, deadline - time.time()))
        return [proc.returncode for proc in self.procs]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            proc.wait(timeout=30)


# --------------------------------------------------------------------------- the runs compared


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("multi_worker_data")
    write_tiny_records(d / "train-0.tfrecord", 20, seed=1)
    write_tiny_records(d / "train-1.tfrecord.gz", 20, seed=2, first_id=100, gz=True)
    config = d / "bert_config.json"
    config.write_text(json.dumps(dict(TINY_CONFIG, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                      model_type="bert")))
    vocab = d / "vocab.txt"  # the model folder keeps a copy; training reads only the records
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(55)]) + "\n")
    return d


def training_flags(data, out, **overrides) -> list[str]:
    flags = dict(do_train=True, bert_config_file=data / "bert_config.json", vocab_file=data / "vocab.txt",
                 train_precomputed_file=f"{data / 'train-0.tfrecord'},{data / 'train-1.tfrecord.gz'}",
                 output_dir=out, max_seq_length=TINY_SEQ, max_query_length=4, train_batch_size=BATCH,
                 max_steps=STEPS, save_checkpoints_steps=SAVE_EVERY, log_every_steps=1, learning_rate=1e-3,
                 warmup_proportion=0.1, random_seed=5)
    flags.update(overrides)
    return [f"--{k}" if v is True else f"--{k}={v}" for k, v in flags.items()]


def run_unbroken(data, folder) -> dict:
    """One process at batch B and two workers at global batch B, same flags, side by side:
    {"one": model folder, "two": model folder}."""
    folders = {"one": folder / "one", "two": folder / "two"}
    with Processes(folder) as runs:
        runs.start(training_flags(data, folders["one"]), user_env())
        runs.start_cluster(2, training_flags(data, folders["two"]))
        codes = runs.wait_all()
        assert codes == [0, 0, 0], "\n".join(runs.stderr(i)[-3000:] for i in range(3))
    return folders


def train_log(folder) -> list[dict]:
    return [json.loads(line) for line in open(folder / "train_log.jsonl")]


def model_weights(checkpoint) -> dict:
    """Every variable a checkpoint holds: the weights (the encoder's are reached through the
    optimizer's list), Adam's moments, the step."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(checkpoint))
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(str(checkpoint))
            if name.endswith("VARIABLE_VALUE")}


def assert_same_weights(a, b, atol):
    wa, wb = model_weights(a), model_weights(b)
    assert wa.keys() == wb.keys() and len(wa) > 90
    for name in wa:
        np.testing.assert_allclose(wa[name], wb[name], atol=atol, rtol=0, err_msg=name)


def saved_steps(folder) -> list[int]:
    return sorted(int(n[5:-6]) for n in os.listdir(folder) if n.startswith("ckpt-") and n.endswith(".index"))


def assert_trained_alike(one, two):
    """Two workers' run == one process's: the loss of every step, every variable at the end, and
    the model folder (written by the chief alone)."""
    log_one, log_two = train_log(one), train_log(two)
    assert [r["step"] for r in log_two] == list(range(1, STEPS + 1))  # the chief's log alone: a line a step
    losses = np.array([r["loss"] for r in log_two])
    np.testing.assert_allclose(losses, [r["loss"] for r in log_one], atol=1e-4, rtol=0)
    assert np.ptp(losses) > 1e-2  # the batches differ step to step: a batch of other examples would show
    assert_same_weights(one / f"ckpt-{STEPS}", two / f"ckpt-{STEPS}", atol=1e-4)
    moved, earlier = model_weights(two / f"ckpt-{STEPS}"), model_weights(two / f"ckpt-{saved_steps(two)[0]}")
    assert max(float(np.abs(moved[k] - earlier[k]).max()) for k in moved) > 1e-2  # training changed them
    assert sorted(os.listdir(two)) == sorted(os.listdir(one))  # no scratch folder of the other worker left
    assert {"nq_model.json", "bert_config.json", "vocab.txt", "train_log.jsonl", "train"} <= set(os.listdir(two))
    assert os.listdir(two / "train")  # TensorBoard
    assert json.loads((one / "nq_model.json").read_text()) == json.loads((two / "nq_model.json").read_text())


def kill_worker_1_after_a_checkpoint(data, out, folder):
    """Two workers; worker 1 is killed once the first checkpoint is there: (worker 0's exit status,
    its stderr, seconds it took to stop, the cluster's addresses)."""
    with Processes(folder) as cluster:
        workers = cluster.start_cluster(2, training_flags(data, out))
        deadline = time.time() + RUN_LIMIT
        while not (out / f"ckpt-{SAVE_EVERY}.index").exists():
            assert time.time() < deadline and all(p.poll() is None for p in cluster.procs), cluster.stderr(0)
            time.sleep(0.05)
        cluster.procs[1].send_signal(signal.SIGKILL)
        killed = time.time()
        code = cluster.procs[0].wait(timeout=120)
        return code, cluster.stderr(0), time.time() - killed, workers


def test_two_workers_train_as_one_process_and_resume_after_one_dies(data, tmp_path):
    """(One test, so that its runs are made once under pytest-xdist.) Two workers train what one
    process trains; a worker killed mid-run stops the other in one line, within seconds; a restart
    whose workers do not share the model folder is refused; restarting both resumes from the last
    checkpoint and ends where the unbroken run ended."""
    unbroken = run_unbroken(data, tmp_path)
    assert_trained_alike(unbroken["one"], unbroken["two"])

    out = tmp_path / "broken"
    code, err, waited, workers = kill_worker_1_after_a_checkpoint(data, out, tmp_path)
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err[-3000:]
    saved = saved_steps(out)
    assert SAVE_EVERY <= saved[-1] < STEPS
    assert lines[-1] == (f"run_nq: error: lost worker 1 ({workers[1]}) of TF_CONFIG: it died or cannot be reached; "
                         f"training stopped at step {lines[-1].split('at step ')[1].split()[0]} (the last checkpoint "
                         f"is {out}/ckpt-{saved[-1]}): start every worker again, with the same flags, to resume from "
                         "the last checkpoint"), lines[-1]
    assert [line for line in lines if "error" in line.lower()] == lines[-1:]  # TensorFlow's own error lines kept off
    assert waited < 60  # noticed by the coordination service's heartbeats (about 10 s), not a hang

    elsewhere = tmp_path / "not-shared"  # worker 1 restarted on another folder (storage not shared)
    with Processes(tmp_path) as cluster:
        ports = free_ports(2)
        for index, folder in enumerate((out, elsewhere)):
            config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                      "task": {"type": "worker", "index": index}}
            cluster.start([*training_flags(data, folder), "--strategy=multi_worker"],
                          user_env(TF_CONFIG=json.dumps(config)))
        assert cluster.wait_all() == [2, 2]
        last_lines = [cluster.stderr(i).strip().splitlines()[-1] for i in range(2)]
    for line, folder in zip(last_lines, (out, elsewhere)):
        assert line == (f"run_nq: error: the workers start from different steps ({saved[-1]}, 0, one a replica): "
                        f"every worker must see the chief's checkpoints in --output_dir {folder} (a folder they all "
                        "share)")
    assert not elsewhere.exists() and saved_steps(out) == saved  # nothing trained, nothing left behind

    with Processes(tmp_path) as cluster:  # both again, the same flags (new ports: the old ones may linger)
        cluster.start_cluster(2, training_flags(data, out))
        assert cluster.wait_all() == [0, 0], cluster.stderr(0)[-3000:] + cluster.stderr(1)[-3000:]
    resumed = train_log(out)[-(STEPS - saved[-1]):]
    assert [r["step"] for r in resumed] == list(range(saved[-1] + 1, STEPS + 1))
    straight = {r["step"]: r["loss"] for r in train_log(unbroken["two"])}
    np.testing.assert_allclose([r["loss"] for r in resumed], [straight[r["step"]] for r in resumed], atol=1e-5)
    assert_same_weights(out / f"ckpt-{STEPS}", unbroken["two"] / f"ckpt-{STEPS}", atol=1e-5)
    assert not [n for n in os.listdir(out) if n.startswith(".")]  # the killed worker's scratch folder is gone too


def test_a_worker_that_never_starts_is_one_line_in_bounded_time(data, tmp_path):
    out = tmp_path / "out"
    with Processes(tmp_path) as alone:
        ports = free_ports(2)
        config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": 0}}
        started = time.time()
        alone.start([*training_flags(data, out), "--strategy=multi_worker", "--worker_timeout_seconds=5"],
                    user_env(TF_CONFIG=json.dumps(config)))
        assert alone.wait_all(limit=120) == [2]
        lines = alone.stderr(0).strip().splitlines()
    assert lines == [f"run_nq: error: worker 1 (127.0.0.1:{ports[1]}) of TF_CONFIG did not start within "
                     "--worker_timeout_seconds (or cannot be reached): start every worker, with the same TF_CONFIG "
                     "cluster"], lines
    assert time.time() - started < 90 and not out.exists()


@pytest.mark.parametrize("tf_config,flag,message", [
    (None, "", "--strategy=multi_worker needs TF_CONFIG"),
    ("{not json", "", "TF_CONFIG: Expecting property name"),
    ({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 2}}, "",
     "TF_CONFIG: \"task\" must name this process's place in the cluster (worker 0, worker 1)"),
    ({"cluster": {"worker": ["127.0.0.1:1"], "ps": ["127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}, "",
     "TF_CONFIG: run_nq trains with \"chief\" and \"worker\" tasks only, not ps"),
    ({"cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3"]},
      "task": {"type": "chief", "index": 0}}, "",
     "--train_batch_size 4 (a micro-batch of 4 with --grad_accum_steps 1) does not split evenly over the 3 workers"),
    ({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}},
     "--do_predict", "--do_predict cannot run with --strategy=multi_worker"),
])
def test_a_bad_cluster_is_one_line_before_any_work(data, tmp_path, tf_config, flag, message):
    env = user_env() if tf_config is None else user_env(
        TF_CONFIG=tf_config if isinstance(tf_config, str) else json.dumps(tf_config))
    extra = [flag, f"--predict_file={data / 'vocab.txt'}"] if flag else []
    proc = subprocess.run([sys.executable, "-m", "nq_baseline.run_nq", *training_flags(data, tmp_path / "out"),
                           "--strategy=multi_worker", *extra], env=env, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the shards, in this process


def test_shards_split_each_global_batch_without_overlap_or_gap(data):
    """Two shards at B/2 a batch hold, step by step, exactly the examples of the unsharded stream
    at B (none in both, none left out), over several epochs, shuffled or in file order; the
    per-replica batch comes from the input context."""
    import tensorflow as tf

    from nq_baseline.model import datasets

    files = f"{data / 'train-0.tfrecord'},{data / 'train-1.tfrecord.gz'}"
    steps = 25  # 40 records at 4 a step: two and a half epochs

    def batches(dataset):
        return [sorted(batch["unique_ids"].numpy().tolist()) for batch in dataset.take(steps)]

    for options in (dict(shuffle=True, seed=9), dict(shuffle=False)):
        whole = batches(datasets.make_train_dataset(files, BATCH, TINY_SEQ, **options))
        sharded = datasets.sharded_train_input(files, BATCH, TINY_SEQ, **options)
        shards = [batches(sharded.make(tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i,
                                                                   num_replicas_in_sync=2))) for i in range(2)]
        assert all(len(batch) == BATCH // 2 for shard in shards for batch in shard)
        assert [sorted(a + b) for a, b in zip(*shards)] == whole, options
        if options["shuffle"]:  # reshuffled every epoch: the batches of an epoch do not come back
            assert len({tuple(batch) for batch in whole}) == steps
    epoch = sorted(i for shard in shards for batch in shard[:10] for i in batch)  # in file order: one epoch
    assert epoch == list(range(20)) + list(range(100, 120))  # every record once
    with pytest.raises(ValueError, match="needs a seed"):
        datasets.make_train_dataset(files, 2, TINY_SEQ, seed=None, num_shards=2, shard_index=0)
