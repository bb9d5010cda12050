#!/usr/bin/env python
"""Hard-negative mining: the null windows a trained model scores highest, as training records.

For every training example (NQ jsonl, either format) it builds all the example's windows
with the model folder's feature settings, runs the model over them, and scores each window
that does NOT hold the gold answer by how much the model believes it holds one: its best
short-span score (start + end logits - [CLS]'s), or, for a model with the long-answer head,
the larger of that and its best candidate-marker score. The `--per_example` highest are
written as training records labelled (0, 0, UNKNOWN), long label [CLS] (the layout
`prepare_nq_data` writes). A second training pass on the usual records plus these
(`run_nq --train_precomputed_file=train.tfrecord,hard.tfrecord`) learns from the model's
own mistakes, as the TF2-QA competition's winners did.

  python tools/mine_hard_negatives.py --model_dir=M --input_jsonl=train-full.jsonl.gz \
      --output_tfrecord=hard.tfrecord [--per_example=2] [--max_examples=2000]

Deterministic: every null window is scored (no sampling), ties keep window order.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys

import numpy as np

from nq_baseline.features import windows as F
from nq_baseline.common import fileio, cli
from nq_baseline.features import records as R
from nq_baseline.common.errors import NqInputError
from nq_baseline.reading.nq_data import read_documents

PROGRAM = "mine_hard_negatives"


def window_scores(outputs: dict, windows: dict, max_answer_length: int) -> np.ndarray:
    """How much each window looks like it holds an answer: its best span score over document
    positions (start + end - [CLS]'s, 1 to max_answer_length pieces), or its best
    candidate-marker score (long-answer head) when higher."""
    start, end = outputs["start_logits"], outputs["end_logits"]
    in_doc = windows["token_map"] >= 0
    start = np.where(in_doc, start, -np.inf)
    end = np.where(in_doc, end, -np.inf)
    seq = start.shape[1]
    best = np.full(len(start), -np.inf)
    for d in range(min(max_answer_length, seq)):  # spans of d + 1 pieces
        best = np.maximum(best, np.max(start[:, :seq - d] + end[:, d:], axis=1))
    best -= outputs["start_logits"][:, 0] + outputs["end_logits"][:, 0]
    if "long_logits" in outputs:
        markers = np.where(windows["candidate_map"] >= 0, outputs["long_logits"], -np.inf)
        best = np.maximum(best, np.max(markers, axis=1) - outputs["long_logits"][:, 0])
    return best


def mine(reader, input_pattern: str, per_example: int, max_examples: int):
    """Yields (features of the chosen hard negatives, their unique ids) per example."""
    cfg = reader.features
    for ordinal, doc in enumerate(read_documents(input_pattern)):
        if max_examples and ordinal >= max_examples:
            break
        ex = F.build_example(doc, cfg)
        if ex is None:
            continue
        every_window = dataclasses.replace(cfg, include_unknowns=1.0, negatives_per_positive=-1.0)
        # Every window is kept, so the generator draws nothing: the choice depends on the scores alone.
        labelled = F.make_features(ex, reader.tokenizer, every_window, True, random.Random(0))
        negatives = [f for f in labelled if f.answer_type == F.UNKNOWN]
        if not negatives:
            continue
        windows = {k: np.stack([getattr(f, a) for f in negatives]) for k, a in
                   (("input_ids", "input_ids"), ("input_mask", "input_mask"), ("segment_ids", "segment_ids"),
                    ("token_map", "token_map"), ("candidate_map", "candidate_map"))}
        scores = window_scores(reader.run(windows), windows, reader.postprocess.max_answer_length)
        chosen = [negatives[i] for i in np.argsort(-scores, kind="stable")[:per_example]]
        for f in chosen:
            f.long_position = 0
        yield chosen, [F.unique_id(doc.example_id, f.doc_span_index) for f in chosen]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model_dir", required=True)
    p.add_argument("--input_jsonl", required=True)
    p.add_argument("--output_tfrecord", required=True)
    p.add_argument("--per_example", type=int, default=2)
    p.add_argument("--max_examples", type=int, default=0, help="0: all")
    p.add_argument("--batch_size", type=int, default=64)
    args = p.parse_args(argv)
    if args.per_example < 1 or args.max_examples < 0 or args.batch_size < 1:
        cli.fail(PROGRAM, "--per_example and --batch_size must be >= 1, --max_examples >= 0")
    fileio.install_signal_cleanup(PROGRAM)
    cli.start_tensorflow()
    from nq_baseline.model.folder import ModelSpec
    from nq_baseline.prediction.reader import Reader

    try:
        # the windows the model trains on: its own max_contexts, not a Reader's every paragraph
        reader = Reader.load(args.model_dir, batch_size=args.batch_size,
                             max_contexts=ModelSpec.load(args.model_dir).features.max_contexts)
        writer = R.AtomicRecordWriter(args.output_tfrecord)
        n_examples = n_records = 0
        try:
            for feats, ids in mine(reader, args.input_jsonl, args.per_example, args.max_examples):
                for rec in R.serialize_features(feats, True, ids):
                    writer.write(rec)
                n_examples += 1
                n_records += len(feats)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    except (NqInputError, ValueError, OSError) as err:
        cli.fail(PROGRAM, str(err))
    stats = {"num_instances": n_records, "num_examples": n_examples, "per_example": args.per_example,
             "model_dir": args.model_dir}
    fileio.write_json_atomic(args.output_tfrecord + ".stats.json", stats)
    print(f"{PROGRAM}: {n_records} hard negatives of {n_examples} examples -> {args.output_tfrecord}")
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
