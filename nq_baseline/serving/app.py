"""The answer service over a `Reader`: the service's state (`AnswerService`: the Reader, the
micro-batcher, the examples) and the FastAPI app (`create_app`) with its routes and page.

Every error is a JSON `{"error": "..."}` with a 4xx status naming the field (the server's own
failures are a 500 with no stack trace; the trace goes to the log). No response holds a number
that a JavaScript reader would round (past 2^53): NQ example ids are strings.
"""


import asyncio
import dataclasses
import functools
import importlib.resources
import logging
import random
import time
from typing import Any, Mapping, Optional

import numpy as np
import orjson

from nq_baseline.common.errors import NqInputError
from nq_baseline.model.modeling import MODEL_INPUT_KEYS
from nq_baseline.serving.batcher import MicroBatcher, run_in_buckets
from nq_baseline.serving.errors import ServiceError
from nq_baseline.serving.requests import (MAX_QUESTION_CHARS, AnswerJob, check_answer_request, check_predict_request,
                                          parse_json_body, read_body)
from nq_baseline.serving.view import Example, document_view

LOG = logging.getLogger("nq_baseline.serving")
TF_SERVING_MODEL = "nq"
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request its client gave up on (never sent: no one listens)
CONFIDENCE_SPANS = 20  # n-best spans the confidence's softmax runs over (prediction.confidence)


@dataclasses.dataclass(frozen=True)
class ServiceConfig:
    max_request_bytes: int = 32 << 20
    max_questions: int = 32
    max_batch_windows: int = 64
    batch_timeout_ms: float = 5.0
    micro_batching: bool = True
    top_answers: int = 5  # candidate answers listed beside each answer

    def __post_init__(self):
        for name in ("max_request_bytes", "max_questions", "max_batch_windows", "top_answers"):
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


PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


@functools.lru_cache(maxsize=1)
def page_html() -> str:
    return importlib.resources.files("nq_baseline.serving").joinpath("static/index.html").read_text(encoding="utf-8")


class AnswerService:
    """What the routes call: the Reader, the batcher, the examples."""

    def __init__(self, reader, config: ServiceConfig, examples: Optional[list[Example]] = None):
        self.reader, self.config, self.examples = reader, config, list(examples or [])
        self.examples_by_id = {str(e.example_id): e for e in self.examples}
        reader.batch_size = config.max_batch_windows  # a batch is one forward pass; a larger request, several
        nbest = max(CONFIDENCE_SPANS, config.top_answers)
        if reader.postprocess.nbest < nbest:  # the answers' confidence and candidates need the n-best spans
            reader.postprocess = dataclasses.replace(reader.postprocess, nbest=nbest)
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
        answers = [a.to_json() for a in self.reader.decode(encoded, outputs)]
        for answer in answers:
            answer["top_answers"] = answer["top_answers"][:self.config.top_answers]
        out = {"answers": answers}
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
        return self._example_json(self._random.choice(self.examples))

    def example(self, example_id: str) -> dict:
        ex = self.examples_by_id.get(example_id.strip())
        if ex is None:
            raise ServiceError(404, f"no example {example_id} among the {len(self.examples)} of --examples_file"
                               if self.examples else "no examples: start serve_nq with --examples_file")
        return self._example_json(ex)

    @staticmethod
    def _example_json(ex: Example) -> dict:
        return {"example_id": str(ex.example_id), "question": ex.question, "title": ex.title,
                "annotated": ex.annotated, "nq_example": ex.line}

    def health(self) -> tuple[dict, int]:
        alive = self.batcher.alive
        return ({"status": "ok" if alive else "model thread stopped", "uptime_s": round(time.time() - self.started, 3),
                 "batcher": self.batcher.stats()}, 200 if alive else 503)

    def model(self) -> dict:
        return dict(self.reader.describe(), service=dict(dataclasses.asdict(self.config),
                                                         confidence_spans=self.reader.postprocess.nbest,
                                                         examples=len(self.examples),
                                                         max_question_chars=MAX_QUESTION_CHARS))


def create_app(service: AnswerService):
    """The FastAPI app over `service`: /, /healthz, /v1/model, /v1/answer, /v1/examples,
    /v1/examples/random, /v1/examples/{id} and TF Serving's /v1/models/nq(:predict)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import Response
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

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request, err: ClientDisconnect):
        # A client that closes the connection mid-body is a normal event, not a server error.
        LOG.info("client closed the connection before its request body was in: %s %s", request.method,
                 request.url.path)
        return Response(status_code=CLIENT_CLOSED_REQUEST)

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

    @app.get("/v1/examples/{example_id}")
    def example(example_id: str):
        return json_response(service.example(example_id))

    @app.get(f"/v1/models/{TF_SERVING_MODEL}")
    def model_status():
        return json_response({"model_version_status": [{"version": str(service.reader.step or 0),
                                                        "state": "AVAILABLE",
                                                        "status": {"error_code": "OK", "error_message": ""}}]})

    @app.post(f"/v1/models/{TF_SERVING_MODEL}:predict")
    async def predict(request: Request):
        return json_response(await service.predict(parse_json_body(await read_body(request, limit))))

    return app
