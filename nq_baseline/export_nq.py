"""export_nq: a trained model folder as a TensorFlow SavedModel or a Hugging Face folder.

  export_nq --model_dir=M --export_dir=D                 # SavedModel: serving_default + answer_text
  export_nq --model_dir=M --export_dir=D --format=hf     # BertForQuestionAnswering + tokenizer + head

M is the --output_dir of `run_nq --do_train` (checkpoints and nq_model.json). The export is
built in a temporary folder beside D and renamed to D when complete; an existing D that is
not empty is replaced only with --overwrite. See nq_baseline/export.py for the signatures.
"""

import os
import sys

from absl import app, flags

from nq_baseline.export import saved_model as export

from nq_baseline.common import fileio
from nq_baseline.common.errors import NqInputError

PROGRAM = "export_nq"
FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model folder written by run_nq --do_train (nq_model.json + checkpoints).")
flags.DEFINE_string("export_dir", None, "Folder to write (absent or empty, unless --overwrite).")
flags.DEFINE_string("format", export.SAVED_MODEL, f"What to write: {' or '.join(export.FORMATS)}.")
flags.DEFINE_bool("overwrite", False, "Replace a non-empty --export_dir (only once the new export is complete).")
# answer_text's post-processing, fixed in the SavedModel (run_nq's flags of the same names)
flags.DEFINE_integer("n_best_size", 20, "answer_text: best start and end positions per window.")
flags.DEFINE_integer("max_answer_length", 30, "answer_text: longest short answer, in word pieces.")
flags.DEFINE_string("long_answer_from", "auto", "answer_text: the long answer from the best span (span), from the "
                    "long-answer head (head), or head when the model has one (auto, the Reader's default).")
flags.DEFINE_string("null_score", "cls", "answer_text: scores relative to [CLS] (cls), or plus the answer-type "
                    "head's log-odds of an answer (answer_type).")
flags.DEFINE_bool("short_inside_long", True, "answer_text: a short answer lies inside one paragraph.")

CHOICES = {"format": export.FORMATS, "long_answer_from": ("auto", "span", "head"), "null_score": ("cls", "answer_type")}


def fail(message: str) -> None:
    fileio.fail(PROGRAM, message)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    for name in ("model_dir", "export_dir"):
        if not getattr(FLAGS, name):
            fail(f"--{name} is required")
    for name, allowed in CHOICES.items():
        if getattr(FLAGS, name) not in allowed:
            fail(f"--{name} must be one of {', '.join(allowed)}, got {getattr(FLAGS, name)!r}")
    for name in ("n_best_size", "max_answer_length"):
        if getattr(FLAGS, name) < 1:
            fail(f"--{name} must be a positive integer, got {getattr(FLAGS, name)}")
    if not os.path.isdir(FLAGS.model_dir):
        fail(f"--model_dir {FLAGS.model_dir}: no such folder")
    fileio.install_signal_cleanup()
    settings = {name: getattr(FLAGS, name) for name in ("long_answer_from", "null_score", "short_inside_long",
                                                        "n_best_size", "max_answer_length")}
    try:
        path = export.export(FLAGS.model_dir, FLAGS.export_dir, FLAGS.format, FLAGS.overwrite,
                             **(settings if FLAGS.format == export.SAVED_MODEL else {}))
    except (NqInputError, export.ExportError) as err:
        fail(str(err))
    print(f"{PROGRAM}: wrote the {FLAGS.format} export of {FLAGS.model_dir} to {path}", file=sys.stdout)


parse_flags = fileio.absl_flags_parser(PROGRAM)  # a bad flag value: one line, exit 2


def run():
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    run()
