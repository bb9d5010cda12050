"""absl flags the programs share, defined once here: the feature settings (bert_joint's names and
defaults; prepare_nq_data and run_nq) and the post-processing settings (run_nq, answer_nq,
serve_nq, export_nq). A program calls `define_*` at import; each call is idempotent, so programs
imported into one process (tests) share the definitions.
"""

from absl import flags

from nq_baseline.features.windows import FeatureConfig

FLAGS = flags.FLAGS


def define_feature_flags() -> None:
    if "max_seq_length" in FLAGS:
        return
    flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on (vocab-nq.txt).")
    flags.DEFINE_bool("do_lower_case", True, "Whether to lower case the input text (uncased models).")
    flags.DEFINE_integer("max_seq_length", 384, "Maximum total input sequence length after WordPiece tokenization.")
    flags.DEFINE_integer("doc_stride", 128, "How many pieces to stride between windows of a long document.")
    flags.DEFINE_integer("max_query_length", 64, "Maximum number of question pieces (the last ones are kept).")
    flags.DEFINE_float("include_unknowns", -1.0,
                       "Probability of keeping a window without the answer (labelled UNKNOWN); < 0 keeps none.")
    flags.DEFINE_float("negatives_per_positive", -1.0,
                       "If >= 0: null windows kept per answer window of an example (one answer window counted "
                       "for a null example), drawn at random, instead of --include_unknowns' fixed probability.")
    flags.DEFINE_bool("skip_nested_contexts", True, "Keep only top-level long-answer candidates as contexts.")
    flags.DEFINE_integer("max_contexts", 48, "Maximum number of contexts ([NoLongAnswer] included) per document; 0: every "
                         "context (bert_joint: 48).")
    flags.DEFINE_integer("max_position", 50, "Cap of the per-type counters in [Paragraph=N], [Table=N], [List=N].")
    flags.DEFINE_bool("legacy_labels", False,
                      "Label as bert_joint did when the gold candidate is not kept (a span at the document start) "
                      "instead of mapping nested gold to its top-level candidate / UNKNOWN past max_contexts.")
    flags.DEFINE_integer("random_seed", 0, "Seed of include_unknowns sampling and of the training shuffle.",
                         lower_bound=0, upper_bound=2**32 - 1)  # numpy's seed range
    flags.DEFINE_integer("num_workers", 1, "Worker processes for feature conversion (output identical for any N).",
                         lower_bound=1)
    flags.DEFINE_bool("skip_bad_examples", False, "Skip (and count) malformed examples instead of stopping.")


def feature_config(values=None) -> FeatureConfig:
    """The FeatureConfig of the feature flags (ValueError naming the flag of a bad one)."""
    f = values or FLAGS
    return FeatureConfig(max_seq_length=f.max_seq_length, doc_stride=f.doc_stride,
                         max_query_length=f.max_query_length, include_unknowns=f.include_unknowns,
                         skip_nested_contexts=f.skip_nested_contexts, max_contexts=f.max_contexts,
                         max_position=f.max_position, legacy_labels=f.legacy_labels,
                         negatives_per_positive=f.negatives_per_positive)


def define_postprocess_flags() -> None:
    """The settings of `prediction.postprocess.PostprocessConfig`, one flag each."""
    if "n_best_size" in FLAGS:
        return
    flags.DEFINE_integer("n_best_size", 20, "Best start and end positions considered per window.",
                         lower_bound=1, upper_bound=10_000)
    flags.DEFINE_integer("max_answer_length", 30, "Maximum short answer length in word pieces.",
                         lower_bound=1, upper_bound=100_000)
    flags.DEFINE_bool("use_answer_type", True, "Use the answer-type head for YES/NO and long-only answers "
                      "(False: bert_joint's output exactly).")
    flags.DEFINE_enum("long_answer_from", "auto", ["auto", "span", "head"],
                      "The long answer: the candidate holding the best short span (span, bert_joint), the best "
                      "candidate of the long-answer head with the best span inside it (head), or head when the "
                      "model has one (auto).")
    flags.DEFINE_enum("null_score", "cls", ["cls", "answer_type"], "Scores relative to [CLS] (cls, bert_joint), "
                      "or plus the answer-type head's log-odds that the window holds an answer (answer_type).")
    flags.DEFINE_enum("answer_type_scope", "window", ["window", "example"], "Yes/no/long-only decided by the "
                      "winning window's answer type (window), or by all windows holding the long answer (example).")
    flags.DEFINE_bool("short_inside_long", True, "A short answer must lie inside one top-level candidate "
                      "(False: bert_joint, which could give a short answer with no long answer).")
    flags.DEFINE_float("lexical_weight", 0.0, "> 0: every span's score gains this times its paragraph's BM25 "
                       "score for the question, so the long answer weighs the model against the words "
                       "(BERTserini); 0: the model alone (bert_joint).", lower_bound=0.0)


def postprocess_config(nbest: int = 0):
    """The PostprocessConfig of the post-processing flags ("auto" unresolved: the model decides,
    `PostprocessConfig.for_model`); ValueError naming the flag of a bad one."""
    from nq_baseline.prediction.postprocess import PostprocessConfig

    return PostprocessConfig(n_best_size=FLAGS.n_best_size, max_answer_length=FLAGS.max_answer_length,
                             use_answer_type=FLAGS.use_answer_type, nbest=nbest,
                             long_answer_from=FLAGS.long_answer_from, null_score=FLAGS.null_score,
                             answer_type_scope=FLAGS.answer_type_scope, short_inside_long=FLAGS.short_inside_long,
                             lexical_weight=FLAGS.lexical_weight)
