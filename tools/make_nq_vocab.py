#!/usr/bin/env python
"""Builds bert_joint's vocab-nq.txt from any BERT vocab.txt.

The 209 Natural Questions marker tokens ([Q], [YES], [NO], [NoLongAnswer], [NoShortAnswer],
[Paragraph=1..50], [Table=1..50], [List=1..50], [ContextId=-1..50], [SA], [/SA]) take the
places of [unused99] .. [unused307], in that order, as in the vocabulary bert_joint shipped.
Every other line is kept byte for byte.

  python tools/make_nq_vocab.py --input vocab.txt --output vocab-nq.txt
"""

import argparse
import sys

from nq_baseline.common.fileio import atomic_write
from nq_baseline.common.cli import fail
from nq_baseline.features.tokenization import nq_tokens

FIRST_SLOT = 99


def build(lines: list[bytes], source: str = "vocab") -> list[bytes]:
    """vocab lines (with their line endings) -> the NQ vocab lines."""
    tokens = nq_tokens()
    slots = {f"[unused{FIRST_SLOT + i}]".encode(): tok.encode() for i, tok in enumerate(tokens)}
    found = {}
    for index, line in enumerate(lines):
        key = line.rstrip(b"\r\n")
        if key in slots:
            found[key] = index
    missing = [k.decode() for k in slots if k not in found]
    if missing:
        raise ValueError(f"{source}: the vocabulary lacks {len(missing)} of the {len(slots)} unused slots "
                         f"[unused{FIRST_SLOT}]..[unused{FIRST_SLOT + len(tokens) - 1}] that the NQ tokens "
                         f"replace (first missing: {missing[0]})")
    present = {line.rstrip(b"\r\n") for line in lines}
    clash = [t for t in tokens if t.encode() in present]
    if clash:
        raise ValueError(f"{source}: the vocabulary already holds NQ token {clash[0]} (already converted?)")
    out = list(lines)
    for key, index in found.items():
        ending = lines[index][len(key):]
        out[index] = slots[key] + ending
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="BERT vocab.txt")
    parser.add_argument("--output", required=True, help="where to write vocab-nq.txt")
    args = parser.parse_args(argv)
    try:
        with open(args.input, "rb") as handle:
            lines = handle.readlines()
        out = build(lines, args.input)
    except (OSError, ValueError) as err:
        fail("make_nq_vocab", str(err))
    try:
        atomic_write(args.output, b"".join(out))
    except OSError as err:
        fail("make_nq_vocab", f"--output {args.output}: cannot write it ({err.strerror or err})")
    print(f"make_nq_vocab: wrote {args.output} ({len(out)} tokens, {len(nq_tokens())} NQ tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
