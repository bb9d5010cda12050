#!/usr/bin/env python
"""Prediction in bf16 against fp32: speed of the forward pass, its logits, and the answers.

The same model folder (a fine-tuned one, e.g. `quality_out/model` of benchmarks/quality.py)
is loaded twice, once as it is (fp32) and once switched to Keras' mixed_bfloat16 policy
(`modeling.set_mixed_precision`: float32 weights, bf16 matrix products, the outputs float32).
The windows of the first `--examples` examples of `--nq_file` are built once and held in
memory; each round runs every window through both models, the two alternating, so both see
the same machine load. Reported: windows/s of each (median of the rounds, min and max), the
ratio of the medians; the largest and the mean absolute difference of the start/end and the
answer-type logits; and the answers: post-processed by the default rule (`PostprocessConfig()`),
the share of examples with the same long answer and the same short answer in both precisions,
and nq_eval's long and short F1 of each when the file has annotations.

  python benchmarks/bench_predict_precision.py --model_dir quality_out/model \
      --nq_file quality_out/data/development/all-full-sample500.jsonl.gz --examples 60 --rounds 3
"""

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def first_examples(path, n, out):
    """The first `n` lines of an NQ file, gzipped into `out`."""
    with gzip.open(path, "rb") as h:
        lines = [line for _, line in zip(range(n), h)]
    with gzip.open(out, "wb") as h:
        h.writelines(lines)
    return out


def windows_in_memory(spec, nq_file, batch_size, workdir):
    """The prediction windows of `nq_file` as numpy batches (records built once, read once)."""
    from nq_baseline.features.prepare import PrepareConfig, prepare
    from nq_baseline.model import datasets

    records = os.path.join(workdir, "predict.tfrecord")
    prepare(nq_file, records, PrepareConfig(vocab_file=spec.vocab_file, do_lower_case=spec.do_lower_case,
                                            features=spec.features, is_training=False, num_workers=1))
    dataset = datasets.make_predict_dataset(records, batch_size, spec.features.max_seq_length)
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset]


def timed_pass(forward, batches):
    from nq_baseline.prediction import streaming

    t0 = time.perf_counter()
    results = list(streaming.iter_raw_results(forward, batches))
    return results, time.perf_counter() - t0


def logit_differences(fp32, bf16):
    import numpy as np

    out = {}
    for field in ("start_logits", "end_logits", "answer_type_logits"):
        a = np.concatenate([getattr(r, field).ravel() for r in fp32]).astype(np.float64)
        b = np.concatenate([getattr(r, field).ravel() for r in bf16]).astype(np.float64)
        # positions outside the window's text (padding) carry no answer: compare where token_map >= 0
        if field != "answer_type_logits":
            inside = np.concatenate([r.token_map.ravel() >= 0 for r in fp32])
            a, b = a[inside], b[inside]
        diff = np.abs(a - b)
        out[field] = {"max_abs_diff": round(float(diff.max()), 4), "mean_abs_diff": round(float(diff.mean()), 5),
                      "fp32_std": round(float(a.std()), 3)}
    return out


def answers(nq_file, results):
    from nq_baseline.prediction import streaming
    from nq_baseline.prediction.postprocess import PostprocessConfig, predictions_json
    from nq_baseline.reading.nq_data import read_example_heads

    return predictions_json(streaming.stream_predictions(read_example_heads(nq_file), results, PostprocessConfig()))


def compare_answers(nq_file, fp32, bf16):
    from nq_baseline.evaluation import scorer as nq_eval

    a, b = answers(nq_file, fp32)["predictions"], answers(nq_file, bf16)["predictions"]

    def short(p):
        return [(s["start_token"], s["end_token"]) for s in p["short_answers"]]

    out = {"examples": len(a),
           "same_long_answer": round(sum(x["long_answer"] == y["long_answer"] for x, y in zip(a, b)) / len(a), 4),
           "same_short_answer": round(sum(short(x) == short(y) for x, y in zip(a, b)) / len(a), 4),
           "max_long_score_diff": round(max(abs(x["long_answer_score"] - y["long_answer_score"])
                                            for x, y in zip(a, b)), 4)}
    for name, preds in (("fp32", a), ("bf16", b)):
        metrics = nq_eval.evaluate(nq_file, {"predictions": preds})
        out[f"{name}_long_f1"] = round(metrics["long-best-threshold-f1"], 4)
        out[f"{name}_short_f1"] = round(metrics["short-best-threshold-f1"], 4)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model_dir", required=True, help="a model folder (nq_model.json and a checkpoint)")
    p.add_argument("--nq_file", required=True, help="NQ examples (original or simplified format, gzipped)")
    p.add_argument("--examples", type=int, default=60, help="the first N examples of --nq_file")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=64)
    args = p.parse_args()
    if args.examples < 1 or args.rounds < 1 or args.batch_size < 1:
        p.error("--examples, --rounds and --batch_size must be >= 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from nq_baseline.model import modeling
    from nq_baseline.model.folder import ModelSpec
    from nq_baseline.prediction.streaming import ForwardFunction

    spec = ModelSpec.load(args.model_dir)
    with tempfile.TemporaryDirectory() as workdir:
        nq_file = first_examples(args.nq_file, args.examples, os.path.join(workdir, "examples.jsonl.gz"))
        batches = windows_in_memory(spec, nq_file, args.batch_size, workdir)
        model32, step = spec.load_model()
        model16, _ = spec.load_model()
        modeling.set_mixed_precision(model16, "bf16")
        forwards = {"fp32": ForwardFunction(model32), "bf16": ForwardFunction(model16)}
        for forward in forwards.values():  # trace both before timing
            forward({k: v[:1] for k, v in batches[0].items()})
        seconds = {name: [] for name in forwards}
        results = {}
        for _ in range(args.rounds):
            for name, forward in forwards.items():
                results[name], took = timed_pass(forward, batches)
                seconds[name].append(took)
        windows = sum(len(b["unique_ids"]) for b in batches)
        speed = {name: [windows / s for s in seconds[name]] for name in forwards}
        report = {"benchmark": "predict_precision", "model_dir": os.path.abspath(args.model_dir), "step": step,
                  "nq_file": os.path.abspath(args.nq_file), "examples": args.examples, "windows": windows,
                  "batch_size": args.batch_size, "rounds": args.rounds,
                  "compute_dtype": {"fp32": model32.compute_dtype, "bf16": model16.compute_dtype}}
        for name in forwards:
            report[name] = {"median_windows_per_s": round(statistics.median(speed[name]), 2),
                            "min": round(min(speed[name]), 2), "max": round(max(speed[name]), 2)}
        report["bf16_over_fp32"] = round(statistics.median(speed["bf16"]) / statistics.median(speed["fp32"]), 3)
        paired = [b / a for a, b in zip(speed["fp32"], speed["bf16"])]
        report["paired_ratio_min_max"] = [round(min(paired), 3), round(max(paired), 3)]
        report["logits"] = logit_differences(results["fp32"], results["bf16"])
        report["answers"] = compare_answers(nq_file, results["fp32"], results["bf16"])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
