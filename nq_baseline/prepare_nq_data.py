"""prepare_nq_data: NQ jsonl(.gz) -> TFRecord features in bert_joint's layout.

Example:
  prepare_nq_data --vocab_file=vocab-nq.txt --input_jsonl='data/train-*.jsonl.gz' \
      --output_tfrecord=records/train.tfrecord --is_training --include_unknowns=0.02 --num_workers=2
"""

from absl import app, flags, logging

from nq_baseline import data_flags, fileio
from nq_baseline.nq_data import NqInputError
from nq_baseline.prepare import PrepareConfig, prepare

FLAGS = flags.FLAGS
flags.DEFINE_string("input_jsonl", None, "NQ file(s): a path, glob or comma list; .jsonl or .jsonl.gz; "
                    "original or simplified format.")
flags.DEFINE_string("output_tfrecord", "records/nq.tfrecord", "Output TFRecord path (shards get a suffix).")
flags.DEFINE_bool("is_training", True, "Training features (labels) or prediction features (token_map).")
flags.DEFINE_integer("max_examples", 0, "If > 0, stop after this many examples.")
flags.DEFINE_integer("num_shards", 1, "1: exactly --output_tfrecord; N: <output>-0000i-of-0000N.")
flags.DEFINE_bool("output_gzip", False, "GZIP-compress the TFRecord files.")
flags.DEFINE_integer("shuffle_buckets", 32, "Temporary buckets of the out-of-core training shuffle.")
flags.DEFINE_float("synonym_augment_rate", 0.2, "Probability that an eligible document word is replaced "
                   "by a WordNet synonym in an augmented copy.")
flags.DEFINE_integer("synonym_augment_copies", 1, "Augmented copies per training example with a long "
                     "answer (0: augmentation off, as in bert_joint). Needs WordNet.")
flags.DEFINE_integer("synonym_augment_seed", 0, "Seed of the synonym augmentation.")
flags.DEFINE_enum("synonym_augment_scope", "document", ["document", "both"],
                  "Replace words in the document only, or in the question too.")


def config_from_flags() -> PrepareConfig:
    return PrepareConfig(
        vocab_file=FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case, features=data_flags.feature_config(),
        is_training=FLAGS.is_training, random_seed=FLAGS.random_seed,
        skip_bad_examples=FLAGS.skip_bad_examples, max_examples=FLAGS.max_examples,
        num_workers=FLAGS.num_workers, num_shards=FLAGS.num_shards, gzip=FLAGS.output_gzip,
        shuffle_buckets=FLAGS.shuffle_buckets, augment_copies=FLAGS.synonym_augment_copies,
        augment_rate=FLAGS.synonym_augment_rate, augment_seed=FLAGS.synonym_augment_seed,
        augment_scope=FLAGS.synonym_augment_scope)


def fail(message: str) -> None:
    fileio.fail("prepare_nq_data", message)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    for name in ("vocab_file", "input_jsonl"):
        if not getattr(FLAGS, name):
            fail(f"--{name} is required")
    if not 0.0 <= FLAGS.synonym_augment_rate <= 1.0:
        fail("--synonym_augment_rate must be within [0, 1]")
    if FLAGS.synonym_augment_copies < 0:
        fail("--synonym_augment_copies must be >= 0")
    if FLAGS.synonym_augment_copies and not FLAGS.is_training:
        logging.warning("synonym augmentation applies to training features only; ignored")
    try:
        cfg = config_from_flags()
        if cfg.augment_copies and cfg.is_training:
            from nq_baseline.wordnet_setup import WordNetMissingError, load_wordnet
            try:
                load_wordnet()
            except WordNetMissingError as err:
                fail(str(err))
        stats = prepare(FLAGS.input_jsonl, FLAGS.output_tfrecord, cfg)
    except NqInputError as err:
        fail(str(err))
    except ValueError as err:
        fail(str(err))
    logging.info("Examples with correct context retained: %d of %d", stats["examples_with_correct_context"],
                 stats["num_examples"])
    print(f"prepare_nq_data: {stats['num_examples']} examples -> {stats['num_instances']} instances "
          f"in {stats['seconds']:.1f} s ({stats['num_skipped']} skipped); stats in "
          f"{FLAGS.output_tfrecord}.stats.json")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
