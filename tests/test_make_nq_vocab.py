"""tools/make_nq_vocab.py: bert_joint's vocab-nq.txt from a BERT vocab.txt."""

import gzip
import subprocess
import sys

from conftest import BERT_JOINT_VOCAB, ROOT


def test_vocab_builder_reproduces_bert_joint_vocab(nq_vocab):
    assert nq_vocab.read_bytes() == gzip.decompress(BERT_JOINT_VOCAB.read_bytes())


def test_vocab_builder_fails_without_unused_slots(tmp_path):
    small = tmp_path / "vocab.txt"
    small.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")
    out = tmp_path / "out.txt"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_nq_vocab.py"), "--input", str(small),
                           "--output", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unused" in proc.stderr and str(small) in proc.stderr
    assert not out.exists()



def test_vocab_builder_output_that_cannot_be_written(bert_vocab, tmp_path):
    """An output that is a folder: one line naming the flag, exit 2, no temporary left."""
    out = tmp_path / "vocab-nq.txt"
    out.mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_nq_vocab.py"), "--input", str(bert_vocab),
                           "--output", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--output" in proc.stderr and str(out) in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab-nq.txt"] and not list(out.iterdir())
