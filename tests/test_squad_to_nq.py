"""tools/squad_to_nq.py: SQuAD -> NQ, both formats; nq_writer's SQuAD-style use."""

import gzip
import html
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import squad_to_nq  # noqa: E402
from conftest import SQUAD2, SQUAD_SLICE as SQUAD, squad_slice, squad_to_nq_cli, write_json  # noqa: E402
from nq_baseline.reading import nq_data  # noqa: E402

ARTICLES = "2,7,11"  # Normans, Sky_(United_Kingdom), 1973_oil_crisis (whole in the slice)
SPLIT = 2  # Normans + Sky -> train, 1973_oil_crisis -> dev
TITLES = ROOT / "benchmarks" / "squad_articles.txt"  # benchmarks/quality.py's 39 articles


def read_lines(path):
    with gzip.open(path, "rb") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("squad_nq")
    summary = squad_to_nq.run(str(SQUAD), str(out), ARTICLES, split=SPLIT, null_rate=0.1, seed=0)
    return out, summary, squad_slice()


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
    proc = squad_to_nq_cli(f"--input={SQUAD}", f"--output_dir={tmp_path}", "--articles=7")
    assert proc.returncode == 0, proc.stderr
    assert "%" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["all-full.jsonl.gz", "all-simplified.jsonl.gz"]
    docs = list(nq_data.read_documents(str(tmp_path / "all-simplified.jsonl.gz")))
    assert len(docs) == 108 and all(any(a.has_long_answer for a in d.annotations) for d in docs)


def test_squad2_impossible_question_is_null(tmp_path):
    src = write_json(tmp_path / "tiny.json", SQUAD2)
    proc = squad_to_nq_cli(f"--input={src}", f"--output_dir={tmp_path / 'out'}")
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


# --------------------------------------------------------------------------- articles chosen by title


def test_quality_titles_are_the_39_articles_in_order():
    """benchmarks/squad_articles.txt names the articles of the 39-article copy, in its order (the
    slice keeps every article's title and place)."""
    assert squad_to_nq.read_titles(str(TITLES)) == [a["title"] for a in squad_slice()]
    assert len(TITLES.read_text(encoding="utf-8").splitlines()) == 39


def _larger_squad_file(path):
    """The official file's shape: the slice's articles shuffled among others (renamed copies
    with their own question ids, SQuAD 2.0's tiny article), plain JSON, "data" before "version"."""
    import random

    articles = squad_slice()
    others = [json.loads(json.dumps(SQUAD2["data"][0]))]
    for k, source in enumerate(articles[:9]):
        other = json.loads(json.dumps(source))
        other["title"] = f"Other_{k}_{source['title']}"
        for p in other["paragraphs"]:
            for qa in p["qas"]:
                qa["id"] = "other-" + qa["id"]
        others.append(other)
    mixed = articles + others
    random.Random(4).shuffle(mixed)
    assert [a["title"] for a in mixed] != [a["title"] for a in articles]
    return write_json(path, {"data": mixed, "version": "1.1"})


def test_titles_take_the_same_articles_and_questions_from_a_larger_file(tmp_path):
    larger = _larger_squad_file(tmp_path / "dev-v1.1.json")
    titles = squad_to_nq.read_titles(str(TITLES))
    chosen = squad_to_nq.select_by_title(squad_to_nq.load_squad(str(larger)), titles, str(larger), str(TITLES))
    assert chosen == squad_slice()
    every = list(range(len(titles)))
    ours, reference = squad_to_nq.convert(chosen, every), squad_to_nq.convert(squad_slice(), every)
    assert ours.questions == reference.questions and ours.stats == reference.stats
    assert len(ours.questions) == 1023
    # the files written: byte for byte those of the slice itself (2 whole articles, nulls across them)
    ours = squad_to_nq.run(str(larger), str(tmp_path / "a"), "7,11", split=1, null_rate=0.1, titles=str(TITLES))
    reference = squad_to_nq.run(str(SQUAD), str(tmp_path / "b"), "7,11", split=1, null_rate=0.1)
    for key in ("examples", "null_examples", "stats"):
        assert ours[key] == reference[key], key
    assert ours["examples"] == {"train": 108 + 11, "dev": 106 + 11}
    names = sorted(os.listdir(tmp_path / "a"))
    assert names == sorted(os.listdir(tmp_path / "b")) and len(names) == 4
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("case", ["absent_title", "title_twice", "no_title", "article_twice"])
def test_bad_titles_exit_2(tmp_path, case):
    src, titles = write_json(tmp_path / "tiny.json", SQUAD2), tmp_path / "titles.txt"
    titles.write_text("Tiny_<Test>\n", encoding="utf-8")
    expected = str(src)
    if case == "absent_title":
        titles.write_text("Tiny_<Test>\n\nNormans\nWarsaw\n", encoding="utf-8")
        expected = "lacks 2 of the 3 articles"
    elif case == "title_twice":
        titles.write_text("Tiny_<Test>\nNormans\nTiny_<Test>\n", encoding="utf-8")
        expected = f"{titles}:3: 'Tiny_<Test>' again (first on line 1)"
    elif case == "no_title":
        titles.write_text("\n \n", encoding="utf-8")
        expected = "lists no title"
    else:
        src = write_json(tmp_path / "twice.json", {"data": SQUAD2["data"] * 2})
        expected = "2 articles are titled 'Tiny_<Test>'"
    proc = squad_to_nq_cli(f"--input={src}", f"--output_dir={tmp_path / 'out'}", f"--titles={titles}")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr, lines
    assert not (tmp_path / "out").exists()


def test_gzipped_input_reads_as_plain(tmp_path):
    plain = write_json(tmp_path / "tiny.json", SQUAD2)
    packed = tmp_path / "tiny.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert squad_to_nq.load_squad(str(packed)) == squad_to_nq.load_squad(str(plain)) == SQUAD2["data"]
    packed.write_bytes(gzip.compress(plain.read_bytes())[:-12])
    proc = squad_to_nq_cli(f"--input={packed}", f"--output_dir={tmp_path / 'out'}")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "broken gzip" in proc.stderr, proc.stderr


@pytest.mark.parametrize("case", ["missing", "not_json", "not_squad", "out_of_range", "bad_articles"])
def test_bad_input_exits_2(tmp_path, case):
    args = []
    if case == "missing":
        src = tmp_path / "nope.json"
    elif case == "not_json":
        src = tmp_path / "bad.json"
        src.write_text("{not json", encoding="utf-8")
    elif case == "not_squad":
        src = write_json(tmp_path / "list.json", [1, 2, 3])
    elif case == "out_of_range":
        bad = json.loads(json.dumps(SQUAD2))
        bad["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 500
        src = write_json(tmp_path / "range.json", bad)
    else:
        src = write_json(tmp_path / "ok.json", SQUAD2)
        args = ["--articles=3-5"]
    proc = squad_to_nq_cli(f"--input={src}", f"--output_dir={tmp_path / 'out'}", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(src) in lines[0] and "Traceback" not in proc.stderr
    if case == "out_of_range":
        assert "q3" in lines[0] and "answer_start" in lines[0]
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_writer_text_blocks_and_char_answers():
    """nq_writer's SQuAD-style use: one document of Text paragraphs, many questions, char answers."""
    from nq_baseline.reading import nq_writer
    from nq_baseline.reading.nq_writer import GoldAnswer, Text

    text = "The U.S. office  opened in 2001 with 13,000 staff\u200b; it's Zo\u00eb's idea."
    doc = nq_writer.build_document("Office (history)", [("p", Text(text)), ("p", "a b c")])
    assert doc.tokens[1:5] == [{"token": t, "start_byte": doc.tokens[i]["start_byte"],
                                "end_byte": doc.tokens[i]["end_byte"], "html_token": False}
                               for i, t in enumerate(["Office", "(", "history", ")"], 1)]
    words = doc.words(doc.candidates[0]["start_token"], doc.candidates[0]["end_token"])
    assert words == ["The", "U.S.", "office", "opened", "in", "2001", "with", "13,000", "staff", ";", "it",
                     "'s", "Zo\u00eb", "'s", "idea", "."]
    start = text.index("13,000")
    cand, shorts = doc.resolve(GoldAnswer(0, chars=[(start + 1, start + 4), (text.index("Zo"), text.index("Zo") + 2)]))
    assert cand == 0 and [doc.words(s, e) for s, e in shorts] == [["13,000"], ["Zo\u00eb"]]
    raw = doc.html.encode("utf-8")
    assert "  opened" in doc.html  # the original spacing is kept in the HTML
    for t in doc.tokens:
        assert html.unescape(raw[t["start_byte"]:t["end_byte"]].decode("utf-8")) == t["token"]
    answers = [GoldAnswer(0, chars=(start, start + 6)), None, GoldAnswer(1, span=(1, 2))]
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
    for bad, message in [(GoldAnswer(1, chars=(0, 1)), "Text"), (GoldAnswer(0, chars=(text.index("  "), text.index("  ") + 2)),
                                                                 "cover no word"),
                         (GoldAnswer(0, span=(0, 1), chars=(0, 1)), "not both")]:
        with pytest.raises(ValueError, match=message):
            doc.resolve(bad)
    with pytest.raises(ValueError, match="64 bits"):
        doc.example(2 ** 63, "q", [])
