#!/usr/bin/env python
"""Converts SQuAD v1.1 / v2.0 JSON into Natural Questions examples (both NQ formats).

Every question is asked over its WHOLE article, as NQ asks over a whole Wikipedia page:

  <H1> title </H1> <P> paragraph 1 </P> <P> paragraph 2 </P> ...

Each `<P> ... </P>` is a top-level long-answer candidate (token and byte offsets).  An
answer's long answer is the paragraph it lies in; its short answer is the word tokens
that cover SQuAD's answer characters (paragraph text split into NQ-like tokens by
`nq_writer.tokenize`: whitespace, punctuation split off, 13,000 and U.S. kept whole; the
documents and both output formats are built by `nq_baseline.reading.nq_writer`).  One annotation per SQuAD answer (dev questions
with several answers get several annotators, so the official 2-of-5 rule applies;
duplicates are kept).  A SQuAD 2.0 impossible question gets one null annotation, and
`--null_rate` adds that share of questions asked over ANOTHER article (same output
split) as extra null examples.

  python tools/squad_to_nq.py --input dev-v1.1.json --output_dir out \
      [--titles titles.txt] [--articles 0-29,35] [--split 30] [--null_rate 0.1] [--seed 0]

The input may be gzipped.  `--titles` names the articles to take, one title a line, in the
order given (a file holding other articles too gives the same output); `--articles` then
indexes the articles taken.

writes `<prefix>-full.jsonl.gz` (original format: document_html, document_tokens with
byte offsets) and `<prefix>-simplified.jsonl.gz` (document_text), prefix `train`/`dev`
with --split K (the first K selected articles are train), else `all`.  Output is
deterministic; files are written under temporary names and renamed.  Bad input exits 2
with one message naming the file (and the question id).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import os
import random
import re
import string
import sys
import unicodedata
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Optional

import orjson

from nq_baseline.reading import nq_writer
from nq_baseline.common.fileio import atomic_output
from nq_baseline.common.cli import fail
from nq_baseline.reading.nq_writer import GoldAnswer, tokenize  # noqa: F401  (tokenize: part of this tool's API)

WIKI_URL = "https://en.wikipedia.org/wiki/"
_PUNCT = set(string.punctuation)


class SquadInputError(ValueError):
    """Bad SQuAD input; the message names the file (and the question id)."""


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and whitespace (for comparing decoded answers)."""
    return "".join(c for c in text.lower()
                   if not c.isspace() and c not in _PUNCT and not unicodedata.category(c).startswith("P"))


def stable_id(*parts: str) -> int:
    """A deterministic, positive 63-bit id from strings."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclasses.dataclass
class Article:
    """One SQuAD article as an NQ document: `<H1> title </H1>` then one `<P>` per paragraph."""

    index: int
    title: str
    contexts: list[str]
    doc: nq_writer.NqPage


def build_article(index: int, title: str, contexts: list[str]) -> Article:
    """One SQuAD article -> the NQ document (tokens, HTML, candidates), built by nq_writer."""
    shown = title.replace("_", " ")
    doc = nq_writer.build_document(shown, [("p", nq_writer.Text(c)) for c in contexts],
                                   url=WIKI_URL + title.replace(" ", "_"))
    return Article(index, shown, contexts, doc)


@dataclasses.dataclass
class Question:
    qid: str
    text: str
    article: int  # index into the selected articles
    answers: list[Optional[GoldAnswer]]  # one per annotator; None: null
    annotation_ids: list[int]
    example_id: int
    num_answers: int = 0

    @property
    def is_null(self) -> bool:
        return all(a is None for a in self.answers)


def parse_article_spec(spec: Optional[str], num_articles: int, source: str) -> list[int]:
    """'0-29,35' -> [0..29, 35] (order kept, duplicates dropped); None -> all."""
    if spec is None or not spec.strip():
        return list(range(num_articles))
    chosen: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise SquadInputError(f"--articles: {part!r} is not an index or a range like 0-29")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo or hi >= num_articles:
            raise SquadInputError(f"--articles: {part!r} out of range: {source} has {num_articles} articles")
        chosen.extend(i for i in range(lo, hi + 1) if i not in chosen)
    return chosen


def load_squad(path: str) -> list[dict]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise SquadInputError(f"{path}: unreadable ({err.strerror or err})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise SquadInputError(f"{path}: a broken gzip file ({err})") from None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise SquadInputError(f"{path}: not JSON ({err})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise SquadInputError(f"{path}: not SQuAD JSON (expected an object with a 'data' list of articles)")
    return obj["data"]


def read_titles(path: str) -> list[str]:
    """The article titles of `path`, one a line (blank lines ignored), each once."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SquadInputError(f"--titles {path}: unreadable ({getattr(err, 'strerror', None) or err})") from None
    titles, first_line = [], {}
    for number, line in enumerate(lines, 1):
        title = line.strip()
        if not title:
            continue
        if title in first_line:
            raise SquadInputError(f"{path}:{number}: {title!r} again (first on line {first_line[title]})")
        first_line[title] = number
        titles.append(title)
    if not titles:
        raise SquadInputError(f"--titles {path}: lists no title")
    return titles


def select_by_title(data: list[dict], titles: list[str], source: str, titles_path: str) -> list[dict]:
    """The articles of `data` named by `titles`, in the order of `titles`."""
    found: dict[str, list[dict]] = {}
    for article in data:
        if isinstance(article, dict) and "title" in article:
            found.setdefault(str(article["title"]), []).append(article)
    missing = [t for t in titles if t not in found]
    if missing:
        shown = ", ".join(repr(t) for t in missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise SquadInputError(f"{source}: lacks {len(missing)} of the {len(titles)} articles of {titles_path}: "
                              f"{shown}")
    twice = [t for t in titles if len(found[t]) > 1]
    if twice:
        raise SquadInputError(f"{source}: {len(found[twice[0]])} articles are titled {twice[0]!r}")
    return [found[t][0] for t in titles]


@dataclasses.dataclass
class Converted:
    articles: list[Article]
    questions: list[Question]
    stats: dict


def convert(data: list[dict], selected: list[int], source: str = "<squad>") -> Converted:
    """SQuAD articles (indices `selected`) -> Articles and Questions with their annotations."""
    articles, questions = [], []
    stats = {"num_questions": 0, "num_answers": 0, "num_impossible": 0, "num_decoded": 0,
             "num_text_mismatch": 0}
    seen: set[str] = set()
    for pos, index in enumerate(selected):
        art = data[index]
        where = f"{source}: article {index}"
        if not isinstance(art, dict) or not isinstance(art.get("paragraphs"), list):
            raise SquadInputError(f"{where}: not a SQuAD article (no 'paragraphs' list)")
        title = str(art.get("title", f"article_{index}"))
        try:
            contexts = [p["context"] for p in art["paragraphs"]]
            if not all(isinstance(c, str) for c in contexts):
                raise TypeError
        except (KeyError, TypeError):
            raise SquadInputError(f"{where}: a paragraph lacks its 'context' text") from None
        article = build_article(pos, title, contexts)
        articles.append(article)
        for block, (context, p) in enumerate(zip(contexts, art["paragraphs"])):
            for qa in p.get("qas", []):
                try:
                    qid, qtext = str(qa["id"]), qa["question"]
                    answers = qa.get("answers", [])
                except (KeyError, TypeError):
                    raise SquadInputError(f"{where}: a question lacks 'id' or 'question'") from None
                if qid in seen:
                    raise SquadInputError(f"{source}: question {qid}: duplicate question id")
                seen.add(qid)
                stats["num_questions"] += 1
                impossible = bool(qa.get("is_impossible", False)) or not answers
                if impossible:
                    stats["num_impossible"] += 1
                    questions.append(Question(qid, qtext, pos, [None], [stable_id("squad-annotation", qid, "null")],
                                              stable_id("squad", qid)))
                    continue
                anns, ids = [], []
                for k, ans in enumerate(answers):
                    try:
                        start, text = int(ans["answer_start"]), str(ans["text"])
                    except (KeyError, TypeError, ValueError):
                        raise SquadInputError(f"{source}: question {qid}: an answer lacks "
                                              "'answer_start' or 'text'") from None
                    if start < 0 or start + len(text) > len(context) or not text.strip():
                        raise SquadInputError(
                            f"{source}: question {qid}: answer_start {start} (+{len(text)} chars) out of "
                            f"range for its paragraph of {len(context)} chars")
                    answer = GoldAnswer(block=block, chars=(start, start + len(text)))
                    try:
                        _, ((s, e),) = article.doc.resolve(answer)
                    except ValueError:
                        raise SquadInputError(f"{source}: question {qid}: answer {text!r} covers no word") from None
                    if context[start:start + len(text)] != text:
                        stats["num_text_mismatch"] += 1
                    decoded = " ".join(t["token"] for t in article.doc.tokens[s:e])
                    stats["num_answers"] += 1
                    stats["num_decoded"] += normalize_answer(decoded) == normalize_answer(text)
                    anns.append(answer)
                    ids.append(stable_id("squad-annotation", qid, str(k)))
                questions.append(Question(qid, qtext, pos, anns, ids, stable_id("squad", qid), len(answers)))
    return Converted(articles, questions, stats)


def null_pairs(questions: list[Question], article_ids: list[int], rate: float, seed: int,
               tag: str, fallback_ids: Optional[list[int]] = None) -> list[Question]:
    """`rate` of the questions, each asked over another article of `article_ids` (null answer).

    A split of one article borrows the other articles from `fallback_ids` (all selected ones)."""
    if len(set(article_ids)) < 2 and fallback_ids is not None:
        article_ids = fallback_ids
    if rate <= 0 or not questions or len(set(article_ids)) < 2:
        return []
    rng = random.Random(f"{seed}:{tag}")
    count = min(len(questions), int(round(rate * len(questions))))
    chosen = sorted(rng.sample(range(len(questions)), count))
    out = []
    for i in chosen:
        q = questions[i]
        other = rng.choice([a for a in article_ids if a != q.article])
        out.append(Question(q.qid, q.text, other, [None], [stable_id("squad-null-annotation", q.qid, str(other))],
                            stable_id("squad-null", q.qid, str(other))))
    return out


def example_lines(q: Question, article: Article) -> tuple[bytes, bytes]:
    """One question -> (original-format line, simplified-format line), newline-terminated."""
    return article.doc.example_lines(q.example_id, q.text, q.answers, q.annotation_ids)


def _write_gz(path: str, lines: Iterable[bytes], compresslevel: int) -> int:
    """Writes lines to `path` atomically (gzip, no timestamp); returns the count."""
    count = 0
    with atomic_output(path) as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                   compresslevel=compresslevel) as gz:
        buf, size = [], 0
        for line in lines:
            buf.append(line)
            size += len(line)
            count += 1
            if size >= 1 << 22:
                gz.write(b"".join(buf))
                buf, size = [], 0
        gz.write(b"".join(buf))
    return count


def write_outputs(groups: dict[str, list[Question]], articles: list[Article], output_dir: str,
                  compresslevel: int = 1, workers: int = 2) -> dict[str, int]:
    """Writes <prefix>-full.jsonl.gz and <prefix>-simplified.jsonl.gz for every group."""
    os.makedirs(output_dir, exist_ok=True)
    for a in articles:  # serialize each article once, before the threads share it
        if a.doc.tokens:
            a.doc.example_lines(0, "", [])

    def lines(qs, which):
        for q in qs:
            yield example_lines(q, articles[q.article])[which]

    jobs = []
    for prefix, qs in groups.items():
        jobs.append((os.path.join(output_dir, f"{prefix}-full.jsonl.gz"), qs, 0))
        jobs.append((os.path.join(output_dir, f"{prefix}-simplified.jsonl.gz"), qs, 1))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {path: pool.submit(_write_gz, path, lines(qs, which), compresslevel)
                   for path, qs, which in jobs}
        return {path: f.result() for path, f in futures.items()}


def run(input_path: str, output_dir: str, articles: Optional[str] = None, split: int = 0,
        null_rate: float = 0.0, seed: int = 0, compresslevel: int = 1, titles: Optional[str] = None) -> dict:
    """The whole conversion; returns a summary (counts per output file, decoding stats).
    `titles`: a file of the article titles to take (read_titles), before `articles` indexes them."""
    if not 0.0 <= null_rate <= 1.0:
        raise SquadInputError(f"--null_rate {null_rate} is not in [0, 1]")
    if split < 0:
        raise SquadInputError(f"--split {split} is negative")
    data = load_squad(input_path)
    if titles:
        data = select_by_title(data, read_titles(titles), input_path, titles)
    selected = parse_article_spec(articles, len(data), input_path)
    conv = convert(data, selected, input_path)
    if split:
        ranges = {"train": list(range(0, min(split, len(selected)))),
                  "dev": list(range(min(split, len(selected)), len(selected)))}
    else:
        ranges = {"all": list(range(len(selected)))}
    groups = {}
    for prefix, ids in ranges.items():
        members = set(ids)
        qs = [q for q in conv.questions if q.article in members]
        groups[prefix] = qs + null_pairs(qs, ids, null_rate, seed, prefix, list(range(len(selected))))
    counts = write_outputs(groups, conv.articles, output_dir, compresslevel)
    stats = dict(conv.stats)
    stats["answer_decoding_share"] = stats["num_decoded"] / max(1, stats["num_answers"])
    return {"files": counts, "stats": stats,
            "examples": {p: len(qs) for p, qs in groups.items()},
            "null_examples": {p: sum(q.is_null for q in qs) for p, qs in groups.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="SQuAD v1.1/v2.0 JSON file (may be gzipped)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--titles", default=None,
                        help="a file of article titles, one a line: those articles, in that order")
    parser.add_argument("--articles", default=None, help="article indices/ranges, e.g. 0-29,35 (default all)")
    parser.add_argument("--split", type=int, default=0,
                        help="the first K selected articles -> train-*, the rest -> dev-*; 0: all-*")
    parser.add_argument("--null_rate", type=float, default=0.0,
                        help="share of questions also asked over another article (null answer)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compresslevel", type=int, default=1, choices=range(1, 10),
                        help="gzip level (1: fast; the full format repeats the article per question)")
    args = parser.parse_args(argv)
    try:
        summary = run(args.input, args.output_dir, args.articles, args.split, args.null_rate,
                      args.seed, args.compresslevel, args.titles)
    except SquadInputError as err:
        fail("squad_to_nq", str(err))
    except OSError as err:  # the output directory cannot be written
        fail("squad_to_nq", f"cannot write {err.filename or args.output_dir} ({err.strerror or err})")
    st = summary["stats"]
    for path, n in summary["files"].items():
        print(f"wrote {n} examples to {path}")
    print(f"{st['num_questions']} questions, {st['num_answers']} answers, {st['num_impossible']} impossible; "
          f"short answers decoding to the SQuAD text: {st['num_decoded']}/{st['num_answers']} "
          f"({100 * st['answer_decoding_share']:.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
