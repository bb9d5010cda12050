"""The serve_nq page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, through selenium) on a live server. Each test saves a screenshot
(in $NQ_SCREENSHOT_DIR when set, else in the test's temporary folder)."""

import json
import os
import shutil
from pathlib import Path

import pytest

from serve_support import live_server, simplified_example

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1300,900"]

PARAGRAPH = ("Veldmoor is a small town on the river Aln, founded in 1820 by Ada Corran and her brother; "
             "its mill, built in 1840, still grinds flour for the bakers of the valley.")


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
    examples.write_text(json.dumps(simplified_example()) + "\n")
    with live_server(random_model_folder[0], f"--examples_file={examples}", "--log_level=warning") as s:
        yield s


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


def ask(driver, server, question: str, document: str, kind: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(server.url + "/")
    wait_for(driver, "#model-info")
    driver.find_element(By.ID, "question").send_keys(question)
    # set the textarea as a paste would (send_keys types slowly and auto-indents nothing, but is slow)
    driver.execute_script("document.getElementById('document').value = arguments[0];", document)
    Select(driver.find_element(By.ID, "kind")).select_by_value(kind)
    driver.find_element(By.ID, "ask").click()
    wait_for(driver, "#doc .w, #error[style*='block']")
    assert driver.find_element(By.ID, "error").text == ""


def shown_tokens(driver, css: str) -> list[int]:
    from selenium.webdriver.common.by import By

    return [int(w.get_attribute("data-token")) for w in driver.find_elements(By.CSS_SELECTOR, css)]


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
    panel = driver.find_element(By.ID, "answer").text
    assert answer["answer_type"] in panel and answer["yes_no_answer"] in panel
    assert f"{answer['long_answer_score']:.3f}" in panel and f"{answer['short_answers_score']:.3f}" in panel


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


def test_random_example_shows_the_gold_answers(driver, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server.url + "/")
    button = driver.find_element(By.ID, "random")
    WebDriverWait(driver, 60).until(lambda d: button.is_enabled())
    button.click()
    wait_for(driver, "#doc .w.gold-short")
    screenshot(driver, tmp_path, "serve_page_random_example")
    example = simplified_example()
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
    driver.get(server.url + "/")
    driver.find_element(By.ID, "question").send_keys("who founded veldmoor")
    driver.find_element(By.ID, "file").send_keys(str(path))
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "document").get_attribute("value"))
    assert Select(driver.find_element(By.ID, "kind")).first_selected_option.get_attribute("value") == "html"
    driver.find_element(By.ID, "ask").click()
    wait_for(driver, "#doc mark.long-answer")
    screenshot(driver, tmp_path, "serve_page_upload")
    assert driver.find_element(By.CSS_SELECTOR, "#doc mark.long-answer").text == PARAGRAPH


# ----------------------------------------------------------------------------- an oracle model in process


def oracle_run(word_pieces: tuple, mode: dict):
    """A forward pass whose logits point at the document's first occurrence of `word_pieces`
    (start at its first piece, end at its last) with answer type mode["type"]."""
    import numpy as np

    def run(inputs):
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
def oracle_server(random_model_folder):
    import socket
    import threading

    import uvicorn

    from nq_baseline import Reader
    from nq_baseline.serving.app import AnswerService, ServiceConfig, create_app
    from nq_baseline.serving.batcher import MicroBatcher
    from serve_support import LiveServer

    reader = Reader.load(str(random_model_folder[0]))
    service = AnswerService(reader, ServiceConfig())
    service.batcher.close()
    mode = {"type": 3}
    service.batcher = MicroBatcher(oracle_run(reader.tokenizer.word_ids(["1820"])[0], mode))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    from serve_support import wait_until

    assert wait_until(lambda: server.started, 60)
    yield LiveServer(f"http://127.0.0.1:{sock.getsockname()[1]}", None), mode
    server.should_exit = True
    thread.join(30)
    service.close()


def test_short_answer_marked_inside_the_long_answer_and_yes_no_shown(driver, oracle_server, tmp_path):
    from selenium.webdriver.common.by import By

    server, mode = oracle_server
    mode["type"] = 3  # SHORT
    status, api = server.post_json("/v1/answer", {"question": "when was veldmoor founded", "text": PARAGRAPH})
    assert status == 200 and api["answers"][0]["short_answers_text"] == ["1820"], api
    ask(driver, server, "when was veldmoor founded", PARAGRAPH, "text")
    screenshot(driver, tmp_path, "serve_page_short_answer")
    shorts = driver.find_elements(By.CSS_SELECTOR, "#doc mark.long-answer > mark.short-answer")
    assert [s.text for s in shorts] == ["1820"]
    assert driver.find_element(By.CSS_SELECTOR, "#doc mark.long-answer").text == PARAGRAPH
    assert "1820" in driver.find_element(By.ID, "answer").text

    mode["type"] = 1  # YES
    ask(driver, server, "was veldmoor founded in 1820", PARAGRAPH, "text")
    screenshot(driver, tmp_path, "serve_page_yes")
    badge = driver.find_element(By.CSS_SELECTOR, "#answer .badge")
    assert badge.text == "YES" and "yes" in badge.get_attribute("class").split()
    assert not driver.find_elements(By.CSS_SELECTOR, "#doc mark.short-answer")
