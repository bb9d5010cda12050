#!/usr/bin/env python
"""Benchmark at NQ scale: preparation and prediction over thousands of real-size NQ pages.

The input is NQ-shaped: `tools/make_scale_nq.py` makes N original-format pages from the real NQ
example of tests/data/nq-real (its HTML, tokens with byte offsets, candidates, annotations: the
real page's size), each with a new 64-bit id, one of the five real questions of tests/data/nq-real
and its top-level paragraphs in another order (offsets rewritten), gzipped in 5 shards as NQ's dev
set is. Two inputs: `--small_pages` (500) and `--pages` (5,000), the first pages of the same
stream.

Each setting is a command of its own, as a user runs it:
- `prepare_nq_data --num_workers=1` and `=2`, training features (`--is_training
  --include_unknowns=0.02`, as bert_joint's published run) and prediction features
  (`--is_training=false`);
- the same training features on Apache Beam's DirectRunner
  (`runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing`), over
  `--beam_pages` pages at most: it holds its whole input in memory at its Reshuffle;
- the reference for that runner's own memory: the same lines through the same DirectRunner
  with none of this project's code (read, Reshuffle, count: `beam_direct_reshuffle_only`);
- `run_nq --do_predict` (windows made in memory, the Reader's `answer_stream`) with a model
  folder of random weights (`--model`: 1 layer, hidden 64, the default; or BERT-Tiny's shape,
  2 layers, hidden 128), bert_joint's windows (384 positions, stride 128, 48 contexts).

The small input runs `--rounds` rounds, the settings in turn (their order rotated each round,
so that a change of the machine's load falls on all of them); the large one `--large_rounds`.
For every run: examples/s over the whole command (process start to exit) and over the work
(the stats JSON's `seconds` for preparation), per process (divided by the worker processes),
the CPU time of the process tree (`wait4`), the peak RSS of its largest process (`ru_maxrss`
of the tree), and, sampled from /proc every 0.1 s, each process's VmHWM (its own peak RSS), the
driver's CPU time and the peak of the tree's summed RSS. Figures are the median of the rounds
with the spread (min, max). RSS at `--pages` over RSS at `--small_pages` is the growth ratio
(flat: at most 1.15).

Prints one JSON line; with it, projections for NQ train (307,373 pages) and dev (7,830) from the
CPU time measured, each resting on the assumptions the JSON names (see `projections`).

  python benchmarks/bench_scale.py [--pages 5000] [--small_pages 500] [--beam_pages 1000]
      [--rounds 3] [--large_rounds 1] [--model tiny1] [--data_dir DIR] [--skip beam,predict]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tools"), os.path.dirname(os.path.abspath(__file__))]

import make_scale_nq  # tools/, beside this folder
import rounds  # benchmarks/rounds.py, beside this file

BERT_JOINT_VOCAB = os.path.join(ROOT, "tests", "data", "bert-joint", "vocab-nq.txt.gz")
BEAM_OPTIONS = "runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing"
SHARDS = 5
NQ_TRAIN_PAGES, NQ_DEV_PAGES = 307_373, 7_830
NQ_TRAIN_GZIP_BYTES = 42e9  # NQ train as distributed: ~42 GB of gzipped jsonl in 50 files
MODELS = {  # random weights: throughput and memory of the pipeline, not of a trained model
    "tiny1": {"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 128},
    "bert_tiny": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512},
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.1


# ----------------------------------------------------------------------------- process-tree sampling


def _children(pid: int) -> list[int]:
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                found += [int(c) for c in handle.read().split()]
    except OSError:  # gone meanwhile
        pass
    return found


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def _status_kb(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line[:5]] = int(line.split()[1])
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rpartition(")")[2].split()
        out["cpu"] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    except (OSError, IndexError, ValueError):
        return {}
    return out


class TreeSampler:
    """Samples a running command's process tree: each process's VmHWM (its own peak RSS) and
    CPU time as last seen, and the peak of the summed RSS of the tree."""

    def __init__(self, root: int):
        self.root, self.hwm_kb, self.cpu, self.peak_total_kb = root, {}, {}, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            total = 0
            for pid in _tree(self.root):
                status = _status_kb(pid)
                if not status:
                    continue
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), status.get("VmHWM", 0))
                self.cpu[pid] = status["cpu"]
                total += status.get("VmRSS", 0)
            self.peak_total_kb = max(self.peak_total_kb, total)
            self._stop.wait(SAMPLE_SECONDS)

    def stop(self):
        self._stop.set()
        self._thread.join()


def run_measured(command: list[str], env: dict) -> dict:
    """Runs `command` to its end: wall seconds, the tree's CPU seconds and largest process's
    peak RSS (wait4: the processes it waited for), and the sampled per-process figures."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        sampler = TreeSampler(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed (exit {proc.returncode}): {stderr[-3000:]}")
    workers = {pid: kb for pid, kb in sampler.hwm_kb.items() if pid != proc.pid}
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024,
            "driver_hwm_mb": sampler.hwm_kb.get(proc.pid, 0) / 1024,
            "largest_worker_hwm_mb": max(workers.values()) / 1024 if workers else None,  # None: one process
            "processes": len(sampler.hwm_kb), "tree_peak_rss_mb": sampler.peak_total_kb / 1024,
            "driver_cpu": sampler.cpu.get(proc.pid, 0.0), "stdout": stdout}


# ----------------------------------------------------------------------------- the settings


def prepare_command(vocab: str, pattern: str, out: str, training: bool, extra: list[str]) -> list[str]:
    labels = ["--is_training", "--include_unknowns=0.02"] if training else ["--is_training=false"]
    return [sys.executable, "-m", "nq_baseline.prepare_nq_data", f"--vocab_file={vocab}",
            f"--input_jsonl={pattern}", f"--output_tfrecord={out}", *labels, *extra]


SETTINGS = {  # name -> (program, training features, extra flags, processes doing the work)
    "prepare_train_w1": ("prepare", True, ["--num_workers=1"], 1),
    "prepare_train_w2": ("prepare", True, ["--num_workers=2"], 2),
    "prepare_predict_w1": ("prepare", False, ["--num_workers=1"], 1),
    "prepare_predict_w2": ("prepare", False, ["--num_workers=2"], 2),
    "beam_direct_train_w2": ("prepare", True, [f"--beam_pipeline_options={BEAM_OPTIONS}"], 2),
    "beam_direct_reshuffle_only": ("runner_reference", False, [], 2),
    "predict": ("predict", False, [], 1),
}
RESHUFFLE_ONLY = (  # the reference for the DirectRunner's own memory: the same lines, none of nq_baseline's code
    "import sys, apache_beam as beam\n"
    "from apache_beam.options.pipeline_options import PipelineOptions\n"
    "with beam.Pipeline(options=PipelineOptions(['--' + o for o in sys.argv[2].split(',')])) as p:\n"
    "    (p | beam.io.ReadFromText(sys.argv[1]) | beam.Reshuffle() | beam.Map(lambda line: 1)\n"
    "       | beam.CombineGlobally(sum) | beam.Map(print))\n")


def run_setting(name: str, data: dict, work: str, vocab: str, model: str) -> dict:
    program, training, extra, processes = SETTINGS[name]
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    out = os.path.join(work, name)
    if program == "predict":
        command = [sys.executable, "-m", "nq_baseline.run_nq", "--do_predict", f"--output_dir={model}",
                   f"--predict_file={data['pattern']}", f"--output_prediction_file={out}.json",
                   "--predict_batch_size=64"]
        run = run_measured(command, env)
        with open(out + ".json", encoding="utf-8") as handle:
            examples = len(json.load(handle)["predictions"])
        os.remove(out + ".json")
        run.update(examples=examples, work_seconds=None, records=None)
    elif program == "runner_reference":
        run = run_measured([sys.executable, "-c", RESHUFFLE_ONLY, data["pattern"], BEAM_OPTIONS], env)
        run.update(examples=int(run["stdout"].split()[-1]), work_seconds=None, records=None)
    else:
        run = run_measured(prepare_command(vocab, data["pattern"], out + ".tfrecord", training, extra), env)
        with open(out + ".tfrecord.stats.json", encoding="utf-8") as handle:
            stats = json.load(handle)
        for path in stats["output_files"] + [out + ".tfrecord.stats.json"]:
            os.remove(path)
        run.update(examples=stats["num_examples"], work_seconds=stats["seconds"], records=stats["num_instances"],
                   windows_per_example=stats["windows_per_example"]["mean"])
    if run["examples"] != data["pages"]:
        raise SystemExit(f"{name}: {run['examples']} examples of {data['pages']} pages")
    run.pop("stdout")
    run["processes_working"] = processes
    return run


# ----------------------------------------------------------------------------- inputs


def make_inputs(data_dir: str, pages: int) -> dict:
    """The shards of `pages` pages (kept in `data_dir` for a later run with the same count)."""
    folder = os.path.join(data_dir, f"pages-{pages}")
    done = os.path.join(folder, "made.json")
    if not os.path.exists(done):
        shutil.rmtree(folder, ignore_errors=True)
        source = make_scale_nq.read_examples(make_scale_nq.DEFAULT_SOURCE)[0]
        questions = [source["question_text"]] + [e["question_text"] for e in
                                                 make_scale_nq.read_examples(make_scale_nq.DEFAULT_QUESTIONS)]
        paths, raw_bytes = make_scale_nq.write_shards(folder, make_scale_nq.scale_pages(source, questions, pages),
                                                      SHARDS)
        with open(done, "w", encoding="utf-8") as handle:
            json.dump({"paths": paths, "raw_bytes": raw_bytes}, handle)
    with open(done, encoding="utf-8") as handle:
        made = json.load(handle)
    gzip_bytes = sum(os.path.getsize(p) for p in made["paths"])
    return {"pages": pages, "pattern": os.path.join(folder, "nq-dev-*.jsonl.gz"),
            "raw_bytes_per_page": made["raw_bytes"] / pages, "gzip_bytes_per_page": gzip_bytes / pages}


def make_model(folder: str, vocab: str, shape: dict) -> None:
    code = ("import sys, json, keras, tensorflow as tf\n"
            "from nq_baseline.model import modeling, folder\n"
            "from nq_baseline.features.windows import FeatureConfig\n"
            "out, vocab, shape = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n"
            "config = modeling.BertConfig(vocab_size=30522, max_position_embeddings=512, **shape)\n"
            "keras.utils.set_random_seed(3)\n"
            "model = modeling.build_nq_model(config, 384)\n"
            "tf.train.Checkpoint(model=model, step=tf.Variable(1, dtype=tf.int64)).save(out + '/ckpt')\n"
            "folder.write_model_dir(out, bert_config_json=config.to_json_string(), vocab_file=vocab,\n"
            "                       do_lower_case=True, features=FeatureConfig())\n")
    subprocess.run([sys.executable, "-c", code, folder, vocab, json.dumps(shape)], check=True, capture_output=True,
                   env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))


# ----------------------------------------------------------------------------- figures


def summary(values, digits=1):
    """The median of the rounds with the spread (benchmarks/rounds.py); None without a value."""
    values = [v for v in values if v is not None]
    return rounds.spread(values, digits) if values else None


def figures_of(runs: list[dict]) -> dict:
    """The medians (and spreads) of one setting's runs at one input size."""
    processes = runs[0]["processes_working"]
    examples = runs[0]["examples"]
    out = {
        "examples": examples,
        "examples_per_s": summary([examples / r["wall"] for r in runs]),
        "examples_per_s_per_process": summary([examples / r["wall"] / processes for r in runs], 2),
        "cpu_ms_per_example": summary([1000 * r["cpu"] / examples for r in runs]),
        "driver_cpu_ms_per_example": summary([1000 * r["driver_cpu"] / examples for r in runs]),
        "wall_s": summary([r["wall"] for r in runs]),
        "wall_ms_per_example": summary([1000 * r["wall"] / examples for r in runs]),
        "largest_process_peak_rss_mb": summary([r["maxrss_mb"] for r in runs], 0),
        "driver_peak_rss_mb": summary([r["driver_hwm_mb"] for r in runs], 0),
        "largest_worker_peak_rss_mb": summary([r["largest_worker_hwm_mb"] for r in runs], 0),
        "tree_peak_rss_mb": summary([r["tree_peak_rss_mb"] for r in runs], 0),
        "processes_seen": max(r["processes"] for r in runs),
    }
    if runs[0]["records"] is not None:  # preparation: its stats JSON times the work, start-up apart
        out["examples_per_s_work"] = summary([examples / r["work_seconds"] for r in runs])
        out["examples_per_s_work_per_process"] = summary([examples / r["work_seconds"] / processes for r in runs], 2)
        out["records"] = runs[0]["records"]
        out["windows_per_example"] = runs[0]["windows_per_example"]
    return out


def growth(small: dict, large: dict) -> dict:
    """RSS at the large input over RSS at the small one (medians), per measure."""
    out = {"pages": f"{large['examples']} vs {small['examples']}"}
    for key in ("largest_process_peak_rss_mb", "driver_peak_rss_mb", "largest_worker_peak_rss_mb",
                "tree_peak_rss_mb"):
        a, b = small.get(key), large.get(key)
        if a and b and a["median"]:
            out[key] = round(b["median"] / a["median"], 3)
    per_process = [out[k] for k in ("largest_process_peak_rss_mb", "largest_worker_peak_rss_mb") if k in out]
    out["flat_within_1.15"] = bool(per_process) and max(per_process) <= 1.15
    extra_mb = large["largest_process_peak_rss_mb"]["median"] - small["largest_process_peak_rss_mb"]["median"]
    out["extra_kb_per_example"] = round(1024 * extra_mb / (large["examples"] - small["examples"]), 2)
    return out



def projections(results: dict, data: dict, cores: int = 16, dataflow_vcpus: int = 32) -> dict:
    """Wall times for NQ train and dev projected from the CPU time measured here (see
    `assumptions` in the output: none of these is a measurement).

    Costs are CPU (and, for one process, wall) milliseconds per example between the small and the
    large input (start-up left out; at one input where only one ran). Local preparation (`prepare_nq_data
    --num_workers=N`): its driver reads and gunzips every line, hands it to a worker and writes
    the records back, in one process, so one run goes at most 1 / (driver CPU per example);
    `cores` cores give at most cores / (the tree's CPU per example); as many runs side by side,
    each on its share of the files, as keep every driver under its limit reach that bound.
    Dataflow: the DirectRunner's CPU per example (the runner's own work included), per vCPU.
    Prediction: one run_nq process, and `cores` cores' worth of processes (one per input file)."""
    def marginal_ms(name, key):
        figures = results.get(name, {})
        small, large = figures.get("small"), figures.get("large")
        if not (small and large):
            return (large or small)[key]["median"]
        total = {size: f[key]["median"] * f["examples"] for size, f in (("small", small), ("large", large))}
        return (total["large"] - total["small"]) / (large["examples"] - small["examples"])

    def minutes(pages, rate):
        return round(pages / rate / 60, 2)

    size_factor = NQ_TRAIN_GZIP_BYTES / NQ_TRAIN_PAGES / data["gzip_bytes_per_page"]
    out = {"assumptions": {
        "cores": cores, "dataflow_vcpus": dataflow_vcpus,
        "linear_scaling": f"each of {cores} cores (or vCPUs) does what a process did here: the CPU time per "
                          "example measured on this machine, no waiting, no contention (memory bandwidth, "
                          "disk), nothing else running",
        "page_size": "the figures are at this benchmark's page size; *_at_nq_page_size scales the cost in "
                     "proportion to a page's gzipped bytes: NQ train as distributed, ~42 GB over 307,373 "
                     f"pages ({NQ_TRAIN_GZIP_BYTES / NQ_TRAIN_PAGES / 1e3:.0f} KB a page) against "
                     f"{data['gzip_bytes_per_page'] / 1e3:.0f} KB here, x{size_factor:.2f}",
        "dataflow": "Dataflow's start-up, shuffle service, autoscaling and its machines' speed are not in it"}}
    for kind, name in (("train", "prepare_train_w2"), ("predict_features", "prepare_predict_w2")):
        if name not in results:
            continue
        tree_ms, driver_ms = marginal_ms(name, "cpu_ms_per_example"), marginal_ms(name, "driver_cpu_ms_per_example")
        all_cores, driver_limit = cores * 1000 / tree_ms, 1000 / driver_ms
        entry = {"from": name, "cpu_ms_per_example": round(tree_ms, 2), "driver_cpu_ms_per_example": round(driver_ms, 2),
                 "driver_limit_examples_per_s": round(driver_limit), "all_cores_examples_per_s": round(all_cores),
                 "one_run_examples_per_s": round(min(all_cores, driver_limit)),
                 "runs_side_by_side_for_all_cores": math.ceil(all_cores / driver_limit)}
        for label, pages in (("nq_train", NQ_TRAIN_PAGES), ("nq_dev", NQ_DEV_PAGES)):
            if kind == "train" or label == "nq_dev":
                entry[f"minutes_{label}"] = {
                    "one_run": minutes(pages, min(all_cores, driver_limit)), "all_cores": minutes(pages, all_cores),
                    "all_cores_at_nq_page_size": minutes(pages, all_cores / size_factor)}
        out[f"prepare_{kind}"] = entry
    if "beam_direct_train_w2" in results:
        per_vcpu = 1000 / marginal_ms("beam_direct_train_w2", "cpu_ms_per_example")
        out["dataflow_prepare_train"] = {
            "from": "beam_direct_train_w2", "examples_per_s_per_vcpu": round(per_vcpu, 1),
            f"minutes_nq_train_on_{dataflow_vcpus}_vcpus": minutes(NQ_TRAIN_PAGES, per_vcpu * dataflow_vcpus),
            "at_nq_page_size": minutes(NQ_TRAIN_PAGES, per_vcpu * dataflow_vcpus / size_factor)}
    if "predict" in results:
        rate, cpu_ms = 1000 / marginal_ms("predict", "wall_ms_per_example"), marginal_ms("predict", "cpu_ms_per_example")
        out["predict_nq_dev"] = {
            "from": "predict", "one_process_examples_per_s": round(rate, 1), "cpu_ms_per_example": round(cpu_ms, 2),
            "minutes": {"one_process": minutes(NQ_DEV_PAGES, rate),
                        f"{cores}_cores": minutes(NQ_DEV_PAGES, cores * 1000 / cpu_ms),
                        f"{cores}_cores_at_nq_page_size": minutes(NQ_DEV_PAGES, cores * 1000 / cpu_ms / size_factor)},
            "model": "the random model of `model`: a trained model of BERT's size costs more per window"}
    return out


# ----------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=5000, help="the large input")
    parser.add_argument("--small_pages", type=int, default=500, help="the small input")
    parser.add_argument("--beam_pages", type=int, default=1000, help="the DirectRunner's large input (at most "
                        "--pages): it holds its input in memory")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the small input")
    parser.add_argument("--large_rounds", type=int, default=1, help="rounds over the large input")
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny1")
    parser.add_argument("--data_dir", default=None, help="keep the generated inputs here (reused when present)")
    parser.add_argument("--skip", default="", help="comma list of settings to leave out (names or beam, predict)")
    args = parser.parse_args()
    if not 0 < args.small_pages < args.pages or args.beam_pages < args.small_pages or args.rounds < 1:
        parser.error("need 0 < --small_pages < --pages, --beam_pages >= --small_pages, --rounds >= 1")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    names = [n for n in SETTINGS if n not in skip and not ("beam" in skip and n.startswith("beam"))]
    work = tempfile.mkdtemp(prefix="bench-scale-")
    try:
        print(json.dumps(measure(args, names, work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args, names: list[str], work: str) -> dict:
    t_start = time.time()
    data_dir = args.data_dir or os.path.join(work, "data")
    vocab = os.path.join(work, "vocab-nq.txt")
    with gzip.open(BERT_JOINT_VOCAB, "rb") as src, open(vocab, "wb") as dst:
        shutil.copyfileobj(src, dst)
    model = os.path.join(work, "model")
    make_model(model, vocab, MODELS[args.model])
    beam_pages = min(args.beam_pages, args.pages)
    inputs = {"small": make_inputs(data_dir, args.small_pages), "large": make_inputs(data_dir, args.pages)}
    inputs["beam_large"] = inputs["large"] if beam_pages == args.pages else make_inputs(data_dir, beam_pages)
    runs = {name: {"small": [], "large": []} for name in names}
    load = [os.getloadavg()[0]]
    t_measure = time.time()
    plan = [("small", r) for r in range(args.rounds)] + [("large", r) for r in range(args.large_rounds)]
    for size, r in plan:
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            beam = name.startswith("beam")
            if beam and size == "large" and beam_pages == args.small_pages:
                continue  # its large input is the small one
            key = "beam_large" if beam and size == "large" else size
            runs[name][size].append(run_setting(name, inputs[key], work, vocab, model))
            print(f"{name} {inputs[key]['pages']} pages, round {r + 1}: {runs[name][size][-1]['wall']:.1f} s",
                  file=sys.stderr, flush=True)
        load.append(os.getloadavg()[0])
    results = {}
    for name in names:
        results[name] = {size: figures_of(r) for size, r in runs[name].items() if r}
        if results[name].get("small") and results[name].get("large"):
            results[name]["rss_large_vs_small"] = growth(results[name]["small"], results[name]["large"])
    data = inputs["large"]
    return {
        "data": (f"NQ-shaped original-format pages from the real NQ dev example of tests/data/nq-real "
                 f"(tools/make_scale_nq.py: new ids, the 5 real questions in turn, top-level paragraphs "
                 f"shuffled), {SHARDS} gzipped shards"),
        "pages": {"small": args.small_pages, "large": args.pages,
                  "beam_large": beam_pages},
        "page_bytes": {"raw_json_per_page": round(data["raw_bytes_per_page"]),
                       "gzip_per_page": round(data["gzip_bytes_per_page"])},
        "model": f"{args.model}: {MODELS[args.model]}, random weights, 384 positions, stride 128, 48 contexts, "
                 "batch 64",
        "vocab": "bert_joint's vocab-nq.txt (tests/data/bert-joint)",
        "beam_pipeline_options": BEAM_OPTIONS,
        "machine": rounds.machine(),
        "rounds": {"small": args.rounds, "large": args.large_rounds,
                   "note": "settings in turn within a round, order rotated each round; medians with (min, max)"},
        "results": results,
        "projections": projections(results, data),
        "load_average_1min": summary(load),
        "seconds": {"total": round(time.time() - t_start), "measuring": round(time.time() - t_measure)},
    }


if __name__ == "__main__":
    main()
