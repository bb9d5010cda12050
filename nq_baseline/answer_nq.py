"""answer_nq: ask a trained model a question over a page, a text or an NQ example.

Examples:
  answer_nq --model_dir=demo_out/model --question="when was the town founded" --html_file=page.html
  answer_nq --model_dir=demo_out/model --question="who is the mayor" --text_file=notes.txt --json
  answer_nq --model_dir=demo_out/model --nq_file=dev.jsonl.gz --example_id=-2374... (its own question)

Prints the long answer (shortened, the short answer marked in it with [[ ]]), the short
answer, yes/no, the scores and the answer-type probabilities; `--json` prints the official
prediction fields plus the texts and probabilities instead.
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags

from nq_baseline import program_flags
from nq_baseline.common import cli
from nq_baseline.common.errors import NqInputError

FLAGS = flags.FLAGS
PROGRAM = "answer_nq"
CONTEXT_WORDS = 30  # words shown on each side of the short answer
MAX_DOCUMENT_BYTES = 1 << 34  # 16 GiB: the document is held in memory

program_flags.define_postprocess_flags()
flags.DEFINE_string("model_dir", None, "A model folder left by run_nq --do_train.")
flags.DEFINE_string("question", None, "The question (default with --nq_file: the example's own).")
flags.DEFINE_string("html_file", None, "An HTML page to answer from.")
flags.DEFINE_string("text_file", None, "A plain-text file (paragraphs separated by blank lines).")
flags.DEFINE_string("nq_file", None, "An NQ jsonl(.gz) file (either format): its first example, or --example_id.")
flags.DEFINE_integer("example_id", None, "With --nq_file: the example to answer.")
flags.DEFINE_bool("json", False, "Print the answer as JSON.")
flags.DEFINE_integer("max_document_bytes", 16 << 20, "Refuse documents larger than this.", lower_bound=1,
                     upper_bound=MAX_DOCUMENT_BYTES)
flags.DEFINE_integer("doc_stride", None, "Override the model's window stride.", lower_bound=1)
flags.DEFINE_integer("max_paragraphs", 0, "Read at most this many long-answer candidates (paragraphs, tables, "
                     "lists) of the document; 0: every one (a model trains on the first 47).", lower_bound=0)


def fail(message: str) -> None:
    cli.fail(PROGRAM, message)


def _read_file(path: str, flag: str) -> bytes:
    """The file's bytes; refused when larger than --max_document_bytes (by its size, before reading)."""
    try:
        size = os.path.getsize(path)
        if size > FLAGS.max_document_bytes:
            fail(f"--{flag} {path}: {size} bytes, larger than --max_document_bytes {FLAGS.max_document_bytes}")
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        fail(f"--{flag} {path}: {err.strerror or err}")


def _nq_example(path: str, example_id):
    from nq_baseline.common.inputs import iter_lines
    from nq_baseline.reading.nq_data import parse_head, parse_line

    try:
        for p, line, raw in iter_lines(path):
            if example_id is None or parse_head(raw, p, line).example_id == example_id:
                return parse_line(raw, p, line)
    except NqInputError as err:
        fail(str(err))
    fail(f"--nq_file {path}: " + ("holds no example" if example_id is None else f"no example with id {example_id}"))


def _document():
    given = [name for name in ("html_file", "text_file", "nq_file") if FLAGS[name].value]
    if len(given) != 1:
        fail("give exactly one of --html_file, --text_file and --nq_file" + (f" (got {', '.join('--' + g for g in given)})"
                                                                              if given else ""))
    if FLAGS.example_id is not None and not FLAGS.nq_file:
        fail("--example_id goes with --nq_file")
    if FLAGS.nq_file:
        return _nq_example(FLAGS.nq_file, FLAGS.example_id), "nq"
    return _read_file(FLAGS[given[0]].value, given[0]), "html" if FLAGS.html_file else "text"


def marked_long_answer(answer, tokenized) -> str:
    """The long answer's words with the short answer in [[ ]], cut to CONTEXT_WORDS on each side."""
    if answer.long_answer is None:
        return "no answer"
    doc = tokenized.doc
    shorts = [(s.start_token, s.end_token) for s in answer.short_answers]
    words, first_short = [], None
    for i in range(answer.long_answer.start_token, answer.long_answer.end_token):
        if doc.is_html[i]:
            continue
        word = doc.tokens[i]
        if any(s == i for s, _ in shorts):
            word = "[[" + word
            first_short = len(words) if first_short is None else first_short
        if any(e - 1 == i for _, e in shorts):
            word += "]]"
        words.append(word)
    center = first_short if first_short is not None else 0
    lo, hi = max(0, center - CONTEXT_WORDS), min(len(words), center + CONTEXT_WORDS)
    return ("... " if lo else "") + " ".join(words[lo:hi]) + (" ..." if hi < len(words) else "")


def readable(answer, tokenized) -> str:
    probs = "  ".join(f"{k} {v:.2f}" for k, v in sorted(answer.answer_type_probabilities.items(), key=lambda kv: -kv[1]))
    short = ("YES" if answer.yes_no_answer == "YES" else "NO" if answer.yes_no_answer == "NO"
             else " | ".join(answer.short_answers_text) or "no answer")
    where = (f" (candidate {answer.long_answer_index}, tokens {answer.long_answer.start_token}-"
             f"{answer.long_answer.end_token})" if answer.long_answer else "")
    lines = [f"question:     {answer.question}" + ("  [truncated to the model's max_query_length]"
                                                     if answer.question_truncated else ""),
             f"long answer{where}, score {answer.long_answer_score:.3f}:",
             f"  {marked_long_answer(answer, tokenized)}",
             f"short answer: {short}  (score {answer.short_answers_score:.3f})",
             f"answer type:  {probs}"]
    if answer.example_id is not None:
        lines.insert(0, f"example_id:   {answer.example_id}")
    if answer.document_cut:
        lines.append(f"note:         only the first {tokenized.contexts_read} of the document's "
                     f"{tokenized.contexts_total} paragraphs were read (--max_paragraphs)")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.model_dir:
        fail("--model_dir is required")
    try:
        postprocess = program_flags.postprocess_config()
    except ValueError as err:
        fail(str(err))
    document, kind = _document()
    question = FLAGS.question
    if question is None and kind == "nq":
        question = document.question_text
    if question is None or not question.strip():
        fail("--question is required (and must not be empty)")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as err:  # bytes that are not UTF-8 reach Python as lone surrogates
        fail(f"--question is not valid UTF-8 text (at character {err.start}): pass it in UTF-8")
    cli.start_tensorflow()
    from nq_baseline.prediction.reader import Reader
    try:
        overrides = {"max_contexts": FLAGS.max_paragraphs + 1 if FLAGS.max_paragraphs else 0}
        if FLAGS.doc_stride:
            overrides["doc_stride"] = FLAGS.doc_stride
        reader = Reader.load(FLAGS.model_dir, max_document_bytes=FLAGS.max_document_bytes,
                             postprocess=postprocess, **overrides)
        tokenized = reader.tokenize(document, kind)
        answer = reader.answer(question, tokenized)
    except ValueError as err:  # NqInputError, CheckpointError, a setting the model cannot follow
        fail(str(err))
    if FLAGS.json:
        print(json.dumps(answer.to_json(), indent=2, sort_keys=True))
    else:
        print(readable(answer, tokenized))


def run():
    cli.run_program(PROGRAM, main)


if __name__ == "__main__":
    sys.exit(run())
