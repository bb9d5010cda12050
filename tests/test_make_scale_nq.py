"""tools/make_scale_nq.py: NQ-shaped pages at scale from the real original-format example.

The references are the real example itself (each token's own bytes of its HTML, its annotated
words) and Google's natural-questions package (its simplification of an original-format example
into the token text every span indexes, its reader of gold annotations)."""

import copy
import glob
import gzip
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from conftest import NQ_REAL, ROOT
from nq_baseline.reading.nq_data import parse_line

TOOL = ROOT / "tools" / "make_scale_nq.py"
_spec = importlib.util.spec_from_file_location("make_scale_nq", TOOL)
make_scale_nq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_scale_nq)

SOURCE = NQ_REAL / "nq-dev-full-1.jsonl.gz"
text_utils = pytest.importorskip("natural_questions.text_utils")


@pytest.fixture(scope="module")
def source():
    return make_scale_nq.read_examples(str(SOURCE))[0]


@pytest.fixture(scope="module")
def pages(source):
    questions = [source["question_text"], "who held the most wwe titles at one time"]
    return list(make_scale_nq.scale_pages(source, questions, 12, seed=5))


def _words(simplified, span):
    return simplified["document_text"].split(" ")[span["start_token"]:span["end_token"]]


def _token_bytes(example):
    html = example["document_html"].encode("utf-8")
    return Counter((t["token"], html[t["start_byte"]:t["end_byte"]]) for t in example["document_tokens"])


def test_every_token_keeps_its_own_bytes_of_the_html(source, pages):
    expected = _token_bytes(source)
    for page in pages:
        assert len(page["document_html"].encode("utf-8")) == len(source["document_html"].encode("utf-8"))
        assert _token_bytes(page) == expected


def test_annotations_and_candidates_name_the_same_words(source, pages):
    """Through Google's simplify_nq_example: every annotated span and every candidate of a page
    reads the words it read in the real example."""
    original = text_utils.simplify_nq_example(copy.deepcopy(source))
    original_candidates = Counter(tuple(_words(original, c)) for c in original["long_answer_candidates"])
    for page in pages:
        simplified = text_utils.simplify_nq_example(copy.deepcopy(page))
        assert Counter(tuple(_words(simplified, c)) for c in simplified["long_answer_candidates"]) == \
            original_candidates
        for new, old in zip(simplified["annotations"], original["annotations"], strict=True):
            assert _words(simplified, new["long_answer"]) == _words(original, old["long_answer"])
            index = new["long_answer"]["candidate_index"]
            if index >= 0:
                candidate = simplified["long_answer_candidates"][index]
                assert (candidate["start_token"], candidate["end_token"]) == \
                    (new["long_answer"]["start_token"], new["long_answer"]["end_token"])
            assert [_words(simplified, s) for s in new["short_answers"]] == \
                [_words(original, s) for s in old["short_answers"]]


def test_pages_are_valid_distinct_nq_examples(source, pages):
    starts = set()
    for k, page in enumerate(pages):
        line = json.dumps(page, sort_keys=True).encode()
        doc = parse_line(line, "page", k + 1)  # the project's reader: offsets, candidates, annotations checked
        assert doc.example_id == page["example_id"]
        candidates = page["long_answer_candidates"]
        assert [c["start_token"] for c in candidates] == sorted(c["start_token"] for c in candidates)
        for before, after in zip(candidates, candidates[1:]):
            assert before["end_token"] <= after["start_token"]  # top-level, one after another
        assert page["question_tokens"] == page["question_text"].split()
        starts.add(tuple(c["start_token"] for c in candidates))
    assert len({p["example_id"] for p in pages}) == len(pages)
    wwe = "who held the most wwe titles at one time"
    assert [p["question_text"] for p in pages[:3]] == [source["question_text"], wwe, source["question_text"]]
    assert len(starts) > len(pages) // 2  # the paragraph orders differ
    again = list(make_scale_nq.scale_pages(source, [source["question_text"]], 3, seed=5))
    assert [p["document_html"] for p in again] == [p["document_html"] for p in pages[:3]]


def _run(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_the_tool_writes_gzipped_shards_the_official_reader_reads(tmp_path, source):
    proc = _run(f"--output_dir={tmp_path}", "--pages=7", "--shards=3")
    assert proc.returncode == 0, proc.stderr
    shards = sorted(glob.glob(str(tmp_path / "nq-dev-*.jsonl.gz")))
    assert [os.path.basename(p) for p in shards] == [f"nq-dev-000{i}.jsonl.gz" for i in range(3)]
    lines = []
    for path in shards:
        with gzip.open(path, "rb") as handle:
            lines.append(handle.read().splitlines())
    assert [len(x) for x in lines] == [3, 2, 2]  # dealt in turn
    assert json.loads(proc.stdout)["raw_bytes"] == sum(len(line) + 1 for x in lines for line in x)
    eval_utils = pytest.importorskip("natural_questions.eval_utils")
    gold = {}
    for path in shards:
        gold.update(eval_utils.read_annotation_from_one_split(path))
    assert len(gold) == 7
    by_id = {e["example_id"]: e for x in lines for e in map(json.loads, x)}
    answer = source["annotations"][3]["long_answer"]  # the annotation with a long and a short answer
    expected = source["document_html"].encode()[answer["start_byte"]:answer["end_byte"]]
    for example_id, labels in gold.items():
        span = labels[3].long_answer_span
        assert by_id[example_id]["document_html"].encode()[span.start_byte:span.end_byte] == expected


def test_refuses_a_simplified_source(tmp_path):
    proc = _run(f"--output_dir={tmp_path}", f"--source={NQ_REAL / 'nq-simplified-4.jsonl.gz'}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"make_scale_nq: error: {NQ_REAL / 'nq-simplified-4.jsonl.gz'}:1: not an "
                                   "original-format NQ example (no document_html)")
    assert not list(tmp_path.iterdir())
