#!/usr/bin/env python
"""bert_joint's own feature code, run on this Python as the reference of bench_prepare.py.

The code is not part of this project: pass the `run_nq.py` of a checkout of
google-research/language (language/question_answering/bert_joint/run_nq.py). Its
tokenizer is `bert.tokenization.FullTokenizer` from PyPI's `bert-tensorflow==1.0.4`
(`pip install -e .[bench]`).

What runs is bert_joint's pipeline unchanged: `read_nq_examples` (its
`create_example_from_jsonl` and `read_nq_entry` per line), `convert_examples_to_features`
(`convert_single_example` per example) and its `FeatureWriter` writing each feature as a
tf.train.Example to a TFRecord file, as its `main` does for prediction features.

run_nq.py was written for TF1 on Python 2. The shims, all outside its code:
- its `import tensorflow as tf` is served `tf.compat.v1` while the module loads, the API it
  was written for (`tf.flags`, `tf.logging`, `tf.gfile`, `tf.python_io`); bert-tensorflow
  1.0.4 itself already imports `tensorflow.compat.v1`;
- bert-tensorflow's `modeling` (which run_nq imports for its model, not for features)
  imports `tensorflow.contrib.layers` at load time; TF2 has no contrib, so a stand-in module
  is there during the load, whose `layer_norm` refuses (no model is built here);
- `xrange` (Python 2) is put into the module's namespace as `range`;
- `FeatureWriter` reads `feature.token_to_orig_map.iteritems()` (Python 2) for prediction
  features: each feature's map is handed to it as a dict that also answers `iteritems`
  (a copy of a dict of at most max_seq_length ints, inside the timed part: a cost against
  bert_joint, below 1% of its time here);
- its absl flags are parsed from the command line given below (defaults otherwise: 384 /
  128 / 64, max_contexts 48, skip_nested_contexts).

Prints one JSON line: examples, features, seconds (reading the file through writing the
last record; the tokenizer's vocabulary load and TF's import are excluded, as prepare_nq_data's
stats exclude its start-up).

  python benchmarks/bert_joint_features.py --run_nq PATH/run_nq.py --vocab_file vocab-nq.txt \
      --input_jsonl pages.jsonl --output_tfrecord /tmp/bj.tfrecord [--is_training --include_unknowns 0.02]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
import types


class _Py2Dict(dict):
    """A dict with Python 2's `iteritems`, for FeatureWriter's prediction features."""

    def iteritems(self):
        return iter(self.items())


def _contrib_stand_in() -> types.ModuleType:
    """`tensorflow.contrib` with a `layers.layer_norm` that refuses: only the model needs it."""
    def layer_norm(*args, **kwargs):
        raise NotImplementedError("tensorflow.contrib is absent: bert_joint's model is not built here")

    contrib = types.ModuleType("tensorflow.contrib")
    contrib.layers = types.SimpleNamespace(layer_norm=layer_norm)
    return contrib


def load_run_nq(path: str):
    """run_nq.py as a module, its `tensorflow` being tf.compat.v1 and `xrange` being range."""
    import tensorflow as tf2

    spec = importlib.util.spec_from_file_location("bert_joint_run_nq", path)
    module = importlib.util.module_from_spec(spec)
    module.xrange = range
    saved = sys.modules["tensorflow"]
    sys.modules["tensorflow"] = tf2.compat.v1  # what its `import tensorflow as tf` binds
    sys.modules["tensorflow.contrib"] = _contrib_stand_in()
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules["tensorflow"] = saved
        del sys.modules["tensorflow.contrib"]
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run_nq", required=True, help="bert_joint's run_nq.py")
    parser.add_argument("--vocab_file", required=True)
    parser.add_argument("--input_jsonl", required=True, help="NQ jsonl, original format")
    parser.add_argument("--output_tfrecord", required=True)
    parser.add_argument("--is_training", action="store_true")
    parser.add_argument("--include_unknowns", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    run_nq = load_run_nq(args.run_nq)
    run_nq.FLAGS([sys.argv[0], f"--vocab_file={args.vocab_file}", f"--include_unknowns={args.include_unknowns}"])
    random.seed(args.seed)  # include_unknowns draws from the global generator
    tokenizer = run_nq.tokenization.FullTokenizer(vocab_file=args.vocab_file, do_lower_case=True)
    writer = run_nq.FeatureWriter(filename=args.output_tfrecord, is_training=args.is_training)

    def write(feature):
        if not args.is_training:
            feature.token_to_orig_map = _Py2Dict(feature.token_to_orig_map)
        writer.process_feature(feature)

    t0 = time.perf_counter()
    examples = run_nq.read_nq_examples(input_file=args.input_jsonl, is_training=args.is_training)
    run_nq.convert_examples_to_features(examples=examples, tokenizer=tokenizer,
                                        is_training=args.is_training, output_fn=write)
    writer.close()
    seconds = time.perf_counter() - t0
    # examples read (lines), as prepare_nq_data counts them; read_nq_entry may drop some in training
    with open(args.input_jsonl, "rb") as handle:
        n_lines = sum(1 for line in handle if line.strip())
    print(json.dumps({"examples": n_lines, "nq_examples": len(examples), "features": writer.num_features,
                      "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
