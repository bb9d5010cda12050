"""inputs: paths and globs, gzip by content, line reading (by bytes or by reference)."""

import gzip
import os

import pytest

from nq_baseline.common import inputs
from nq_baseline.common.errors import NqInputError


@pytest.mark.parametrize("block_size", [5, 64, 1 << 22])
def test_line_refs_read_back_the_same_lines(tmp_path, block_size):
    """Workers read plain files themselves from (offset, length) references: the lines, their
    numbers and the blank lines skipped are those of the plain line reader, whatever the
    buffer boundaries, and gzip lines come through as bytes."""
    lines = [b'{"a": 1}\n', b"\n", b"   \n", b'  {"b": 2}\r\n', b'{"c": "' + b"x" * 300 + b'"}\n',
             b"\t\n", b'{"d": 4}']  # the last line has no newline
    plain = tmp_path / "p.jsonl"
    plain.write_bytes(b"".join(lines))
    packed = tmp_path / "p.jsonl.gz"
    packed.write_bytes(gzip.compress(b"".join(lines)))
    for path in (plain, packed):
        reader = inputs.LineReader()
        refs = list(inputs.iter_line_refs(str(path), block_size=block_size))
        got = [(p, n, reader.read(p, n, ref)) for p, n, ref in refs]
        assert got == list(inputs.iter_lines(str(path)))
        assert [n for _, n, _ in got] == [1, 4, 5, 7]
        assert all(isinstance(ref, inputs.LineRef) == (path == plain) for _, _, ref in refs)
        reader.close()


def test_directory_input_is_named():
    with pytest.raises(NqInputError, match="is a directory"):
        list(inputs.iter_lines(os.path.dirname(__file__)))
