#!/usr/bin/env python
"""The end-to-end demo on the embedded sample data (what `make demo` runs), offline.

sample NQ data -> vocab-nq.txt -> training records -> a small BERT trained from scratch
-> predictions on the dev split -> official metrics with nq_eval -> 5 sample answers.
Every stage runs the project's own command-line programs, as a user would.

  python tools/demo.py [--output_dir demo_out] [--random_seed 0] [--train_steps 4000] [--min_long_f1 0.8]
  python tools/demo.py --quick --output_dir DIR   # DIR/model, a small model folder, in seconds

`--quick` stops after training, with a model folder made for trying the programs out (the
documentation's examples use it), not for its answers: 50 training examples, a BERT of 2
layers and hidden size 32, 20 steps.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A BERT small enough to train from scratch in minutes on two CPU cores.
DEMO_CONFIG = {
    "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 512,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
    "model_type": "bert",  # "gelu" in transformers' meaning (erf), not Google's (tanh)
}
# --quick: the smallest recipe that still makes a real model folder, for examples and tests.
QUICK_RECIPE = {"num_train": 50, "num_dev": 10, "train_steps": 20, "batch_size": 8, "learning_rate": 1e-3}
QUICK_CONFIG = {"hidden_size": 32, "intermediate_size": 64, "max_position_embeddings": 128}
QUICK_HEADS = 2


def step(title, *cmd):
    print(f"\n== {title}\n$ {' '.join(cmd)}", flush=True)
    t0 = time.time()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(cmd, env=env, cwd=ROOT)
    if proc.returncode != 0:
        print(f"demo: step '{title}' failed with exit code {proc.returncode}", file=sys.stderr)
        sys.exit(proc.returncode)
    print(f"   ({time.time() - t0:.1f} s)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "demo_out"))
    parser.add_argument("--num_train", type=int, default=5000)
    parser.add_argument("--num_dev", type=int, default=200)
    parser.add_argument("--random_seed", type=int, default=0, help="run_nq --random_seed: same seed, same model")
    parser.add_argument("--train_steps", type=int, default=4000)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--max_seq_length", type=int, default=128,
                        help="128-token windows train ~1.6x faster than 192 on CPU and scored higher per minute")
    parser.add_argument("--doc_stride", type=int, default=64)
    parser.add_argument("--num_attention_heads", type=int, default=4)
    parser.add_argument("--include_unknowns", type=float, default=1.0,
                        help="sample documents span ~2 windows, so keep every null window (bert_joint's 0.02 suits ~30-window pages)")
    parser.add_argument("--min_long_f1", type=float, default=0.8, help="fail below this long-answer F1 (a sanity guard)")
    parser.add_argument("--fresh", action="store_true", help="retrain even if a checkpoint exists")
    parser.add_argument("--quick", action="store_true",
                        help="a small model folder in seconds (50 examples, hidden size 32, 20 steps), no "
                             "prediction: for trying the programs out")
    if parser.parse_known_args(argv)[0].quick:  # the quick recipe's defaults; flags given still win
        parser.set_defaults(**QUICK_RECIPE, num_attention_heads=QUICK_HEADS)
    args = parser.parse_args(argv)

    py = sys.executable
    out = os.path.abspath(args.output_dir)
    data, model_dir = os.path.join(out, "data"), os.path.join(out, "model")
    if args.fresh and os.path.isdir(model_dir):
        import shutil
        shutil.rmtree(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    t_start = time.time()

    step("1. sample NQ data (both formats)", py, "tools/make_sample_nq.py", f"--output_dir={data}",
         f"--num_train={args.num_train}", f"--num_dev={args.num_dev}")
    vocab = os.path.join(data, "vocab-nq.txt")
    step("2. bert_joint's vocabulary layout", py, "tools/make_nq_vocab.py", "--input", os.path.join(data, "vocab.txt"),
         "--output", vocab)
    with open(vocab, encoding="utf-8") as handle:
        vocab_size = sum(1 for _ in handle)
    config_path = os.path.join(out, "bert_config.json")
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(dict(DEMO_CONFIG, **(QUICK_CONFIG if args.quick else {}), vocab_size=vocab_size,
                       num_attention_heads=args.num_attention_heads), handle, indent=2)
    common = [f"--vocab_file={vocab}", f"--max_seq_length={args.max_seq_length}", f"--doc_stride={args.doc_stride}"]
    train_records = os.path.join(out, "train.tfrecord")
    step("3. training records", py, "-m", "nq_baseline.prepare_nq_data", *common,
         f"--input_jsonl={os.path.join(data, 'train-full.jsonl.gz')}", f"--output_tfrecord={train_records}",
         "--is_training", f"--include_unknowns={args.include_unknowns}", "--num_workers=2",
         "--synonym_augment_copies=0")
    step("4. train a small BERT from scratch", py, "-m", "nq_baseline.run_nq", "--do_train", *common,
         f"--bert_config_file={config_path}", f"--train_precomputed_file={train_records}",
         f"--output_dir={model_dir}", f"--max_steps={args.train_steps}", f"--train_batch_size={args.batch_size}",
         f"--learning_rate={args.learning_rate}", "--warmup_proportion=0.1", "--save_checkpoints_steps=500",
         f"--random_seed={args.random_seed}")
    if args.quick:
        print(f"\ndemo: a quick model folder in {model_dir} ({(time.time() - t_start) / 60:.1f} min)")
        return 0
    preds = os.path.join(out, "predictions.json")
    dev = os.path.join(data, "dev-full.jsonl.gz")
    step("5. predict on the dev split", py, "-m", "nq_baseline.run_nq", "--do_predict", *common,
         f"--bert_config_file={config_path}", f"--predict_file={dev}", f"--output_dir={model_dir}",
         f"--output_prediction_file={preds}", "--predict_batch_size=64")
    metrics_path = os.path.join(out, "metrics.json")
    step("6. official NQ metrics", py, "-m", "nq_baseline.nq_eval", f"--gold_path={dev}",
         f"--predictions_path={preds}", f"--output_path={metrics_path}", "--pretty_print")
    step("7. five sample questions", py, "tools/show_predictions.py", f"--gold_path={dev}",
         f"--predictions_path={preds}", "--num=5", f"--html_out={os.path.join(out, 'samples.html')}",
         f"--metrics_path={metrics_path}")

    with open(metrics_path, encoding="utf-8") as handle:
        metrics = json.load(handle)
    summary = {k: round(metrics[k], 4) for k in ("long-best-threshold-f1", "short-best-threshold-f1")}
    summary["random_seed"] = args.random_seed
    summary["minutes"] = round((time.time() - t_start) / 60, 1)
    print("\ndemo:", json.dumps(summary))
    if metrics["long-best-threshold-f1"] < args.min_long_f1:
        print(f"demo: long-answer F1 {metrics['long-best-threshold-f1']:.3f} is below {args.min_long_f1}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
