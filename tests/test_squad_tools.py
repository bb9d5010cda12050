"""tools/squad_to_nq.py (SQuAD -> NQ, both formats) and tools/show_predictions.py."""

import gzip
import html
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SQUAD = SHARED / "squad" / "dev-v1.1-train39.json"
sys.path.insert(0, str(ROOT / "tools"))

import show_predictions  # noqa: E402
import squad_to_nq  # noqa: E402
from nq_baseline import nq_data  # noqa: E402

ARTICLES = "2,7,11"  # Normans, Sky_(United_Kingdom), 1973_oil_crisis
SPLIT = 2  # Normans + Sky -> train, 1973_oil_crisis -> dev


def require_squad() -> Path:
    if not SQUAD.is_file():
        pytest.skip(f"{SQUAD} absent: the real SQuAD file lives in ../shared/data (not in the repo)")
    return SQUAD


def cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "squad_to_nq.py"), *args],
                          capture_output=True, text=True, cwd=ROOT)


def read_lines(path):
    with gzip.open(path, "rb") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    squad = require_squad()
    out = tmp_path_factory.mktemp("squad_nq")
    summary = squad_to_nq.run(str(squad), str(out), ARTICLES, split=SPLIT, null_rate=0.1, seed=0)
    with open(squad, encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    return out, summary, data


def _squad_questions(data, indices):
    for i in indices:
        art = data[i]
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                yield art, p, qa


def test_short_answers_decode_to_the_squad_text(converted):
    out, summary, data = converted
    total = decoded = 0
    by_id = {}
    for prefix in ("train", "dev"):
        for ex in read_lines(out / f"{prefix}-full.jsonl.gz"):
            by_id[ex["example_id"]] = ex
    for art, p, qa in _squad_questions(data, [2, 7, 11]):
        ex = by_id[squad_to_nq.stable_id("squad", qa["id"])]
        toks = ex["document_tokens"]
        assert ex["question_text"] == qa["question"]
        assert len(ex["annotations"]) == len(qa["answers"])  # one annotator per answer, no dedupe
        for ann, answer in zip(ex["annotations"], qa["answers"]):
            (short,) = ann["short_answers"]
            text = " ".join(t["token"] for t in toks[short["start_token"]:short["end_token"]])
            total += 1
            decoded += squad_to_nq.normalize_answer(text) == squad_to_nq.normalize_answer(answer["text"])
            # the long answer is the answer's paragraph, and it contains the short answer
            la = ann["long_answer"]
            cand = ex["long_answer_candidates"][la["candidate_index"]]
            assert (la["start_token"], la["end_token"]) == (cand["start_token"], cand["end_token"])
            assert la["start_token"] < short["start_token"] < short["end_token"] < la["end_token"]
            para_words = [t["token"] for t in toks[la["start_token"] + 1:la["end_token"] - 1]]
            assert squad_to_nq.normalize_answer("".join(para_words)) == \
                squad_to_nq.normalize_answer(p["context"])
    share = decoded / total
    print(f"\nshort answers decoding to the SQuAD answer text: {decoded}/{total} = {100 * share:.2f}%")
    assert share >= 0.97, share
    assert summary["stats"]["num_answers"] == total


def test_formats_parse_agree_and_bytes_index_the_html(converted):
    out, summary, _ = converted
    for prefix in ("train", "dev"):
        full_path = out / f"{prefix}-full.jsonl.gz"
        simple_path = out / f"{prefix}-simplified.jsonl.gz"
        full_docs = list(nq_data.read_documents(str(full_path)))
        simple_docs = list(nq_data.read_documents(str(simple_path)))
        assert len(full_docs) == len(simple_docs) == summary["examples"][prefix] > 0
        for f, s in zip(full_docs, simple_docs):
            assert not f.simplified and s.simplified
            assert f.example_id == s.example_id and f.question_text == s.question_text
            assert f.tokens == s.tokens and f.is_html == s.is_html
            assert [(c.start_token, c.end_token, c.top_level) for c in f.candidates] == \
                [(c.start_token, c.end_token, c.top_level) for c in s.candidates]
            assert [(a.candidate_index, a.long_start_token, a.long_end_token, a.yes_no_answer,
                     [(x.start_token, x.end_token) for x in a.short_answers]) for a in f.annotations] == \
                [(a.candidate_index, a.long_start_token, a.long_end_token, a.yes_no_answer,
                  [(x.start_token, x.end_token) for x in a.short_answers]) for a in s.annotations]
        assert len({d.example_id for d in full_docs}) == len(full_docs)
    # byte offsets: every token, candidate and answer indexes document_html's UTF-8 bytes
    checked = 0
    for ex in read_lines(out / "dev-full.jsonl.gz")[:5]:
        doc = ex["document_html"].encode("utf-8")
        toks = ex["document_tokens"]
        for t in toks:
            assert html.unescape(doc[t["start_byte"]:t["end_byte"]].decode("utf-8")) == t["token"]
        for c in ex["long_answer_candidates"]:
            seg = doc[c["start_byte"]:c["end_byte"]].decode("utf-8")
            assert seg.startswith("<P>") and seg.endswith("</P>")
            assert (c["start_byte"], c["end_byte"]) == (toks[c["start_token"]]["start_byte"],
                                                        toks[c["end_token"] - 1]["end_byte"])
        for a in ex["annotations"]:
            for s in a["short_answers"]:
                assert s["start_byte"] == toks[s["start_token"]]["start_byte"]
                assert s["end_byte"] == toks[s["end_token"] - 1]["end_byte"]
            checked += 1
        assert toks[0]["token"] == "<H1>" and toks[0]["html_token"]
    assert checked > 0
    # non-ASCII text (the Normans article) keeps byte offsets straight too
    normans = read_lines(out / "train-full.jsonl.gz")[0]
    raw = normans["document_html"].encode("utf-8")
    non_ascii = [t for t in normans["document_tokens"] if not t["token"].isascii()]
    assert non_ascii
    for t in non_ascii:
        assert raw[t["start_byte"]:t["end_byte"]].decode("utf-8") == t["token"]


def test_null_rate_adds_null_examples_and_output_is_deterministic(converted, tmp_path):
    out, summary, data = converted
    real = sum(len(qa["answers"]) > 0 for _, _, qa in _squad_questions(data, [2, 7, 11]))
    assert summary["examples"]["train"] + summary["examples"]["dev"] > real
    nulls = summary["null_examples"]
    assert nulls["train"] == round(0.1 * (112 + 108)) and nulls["dev"] == round(0.1 * 106)
    docs = list(nq_data.read_documents(str(out / "dev-full.jsonl.gz")))
    null_docs = [d for d in docs if not any(a.has_long_answer for a in d.annotations)]
    assert len(null_docs) == nulls["dev"]
    # the dev split has one article only: its null pairs borrow the other selected articles
    assert all(d.title != "1973 oil crisis" for d in null_docs)
    # the train split pairs its questions with the other train article
    train = list(nq_data.read_documents(str(out / "train-full.jsonl.gz")))
    titles = {d.example_id: d.title for d in train}
    qtitle = {}
    for d in train:
        if any(a.has_long_answer for a in d.annotations):
            qtitle[d.question_text] = d.title
    train_nulls = [d for d in train if not any(a.has_long_answer for a in d.annotations)]
    assert len(train_nulls) == nulls["train"] > 0
    for d in train_nulls:
        assert d.title != qtitle[d.question_text]  # asked over ANOTHER article
        assert len(d.annotations) == 1
    assert len(titles) == len(train)  # null pairs have ids of their own
    # deterministic: the same run again gives byte-identical files
    again = squad_to_nq.run(str(SQUAD), str(tmp_path), ARTICLES, split=SPLIT, null_rate=0.1, seed=0)
    assert again["examples"] == summary["examples"]
    for name in ("train-full.jsonl.gz", "train-simplified.jsonl.gz", "dev-full.jsonl.gz",
                 "dev-simplified.jsonl.gz"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_cli_all_prefix_and_no_nulls(tmp_path):
    squad = require_squad()
    proc = cli(f"--input={squad}", f"--output_dir={tmp_path}", "--articles=7")
    assert proc.returncode == 0, proc.stderr
    assert "%" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["all-full.jsonl.gz", "all-simplified.jsonl.gz"]
    docs = list(nq_data.read_documents(str(tmp_path / "all-simplified.jsonl.gz")))
    assert len(docs) == 108 and all(any(a.has_long_answer for a in d.annotations) for d in docs)


SQUAD2 = {
    "version": "v2.0",
    "data": [{
        "title": "Tiny_<Test>",
        "paragraphs": [
            {"context": "Alpha & Omega was founded in 1999 by Zoë Smith-Jones.",
             "qas": [
                 {"id": "q1", "question": "Who founded Alpha & Omega?", "is_impossible": False,
                  "answers": [{"text": "Zoë Smith-Jones", "answer_start": 37}]},
                 {"id": "q2", "question": "Who founded Beta?", "is_impossible": True, "answers": [],
                  "plausible_answers": [{"text": "Zoë Smith-Jones", "answer_start": 37}]},
             ]},
            {"context": "The U.S. office opened (in 2001) with 13,000 staff.",
             "qas": [{"id": "q3", "question": "How many staff?",
                      "answers": [{"text": "13,000", "answer_start": 38}]}]},
        ]}]}


def _write(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def test_squad2_impossible_question_is_null(tmp_path):
    src = _write(tmp_path / "tiny.json", SQUAD2)
    proc = cli(f"--input={src}", f"--output_dir={tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr
    full = {d.question_text: d for d in nq_data.read_documents(str(tmp_path / "out" / "all-full.jsonl.gz"))}
    q1, q2, q3 = (full[q] for q in ("Who founded Alpha & Omega?", "Who founded Beta?", "How many staff?"))
    assert not any(a.has_long_answer or a.short_answers for a in q2.annotations)
    assert len(q2.annotations) == 1 and q2.annotations[0].candidate_index == -1
    (s,) = q1.annotations[0].short_answers
    assert q1.tokens[s.start_token:s.end_token] == ["Zoë", "Smith-Jones"]
    assert q1.annotations[0].candidate_index == 0
    (s,) = q3.annotations[0].short_answers
    assert q3.tokens[s.start_token:s.end_token] == ["13,000"] and q3.annotations[0].candidate_index == 1
    assert q1.title == "Tiny <Test>"
    assert "U.S." in q1.tokens and "(" in q1.tokens and "&" in q1.tokens
    raw = read_lines(tmp_path / "out" / "all-full.jsonl.gz")[0]
    assert "<Test>" not in raw["document_html"] and "&lt;Test&gt;" in raw["document_html"]


@pytest.mark.parametrize("case", ["missing", "not_json", "not_squad", "out_of_range", "bad_articles"])
def test_bad_input_exits_2(tmp_path, case):
    args = []
    if case == "missing":
        src = tmp_path / "nope.json"
    elif case == "not_json":
        src = tmp_path / "bad.json"
        src.write_text("{not json", encoding="utf-8")
    elif case == "not_squad":
        src = _write(tmp_path / "list.json", [1, 2, 3])
    elif case == "out_of_range":
        bad = json.loads(json.dumps(SQUAD2))
        bad["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 500
        src = _write(tmp_path / "range.json", bad)
    else:
        src = _write(tmp_path / "ok.json", SQUAD2)
        args = ["--articles=3-5"]
    proc = cli(f"--input={src}", f"--output_dir={tmp_path / 'out'}", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(src) in lines[0] and "Traceback" not in proc.stderr
    if case == "out_of_range":
        assert "q3" in lines[0] and "answer_start" in lines[0]
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_writer_text_blocks_and_char_answers():
    """nq_writer's SQuAD-style use: one document of Text paragraphs, many questions, char answers."""
    from nq_baseline import nq_writer
    from nq_baseline.nq_writer import Answer, Text

    text = "The U.S. office  opened in 2001 with 13,000 staff\u200b; it's Zo\u00eb's idea."
    doc = nq_writer.build_document("Office (history)", [("p", Text(text)), ("p", "a b c")])
    assert doc.tokens[1:5] == [{"token": t, "start_byte": doc.tokens[i]["start_byte"],
                                "end_byte": doc.tokens[i]["end_byte"], "html_token": False}
                               for i, t in enumerate(["Office", "(", "history", ")"], 1)]
    words = doc.words(doc.candidates[0]["start_token"], doc.candidates[0]["end_token"])
    assert words == ["The", "U.S.", "office", "opened", "in", "2001", "with", "13,000", "staff", ";", "it",
                     "'s", "Zo\u00eb", "'s", "idea", "."]
    start = text.index("13,000")
    cand, shorts = doc.resolve(Answer(0, chars=[(start + 1, start + 4), (text.index("Zo"), text.index("Zo") + 2)]))
    assert cand == 0 and [doc.words(s, e) for s, e in shorts] == [["13,000"], ["Zo\u00eb"]]
    raw = doc.html.encode("utf-8")
    assert "  opened" in doc.html  # the original spacing is kept in the HTML
    for t in doc.tokens:
        assert html.unescape(raw[t["start_byte"]:t["end_byte"]].decode("utf-8")) == t["token"]
    answers = [Answer(0, chars=(start, start + 6)), None, Answer(1, span=(1, 2))]
    for example_id in (2 ** 63 - 1, -(2 ** 62)):
        full, simple = doc.example_lines(example_id, "How many staff?", answers, [7, 8, 9])
        d_full, d_simple = doc.example(example_id, "How many staff?", answers, [7, 8, 9])
        assert json.loads(full) == d_full and json.loads(simple) == d_simple
        assert d_full["question_tokens"] == ["how", "many", "staff", "?"]
        f, s = nq_data.parse_line(full), nq_data.parse_line(simple)
        assert f.example_id == s.example_id == example_id and f.tokens == s.tokens
        assert [a.candidate_index for a in f.annotations] == [0, -1, 1]
        assert [(x.start_token, x.end_token) for x in f.annotations[0].short_answers] == \
            [(x.start_token, x.end_token) for x in s.annotations[0].short_answers] == [shorts[0]]
    for bad, message in [(Answer(1, chars=(0, 1)), "Text"), (Answer(0, chars=(text.index("  "), text.index("  ") + 2)),
                                                                 "cover no word"),
                         (Answer(0, span=(0, 1), chars=(0, 1)), "not both")]:
        with pytest.raises(ValueError, match=message):
            doc.resolve(bad)
    with pytest.raises(ValueError, match="64 bits"):
        doc.example(2 ** 63, "q", [])


# --------------------------------------------------------------------------- show_predictions

def _gold_and_predictions(tmp_path):
    src = _write(tmp_path / "tiny.json", SQUAD2)
    assert cli(f"--input={src}", f"--output_dir={tmp_path}").returncode == 0
    gold = tmp_path / "all-full.jsonl.gz"
    docs = {d.question_text: d for d in nq_data.read_documents(str(gold))}
    q1, q2, q3 = (docs[q] for q in ("Who founded Alpha & Omega?", "Who founded Beta?", "How many staff?"))

    def span(s, e):
        return {"start_token": s, "end_token": e, "start_byte": -1, "end_byte": -1}

    null = span(-1, -1)
    a1, a3 = q1.annotations[0], q3.annotations[0]
    s1 = a1.short_answers[0]
    preds = [
        # q1: right long, wrong short (one token too few)
        {"example_id": q1.example_id, "long_answer": span(a1.long_start_token, a1.long_end_token),
         "long_answer_score": 3.5, "short_answers": [span(s1.start_token, s1.end_token - 1)],
         "short_answers_score": 1.0, "yes_no_answer": "NONE"},
        # q2 (gold null): a long answer -> wrong long; no short -> right short
        {"example_id": q2.example_id, "long_answer": span(a1.long_start_token, a1.long_end_token),
         "long_answer_score": 2.0, "short_answers": [], "short_answers_score": 0.0, "yes_no_answer": "NONE"},
        # q3: wrong long (the other paragraph), right short
        {"example_id": q3.example_id, "long_answer": span(a1.long_start_token, a1.long_end_token),
         "long_answer_score": 1.0, "short_answers": [span(a3.short_answers[0].start_token,
                                                          a3.short_answers[0].end_token)],
         "short_answers_score": 1.0, "yes_no_answer": "NONE"},
    ]
    pred_path = tmp_path / "predictions.json"
    pred_path.write_text(json.dumps({"predictions": preds}), encoding="utf-8")
    return gold, pred_path, (q1, q2, q3)


def test_show_predictions_flags_and_html(tmp_path):
    gold, pred_path, (q1, q2, q3) = _gold_and_predictions(tmp_path)
    rows = show_predictions.render_examples(nq_data.read_documents(str(gold)), str(pred_path), num=10)
    by_q = {r["question"]: r for r in rows}
    assert len(rows) == 3
    r1, r2, r3 = by_q[q1.question_text], by_q[q2.question_text], by_q[q3.question_text]
    assert (r1["long_correct"], r1["short_correct"]) == (True, False)
    assert (r2["long_correct"], r2["short_correct"]) == (False, True)
    assert (r3["long_correct"], r3["short_correct"]) == (False, True)
    assert r1["pred_short"] == "Zoë" and r1["gold_short"] == "Zoë Smith-Jones"
    assert r1["pred_long"].startswith("Alpha & Omega") and "<P>" not in r1["pred_long"]
    assert r2["gold_long"] == "no answer" and r2["gold_short"] == "no answer"
    assert r3["pred_short"] == "13,000"
    # the first N by default, a seeded sample otherwise (deterministic)
    assert len(show_predictions.render_examples(nq_data.read_documents(str(gold)), str(pred_path), 2)) == 2
    a = show_predictions.render_examples(nq_data.read_documents(str(gold)), str(pred_path), 2, seed=7)
    b = show_predictions.render_examples(nq_data.read_documents(str(gold)), str(pred_path), 2, seed=7)
    assert a == b and len(a) == 2
    page = show_predictions.to_html(rows)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "Alpha &amp; Omega" in page and "Alpha & Omega" not in page
    assert "<script" not in page.lower() and "http" not in page
    from html.parser import HTMLParser
    HTMLParser().feed(page)
    # long answers are shortened to ~40 words
    long_doc = nq_data.NqDocument(1, "q", "", [f"w{i}" for i in range(100)], [False] * 100, [], [])
    assert show_predictions.span_text(long_doc, (0, 100)).endswith(" ...")
    assert len(show_predictions.span_text(long_doc, (0, 100)).split()) == 41


def test_show_predictions_cli(tmp_path):
    gold, pred_path, _ = _gold_and_predictions(tmp_path)
    report = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "show_predictions.py"),
                           f"--gold_path={gold}", f"--predictions_path={pred_path}", "--num=5",
                           f"--html_out={report}"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "long right 1/3, short right 2/3" in proc.stdout
    assert "[WRONG]" in proc.stdout and "[RIGHT]" in proc.stdout
    assert "&lt;" not in proc.stdout and report.read_text(encoding="utf-8").count('class="ex"') == 3
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "show_predictions.py"),
                           f"--gold_path={tmp_path / 'missing.jsonl'}", f"--predictions_path={pred_path}"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr


def test_show_predictions_official_two_of_five_rule():
    """5 annotators: one answer alone is a null gold (the official rule); 2 or more are a gold answer."""
    from nq_baseline import nq_writer
    from nq_baseline.nq_writer import Answer
    blocks = [("p", "Alpha was founded in 1901 ."), ("p", "Beta is a river ."), ("ul", ["one", "two"])]
    a = Answer(0, span=(4, 5))
    yes = Answer(1, yes_no="YES")
    cases = [  # annotations, (pred long block, nested), pred short words, pred yes/no, (long right, short right)
        ([a, None, None, None, None], None, None, "NONE", (True, True)),
        ([a, None, None, None, None], 0, (4, 5), "NONE", (False, False)),
        ([None, a, None, Answer(0), None], 0, None, "NONE", (True, True)),  # 2 long, 1 short: short is null
        ([None, a, None, Answer(0), None], 0, (4, 5), "NONE", (True, False)),
        ([None, a, None, a, None], 0, (4, 5), "NONE", (True, True)),
        ([None, a, None, a, None], 0, (3, 5), "NONE", (True, False)),
        ([a, a, Answer(2, nested=1)], (2, 1), None, "NONE", (True, False)),  # any annotator's span, nested too
        ([yes, yes, None], 1, None, "YES", (True, True)),
        ([yes, yes, None], 1, None, "NO", (True, False)),
        ([a], None, None, "NONE", (False, False)),  # one annotation (NQ train): it is the gold
        ([None], None, None, "NONE", (True, True)),
    ]
    for k, (anns, pred_block, pred_words, yes_no, expected) in enumerate(cases):
        doc = nq_writer.build_document("T", blocks)
        original, _ = doc.example(k + 1, "q", anns)
        gold = nq_data.document_from_json(original)
        if pred_block is None:
            long = {"start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1}
        else:
            block, nested = pred_block if isinstance(pred_block, tuple) else (pred_block, None)
            c = original["long_answer_candidates"][doc.candidate_index(block, nested)]
            long = {k2: c[k2] for k2 in ("start_token", "end_token", "start_byte", "end_byte")}
        shorts = []
        if pred_words is not None:
            _, ((s, e),) = doc.resolve(Answer(0, span=pred_words))
            shorts = [{"start_token": s, "end_token": e, "start_byte": -1, "end_byte": -1}]
        pred = {"example_id": k + 1, "long_answer": long, "long_answer_score": 1.0, "short_answers": shorts,
                "short_answers_score": 1.0, "yes_no_answer": yes_no}
        (row,) = show_predictions.render_examples([gold], {"predictions": [pred]}, num=1)
        assert (row["long_correct"], row["short_correct"]) == expected, (k, row)


def test_show_predictions_applies_thresholds_like_the_metrics(tmp_path):
    """Below its threshold an answer is shown and judged as no answer; at nq_eval's best
    thresholds the rows give nq_eval's precision and recall."""
    from nq_baseline import nq_eval
    gold, pred_path, (q1, q2, q3) = _gold_and_predictions(tmp_path)
    docs = list(nq_data.read_documents(str(gold)))
    rows = {r["question"]: r for r in show_predictions.render_examples(docs, str(pred_path), 10, None, 2.5, 2.0)}
    r1, r2, r3 = rows[q1.question_text], rows[q2.question_text], rows[q3.question_text]
    assert (r1["long_correct"], r2["long_correct"], r3["long_correct"]) == (True, True, False)
    assert r2["pred_long"].startswith("no answer (below the threshold 2.5")
    assert not r1["short_correct"] and not r3["short_correct"] and r3["pred_short"].startswith("no answer (below")
    metrics = nq_eval.evaluate(str(gold), str(pred_path), long_non_null_threshold=1, short_non_null_threshold=1)
    rows = show_predictions.render_examples(docs, str(pred_path), 10, None, metrics["long-best-threshold"],
                                            metrics["short-best-threshold"])
    for kind in ("long", "short"):
        answered = [r for r in rows if not r[f"pred_{kind}"].startswith("no answer")]
        right = sum(r[f"{kind}_correct"] for r in answered)
        gold_answers = sum(r[f"gold_{kind}"] != "no answer" for r in rows)
        assert right / max(1, len(answered)) == pytest.approx(metrics[f"{kind}-best-threshold-precision"])
        assert right / gold_answers == pytest.approx(metrics[f"{kind}-best-threshold-recall"])
    # the CLI reads the thresholds from nq_eval's metrics JSON; a bad one exits 2
    metrics_path = tmp_path / "metrics.json"
    metrics_path.write_text(json.dumps({"long-best-threshold": 2.5, "short-best-threshold": 2.0}))
    tool = [sys.executable, str(ROOT / "tools" / "show_predictions.py"), f"--gold_path={gold}",
            f"--predictions_path={pred_path}"]
    proc = subprocess.run(tool + [f"--metrics_path={metrics_path}"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "long right 2/3, short right 1/3" in proc.stdout
    metrics_path.write_text("{}")
    proc = subprocess.run(tool + [f"--metrics_path={metrics_path}"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "metrics.json" in proc.stderr
