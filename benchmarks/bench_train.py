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
"""

import argparse
import json
import os
import subprocess
import sys
import time

from rounds import ratio_spread, spread

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ = 512
VOCAB = 30522
CONFIGS = {
    "bert_tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=512, batch=8),
    "minilm_l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                      intermediate_size=1536, batch=4),
}


def _inputs(batch):
    import numpy as np

    rng = np.random.default_rng(0)
    mask = np.ones((batch, SEQ), np.int64)
    mask[-1, SEQ - 100:] = 0  # a little padding, as real windows at a document's end have
    return {
        "input_ids": rng.integers(1000, VOCAB, (batch, SEQ)) * mask,
        "input_mask": mask,
        "segment_ids": (np.arange(SEQ)[None, :] >= 40).astype(np.int64) * mask,
        "start_positions": rng.integers(0, SEQ, batch),
        "end_positions": rng.integers(0, SEQ, batch),
        "answer_types": rng.integers(0, 5, batch),
    }


def worker_tf(name, steps, warmup):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from nq_baseline.model import modeling
    from nq_baseline.model import training

    cfg = dict(CONFIGS[name])
    batch = cfg.pop("batch")
    config = modeling.BertConfig(vocab_size=VOCAB, max_position_embeddings=SEQ, **cfg)
    model = modeling.build_nq_model(config, SEQ)
    optimizer = training.create_optimizer(1e-4, 10_000, 0)
    optimizer.build(model.trainable_variables)
    data = {k: tf.constant(v, tf.int64 if k == "unique_ids" else tf.int32)
            for k, v in _inputs(batch).items()}
    iterator = iter(tf.data.Dataset.from_tensors(data).repeat())
    step = training.make_train_step(model, optimizer)
    for _ in range(warmup):
        float(step(iterator))
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = float(step(iterator))
    elapsed = time.perf_counter() - t0
    return {"seq_per_s": batch * steps / elapsed, "loss": loss}


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


def run_worker(framework, name, steps, warmup):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--config", name,
           "--steps", str(steps), "--warmup", str(warmup)]
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
    parser.add_argument("--worker", choices=["tf", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        fn = worker_tf if args.worker == "tf" else worker_torch
        print(json.dumps(fn(args.config, args.steps, args.warmup)))
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


if __name__ == "__main__":
    main()
