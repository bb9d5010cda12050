#!/usr/bin/env python
"""Cuts tests/data/squad/dev-v1.1-slice.json.gz from the 39-article SQuAD v1.1 dev copy.

  python tests/data/cut_squad_slice.py ../shared/data/squad/dev-v1.1-train39.json

Every one of the 39 articles keeps its title and place; an article keeps its first paragraphs
(whole: context and every question), as many as the tests read from it; the three articles that
tests/test_squad_to_nq.py converts (2 Normans, 7 Sky_(United_Kingdom), 11 1973_oil_crisis)
stay whole.  The output is deterministic (gzip without a timestamp).
"""

import gzip
import json
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "squad" / "dev-v1.1-slice.json.gz"
WHOLE = {2, 7, 11}


def paragraphs_kept(index: int) -> int:
    """How many leading paragraphs of article `index` the tests read (test_export.py: the first
    two of the first 30 articles, the third of the first 20, five of articles 3-8)."""
    if 3 <= index <= 8:
        return 5
    return 3 if index < 20 else 2


def cut(data: list[dict]) -> list[dict]:
    return [article if i in WHOLE else {"title": article["title"],
                                        "paragraphs": article["paragraphs"][:paragraphs_kept(i)]}
            for i, article in enumerate(data)]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.exit(f"usage: {argv[0]} dev-v1.1-train39.json")
    with open(argv[1], encoding="utf-8") as handle:
        squad = json.load(handle)
    if len(squad["data"]) != 39:
        sys.exit(f"{argv[1]}: {len(squad['data'])} articles, expected the 39-article copy")
    text = json.dumps({"version": squad["version"], "data": cut(squad["data"])}, ensure_ascii=False)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                  compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
