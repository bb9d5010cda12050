"""Helpers of the serve_nq tests: a live server in a process of its own, plain HTTP calls,
and a small annotated NQ example."""

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from conftest import ROOT

SERVING_RE = re.compile(r"serving (http://\S+?)/ ")

PAGE = """<!DOCTYPE html><html><head><title>Veldmoor</title></head><body>
<h1>Veldmoor</h1>
<p>Veldmoor is a small town on the river Aln. It was founded in 1820 by Ada Corran &amp; her brother.</p>
<table><tr><th>Mayor</th><td>Ilse Varn</td></tr><tr><th>Population</th><td>13,000</td></tr></table>
<ul><li>The old mill, built in 1840.</li><li>St. Brann&#39;s church.</li></ul>
</body></html>"""

TEXT = """Veldmoor is a small town on the river Aln.

It was founded in 1820 by Ada Corran, whose statue stands in the square.

Its mayor is Ilse Varn; about 13,000 people live there."""


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen
    log: list = field(default_factory=list)  # its stdout and stderr lines

    @property
    def host_port(self):
        host, port = self.url[len("http://"):].rsplit(":", 1)
        return host, int(port)

    def request(self, method: str, path: str, body: bytes = None, headers: dict = None, timeout: float = 120):
        """(status, headers, body bytes) of one request on a fresh connection."""
        host, port = self.host_port
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def post_json(self, path: str, obj, timeout: float = 120):
        status, _, body = self.request("POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json"},
                                       timeout)
        return status, json.loads(body)

    def get_json(self, path: str):
        status, _, body = self.request("GET", path)
        return status, json.loads(body)


def _drain(stream, log: list, ready: threading.Event, found: list) -> None:
    for line in iter(stream.readline, ""):
        log.append(line.rstrip("\n"))
        m = SERVING_RE.search(line)
        if m and not found:
            found.append(m.group(1))
            ready.set()
    ready.set()


@contextlib.contextmanager
def live_server(model_dir, *flags: str, timeout: float = 300):
    """`python -m nq_baseline.serve_nq --port=0 ...` until the block ends (SIGTERM, then kill)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-m", "nq_baseline.serve_nq", f"--model_dir={model_dir}", "--port=0",
                             *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=str(ROOT))
    log, found, ready = [], [], threading.Event()
    threading.Thread(target=_drain, args=(proc.stdout, log, ready, found), daemon=True).start()
    try:
        ready.wait(timeout)
        if not found:
            raise RuntimeError("serve_nq did not start:\n" + "\n".join(log[-40:]))
        yield LiveServer(found[0], proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def simplified_example(example_id: int = 4242) -> dict:
    """A small annotated NQ example (simplified format): a heading and two paragraphs, the
    gold long answer the second paragraph, the gold short answer "1820"."""
    words = ("<H1> Veldmoor </H1> <P> Veldmoor is a small town on the river Aln . </P> "
             "<P> It was founded in 1820 by Ada Corran . </P>").split(" ")
    p1, p2 = words.index("<P>"), len(words) - 1 - words[::-1].index("<P>")
    year = words.index("1820")
    candidates = [{"start_token": p1, "end_token": words.index("</P>") + 1, "top_level": True},
                  {"start_token": p2, "end_token": len(words), "top_level": True}]
    return {"example_id": example_id, "question_text": "when was veldmoor founded", "document_title": "Veldmoor",
            "document_url": "https://example.org/veldmoor", "document_text": " ".join(words),
            "long_answer_candidates": candidates,
            "annotations": [{"annotation_id": 1, "yes_no_answer": "NONE",
                             "long_answer": {"start_token": p2, "end_token": len(words), "candidate_index": 1},
                             "short_answers": [{"start_token": year, "end_token": year + 1}]}]}


def wait_until(predicate, timeout: float = 30.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
