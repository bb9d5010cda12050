"""prepare_nq_data: NQ jsonl(.gz) -> TFRecord features in bert_joint's layout.

Example:
  prepare_nq_data --vocab_file=vocab-nq.txt --input_jsonl='data/train-*.jsonl.gz' \
      --output_tfrecord=records/train.tfrecord --is_training --include_unknowns=0.02 --num_workers=2
  # the same records as an Apache Beam pipeline (pip install -e '.[beam]'; docs/preparing.md)
  prepare_nq_data ... --beam_pipeline_options=runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing

Bad input, a bad flag or an output that cannot be written: one line `prepare_nq_data: error:
...` naming the file and line, the flag or the output, exit status 2, nothing written.
"""

import sys

from absl import flags, logging

from nq_baseline import program_flags
from nq_baseline.common import cli, fileio, inputs
from nq_baseline.features import prepare as P

FLAGS = flags.FLAGS
program_flags.define_feature_flags()
flags.DEFINE_string("input_jsonl", None, "NQ file(s): a path, glob or comma list; .jsonl or .jsonl.gz; "
                    "original or simplified format.")
flags.DEFINE_string("output_tfrecord", "records/nq.tfrecord", "Output TFRecord path (shards get a suffix).")
flags.DEFINE_bool("is_training", True, "Training features (labels) or prediction features (token_map).")
flags.DEFINE_integer("max_examples", 0, "If > 0, stop after this many examples.", lower_bound=0)
flags.DEFINE_integer("num_shards", 1, "1: exactly --output_tfrecord; N: <output>-0000i-of-0000N.",
                     lower_bound=1, upper_bound=P.MAX_SHARDS)
flags.DEFINE_bool("output_gzip", False, "GZIP-compress the TFRecord files.")
flags.DEFINE_integer("shuffle_buckets", 32, "Temporary buckets of the out-of-core training shuffle.",
                     lower_bound=1, upper_bound=P.MAX_SHUFFLE_BUCKETS)
flags.DEFINE_float("synonym_augment_rate", 0.2, "Probability that an eligible document word is replaced "
                   "by a WordNet synonym in an augmented copy.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("synonym_augment_copies", 0, "Augmented copies per training example with a long "
                     "answer (0, the default: augmentation off, as in bert_joint). Needs WordNet.",
                     lower_bound=0, upper_bound=P.MAX_AUGMENT_COPIES)
flags.DEFINE_integer("synonym_augment_seed", 0, "Seed of the synonym augmentation.")
flags.DEFINE_enum("synonym_augment_scope", "document", ["document", "both"],
                  "Replace words in the document only, or in the question too.")
flags.DEFINE_string("beam_pipeline_options", None, "Run the preparation as an Apache Beam pipeline with these "
                    "comma-separated Beam pipeline options (runner=DirectRunner,direct_num_workers=2,"
                    "direct_running_mode=multi_processing; runner=DataflowRunner,project=...,region=...,"
                    "temp_location=gs://...); needs pip install -e '.[beam]'. Paths may then be gs://... "
                    "Unset: the local multi-process preparation (--num_workers).")


def config_from_flags() -> P.PrepareConfig:
    return P.PrepareConfig(
        vocab_file=FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case, features=program_flags.feature_config(),
        is_training=FLAGS.is_training, random_seed=FLAGS.random_seed,
        skip_bad_examples=FLAGS.skip_bad_examples, max_examples=FLAGS.max_examples,
        num_workers=FLAGS.num_workers, num_shards=FLAGS.num_shards, gzip=FLAGS.output_gzip,
        shuffle_buckets=FLAGS.shuffle_buckets, augment_copies=FLAGS.synonym_augment_copies,
        augment_rate=FLAGS.synonym_augment_rate, augment_seed=FLAGS.synonym_augment_seed,
        augment_scope=FLAGS.synonym_augment_scope)


PROGRAM = "prepare_nq_data"


def fail(message: str) -> None:
    cli.fail(PROGRAM, message)


def warn(message: str) -> None:
    print(f"prepare_nq_data: warning: {message}", file=sys.stderr)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    for name in ("vocab_file", "input_jsonl"):
        if not getattr(FLAGS, name):
            fail(f"--{name} is required")
    if FLAGS.synonym_augment_copies and not FLAGS.is_training:
        warn("synonym augmentation applies to training features only; ignored")
    if FLAGS.beam_pipeline_options is None:
        for name in ("output_tfrecord", "vocab_file"):  # the local path would take a URL for a local folder
            if "://" in getattr(FLAGS, name):
                fail(f"--{name}={getattr(FLAGS, name)}: a URL needs --beam_pipeline_options (the local "
                     "preparation reads and writes local files)")
    fileio.install_signal_cleanup(PROGRAM)  # SIGTERM, SIGINT, SIGHUP: no temporary stays behind
    try:
        if FLAGS.beam_pipeline_options is None:  # a pipeline checks its own (URL) paths
            check_outputs()
        cfg = config_from_flags()
        if cfg.augment_copies and cfg.is_training:
            from nq_baseline.features.wordnet import load_wordnet
            load_wordnet()
        if FLAGS.beam_pipeline_options is not None:
            stats = _prepare_on_beam(cfg)
        else:
            stats = P.prepare(FLAGS.input_jsonl, FLAGS.output_tfrecord, cfg)
    except ValueError as err:  # bad input (NqInputError), a bad setting, WordNet missing
        fail(str(err))
    except OSError as err:  # the outputs: read-only, a folder, disk full...
        fail(f"--output_tfrecord={FLAGS.output_tfrecord}: cannot write the records "
             f"({err.strerror or err}{': ' + str(err.filename) if err.filename else ''})")
    report(stats)


def check_outputs() -> None:
    """No output (a shard, the stats JSON) is, holds or lies inside an input (the NQ files, the
    vocabulary); every output can be written."""
    outputs = {"--output_tfrecord": FLAGS.output_tfrecord}
    outputs.update((f"--output_tfrecord's shard {i}", path) for i, path in
                   enumerate(P.R.shard_paths(FLAGS.output_tfrecord, FLAGS.num_shards)) if FLAGS.num_shards > 1)
    outputs["--output_tfrecord's stats"] = FLAGS.output_tfrecord + ".stats.json"
    fileio.check_output_file(FLAGS.output_tfrecord, "--output_tfrecord")
    fileio.refuse_outputs_over_inputs(outputs, {"--input_jsonl": inputs.expand_paths(FLAGS.input_jsonl),
                                                "--vocab_file": FLAGS.vocab_file})


def _prepare_on_beam(cfg: P.PrepareConfig) -> dict:
    """The preparation as a Beam pipeline (Apache Beam is imported only here)."""
    from nq_baseline.features import beam_prepare

    if FLAGS["num_workers"].present:
        warn("--num_workers is ignored with --beam_pipeline_options: the runner's options set the "
             "parallelism (direct_num_workers=N for the DirectRunner)")
    try:
        return beam_prepare.prepare_beam(FLAGS.input_jsonl, FLAGS.output_tfrecord, cfg,
                                         FLAGS.beam_pipeline_options)
    except beam_prepare.PipelineFailed as err:
        fail(str(err))


def report(stats: dict) -> None:
    """The summary line, after a warning when no example was converted."""
    if stats["num_examples"] == 0:
        why = (f"all {stats['num_skipped']} examples were skipped as bad" if stats["num_skipped"]
               else "it holds no example (empty or blank lines only)")
        warn(f"{FLAGS.input_jsonl}: {why}; the record file is empty")
    logging.info("Examples with correct context retained: %d of %d", stats["examples_with_correct_context"],
                 stats["num_examples"])
    print(f"prepare_nq_data: {stats['num_examples']} examples -> {stats['num_instances']} instances "
          f"in {stats['seconds']:.1f} s ({stats['num_skipped']} skipped); stats in "
          f"{FLAGS.output_tfrecord}.stats.json")


# absl's parsing, a bad flag reported as one line with exit status 2 (absl: 2 lines, 1)
parse_flags = cli.absl_flags_parser(PROGRAM)


def run():
    cli.run_program(PROGRAM, main, parse_flags)


if __name__ == "__main__":
    run()
