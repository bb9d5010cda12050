"""run_nq: train (`--do_train`) and predict (`--do_predict`) bert_joint's model on NQ.

Examples:
  run_nq --do_train --bert_config_file=bert_config.json --vocab_file=vocab-nq.txt \
      --init_checkpoint=bert_model.ckpt --train_precomputed_file=records/train.tfrecord \
      --train_num_precomputed=494670 --output_dir=out/
  run_nq --do_predict --output_dir=out/ --predict_file=dev.jsonl.gz \
      --output_prediction_file=out/predictions.json

Training leaves a model folder that describes itself (`model/folder.py`: nq_model.json, the
encoder config, a copy of the vocabulary); prediction from such a folder needs no repeated
flags (a flag given explicitly wins, with a warning when it differs from training).
Prediction reads the NQ file once and feeds its windows straight to the model, through the
Reader's path (`Reader.answer_stream`); records made by prepare_nq_data (or bert_joint) are
read instead with `--predict_precomputed_file`.

Every check of flags, inputs and outputs comes before the work: a bad one is one line and
exit status 2, and no file of the user's is changed (a training run that fails before its first
checkpoint leaves no model folder behind).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time

from absl import flags, logging

from nq_baseline import program_flags
from nq_baseline.common import cli, fileio, inputs
from nq_baseline.common.errors import NqInputError
from nq_baseline.model.errors import TrainingStopped

FLAGS = flags.FLAGS
PROGRAM = "run_nq"
MAX_BATCH = 1 << 16  # rows of one forward pass; more is no faster and exhausts memory

program_flags.define_feature_flags()
program_flags.define_postprocess_flags()
flags.DEFINE_string("bert_config_file", None, "Google bert_config.json or HF config.json of the encoder "
                    "(default: the one of the model folder --output_dir).")
flags.DEFINE_string("output_dir", None, "The model folder: checkpoints, nq_model.json (and by default predictions).")
flags.DEFINE_string("train_precomputed_file", None, "Training TFRecords: a path, glob or comma list.")
flags.DEFINE_integer("train_num_precomputed", None, "Number of training records (read from the stats JSON "
                     "next to the records, or counted, when omitted).", lower_bound=1)
flags.DEFINE_string("predict_file", None, "NQ jsonl(.gz) to predict on (original or simplified format).")
flags.DEFINE_string("predict_precomputed_file", None, "Prediction TFRecords already built from --predict_file "
                    "(by prepare_nq_data --is_training=false, or bert_joint); without it the windows are made "
                    "in memory from --predict_file.")
flags.DEFINE_string("output_prediction_file", None, "Predictions JSON (default <output_dir>/predictions.json).")
flags.DEFINE_string("output_nbest_file", None, "Optional n-best JSON: the best spans of every example.")
flags.DEFINE_integer("nbest_size_in_file", 5, "Spans per example in --output_nbest_file.", lower_bound=1,
                     upper_bound=1000)
flags.DEFINE_string("init_checkpoint", None, "TF1 BERT / bert_joint checkpoint prefix, HF BERT folder, or hub name.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_predict", False, "Whether to run prediction.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training (at most the number of records).",
                     lower_bound=1, upper_bound=MAX_BATCH)
flags.DEFINE_integer("predict_batch_size", 8, "Windows per forward pass in prediction (larger is faster on "
                     "CPU/GPU).", lower_bound=1, upper_bound=MAX_BATCH)
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate of AdamW.")
flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs over train_num_precomputed records.")
flags.DEFINE_integer("max_steps", 0, "If > 0, train exactly this many steps (overrides epochs).", lower_bound=0)
flags.DEFINE_float("warmup_proportion", 0.1, "Share of steps of linear warmup.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save a checkpoint.", lower_bound=1)
flags.DEFINE_integer("log_every_steps", 100, "How often training reports its mean loss (train_log.jsonl, "
                     "TensorBoard, the log).", lower_bound=1)
flags.DEFINE_integer("iterations_per_loop", 1000, "Accepted for bert_joint compatibility (TPU only; unused).",
                     lower_bound=1)
flags.DEFINE_bool("long_answer_head", False, "Train a long-answer head: a score for every candidate from its "
                  "[ContextId=i] marker (null from [CLS]), learnt jointly (the model folder records it).")
flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches accumulated per optimizer step.", lower_bound=1,
                     upper_bound=MAX_BATCH)
flags.DEFINE_enum("mixed_precision", "none", ["none", "fp16", "bf16"], "Mixed precision: bf16 on GPUs and on "
                  "CPUs with AVX512_BF16 or AMX, fp16 on GPUs.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"], "tf.distribute strategy.")
flags.DEFINE_bool("use_tpu", False, "bert_joint compatibility: same as --strategy=tpu.")
flags.DEFINE_integer("worker_timeout_seconds", 600, "--strategy=multi_worker: the longest a worker waits for the "
                     "others of TF_CONFIG to start, and for its peers in one step; then it stops with an error "
                     "naming them (a worker that dies is noticed sooner, in about 10 s).", lower_bound=1,
                     upper_bound=7 * 24 * 3600)

# The flags a model folder's nq_model.json answers when they are not given.
_SPEC_FEATURE_FLAGS = ("max_seq_length", "doc_stride", "max_query_length", "max_contexts", "max_position",
                       "skip_nested_contexts")


def fail(message: str) -> None:
    cli.fail(PROGRAM, message)


# --------------------------------------------------------------------------- checks (before any work)


def _same_bytes(path_a: str, path_b: str) -> bool:
    import filecmp

    try:
        return filecmp.cmp(path_a, path_b, shallow=False)
    except OSError:  # a missing file fails later, with its own message
        return True


def _apply_model_spec():
    """Fills the flags a trained model folder knows (encoder config, vocabulary, feature
    settings) from `<output_dir>/nq_model.json` when they are not given; a flag given that
    differs from training is kept, with a warning. Returns the spec or None."""
    from nq_baseline.model.folder import ModelSpec

    if not FLAGS.do_predict or FLAGS.do_train or not ModelSpec.exists(FLAGS.output_dir):
        return None
    spec = ModelSpec.load(FLAGS.output_dir)
    trained = dict(spec.feature_settings(), bert_config_file=spec.bert_config_file,
                   vocab_file=spec.vocab_file, do_lower_case=spec.do_lower_case)
    for name in _SPEC_FEATURE_FLAGS + ("bert_config_file", "vocab_file", "do_lower_case"):
        if not FLAGS[name].present:
            FLAGS[name].value = trained[name]
        elif name in ("bert_config_file", "vocab_file"):
            if not _same_bytes(FLAGS[name].value, trained[name]):
                logging.warning("--%s=%s is not the file the model was trained with (%s): using --%s=%s", name,
                                FLAGS[name].value, trained[name], name, FLAGS[name].value)
        elif FLAGS[name].value != trained[name]:
            logging.warning("--%s=%s differs from the model's training value %s (%s): using --%s=%s", name,
                            FLAGS[name].value, trained[name], spec.model_dir, name, FLAGS[name].value)
    return spec


def _check_flags() -> None:
    """Checks of the flags alone."""
    if not FLAGS.do_train and not FLAGS.do_predict:
        fail("at least one of --do_train and --do_predict must be set")
    if not FLAGS.output_dir:
        fail("--output_dir is required")
    try:
        program_flags.feature_config()
        if FLAGS.do_predict:
            program_flags.postprocess_config()
    except ValueError as err:
        fail(str(err))
    for name in ("learning_rate", "num_train_epochs"):
        if not (math.isfinite(FLAGS[name].value) and FLAGS[name].value > 0):
            fail(f"--{name} must be a positive number, got {FLAGS[name].value}")
    if FLAGS.train_batch_size % FLAGS.grad_accum_steps:
        fail(f"--train_batch_size {FLAGS.train_batch_size} is not a multiple of --grad_accum_steps "
             f"{FLAGS.grad_accum_steps}")
    if FLAGS.do_train and not FLAGS.train_precomputed_file:
        fail("--do_train needs --train_precomputed_file")
    if FLAGS.bert_config_file and not os.path.isfile(FLAGS.bert_config_file):
        fail(f"--bert_config_file {FLAGS.bert_config_file}: no such file")
    if FLAGS.do_train and not FLAGS.vocab_file:
        fail("--do_train needs --vocab_file (the model folder keeps a copy, for prediction later)")
    if FLAGS.do_predict and not FLAGS.predict_file:
        fail("--do_predict needs --predict_file")
    if FLAGS.do_predict and not FLAGS.vocab_file and not FLAGS.predict_precomputed_file:
        fail("--do_predict needs --vocab_file (to make the windows), or a model folder --output_dir")


def _load_config(spec):
    from nq_baseline.model import modeling

    if not FLAGS.bert_config_file:
        fail("--bert_config_file is required (or --output_dir of a trained model folder with --do_predict)")
    if not os.path.isfile(FLAGS.bert_config_file):
        fail(f"--bert_config_file {FLAGS.bert_config_file}: no such file")
    # a model folder's own config is this project's ("gelu" is erf even in files written before it said so)
    ours = spec is not None and os.path.abspath(FLAGS.bert_config_file) == spec.bert_config_file
    try:
        config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file, google=False if ours else None)
    except (OSError, ValueError, KeyError, TypeError) as err:
        fail(f"{FLAGS.bert_config_file}: cannot read the model config ({err})")
    if FLAGS.max_seq_length > config.max_position_embeddings:
        fail(f"--max_seq_length {FLAGS.max_seq_length} exceeds the model's max_position_embeddings "
             f"{config.max_position_embeddings} ({FLAGS.bert_config_file})")
    return config


def _check_init_checkpoint() -> None:
    if FLAGS.init_checkpoint:
        from nq_baseline.model.checkpoints import CheckpointError, resolve_checkpoint_path
        try:
            resolve_checkpoint_path(FLAGS.init_checkpoint)
        except CheckpointError as err:
            fail(f"--init_checkpoint: {err}")


def _prediction_path() -> str:
    return FLAGS.output_prediction_file or os.path.join(FLAGS.output_dir, "predictions.json")


def _input_files() -> dict:
    """flag -> the files this run reads (for the outputs-over-inputs check)."""
    found = {}
    for name in ("predict_file", "predict_precomputed_file", "train_precomputed_file"):
        if FLAGS[name].value and (name != "predict_file" or FLAGS.do_predict):
            found[f"--{name}"] = inputs.expand_paths(FLAGS[name].value)
    for name in ("vocab_file", "bert_config_file", "init_checkpoint"):
        if FLAGS[name].value:
            found[f"--{name}"] = [FLAGS[name].value]
    return found


def _check_outputs() -> None:
    """The outputs can be written, and none of them is, holds or lies inside an input: the
    prediction files any input, the model folder a checkpoint it starts from."""
    try:
        fileio.check_output_folder(FLAGS.output_dir, "--output_dir")
        if FLAGS.do_train and FLAGS.init_checkpoint:
            fileio.refuse_outputs_over_inputs({"--output_dir": FLAGS.output_dir},
                                              {"--init_checkpoint": FLAGS.init_checkpoint})
        if FLAGS.do_predict:
            outputs = {"--output_prediction_file": _prediction_path(), "--output_nbest_file": FLAGS.output_nbest_file}
            for flag, path in outputs.items():
                if path:
                    fileio.check_output_file(path, flag)
            fileio.refuse_outputs_over_inputs(outputs, _input_files())
    except ValueError as err:
        fail(str(err))


def _check_cluster() -> None:
    """--do_train --strategy=multi_worker: TF_CONFIG names a cluster of workers (and maybe a chief)
    and this process's place in it, and the micro-batch splits evenly over them."""
    if not (FLAGS.do_train and FLAGS.strategy == "multi_worker"):
        return
    if FLAGS.do_predict:
        fail("--do_predict cannot run with --strategy=multi_worker: predict in a run of its own, after training")
    if not os.environ.get("TF_CONFIG"):
        fail("--strategy=multi_worker needs TF_CONFIG: the cluster's workers and this one's task in it "
             "(docs/training.md, \"Several workers\")")
    try:
        workers = _cluster_tasks(json.loads(os.environ["TF_CONFIG"]))
    except ValueError as err:
        fail(f"TF_CONFIG: {err}")
    micro = FLAGS.train_batch_size // FLAGS.grad_accum_steps
    if micro % len(workers):
        fail(f"--train_batch_size {FLAGS.train_batch_size} (a micro-batch of {micro} with --grad_accum_steps "
             f"{FLAGS.grad_accum_steps}) does not split evenly over the {len(workers)} workers of TF_CONFIG")


def _cluster_tasks(config) -> list[str]:
    """The "job index" names of a TF_CONFIG's training tasks; ValueError for one that is not usable."""
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise ValueError('not of the form {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
                         '"index": 0}}')
    cluster, task = config["cluster"], config.get("task")
    other = sorted(set(cluster) - {"chief", "worker"})
    if other:
        raise ValueError(f"run_nq trains with \"chief\" and \"worker\" tasks only, not {', '.join(other)}")
    for job, addresses in cluster.items():
        if not (isinstance(addresses, list) and all(isinstance(a, str) and a.rpartition(":")[2].isdigit()
                                                    for a in addresses)):
            raise ValueError(f"cluster {job!r} must be a list of \"host:port\" addresses, got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise ValueError("a cluster has one chief at most")
    tasks = [f"{job} {i}" for job in ("chief", "worker") for i in range(len(cluster.get(job, [])))]
    if not tasks:
        raise ValueError("the cluster names no worker")
    if not isinstance(task, dict) or f"{task.get('type')} {task.get('index')}" not in tasks:
        raise ValueError(f"\"task\" must name this process's place in the cluster ({', '.join(tasks)}), "
                         f"got {task!r}")
    return tasks


def _check_prediction_records(pattern: str) -> None:
    """The prediction records are whole (lengths and checksums) and of --max_seq_length positions."""
    from nq_baseline.features.records import check_framing, first_record

    for path in inputs.expand_paths(pattern):
        if check_framing(path):
            length = len(first_record(path)["input_ids"])
            if length != FLAGS.max_seq_length:
                raise NqInputError(path, None, f"records of {length} positions, but --max_seq_length is "
                                   f"{FLAGS.max_seq_length}")


def _first_example(pattern: str):
    """The first example of the predict file (NqInputError for a bad one); the file is refused
    when it holds none, before any model is loaded or any output touched."""
    from nq_baseline.reading.nq_data import read_documents

    first = next(read_documents(pattern, FLAGS.skip_bad_examples), None)
    if first is None:
        fail(f"--predict_file {pattern}: holds no example (empty, blank or only bad lines): nothing to predict")


# --------------------------------------------------------------------------- training


def _check_training_records(pattern: str) -> int:
    """Every record file is whole (lengths and checksums) and of --max_seq_length positions;
    returns the number of records."""
    from nq_baseline.features.records import check_framing, first_record

    counts = {}
    for path in inputs.expand_paths(pattern):
        count = counts[os.path.abspath(path)] = check_framing(path)
        if count:
            length = len(first_record(path)["input_ids"])
            if length != FLAGS.max_seq_length:
                raise NqInputError(path, None, f"records of {length} positions, but --max_seq_length is "
                                   f"{FLAGS.max_seq_length}: build them again with prepare_nq_data "
                                   f"--max_seq_length={FLAGS.max_seq_length}, or pass --max_seq_length={length}")
    if not sum(counts.values()):
        raise NqInputError(pattern, None, "holds no records (--train_precomputed_file): nothing to train on")
    _check_stated_counts(pattern, counts)
    return sum(counts.values())


def _check_stated_counts(pattern: str, counts: dict) -> None:
    """A stats JSON beside records (prepare_nq_data's) must be readable and agree with the records
    counted: one that does not was left by another run (or is damaged)."""
    import json

    for part in (p.strip() for p in pattern.split(",") if p.strip()):
        stats_path = part.split("-0000")[0].rstrip("*") + ".stats.json"
        if not os.path.exists(stats_path):
            continue
        try:
            with open(stats_path, encoding="utf-8") as handle:
                stats = json.load(handle)
            stated, files = int(stats["num_instances"]), stats.get("output_files") or [part]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise NqInputError(stats_path, None, f"not a records stats JSON ({err!r}): remove it, or build the "
                               "records again") from None
        have = [counts[os.path.abspath(f)] for f in files if os.path.abspath(f) in counts]
        if len(have) == len(files) and sum(have) != stated:
            raise NqInputError(stats_path, None, f"says {stated} records, but its files hold {sum(have)}: it "
                               "belongs to other records (remove it, or build the records again)")


def _train_records() -> int:
    """The records trained on (checked whole, and at least a batch of them)."""
    n_records = _num_train_records(_check_training_records(FLAGS.train_precomputed_file))
    if FLAGS.train_batch_size > n_records:
        fail(f"--train_batch_size {FLAGS.train_batch_size} is larger than the {n_records} training records")
    return n_records


def _num_train_records(counted: int) -> int:
    """--train_num_precomputed (at most the records there are), else the records counted."""
    if FLAGS.train_num_precomputed:
        if FLAGS.train_num_precomputed > counted:
            fail(f"--train_num_precomputed {FLAGS.train_num_precomputed} is larger than the {counted} records "
                 f"of {FLAGS.train_precomputed_file}")
        return FLAGS.train_num_precomputed
    return counted


def do_train(config, strategy, n_records: int) -> None:
    import keras
    import tensorflow as tf

    from nq_baseline.model import folder, modeling, training, workers

    micro = FLAGS.train_batch_size // FLAGS.grad_accum_steps
    steps = training.compute_num_train_steps(n_records, FLAGS.train_batch_size, FLAGS.num_train_epochs,
                                             FLAGS.max_steps)
    logging.info("Training: %d records, batch %d (%d x %d), %d steps", n_records, FLAGS.train_batch_size, micro,
                 FLAGS.grad_accum_steps, steps)
    # One seed for everything: weight initialisation, dropout streams, the input shuffle.
    keras.utils.set_random_seed(FLAGS.random_seed)
    tf.config.experimental.enable_op_determinism()
    # Only the chief writes the model folder (and removes what it added when it fails); the other
    # workers write nothing there but their own scratch checkpoints, which they remove.
    chief = training.is_chief(strategy)
    with folder.new_files_removed_on_failure(FLAGS.output_dir) if chief else contextlib.nullcontext():
        if chief:
            folder.write_model_dir(
                FLAGS.output_dir, bert_config_json=config.to_json_string(), vocab_file=FLAGS.vocab_file,
                do_lower_case=FLAGS.do_lower_case, features=program_flags.feature_config(),
                train={k: FLAGS[k].value for k in ("init_checkpoint", "train_precomputed_file", "learning_rate",
                                                   "train_batch_size", "num_train_epochs", "random_seed")}
                | {"num_train_steps": steps}, long_answer_head=FLAGS.long_answer_head)
        with strategy.scope(), workers.lost_workers_named(strategy):
            model = modeling.build_nq_model(config, FLAGS.max_seq_length, seed=FLAGS.random_seed,
                                            long_answer_head=FLAGS.long_answer_head)
        dataset = _train_input(strategy, micro)
        with _records_named(FLAGS.train_precomputed_file, "--train_precomputed_file"), \
                workers.lost_workers_named(strategy):
            training.train(model, dataset, output_dir=FLAGS.output_dir, num_train_steps=steps,
                           learning_rate=FLAGS.learning_rate, warmup_proportion=FLAGS.warmup_proportion,
                           save_checkpoints_steps=FLAGS.save_checkpoints_steps, log_every=FLAGS.log_every_steps,
                           grad_accum_steps=FLAGS.grad_accum_steps,
                           mixed_precision=None if FLAGS.mixed_precision == "none" else FLAGS.mixed_precision,
                           strategy=strategy, init_checkpoint=FLAGS.init_checkpoint)


def _train_input(strategy, micro: int):
    """The training micro-batches: one seeded stream; with several workers each reads its shard
    of it (the global batch split evenly), so together they see what one process would."""
    from nq_baseline.model import datasets, workers

    options = dict(shuffle=True, seed=FLAGS.random_seed, repeat=True)
    if workers.in_multi_worker_mode(strategy):
        return datasets.sharded_train_input(FLAGS.train_precomputed_file, micro, FLAGS.max_seq_length, **options)
    return datasets.make_train_dataset(FLAGS.train_precomputed_file, micro, FLAGS.max_seq_length, **options)


@contextlib.contextmanager
def _records_named(pattern: str, flag: str):
    """TensorFlow's reader says "corrupted record at 476" without the file: name the flag's files
    (they were checked whole before the run: one changed while it was read)."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.DataLossError as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else "DataLossError"
        detail = detail.split("}} ", 1)[-1].split(" [Op:")[0]
        raise NqInputError(pattern, None, f"damaged records ({flag}): {detail}") from None


# --------------------------------------------------------------------------- prediction


def _predicting_reader(config):
    """The Reader run_nq predicts with: the model folder's newest checkpoint (else
    --init_checkpoint), the flags' windows (bert_joint's max_contexts included) and
    post-processing, --predict_batch_size windows a pass."""
    from nq_baseline.model import checkpoints, modeling
    from nq_baseline.model.folder import ModelSpec
    from nq_baseline.features.tokenization import NqTokenizer
    from nq_baseline.prediction.reader import Reader

    spec = ModelSpec.load(FLAGS.output_dir) if ModelSpec.exists(FLAGS.output_dir) else None
    long_head = spec.long_answer_head if spec else FLAGS.long_answer_head
    try:
        postprocess = program_flags.postprocess_config(
            FLAGS.nbest_size_in_file if FLAGS.output_nbest_file else 0).for_model(long_head)
    except ValueError as err:
        fail(str(err))
    model, step = checkpoints.restored_model(
        lambda: modeling.build_nq_model(config, FLAGS.max_seq_length, long_answer_head=long_head),
        FLAGS.output_dir, FLAGS.init_checkpoint)
    if step is not None:
        logging.info("Predicting with the checkpoint of step %d in %s", step, FLAGS.output_dir)
    elif FLAGS.init_checkpoint:
        logging.info("Predicting with --init_checkpoint %s", FLAGS.init_checkpoint)
    else:
        fail(f"no checkpoint in --output_dir {FLAGS.output_dir} and no --init_checkpoint to predict with")
    tokenizer = NqTokenizer(FLAGS.vocab_file, FLAGS.do_lower_case) if FLAGS.vocab_file else None
    return Reader(model, tokenizer, program_flags.feature_config(), postprocess, FLAGS.predict_batch_size,
                  spec=spec, step=step)


def _predictions_from_file(reader):
    """Predictions of --predict_file, windows made in memory (the Reader's path), streaming;
    a repeated example id is refused where it occurs (predictions are made per id)."""
    from nq_baseline.reading.nq_data import iter_documents

    first_seen: dict[int, str] = {}

    def documents():
        for path, line, doc in iter_documents(FLAGS.predict_file, FLAGS.skip_bad_examples):
            where = first_seen.setdefault(doc.example_id, f"{path}:{line}")
            if where != f"{path}:{line}":
                raise NqInputError(path, line, f"duplicate example_id {doc.example_id} (first at {where}): "
                                   "prediction needs one example per id (nq_eval refuses repeated ids)")
            yield doc.question_text, doc

    return reader.answer_stream(documents(), kind="nq")


def _predictions_from_records(reader):
    """Predictions from --predict_precomputed_file's windows (whole and of --max_seq_length
    positions, checked first), grouped by example with --predict_file's heads."""
    from nq_baseline.model import datasets
    from nq_baseline.prediction import streaming
    from nq_baseline.prediction.lexical import read_heads_with_scores
    from nq_baseline.reading.nq_data import read_example_heads

    pattern = FLAGS.predict_precomputed_file
    read_heads = read_heads_with_scores if reader.postprocess.lexical_weight else read_example_heads
    dataset = datasets.make_predict_dataset(pattern, FLAGS.predict_batch_size, FLAGS.max_seq_length)
    return streaming.stream_predictions(read_heads(FLAGS.predict_file, FLAGS.skip_bad_examples),
                                        streaming.iter_raw_results(reader.forward, dataset), reader.postprocess,
                                        FLAGS.predict_file)


def do_predict(config) -> None:
    from nq_baseline.prediction import streaming

    t0 = time.time()
    reader = _predicting_reader(config)
    predictions = _predictions_from_records(reader) if FLAGS.predict_precomputed_file else \
        _predictions_from_file(reader)
    path = _prediction_path()
    with _records_named(FLAGS.predict_precomputed_file or FLAGS.predict_file, "--predict_precomputed_file"):
        count = streaming.write_predictions(path, predictions, FLAGS.output_nbest_file)
    logging.info("Wrote %d predictions to %s in %.1f s", count, path, time.time() - t0)
    print(f"{PROGRAM}: wrote {count} predictions to {path}")


# --------------------------------------------------------------------------- main


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    fileio.install_signal_cleanup(PROGRAM)
    try:
        spec = _apply_model_spec()
        _check_flags()
        _check_cluster()
        _check_outputs()
        if FLAGS.do_predict:
            _first_example(FLAGS.predict_file)
        if FLAGS.do_train and FLAGS.strategy == "multi_worker":
            # TensorFlow's own error lines when a peer is lost repeat the one line run_nq prints
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        cli.start_tensorflow()
        if FLAGS.do_predict and FLAGS.predict_precomputed_file:
            _check_prediction_records(FLAGS.predict_precomputed_file)
        config = _load_config(spec)  # a small file, before the records are read
        n_records = _train_records() if FLAGS.do_train else 0
        _check_init_checkpoint()
        # A multi-worker strategy configures collective ops, which must happen before TensorFlow runs
        # anything (the checks above read files only); a worker whose checks fail exits before it.
        strategy = _strategy() if FLAGS.do_train else None
        if FLAGS.do_train:
            do_train(config, strategy, n_records)
        if FLAGS.do_predict:
            do_predict(config)
    except (ValueError, TrainingStopped) as err:  # NqInputError, CheckpointError, bad settings
        fail(str(err))
    except OSError as err:
        fail(f"{getattr(err, 'filename', None) or ''}: {err.strerror or err}".lstrip(": "))


def _strategy():
    from nq_baseline.model import training

    return training.make_strategy("tpu" if FLAGS.use_tpu else FLAGS.strategy,
                                  worker_timeout_seconds=FLAGS.worker_timeout_seconds)


def run():
    cli.run_program(PROGRAM, main)


if __name__ == "__main__":
    run()
