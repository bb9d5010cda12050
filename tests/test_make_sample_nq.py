"""tools/make_sample_nq.py: the synthetic NQ sample data."""

import gzip
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nq_baseline.reading import nq_data

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "make_sample_nq.py"

_spec = importlib.util.spec_from_file_location("make_sample_nq", TOOL)
make_sample_nq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_sample_nq)

NUM_TRAIN, NUM_DEV = 300, 60


def _run(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    proc = _run(f"--output_dir={out}", f"--num_train={NUM_TRAIN}", f"--num_dev={NUM_DEV}")
    assert proc.returncode == 0, proc.stderr
    return out


def _lines(path):
    with gzip.open(path, "rb") as handle:
        return [line for line in handle if line.strip()]


def _digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).iterdir())}


@pytest.fixture(scope="module")
def docs(sample_dir):
    out = {}
    for split in ("train", "dev"):
        for fmt in ("full", "simplified"):
            path = sample_dir / f"{split}-{fmt}.jsonl.gz"
            out[split, fmt] = [nq_data.parse_line(raw, str(path), i + 1) for i, raw in enumerate(_lines(path))]
    return out


# ----------------------------------------------------------------------------- files and determinism


def test_files_and_counts(sample_dir, docs):
    names = sorted(p.name for p in sample_dir.iterdir())
    assert names == sorted(list(make_sample_nq.FILES) + ["vocab.txt"])  # no temp files left behind
    assert len(docs["train", "full"]) == len(docs["train", "simplified"]) == NUM_TRAIN
    assert len(docs["dev", "full"]) == len(docs["dev", "simplified"]) == NUM_DEV


def test_deterministic(sample_dir, tmp_path):
    again = tmp_path / "again"
    assert _run(f"--output_dir={again}", f"--num_train={NUM_TRAIN}", f"--num_dev={NUM_DEV}").returncode == 0
    assert _digest(again) == _digest(sample_dir)
    other = tmp_path / "other"
    assert _run(f"--output_dir={other}", f"--num_train={NUM_TRAIN}", f"--num_dev={NUM_DEV}",
                "--seed=1").returncode == 0
    for name in make_sample_nq.FILES:
        assert _digest(other)[name] != _digest(sample_dir)[name]


def test_prefix_stable():
    """The first k examples do not depend on how many are made."""
    assert make_sample_nq.make_examples(5, 3, "dev") == make_sample_nq.make_examples(12, 3, "dev")[:5]


def test_example_ids(docs):
    ids = {}
    for split in ("train", "dev"):
        full = [d.example_id for d in docs[split, "full"]]
        assert full == [d.example_id for d in docs[split, "simplified"]]
        ids[split] = full
    every = ids["train"] + ids["dev"]
    assert len(set(every)) == len(every)
    assert all(-2 ** 63 <= i < 2 ** 63 for i in every)
    assert sum(i > 2 ** 31 for i in every) > len(every) // 2
    assert any(i < 0 for i in every)


# ----------------------------------------------------------------------------- structure


def test_formats_agree(docs):
    for split in ("train", "dev"):
        for full, simple in zip(docs[split, "full"], docs[split, "simplified"]):
            assert full.question_text == simple.question_text
            assert full.tokens == simple.tokens
            assert full.is_html == simple.is_html
            assert [(c.start_token, c.end_token, c.top_level) for c in full.candidates] == \
                   [(c.start_token, c.end_token, c.top_level) for c in simple.candidates]
            strip = lambda a: (a.candidate_index, a.long_start_token, a.long_end_token, a.yes_no_answer,  # noqa: E731
                               [(s.start_token, s.end_token) for s in a.short_answers])
            assert [strip(a) for a in full.annotations] == [strip(a) for a in simple.annotations]
            assert len(full.annotations) == (1 if split == "train" else 5)


def test_byte_offsets(sample_dir, docs):
    path = sample_dir / "dev-full.jsonl.gz"
    for raw, doc in zip(_lines(path)[:30], docs["dev", "full"]):
        html = json.loads(raw)["document_html"].encode("utf-8")
        for tok, html_tok, s, e in zip(doc.tokens, doc.is_html, doc.start_bytes, doc.end_bytes):
            assert 0 <= s < e <= len(html)
            if html_tok:
                assert html[s:e].decode().upper().startswith(tok[:-1].upper())
            else:
                assert html[s:e].decode() == tok
        for c in doc.candidates:
            assert (c.start_byte, c.end_byte) == (doc.start_bytes[c.start_token], doc.end_bytes[c.end_token - 1])
        for a in doc.annotations:
            if a.has_long_answer:
                assert a.long_start_byte == doc.start_bytes[a.long_start_token]
                assert a.long_end_byte == doc.end_bytes[a.long_end_token - 1]
            for sa in a.short_answers:
                assert (sa.start_byte, sa.end_byte) == (doc.start_bytes[sa.start_token],
                                                         doc.end_bytes[sa.end_token - 1])


def _expected_top_level(doc):
    return [not any(o is not c and o.start_token <= c.start_token and c.end_token <= o.end_token
                    for o in doc.candidates) for c in doc.candidates]


def test_candidates(docs):
    for doc in docs["train", "simplified"][:100]:
        assert [c.top_level for c in doc.candidates] == _expected_top_level(doc)
        starts = [c.start_token for c in doc.candidates]
        assert starts == sorted(starts)
        for c in doc.candidates:
            opening, closing = doc.tokens[c.start_token], doc.tokens[c.end_token - 1]
            assert opening in ("<P>", "<Table>", "<Tr>", "<Ul>", "<Li>")
            assert closing == "</" + opening[1:]
        assert doc.tokens[0] == "<H1>"
        assert sum(not c.top_level for c in doc.candidates) >= 4  # table rows and list items
        assert 60 <= len(doc.tokens) <= 320


def _gold(doc):
    """The official 2-of-5 view: the most specific agreed annotation (a table row rather than the
    table), or None for null."""
    non_null = [a for a in doc.annotations if a.has_long_answer]
    if len(doc.annotations) > 1 and len(non_null) < 2:
        return None
    return max(non_null, key=lambda a: a.candidate_index) if non_null else None


def test_shares_and_answers(docs):
    for split, n in (("train", NUM_TRAIN), ("dev", NUM_DEV)):
        counts = {"null": 0, "yes_no": 0, "nested": 0}
        for doc in docs[split, "full"]:
            gold = _gold(doc)
            if gold is None:
                counts["null"] += 1
                assert all(not a.has_long_answer and not a.short_answers for a in doc.annotations)
                continue
            non_null = [a for a in doc.annotations if a.has_long_answer]
            if split == "dev":
                assert 3 <= len(non_null) <= 5
            cand = doc.candidates[gold.candidate_index]
            assert (cand.start_token, cand.end_token) == (gold.long_start_token, gold.long_end_token)
            for a in non_null:  # all agree, up to a table row vs its table
                assert a.yes_no_answer == gold.yes_no_answer
                assert [(s.start_token, s.end_token) for s in a.short_answers] == \
                       [(s.start_token, s.end_token) for s in gold.short_answers]
                if a.candidate_index != gold.candidate_index:
                    outer = doc.candidates[a.candidate_index]
                    assert not cand.top_level and outer.top_level and doc.tokens[outer.start_token] == "<Table>"
                    assert outer.start_token < cand.start_token and cand.end_token < outer.end_token
            if not cand.top_level and split == "dev":
                assert sum(a.candidate_index == gold.candidate_index for a in non_null) >= 2
            if gold.yes_no_answer != "NONE":
                counts["yes_no"] += 1
                assert not gold.short_answers and doc.tokens[cand.start_token] == "<P>"
                assert doc.question_text.startswith("is ")
            else:
                assert len(gold.short_answers) == 1
                span = gold.short_answers[0]
                assert cand.start_token < span.start_token < span.end_token < cand.end_token
                assert 1 <= span.end_token - span.start_token <= 4
                assert not any(doc.is_html[span.start_token:span.end_token])
            if not cand.top_level:
                counts["nested"] += 1
                assert doc.tokens[cand.start_token] == "<Tr>"
            else:
                assert doc.tokens[cand.start_token] == "<P>"
        tol = 0.12 if split == "train" else 0.2
        assert abs(counts["null"] / n - make_sample_nq.SHARE_NULL) < tol, counts
        assert abs(counts["yes_no"] / n - make_sample_nq.SHARE_YES_NO) < tol / 2 + 0.02, counts
        assert abs(counts["nested"] / n - make_sample_nq.SHARE_TABLE) < tol / 2 + 0.02, counts
        assert counts["yes_no"] > 0 and counts["nested"] > 0


def test_entities_disjoint(docs):
    titles = {split: [d.tokens[1] for d in docs[split, "full"]] for split in ("train", "dev")}
    for split in titles:
        assert len(set(titles[split])) == len(titles[split])  # one document per town
    assert not set(titles["train"]) & set(titles["dev"])
    assert all(make_sample_nq.entity_split(t) == "dev" for t in titles["dev"])


def _wordpiece(vocab_file):
    """word -> its WordPiece pieces by the `tokenizers` library, as BERT splits a basic word."""
    from tokenizers import Tokenizer, models

    tok = Tokenizer(models.WordPiece.from_file(str(vocab_file), unk_token="[UNK]"))
    return lambda word: tok.encode(word, add_special_tokens=False).tokens


def test_vocab(sample_dir, docs):
    lines = (sample_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    vocab = lines[:-1]
    assert len(vocab) == len(set(vocab))
    assert vocab[0] == "[PAD]"
    assert vocab[1:100] == [f"[unused{i}]" for i in range(99)]
    assert vocab[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab[104:313] == [f"[unused{i}]" for i in range(99, 308)]
    for c in ".,()0az":
        assert c in vocab and "##" + c in vocab
    known = set(vocab)
    pieces_of = _wordpiece(sample_dir / "vocab.txt")
    template = make_sample_nq.template_words()
    for split in ("train", "dev"):
        for doc in docs[split, "full"]:
            words = make_sample_nq.basic_words(doc.question_text)
            for tok, html in zip(doc.tokens, doc.is_html):
                if not html:
                    words += make_sample_nq.basic_words(tok)
            for w in words:
                pieces = pieces_of(w)
                assert "[UNK]" not in pieces, w
                if w in template:  # template words are whole tokens
                    assert pieces == [w]
            title = doc.tokens[1].lower()  # a town name: syllable pieces, never a whole token
            assert title not in known and len(pieces_of(title)) >= 2
    # The corpus words come sorted after the character block.
    tail = vocab[313 + 2 * len(make_sample_nq._PUNCT + "0123456789abcdefghijklmnopqrstuvwxyz"):]
    assert tail == sorted(tail) and "the" in tail and "founded" in tail and "##van" in tail


def test_vocab_works_with_make_nq_vocab(sample_dir, tmp_path):
    out = tmp_path / "vocab-nq.txt"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_nq_vocab.py"), "--input",
                           str(sample_dir / "vocab.txt"), "--output", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[104] == "[Q]" and lines[312] == "[/SA]"


# ----------------------------------------------------------------------------- large mode and flags


def test_large_examples():
    for original, simplified in make_sample_nq.make_examples(2, 0, "dev", large=True):
        size = len(json.dumps(original))
        doc = nq_data.document_from_json(original)
        simple = nq_data.document_from_json(simplified)
        assert simple.tokens == doc.tokens
        assert 6000 <= len(doc.tokens) <= 10000
        assert 30 <= sum(c.top_level for c in doc.candidates) <= 60
        assert size >= 400_000
        html = original["document_html"]
        assert "<SCRIPT>" in html and "<STYLE>" in html and 'class="wikitable' in html
        raw = html.encode("utf-8")
        assert all(raw[s:e].decode() == t for t, h, s, e in
                   zip(doc.tokens, doc.is_html, doc.start_bytes, doc.end_bytes) if not h)
        assert [c.top_level for c in doc.candidates] == _expected_top_level(doc)
        assert len(doc.annotations) == 5


@pytest.mark.parametrize("flag", ["--num_train=-1", "--num_dev=-3", "--num_train=abc", "--seed=x"])
def test_bad_flags(tmp_path, flag):
    proc = _run(f"--output_dir={tmp_path / 'out'}", flag)
    assert proc.returncode == 2
    assert flag.split("=")[0] in proc.stderr
    assert not (tmp_path / "out").exists()


def test_missing_output_dir_flag():
    proc = _run("--num_train=3")
    assert proc.returncode == 2 and "--output_dir" in proc.stderr


def test_output_dir_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    proc = _run(f"--output_dir={target}", "--num_train=1", "--num_dev=1")
    assert proc.returncode == 2 and "not a directory" in proc.stderr


def test_api_bad_arguments():
    with pytest.raises(ValueError):
        make_sample_nq.make_examples(-1)
    with pytest.raises(ValueError):
        make_sample_nq.make_examples(1, split="test")


def test_output_that_cannot_be_written(tmp_path):
    """One line naming the flag and the path, exit 2 (it was 1), and no file written."""
    (tmp_path / "vocab.txt").mkdir()
    proc = _run(f"--output_dir={tmp_path}", "--num_train=2", "--num_dev=1")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--output_dir" in proc.stderr and "vocab.txt" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]
