"""The answer service over a `Reader`: a micro-batcher that owns the model, request checks,
a view of the document for the page, and the FastAPI app (`create_app`).

Micro-batching. One thread owns the model (`MicroBatcher`). A request parses and encodes
its document in a worker thread of its own, hands its windows to the batcher and waits
without holding a thread; the batcher takes the first pending request, waits up to
`batch_timeout_ms` for more, concatenates the windows of all that arrived (up to
`max_batch_windows`), runs ONE forward pass and hands each request its rows. Decoding
(post-processing) then runs in the request's own worker thread again, so a request never
waits on another's post-processing, and the model never waits on any.

Every error is a JSON `{"error": "..."}` with a 4xx status naming the field (the
server's own failures are a 500 with no stack trace; the trace goes to the log).
"""

import asyncio
import concurrent.futures
import dataclasses
import functools
import importlib.resources
import logging
import queue
import random
import threading
import time
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np
import orjson
import pydantic

from nq_baseline.reading import documents
from nq_baseline.common.errors import NqInputError
from nq_baseline.model.modeling import MODEL_INPUT_KEYS

LOG = logging.getLogger("nq_baseline.serving.service")
MAX_QUESTION_CHARS = 2048  # NQ questions are < 100 characters; the model keeps max_query_length pieces
DOCUMENT_FIELDS = ("html", "text", "nq_example")
KIND_OF_FIELD = {"html": "html", "text": "text", "nq_example": "nq"}
TF_SERVING_MODEL = "nq"


class ServiceError(Exception):
    """An error answered to the client as {"error": message} with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# ----------------------------------------------------------------------------- micro-batcher


@dataclasses.dataclass
class _Job:
    inputs: dict  # the model's inputs, [n, seq] arrays
    size: int
    future: concurrent.futures.Future


class MicroBatcher:
    """Runs `run(inputs) -> outputs` (rows in, rows out) in one thread, over the windows of
    every request that arrived within `batch_timeout_ms` of the first, up to
    `max_batch_windows` windows (a request larger than that goes alone). With
    `enabled=False` each request gets a forward pass of its own (to measure the gain)."""

    def __init__(self, run: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]],
                 max_batch_windows: int = 64, batch_timeout_ms: float = 5.0, enabled: bool = True):
        if max_batch_windows < 1 or batch_timeout_ms < 0:
            raise ValueError("max_batch_windows must be >= 1 and batch_timeout_ms >= 0")
        self._run, self.max_batch_windows = run, int(max_batch_windows)
        self.timeout_s, self.enabled = batch_timeout_ms / 1000.0, bool(enabled)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stats_lock = threading.Lock()
        self._stats = {"forward_passes": 0, "windows": 0, "requests": 0, "largest_batch": 0}
        self._thread = threading.Thread(target=self._loop, name="nq-model", daemon=True)
        self._thread.start()

    def submit(self, inputs: Mapping[str, np.ndarray]) -> concurrent.futures.Future:
        """Queues [n, seq] windows (n >= 1); the future's result is the outputs' n rows."""
        if not self._thread.is_alive():
            raise RuntimeError("the model thread has stopped")
        arrays = {k: np.asarray(inputs[k]) for k in MODEL_INPUT_KEYS}
        job = _Job(arrays, len(arrays["input_ids"]), concurrent.futures.Future())
        self._queue.put(job)
        return job.future

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stats(self) -> dict:
        with self._stats_lock:
            return dict(self._stats, queued=self._queue.qsize())

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        carry: Optional[_Job] = None
        while True:
            first = carry if carry is not None else self._queue.get()
            if first is None:
                break
            batch, carry, stop = self._gather(first)
            self._run_batch(batch)
            if stop:
                break
        self._fail_pending()

    def _gather(self, first: _Job) -> tuple[list[_Job], Optional[_Job], bool]:
        """The jobs to run with `first`; the next one that did not fit; whether to stop."""
        batch, total = [first], first.size
        if not self.enabled:
            return batch, None, False
        deadline = time.monotonic() + self.timeout_s
        while total < self.max_batch_windows:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                return batch, None, True
            if total + job.size > self.max_batch_windows:
                return batch, job, False
            batch.append(job)
            total += job.size
        return batch, None, False

    def _run_batch(self, batch: list[_Job]) -> None:
        inputs = batch[0].inputs if len(batch) == 1 else {
            k: np.concatenate([job.inputs[k] for job in batch]) for k in MODEL_INPUT_KEYS}
        try:
            outputs = self._run(inputs)
        except Exception as err:  # the requests of this batch fail; the thread goes on
            LOG.exception("forward pass failed")
            for job in batch:
                job.future.set_exception(err)
            return
        lo = 0
        for job in batch:
            job.future.set_result({k: v[lo:lo + job.size] for k, v in outputs.items()})
            lo += job.size
        with self._stats_lock:
            s = self._stats
            s["forward_passes"] += 1
            s["windows"] += lo
            s["requests"] += len(batch)
            s["largest_batch"] = max(s["largest_batch"], lo)

    def _fail_pending(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.future.set_exception(RuntimeError("the server is shutting down"))


# ----------------------------------------------------------------------------- request checks


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def parse_json_body(body: bytes) -> Any:
    """Request bytes -> the JSON value; ServiceError 400 for bytes that are not UTF-8 or
    not JSON (nesting deeper than 1024 included)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ServiceError(400, f"the request body is not UTF-8 (byte {err.start}: {err.reason})") from None
    if not text.strip():
        raise ServiceError(400, "the request body is empty: send a JSON object")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise ServiceError(400, f"the request body is not valid JSON ({err})") from None


def _field_path(loc: tuple) -> str:
    path = str(loc[0]) if loc else "body"
    for part in loc[1:]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            break  # pydantic's union member names ("dict", "str") are no part of the JSON path
    return path


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)

    @classmethod
    def check(cls, payload: Any, expected: Mapping[str, str]):
        """The payload validated, or ServiceError 422 naming the first bad field."""
        if not isinstance(payload, dict):
            raise ServiceError(422, f"body: must be a JSON object, got {_json_type(payload)}")
        try:
            value = cls.model_validate(payload)
        except pydantic.ValidationError as err:
            first = err.errors()[0]
            field = _field_path(first["loc"])
            if first["type"] == "extra_forbidden":
                raise ServiceError(422, f"{field}: unknown field (the fields are {', '.join(cls.model_fields)})")
            name = str(first["loc"][0]) if first["loc"] else ""
            want = expected.get(field, expected.get(name + "[]", expected.get(name, "something else")))
            raise ServiceError(422, f"{field}: must be {want}, got {_json_type(first.get('input'))}") from None
        for name in value.model_fields_set:
            if getattr(value, name) is None:
                raise ServiceError(422, f"{name}: must be {expected.get(name)}, got null (leave it out instead)")
        return value


class AnswerRequest(_Model):
    question: Optional[str] = None
    questions: Optional[list[str]] = None
    html: Optional[str] = None
    text: Optional[str] = None
    nq_example: Optional[Union[dict, str]] = None
    document_view: bool = False


ANSWER_FIELD_TYPES = {"question": "a string", "questions": "a list of strings", "questions[]": "a string",
                      "html": "a string (the page's HTML)", "text": "a string (paragraphs split on blank lines)",
                      "nq_example": "an NQ example (a JSON object, or its JSON line as a string)",
                      "document_view": "true or false"}


def _check_question(field: str, question: str) -> None:
    if not question.strip():
        raise ServiceError(422, f"{field}: is empty: ask a question")
    if len(question) > MAX_QUESTION_CHARS:
        raise ServiceError(422, f"{field}: {len(question)} characters, more than the {MAX_QUESTION_CHARS} allowed")


@dataclasses.dataclass(frozen=True)
class AnswerJob:
    """A checked /v1/answer request."""

    questions: list[str]
    field: str  # html | text | nq_example
    document: Union[str, dict]
    document_view: bool

    @property
    def kind(self) -> str:
        return KIND_OF_FIELD[self.field]


def check_answer_request(payload: Any, max_questions: int) -> AnswerJob:
    """A /v1/answer body -> AnswerJob, or ServiceError 422 naming the field."""
    req = AnswerRequest.check(payload, ANSWER_FIELD_TYPES)
    given = [f for f in ("question", "questions") if f in req.model_fields_set]
    if len(given) != 1:
        raise ServiceError(422, "question: give exactly one of question and questions"
                           + (" (got both)" if given else " (got neither)"))
    if req.questions is not None:
        if not req.questions:
            raise ServiceError(422, "questions: is empty: give at least one question")
        if len(req.questions) > max_questions:
            raise ServiceError(422, f"questions: {len(req.questions)} questions, more than --max_questions "
                               f"{max_questions}")
        for i, q in enumerate(req.questions):
            _check_question(f"questions[{i}]", q)
        questions = list(req.questions)
    else:
        _check_question("question", req.question)
        questions = [req.question]
    docs = [f for f in DOCUMENT_FIELDS if f in req.model_fields_set]
    if len(docs) != 1:
        raise ServiceError(422, "document: give exactly one of html, text and nq_example"
                           + (f" (got {', '.join(docs)})" if docs else " (got none)"))
    field = docs[0]
    document = getattr(req, field)
    if isinstance(document, str) and not document.strip():
        raise ServiceError(422, f"{field}: is empty: give a document")
    return AnswerJob(questions, field, document, req.document_view)


def check_predict_request(payload: Any, seq: int, vocab_size: int) -> tuple[dict, bool]:
    """A TF Serving REST predict body ({"instances": [{input_ids, input_mask, segment_ids}]}
    or {"inputs": {name: [[...]]}}) -> ([n, seq] int32 arrays, row format?)."""
    if not isinstance(payload, dict):
        raise ServiceError(422, f"body: must be a JSON object, got {_json_type(payload)}")
    extra = sorted(set(payload) - {"instances", "inputs", "signature_name"})
    if extra:
        raise ServiceError(422, f"{extra[0]}: unknown field (the fields are instances or inputs, signature_name)")
    signature = payload.get("signature_name", "serving_default")
    if signature != "serving_default":
        raise ServiceError(422, f"signature_name: the model has only 'serving_default', got {signature!r}")
    if ("instances" in payload) == ("inputs" in payload):
        raise ServiceError(422, "instances: give exactly one of instances and inputs")
    row = "instances" in payload
    columns = _rows_to_columns(payload["instances"]) if row else payload["inputs"]
    if not isinstance(columns, dict):
        raise ServiceError(422, f"inputs: must be an object of {', '.join(MODEL_INPUT_KEYS)}, "
                           f"got {_json_type(columns)}")
    return {k: _int_matrix(f"{'instances' if row else 'inputs'}.{k}", columns, k, seq, vocab_size)
            for k in MODEL_INPUT_KEYS}, row


def _rows_to_columns(instances: Any) -> dict:
    if not isinstance(instances, list) or not instances:
        raise ServiceError(422, f"instances: must be a non-empty list of objects, got {_json_type(instances)}"
                           if not isinstance(instances, list) else "instances: is empty")
    columns: dict = {k: [] for k in MODEL_INPUT_KEYS}
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict):
            raise ServiceError(422, f"instances[{i}]: must be an object of {', '.join(MODEL_INPUT_KEYS)}, "
                               f"got {_json_type(inst)}")
        extra = sorted(set(inst) - set(MODEL_INPUT_KEYS))
        if extra:
            raise ServiceError(422, f"instances[{i}].{extra[0]}: unknown input (the inputs are "
                               f"{', '.join(MODEL_INPUT_KEYS)})")
        for k in MODEL_INPUT_KEYS:
            if k not in inst:
                raise ServiceError(422, f"instances[{i}].{k}: missing")
            columns[k].append(inst[k])
    return columns


def _int_matrix(field: str, columns: dict, key: str, seq: int, vocab_size: int) -> np.ndarray:
    if key not in columns:
        raise ServiceError(422, f"{field}: missing")
    try:
        array = np.asarray(columns[key])
    except ValueError:
        array = None  # ragged
    if array is None or array.ndim != 2 or array.dtype.kind not in "iu" or not len(array):
        raise ServiceError(422, f"{field}: must be a non-empty [n, {seq}] list of lists of integers")
    if array.shape[1] != seq:
        raise ServiceError(422, f"{field}: rows of {array.shape[1]} positions; the model's windows are {seq}")
    high = vocab_size if key == "input_ids" else 2
    if array.min() < 0 or array.max() >= high:
        raise ServiceError(422, f"{field}: values must lie in [0, {high})")
    return array.astype(np.int32)


# ----------------------------------------------------------------------------- the document, for the page


def document_view(prepared) -> dict:
    """The document as the page shows it: blocks of words (one block per run of words
    between two HTML tokens), each word [token index, its text, the text before it] so that
    the words of a span with their separators read exactly as the Reader's span text; and
    the gold answers of an annotated NQ example."""
    doc, source = prepared.doc, prepared.source
    blocks, words, tag, prev = [], [], "p", None
    for i, is_html in enumerate(doc.is_html):
        if is_html:
            if words:
                blocks.append({"tag": tag, "words": words})
                words, prev = [], None
            tag = _tag_name(doc.tokens[i]) or tag
            continue
        text = documents.text_of(doc, i, i + 1, source)
        sep = ""
        if prev is not None:
            both = documents.text_of(doc, prev, i + 1, source)
            sep = " " if len(both) > len(text) + len(words[-1][1]) else ""
        words.append([i, text, sep])
        prev = i
    if words:
        blocks.append({"tag": tag, "words": words})
    return {"kind": prepared.kind, "title": doc.title, "num_tokens": len(doc.tokens), "blocks": blocks,
            "gold": [_gold(doc, a) for a in doc.annotations] if prepared.kind == "nq" else []}


def _tag_name(token: str) -> str:
    """`<Td colspan="2">` -> td; closing tags give no new block style."""
    if token.startswith("</") or not token.startswith("<"):
        return ""
    return token[1:].split(" ", 1)[0].rstrip(">").lower()


def _gold(doc, annotation) -> dict:
    n = len(doc.tokens)

    def span(start: int, end: int) -> Optional[dict]:
        if not 0 <= start < end <= n:
            return None
        return {"start_token": start, "end_token": end, "text": documents.text_of(doc, start, end)}

    return {"long_answer": span(annotation.long_start_token, annotation.long_end_token),
            "short_answers": [s for s in (span(a.start_token, a.end_token) for a in annotation.short_answers) if s],
            "yes_no_answer": annotation.yes_no_answer}


# ----------------------------------------------------------------------------- examples


@dataclasses.dataclass(frozen=True)
class Example:
    example_id: int
    question: str
    title: str
    line: str  # the example's JSON line, as the page posts it back
    annotated: bool


def load_examples(path: str, max_examples: int, max_request_bytes: int) -> tuple[list[Example], int]:
    """The first `max_examples` examples of an NQ jsonl(.gz) file that fit in a request
    (posted back as a JSON string); (examples, how many were left out as too large).
    NqInputError names the file and line of a bad one."""
    from nq_baseline.reading.nq_data import iter_lines, parse_line

    examples, too_large = [], 0
    for p, line_no, raw in iter_lines(path):
        doc = parse_line(raw, p, line_no)
        line = raw.decode("utf-8").rstrip("\r\n")
        if len(orjson.dumps({"question": doc.question_text, "nq_example": line, "document_view": True})) \
                > max_request_bytes:
            too_large += 1
            continue
        examples.append(Example(doc.example_id, doc.question_text, doc.title, line, bool(doc.annotations)))
        if len(examples) >= max_examples:
            break
    return examples, too_large


# ----------------------------------------------------------------------------- the app


@dataclasses.dataclass(frozen=True)
class ServiceConfig:
    max_request_bytes: int = 32 << 20
    max_questions: int = 32
    max_batch_windows: int = 64
    batch_timeout_ms: float = 5.0
    micro_batching: bool = True

    def __post_init__(self):
        for name in ("max_request_bytes", "max_questions", "max_batch_windows"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_timeout_ms < 0:
            raise ValueError(f"batch_timeout_ms must be >= 0, got {self.batch_timeout_ms}")


def json_response(obj: Any, status: int = 200, headers: Optional[dict] = None):
    from starlette.responses import Response

    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json", headers=headers)


def error_response(status: int, message: str, headers: Optional[dict] = None):
    return json_response({"error": message}, status, headers)


async def read_body(request, limit: int) -> bytes:
    """The request body, or ServiceError 413 as soon as it is over `limit` bytes (by its
    Content-Length, or while it streams in)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ServiceError(413, f"the request body is {int(declared)} bytes, over --max_request_bytes {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServiceError(413, f"the request body is over --max_request_bytes {limit}")
        chunks.append(chunk)
    return b"".join(chunks)


PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


@functools.lru_cache(maxsize=1)
def page_html() -> str:
    return importlib.resources.files("nq_baseline.serving").joinpath("static/index.html").read_text(encoding="utf-8")


BATCH_BUCKET = 8


def run_in_buckets(run: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]],
                   inputs: Mapping[str, np.ndarray], bucket: int = BATCH_BUCKET) -> dict[str, np.ndarray]:
    """`run` over `inputs` padded to a multiple of `bucket` rows (copies of the first row),
    its outputs cut back. Micro-batches come in every size; the runtime keeps memory for
    each batch shape it has seen (measured: ~20 MB per size with MiniLM at 384, flat once
    seen), so a few sizes keep the server's memory bounded, for ~bucket/2 wasted rows a pass."""
    n = len(inputs["input_ids"])
    extra = -n % bucket
    if not extra:
        return dict(run(inputs))
    padded = {k: np.concatenate([v, np.repeat(v[:1], extra, axis=0)]) for k, v in inputs.items()}
    return {k: v[:n] for k, v in run(padded).items()}


class AnswerService:
    """What the routes call: the Reader, the batcher, the examples."""

    def __init__(self, reader, config: ServiceConfig, examples: Optional[list[Example]] = None):
        self.reader, self.config, self.examples = reader, config, list(examples or [])
        reader.batch_size = config.max_batch_windows  # a batch is one forward pass; a larger request, several
        self.batcher = MicroBatcher(functools.partial(run_in_buckets, reader.run), config.max_batch_windows,
                                    config.batch_timeout_ms, config.micro_batching)
        self.started = time.time()
        self._random = random.Random()

    def close(self) -> None:
        self.batcher.close()

    async def forward(self, inputs: Mapping[str, np.ndarray]) -> dict:
        if not len(inputs["input_ids"]):
            return self.reader.run(inputs)  # no windows: empty outputs, no model needed
        return await asyncio.wrap_future(self.batcher.submit(inputs))

    def encode(self, job: AnswerJob):
        try:
            return self.reader.encode(job.questions, job.document, job.kind)
        except NqInputError as err:
            raise ServiceError(422, f"{job.field}: {err.reason}") from None
        except (ValueError, TypeError) as err:
            raise ServiceError(422, f"{job.field}: {err}") from None

    def decode(self, job: AnswerJob, encoded, outputs) -> dict:
        answers = self.reader.decode(encoded, outputs)
        out = {"answers": [a.to_json() for a in answers]}
        if job.document_view:
            out["document_view"] = document_view(encoded.document)
        return out

    async def answer(self, payload: Any) -> dict:
        from anyio import to_thread

        job = check_answer_request(payload, self.config.max_questions)
        encoded = await to_thread.run_sync(self.encode, job)
        outputs = await self.forward({k: encoded.windows[k] for k in MODEL_INPUT_KEYS})
        return await to_thread.run_sync(self.decode, job, encoded, outputs)

    async def predict(self, payload: Any) -> dict:
        inputs, row = check_predict_request(payload, self.reader.features.max_seq_length,
                                            int(self.reader.model.config.vocab_size))
        outputs = await self.forward(inputs)
        if row:
            return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(len(inputs["input_ids"]))]}
        return {"outputs": outputs}

    def random_example(self) -> dict:
        if not self.examples:
            raise ServiceError(404, "no examples: start serve_nq with --examples_file")
        ex = self._random.choice(self.examples)
        return {"example_id": str(ex.example_id), "question": ex.question, "title": ex.title,
                "annotated": ex.annotated, "nq_example": ex.line}

    def health(self) -> tuple[dict, int]:
        alive = self.batcher.alive
        return ({"status": "ok" if alive else "model thread stopped", "uptime_s": round(time.time() - self.started, 3),
                 "batcher": self.batcher.stats()}, 200 if alive else 503)

    def model(self) -> dict:
        return dict(self.reader.describe(), service=dict(dataclasses.asdict(self.config),
                                                         examples=len(self.examples),
                                                         max_question_chars=MAX_QUESTION_CHARS))


def create_app(service: AnswerService):
    """The FastAPI app over `service`: /, /healthz, /v1/model, /v1/answer, /v1/examples,
    /v1/examples/random and TF Serving's /v1/models/nq(:predict)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.responses import HTMLResponse

    app = FastAPI(title="nq-baseline answer service", docs_url=None, redoc_url=None, openapi_url=None)
    limit = service.config.max_request_bytes

    @app.exception_handler(ServiceError)
    async def _service_error(request, err: ServiceError):
        return error_response(err.status, err.message)

    @app.exception_handler(HTTPException)
    async def _http_error(request, err: HTTPException):
        message = {404: f"no such route: {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(err.status_code, str(err.detail))
        return error_response(err.status_code, message, getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, err):
        return error_response(422, str(err.errors()[0].get("msg", "bad request")))

    @app.exception_handler(Exception)
    async def _internal_error(request, err: Exception):
        LOG.error("internal error on %s %s", request.method, request.url.path, exc_info=err)
        return error_response(500, "internal error: the request could not be answered (see the server's log)")

    @app.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse(page_html(), headers=PAGE_HEADERS)

    @app.get("/healthz")
    def healthz():
        body, status = service.health()
        return json_response(body, status)

    @app.get("/v1/model")
    def model():
        return json_response(service.model())

    @app.post("/v1/answer")
    async def answer(request: Request):
        return json_response(await service.answer(parse_json_body(await read_body(request, limit))))

    @app.get("/v1/examples")
    def examples():
        return json_response({"count": len(service.examples)})

    @app.get("/v1/examples/random")
    def random_example():
        return json_response(service.random_example())

    @app.get(f"/v1/models/{TF_SERVING_MODEL}")
    def model_status():
        return json_response({"model_version_status": [{"version": str(service.reader.step or 0),
                                                        "state": "AVAILABLE",
                                                        "status": {"error_code": "OK", "error_message": ""}}]})

    @app.post(f"/v1/models/{TF_SERVING_MODEL}:predict")
    async def predict(request: Request):
        return json_response(await service.predict(parse_json_body(await read_body(request, limit))))

    return app
