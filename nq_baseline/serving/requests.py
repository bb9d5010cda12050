"""Request checks: a body is read within its size limit, parsed as JSON, and validated field by
field; every problem is a ServiceError (4xx) naming the field."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Union

import numpy as np
import orjson
import pydantic

from nq_baseline.model.modeling import MODEL_INPUT_KEYS
from nq_baseline.serving.errors import ServiceError

MAX_QUESTION_CHARS = 2048  # NQ questions are < 100 characters; the model keeps max_query_length pieces
DOCUMENT_FIELDS = ("html", "text", "nq_example")
KIND_OF_FIELD = {"html": "html", "text": "text", "nq_example": "nq"}


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
