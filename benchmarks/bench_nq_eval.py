"""Benchmark: nq_baseline.nq_eval against the official NQ scorer, back to back in one process.

Writes 2,000 synthetic examples of realistic size in the ORIGINAL NQ format (document_tokens
with byte offsets, a document_html of about 40 bytes per token, ~50 long-answer candidates,
5 annotations) as one .jsonl.gz into a temporary directory, plus random predictions, then
times:

* official cold: `natural_questions.nq_eval.get_metrics_as_dict` (parses the gold from disk);
* ours cold: `nq_eval.evaluate(gold_path, predictions_path)` (parses the gold from disk);
* ours warm: the same with `cache_gold_data=True` once the cache exists (the cache key is
  the SHA-256 of the gold bytes, so a warm run hashes the whole gold file);
* the cache key's cost: SHA-256 of the gold file (what a warm run pays), beside BLAKE2b
  and CRC-32 over the same bytes, as shares of our cold read;
* the gold reader's key scanner against a msgspec struct over {example_id, annotations}
  (the scanner replaced by msgspec decoding, everything else the same), alternating.

Prints one JSON line with the timings (best of --repeats) and the ratios, and exits 1 when
the metrics differ or the bars (3x cold, 20x with the cache) are missed.

    python benchmarks/bench_nq_eval.py [--examples 2000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
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


def write_data(directory: Path, n_examples: int, seed: int = 0):
    rng = random.Random(seed)
    pool = [_document(rng, rng.randint(1500, 5000)) for _ in range(48)]
    gold_path = directory / "nq-dev-bench.jsonl.gz"
    predictions = []
    raw_bytes = 0
    with gzip.open(gold_path, "wb", compresslevel=1) as out:
        for n in range(n_examples):
            middle, cands, tokens = rng.choice(pool)
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
                    short = {"end_byte": tokens[s1 - 1]["end_byte"], "end_token": s1,
                             "start_byte": tokens[s0]["start_byte"], "start_token": s0}
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
            out.write(line)
            raw_bytes += len(line)
            # A random system: sometimes one annotator's answer, sometimes another candidate.
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
            predictions.append({"example_id": eid, "long_answer": long_p,
                                "long_answer_score": round(rng.gauss(0, 3), 2),
                                "short_answers": shorts_p, "short_answers_score": round(rng.gauss(0, 3), 2),
                                "yes_no_answer": yn_p})
    pred_path = directory / "predictions.json"
    pred_path.write_text(json.dumps({"predictions": predictions}))
    return gold_path, pred_path, raw_bytes


def best_of(repeats: int, fn):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def _hash_seconds(path: Path, update) -> float:
    """Seconds to feed the file's bytes, in the cache's 1 MiB blocks, to `update`."""
    t0 = time.perf_counter()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            update(block)
    return time.perf_counter() - t0


def hash_costs(path: Path, repeats: int) -> dict:
    crc = [0]

    def crc32(block):
        crc[0] = zlib.crc32(block, crc[0])

    return {name: min(_hash_seconds(path, make()) for _ in range(repeats)) for name, make in (
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


def scanner_vs_msgspec(gold: Path, repeats: int) -> tuple[float, float, bool]:
    """(best scanner seconds, best msgspec seconds, same gold), the two runs alternating."""
    scanner = nq_gold._fast_extract
    times = {"scanner": [], "msgspec": []}
    results = {}
    try:
        for _ in range(repeats):
            for name, extract in (("scanner", scanner), ("msgspec", _msgspec_extract)):
                nq_gold._fast_extract = extract
                t0 = time.perf_counter()
                results[name] = nq_gold.load_gold(str(gold)).examples
                times[name].append(time.perf_counter() - t0)
    finally:
        nq_gold._fast_extract = scanner
    return min(times["scanner"]), min(times["msgspec"]), results["scanner"] == results["msgspec"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2, help="cold runs of each scorer (best is kept)")
    parser.add_argument("--no_check", action="store_true", help="report only; never exit 1 on a missed bar")
    args = parser.parse_args()

    from natural_questions import nq_eval as official  # defines its absl flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["bench_nq_eval"])
    flags.FLAGS.long_non_null_threshold = 2
    flags.FLAGS.short_non_null_threshold = 2

    work = Path(tempfile.mkdtemp(prefix="bench_nq_eval-"))
    try:
        t0 = time.perf_counter()
        gold, preds, raw_bytes = write_data(work, args.examples)
        write_s = time.perf_counter() - t0
        cache_dir = work / "cache"

        official_s, theirs = best_of(args.repeats, lambda: official.get_metrics_as_dict(str(gold), str(preds)))
        ours_s, ours = best_of(args.repeats, lambda: nq_eval.evaluate(str(gold), str(preds)))
        build_s, _ = best_of(1, lambda: nq_eval.load_gold(str(gold), cache_gold_data=True, cache_dir=cache_dir))
        warm_s, warm = best_of(5, lambda: nq_eval.evaluate(str(gold), str(preds), cache_gold_data=True,
                                                           cache_dir=cache_dir))
        hashes = hash_costs(gold, args.repeats)
        scan_s, msgspec_s, same_gold = scanner_vs_msgspec(gold, args.repeats + 1)
        identical = ours == theirs and warm == theirs and list(ours) == list(theirs) and same_gold
        report = {
            "benchmark": "nq_eval", "examples": args.examples,
            "gold_mb_gz": round(gold.stat().st_size / 2**20, 1),
            "gold_mb_raw": round(raw_bytes / 2**20, 1),
            "write_s": round(write_s, 2),
            "official_cold_s": round(official_s, 3), "ours_cold_s": round(ours_s, 3),
            "ours_cache_build_s": round(build_s, 3), "ours_warm_cache_s": round(warm_s, 4),
            "cold_speedup": round(official_s / ours_s, 2), "cache_speedup": round(official_s / warm_s, 1),
            "warm_vs_cold": round(ours_s / warm_s, 1),
            "hash_sha256_s": round(hashes["sha256"], 4), "hash_blake2b_s": round(hashes["blake2b"], 4),
            "hash_crc32_s": round(hashes["crc32"], 4),
            "sha256_share_of_cold": round(hashes["sha256"] / ours_s, 3),
            "gold_scanner_s": round(scan_s, 3), "gold_msgspec_s": round(msgspec_s, 3),
            "msgspec_vs_scanner": round(msgspec_s / scan_s, 2),
            "identical": identical,
            "long_f1": round(ours["long-best-threshold-f1"], 4), "short_f1": round(ours["short-best-threshold-f1"], 4),
        }
        report["bars_met"] = report["cold_speedup"] >= 3 and report["cache_speedup"] >= 20
        print(json.dumps(report))
        if not identical:
            return 1
        return 0 if report["bars_met"] or args.no_check else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
