"""run_nq: train (`--do_train`) and predict (`--do_predict`) bert_joint's model on NQ.

Examples:
  run_nq --do_train --bert_config_file=bert_config.json --vocab_file=vocab-nq.txt \
      --init_checkpoint=bert_model.ckpt --train_precomputed_file=records/train.tfrecord \
      --train_num_precomputed=494670 --output_dir=out/
  run_nq --do_predict --bert_config_file=bert_config.json --vocab_file=vocab-nq.txt \
      --predict_file=dev.jsonl.gz --output_dir=out/ --output_prediction_file=out/predictions.json
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags, logging

from nq_baseline import data_flags  # noqa: F401  (defines the shared data flags)

FLAGS = flags.FLAGS

flags.DEFINE_string("bert_config_file", None, "Google bert_config.json or HF config.json of the encoder.")
flags.DEFINE_string("output_dir", None, "Where checkpoints (and by default predictions) are written.")
flags.DEFINE_string("train_precomputed_file", None, "Training TFRecords: a path, glob or comma list.")
flags.DEFINE_integer("train_num_precomputed", None, "Number of training records (read from the stats JSON "
                     "next to the records when omitted).")
flags.DEFINE_string("predict_file", None, "NQ jsonl(.gz) to predict on (original or simplified format).")
flags.DEFINE_string("predict_precomputed_file", None, "Prediction TFRecords already built from --predict_file "
                    "(built into --output_dir when omitted).")
flags.DEFINE_string("output_prediction_file", None, "Predictions JSON (default <output_dir>/predictions.json).")
flags.DEFINE_string("output_nbest_file", None, "Optional n-best JSON: the best spans of every example.")
flags.DEFINE_integer("nbest_size_in_file", 5, "Spans per example in --output_nbest_file.")
flags.DEFINE_string("init_checkpoint", None, "TF1 BERT / bert_joint checkpoint prefix, HF BERT folder, or hub name.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_predict", False, "Whether to run prediction.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("predict_batch_size", 8, "Batch size for prediction (larger is faster on CPU/GPU).")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate of AdamW.")
flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs over train_num_precomputed records.")
flags.DEFINE_integer("max_steps", 0, "If > 0, train exactly this many steps (overrides epochs).")
flags.DEFINE_float("warmup_proportion", 0.1, "Share of steps of linear warmup.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save a checkpoint.")
flags.DEFINE_integer("iterations_per_loop", 1000, "Accepted for bert_joint compatibility (TPU only; unused).")
flags.DEFINE_integer("n_best_size", 20, "Best start and end positions considered per window.")
flags.DEFINE_integer("max_answer_length", 30, "Maximum short answer length in word pieces.")
flags.DEFINE_bool("use_answer_type", True, "Use the answer-type head for YES/NO and long-only answers "
                  "(False: bert_joint's output exactly).")
flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches accumulated per optimizer step.")
flags.DEFINE_enum("mixed_precision", "none", ["none", "fp16", "bf16"], "Mixed precision (GPU).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"], "tf.distribute strategy.")
flags.DEFINE_bool("use_tpu", False, "bert_joint compatibility: same as --strategy=tpu.")


def fail(message: str) -> None:
    print(f"run_nq: error: {message}", file=sys.stderr)
    sys.exit(2)


def _num_train_records(pattern: str) -> int:
    if FLAGS.train_num_precomputed:
        return FLAGS.train_num_precomputed
    from nq_baseline.nq_data import expand_paths
    base = pattern.split(",")[0]
    for candidate in (base, base.split("-0000")[0].rstrip("*")):
        stats = candidate + ".stats.json"
        if os.path.exists(stats):
            with open(stats, encoding="utf-8") as handle:
                return int(json.load(handle)["num_instances"])
    from nq_baseline.records import read_records
    expand_paths(pattern)
    return sum(1 for _ in read_records(pattern))


def _validate(config) -> None:
    if not FLAGS.do_train and not FLAGS.do_predict:
        fail("at least one of --do_train and --do_predict must be set")
    if not FLAGS.output_dir:
        fail("--output_dir is required")
    if FLAGS.do_train and not FLAGS.train_precomputed_file:
        fail("--do_train needs --train_precomputed_file")
    if FLAGS.do_predict and not FLAGS.predict_file:
        fail("--do_predict needs --predict_file")
    if FLAGS.do_predict and not FLAGS.vocab_file and not FLAGS.predict_precomputed_file:
        fail("--do_predict needs --vocab_file (to build the prediction records)")
    if FLAGS.max_seq_length > config.max_position_embeddings:
        fail(f"--max_seq_length {FLAGS.max_seq_length} exceeds the model's max_position_embeddings "
             f"{config.max_position_embeddings} ({FLAGS.bert_config_file})")
    if FLAGS.max_seq_length <= FLAGS.max_query_length + 3:
        fail(f"--max_seq_length ({FLAGS.max_seq_length}) must exceed --max_query_length "
             f"({FLAGS.max_query_length}) + 3")
    if FLAGS.grad_accum_steps < 1:
        fail("--grad_accum_steps must be >= 1")


def do_train(config) -> None:
    from nq_baseline import modeling, training

    n_records = _num_train_records(FLAGS.train_precomputed_file)
    micro = FLAGS.train_batch_size // FLAGS.grad_accum_steps
    if micro * FLAGS.grad_accum_steps != FLAGS.train_batch_size:
        fail(f"--train_batch_size {FLAGS.train_batch_size} is not a multiple of --grad_accum_steps "
             f"{FLAGS.grad_accum_steps}")
    steps = FLAGS.max_steps or max(1, int(n_records / FLAGS.train_batch_size * FLAGS.num_train_epochs))
    logging.info("Training: %d records, batch %d (%d x %d), %d steps", n_records, FLAGS.train_batch_size, micro,
                 FLAGS.grad_accum_steps, steps)
    strategy = training.make_strategy("tpu" if FLAGS.use_tpu else FLAGS.strategy)
    with strategy.scope():
        model = modeling.build_nq_model(config, FLAGS.max_seq_length)
    dataset = training.make_train_dataset(FLAGS.train_precomputed_file, micro, FLAGS.max_seq_length,
                                          shuffle=True, seed=FLAGS.random_seed, repeat=True)
    training.train(model, dataset, output_dir=FLAGS.output_dir, num_train_steps=steps,
                   learning_rate=FLAGS.learning_rate, warmup_proportion=FLAGS.warmup_proportion,
                   save_checkpoints_steps=FLAGS.save_checkpoints_steps, grad_accum_steps=FLAGS.grad_accum_steps,
                   mixed_precision=None if FLAGS.mixed_precision == "none" else FLAGS.mixed_precision,
                   strategy=strategy, init_checkpoint=FLAGS.init_checkpoint)


def do_predict(config) -> None:
    from nq_baseline import checkpoints, modeling, postprocess, training
    from nq_baseline.nq_data import read_documents
    from nq_baseline.prepare import PrepareConfig, prepare, write_json_atomic

    os.makedirs(FLAGS.output_dir, exist_ok=True)
    records = FLAGS.predict_precomputed_file
    t0 = time.time()
    if not records:
        records = os.path.join(FLAGS.output_dir, "predict.tfrecord")
        cfg = PrepareConfig(vocab_file=FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case,
                            features=data_flags.feature_config(), is_training=False,
                            num_workers=FLAGS.num_workers, skip_bad_examples=FLAGS.skip_bad_examples)
        stats = prepare(FLAGS.predict_file, records, cfg)
        logging.info("Prediction records: %d windows of %d examples in %.1f s", stats["num_instances"],
                     stats["num_examples"], stats["seconds"])
    model = modeling.build_nq_model(config, FLAGS.max_seq_length)
    step = training.restore_latest(model, FLAGS.output_dir)
    if step is None:
        if not FLAGS.init_checkpoint:
            fail(f"no checkpoint in --output_dir {FLAGS.output_dir} and no --init_checkpoint to predict with")
        checkpoints.load_init_checkpoint(model, FLAGS.init_checkpoint)
        logging.info("Predicting with --init_checkpoint %s", FLAGS.init_checkpoint)
    else:
        logging.info("Predicting with the checkpoint of step %d in %s", step, FLAGS.output_dir)
    dataset = training.make_predict_dataset(records, FLAGS.predict_batch_size, FLAGS.max_seq_length)
    results = [postprocess.RawResult(unique_id=int(r["unique_id"]), start_logits=r["start_logits"],
                                     end_logits=r["end_logits"], answer_type_logits=r["answer_type_logits"],
                                     token_map=r["token_map"], example_id=r.get("example_id"),
                                     doc_span_index=r.get("doc_span_index"))
               for r in map(_as_dict, training.predict_raw(model, dataset))]
    docs = list(read_documents(FLAGS.predict_file, skip_bad=FLAGS.skip_bad_examples))
    nbest = FLAGS.nbest_size_in_file if FLAGS.output_nbest_file else 0
    out = postprocess.compute_predictions(docs, results, FLAGS.n_best_size, FLAGS.max_answer_length,
                                          FLAGS.use_answer_type, nbest)
    if nbest:
        out, nbests = out
        write_json_atomic(FLAGS.output_nbest_file, nbests)
    path = FLAGS.output_prediction_file or os.path.join(FLAGS.output_dir, "predictions.json")
    write_json_atomic(path, out)
    logging.info("Wrote %d predictions to %s in %.1f s", len(out["predictions"]), path, time.time() - t0)
    print(f"run_nq: wrote {len(out['predictions'])} predictions to {path}")


def _as_dict(r) -> dict:
    if isinstance(r, dict):
        return r
    return {k: getattr(r, k) for k in ("unique_id", "start_logits", "end_logits", "answer_type_logits",
                                       "token_map", "example_id", "doc_span_index") if hasattr(r, k)}


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.bert_config_file:
        fail("--bert_config_file is required")
    from nq_baseline import modeling
    if not os.path.isfile(FLAGS.bert_config_file):
        fail(f"--bert_config_file {FLAGS.bert_config_file}: no such file")
    try:
        config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
    except (OSError, ValueError, KeyError, TypeError) as err:
        fail(f"{FLAGS.bert_config_file}: cannot read the model config ({err})")
    _validate(config)
    from nq_baseline.nq_data import NqInputError
    try:
        if FLAGS.do_train:
            do_train(config)
        if FLAGS.do_predict:
            do_predict(config)
    except NqInputError as err:
        fail(str(err))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
