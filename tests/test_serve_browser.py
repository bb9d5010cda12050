"""The serve_nq page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, through selenium) on live servers bound to 127.0.0.1: serve_nq itself (a
random model, the real NQ examples as --examples_file) and, in process, a service whose
model points at a chosen word (the oracle). One browser and one of each server for the
module. Each test saves a screenshot (in $NQ_SCREENSHOT_DIR when set, else in the test's
temporary folder)."""

import contextlib
import dataclasses
import gzip
import http.client
import http.server
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import NQ_REAL
from serve_support import PAGE, live_server, simplified_example

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1300,900"]

PARAGRAPH = ("Veldmoor is a small town on the river Aln, founded in 1820 by Ada Corran and her brother; "
             "its mill, built in 1840, still grinds flour for the bakers of the valley.")
REAL_LINES = [line.rstrip("\n") for path in sorted(NQ_REAL.glob("*.jsonl.gz")) for line in gzip.open(path, "rt")]
REAL = {str(json.loads(line)["example_id"]): line for line in REAL_LINES}
WWE = "-8062182676792486818"  # 17,964 tokens, 40 table cells <Td_colspan="2">..., a JavaScript-rounded id
REQUEST_LIMIT = 2_000_000  # the services' --max_request_bytes (a real example fits)
PHONE, DESKTOPS = (390, 844), [(1366, 768), (1920, 1080)]


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} absent: apt-get install chromium chromium-driver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def server(random_model_folder, tmp_path_factory):
    examples = tmp_path_factory.mktemp("examples") / "dev.jsonl"
    examples.write_text(json.dumps(simplified_example()) + "\n" + "\n".join(REAL_LINES) + "\n")
    with live_server(random_model_folder[0], f"--examples_file={examples}", "--log_level=warning",
                     f"--max_request_bytes={REQUEST_LIMIT}") as s:
        yield s


@pytest.fixture(autouse=True)
def desktop(request):
    """Every test starts at desktop size (a test may emulate a phone)."""
    if "driver" in request.fixturenames:
        request.getfixturevalue("driver").execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def screenshot(driver, tmp_path, name: str) -> Path:
    folder = Path(os.environ.get("NQ_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 0
    return path


def wait_for(driver, css: str, timeout: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))


def wait_until(driver, script: str, timeout: float = 60):
    """Waits until the JavaScript expression `script` is true; returns its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(f"return {script};"))


def open_page(driver, url: str):
    driver.get(url)
    wait_until(driver, "document.body.dataset.ready === '1'", 30)


def text_of(driver, element_id: str) -> str:
    """An element's text, hidden parts too (a closed <details>)."""
    return driver.execute_script("return document.getElementById(arguments[0]).textContent;", element_id)


def paste(driver, element_id: str, value: str):
    """Sets a text box as a paste does (an input event, without typing it key by key)."""
    driver.execute_script("const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                          "e.dispatchEvent(new Event('input', {bubbles: true}));", element_id, value)


def wait_answered(driver, timeout: float = 120) -> str:
    """Waits for the request to end; its status line (answered in ... / cancelled) or the error."""
    return wait_until(driver, "(document.getElementById('status').textContent.startsWith('answered') || "
                      "document.getElementById('status').textContent === 'cancelled' || "
                      "getComputedStyle(document.getElementById('error')).display === 'block') && "
                      "(document.getElementById('status').textContent || document.getElementById('error').textContent)",
                      timeout)


def record_requests(driver):
    """From now on, the page's /v1/answer request bodies go to window.sent as well."""
    driver.execute_script("""
        window.sent = [];
        const real = window.fetch;
        window.fetch = function (url, options) {
          if (String(url).includes('/v1/answer')) window.sent.push(JSON.parse(options.body));
          return real.apply(this, arguments);
        };""")


def sent(driver) -> list:
    return driver.execute_script("return window.sent;")


def ask(driver, server, question: str, document: str, kind: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(driver, server.url + "/")
    paste(driver, "question", question)
    paste(driver, "document", document)
    Select(driver.find_element(By.ID, "kind")).select_by_value(kind)
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered"), driver.find_element(By.ID, "error").text


def shown_tokens(driver, css: str) -> list[int]:
    from selenium.webdriver.common.by import By

    return [int(w.get_attribute("data-token")) for w in driver.find_elements(By.CSS_SELECTOR, css)]


def headline(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "answer-text").text


# ----------------------------------------------------------------------------- the page over serve_nq


def test_page_highlights_the_answer_the_api_gives(driver, server, tmp_path):
    from selenium.webdriver.common.by import By

    question = "when was veldmoor founded"
    status, api = server.post_json("/v1/answer", {"question": question, "text": PARAGRAPH, "document_view": True})
    assert status == 200, api
    answer = api["answers"][0]
    assert answer["long_answer"]["start_token"] >= 0  # one paragraph: the long answer is always it
    ask(driver, server, question, PARAGRAPH, "text")
    screenshot(driver, tmp_path, "serve_page_answer")
    marks = driver.find_elements(By.CSS_SELECTOR, "#doc mark.long-answer")
    assert [m.text for m in marks] == [answer["long_answer_text"]] == [PARAGRAPH]
    start, end = answer["long_answer"]["start_token"], answer["long_answer"]["end_token"]
    words = [w[0] for b in api["document_view"]["blocks"] for w in b["words"]]
    assert shown_tokens(driver, "#doc mark.long-answer .w") == [t for t in words if start <= t < end]
    shorts = driver.find_elements(By.CSS_SELECTOR, "#doc mark.short-answer")
    assert [s.text for s in shorts] == answer["short_answers_text"]
    details = text_of(driver, "details")
    assert answer["answer_type"] in details and answer["yes_no_answer"] in details
    assert f"{answer['long_answer_score']:.3f}" in details and f"{answer['short_answers_score']:.3f}" in details


def test_markup_in_a_document_is_shown_as_text(driver, server, tmp_path):
    from selenium.webdriver.common.by import By

    page = ("<p>The gate opens at dawn &lt;script&gt;document.title='pwned'&lt;/script&gt; "
            "<img src=x onerror=\"document.title='pwned'\"> and closes at dusk.</p>")
    ask(driver, server, "when does the gate open", page, "html")
    screenshot(driver, tmp_path, "serve_page_escaped")
    doc = driver.find_element(By.ID, "doc")
    assert "<script>document.title='pwned'</script>" in doc.text
    assert not doc.find_elements(By.CSS_SELECTOR, "script, img")
    assert driver.title != "pwned"


def test_an_example_link_shows_its_gold_answers(driver, server, tmp_path):
    from selenium.webdriver.common.by import By

    example = simplified_example()
    open_page(driver, f"{server.url}/?example=4242&q=when+was+veldmoor+founded")
    wait_for(driver, "#doc .w.gold-short")
    screenshot(driver, tmp_path, "serve_page_example_link")
    gold = example["annotations"][0]
    words = example["document_text"].split(" ")
    long_words = [i for i in range(gold["long_answer"]["start_token"], gold["long_answer"]["end_token"])
                  if not words[i].startswith("<")]
    assert shown_tokens(driver, "#doc .w.gold-long") == long_words
    assert [w.text for w in driver.find_elements(By.CSS_SELECTOR, "#doc .w.gold-short")] == ["1820"]
    assert driver.find_element(By.ID, "question").get_attribute("value") == example["question_text"]
    assert "short: 1820" in driver.find_element(By.ID, "gold").text
    assert driver.find_elements(By.CSS_SELECTOR, "#doc mark.long-answer")


def test_an_uploaded_file(driver, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path = tmp_path / "veldmoor.html"
    path.write_text(f"<html><body><p>{PARAGRAPH}</p></body></html>", encoding="utf-8")
    open_page(driver, server.url + "/")
    paste(driver, "question", "who founded veldmoor")
    driver.find_element(By.ID, "file").send_keys(str(path))
    wait_until(driver, "document.getElementById('document').value.includes('Veldmoor is')", 30)
    assert Select(driver.find_element(By.ID, "kind")).first_selected_option.get_attribute("value") == "html"
    driver.find_element(By.ID, "ask").click()
    wait_for(driver, "#doc mark.long-answer")
    screenshot(driver, tmp_path, "serve_page_upload")
    assert driver.find_element(By.CSS_SELECTOR, "#doc mark.long-answer").text == PARAGRAPH


def test_example_ids_are_the_files(driver, server, tmp_path):
    """-8062182676792486818 used to be shown as -8062182676792487000 (a JSON number)."""
    from selenium.webdriver.common.by import By

    open_page(driver, f"{server.url}/?example={WWE}&q=who+won")
    assert wait_answered(driver).startswith("answered")
    screenshot(driver, tmp_path, "serve_page_real_example")
    assert driver.execute_script("return document.querySelector('#details dd:last-of-type').textContent;") == WWE
    assert driver.find_element(By.ID, "source").text.startswith(f"example {WWE}: List of WWE champions")
    driver.find_element(By.ID, "random").click()
    assert wait_answered(driver).startswith("answered")
    source = driver.find_element(By.ID, "source").text  # still there once answered
    shown = source.split(":")[0].removeprefix("example ")
    assert shown in set(REAL) | {"4242"}
    assert text_of(driver, "details").endswith(shown)


def test_simplified_table_cells_are_not_shown_as_words(driver, server):
    """`<Td_colspan="2">` was read as words: `<Td_colspan="2">` on the page and in the model's input."""
    from selenium.webdriver.common.by import By

    open_page(driver, f"{server.url}/?example={WWE}&q=who+won")
    assert wait_answered(driver).startswith("answered")
    doc = driver.find_element(By.ID, "doc").get_attribute("textContent")
    assert "colspan" not in doc and "List of WWE champions" in doc
    assert len(driver.find_elements(By.CSS_SELECTOR, "#doc .blk.tag-td")) > 100


def test_real_examples_fit_a_phone_and_desktops(driver, server, tmp_path):
    """At 390 px a real page (long URLs in it) made the layout 425 px wide."""
    for example_id in REAL:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True})
        open_page(driver, f"{server.url}/?example={example_id}&q=what+is+it")
        assert wait_answered(driver).startswith("answered")
        widths = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth];")
        assert widths[0] == PHONE[0] and widths[1] <= PHONE[0], (example_id, widths)
        if example_id == WWE:
            screenshot(driver, tmp_path, "serve_page_phone")
        for width, height in DESKTOPS:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            assert driver.execute_script("const e = document.documentElement; return e.scrollWidth <= e.clientWidth "
                                         "&& e.clientWidth <= arguments[0];", width), (example_id, width)


def test_a_cut_example_is_sent_whole_and_edited_whole(driver, server, tmp_path):
    """A random example shown cut to 20,000 characters used to be sent cut (invalid JSON) once edited."""
    from selenium.webdriver.common.by import By

    open_page(driver, f"{server.url}/?example={WWE}")
    box = driver.find_element(By.ID, "document")
    assert len(box.get_attribute("value")) == 20000 and box.get_attribute("readonly") is not None
    assert "the whole example is sent" in driver.find_element(By.ID, "cut-view").text
    box.send_keys(" edited")
    assert len(box.get_attribute("value")) == 20000
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered")
    driver.find_element(By.ID, "edit-whole").click()
    assert box.get_attribute("value") == REAL[WWE] and box.get_attribute("readonly") is None
    edited = json.loads(REAL[WWE])
    edited["question_text"] = "who held the title longest"
    paste(driver, "document", json.dumps(edited))
    record_requests(driver)
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered"), driver.find_element(By.ID, "error").text
    screenshot(driver, tmp_path, "serve_page_edited_example")
    assert json.loads(sent(driver)[0]["nq_example"]) == edited
    assert "an edited example" in driver.find_element(By.ID, "source").text


def test_the_answer_panel_is_announced_and_the_document_is_not(driver, server):
    """The document area was aria-live: a screen reader would read ~63,000 characters."""
    from selenium.webdriver.common.by import By

    open_page(driver, f"{server.url}/?example={WWE}&q=who+won")
    assert wait_answered(driver).startswith("answered")
    doc = driver.find_element(By.ID, "doc")
    assert doc.get_attribute("aria-live") is None and len(doc.get_attribute("textContent")) > 50000
    live = driver.find_elements(By.CSS_SELECTOR, "[aria-live]")
    assert [e.get_attribute("id") for e in live] == ["summary"]
    assert live[0].find_element(By.ID, "answer-text").text and len(live[0].text) < 600


def test_a_latin1_file_is_refused_with_a_way_to_read_it(driver, server, tmp_path):
    """The browser used to replace the bytes: "Caf\ufffd", with no warning."""
    from selenium.webdriver.common.by import By

    path = tmp_path / "cafe.txt"
    path.write_bytes("The Café Aln opened in 1820.\n".encode("latin-1"))
    open_page(driver, server.url + "/")
    before = driver.find_element(By.ID, "document").get_attribute("value")
    driver.find_element(By.ID, "file").send_keys(str(path))
    wait_for(driver, "#read-latin1")
    error = driver.find_element(By.ID, "error").text
    assert "cafe.txt is not UTF-8 text (byte 7 " in error
    assert driver.find_element(By.ID, "document").get_attribute("value") == before
    driver.find_element(By.ID, "read-latin1").click()
    assert driver.find_element(By.ID, "document").get_attribute("value") == "The Café Aln opened in 1820.\n"
    assert "Windows-1252" in driver.find_element(By.ID, "source").text
    assert not driver.find_element(By.ID, "error").is_displayed()


def test_the_first_load_has_an_example_ready(driver, server):
    from selenium.webdriver.common.by import By

    open_page(driver, server.url + "/")
    assert driver.switch_to.active_element.get_attribute("id") == "question"
    assert driver.find_element(By.ID, "question").get_attribute("value")
    assert driver.find_element(By.ID, "source").text.startswith("example ")
    assert "detected: an NQ example" in driver.find_element(By.ID, "detected").text


# ----------------------------------------------------------------------------- an oracle model in process


def oracle_run(word_pieces: tuple, mode: dict):
    """A forward pass whose logits point at the document's first occurrence of `word_pieces`
    (start at its first piece, end at its last) with answer type mode["type"], after
    mode["delay"] seconds."""
    import numpy as np

    def run(inputs):
        time.sleep(mode.get("delay", 0))
        ids, segments = inputs["input_ids"], inputs["segment_ids"]
        n, seq = ids.shape
        start, end = np.zeros((n, seq), np.float32), np.zeros((n, seq), np.float32)
        types = np.zeros((n, 5), np.float32)
        types[:, mode["type"]] = 5.0
        k = len(word_pieces)
        for row in range(n):
            for pos in range(seq - k + 1):
                if segments[row, pos] == 1 and tuple(ids[row, pos:pos + k]) == word_pieces:
                    start[row, pos], end[row, pos + k - 1] = 10.0, 10.0
                    break
        return {"start_logits": start, "end_logits": end, "answer_type_logits": types}

    return run


@pytest.fixture(scope="module")
def oracle(random_model_folder):
    """(server, mode, service): a service answering "1820" wherever the document has it, with
    answer type mode["type"] (SHORT) after mode["delay"] seconds; no --examples_file."""
    import socket

    import uvicorn

    from nq_baseline import Reader
    from nq_baseline.serving.app import AnswerService, ServiceConfig, create_app
    from nq_baseline.serving.batcher import MicroBatcher
    from serve_support import LiveServer, wait_until as wait

    reader = Reader.load(str(random_model_folder[0]))
    service = AnswerService(reader, ServiceConfig(max_request_bytes=REQUEST_LIMIT))
    service.batcher.close()
    mode = {"type": 3}
    service.batcher = MicroBatcher(oracle_run(reader.tokenizer.word_ids(["1820"])[0], mode))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    app_server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning"))
    thread = threading.Thread(target=app_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    assert wait(lambda: app_server.started, 60)
    yield LiveServer(f"http://127.0.0.1:{sock.getsockname()[1]}", None), mode, service
    app_server.should_exit = True
    thread.join(30)
    service.close()


@pytest.fixture
def oracle_mode(oracle):
    """The oracle's mode, back to SHORT and no delay after the test."""
    server, mode, service = oracle
    yield server, mode, service
    mode.clear()
    mode["type"] = 3


class _Forward(http.server.BaseHTTPRequestHandler):
    """Passes every request on to server.target: a server that can be taken down."""

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        conn = http.client.HTTPConnection(*self.server.target, timeout=60)
        conn.request(self.command, self.path, body or None, {"Content-Type": self.headers.get("Content-Type", "")})
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def forwarding(target):
    """A server on 127.0.0.1 passing requests on to `target`: (its URL, a function taking it down)."""
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forward)
    proxy.target = target.host_port
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()

    def take_down():
        proxy.shutdown()
        proxy.server_close()

    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", take_down
    finally:
        if thread.is_alive():
            take_down()


def test_short_answer_marked_inside_the_long_answer_and_yes_no_shown(driver, oracle_mode, tmp_path):
    from selenium.webdriver.common.by import By

    server, mode, _ = oracle_mode
    status, api = server.post_json("/v1/answer", {"question": "when was veldmoor founded", "text": PARAGRAPH})
    assert status == 200 and api["answers"][0]["short_answers_text"] == ["1820"], api
    ask(driver, server, "when was veldmoor founded", PARAGRAPH, "text")
    screenshot(driver, tmp_path, "serve_page_short_answer")
    shorts = driver.find_elements(By.CSS_SELECTOR, "#doc mark.long-answer > mark.short-answer")
    assert [s.text for s in shorts] == ["1820"]
    assert driver.find_element(By.CSS_SELECTOR, "#doc mark.long-answer").text == PARAGRAPH
    assert headline(driver) == "1820"

    mode["type"] = 1  # YES
    ask(driver, server, "was veldmoor founded in 1820", PARAGRAPH, "text")
    screenshot(driver, tmp_path, "serve_page_yes")
    assert headline(driver) == "Yes"
    badge = driver.find_element(By.CSS_SELECTOR, "#answer .badge")
    assert badge.get_attribute("textContent") == "YES" and "yes" in badge.get_attribute("class").split()
    assert not driver.find_elements(By.CSS_SELECTOR, "#doc mark.short-answer")


def test_the_answer_comes_first_with_its_confidence_and_the_top_answers(driver, oracle_mode, tmp_path):
    from selenium.webdriver.common.by import By

    server, _, _ = oracle_mode
    _, api = server.post_json("/v1/answer", {"question": "when was veldmoor founded", "text": PARAGRAPH})
    answer = api["answers"][0]
    ask(driver, server, "when was veldmoor founded", PARAGRAPH, "text")
    screenshot(driver, tmp_path, "serve_page_top_answers")
    assert headline(driver) == "1820"
    shown = driver.find_element(By.ID, "confidence").text
    assert shown.startswith(f"{answer['confidence'] * 100:.0f}% confidence") and answer["confidence"] > 0.5
    items = driver.find_elements(By.CSS_SELECTOR, "#top-answers li")
    assert len(items) == len(answer["top_answers"]) == 5
    first = answer["top_answers"][0]
    assert items[0].find_element(By.TAG_NAME, "mark").text == first["text"] == "1820"
    assert items[0].text.startswith("…" + first["context_before"]) and first["context_after"] in items[0].text


def test_a_document_without_paragraphs_says_so(driver, oracle_mode, tmp_path):
    """A sentence with one inline tag was sent as HTML: no paragraph, scores -10000, no word of why."""
    from selenium.webdriver.common.by import By

    server, _, _ = oracle_mode
    open_page(driver, server.url + "/")
    record_requests(driver)
    paste(driver, "question", "when did it open")
    paste(driver, "document", "The <b>Aln</b> mill opened in 1820 and still grinds flour.")
    assert "plain text" in driver.find_element(By.ID, "detected").text
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered")
    assert "text" in sent(driver)[-1] and headline(driver) == "1820"
    note = driver.find_element(By.ID, "format-note").text
    assert note.startswith("Read as plain text (its tags make no paragraph)")
    driver.find_element(By.ID, "switch-format").click()
    assert wait_answered(driver).startswith("answered")
    screenshot(driver, tmp_path, "serve_page_no_paragraph")
    assert "html" in sent(driver)[-1]
    assert headline(driver) == "No answer found"
    assert "has no paragraph, list or table to answer from (read as HTML)" in driver.find_element(By.ID, "why").text
    assert "-10000" not in driver.find_element(By.TAG_NAME, "aside").get_attribute("textContent")
    assert not driver.find_element(By.ID, "confidence").text


@pytest.mark.parametrize("document,field,why", [
    ("{Aln} The mill opened in 1820.", "text", "it starts like JSON but is no NQ example"),
    ('{"example_id": 1, "question_text": "q"} The mill opened in 1820.', "text", "it starts like JSON"),
    (REAL["5655493461695504401"], "nq_example", "it parses as an NQ example"),
    ("<div><p>The mill opened in 1820.</p></div>", "html", "it has paragraph, list or table tags"),
])
def test_the_format_is_detected_from_the_whole_input(driver, oracle_mode, document, field, why):
    """Plain text starting with `{` was sent as an NQ example and failed as invalid JSON."""
    from selenium.webdriver.common.by import By

    server, _, _ = oracle_mode
    open_page(driver, server.url + "/")
    record_requests(driver)
    paste(driver, "question", "when did the mill open")
    paste(driver, "document", document)
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered"), driver.find_element(By.ID, "error").text
    assert set(sent(driver)[0]) == {"question", field, "document_view"}
    assert why in driver.find_element(By.ID, "format-note").text


def test_an_error_clears_the_previous_answer(driver, oracle_mode, tmp_path):
    """The previous answer and highlighted document used to stay under a new error."""
    from selenium.webdriver.common.by import By

    server, _, _ = oracle_mode

    def assert_cleared():
        assert not driver.find_elements(By.CSS_SELECTOR, "#doc .w, #top-answers, #details, #gold-match")
        assert headline(driver) == "Ask a question to see the answer here."

    ask(driver, server, "when was veldmoor founded", PARAGRAPH, "text")
    assert driver.find_elements(By.CSS_SELECTOR, "#doc mark.long-answer")
    paste(driver, "question", "  ")
    driver.find_element(By.ID, "ask").click()
    assert driver.find_element(By.ID, "error").text == "Type a question first."
    assert_cleared()

    paste(driver, "question", "when was veldmoor founded")
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered")
    paste(driver, "document", "x" * (REQUEST_LIMIT + 10))
    driver.find_element(By.ID, "ask").click()
    assert "more than the service takes (--max_request_bytes 2,000,000)" in driver.find_element(By.ID, "error").text
    assert_cleared()

    with forwarding(server) as (url, take_down):
        ask(driver, dataclasses.replace(server, url=url), "when was veldmoor founded", PARAGRAPH, "text")
        assert headline(driver) == "1820"
        take_down()
        driver.find_element(By.ID, "ask").click()
        error = wait_answered(driver)
    screenshot(driver, tmp_path, "serve_page_server_down")
    assert error.startswith(f"Could not reach the answer service at {url}: is serve_nq still running?")
    assert_cleared()


def test_one_request_at_a_time_focus_kept_and_a_request_can_be_cancelled(driver, oracle_mode, tmp_path):
    """Enter pressed 3 times while a request was out sent 3; focus fell to the body after answering."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    server, mode, _ = oracle_mode
    open_page(driver, server.url + "/")
    assert driver.switch_to.active_element.get_attribute("id") == "question"
    record_requests(driver)
    mode["delay"] = 1.0
    question = driver.find_element(By.ID, "question")
    question.send_keys(Keys.ENTER, Keys.ENTER, Keys.ENTER)
    assert wait_answered(driver).startswith("answered")
    assert len(sent(driver)) == 1
    assert driver.switch_to.active_element.get_attribute("id") == "question"

    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered")
    assert driver.switch_to.active_element.get_attribute("id") == "ask"
    assert len(sent(driver)) == 2

    driver.find_element(By.ID, "document").send_keys(Keys.CONTROL, Keys.ENTER)
    wait_until(driver, "window.sent.length === 3", 10)
    assert wait_answered(driver).startswith("answered")

    mode["delay"] = 5.0
    driver.find_element(By.ID, "ask").click()
    cancel = driver.find_element(By.ID, "cancel")
    wait_until(driver, "!document.getElementById('cancel').hidden", 10)
    screenshot(driver, tmp_path, "serve_page_pending")
    assert driver.find_element(By.CSS_SELECTOR, "#actions.busy .spinner").is_displayed()
    cancel.click()
    assert wait_answered(driver, 3) == "cancelled"
    assert not driver.find_element(By.ID, "error").is_displayed() and not cancel.is_displayed()
    assert headline(driver) == "Ask a question to see the answer here."


def test_the_status_line_keeps_what_is_read(driver, oracle_mode):
    """"example ...: title" used to be overwritten at once by the progress of the answer."""
    from selenium.webdriver.common.by import By

    server, _, _ = oracle_mode
    open_page(driver, server.url + "/")
    assert driver.find_element(By.ID, "source").text == "the sample page (built in)"
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered in ")
    assert driver.find_element(By.ID, "source").text == "the sample page (built in)"


def test_the_sample_page_and_a_shared_link(driver, oracle_mode, tmp_path):
    """Without --examples_file the page opens on a built-in page and question; the question
    goes into the URL, and the link answers it again."""
    from selenium.webdriver.common.by import By

    server, _, _ = oracle_mode
    open_page(driver, server.url + "/")
    assert driver.find_element(By.ID, "question").get_attribute("value") == "when was veldmoor founded"
    assert "<p>" in driver.find_element(By.ID, "document").get_attribute("value")
    assert "detected: HTML" in driver.find_element(By.ID, "detected").text
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered") and headline(driver) == "1820"
    link = driver.find_element(By.ID, "share-link").get_attribute("href")
    assert link == driver.current_url == f"{server.url}/?q=when+was+veldmoor+founded&doc=sample"
    open_page(driver, link)
    assert wait_answered(driver).startswith("answered") and headline(driver) == "1820"

    paste(driver, "question", "who founded it")
    paste(driver, "document", PARAGRAPH)
    driver.find_element(By.ID, "ask").click()
    assert wait_answered(driver).startswith("answered")
    assert driver.current_url == f"{server.url}/?q=who+founded+it"
    assert "a pasted document is too large for a link" in text_of(driver, "share-note")
    open_page(driver, driver.current_url)
    assert driver.find_element(By.ID, "question").get_attribute("value") == "who founded it"


def test_the_api_snippet_is_the_same_request(driver, oracle_mode):
    import shlex

    server, _, _ = oracle_mode
    ask(driver, server, "when was veldmoor founded", PARAGRAPH, "text")
    words = shlex.split(text_of(driver, "curl").replace("\\\n", " "))
    assert words[:3] == ["curl", "-s", f"{server.url}/v1/answer"] and words[-2] == "-d"
    status, api = server.post_json("/v1/answer", json.loads(words[-1]))
    assert status == 200 and api["answers"][0]["short_answers_text"] == [headline(driver)]


def test_gold_answers_are_compared(driver, oracle_mode, tmp_path):
    from selenium.webdriver.common.by import By

    from nq_baseline.serving.view import Example

    server, mode, service = oracle_mode
    example = simplified_example()
    service.examples = [Example(4242, example["question_text"], "Veldmoor", json.dumps(example), True)]
    service.examples_by_id = {"4242": service.examples[0]}
    try:
        open_page(driver, f"{server.url}/?example=4242&q=when+was+veldmoor+founded")
        assert wait_answered(driver).startswith("answered") and headline(driver) == "1820"
        screenshot(driver, tmp_path, "serve_page_gold")
        assert driver.find_element(By.ID, "gold-match").text == \
            "Long answer: matches the gold; short answer: matches the gold."
        mode["type"] = 1  # YES: the gold says 1820
        driver.find_element(By.ID, "ask").click()
        assert wait_answered(driver).startswith("answered") and headline(driver) == "Yes"
        assert driver.find_element(By.ID, "gold-match").text == \
            "Long answer: matches the gold; short answer: differs from the gold."
    finally:
        service.examples, service.examples_by_id = [], {}


def test_an_html_title_is_shown_once(driver, oracle_mode, tmp_path):
    """A page's <title> appeared three times: a heading, an extra paragraph and the <h1>."""
    from selenium.webdriver.common.by import By

    server, _, _ = oracle_mode
    ask(driver, server, "when was veldmoor founded", PAGE, "html")
    screenshot(driver, tmp_path, "serve_page_title")
    blocks = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#doc .blk") if b.is_displayed()]
    assert blocks[0] == "Veldmoor" and blocks.count("Veldmoor") == 1
    assert driver.find_element(By.CSS_SELECTOR, "#doc .blk").get_attribute("class") == "blk tag-title"


def test_a_late_paragraph_is_read_and_a_cut_document_says_so(driver, oracle_mode, tmp_path):
    """A question about paragraph 100 of 150 is answered from it; a reader cut at 50
    paragraphs (serve_nq --max_paragraphs=50) says it did not read the rest."""
    from selenium.webdriver.common.by import By

    server, _, service = oracle_mode
    paragraphs = [f"Paragraph {i} is about the hamlet number {i} of the valley." for i in range(150)]
    paragraphs[100] = "The hamlet of Orrin was founded in 1820 by the millers of the valley."
    text = "\n\n".join(paragraphs)
    ask(driver, server, "when was orrin founded", text, "text")
    assert headline(driver) == "1820"
    assert driver.find_element(By.CSS_SELECTOR, "#doc mark.long-answer").text == paragraphs[100]
    assert not driver.find_elements(By.ID, "cut-note")
    features = service.reader.features
    service.reader.features = dataclasses.replace(features, max_contexts=51)  # what --max_paragraphs=50 sets
    try:
        ask(driver, server, "when was orrin founded", text, "text")
    finally:
        service.reader.features = features
    screenshot(driver, tmp_path, "serve_page_cut")
    assert driver.find_element(By.ID, "cut-note").text.startswith(
        "Only the first 50 of the document's 150 paragraphs were read (serve_nq --max_paragraphs)")
    assert not driver.find_elements(By.CSS_SELECTOR, "#doc mark.long-answer") or \
        driver.find_element(By.CSS_SELECTOR, "#doc mark.long-answer").text != paragraphs[100]
