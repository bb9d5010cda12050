#!/usr/bin/env python
"""Training-step throughput: ours (Keras 3 / TF, the step `train()` runs) vs transformers' PyTorch.

One training step = forward + backward + optimizer update on a [batch, 512] batch with
the bert_joint head and loss (start/end over the sequence, 5-way answer type from the
pooler), dropout on, AdamW (eps 1e-6, weight decay 0.01), gradient clipping at global
norm 1.0, fp32, 2 CPU threads on both sides.

* ours: `nq_baseline.model.training.make_train_step` (the step of `train()`), fed from a tf.data
  iterator, TF intra-op threads 2, inter-op 1;
* reference: `transformers.BertModel` (default attention, i.e. SDPA) + Linear(hidden, 2)
  on the sequence output + Linear(hidden, 5) on the pooled output, torch.optim.AdamW,
  clip_grad_norm_(1.0), torch.set_num_threads(2).

Configs: BERT-Tiny (L2/H128/A2/I512) batch 8 and MiniLM-L6 (L6/H384/A12/I1536) batch 4,
vocab 30522, seq 512.  Each measurement runs in its own subprocess (no thread-pool
interference between the frameworks), ours and theirs alternating (which goes first
alternates too), `--rounds` times; the median of the rounds is reported with min and max,
and the ratio as median over median with the per-round spread.

Prints ONE JSON line: seq/s of both per config and the ratios ours/theirs (bar: >= 1.0).

  python benchmarks/bench_train.py [--rounds 3] [--steps 5] [--warmup 3]

With `--precisions fp32,bf16` it measures our step in each precision instead (no PyTorch):
rounds alternate between them, each in its own subprocess from the same initial weights
(`keras.utils.set_random_seed(0)`) and data; it reports the median sequences/s of each with
the spread (min, max), the ratio of the medians, and each round's per-step losses, so the
precisions' losses can be compared step by step.  `--seq_length` and `--batch` set the shape
(the quality benchmark's recipe is MiniLM-L6 at 384 tokens, batch 16):

  python benchmarks/bench_train.py --precisions fp32,bf16 --configs minilm_l6 --seq_length 384 \
      --batch 16 --rounds 5 --steps 6 --warmup 2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from rounds import ratio_spread, spread

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ = 512  # --seq_length
VOCAB = 30522
CONFIGS = {
    "bert_tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=512, batch=8),
    "minilm_l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                      intermediate_size=1536, batch=4),
}


def _inputs(batch, seq=SEQ):
    import numpy as np

    rng = np.random.default_rng(0)
    mask = np.ones((batch, seq), np.int64)
    mask[-1, seq - 100:] = 0  # a little padding, as real windows at a document's end have
    return {
        "input_ids": rng.integers(1000, VOCAB, (batch, seq)) * mask,
        "input_mask": mask,
        "segment_ids": (np.arange(seq)[None, :] >= 40).astype(np.int64) * mask,
        "start_positions": rng.integers(0, seq, batch),
        "end_positions": rng.integers(0, seq, batch),
        "answer_types": rng.integers(0, 5, batch),
    }


def worker_tf(name, steps, warmup, precision="fp32", seq=SEQ, batch=None):
    """Our step (`training.make_train_step`) in `precision` (fp32, or bf16: Keras'
    mixed_bfloat16 policy, as `run_nq --mixed_precision=bf16` trains)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from nq_baseline.model import modeling
    from nq_baseline.model import training

    keras.utils.set_random_seed(0)  # the same initial weights in every round and precision
    cfg = dict(CONFIGS[name])
    batch = batch or cfg["batch"]
    cfg.pop("batch")
    config = modeling.BertConfig(vocab_size=VOCAB, max_position_embeddings=max(seq, 512), **cfg)
    model = modeling.build_nq_model(config, seq, mixed_precision=None if precision == "fp32" else precision)
    optimizer = training.create_optimizer(1e-4, 10_000, 0)
    optimizer.build(model.trainable_variables)
    data = {k: tf.constant(v, tf.int64 if k == "unique_ids" else tf.int32)
            for k, v in _inputs(batch, seq).items()}
    iterator = iter(tf.data.Dataset.from_tensors(data).repeat())
    step = training.make_train_step(model, optimizer)
    losses = [float(step(iterator)) for _ in range(warmup)]
    t0 = time.perf_counter()
    for _ in range(steps):
        losses.append(float(step(iterator)))
    elapsed = time.perf_counter() - t0
    return {"seq_per_s": batch * steps / elapsed, "loss": losses[-1], "losses": losses,
            "compute_dtype": model.compute_dtype}


def worker_torch(name, steps, warmup):
    import torch
    import transformers

    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = dict(CONFIGS[name])
    batch = cfg.pop("batch")
    config = transformers.BertConfig(vocab_size=VOCAB, max_position_embeddings=SEQ,
                                     hidden_act="gelu", **cfg)

    class NqModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = transformers.BertModel(config)
            self.span = torch.nn.Linear(config.hidden_size, 2)
            self.answer_type = torch.nn.Linear(config.hidden_size, 5)

        def forward(self, ids, mask, seg):
            out = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=seg)
            logits = self.span(out.last_hidden_state)
            return logits[..., 0], logits[..., 1], self.answer_type(out.pooler_output)

    model = NqModel().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6, weight_decay=0.01)
    data = {k: torch.from_numpy(v).long() for k, v in _inputs(batch).items()}
    ce = torch.nn.functional.cross_entropy

    def step():
        start, end, answer_type = model(data["input_ids"], data["input_mask"], data["segment_ids"])
        loss = (ce(start, data["start_positions"]) + ce(end, data["end_positions"])
                + ce(answer_type, data["answer_types"])) / 3
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    elapsed = time.perf_counter() - t0
    return {"seq_per_s": batch * steps / elapsed, "loss": loss,
            "attn_implementation": model.bert.config._attn_implementation}


def run_worker(framework, name, steps, warmup, precision="fp32", seq=SEQ, batch=0):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--config", name,
           "--steps", str(steps), "--warmup", str(warmup), "--precisions", precision,
           "--seq_length", str(seq), "--batch", str(batch)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="2", PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{framework} {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing)")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--precisions", default="fp32",
                        help="fp32: ours against PyTorch; fp32,bf16: ours in each precision, rounds alternating")
    parser.add_argument("--seq_length", type=int, default=SEQ)
    parser.add_argument("--batch", type=int, default=0, help="sequences a step (0: the config's)")
    parser.add_argument("--worker", choices=["tf", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    precisions = [p for p in args.precisions.split(",") if p]
    bad = [p for p in precisions if p not in ("fp32", "bf16")] + [n for n in args.configs.split(",")
                                                                  if n not in CONFIGS]
    if bad or not precisions or args.rounds < 1 or args.steps < 1 or args.warmup < 0 or args.batch < 0 \
            or not 8 <= args.seq_length <= 512:
        parser.error(f"bad flags {bad or ''}: --precisions fp32 or fp32,bf16; --configs of {', '.join(CONFIGS)}; "
                     "--rounds, --steps >= 1; --warmup, --batch >= 0; --seq_length 8..512")
    if args.worker:
        if args.worker == "tf":
            print(json.dumps(worker_tf(args.config, args.steps, args.warmup, precisions[0], args.seq_length,
                                       args.batch)))
        else:
            print(json.dumps(worker_torch(args.config, args.steps, args.warmup)))
        return
    if precisions != ["fp32"]:
        print(json.dumps(compare_precisions(args, precisions)))
        return

    t0 = time.time()
    result = {"benchmark": "train_step", "seq_length": SEQ, "threads": 2, "precision": "fp32"}
    for name in args.configs.split(","):
        ours, theirs, ref = [], [], {}
        for r in range(args.rounds):  # which side goes first alternates
            for side in ("tf", "torch") if r % 2 == 0 else ("torch", "tf"):
                out = run_worker(side, name, args.steps, args.warmup)
                (ours if side == "tf" else theirs).append(out["seq_per_s"])
                ref = out if side == "torch" else ref
        result[name] = {
            "batch": CONFIGS[name]["batch"],
            "ours_seq_per_s": spread(ours),
            "torch_seq_per_s": spread(theirs),
            "ratio": ratio_spread(ours, theirs, 3),
            "torch_attention": ref.get("attn_implementation"),
        }
    result["min_ratio"] = min(result[n]["ratio"]["median"] for n in args.configs.split(","))
    result["bar_met"] = result["min_ratio"] >= 1.0
    result["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(result))


def compare_precisions(args, precisions):
    """Our step in each of `precisions`, rounds alternating -> the report's dict."""
    t0 = time.time()
    result = {"benchmark": "train_step_precision", "seq_length": args.seq_length, "threads": 2,
              "precisions": precisions, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds}
    for name in args.configs.split(","):
        rounds = {p: [] for p in precisions}
        for _ in range(args.rounds):
            for p in precisions:
                rounds[p].append(run_worker("tf", name, args.steps, args.warmup, p, args.seq_length, args.batch))
        speeds = {p: [r["seq_per_s"] for r in rounds[p]] for p in precisions}
        entry = {"batch": args.batch or CONFIGS[name]["batch"]}
        for p in precisions:
            entry[p] = {"median_seq_per_s": round(statistics.median(speeds[p]), 3),
                        "min": round(min(speeds[p]), 3), "max": round(max(speeds[p]), 3),
                        "rounds_seq_per_s": [round(x, 3) for x in speeds[p]],
                        "compute_dtype": rounds[p][0]["compute_dtype"],
                        "losses": [round(x, 4) for x in rounds[p][0]["losses"]]}
        base, other = precisions[0], precisions[-1]
        entry[f"{other}_over_{base}"] = round(statistics.median(speeds[other]) / statistics.median(speeds[base]), 3)
        # each round's ratio against the round of the other precision next to it (pairs run back to back)
        paired = [b / a for a, b in zip(speeds[base], speeds[other])]
        entry["paired_ratio_min_max"] = [round(min(paired), 3), round(max(paired), 3)]
        entry["max_loss_difference"] = round(max(abs(a - b) for a, b in zip(rounds[base][0]["losses"],
                                                                              rounds[other][0]["losses"])), 4)
        result[name] = entry
    result["seconds"] = round(time.time() - t0, 1)
    return result


if __name__ == "__main__":
    main()
