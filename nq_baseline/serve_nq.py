"""serve_nq: an answer service and web page over a trained model.

  serve_nq --model_dir=demo_out/model [--host=127.0.0.1] [--port=8000] \\
           [--examples_file=demo_out/data/dev-full.jsonl.gz]

Then open http://127.0.0.1:8000/ (the page), or call the API:
  POST /v1/answer   {"question": "...", "html" | "text" | "nq_example": ...}
                    ({"questions": [...]} for several; "document_view": true adds the document's words)
  GET  /v1/model    encoder size, checkpoint step, feature settings
  GET  /healthz     status and the batcher's counts
  GET  /v1/examples/random     an example of --examples_file (for the page's "random example")
  GET  /v1/examples/ID         the example of --examples_file with that id (a shared link's)
  POST /v1/models/nq:predict   TF Serving's REST predict over token ids (instances or inputs)

The windows of requests that arrive within --batch_timeout_ms of each other go through
one forward pass (up to --max_batch_windows windows). One line on stdout says where it
listens once the model is loaded: `serve_nq: serving http://HOST:PORT/ ...` (--port=0
takes a free port and says which). docs/serving.md describes the page, the API and the limits.
"""

from __future__ import annotations

import logging
import os
import socket
import sys

from absl import flags

from nq_baseline import program_flags
from nq_baseline.common import cli
from nq_baseline.common.errors import NqInputError

FLAGS = flags.FLAGS
PROGRAM = "serve_nq"

program_flags.define_postprocess_flags()

flags.DEFINE_string("model_dir", None, "A model folder left by run_nq --do_train (nq_model.json, checkpoints).")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (loopback by default).")
flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free port, printed).", lower_bound=0, upper_bound=65535)
flags.DEFINE_string("examples_file", None, "NQ jsonl(.gz) examples for the page's 'random example'.")
flags.DEFINE_integer("max_examples", 1000, "Keep at most this many examples of --examples_file.", lower_bound=1)
flags.DEFINE_integer("max_batch_windows", 64, "Most windows in one forward pass.", lower_bound=1, upper_bound=4096)
flags.DEFINE_float("batch_timeout_ms", 5.0, "How long the first request of a batch waits for others (ms).",
                   lower_bound=0.0, upper_bound=10000.0)
flags.DEFINE_bool("micro_batching", True, "Batch the windows of concurrent requests (off: one forward pass each).")
flags.DEFINE_integer("max_request_bytes", 32 << 20, "Refuse request bodies larger than this (HTTP 413).",
                     lower_bound=1024)
flags.DEFINE_integer("max_questions", 32, "Most questions in one request.", lower_bound=1, upper_bound=10000)
flags.DEFINE_integer("top_answers", 5, "Candidate answers (with their probability and context) listed with each "
                     "answer.", lower_bound=1, upper_bound=100)
flags.DEFINE_integer("max_document_bytes", 16 << 20, "Refuse documents larger than this (HTTP 422).", lower_bound=1,
                     upper_bound=1 << 34)
flags.DEFINE_integer("max_paragraphs", 0, "Read at most this many long-answer candidates (paragraphs, tables, "
                     "lists) of a document; 0: every one (a model trains on the first 47).", lower_bound=0)
flags.DEFINE_enum("log_level", "info", ["critical", "error", "warning", "info", "debug"], "The server's log level.")


def fail(message: str) -> None:
    cli.fail(PROGRAM, message)


def check_flags() -> None:
    from nq_baseline.model.folder import ModelSpec

    if not FLAGS.model_dir:
        fail("--model_dir is required")
    if not ModelSpec.exists(FLAGS.model_dir):
        fail(f"--model_dir {FLAGS.model_dir}: no nq_model.json there (train a model with run_nq --do_train, "
             "or make demo)")
    if FLAGS.examples_file and not os.path.isfile(FLAGS.examples_file):
        fail(f"--examples_file {FLAGS.examples_file}: no such file")
    if not FLAGS.host.strip():
        fail("--host is empty")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads so a busy port fails at once."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        fail(f"--host {host} --port {port}: cannot listen there ({err.strerror or err})")
    sock.set_inheritable(True)
    return sock


def build_service():
    from nq_baseline.prediction.reader import Reader
    from nq_baseline.serving.app import AnswerService, ServiceConfig
    from nq_baseline.serving.view import load_examples

    try:
        reader = Reader.load(FLAGS.model_dir, batch_size=FLAGS.max_batch_windows,
                             max_document_bytes=FLAGS.max_document_bytes, postprocess=program_flags.postprocess_config(),
                             max_contexts=FLAGS.max_paragraphs + 1 if FLAGS.max_paragraphs else 0)
    except (ValueError, OSError) as err:  # NqInputError, CheckpointError, a setting the model cannot follow
        fail(f"--model_dir {FLAGS.model_dir}: {err}")
    examples = []
    if FLAGS.examples_file:
        try:
            examples, too_large = load_examples(FLAGS.examples_file, FLAGS.max_examples, FLAGS.max_request_bytes)
        except NqInputError as err:
            fail(f"--examples_file {err}")
        if too_large:
            print(f"{PROGRAM}: {too_large} examples of {FLAGS.examples_file} are larger than --max_request_bytes "
                  "and left out", file=sys.stderr)
    config = ServiceConfig(max_request_bytes=FLAGS.max_request_bytes, max_questions=FLAGS.max_questions,
                           max_batch_windows=FLAGS.max_batch_windows, batch_timeout_ms=FLAGS.batch_timeout_ms,
                           micro_batching=FLAGS.micro_batching, top_answers=FLAGS.top_answers)
    reader.answer("warm up", "A warm-up paragraph compiles the forward pass before the first request.", "text")
    return AnswerService(reader, config, examples)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    check_flags()
    try:
        program_flags.postprocess_config()
    except ValueError as err:
        fail(str(err))
    sock = bind(FLAGS.host, FLAGS.port)
    cli.start_tensorflow()
    service = build_service()
    import uvicorn

    from nq_baseline.serving.app import create_app

    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"{PROGRAM}: serving http://{shown}:{port}/ (model {FLAGS.model_dir}, step {service.reader.step}, "
          f"{len(service.examples)} examples)", flush=True)
    logging.getLogger("nq_baseline.serving").setLevel(FLAGS.log_level.upper())
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level=FLAGS.log_level, timeout_keep_alive=30))
    try:
        server.run(sockets=[sock])
    finally:
        service.close()


def run():
    cli.run_program(PROGRAM, main)


if __name__ == "__main__":
    sys.exit(run())
