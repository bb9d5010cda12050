"""run_nq: train (`--do_train`) and predict (`--do_predict`) bert_joint's model on NQ.

Examples:
  run_nq --do_train --bert_config_file=bert_config.json --vocab_file=vocab-nq.txt \
      --init_checkpoint=bert_model.ckpt --train_precomputed_file=records/train.tfrecord \
      --train_num_precomputed=494670 --output_dir=out/
  run_nq --do_predict --output_dir=out/ --predict_file=dev.jsonl.gz \
      --output_prediction_file=out/predictions.json

Training leaves a model folder that describes itself (`model_dir.py`: nq_model.json, the
encoder config, a copy of the vocabulary); prediction from such a folder needs no repeated
flags (a flag given explicitly wins, with a warning when it differs from training).
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Optional

from absl import app, flags, logging

from nq_baseline import program_flags as data_flags

from nq_baseline.common import fileio
from nq_baseline.common.errors import NqInputError

FLAGS = flags.FLAGS
PROGRAM = "run_nq"

flags.DEFINE_string("bert_config_file", None, "Google bert_config.json or HF config.json of the encoder "
                    "(default: the one of the model folder --output_dir).")
flags.DEFINE_string("output_dir", None, "The model folder: checkpoints, nq_model.json (and by default predictions).")
flags.DEFINE_string("train_precomputed_file", None, "Training TFRecords: a path, glob or comma list.")
flags.DEFINE_integer("train_num_precomputed", None, "Number of training records (read from the stats JSON "
                     "next to the records when omitted).", lower_bound=1)
flags.DEFINE_string("predict_file", None, "NQ jsonl(.gz) to predict on (original or simplified format).")
flags.DEFINE_string("predict_precomputed_file", None, "Prediction TFRecords already built from --predict_file "
                    "(built into --output_dir when omitted).")
flags.DEFINE_string("output_prediction_file", None, "Predictions JSON (default <output_dir>/predictions.json).")
flags.DEFINE_string("output_nbest_file", None, "Optional n-best JSON: the best spans of every example.")
flags.DEFINE_integer("nbest_size_in_file", 5, "Spans per example in --output_nbest_file.", lower_bound=1)
flags.DEFINE_string("init_checkpoint", None, "TF1 BERT / bert_joint checkpoint prefix, HF BERT folder, or hub name.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_predict", False, "Whether to run prediction.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.", lower_bound=1)
flags.DEFINE_integer("predict_batch_size", 8, "Batch size for prediction (larger is faster on CPU/GPU).",
                     lower_bound=1)
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate of AdamW.")
flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs over train_num_precomputed records.")
flags.DEFINE_integer("max_steps", 0, "If > 0, train exactly this many steps (overrides epochs).", lower_bound=0)
flags.DEFINE_float("warmup_proportion", 0.1, "Share of steps of linear warmup.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save a checkpoint.", lower_bound=1)
flags.DEFINE_integer("iterations_per_loop", 1000, "Accepted for bert_joint compatibility (TPU only; unused).",
                     lower_bound=1)
flags.DEFINE_integer("n_best_size", 20, "Best start and end positions considered per window.", lower_bound=1)
flags.DEFINE_integer("max_answer_length", 30, "Maximum short answer length in word pieces.", lower_bound=1)
flags.DEFINE_bool("use_answer_type", True, "Use the answer-type head for YES/NO and long-only answers "
                  "(False: bert_joint's output exactly).")
flags.DEFINE_bool("long_answer_head", False, "Train a long-answer head: a score for every candidate from its "
                  "[ContextId=i] marker (null from [CLS]), learnt jointly (the model folder records it).")
flags.DEFINE_enum("long_answer_from", "auto", ["auto", "span", "head"],
                  "The long answer: the candidate holding the best short span (span, bert_joint), the best "
                  "candidate of the long-answer head with the best span inside it (head), or head when the "
                  "model has one (auto).")
flags.DEFINE_enum("null_score", "cls", ["cls", "answer_type"], "Scores relative to [CLS] (cls, bert_joint), or "
                  "plus the answer-type head's log-odds that the window holds an answer (answer_type).")
flags.DEFINE_enum("answer_type_scope", "window", ["window", "example"], "Yes/no/long-only decided by the "
                  "winning window's answer type (window), or by all windows holding the long answer (example).")
flags.DEFINE_bool("short_inside_long", True, "A short answer must lie inside one top-level candidate "
                  "(False: bert_joint, which could give a short answer with no long answer).")
flags.DEFINE_float("lexical_weight", 0.0, "> 0: every span's score gains this times its paragraph's BM25 score "
                   "for the question, so the long answer weighs the model against the words (BERTserini); "
                   "0: the model alone (bert_joint).", lower_bound=0.0)
flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches accumulated per optimizer step.", lower_bound=1)
flags.DEFINE_enum("mixed_precision", "none", ["none", "fp16", "bf16"], "Mixed precision (GPU).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"], "tf.distribute strategy.")
flags.DEFINE_bool("use_tpu", False, "bert_joint compatibility: same as --strategy=tpu.")

# The flags a model folder's nq_model.json answers when they are not given.
_SPEC_FEATURE_FLAGS = ("max_seq_length", "doc_stride", "max_query_length", "max_contexts", "max_position",
                       "skip_nested_contexts")


def fail(message: str) -> None:
    fileio.fail(PROGRAM, message)


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


def _validate_flags() -> None:
    """Checks of the flags alone (before TensorFlow is imported)."""
    try:
        data_flags.feature_config()
    except ValueError as err:
        fail(str(err))
    for name in ("learning_rate", "num_train_epochs"):
        if not (math.isfinite(FLAGS[name].value) and FLAGS[name].value > 0):
            fail(f"--{name} must be a positive number, got {FLAGS[name].value}")
    if FLAGS.do_predict and not FLAGS.predict_precomputed_file:  # --num_workers, before any training
        from nq_baseline.features.prepare import PrepareConfig
        try:
            PrepareConfig(vocab_file=FLAGS.vocab_file or "", features=data_flags.feature_config(),
                          is_training=False, num_workers=FLAGS.num_workers)
        except ValueError as err:
            fail(str(err))
    if FLAGS.do_predict:
        try:
            postprocess_config(long_head=False)
        except ValueError as err:
            fail(str(err))
    if FLAGS.train_batch_size % FLAGS.grad_accum_steps:
        fail(f"--train_batch_size {FLAGS.train_batch_size} is not a multiple of --grad_accum_steps "
             f"{FLAGS.grad_accum_steps}")


def _validate(config) -> None:
    if FLAGS.max_seq_length > config.max_position_embeddings:
        fail(f"--max_seq_length {FLAGS.max_seq_length} exceeds the model's max_position_embeddings "
             f"{config.max_position_embeddings} ({FLAGS.bert_config_file})")
    if not FLAGS.output_dir:
        fail("--output_dir is required")
    if FLAGS.do_train and not FLAGS.train_precomputed_file:
        fail("--do_train needs --train_precomputed_file")
    if FLAGS.do_train and not FLAGS.vocab_file:
        fail("--do_train needs --vocab_file (the model folder keeps a copy, for prediction later)")
    if FLAGS.do_predict and not FLAGS.predict_file:
        fail("--do_predict needs --predict_file")
    if FLAGS.do_predict and not FLAGS.vocab_file and not FLAGS.predict_precomputed_file:
        fail("--do_predict needs --vocab_file (to build the prediction records)")
    if FLAGS.init_checkpoint:
        from nq_baseline.model.checkpoints import CheckpointError, resolve_checkpoint_path
        try:
            resolve_checkpoint_path(FLAGS.init_checkpoint)
        except CheckpointError as err:
            fail(f"--init_checkpoint: {err}")


def _check_records(pattern: str, flag: str) -> None:
    """Refuses record files that hold no record or were built with another --max_seq_length."""
    import tensorflow as tf

    from nq_baseline.model import training

    from nq_baseline.features.records import parse_record

    files = training.expand_file_pattern(pattern)
    any_record = False
    for path in files:  # the first record of every file (shards of one run, or a comma list)
        compression = "GZIP" if training.is_gzip_record_file(path) else ""
        first = next(iter(tf.data.TFRecordDataset([path], compression_type=compression)), None)
        if first is None:
            continue
        any_record = True
        length = len(parse_record(first.numpy())["input_ids"])
        if length != FLAGS.max_seq_length:
            raise NqInputError(path, None, f"records of {length} positions, but --max_seq_length is "
                               f"{FLAGS.max_seq_length}: build them again with prepare_nq_data --max_seq_length="
                               f"{FLAGS.max_seq_length}, or pass --max_seq_length={length}")
    if not any_record:
        raise NqInputError(files[0] if len(files) == 1 else pattern, None,
                           f"holds no records ({flag}): nothing to train or predict on")


def _stated_count(pattern: str) -> Optional[int]:
    """The records' count from the stats JSON beside each part of a comma list (None when
    one is missing)."""
    total = 0
    for part in (p.strip() for p in pattern.split(",") if p.strip()):
        for candidate in (part, part.split("-0000")[0].rstrip("*")):
            stats = candidate + ".stats.json"
            if os.path.exists(stats):
                try:
                    with open(stats, encoding="utf-8") as handle:
                        total += int(json.load(handle)["num_instances"])
                except (ValueError, KeyError, TypeError) as err:
                    raise NqInputError(stats, None, f"not a records stats JSON ({err!r}): remove it, or give "
                                       "--train_num_precomputed") from None
                break
        else:
            return None
    return total


def _num_train_records(pattern: str) -> int:
    """--train_num_precomputed, else the count of the records' stats JSON, else a count;
    a count larger than the records is refused."""
    from nq_baseline.features.records import read_records

    stated = _stated_count(pattern)
    if FLAGS.train_num_precomputed:
        if stated is not None and FLAGS.train_num_precomputed > stated:
            fail(f"--train_num_precomputed {FLAGS.train_num_precomputed} is larger than the "
                 f"{stated} records of {pattern} (their stats JSON)")
        if stated is None:  # counting would cost a pass over the records
            logging.warning("--train_num_precomputed %d is trusted: %s has no stats JSON to check it against",
                            FLAGS.train_num_precomputed, pattern)
        return FLAGS.train_num_precomputed
    return stated if stated is not None else sum(1 for _ in read_records(pattern))


def do_train(config) -> None:
    import keras
    import tensorflow as tf

    from nq_baseline.model import folder as model_dir

    from nq_baseline.model import modeling

    from nq_baseline.model import training

    _check_records(FLAGS.train_precomputed_file, "--train_precomputed_file")
    n_records = _num_train_records(FLAGS.train_precomputed_file)
    micro = FLAGS.train_batch_size // FLAGS.grad_accum_steps
    steps = training.compute_num_train_steps(n_records, FLAGS.train_batch_size, FLAGS.num_train_epochs,
                                             FLAGS.max_steps)
    logging.info("Training: %d records, batch %d (%d x %d), %d steps", n_records, FLAGS.train_batch_size, micro,
                 FLAGS.grad_accum_steps, steps)
    # One seed for everything: weight initialisation, dropout streams, the input shuffle.
    keras.utils.set_random_seed(FLAGS.random_seed)
    tf.config.experimental.enable_op_determinism()
    model_dir.write_model_dir(
        FLAGS.output_dir, bert_config_json=config.to_json_string(), vocab_file=FLAGS.vocab_file,
        do_lower_case=FLAGS.do_lower_case, features=data_flags.feature_config(),
        train={k: FLAGS[k].value for k in ("init_checkpoint", "train_precomputed_file", "learning_rate",
                                           "train_batch_size", "num_train_epochs", "random_seed")}
        | {"num_train_steps": steps}, long_answer_head=FLAGS.long_answer_head)
    strategy = training.make_strategy("tpu" if FLAGS.use_tpu else FLAGS.strategy)
    with strategy.scope():
        model = modeling.build_nq_model(config, FLAGS.max_seq_length, seed=FLAGS.random_seed,
                                        long_answer_head=FLAGS.long_answer_head)
    dataset = training.make_train_dataset(FLAGS.train_precomputed_file, micro, FLAGS.max_seq_length,
                                          shuffle=True, seed=FLAGS.random_seed, repeat=True)
    training.train(model, dataset, output_dir=FLAGS.output_dir, num_train_steps=steps,
                   learning_rate=FLAGS.learning_rate, warmup_proportion=FLAGS.warmup_proportion,
                   save_checkpoints_steps=FLAGS.save_checkpoints_steps, grad_accum_steps=FLAGS.grad_accum_steps,
                   mixed_precision=None if FLAGS.mixed_precision == "none" else FLAGS.mixed_precision,
                   strategy=strategy, init_checkpoint=FLAGS.init_checkpoint)


def _prediction_records() -> str:
    if FLAGS.predict_precomputed_file:
        return FLAGS.predict_precomputed_file
    from nq_baseline.features.prepare import PrepareConfig, prepare

    records = os.path.join(FLAGS.output_dir, "predict.tfrecord")
    cfg = PrepareConfig(vocab_file=FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case,
                        features=data_flags.feature_config(), is_training=False,
                        num_workers=FLAGS.num_workers, skip_bad_examples=FLAGS.skip_bad_examples)
    stats = prepare(FLAGS.predict_file, records, cfg)
    logging.info("Prediction records: %d windows of %d examples in %.1f s", stats["num_instances"],
                 stats["num_examples"], stats["seconds"])
    return records


def _has_long_head() -> bool:
    from nq_baseline.model.folder import ModelSpec

    if ModelSpec.exists(FLAGS.output_dir):
        return ModelSpec.load(FLAGS.output_dir).long_answer_head
    return FLAGS.long_answer_head


def postprocess_config(long_head: bool, nbest: int = 0):
    from nq_baseline.prediction.postprocess import PostprocessConfig

    long_from = FLAGS.long_answer_from if FLAGS.long_answer_from != "auto" else ("head" if long_head else "span")
    return PostprocessConfig(FLAGS.n_best_size, FLAGS.max_answer_length, FLAGS.use_answer_type, nbest,
                             long_from, FLAGS.null_score, FLAGS.answer_type_scope, FLAGS.short_inside_long,
                             FLAGS.lexical_weight)


def _restored_model(config, long_head: bool):
    from nq_baseline.model import checkpoints
    from nq_baseline.model import modeling
    from nq_baseline.model import training

    model = modeling.build_nq_model(config, FLAGS.max_seq_length, long_answer_head=long_head)
    step = training.restore_latest(model, FLAGS.output_dir)
    if step is not None:
        logging.info("Predicting with the checkpoint of step %d in %s", step, FLAGS.output_dir)
        return model
    if not FLAGS.init_checkpoint:
        fail(f"no checkpoint in --output_dir {FLAGS.output_dir} and no --init_checkpoint to predict with")
    checkpoints.load_init_checkpoint(model, FLAGS.init_checkpoint)
    logging.info("Predicting with --init_checkpoint %s", FLAGS.init_checkpoint)
    return model


def do_predict(config) -> None:
    from nq_baseline.prediction import streaming as predict
    from nq_baseline.model import training
    from nq_baseline.prediction.lexical import read_heads_with_scores
    from nq_baseline.reading.nq_data import read_example_heads

    os.makedirs(FLAGS.output_dir, exist_ok=True)
    t0 = time.time()
    records = _prediction_records()
    _check_records(records, "--predict_precomputed_file")
    long_head = _has_long_head()
    if FLAGS.long_answer_from == "head" and not long_head:
        fail("--long_answer_from=head needs a model trained with --long_answer_head")
    forward = predict.ForwardFunction(_restored_model(config, long_head))
    dataset = training.make_predict_dataset(records, FLAGS.predict_batch_size, FLAGS.max_seq_length)
    pp = postprocess_config(long_head, FLAGS.nbest_size_in_file if FLAGS.output_nbest_file else 0)
    read_heads = read_heads_with_scores if pp.lexical_weight else read_example_heads
    predictions = predict.stream_predictions(read_heads(FLAGS.predict_file, FLAGS.skip_bad_examples),
                                             predict.iter_raw_results(forward, dataset), pp, FLAGS.predict_file)
    path = FLAGS.output_prediction_file or os.path.join(FLAGS.output_dir, "predictions.json")
    count = predict.write_predictions(path, predictions, FLAGS.output_nbest_file)
    logging.info("Wrote %d predictions to %s in %.1f s", count, path, time.time() - t0)
    print(f"run_nq: wrote {count} predictions to {path}")


def _load_config():
    from nq_baseline.model import modeling

    if not FLAGS.bert_config_file:
        fail("--bert_config_file is required (or --output_dir of a trained model folder with --do_predict)")
    if not os.path.isfile(FLAGS.bert_config_file):
        fail(f"--bert_config_file {FLAGS.bert_config_file}: no such file")
    try:
        return modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
    except (OSError, ValueError, KeyError, TypeError) as err:
        fail(f"{FLAGS.bert_config_file}: cannot read the model config ({err})")


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.do_train and not FLAGS.do_predict:
        fail("at least one of --do_train and --do_predict must be set")
    fileio.install_signal_cleanup()
    from nq_baseline.model.checkpoints import CheckpointError
    from nq_baseline.model.training import NonFiniteLossError, NoTrainingDataError
    try:
        _apply_model_spec()
        _validate_flags()
        config = _load_config()
        _validate(config)
        if FLAGS.do_train:
            do_train(config)
        if FLAGS.do_predict:
            do_predict(config)
    except (NqInputError, CheckpointError, NoTrainingDataError, NonFiniteLossError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"{getattr(err, 'filename', None) or ''}: {err.strerror or err}".lstrip(": "))


def run():
    app.run(main, flags_parser=fileio.absl_flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
