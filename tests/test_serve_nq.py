"""serve_nq: the answer service. In process (FastAPI's test client) for every route and
every input check; a live server for the micro-batching, the CLI and a fuzz run."""

import gzip
import json
import random
import threading
import time

import numpy as np
import pytest

from conftest import KNOWN_ANSWER, NQ_REAL, run_module
from serve_support import PAGE, TEXT, live_server, simplified_example

from nq_baseline import Reader
from nq_baseline.model.modeling import MODEL_INPUT_KEYS
from nq_baseline.serving.app import AnswerService, ServiceConfig, create_app
from nq_baseline.serving.batcher import MicroBatcher, run_in_buckets
from nq_baseline.serving.requests import MAX_QUESTION_CHARS

LIMIT = 1 << 20  # --max_request_bytes of the services under test (a real NQ example fits)


@pytest.fixture(scope="module")
def reader(random_model_folder):
    return Reader.load(str(random_model_folder[0]))


@pytest.fixture(scope="module")
def service(reader):
    svc = AnswerService(reader, ServiceConfig(max_request_bytes=LIMIT, max_questions=4, max_batch_windows=16),
                        examples=None)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def client(service):
    from fastapi.testclient import TestClient

    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


def expected(reader, questions, document, kind):
    return [a.to_json() for a in reader.answer_many(questions, document, kind)]


def assert_same_answers(got, want):
    """Answers equal the Reader's; scores to float noise (other windows share the batch)."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for key in ("long_answer_score", "short_answers_score"):
            assert g.pop(key) == pytest.approx(w.pop(key), abs=1e-4)
        probs_g, probs_w = g.pop("answer_type_probabilities"), w.pop("answer_type_probabilities")
        assert probs_g == pytest.approx(probs_w, abs=1e-5)
        for key in ("confidence", "no_answer_probability"):
            got_p, want_p = g.pop(key), w.pop(key)
            assert got_p == want_p or got_p == pytest.approx(want_p, abs=1e-5)
        top_g, top_w = g.pop("top_answers"), w.pop("top_answers")
        assert 0 < len(top_g) <= 5 and len(top_g) == min(5, len(top_w))  # the service lists --top_answers
        for a, b in zip(map(dict, top_g), map(dict, top_w)):
            assert a.pop("score") == pytest.approx(b.pop("score"), abs=1e-4)
            assert a.pop("probability") == pytest.approx(b.pop("probability"), abs=1e-5)
            assert a == b
        assert g == w


# ----------------------------------------------------------------------------- answers


@pytest.mark.parametrize("field,document", [("html", PAGE), ("text", TEXT)])
def test_the_known_answer_over_http(known_answer_folder, field, document):
    """The known-answer model (conftest) behind the service: "1820", its character offsets into
    the document posted, the paragraph holding it, through the micro-batcher and the JSON."""
    from fastapi.testclient import TestClient

    svc = AnswerService(Reader.load(str(known_answer_folder)), ServiceConfig(max_batch_windows=16))
    try:
        with TestClient(create_app(svc)) as c:
            r = c.post("/v1/answer", json={"question": "when was veldmoor founded", field: document})
    finally:
        svc.close()
    assert r.status_code == 200, r.text
    answer = r.json()["answers"][0]
    start, end = answer["short_answers_chars"][0]
    assert answer["short_answers_text"] == [KNOWN_ANSWER] and document[start:end] == KNOWN_ANSWER
    assert KNOWN_ANSWER in answer["long_answer_text"] and answer["answer_type"] == "SHORT"


def test_several_questions_in_one_request(client, reader):
    questions = ["who is the mayor", "how many people live there", "what river"]
    r = client.post("/v1/answer", json={"questions": questions, "html": PAGE})
    assert r.status_code == 200, r.text
    got = r.json()["answers"]
    assert [a["question"] for a in got] == questions
    assert_same_answers(got, expected(reader, questions, PAGE, "html"))


def test_nq_example_as_object_or_line_and_its_gold_answers(client, reader):
    example = simplified_example()
    want = expected(reader, [example["question_text"]], example, "nq")
    for document in (example, json.dumps(example)):
        r = client.post("/v1/answer", json={"question": example["question_text"], "nq_example": document,
                                            "document_view": True})
        assert r.status_code == 200, r.text
        body = r.json()
        assert_same_answers(body["answers"], [dict(w) for w in want])
        assert body["answers"][0]["example_id"] == "4242"  # a string: 64-bit ids lose digits as JSON numbers
    words = example["document_text"].split(" ")
    gold = body["document_view"]["gold"]
    annotation = example["annotations"][0]
    assert gold[0]["long_answer"]["start_token"] == annotation["long_answer"]["start_token"]
    assert gold[0]["short_answers"][0]["text"] == words[annotation["short_answers"][0]["start_token"]] == "1820"


def test_real_nq_example(client, reader):
    line = gzip.open(NQ_REAL / "nq-dev-full-1.jsonl.gz", "rb").readline().decode()
    question = json.loads(line)["question_text"]
    r = client.post("/v1/answer", json={"question": question, "nq_example": line, "document_view": True})
    assert r.status_code == 200, r.text
    assert_same_answers(r.json()["answers"], expected(reader, [question], line, "nq"))


def view_text(view, start, end):
    """The text of tokens [start, end) as the page shows it: the view's words with their separators."""
    words = [w for b in view["blocks"] for w in b["words"] if start <= w[0] < end]
    return "".join((sep if k else "") + text for k, (_, text, sep) in enumerate(words))


@pytest.mark.parametrize("field,document", [("html", PAGE), ("text", TEXT), ("nq_example", simplified_example())])
def test_document_view_reads_as_the_answer_text(client, reader, field, document):
    """The page's words with their separators read exactly as the Reader's span texts (the
    long answer of the model and every candidate of the document)."""
    r = client.post("/v1/answer", json={"question": "who founded veldmoor", field: document, "document_view": True})
    assert r.status_code == 200, r.text
    body = r.json()
    answer, view = body["answers"][0], body["document_view"]
    if answer["long_answer"]["start_token"] >= 0:
        assert view_text(view, answer["long_answer"]["start_token"], answer["long_answer"]["end_token"]) \
            == answer["long_answer_text"]
    prepared = reader.tokenize(document, {"nq_example": "nq"}.get(field, field))
    for c in prepared.doc.candidates:
        assert view_text(view, c.start_token, c.end_token) == reader._span(prepared, c.start_token, c.end_token).text
    shown = [w[0] for b in view["blocks"] for w in b["words"]]
    assert shown == [i for i, h in enumerate(prepared.doc.is_html) if not h]


def test_model_health_and_page(client, reader, service):
    r = client.get("/v1/model")
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in reader.describe()} == json.loads(json.dumps(reader.describe()))
    assert body["checkpoint_step"] == 7 and body["service"]["max_request_bytes"] == LIMIT
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # self-contained: nothing to fetch
    assert client.get("/v1/examples").json() == {"count": 0}


def test_tf_serving_predict_equals_the_forward_pass(client, reader):
    encoded = reader.encode(["when was veldmoor founded", "who is the mayor"], PAGE, "html")
    inputs = {k: encoded.windows[k] for k in MODEL_INPUT_KEYS}
    want = reader.run(inputs)
    rows = [{k: inputs[k][i].tolist() for k in MODEL_INPUT_KEYS} for i in range(len(inputs["input_ids"]))]
    r = client.post("/v1/models/nq:predict", json={"instances": rows})
    assert r.status_code == 200, r.text
    for k, v in want.items():
        np.testing.assert_allclose(np.array([p[k] for p in r.json()["predictions"]]), v, atol=1e-5)
    r = client.post("/v1/models/nq:predict", json={"inputs": {k: v.tolist() for k, v in inputs.items()},
                                                   "signature_name": "serving_default"})
    assert r.status_code == 200, r.text
    for k, v in want.items():
        np.testing.assert_allclose(np.array(r.json()["outputs"][k]), v, atol=1e-5)
    status = client.get("/v1/models/nq").json()
    assert status["model_version_status"][0] == {"version": "7", "state": "AVAILABLE",
                                                 "status": {"error_code": "OK", "error_message": ""}}


def test_forward_passes_come_in_a_few_batch_sizes(reader):
    """Every pass is a multiple of 8 rows (bounded runtime memory), with the outputs of the
    unpadded pass for the real rows."""
    enc = reader.encode(["when was it founded", "who is the mayor", "is it on a river"], TEXT * 6, "text")
    windows = {k: enc.windows[k] for k in MODEL_INPUT_KEYS}
    sizes = []

    def recording(inputs):
        sizes.append(len(inputs["input_ids"]))
        return reader.run(inputs)

    for n in (1, 3, 8, 9, len(windows["input_ids"])):
        part = {k: v[:n] for k, v in windows.items()}
        got, want = run_in_buckets(recording, part), reader.run(part)
        assert set(got) == set(want)
        for key in want:
            assert got[key].shape == want[key].shape
            np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-4)
    assert all(size % 8 == 0 for size in sizes), sizes


def test_random_example(reader, tmp_path):
    from fastapi.testclient import TestClient

    from nq_baseline.serving.view import load_examples

    path = tmp_path / "dev.jsonl.gz"
    lines = [json.dumps(simplified_example(i)) for i in (11, 12)] + [json.dumps(dict(simplified_example(13),
                                                                                   document_text="x " * 5000))]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    examples, too_large = load_examples(str(path), max_examples=10, max_request_bytes=4096)
    assert [e.example_id for e in examples] == [11, 12] and too_large == 1
    svc = AnswerService(reader, ServiceConfig(), examples)
    try:
        with TestClient(create_app(svc)) as c:
            assert c.get("/v1/examples").json() == {"count": 2}
            ex = c.get("/v1/examples/random").json()
            assert ex["example_id"] in ("11", "12") and ex["annotated"] and ex["nq_example"] in lines
            r = c.post("/v1/answer", json={"question": ex["question"], "nq_example": ex["nq_example"]})
            assert r.status_code == 200 and r.json()["answers"][0]["example_id"] == ex["example_id"]
    finally:
        svc.close()


def _numbers(value, path="$"):
    """Every number in a parsed JSON value, with its path."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{path}.{k}")
    else:
        for i, v in enumerate(value):
            yield from _numbers(v, f"{path}[{i}]")


JS_SAFE_INTEGER = 2**53 - 1  # Number.MAX_SAFE_INTEGER: a JSON number past it reaches JavaScript rounded


def test_real_example_ids_are_strings_and_no_response_holds_a_number_javascript_rounds(reader):
    """The 5 real examples (ids such as -8062182676792486818, which JavaScript reads as
    -8062182676792487000): every response the page reads gives the id as the file's digits,
    and holds no integer past 2^53."""
    from fastapi.testclient import TestClient

    from nq_baseline.serving.view import load_examples

    examples = [e for path in sorted(NQ_REAL.glob("*.jsonl.gz")) for e in load_examples(str(path), 10, LIMIT)[0]]
    ids = sorted(str(json.loads(line)["example_id"]) for path in sorted(NQ_REAL.glob("*.jsonl.gz"))
                 for line in gzip.open(path, "rt"))
    assert "-8062182676792486818" in ids and sorted(str(e.example_id) for e in examples) == ids
    svc = AnswerService(reader, ServiceConfig(max_request_bytes=LIMIT), examples)
    bodies = []
    try:
        with TestClient(create_app(svc)) as c:
            for path in ("/v1/model", "/healthz", "/v1/examples", "/v1/examples/random"):
                bodies.append(c.get(path).json())
            for example_id in ids:
                ex = c.get(f"/v1/examples/{example_id}").json()
                assert ex["example_id"] == example_id
                r = c.post("/v1/answer", json={"question": ex["question"], "nq_example": ex["nq_example"],
                                               "document_view": True})
                assert r.status_code == 200, r.text
                assert r.json()["answers"][0]["example_id"] == example_id
                bodies += [ex, r.json()]
            missing = c.get("/v1/examples/123")
            assert missing.status_code == 404 and "no example 123 among the 5" in missing.json()["error"]
    finally:
        svc.close()
    unsafe = [(path, n) for body in bodies for path, n in _numbers(body)
              if isinstance(n, int) and abs(n) > JS_SAFE_INTEGER]
    assert not unsafe


def test_answers_carry_their_confidence_and_top_answers(client):
    r = client.post("/v1/answer", json={"question": "when was veldmoor founded", "html": PAGE})
    answer = r.json()["answers"][0]
    top = answer["top_answers"]
    assert 1 <= len(top) <= 5 and [t["probability"] for t in top] == sorted((t["probability"] for t in top),
                                                                            reverse=True)
    assert 0 < answer["no_answer_probability"] < 1 and sum(t["probability"] for t in top) < 1
    assert all(set(t) >= {"text", "context_before", "context_after", "score", "start_token"} for t in top)
    assert client.get("/v1/model").json()["service"]["confidence_spans"] == 20


# ----------------------------------------------------------------------------- input checks

BAD_REQUESTS = [
    # (body, status, the error names...)
    (b'{"question": "a", "text": ', 400, "not valid JSON"),
    (b'{"question": "caf\xe9", "text": "x"}', 400, "not UTF-8"),
    (b"", 400, "empty"),
    (b"[" * 3000 + b"]" * 3000, 400, "not valid JSON"),
    (b'["question"]', 422, "body: must be a JSON object"),
    (b'{"text": "x"}', 422, "question: give exactly one of question and questions (got neither)"),
    (b'{"question": "a", "questions": ["b"], "text": "x"}', 422, "question: give exactly one"),
    (b'{"question": 5, "text": "x"}', 422, "question: must be a string, got a number"),
    (b'{"question": null, "text": "x"}', 422, "question: must be a string, got null"),
    (b'{"question": "   ", "text": "x"}', 422, "question: is empty"),
    (b'{"question": "%s", "text": "x"}' % (b"a" * (MAX_QUESTION_CHARS + 1)), 422, "question: 2049 characters"),
    (b'{"questions": [], "text": "x"}', 422, "questions: is empty"),
    (b'{"questions": "a", "text": "x"}', 422, "questions: must be a list of strings"),
    (b'{"questions": ["a", 7], "text": "x"}', 422, "questions[1]: must be a string"),
    (b'{"questions": ["a", ""], "text": "x"}', 422, "questions[1]: is empty"),
    (b'{"questions": ["a", "b", "c", "d", "e"], "text": "x"}', 422,
     "questions: 5 questions, more than --max_questions 4"),
    (b'{"question": "a"}', 422, "document: give exactly one of html, text and nq_example (got none)"),
    (b'{"question": "a", "text": "x", "html": "<p>y</p>"}', 422, "(got html, text)"),
    (b'{"question": "a", "text": ""}', 422, "text: is empty"),
    (b'{"question": "a", "html": ["<p>"]}', 422, "html: must be a string"),
    (b'{"question": "a", "nq_example": 3}', 422, "nq_example: must be an NQ example"),
    (b'{"question": "a", "nq_example": {"example_id": 1}}', 422, "nq_example: example lacks the field"),
    (b'{"question": "a", "nq_example": "{not json"}', 422, "nq_example: not valid JSON"),
    (b'{"question": "a", "text": "x", "document_view": "yes"}', 422, "document_view: must be true or false"),
    (b'{"question": "a", "text": "x", "colour": "red"}', 422, "colour: unknown field"),
]


@pytest.mark.parametrize("body,status,message", BAD_REQUESTS, ids=range(len(BAD_REQUESTS)))
def test_bad_answer_request(client, body, status, message):
    r = client.post("/v1/answer", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error"} and message in r.json()["error"], r.json()


def test_bad_documents_name_the_field(client):
    bad_nq = dict(simplified_example(), long_answer_candidates=[{"start_token": 3, "end_token": 999}])
    r = client.post("/v1/answer", json={"question": "a", "nq_example": bad_nq})
    assert r.status_code == 422 and r.json()["error"].startswith("nq_example: long_answer_candidates[0]")


def test_body_over_the_limit(client):
    huge = json.dumps({"question": "a", "text": "x" * LIMIT}).encode()
    r = client.post("/v1/answer", content=huge)
    assert r.status_code == 413 and "--max_request_bytes" in r.json()["error"]

    def chunks():  # no Content-Length: stopped while it streams in
        for _ in range(LIMIT // 1024 + 2):
            yield b"x" * 1024

    r = client.post("/v1/answer", content=chunks())
    assert r.status_code == 413 and "--max_request_bytes" in r.json()["error"]


def test_unknown_route_and_method(client):
    r = client.get("/v2/answer")
    assert r.status_code == 404 and r.json() == {"error": "no such route: /v2/answer"}
    r = client.get("/v1/answer")
    assert r.status_code == 405 and r.json()["error"] == "GET is not allowed on /v1/answer"
    assert r.headers["allow"] == "POST"
    assert client.delete("/v1/model").status_code == 405
    assert client.get("/v1/examples/random").status_code == 404  # started without --examples_file


@pytest.mark.parametrize("payload,message", [
    ({"instances": []}, "instances: is empty"),
    ({"instances": [{"input_ids": [1] * 128, "input_mask": [1] * 128}]}, "instances[0].segment_ids: missing"),
    ({"instances": [{"input_ids": [1] * 128, "input_mask": [1] * 128, "segment_ids": [0] * 128, "x": 1}]},
     "instances[0].x: unknown input"),
    ({"inputs": {"input_ids": [[1, 2]], "input_mask": [[1, 1]], "segment_ids": [[0, 0]]}}, "rows of 2 positions"),
    ({"inputs": {"input_ids": [[1.5] * 128], "input_mask": [[1] * 128], "segment_ids": [[0] * 128]}},
     "inputs.input_ids: must be a non-empty"),
    ({"inputs": {"input_ids": [[1] * 128, [1] * 3], "input_mask": [[1] * 128], "segment_ids": [[0] * 128]}},
     "inputs.input_ids: must be a non-empty"),
    ({"inputs": {"input_ids": [[99999] * 128], "input_mask": [[1] * 128], "segment_ids": [[0] * 128]}},
     "inputs.input_ids: values must lie in [0, 30522)"),
    ({"inputs": {"input_ids": [[1] * 128], "input_mask": [[2] * 128], "segment_ids": [[0] * 128]}},
     "inputs.input_mask: values must lie in [0, 2)"),
    ({"instances": [], "inputs": {}}, "give exactly one of instances and inputs"),
    ({"inputs": {}, "signature_name": "other"}, "signature_name"),
])
def test_bad_predict_request(client, payload, message):
    r = client.post("/v1/models/nq:predict", json=payload)
    assert r.status_code == 422 and message in r.json()["error"], r.json()


def test_internal_error_is_a_json_500_and_the_service_goes_on(client, reader, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(reader, "decode", broken)
    r = client.post("/v1/answer", json={"question": "a", "text": TEXT})
    assert r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text
    assert r.json()["error"].startswith("internal error")
    monkeypatch.undo()
    assert client.post("/v1/answer", json={"question": "a", "text": TEXT}).status_code == 200


# ----------------------------------------------------------------------------- micro-batching


def echo_run(passes, gate=None, entered=None):
    """A model stand-in: start_logits = input_ids * 2 row for row; records each pass's size.
    With `gate`, a pass starts only once the gate is set (`entered` is set when it waits)."""

    def run(inputs):
        if entered is not None:
            entered.set()
        if gate is not None:
            gate.wait(30)
        passes.append(len(inputs["input_ids"]))
        ids = inputs["input_ids"]
        return {"start_logits": ids * 2, "end_logits": ids * 3, "answer_type_logits": ids[:, :5]}

    return run


def windows(first: int, n: int, seq: int = 8):
    ids = np.arange(first, first + n * seq, dtype=np.int32).reshape(n, seq)
    return {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}


def test_batcher_runs_what_arrived_meanwhile_in_one_pass_and_routes_the_rows():
    passes, gate, entered = [], threading.Event(), threading.Event()
    batcher = MicroBatcher(echo_run(passes, gate, entered), max_batch_windows=64, batch_timeout_ms=0)
    try:
        first = batcher.submit(windows(0, 2))
        assert entered.wait(30)  # the model thread is in the first pass
        jobs = [(k, batcher.submit(windows(1000 * k, k))) for k in range(1, 6)]  # 15 windows, queued meanwhile
        gate.set()
        np.testing.assert_array_equal(first.result(30)["start_logits"], windows(0, 2)["input_ids"] * 2)
        for k, future in jobs:
            out = future.result(30)
            np.testing.assert_array_equal(out["end_logits"], windows(1000 * k, k)["input_ids"] * 3)
        assert passes == [2, 15]
        assert batcher.stats() | {"queued": 0} == {"forward_passes": 2, "windows": 17, "requests": 6,
                                                  "largest_batch": 15, "queued": 0}
    finally:
        batcher.close()


def test_batcher_respects_max_batch_windows_and_can_be_off():
    sizes = [3, 1, 3, 1, 3, 9]  # queued while the first pass runs
    for enabled, want in ((True, [1, 4, 4, 3, 9]), (False, [1] + sizes)):
        passes, gate, entered = [], threading.Event(), threading.Event()
        batcher = MicroBatcher(echo_run(passes, gate, entered), max_batch_windows=4, batch_timeout_ms=0,
                               enabled=enabled)
        try:
            futures = [batcher.submit(windows(0, 1))]
            assert entered.wait(30)
            futures += [batcher.submit(windows(100 * i, n)) for i, n in enumerate(sizes)]
            gate.set()
            for f in futures:
                f.result(30)
            assert passes == want
        finally:
            batcher.close()


def test_batcher_waits_batch_timeout_for_more():
    passes = []
    batcher = MicroBatcher(echo_run(passes), max_batch_windows=64, batch_timeout_ms=5000)
    try:
        futures = [batcher.submit(windows(0, 1))]
        time.sleep(0.2)  # well inside the 5 s the first job waits for company
        futures += [batcher.submit(windows(10, 2)) for _ in range(3)]
        for f in futures:
            f.result(30)
        assert passes == [7]
    finally:
        batcher.close()


def test_a_failed_pass_fails_its_requests_only():
    calls = []

    def run(inputs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return echo_run([])(inputs)

    batcher = MicroBatcher(run, batch_timeout_ms=0)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            batcher.submit(windows(0, 1)).result(30)
        assert batcher.submit(windows(0, 1)).result(30)["start_logits"].shape == (1, 8)
        assert batcher.alive
    finally:
        batcher.close()


def test_a_request_never_waits_on_anothers_decoding(service, reader, monkeypatch):
    """The slow request's decoding cannot finish before the fast request has been answered:
    were the fast one waiting on it, neither would finish."""
    import httpx

    fast_done, threads_seen = threading.Event(), []
    original = reader.decode

    def decode(encoded, outputs):
        threads_seen.append(threading.current_thread().name)
        if encoded.questions == ["slow"]:
            assert fast_done.wait(60), "the fast request was held up by the slow one's decoding"
        return original(encoded, outputs)

    monkeypatch.setattr(reader, "decode", decode)
    app = create_app(service)

    async def both():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            import asyncio

            slow = asyncio.ensure_future(c.post("/v1/answer", json={"question": "slow", "text": TEXT}))
            await asyncio.sleep(0.05)
            fast = await c.post("/v1/answer", json={"question": "fast", "text": TEXT})
            fast_done.set()
            return fast, await slow

    import anyio

    fast, slow = anyio.run(both)
    assert fast.status_code == 200 and slow.status_code == 200
    assert "nq-model" not in threads_seen and len(threads_seen) == 2


# ----------------------------------------------------------------------------- the command line and a live server


@pytest.mark.parametrize("flags,message", [
    ([], "--model_dir is required"),
    (["--model_dir=/nonexistent"], "--model_dir /nonexistent: no nq_model.json"),
    (["--model_dir=M", "--port=70000"], "--port"),
    (["--model_dir=M", "--max_batch_windows=0"], "--max_batch_windows"),
    (["--model_dir=M", "--batch_timeout_ms=-1"], "--batch_timeout_ms"),
    (["--model_dir=M", "--batch_timeout_ms=nan"], "--batch_timeout_ms must be within [0, 10000], got nan"),
    (["--model_dir=M", "--lexical_weight=-0.5"], "--lexical_weight"),
    (["--model_dir=M", "--lexical_weight=inf"], "--lexical_weight must be a finite number >= 0, got inf"),
    (["--model_dir=M", "--max_request_bytes=10"], "--max_request_bytes"),
    (["--model_dir=M", "--max_questions=0"], "--max_questions"),
    (["--model_dir=M", "--examples_file=/nonexistent.jsonl"], "--examples_file /nonexistent.jsonl: no such file"),
    (["--model_dir=M", "extra"], "unexpected arguments: extra"),
])
def test_cli_bad_flags(random_model_folder, flags, message):
    flags = [f.replace("=M", f"={random_model_folder[0]}") for f in flags]
    proc = run_module("nq_baseline.serve_nq", *flags)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("serve_nq: error:") and message in lines[0], proc.stderr


@pytest.fixture(scope="module")
def examples_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("examples") / "dev.jsonl"
    path.write_text("".join(json.dumps(simplified_example(i)) + "\n" for i in (1, 2, 3)))
    return path


@pytest.fixture(scope="module")
def server(random_model_folder, examples_file):
    with live_server(random_model_folder[0], f"--max_request_bytes={LIMIT}", "--batch_timeout_ms=300",
                     f"--examples_file={examples_file}", "--max_questions=4", "--log_level=warning") as s:
        yield s


def test_live_server_answers_and_batches_concurrent_requests(server, reader):
    questions = [f"question number {i} about veldmoor" for i in range(8)]
    want = {q: expected(reader, [q], TEXT, "text") for q in questions}
    before = server.get_json("/healthz")[1]["batcher"]
    barrier, got = threading.Barrier(len(questions)), {}

    def ask(q):
        barrier.wait()
        got[q] = server.post_json("/v1/answer", {"question": q, "text": TEXT})

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for q in questions:
        status, body = got[q]
        assert status == 200, body
        assert_same_answers(body["answers"], want[q])
    after = server.get_json("/healthz")[1]["batcher"]
    assert after["requests"] - before["requests"] == len(questions)
    assert after["forward_passes"] - before["forward_passes"] < len(questions)  # requests shared passes
    assert server.get_json("/v1/examples") == (200, {"count": 3})


def test_cli_refuses_a_busy_port_and_a_bad_examples_file(random_model_folder, server, tmp_path):
    host, port = server.host_port
    proc = run_module("nq_baseline.serve_nq", f"--model_dir={random_model_folder[0]}", f"--port={port}")
    assert proc.returncode == 2 and f"--port {port}: cannot listen there" in proc.stderr, proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(simplified_example()) + "\n" + '{"example_id": 1}\n')
    proc = run_module("nq_baseline.serve_nq", f"--model_dir={random_model_folder[0]}", "--port=0",
                      f"--examples_file={bad}")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"serve_nq: error: --examples_file {bad}:2:")


def fuzz_requests(rng: random.Random):
    """(method, path, body) of malformed requests, each invalid by construction."""
    valid = {"question": "when was veldmoor founded", "text": TEXT}
    valid_bytes = json.dumps(valid).encode()
    junk_values = [None, True, 0, -1.5, 1e308, "", [], {}, [1, "a"], {"a": [None]}, "x" * 5000]
    out = []
    for _ in range(40):  # random bytes
        out.append(("POST", "/v1/answer", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))))
    for _ in range(40):  # truncated JSON
        out.append(("POST", "/v1/answer", valid_bytes[:rng.randrange(1, len(valid_bytes) - 1)]))
    for _ in range(40):  # wrong types, missing or extra fields
        body = dict(valid)
        mutation = rng.randrange(5)
        if mutation == 0:
            body["question"] = rng.choice([v for v in junk_values if not isinstance(v, str)])
        elif mutation == 1:
            body["text"] = rng.choice([v for v in junk_values if not isinstance(v, str)] + [""])
        elif mutation == 2:
            body[rng.choice(["html", "nq_example", "questions"])] = rng.choice(junk_values + ["<p>x</p>"])
        elif mutation == 3:
            body.pop(rng.choice(["question", "text"]))
        else:
            body["".join(rng.choice("abcdefgh") for _ in range(6))] = rng.choice(junk_values)
        out.append(("POST", "/v1/answer", json.dumps(body).encode()))
    for _ in range(20):  # NQ examples of the wrong shape
        example = {rng.choice(["example_id", "question_text", "long_answer_candidates", "zz"]): rng.choice(junk_values)
                   for _ in range(3)}
        example.pop("document_text", None)
        out.append(("POST", "/v1/answer", json.dumps({"question": "a", "nq_example": example}).encode()))
    for _ in range(15):  # huge strings: over the limit, or in a mistyped field
        size = rng.choice([LIMIT + 1, 2 * LIMIT, LIMIT // 2])
        body = {"question": ["x" * size]} if size < LIMIT else {"question": "a", "text": "y" * size}
        out.append(("POST", "/v1/answer", json.dumps(body).encode()))
    for _ in range(15):  # deep nesting
        depth = rng.choice([500, 1100, 5000, 50000])
        out.append(("POST", "/v1/answer", b'{"question": ' + b"[" * depth + b"]" * depth + b', "text": "x"}'))
    for _ in range(15):  # TF Serving predict garbage
        out.append(("POST", "/v1/models/nq:predict", json.dumps(rng.choice([
            {"instances": rng.choice(junk_values)}, {"inputs": rng.choice(junk_values)},
            {"instances": [{"input_ids": [rng.randrange(-5, 40000) for _ in range(rng.randrange(1, 200))]}]},
        ])).encode()))
    for _ in range(15):  # bad UTF-8, unknown routes and methods
        choice = rng.randrange(3)
        if choice == 0:
            out.append(("POST", "/v1/answer", b'{"question": "\xc3\x28", "text": "\xff"}'))
        elif choice == 1:
            path = "/v1/" + "".join(rng.choice("xyz/") for _ in range(8))
            out.append((rng.choice(["GET", "POST", "PUT"]), path, b""))
        else:
            out.append((rng.choice(["PUT", "DELETE", "PATCH"]), rng.choice(["/v1/answer", "/healthz", "/"]), b"{}"))
    return out


def raw_exchange(server, data: bytes) -> bytes:
    """Sends bytes as they are; the status line answered (b"" if the server just closed)."""
    import socket

    with socket.create_connection(server.host_port, timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply.split(b"\r\n", 1)[0]


def test_fuzz_every_malformed_request_is_a_4xx_and_the_server_goes_on(server, reader):
    requests = fuzz_requests(random.Random(12))
    assert len(requests) >= 200
    statuses = {}
    for method, path, body in requests:
        status, headers, data = server.request(method, path, body, {"Content-Type": "application/json"})
        assert 400 <= status < 500, (method, path, body[:200], status, data[:300])
        assert set(json.loads(data)) == {"error"}, data[:300]
        statuses[status] = statuses.get(status, 0) + 1
    assert set(statuses) >= {400, 404, 405, 413, 422}, statuses
    rng = random.Random(13)
    for _ in range(10):  # garbage below HTTP: the server's HTTP layer answers 400 and goes on
        status_line = raw_exchange(server, bytes(rng.randrange(1, 256) for _ in range(rng.randrange(5, 200)))
                                   + b"\r\n\r\n")
        assert status_line == b"" or 400 <= int(status_line.split()[1]) < 500, status_line
    assert server.proc.poll() is None
    assert server.get_json("/healthz")[1]["status"] == "ok"
    status, body = server.post_json("/v1/answer", {"question": "when was veldmoor founded", "text": TEXT})
    assert status == 200
    assert_same_answers(body["answers"], expected(reader, ["when was veldmoor founded"], TEXT, "text"))
