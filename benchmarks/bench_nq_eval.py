"""Benchmark: nq_baseline.nq_eval against the official NQ scorer, back to back in one process.

The data is SYNTHETIC: gold in the ORIGINAL NQ format (document_tokens with byte offsets, a
document_html of about 40 bytes per token, ~50 long-answer candidates, 5 annotations) and
random predictions, in three shapes:

* one_file: 2,000 examples (~310 KB of JSON each) in one .jsonl.gz;
* five_files: the same kind of gold dealt to 5 .jsonl.gz files, as NQ dev ships
  (nq-dev-00..04): the official scorer reads files in parallel processes, one per file;
* whole_article: 400 examples of ~700 KB (whole Wikipedia pages) in one file.

Per shape, `--rounds` alternating rounds (which scorer goes first alternates) of:
* official cold: `natural_questions.nq_eval.get_metrics_as_dict` (parses the gold from disk);
* ours cold: `nq_eval.evaluate(gold, predictions)` (parses the gold from disk, no cache).
On one_file also:
* ours with our cache vs none: `cache_gold_data=True` once the cache exists, against the
  official scorer cold (it has no cache); the cache key is the SHA-256 of the gold bytes,
  so a run with the cache hashes the whole gold file;
* the cache key's cost: SHA-256 of the gold file, beside BLAKE2b and CRC-32 over the same
  bytes, as a share of our cold read;
* the gold reader's key scanner against a msgspec struct over {example_id, annotations}.

Headline figures are medians of the rounds with min and max (and per-round ratio spread).
Prints one JSON line, and exits 1 when the metrics differ or the bars (5x cold on every
shape, 20x with the cache) are missed.

    python benchmarks/bench_nq_eval.py [--scale 1] [--rounds 3] [--shapes one_file,five_files,whole_article]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Optional, Union

import msgspec
from absl import flags

from nq_baseline.evaluation import scorer as nq_eval

from nq_baseline.evaluation import gold as nq_gold
from rounds import ratio_spread, spread

WORDS = [w for w in (
    "the of and in to a was is for on as by with he at from that his it an were are which this be or "
    "first also had has not but after one their new its they who her she been two all can time year "
    "city states united during more other would most american when into world there season later "
    "school three war film national team over may years between some only under university album "
    "series county known where released state then about these born called became used both such "
    "river north game number south band history church house four well music being until since "
    "monsoon trade winds ocean ship route empire market coast island summer winter rain dry season"
).split()]


def _document(rng: random.Random, n_tokens: int):
    """(json fragment with html/title/tokens/url, candidates, n_tokens) for one document."""
    tokens, html = [], []
    pos = 0
    candidates = []
    i = 0
    while i < n_tokens:
        # A paragraph: <P> words... </P>; every paragraph is a top-level candidate.
        length = rng.randint(20, 120)
        start_tok, start_byte = i, pos
        for k in range(length + 2):
            if i >= n_tokens:
                break
            if k == 0 or k == length + 1 or i == n_tokens - 1:
                text, is_html = ("<P>" if k == 0 else "</P>"), True
            else:
                text, is_html = rng.choice(WORDS), False
            # Real NQ html wraps many words in links and styled spans (~40 bytes per token).
            if is_html:
                markup = '<p class="mw-para">' if text == "<P>" else "</p>\n"
            elif rng.random() < 0.35:
                markup = f'<a href="/wiki/{text.capitalize()}_{rng.randint(1, 999)}" title="{text}">{text}</a> '
            else:
                markup = text + " "
            html.append(markup)
            tokens.append({"end_byte": pos + len(text), "html_token": is_html, "start_byte": pos, "token": text})
            pos += len(markup)
            i += 1
        if i - start_tok >= 2:
            candidates.append({"end_byte": pos - 1, "end_token": i, "start_byte": start_byte,
                               "start_token": start_tok, "top_level": True})
    html_text = ('<!DOCTYPE html><html lang="en"><head><title>Synthetic - Wikipedia</title></head>'
                 '<body class="mediawiki"><div id="content">' + "".join(html) + "</div></body></html>")
    middle = json.dumps({"document_html": html_text, "document_title": "Synthetic",
                         "document_tokens": tokens,
                         "document_url": "https://en.wikipedia.org//w/index.php?title=Synthetic"})[1:-1]
    # Keep about 50 candidates (real NQ has nested ones too: split long paragraphs).
    while len(candidates) < 50:
        c = rng.choice(candidates)
        if c["end_token"] - c["start_token"] > 4:
            mid = (c["start_token"] + c["end_token"]) // 2
            candidates.append({"end_byte": tokens[mid - 1]["end_byte"], "end_token": mid,
                               "start_byte": c["start_byte"], "start_token": c["start_token"],
                               "top_level": False})
    return middle.encode(), candidates[:60], tokens


def _span(c):
    return {k: c[k] for k in ("start_byte", "end_byte", "start_token", "end_token")}


NULL = {"start_byte": -1, "end_byte": -1, "start_token": -1, "end_token": -1}


def write_data(directory: Path, n_examples: int, seed: int = 0, tokens: tuple[int, int] = (1500, 5000),
               files: int = 1, name: str = "nq-dev"):
    """Writes `n_examples` gold lines (documents of `tokens` tokens) and random predictions.
    With files > 1 the lines are dealt in turn to `files` gzip files, as NQ dev ships
    (nq-dev-00.jsonl.gz ... nq-dev-04.jsonl.gz); returns (gold glob, predictions, raw bytes)."""
    rng = random.Random(seed)
    pool = [_document(rng, rng.randint(*tokens)) for _ in range(48 if tokens[1] <= 5000 else 12)]
    paths = [directory / (f"{name}.jsonl.gz" if files == 1 else f"{name}-{k:02d}.jsonl.gz") for k in range(files)]
    predictions = []
    raw_bytes = 0
    outs = [gzip.open(p, "wb", compresslevel=1) for p in paths]
    try:
        for n in range(n_examples):
            middle, cands, tokens_ = rng.choice(pool)
            eid = rng.randint(-2**63, 2**63 - 1)
            anns = []
            gold_long = rng.choice(cands)
            for a in range(5):
                if rng.random() < 0.4:
                    long_a, shorts, yn, ci = NULL, [], "NONE", -1
                else:
                    c = gold_long if rng.random() < 0.8 else rng.choice(cands)
                    long_a, ci = _span(c), cands.index(c)
                    r = rng.random()
                    s0 = rng.randint(c["start_token"], c["end_token"] - 1)
                    s1 = min(c["end_token"], s0 + rng.randint(1, 4))
                    short = {"end_byte": tokens_[s1 - 1]["end_byte"], "end_token": s1,
                             "start_byte": tokens_[s0]["start_byte"], "start_token": s0}
                    shorts, yn = ([short], "NONE") if r < 0.5 else (([], rng.choice(["YES", "NO"])) if r < 0.55
                                                                     else ([], "NONE"))
                anns.append({"annotation_id": rng.randint(0, 2**64 - 1),
                             "long_answer": dict(long_a, candidate_index=ci),
                             "short_answers": shorts, "yes_no_answer": yn})
            line = (b'{"annotations": ' + json.dumps(anns).encode() + b", " + middle
                    + b', "example_id": ' + str(eid).encode()
                    + b', "long_answer_candidates": ' + json.dumps(cands).encode()
                    + b', "question_text": "synthetic question ' + str(n).encode()
                    + b'", "question_tokens": ["synthetic", "question"]}\n')
            outs[n % files].write(line)
            raw_bytes += len(line)
            predictions.append(_prediction(rng, eid, anns, cands))
    finally:
        for out in outs:
            out.close()
    pred_path = directory / f"{name}-predictions.json"
    pred_path.write_text(json.dumps({"predictions": predictions}))
    gold = paths[0] if files == 1 else directory / f"{name}-*.jsonl.gz"
    return gold, pred_path, raw_bytes


def _prediction(rng: random.Random, eid: int, anns: list, cands: list) -> dict:
    """A random system: sometimes one annotator's answer, sometimes another candidate."""
    r = rng.random()
    with_long = [a for a in anns if a["long_answer"]["start_token"] >= 0]
    long_p = (_span(rng.choice(with_long)["long_answer"]) if with_long and r < 0.5
              else _span(rng.choice(cands)) if r < 0.8 else NULL)
    with_short = [a for a in anns if a["short_answers"]]
    r = rng.random()
    shorts_p, yn_p = [], "NONE"
    if with_short and r < 0.4:
        shorts_p = [_span(s) for s in rng.choice(with_short)["short_answers"]]
    elif r < 0.5:
        yn_p = rng.choice(["YES", "NO"])
    elif r < 0.7:
        shorts_p = [_span(rng.choice(cands))]
    return {"example_id": eid, "long_answer": long_p, "long_answer_score": round(rng.gauss(0, 3), 2),
            "short_answers": shorts_p, "short_answers_score": round(rng.gauss(0, 3), 2), "yes_no_answer": yn_p}


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _hash_seconds(path: Path, update) -> float:
    """Seconds to feed the file's bytes, in the cache's 1 MiB blocks, to `update`."""
    t0 = time.perf_counter()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            update(block)
    return time.perf_counter() - t0


def hash_costs(path: Path, rounds: int) -> dict:
    crc = [0]

    def crc32(block):
        crc[0] = zlib.crc32(block, crc[0])

    return {name: statistics.median(_hash_seconds(path, make()) for _ in range(rounds)) for name, make in (
        ("sha256", lambda: hashlib.sha256().update), ("blake2b", lambda: hashlib.blake2b().update),
        ("crc32", lambda: crc32))}


class _GoldHead(msgspec.Struct):
    """The two fields the scorer needs; msgspec skips every other one without building it."""

    example_id: Union[int, str]
    annotations: Optional[list] = None


_HEAD_DECODER = msgspec.json.Decoder(_GoldHead)


def _msgspec_extract(buf: bytes, start: int = 0, end: Optional[int] = None):
    head = _HEAD_DECODER.decode(memoryview(buf)[start:end])
    return int(head.example_id), head.annotations


def scanner_vs_msgspec(gold: Path, rounds: int) -> tuple[list, list, bool]:
    """(scanner seconds, msgspec seconds per round, same gold), the two runs alternating."""
    scanner = nq_gold._fast_extract
    times = {"scanner": [], "msgspec": []}
    results = {}
    try:
        for r in range(rounds):
            order = (("scanner", scanner), ("msgspec", _msgspec_extract))
            for name, extract in order if r % 2 == 0 else order[::-1]:
                nq_gold._fast_extract = extract
                seconds, gold_data = timed(lambda: nq_gold.load_gold(str(gold)))
                results[name] = gold_data.examples
                times[name].append(seconds)
    finally:
        nq_gold._fast_extract = scanner
    return times["scanner"], times["msgspec"], results["scanner"] == results["msgspec"]


def official_vs_ours(official, gold: Path, preds: Path, rounds: int) -> dict:
    """Both scorers cold (the gold parsed from disk, no cache), alternating which runs first."""
    times = {"official": [], "ours": []}
    metrics = {}
    runs = {"official": lambda: official.get_metrics_as_dict(str(gold), str(preds)),
            "ours": lambda: nq_eval.evaluate(str(gold), str(preds))}
    for r in range(rounds):
        for name in ("official", "ours") if r % 2 == 0 else ("ours", "official"):
            seconds, metrics[name] = timed(runs[name])
            times[name].append(seconds)
    return {"official_cold_s": spread(times["official"]), "ours_cold_s": spread(times["ours"]),
            "cold_speedup": ratio_spread(times["official"], times["ours"]),
            "identical": metrics["ours"] == metrics["official"] and list(metrics["ours"]) == list(metrics["official"]),
            "long_f1": round(metrics["ours"]["long-best-threshold-f1"], 4),
            "short_f1": round(metrics["ours"]["short-best-threshold-f1"], 4)}, times["official"]


def with_cache(official_times: list, gold: Path, preds: Path, cache_dir: Path, rounds: int, reference) -> dict:
    """Ours reading its gold cache (built once) against the official scorer, which has none."""
    build_s, _ = timed(lambda: nq_eval.load_gold(str(gold), cache_gold_data=True, cache_dir=cache_dir))
    warm, result = [], None
    for _ in range(rounds):
        seconds, result = timed(lambda: nq_eval.evaluate(str(gold), str(preds), cache_gold_data=True,
                                                         cache_dir=cache_dir))
        warm.append(seconds)
    return {"ours_cache_build_s": round(build_s, 3), "ours_with_cache_s": spread(warm, 4),
            "with_our_cache_vs_none": ratio_spread(official_times, warm, 1),
            "identical_with_cache": result == reference}


SHAPES = {  # name: (examples, tokens per document, files)
    "one_file": (2000, (1500, 5000), 1),
    "five_files": (2000, (1500, 5000), 5),
    "whole_article": (400, (6300, 7900), 1),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="examples of each shape times this")
    parser.add_argument("--rounds", type=int, default=3, help="alternating cold rounds of each scorer")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma list of " + ", ".join(SHAPES))
    parser.add_argument("--no_check", action="store_true", help="report only; never exit 1 on a missed bar")
    args = parser.parse_args()
    if args.rounds < 1 or args.scale <= 0:
        parser.error("--rounds must be at least 1 and --scale positive")

    from natural_questions import nq_eval as official  # defines its absl flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["bench_nq_eval"])
    flags.FLAGS.long_non_null_threshold = 2
    flags.FLAGS.short_non_null_threshold = 2

    work = Path(tempfile.mkdtemp(prefix="bench_nq_eval-"))
    report = {"benchmark": "nq_eval", "data": "synthetic NQ-format gold and random predictions", "rounds": args.rounds}
    identical, bars = True, True
    try:
        for shape in args.shapes.split(","):
            examples, tokens, files = SHAPES[shape]
            examples = max(1, round(examples * args.scale))
            t0 = time.perf_counter()
            gold, preds, raw_bytes = write_data(work, examples, tokens=tokens, files=files, name=shape)
            figures = {"examples": examples, "files": files,
                       "gold_mb_gz": round(sum(p.stat().st_size for p in work.glob(shape + "*.jsonl.gz")) / 2**20, 1),
                       "gold_kb_per_example": round(raw_bytes / examples / 1024, 1), "write_s": round(time.perf_counter() - t0, 2)}
            cold, official_times = official_vs_ours(official, gold, preds, args.rounds)
            figures.update(cold)
            identical &= cold["identical"]
            bars &= cold["cold_speedup"]["median"] >= 5
            if shape == "one_file":
                reference = official.get_metrics_as_dict(str(gold), str(preds))
                figures.update(with_cache(official_times, gold, preds, work / "cache", args.rounds, reference))
                identical &= figures["identical_with_cache"]
                bars &= figures["with_our_cache_vs_none"]["median"] >= 20
                hashes = hash_costs(gold, args.rounds)
                scan, msgspec_s, same_gold = scanner_vs_msgspec(gold, args.rounds + 1)
                identical &= same_gold
                figures.update({f"hash_{k}_s": round(v, 4) for k, v in hashes.items()})
                figures["sha256_share_of_cold"] = round(hashes["sha256"] / figures["ours_cold_s"]["median"], 3)
                figures.update(gold_scanner_s=spread(scan), gold_msgspec_s=spread(msgspec_s),
                               msgspec_vs_scanner=ratio_spread(msgspec_s, scan))
            report[shape] = figures
            for path in work.glob(shape + "*"):
                path.unlink()
        report["identical"] = identical
        report["bars_met"] = bars  # cold >= 5x on every shape, with our cache >= 20x
        print(json.dumps(report))
        if not identical:
            return 1
        return 0 if bars or args.no_check else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
