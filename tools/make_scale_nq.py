#!/usr/bin/env python
"""Writes NQ-shaped input at scale from a real original-format NQ example: N pages, gzipped shards.

  python tools/make_scale_nq.py --output_dir=data/scale --pages=5000 [--shards=5] [--seed=0]
      [--source=tests/data/nq-real/nq-dev-full-1.jsonl.gz]
      [--questions=tests/data/nq-real/nq-simplified-4.jsonl.gz]

Every page is the source example (its document_html, document_tokens with byte offsets,
candidates and annotations) varied in three ways that keep it a valid NQ example:
- a new, unique 64-bit example id (and new annotation ids);
- its question (question_text and question_tokens) taken in turn from the real questions:
  the source's own and those of `--questions` (any NQ file, either format);
- its top-level long-answer candidates (whole elements: paragraphs, lists, tables) in a random
  order, the HTML between them left in place; the HTML bytes, the tokens, every token's and
  candidate's byte and token offsets, the annotations' spans and candidate indices are
  rewritten to match, so each token still names its own bytes of the new HTML and each
  annotation the same words.

Lines are written as NQ's own are (JSON with sorted keys, `json.dumps`'s separators), so a page
is the source's size. Shards are `nq-dev-0000.jsonl.gz` ... (`--prefix`), pages dealt in
turn; the page ordinal and the seed fix every choice, so the same flags give the same files.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NQ_REAL = os.path.join(ROOT, "tests", "data", "nq-real")
DEFAULT_SOURCE = os.path.join(NQ_REAL, "nq-dev-full-1.jsonl.gz")
DEFAULT_QUESTIONS = os.path.join(NQ_REAL, "nq-simplified-4.jsonl.gz")
PROGRAM = "make_scale_nq"


def read_examples(path: str) -> list[dict]:
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class PageLayout:
    """The source page cut into pieces at its top-level candidates: gaps (the HTML and tokens
    between two top-level candidates, kept in place) and blocks (one top-level candidate
    with the candidates nested in it, moved as a whole)."""

    def __init__(self, example: dict):
        self.example = example
        self.html = example["document_html"].encode("utf-8")
        tokens = example["document_tokens"]
        candidates = example["long_answer_candidates"]
        tops = sorted((i for i, c in enumerate(candidates) if c["top_level"]),
                      key=lambda i: candidates[i]["start_token"])
        self.blocks, self.gaps = [], []  # (byte_lo, byte_hi, token_lo, token_hi)
        byte_at, token_at = 0, 0
        for i in tops:
            c = candidates[i]
            if c["start_token"] < token_at or c["start_byte"] < byte_at:
                raise ValueError(f"top-level candidate {i} overlaps the one before it")
            if (tokens[c["start_token"]]["start_byte"] != c["start_byte"]
                    or tokens[c["end_token"] - 1]["end_byte"] != c["end_byte"]):
                raise ValueError(f"candidate {i}: its byte span is not that of its tokens")
            self.gaps.append((byte_at, c["start_byte"], token_at, c["start_token"]))
            self.blocks.append((c["start_byte"], c["end_byte"], c["start_token"], c["end_token"]))
            byte_at, token_at = c["end_byte"], c["end_token"]
        self.tail = (byte_at, len(self.html), token_at, len(tokens))
        # the candidates of each block, in the source's order (a nested one after its parent)
        self.members = [[j for j, c in enumerate(candidates) if lo <= c["start_token"] < hi]
                        for _, _, lo, hi in self.blocks]

    def shuffled(self, order: list[int]) -> dict:
        """The page with block order[k] in the k-th block's place: a new example dict."""
        example, tokens = self.example, self.example["document_tokens"]
        pieces = [piece for k, block in enumerate(order) for piece in (self.gaps[k], self.blocks[block])]
        pieces.append(self.tail)
        html, new_tokens, shift = [], [], {}  # source token -> (byte shift, token shift) of its piece
        byte_at, token_at = 0, 0
        for byte_lo, byte_hi, token_lo, token_hi in pieces:
            delta = (byte_at - byte_lo, token_at - token_lo)
            if token_hi > token_lo:  # an empty gap (two adjacent candidates) holds no span
                shift[token_lo] = delta
            html.append(self.html[byte_lo:byte_hi])
            for t in tokens[token_lo:token_hi]:
                new_tokens.append(dict(t, start_byte=t["start_byte"] + delta[0], end_byte=t["end_byte"] + delta[0]))
            byte_at += byte_hi - byte_lo
            token_at += token_hi - token_lo
        piece_starts = sorted(shift)

        def moved(span: dict) -> dict:
            if span["start_token"] < 0:
                return dict(span)
            start = max(s for s in piece_starts if s <= span["start_token"])
            d_byte, d_token = shift[start]
            out = dict(span, start_token=span["start_token"] + d_token, end_token=span["end_token"] + d_token)
            if "start_byte" in span:
                out.update(start_byte=span["start_byte"] + d_byte, end_byte=span["end_byte"] + d_byte)
            return out

        source_candidates = example["long_answer_candidates"]
        new_index, candidates = {}, []
        for block in order:
            for j in self.members[block]:
                new_index[j] = len(candidates)
                candidates.append(moved(source_candidates[j]))
        annotations = []
        for a in example.get("annotations", []):
            long_answer = moved(a["long_answer"])
            if long_answer["candidate_index"] >= 0:
                long_answer["candidate_index"] = new_index[long_answer["candidate_index"]]
            annotations.append(dict(a, long_answer=long_answer, short_answers=[moved(s) for s in a["short_answers"]]))
        page = dict(example, document_html=b"".join(html).decode("utf-8"), document_tokens=new_tokens,
                    long_answer_candidates=candidates)
        if "annotations" in example:
            page["annotations"] = annotations
        return page


def scale_pages(source: dict | PageLayout, questions: list[str], pages: int, seed: int = 0) -> Iterator[dict]:
    """`pages` varied copies of `source` (an example or its layout; see the module's
    docstring), in order."""
    layout = source if isinstance(source, PageLayout) else PageLayout(source)
    rng = random.Random(seed)
    used_ids = set()
    for k in range(pages):
        order = list(range(len(layout.blocks)))
        rng.shuffle(order)
        page = layout.shuffled(order)
        example_id = rng.getrandbits(64) - (1 << 63)
        while example_id in used_ids:
            example_id = rng.getrandbits(64) - (1 << 63)
        used_ids.add(example_id)
        question = questions[k % len(questions)]
        page.update(example_id=example_id, question_text=question, question_tokens=question.split())
        for a in page.get("annotations", []):
            a["annotation_id"] = rng.getrandbits(64)
        yield page


def write_shards(output_dir: str, pages: Iterator[dict], shards: int, prefix: str = "nq-dev"
                 ) -> tuple[list[str], int]:
    """Deals the pages in turn into `shards` gzipped files; returns their paths and the bytes
    of the lines written (before compression)."""
    os.makedirs(output_dir, exist_ok=True)
    paths = [os.path.join(output_dir, f"{prefix}-{i:04d}.jsonl.gz") for i in range(shards)]
    temporaries = [p + ".tmp" for p in paths]
    handles = [gzip.open(p, "wb", compresslevel=6) for p in temporaries]
    raw_bytes = 0
    try:
        for k, page in enumerate(pages):
            line = json.dumps(page, sort_keys=True).encode("utf-8") + b"\n"
            handles[k % shards].write(line)
            raw_bytes += len(line)
    except BaseException:
        for h, p in zip(handles, temporaries):
            h.close()
            os.remove(p)
        raise
    for h, tmp, path in zip(handles, temporaries, paths):
        h.close()
        os.replace(tmp, path)
    return paths, raw_bytes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--shards", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", default="nq-dev")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="an original-format NQ file: its first example")
    parser.add_argument("--questions", default=DEFAULT_QUESTIONS, help="NQ file(s), comma-separated, whose "
                        "questions the pages take in turn after the source's own")
    args = parser.parse_args(argv)
    from nq_baseline.common.cli import fail

    for flag in ("pages", "shards"):
        if getattr(args, flag) < 1:
            fail(PROGRAM, f"--{flag} must be at least 1, got {getattr(args, flag)}")
    try:
        source = read_examples(args.source)
        questions = [source[0]["question_text"]] if source else []
        questions += [e["question_text"] for path in filter(None, args.questions.split(","))
                      for e in read_examples(path)]
    except (OSError, ValueError, KeyError) as err:
        fail(PROGRAM, f"cannot read the NQ examples: {err}")
    if not source or "document_html" not in source[0]:
        fail(PROGRAM, f"{args.source}:1: not an original-format NQ example (no document_html)")
    try:
        layout = PageLayout(source[0])
    except (ValueError, KeyError) as err:
        fail(PROGRAM, f"{args.source}:1: {err}")
    paths, raw_bytes = write_shards(args.output_dir, scale_pages(layout, questions, args.pages, args.seed),
                                    args.shards, args.prefix)
    print(json.dumps({"pages": args.pages, "shards": paths, "questions": len(questions), "raw_bytes": raw_bytes}))


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
