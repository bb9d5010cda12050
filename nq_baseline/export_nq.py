"""export_nq: a trained model folder as a TensorFlow SavedModel or a Hugging Face folder.

  export_nq --model_dir=M --export_dir=D                 # SavedModel: serving_default + answer_text
  export_nq --model_dir=M --export_dir=D --format=hf     # BertForQuestionAnswering + tokenizer + head

M is the --output_dir of `run_nq --do_train` (checkpoints and nq_model.json). The export is
built in a temporary folder beside D and renamed to D when complete; an existing D that is
not empty is replaced only with --overwrite, and D is never M, a folder holding M or one inside
it. The post-processing flags (run_nq's) fix what the SavedModel's `answer_text` does; see
nq_baseline/export/saved_model.py for the signatures.
"""

import sys

from absl import flags

from nq_baseline import program_flags
from nq_baseline.common import cli, fileio
from nq_baseline.export.exporter import export
from nq_baseline.export.publish import FORMATS, SAVED_MODEL, ExportError

PROGRAM = "export_nq"
FLAGS = flags.FLAGS
program_flags.define_postprocess_flags()
flags.DEFINE_string("model_dir", None, "Model folder written by run_nq --do_train (nq_model.json + checkpoints).")
flags.DEFINE_string("export_dir", None, "Folder to write (absent or empty, unless --overwrite).")
flags.DEFINE_enum("format", SAVED_MODEL, list(FORMATS), "What to write.")
flags.DEFINE_integer("max_paragraphs", 0, "answer_text reads at most this many paragraphs of a context; 0: every "
                     "one, as a Reader (a model trains on the first 47).", lower_bound=0)
flags.DEFINE_bool("overwrite", False, "Replace a non-empty --export_dir (only once the new export is complete).")


def fail(message: str) -> None:
    cli.fail(PROGRAM, message)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    for name in ("model_dir", "export_dir"):
        if not getattr(FLAGS, name):
            fail(f"--{name} is required")
    try:
        postprocess = program_flags.postprocess_config()
    except ValueError as err:
        fail(str(err))
    fileio.install_signal_cleanup(PROGRAM)
    cli.start_tensorflow()
    try:
        path = export(FLAGS.model_dir, FLAGS.export_dir, FLAGS.format, FLAGS.overwrite,
                      postprocess if FLAGS.format == SAVED_MODEL else None, FLAGS.max_paragraphs)
    except (ValueError, ExportError) as err:  # NqInputError, CheckpointError, a bad destination
        fail(str(err))
    print(f"{PROGRAM}: wrote the {FLAGS.format} export of {FLAGS.model_dir} to {path}", file=sys.stdout)


def run():
    cli.run_program(PROGRAM, main)


if __name__ == "__main__":
    run()
