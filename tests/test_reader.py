"""The Reader (one model loaded once, answers over NQ examples, HTML and text) and answer_nq."""

import json
import re

import pytest

from conftest import KNOWN_ANSWER, NQ_REAL, run_module
from nq_baseline import Reader
from nq_baseline.common.errors import NqInputError
from nq_baseline.reading.nq_data import read_documents

PAGE = """<!DOCTYPE html><html><head><title>Veldmoor - a town</title></head><body>
<h1>Veldmoor</h1>
<p>Veldmoor is a small town on the river Aln. It was founded in 1820 by Ada Corran &amp; her brother.</p>
<table><tr><th>Mayor</th><td>Ilse Varn</td></tr><tr><th>Population</th><td>13,000</td></tr></table>
<ul><li>The old mill, built in 1840.</li><li>St. Brann&#39;s church.</li></ul>
</body></html>"""

TEXT = """Veldmoor is a small town on the river Aln.

It was founded in 1820 by Ada Corran, whose statue stands in the square.
\t
Its mayor is Ilse Varn; about 13,000 people live there."""


@pytest.fixture(scope="module")
def reader(random_model_folder):
    return Reader.load(str(random_model_folder[0]), batch_size=4)


def test_the_known_answer_from_every_kind_of_document_and_from_run_nq(known_answer_folder, tmp_path):
    """The known-answer model (conftest) answers "1820": the Reader over HTML, text and an NQ
    example in both formats (its JSON object and its line), and run_nq --do_predict over the
    NQ file, with the token offsets of that word and the paragraph holding it."""
    from nq_baseline.reading.nq_writer import GoldAnswer, Text, nq_examples

    known = Reader.load(str(known_answer_folder))
    for document, kind in ((PAGE, "html"), (TEXT, "text")):
        answer = known.answer("when was veldmoor founded", document, kind)
        assert answer.short_answers_text == [KNOWN_ANSWER] and answer.answer_type == "SHORT", kind
        assert KNOWN_ANSWER in answer.long_answer.text and answer.long_answer.text.startswith(
            "Veldmoor is" if kind == "html" else "It was founded")
    blocks = [("p", Text("Veldmoor is a small town on the river Aln.")),
              ("p", Text("It was founded in 1820 by Ada Corran, whose statue stands in the square.")),
              ("p", Text("Its mayor is Ilse Varn."))]
    original, simplified = nq_examples(-8062182676792486818, "when was veldmoor founded", "Veldmoor", blocks,
                                       [GoldAnswer(block=1, span=(4, 5))])
    word = [t["token"] for t in original["document_tokens"]].index(KNOWN_ANSWER)
    expected = {"start_token": word, "end_token": word + 1}
    for example in (original, simplified, json.dumps(original)):
        answer = known.answer(original["question_text"], example, "nq")
        short = answer.prediction["short_answers"][0]
        assert (short["start_token"], short["end_token"]) == (word, word + 1), type(example)
        assert answer.example_id == -8062182676792486818 and answer.long_answer_index == 1
    predict_file = tmp_path / "dev.jsonl"
    predict_file.write_text(json.dumps(original) + "\n" + json.dumps(dict(simplified, example_id=5)) + "\n")
    out = tmp_path / "p.json"
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={known_answer_folder}",
                      f"--predict_file={predict_file}", f"--output_prediction_file={out}")
    assert proc.returncode == 0, proc.stderr
    predictions = json.loads(out.read_text())["predictions"]
    assert [p["example_id"] for p in predictions] == [-8062182676792486818, 5]
    for p in predictions:
        assert {k: p["short_answers"][0][k] for k in expected} == expected
        assert (p["long_answer"]["start_token"], p["long_answer"]["end_token"]) == (
            original["long_answer_candidates"][1]["start_token"], original["long_answer_candidates"][1]["end_token"])


def test_lexical_weight_answers_equal_run_nq_and_move_long_answers(random_model_folder, reader, tmp_path):
    """--lexical_weight reaches the same post-processing through run_nq (streamed heads with
    their overlap) and the Reader (overlap with the asked question), and it changes answers."""
    from nq_baseline.prediction.postprocess import PostprocessConfig

    folder, _ = random_model_folder
    predict_file = str(NQ_REAL / "*.jsonl.gz")
    out = tmp_path / "p.json"
    proc = run_module("nq_baseline.run_nq", "--do_predict", f"--output_dir={folder}", f"--predict_file={predict_file}",
                      f"--output_prediction_file={out}", "--lexical_weight=0.5")
    assert proc.returncode == 0, proc.stderr
    expected = json.loads(out.read_text())["predictions"]
    weighted = Reader.load(str(folder), batch_size=4, postprocess={"lexical_weight": 0.5})  # over the default
    assert weighted.postprocess == PostprocessConfig(lexical_weight=0.5)
    docs = list(read_documents(predict_file))
    assert [weighted.answer(d.question_text, d).prediction for d in docs] == expected
    plain = [reader.answer(d.question_text, d).prediction for d in docs]
    assert [p["long_answer"] for p in plain] != [p["long_answer"] for p in expected]


def test_answer_many_equals_one_by_one_and_tokenizes_once(reader, monkeypatch):
    questions = ["when was veldmoor founded", "who is the mayor of veldmoor", "how many people live there",
                 "what river", "is it a town"]
    one_by_one = [reader.answer(q, PAGE).to_json() for q in questions]
    calls = []
    original = reader.tokenize
    monkeypatch.setattr(reader, "tokenize", lambda *a, **k: calls.append(1) or original(*a, **k))
    many = reader.answer_many(questions, PAGE)
    assert [a.to_json() for a in many] == one_by_one
    assert len(calls) == 1


def _oracle(reader, question, document, first_word, last_word, answer_type=3):
    """The Reader's answer when the model's logits point at the NQ tokens `first_word` ..
    `last_word` (their text): tests the mapping back to tokens, bytes, characters and text."""
    import numpy as np

    enc = reader.encode([question], document)
    doc = enc.document.doc
    words = [i for i, (t, h) in enumerate(zip(doc.tokens, doc.is_html)) if not h]
    start = next(i for i in words if doc.tokens[i] == first_word)
    end = next(i for i in words if i >= start and doc.tokens[i] == last_word)
    token_map = enc.windows["token_map"]
    n, seq = token_map.shape
    outputs = {"start_logits": np.zeros((n, seq), np.float32), "end_logits": np.zeros((n, seq), np.float32),
               "answer_type_logits": np.zeros((n, 5), np.float32)}
    outputs["answer_type_logits"][:, answer_type] = 5.0
    row = next(r for r in range(n) if start in token_map[r] and end in token_map[r])
    outputs["start_logits"][row, np.argmax(token_map[row] == start)] = 10.0
    outputs["end_logits"][row, seq - 1 - np.argmax(token_map[row][::-1] == end)] = 10.0
    return reader.decode(enc, outputs)[0], (start, end + 1)


def test_html_answers_point_into_the_page(reader):
    source = PAGE.encode("utf-8")
    for first, last, expected in (("1820", "1820", "1820"), ("Ada", "brother", "Ada Corran & her brother"),
                                  ("Ilse", "Varn", "Ilse Varn"), ("13,000", "13,000", "13,000"),
                                  ("St.", "church", "St. Brann's church")):
        a, (start, end) = _oracle(reader, "q", PAGE, first, last)
        assert [(s.start_token, s.end_token) for s in a.short_answers] == [(start, end)]
        short = a.short_answers[0]
        assert short.text == expected
        assert source[short.start_byte:short.end_byte].decode() == PAGE[short.start_char:short.end_char]
        assert PAGE[short.start_char:short.end_char].replace("&amp;", "&").replace("&#39;", "'") == expected
        cand = reader.tokenize(PAGE).doc.candidates[a.long_answer_index]
        assert cand.top_level and (a.long_answer.start_token, a.long_answer.end_token) == (cand.start_token,
                                                                                          cand.end_token)
        assert (a.long_answer.start_byte, a.long_answer.end_byte) == (cand.start_byte, cand.end_byte)
        element = PAGE[a.long_answer.start_char:a.long_answer.end_char]
        assert element[:3].lower() in ("<p>", "<ta", "<ul") and expected.split()[0] in a.long_answer.text
        assert "<" not in a.long_answer.text
    yes, _ = _oracle(reader, "q", PAGE, "1820", "1820", answer_type=1)
    assert yes.yes_no_answer == "YES" and yes.short_answers == () and yes.long_answer is not None
    assert yes.answer_type == "YES" and yes.answer_type_probabilities["YES"] > 0.5


def test_text_answers_point_into_the_text(reader):
    prepared = reader.tokenize(TEXT)
    assert prepared.kind == "text" and len(prepared.doc.candidates) == 3
    for first, last, expected, paragraph in (("Ada", "Corran", "Ada Corran", 1), ("13", "000", "13,000", 2),
                                             ("river", "Aln", "river Aln", 0)):
        a, _ = _oracle(reader, "q", TEXT, first, last)
        short = a.short_answers[0]
        assert TEXT[short.start_char:short.end_char] == expected == short.text
        assert a.long_answer_index == paragraph
        paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", TEXT)]
        assert TEXT[a.long_answer.start_char:a.long_answer.end_char] == paragraphs[paragraph]


def test_head_rule_needs_a_model_with_the_head(random_model_folder):
    from nq_baseline.prediction.postprocess import PostprocessConfig

    with pytest.raises(ValueError, match="needs a model trained with --long_answer_head"):
        Reader.load(str(random_model_folder[0]), postprocess=PostprocessConfig(long_answer_from="head"))


def test_bad_input(reader):
    with pytest.raises(NqInputError, match="question: is empty"):
        reader.answer("  ", PAGE)
    with pytest.raises(NqInputError, match="not UTF-8"):
        reader.answer("q", b"<p>caf\xe9</p>", kind="html")
    small = Reader(reader.model, reader.tokenizer, reader.features, reader.postprocess, max_document_bytes=100)
    with pytest.raises(NqInputError, match="100"):
        small.answer("q", PAGE)
    # no candidate at all: a null answer, never a crash
    empty = reader.answer("what is it", "<html><body><h1>Title only</h1></body></html>")
    assert empty.long_answer is None and empty.short_answers == () and empty.long_answer_index == -1
    # a question longer than max_query_length is cut as in training (its last pieces kept), and said so
    long_q = " ".join(["founded"] * 200) + " veldmoor"
    a = reader.answer(long_q, PAGE)
    assert a.question_truncated and not reader.answer("when founded", PAGE).question_truncated
    enc = reader.encode([long_q], PAGE)
    query_len = reader.features.max_query_length
    full = [reader.tokenizer.vocab["[Q]"]] + reader.tokenizer.tokenize_text(long_q)
    ids = enc.windows["input_ids"][0]
    assert len(full) > query_len and list(ids[1:query_len + 1]) == full[-query_len:]
    assert ids[query_len + 1] == reader.tokenizer.sep_id


def test_answer_nq_cli(random_model_folder, tmp_path):
    folder, _ = random_model_folder
    html = tmp_path / "page.html"
    html.write_text(PAGE)
    text = tmp_path / "notes.txt"
    text.write_text(TEXT)
    proc = run_module("nq_baseline.answer_nq", f"--model_dir={folder}", "--question=who is the mayor",
                      f"--html_file={html}")
    assert proc.returncode == 0, proc.stderr
    assert "long answer" in proc.stdout and "short answer:" in proc.stdout and "answer type:" in proc.stdout
    proc = run_module("nq_baseline.answer_nq", f"--model_dir={folder}", "--question=who founded it",
                      f"--text_file={text}", "--json", "--lexical_weight=0.5")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("long_answer", "long_answer_score", "short_answers", "short_answers_score", "yes_no_answer",
                "long_answer_text", "short_answers_text", "answer_type_probabilities"):
        assert key in out
    assert "example_id" not in out and abs(sum(out["answer_type_probabilities"].values()) - 1) < 1e-5
    docs = list(read_documents(str(NQ_REAL / "nq-simplified-4.jsonl.gz")))
    proc = run_module("nq_baseline.answer_nq", f"--model_dir={folder}", f"--nq_file={NQ_REAL / 'nq-simplified-4.jsonl.gz'}",
                      f"--example_id={docs[2].example_id}", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["example_id"] == str(docs[2].example_id) and out["question"] == docs[2].question_text
    bad_nq = tmp_path / "bad.jsonl"
    bad_nq.write_text("{not json\n")
    for args, named in ((["--question=q"], "exactly one of"), ([f"--html_file={html}", f"--text_file={text}", "--question=q"],
                                                               "exactly one of"),
                        ([f"--html_file={html}", "--question= "], "--question"),
                        ([f"--html_file={tmp_path / 'missing.html'}", "--question=q"], "missing.html"),
                        ([f"--text_file={text}", "--question=q", "--doc_stride=0"], "--doc_stride"),
                        ([f"--text_file={text}", "--question=q", "--lexical_weight=-1"], "--lexical_weight"),
                        ([f"--text_file={text}", "--question=q", "--lexical_weight=inf"],
                         "--lexical_weight must be a finite number >= 0, got inf"),
                        ([f"--nq_file={tmp_path / 'missing.jsonl'}"], "missing.jsonl"),
                        ([f"--nq_file={bad_nq}"], "bad.jsonl:1")):
        proc = run_module("nq_baseline.answer_nq", f"--model_dir={folder}", *args)
        assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("answer_nq: error:"), proc.stderr
        assert named in proc.stderr.strip().splitlines()[-1]
    proc = run_module("nq_baseline.answer_nq", f"--model_dir={tmp_path}", f"--text_file={text}", "--question=q")
    assert proc.returncode == 2 and "nq_model.json" in proc.stderr


def test_confidence_is_a_softmax_over_the_candidate_answers(random_model_folder):
    """Logits set by hand on a one-window text: start and end 2.5 at the piece of "1820", 1.0
    at the piece of "Ada", -1e4 elsewhere, 0 at [CLS]. The candidate spans are then "1820"
    (score 5), "1820 by Ada" (3.5) and "Ada" (2), beside no answer (0): their probabilities
    are exp(score) / (1 + e^5 + e^3.5 + e^2), and the answer "1820" has the first."""
    import math

    import numpy as np

    from nq_baseline.features.windows import SHORT

    reader = Reader.load(str(random_model_folder[0]), postprocess={"nbest": 20})
    text = "Veldmoor is a small town. It was founded in 1820 by Ada Corran, whose statue stands there."
    encoded = reader.encode(["when was veldmoor founded"], text, "text")
    ids, segments = encoded.windows["input_ids"], encoded.windows["segment_ids"]
    assert len(ids) == 1
    (year,), (ada,) = reader.tokenizer.word_ids(["1820"]), reader.tokenizer.word_ids(["ada"])
    p = int(np.flatnonzero((ids[0] == year) & (segments[0] == 1))[0])
    q = int(np.flatnonzero((ids[0] == ada) & (segments[0] == 1))[0])
    start = np.full(ids.shape, -1e4, np.float32)
    start[:, 0] = 0
    end = start.copy()
    start[0, p] = end[0, p] = 2.5
    start[0, q] = end[0, q] = 1.0
    types = np.zeros((1, 5), np.float32)
    types[0, SHORT] = 3.0
    answer = reader.decode(encoded, {"start_logits": start, "end_logits": end, "answer_type_logits": types})[0]
    z = 1 + math.exp(5) + math.exp(3.5) + math.exp(2)
    assert answer.short_answers_text == ["1820"]
    assert answer.confidence == pytest.approx(math.exp(5) / z, rel=1e-6)
    assert answer.no_answer_probability == pytest.approx(1 / z, rel=1e-6)
    top = answer.top_answers[:3]
    assert [a.span.text for a in top] == ["1820", "1820 by Ada", "Ada"]
    assert [a.probability for a in top] == pytest.approx([math.exp(s) / z for s in (5, 3.5, 2)], rel=1e-6)
    assert top[0].context_before.endswith("It was founded in") and top[0].context_after.startswith("by Ada Corran")
    assert top[0].long_answer_candidate_index == 0
    out = answer.to_json()
    assert out["confidence"] == answer.confidence and out["top_answers"][0]["text"] == "1820"


def test_no_answer_has_no_confidence(random_model_folder):
    """A page with no paragraph gives no span: no answer, no confidence, all of it on no answer."""
    reader = Reader.load(str(random_model_folder[0]), postprocess={"nbest": 20})
    answer = reader.answer("who", "<html><body>Only <b>bold</b> words, no paragraph.</body></html>", "html")
    assert answer.long_answer is None and not answer.short_answers
    assert answer.confidence is None and answer.no_answer_probability == 1.0 and answer.top_answers == ()
    assert "confidence" not in Reader.load(str(random_model_folder[0])).answer("who", TEXT, "text").to_json()
