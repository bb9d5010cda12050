"""absl flags shared by prepare_nq_data and run_nq (bert_joint's names and defaults)."""

from absl import flags

from nq_baseline.features.windows import FeatureConfig

flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on (vocab-nq.txt).")
flags.DEFINE_bool("do_lower_case", True, "Whether to lower case the input text (uncased models).")
flags.DEFINE_integer("max_seq_length", 384, "Maximum total input sequence length after WordPiece tokenization.")
flags.DEFINE_integer("doc_stride", 128, "How many pieces to stride between windows of a long document.")
flags.DEFINE_integer("max_query_length", 64, "Maximum number of question pieces (the last ones are kept).")
flags.DEFINE_float("include_unknowns", -1.0,
                   "Probability of keeping a window without the answer (labelled UNKNOWN); < 0 keeps none.")
flags.DEFINE_float("negatives_per_positive", -1.0,
                   "If >= 0: null windows kept per answer window of an example (one answer window counted for "
                   "a null example), drawn at random, instead of --include_unknowns' fixed probability.")
flags.DEFINE_bool("skip_nested_contexts", True, "Keep only top-level long-answer candidates as contexts.")
flags.DEFINE_integer("max_contexts", 48, "Maximum number of contexts ([NoLongAnswer] included) per document.")
flags.DEFINE_integer("max_position", 50, "Cap of the per-type counters in [Paragraph=N], [Table=N], [List=N].")
flags.DEFINE_bool("legacy_labels", False,
                  "Label as bert_joint did when the gold candidate is not kept (a span at the document start) "
                  "instead of mapping nested gold to its top-level candidate / UNKNOWN past max_contexts.")
flags.DEFINE_integer("random_seed", 0, "Seed of include_unknowns sampling and of the training shuffle.",
                     lower_bound=0, upper_bound=2**32 - 1)  # numpy's seed range
flags.DEFINE_integer("num_workers", 1, "Worker processes for feature conversion (output identical for any N).")
flags.DEFINE_bool("skip_bad_examples", False, "Skip (and count) malformed examples instead of stopping.")


def feature_config(values=None) -> FeatureConfig:
    f = values or flags.FLAGS
    return FeatureConfig(max_seq_length=f.max_seq_length, doc_stride=f.doc_stride,
                         max_query_length=f.max_query_length, include_unknowns=f.include_unknowns,
                         skip_nested_contexts=f.skip_nested_contexts, max_contexts=f.max_contexts,
                         max_position=f.max_position, legacy_labels=f.legacy_labels,
                         negatives_per_positive=f.negatives_per_positive)
