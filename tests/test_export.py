"""export_nq: the SavedModel (serving_default, answer_text in the graph) and the Hugging Face folder.

References nobody here wrote: `tokenizers` (NqTokenizer, BertPreTokenizer) for the in-graph
tokenization, PyTorch `transformers.BertForQuestionAnswering` for the HF folder, real SQuAD
and NQ text; answer_text is compared with the Python path, `Reader.answer(question, text,
kind="text")` (documents.document_from_text + features + the Keras model + postprocess).

In-graph vs Python tokenization, differences found (test_word_pieces_*):
- none on real text: every word of the NQ files in tests/data/nq-real and of the SQuAD slice
  in tests/data/squad (about 9k distinct words; the 39 whole articles, about 30k, gave none
  either) gives the same pieces;
- over every code point 0..U+1FFFF, alone and inside a word, about 570 code points differ,
  all characters added to Unicode or given another category after the tables `tokenizers`
  was built with (its Rust crates know Unicode 8/9; TensorFlow's ICU and RE2 know 15): for
  example U+0890 ARABIC POUND MARK ABOVE (Cf since Unicode 14) is dropped in the graph and
  [UNK] in Python, U+2E4F CORNISH VERSE DIVIDER (Po, Unicode 13) is its own word in the
  graph only. The test asserts that every difference is such a character (unassigned in
  Unicode 3.2, or of another category there).
- word boundaries (BertPreTokenizer vs the graph's RE2 split): the same story, about 0.3%
  of the code points, all newer than tokenizers' tables.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from tokenizers.pre_tokenizers import BertPreTokenizer

from conftest import KNOWN_ANSWER, NQ_REAL, ROOT, minilm_dir, run_module
from conftest import squad_slice as squad_articles

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY = dict(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=128, max_position_embeddings=128)
SPAN_SETTINGS = dict(long_answer_from="span", null_score="answer_type", short_inside_long=False,
                     n_best_size=10, max_answer_length=12)


def tiny_features():
    from nq_baseline.features.windows import FeatureConfig

    # Short windows (several per SQuAD paragraph), 3 paragraphs at most, [Paragraph=k] capped at 2.
    return FeatureConfig(max_seq_length=96, doc_stride=32, max_query_length=24, max_contexts=4, max_position=2)


def make_model_dir(path: Path, config, features, vocab, seed: int, init=None, step: int = 5,
                   long_answer_head: bool = False):
    """A model folder as run_nq --do_train leaves it: checkpoint (CheckpointManager) + nq_model.json."""
    import keras
    import tensorflow as tf

    from nq_baseline.model import checkpoints

    from nq_baseline.model import folder as model_dir

    from nq_baseline.model import modeling

    keras.utils.set_random_seed(seed)
    model = modeling.build_nq_model(config, features.max_seq_length, long_answer_head=long_answer_head)
    if init is not None:
        checkpoints.load_init_checkpoint(model, str(init))
        rng = np.random.default_rng(seed)  # a head with large enough logits to tell apart
        for variable in model.head.weights:
            variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))
    ckpt = tf.train.Checkpoint(model=model, step=tf.Variable(step, dtype=tf.int64))
    tf.train.CheckpointManager(ckpt, str(path), max_to_keep=1).save(checkpoint_number=step)
    model_dir.write_model_dir(str(path), bert_config_json=config.to_json_string(), vocab_file=str(vocab),
                              do_lower_case=True, features=features, long_answer_head=long_answer_head)
    return model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, nq_vocab):
    """(model folder, its Keras model): a tiny random BERT with the long-answer head over the
    NQ vocabulary."""
    from nq_baseline.model.modeling import BertConfig

    folder = tmp_path_factory.mktemp("tiny") / "model"
    model = make_model_dir(folder, BertConfig(**TINY), tiny_features(), nq_vocab, seed=7, long_answer_head=True)
    return folder, model


@pytest.fixture(scope="module")
def saved_export(tiny, tmp_path_factory):
    """The SavedModel, written by the CLI with the Reader's defaults (the long-answer head)."""
    out = tmp_path_factory.mktemp("export") / "saved"
    proc = run_module("nq_baseline.export_nq", f"--model_dir={tiny[0]}", f"--export_dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert "wrote the saved_model export" in proc.stdout
    assert not [n for n in os.listdir(out.parent) if ".tmp-" in n]
    assert json.loads((out / "nq_export.json").read_text())["postprocess"]["long_answer_from"] == "head"
    return out


def _load(path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops of the graph)

    return tf.saved_model.load(str(path))


@pytest.fixture(scope="module")
def loaded(saved_export):
    return _load(saved_export)


@pytest.fixture(scope="module")
def span_export(tiny, tmp_path_factory):
    """The same model exported by the library with the other post-processing choices."""
    from nq_baseline.export import publish, saved_model
    from nq_baseline.prediction.postprocess import PostprocessConfig

    out = tmp_path_factory.mktemp("export") / "span"
    trained = publish.load_trained_model(str(tiny[0]))
    saved_model.export_saved_model(trained, str(out), config=saved_model.answer_config(
        trained.spec, PostprocessConfig(**SPAN_SETTINGS)))
    return _load(out)


def reader(folder, **settings):
    """The Python path: the Reader, its default post-processing for the model with `settings`
    changed, the span always given (use_answer_type off, as answer_text)."""
    from nq_baseline.prediction.reader import Reader

    return Reader.load(str(folder), postprocess={"use_answer_type": False, **settings})


def reader_answer(python, question, context):
    """The Reader's answer in answer_text's fields."""
    answer = python.answer(question, context, kind="text")
    short = answer.short_answers[0] if answer.short_answers else None
    long = answer.long_answer
    out = {"score": answer.short_answers_score, "long_answer_score": answer.long_answer_score,
           "paragraph": answer.long_answer_index, "answer_type": answer.answer_type}
    for prefix, span in (("", short), ("long_", long)):
        out[prefix + "answer"] = span.text if span else ""
        for key in ("start_char", "end_char", "start_byte", "end_byte"):
            out[prefix + key] = getattr(span, key) if span else -1
    return out


def graph_answers(loaded, pairs):
    import tensorflow as tf

    out = loaded.signatures["answer_text"](question=tf.constant([q for q, _ in pairs]),
                                           context=tf.constant([c for _, c in pairs]))
    return unbatch({k: v.numpy() for k, v in out.items()}, len(pairs))


def unbatch(out, n):
    return [{k: (v[i].decode("utf-8") if isinstance(v[i], bytes) else v[i].item()) for k, v in out.items()}
            for i in range(n)]


def assert_same_answer(got, ref, where):
    for key in ref:
        if key.endswith("score"):
            assert got[key] == pytest.approx(ref[key], abs=1e-4), (where, key, got, ref)
        else:
            assert got[key] == ref[key], (where, key, got, ref)


def assert_same_windows(loaded, python, question, context):
    import tensorflow as tf

    encoded = loaded.encode(tf.constant(question), tf.constant(context))
    windows = python.encode([question], context, kind="text").windows
    for key in ("input_ids", "input_mask", "segment_ids"):
        np.testing.assert_array_equal(encoded[key].numpy(), windows[key], err_msg=key)
    np.testing.assert_array_equal(encoded["candidate"].numpy(), windows["candidate_map"])
    np.testing.assert_array_equal(encoded["token_word"].numpy() >= 0, windows["token_map"] >= 0)


def multi_paragraph_contexts(articles):
    """Real paragraphs joined with every kind of blank line (spaces, tabs, CRLF, NBSP,
    ideographic space), a line break and double spaces inside a paragraph, leading blank
    lines; more paragraphs than the model's max_contexts (answer_text and the Reader read every one)."""
    separators = ["\n\n", "\n \n", "\r\n\r\n", "\n\n\n", "\n\t\u00a0\n", "\n\u3000\n\n"]
    out = []
    for n, article in enumerate(articles[3:9]):
        paragraphs = [p["context"] for p in article["paragraphs"][:5]]
        text = "  \n" + "".join(p + separators[(n + j) % len(separators)] for j, p in enumerate(paragraphs))
        out.append((article["paragraphs"][1]["qas"][0]["question"], text.replace(". ", ".\n  ", 2)))
    return out


EDGE_CASES = [("who?", ""), ("what?", "  \n\n \t\n"),
              ("Was ist das?", "Über die Brücke: Café, naïve façade — 東京 is big."),
              ("[Q] [ContextId=0]  two  spaces", "One.\n\nTwo, with \u00ad soft hyphen and \u200b zero width."),
              ("nul?", "A NUL\x00byte inside a word, then\n\nmore words after it\x00.")]


# ----------------------------------------------------------------------------- SavedModel

FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the ops of answer_text)

path, inputs, questions, output = sys.argv[1:5]
loaded = tf.saved_model.load(path)
assert sorted(loaded.signatures) == ["answer_text", "serving_default"], list(loaded.signatures)
batch = dict(np.load(inputs))
serving = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in batch.items()})
pairs = json.load(open(questions))
answers = loaded.signatures["answer_text"](question=tf.constant([q for q, _ in pairs]),
                                           context=tf.constant([c for _, c in pairs]))
assert "nq_baseline" not in sys.modules, "the SavedModel needed the nq_baseline package"
np.savez(output, **{k: v.numpy() for k, v in serving.items()},
         **{"text_" + k: v.numpy() for k, v in answers.items()})
"""


def test_fresh_process_loads_both_signatures_serving_equals_keras(tiny, saved_export, tmp_path):
    """Only TensorFlow and tensorflow-text in a new process: both signatures run; serving_default
    equals the Keras model to 1e-5 on a random batch with padding (long-answer logits
    included); answer_text equals the Reader."""
    folder, model = tiny
    rng = np.random.default_rng(0)
    seq = tiny_features().max_seq_length
    lengths = np.array([seq, 50, 9])
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    batch = {"input_ids": (rng.integers(1000, TINY["vocab_size"], (3, seq)) * mask).astype(np.int32),
             "input_mask": mask, "segment_ids": ((np.arange(seq)[None, :] >= 6) & (mask == 1)).astype(np.int32)}
    np.savez(tmp_path / "inputs.npz", **batch)
    article = squad_articles()[0]["paragraphs"][0]
    pairs = [(q["question"], article["context"]) for q in article["qas"][:2]]
    (tmp_path / "questions.json").write_text(json.dumps(pairs))
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(saved_export), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "questions.json"), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(tmp_path / "out.npz", allow_pickle=True)
    keras_out = model(batch, training=False)
    assert sorted(k for k in out.files if not k.startswith("text_")) == sorted(keras_out)
    for key in keras_out:
        np.testing.assert_allclose(out[key], keras_out[key].numpy(), atol=1e-5, err_msg=key)
    answers = unbatch({k[len("text_"):]: out[k] for k in out.files if k.startswith("text_")}, len(pairs))
    python = reader(folder)
    for (question, context), got in zip(pairs, answers):
        ref = reader_answer(python, question, context)
        assert ref["start_char"] >= 0
        assert_same_answer(got, ref, question)


def test_answer_text_equals_reader_on_squad(tiny, loaded):
    """>= 50 real SQuAD questions over their own paragraph, multi-paragraph contexts and edge
    cases: the same windows and the same answer as Reader.answer(kind="text") (long-answer
    head; the model's own post-processing)."""
    folder, _ = tiny
    python = reader(folder)
    articles = squad_articles()
    pairs = [(p["qas"][0]["question"], p["context"]) for a in articles for p in a["paragraphs"][:2]][:60]
    pairs += multi_paragraph_contexts(articles) + EDGE_CASES
    got = graph_answers(loaded, pairs)
    answered = 0
    for (question, context), answer in zip(pairs, got):
        assert_same_windows(loaded, python, question, context)
        ref = reader_answer(python, question, context)
        assert_same_answer(answer, ref, question)
        if ref["start_byte"] >= 0:
            assert context.encode()[ref["start_byte"]:ref["end_byte"]].decode() == context[ref["start_char"]:ref["end_char"]]
        answered += ref["start_char"] >= 0
    assert answered >= 50, answered  # the comparison is over real spans, not over "no answer"


def test_answer_text_gives_the_known_answer(known_answer_folder, tmp_path):
    """The SavedModel alone, in a fresh process (TF Serving's view): the known-answer model's
    answer, "1820", with its offsets and its paragraph, for a question over a text holding it."""
    out = tmp_path / "saved"
    proc = run_module("nq_baseline.export_nq", f"--model_dir={known_answer_folder}", f"--export_dir={out}")
    assert proc.returncode == 0, proc.stderr
    context = ("The mill was rebuilt after the flood.\n\n" * 60 + "The town was founded in 1820 by Ada Corran.\n\n"
               "Its market is held on the square.")  # its paragraph 60: every paragraph is read
    code = ("import json, sys, tensorflow as tf, tensorflow_text; m = tf.saved_model.load(sys.argv[1]); "
            "a = m.signatures['answer_text'](question=tf.constant(['when was it founded']), "
            "context=tf.constant([sys.argv[2]])); "
            "print(json.dumps({k: v.numpy()[0].decode() if v.dtype == tf.string else v.numpy()[0].item() "
            "for k, v in a.items()}))")
    proc = subprocess.run([sys.executable, "-c", code, str(out), context], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    start = context.index(KNOWN_ANSWER)
    assert (answer["answer"], answer["start_char"], answer["end_char"]) == (KNOWN_ANSWER, start, start + 4)
    assert answer["paragraph"] == 60 and answer["long_answer"] == "The town was founded in 1820 by Ada Corran."
    assert answer["answer_type"] == "SHORT"


def test_answer_text_equals_reader_span_mode(tiny, span_export):
    """The other post-processing: long answer from the best span, null score with the
    answer-type log-odds, spans across paragraphs allowed, n_best_size 10, spans <= 12."""
    folder, _ = tiny
    python = reader(folder, **SPAN_SETTINGS)
    articles = squad_articles()
    pairs = [(p["qas"][1]["question"], p["context"]) for a in articles[:20] for p in a["paragraphs"][2:3]]
    pairs += multi_paragraph_contexts(articles) + EDGE_CASES
    got = graph_answers(span_export, pairs)
    for (question, context), answer in zip(pairs, got):
        assert_same_answer(answer, reader_answer(python, question, context), question)
        # at most 12 pieces (max_answer_length), extended to whole words: at most 12 words
        assert len(BertPreTokenizer().pre_tokenize_str(answer["answer"])) <= 12
    assert sum(a["start_char"] >= 0 for a in got) >= 20


def test_answer_text_batch_errors(loaded):
    import tensorflow as tf

    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        loaded.signatures["answer_text"](question=tf.constant(["a", "b"]), context=tf.constant(["c"]))


def _word_pieces(loaded, words):
    import tensorflow as tf

    out = loaded.word_pieces(tf.constant(words))
    ids, lengths = out["ids"].numpy(), out["row_lengths"].numpy()
    splits = np.concatenate([[0], np.cumsum(lengths)])
    return [tuple(ids[splits[i]:splits[i + 1]].tolist()) for i in range(len(words))]


def real_words():
    """Every word of the real NQ files (document tokens, questions) and of the SQuAD articles."""
    import gzip

    from tokenizers.pre_tokenizers import BertPreTokenizer

    words = set()
    for path in sorted(NQ_REAL.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                example = json.loads(line)
                if "document_tokens" in example:
                    words.update(t["token"] for t in example["document_tokens"] if not t["html_token"])
                else:
                    words.update(example["document_text"].split(" "))
                words.update(example["question_text"].split(" "))
    pre = BertPreTokenizer()
    for article in squad_articles():
        for paragraph in article["paragraphs"]:
            words.update(w for w, _ in pre.pre_tokenize_str(paragraph["context"]))
            for qa in paragraph["qas"]:
                words.update(qa["question"].split(" "))
    return sorted(words)


def test_word_pieces_equal_nq_tokenizer_on_real_text(tiny, loaded):
    from nq_baseline.features.tokenization import NqTokenizer

    tokenizer = NqTokenizer(str(tiny[0] / "vocab.txt"))
    words = real_words()
    assert len(words) > 9000
    graph = _word_pieces(loaded, words)
    python = tokenizer.word_ids(words)
    differences = [w for w, g, p in zip(words, graph, python) if g != p]
    assert differences == []
    tricky = ["ΟΔΟΣ", "Σ", "ΣΑΣ", "straße", "İstanbul", "ǅemal", "ﬁne", "Ｆｕｌｌ", "e\u0301te\u0301", "日本語",
              "x" * 100, "x" * 101, "é" * 60, "é" * 101, "a\u00adb", "a\u200bb", "a\x00b\ufffdc", "😀", "[Q]", "",
              "tab\there", "line\nbreak", "a\x0bb", "a\x85b", "I.B.M.", "naïve-café"]
    assert _word_pieces(loaded, tricky) == tokenizer.word_ids(tricky)


def test_word_pieces_differ_only_on_characters_newer_than_tokenizers_tables(tiny, loaded):
    """Every code point up to U+1FFFF, alone and inside a word: a difference from NqTokenizer
    is a character that Unicode 3.2 did not have, or had in another category (tokenizers'
    Rust tables are older than TensorFlow's ICU / RE2)."""
    from nq_baseline.features.tokenization import NqTokenizer

    tokenizer = NqTokenizer(str(tiny[0] / "vocab.txt"))
    points = [c for c in range(0x20000) if not 0xD800 <= c <= 0xDFFF]
    for form in ("{}", "ab{}cd"):
        words = [form.format(chr(c)) for c in points]
        graph = _word_pieces(loaded, words)
        python = tokenizer.word_ids(words)
        differ = [c for c, g, p in zip(points, graph, python) if g != p]
        stable = [c for c in differ
                  if unicodedata.ucd_3_2_0.category(chr(c)) == unicodedata.category(chr(c)) != "Cn"]
        assert stable == [], [(hex(c), unicodedata.name(chr(c), "?")) for c in stable]
        assert len(differ) < 0.01 * len(points)


def test_word_boundaries_equal_bert_pre_tokenizer():
    """export.split_words splits like tokenizers' BertPreTokenizer, byte offsets
    included, on every code point up to U+1FFFF inside a word (differences: only characters
    newer than tokenizers' tables, as above)."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    from nq_baseline.export import text_graph

    pre = BertPreTokenizer()
    points = [c for c in range(0x20000) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"ab{chr(c)}cd e" for c in points]
    words, begin, end = text_graph.split_words(texts)
    words, begin, end = words.to_list(), begin.to_list(), end.to_list()
    differ = []
    for i, text in enumerate(texts):
        ref = pre.pre_tokenize_str(text)
        ref_bytes = [(w, len(text[:a].encode()), len(text[:b].encode())) for w, (a, b) in ref]
        encoded = text.encode()
        graph = [(encoded[a:b].decode(), a, b) for a, b in zip(begin[i], end[i])]
        if graph != ref_bytes:
            differ.append(points[i])
    stable = [c for c in differ if unicodedata.ucd_3_2_0.category(chr(c)) == unicodedata.category(chr(c)) != "Cn"]
    assert stable == [], [(hex(c), unicodedata.name(chr(c), "?")) for c in stable]
    assert len(differ) < 0.005 * len(points)


# ----------------------------------------------------------------------------- Hugging Face


@pytest.fixture(scope="module")
def minilm_hf(tmp_path_factory, nq_vocab):
    """A model folder with the real MiniLM-L6 encoder (and a random head), exported as HF."""
    from nq_baseline.export import hf, publish
    from nq_baseline.features.windows import FeatureConfig
    from nq_baseline.model.modeling import BertConfig

    root = tmp_path_factory.mktemp("minilm")
    config = BertConfig.from_json_file(str(minilm_dir() / "config.json"))
    features = FeatureConfig(max_seq_length=128, doc_stride=64, max_query_length=32)
    model = make_model_dir(root / "model", config, features, nq_vocab, seed=3, init=minilm_dir())
    trained = publish.load_trained_model(str(root / "model"))
    out = hf.export_hf(trained, str(root / "hf"))
    return Path(out), model, features


def squad_windows(model, features, vocab_file):
    """Real windows: a SQuAD question over its paragraph, several windows, the last padded."""
    from nq_baseline.model.modeling import MODEL_INPUT_KEYS
    from nq_baseline.prediction.postprocess import PostprocessConfig
    from nq_baseline.prediction.reader import Reader
    from nq_baseline.features.tokenization import NqTokenizer

    paragraph = squad_articles()[1]["paragraphs"][0]
    python = Reader(model, NqTokenizer(str(vocab_file)), features, PostprocessConfig())
    windows = python.encode([paragraph["qas"][0]["question"]], paragraph["context"], kind="text").windows
    assert len(windows["input_ids"]) >= 2 and windows["input_mask"][-1].min() == 0
    return {k: windows[k].astype(np.int32) for k in MODEL_INPUT_KEYS}


def test_hf_logits_equal_pytorch(minilm_hf):
    """transformers' BertForQuestionAnswering loads the folder with no missing or unexpected
    weight; its start/end logits equal ours to 1e-4; the saved answer-type head (with its
    pooler) reproduces our answer-type logits from torch's last hidden state."""
    import torch
    from safetensors.numpy import load_file
    from transformers import BertForQuestionAnswering

    from nq_baseline.export import hf

    folder, model, features = minilm_hf
    batch = squad_windows(model, features, folder / "vocab.txt")
    qa, info = BertForQuestionAnswering.from_pretrained(str(folder), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    qa.eval()
    with torch.no_grad():
        out = qa(input_ids=torch.tensor(batch["input_ids"], dtype=torch.long),
                 attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
                 token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long), output_hidden_states=True)
    ours = {k: v.numpy() for k, v in model(batch, training=False).items()}
    assert np.abs(ours["start_logits"]).max() > 1.0  # a head that matters
    np.testing.assert_allclose(out.start_logits.numpy(), ours["start_logits"], atol=1e-4)
    np.testing.assert_allclose(out.end_logits.numpy(), ours["end_logits"], atol=1e-4)
    head = load_file(str(folder / hf.HEAD_FILE))
    cls = out.hidden_states[-1][:, 0].numpy()
    pooled = np.tanh(cls @ head["bert.pooler.dense.weight"].T + head["bert.pooler.dense.bias"])
    answer_type = pooled @ head["answer_type_output_weights"].T + head["answer_type_output_bias"]
    np.testing.assert_allclose(answer_type, ours["answer_type_logits"], atol=1e-4)
    assert "answer-type head" in (folder / "README.md").read_text()


def test_hf_weights_load_back_through_the_loader_table(minilm_hf, tmp_path):
    """The export mapping is the loader's (checkpoints.hf_to_google_name) inverted: loading the
    HF folder back gives every encoder and start/end weight bit for bit."""
    import shutil

    import keras

    from nq_baseline.model import checkpoints

    from nq_baseline.model import modeling

    from safetensors.numpy import load_file, save_file

    from nq_baseline.export import hf

    folder, model, features = minilm_hf
    # The loader wants the pooler, which BertForQuestionAnswering has no place for: it is in
    # the head file, under its HF name.
    both = tmp_path / "both"
    both.mkdir()
    shutil.copy(folder / "config.json", both / "config.json")
    tensors = load_file(str(folder / "model.safetensors"))
    tensors.update({k: v for k, v in load_file(str(folder / hf.HEAD_FILE)).items() if k.startswith("bert.")})
    save_file(tensors, str(both / "model.safetensors"))
    keras.utils.set_random_seed(11)
    back = modeling.build_nq_model(model.config, features.max_seq_length)
    report = checkpoints.load_init_checkpoint(back, str(both))
    assert report.kind == "hf" and not report.unused
    assert report.missing == ["answer_type_output_weights", "answer_type_output_bias"]
    for a, b in zip(model.encoder.weights, back.encoder.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(model.head.output_weights.numpy(), back.head.output_weights.numpy())
    np.testing.assert_array_equal(model.head.output_bias.numpy(), back.head.output_bias.numpy())


def test_hf_tokenizer_equals_nq_tokenizer_offline(minilm_hf, monkeypatch):
    """AutoTokenizer on the folder (offline) word-pieces real paragraphs like NqTokenizer (no
    [UNK] on English text: the BertTokenizerFast(vocab_file=...) trap is avoided)."""
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from transformers import AutoTokenizer

    from nq_baseline.features.tokenization import NqTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = minilm_hf[0]
    hf = AutoTokenizer.from_pretrained(str(folder))
    ours = NqTokenizer(str(folder / "vocab.txt"))
    pre = BertPreTokenizer()
    for paragraph in squad_articles()[2]["paragraphs"][:10]:
        text = paragraph["context"]
        expected = [i for piece in ours.word_ids([w for w, _ in pre.pre_tokenize_str(text)]) for i in piece]
        got = hf(text, add_special_tokens=False)["input_ids"]
        assert got == expected
        assert ours.unk_id not in got
    pair = hf("who?", "answer", add_special_tokens=True)
    assert hf.convert_ids_to_tokens(pair["input_ids"]) == ["[CLS]", "who", "?", "[SEP]", "answer", "[SEP]"]
    assert pair["token_type_ids"] == [0, 0, 0, 0, 1, 1]


def test_hf_export_gives_transformers_the_known_answer(known_answer_folder, tmp_path, monkeypatch):
    """The Hugging Face folder in transformers' hands (PyTorch, its own tokenizer and windows, the
    extractive decoding of its question-answering pipeline done by hand, as the pipeline is gone
    from transformers 5): the known-answer model's answer, "1820", at its place in the context."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    proc = run_module("nq_baseline.export_nq", f"--model_dir={known_answer_folder}", f"--export_dir={tmp_path / 'hf'}",
                      "--format=hf")
    assert proc.returncode == 0, proc.stderr
    folder = str(tmp_path / "hf")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    context = " ".join(["The mill by the river was rebuilt after the flood and the bridge was widened."] * 8
                       + ["The town was founded in 1820 by Ada Corran."]
                       + ["Its market is held on the square every week in summer."] * 8)
    enc = tokenizer("when was the town founded", context, truncation="only_second", max_length=128, stride=32,
                    return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length",
                    return_tensors="pt")
    assert enc["input_ids"].shape[0] >= 2  # several windows
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                    token_type_ids=enc["token_type_ids"])
    best = None
    for w in range(enc["input_ids"].shape[0]):
        in_context = [i for i, s in enumerate(enc.sequence_ids(w)) if s == 1]
        for s in in_context:
            for e in in_context:
                if s <= e < s + 30:
                    score = float(out.start_logits[w, s] + out.end_logits[w, e])
                    if best is None or score > best[0]:
                        best = (score, w, s, e)
    _, w, s, e = best
    start, end = int(enc["offset_mapping"][w, s, 0]), int(enc["offset_mapping"][w, e, 1])
    assert context[start:end] == KNOWN_ANSWER and start == context.index(KNOWN_ANSWER)


# ----------------------------------------------------------------------------- CLI and publishing


TF_LOG_LINE = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")


def _one_error_line(proc, *needles):
    """Exit 2 and one line of ours on stderr, the last one (TensorFlow's start-up log aside)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    ours = [line for line in proc.stderr.splitlines() if not TF_LOG_LINE.match(line)]
    lines = [line for line in ours if line.startswith("export_nq: error:")]
    assert ours == lines and len(lines) == 1 and proc.stderr.rstrip().endswith(lines[0]), proc.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _left_behind(directory: Path):
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


def test_cli_errors_exit_2_one_line_nothing_left(tmp_path, nq_vocab):
    out = tmp_path / "out"
    proc = run_module("nq_baseline.export_nq", f"--export_dir={out}")
    assert _one_error_line(proc, "--model_dir") and proc.stderr.count("\n") == 1
    proc = run_module("nq_baseline.export_nq", f"--model_dir={tmp_path / 'nope'}", f"--export_dir={out}")
    _one_error_line(proc, "--model_dir", "nope")
    (tmp_path / "empty").mkdir()
    proc = run_module("nq_baseline.export_nq", f"--model_dir={tmp_path / 'empty'}", f"--export_dir={out}")
    _one_error_line(proc, "nq_model.json")
    for flag in ("--format=onnx", "--n_best_size=0", "--max_answer_length=-1", "--n_best_size=many",
                 "--null_score=zero", "--long_answer_from=both"):
        proc = run_module("nq_baseline.export_nq", f"--model_dir={tmp_path / 'empty'}", f"--export_dir={out}", flag)
        _one_error_line(proc, flag.split("=")[0])
    from nq_baseline.model import folder as model_dir
    from nq_baseline.features.windows import FeatureConfig
    from nq_baseline.model.modeling import BertConfig

    no_head = tmp_path / "no_head"  # a described model without the long-answer head
    model_dir.write_model_dir(str(no_head), bert_config_json=BertConfig(**TINY).to_json_string(),
                              vocab_file=str(nq_vocab), do_lower_case=True, features=FeatureConfig())
    proc = run_module("nq_baseline.export_nq", f"--model_dir={no_head}", f"--export_dir={out}",
                      "--long_answer_from=head")
    _one_error_line(proc, "--long_answer_from=head", "--long_answer_head")
    (tmp_path / "file").write_text("x")
    proc = run_module("nq_baseline.export_nq", f"--model_dir={tmp_path}", f"--export_dir={tmp_path / 'file'}")
    _one_error_line(proc, "--export_dir", "not a folder")
    proc = run_module("nq_baseline.export_nq", f"--model_dir={tmp_path}", f"--export_dir={tmp_path / 'file' / 'sub'}")
    _one_error_line(proc, "--export_dir")
    assert not out.exists() and _left_behind(tmp_path) == []


def test_cli_model_folder_errors_and_overwrite(tiny, tmp_path):
    """A folder without checkpoint, a checkpoint that does not fit its config, a non-empty
    destination: one line, exit 2, nothing written; --overwrite replaces the destination."""
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny[0], folder)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = run_module("nq_baseline.export_nq", f"--model_dir={folder}", f"--export_dir={out}", "--format=hf")
    _one_error_line(proc, "--export_dir", "not empty", "--overwrite")
    assert (out / "keep.txt").read_text() == "mine"

    config = json.loads((folder / "bert_config.json").read_text())
    (folder / "bert_config.json").write_text(json.dumps(dict(config, hidden_size=32)))
    proc = run_module("nq_baseline.export_nq", f"--model_dir={folder}", f"--export_dir={tmp_path / 'x'}")
    _one_error_line(proc, str(folder), "does not fit")
    (folder / "bert_config.json").write_text(json.dumps(config))
    for name in os.listdir(folder):
        if name.startswith("ckpt") or name == "checkpoint":
            os.unlink(folder / name)
    proc = run_module("nq_baseline.export_nq", f"--model_dir={folder}", f"--export_dir={tmp_path / 'x'}")
    _one_error_line(proc, "no checkpoint")
    assert not (tmp_path / "x").exists() and _left_behind(tmp_path) == []

    proc = run_module("nq_baseline.export_nq", f"--model_dir={tiny[0]}", f"--export_dir={out}", "--format=hf",
                      "--overwrite")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    from safetensors.numpy import load_file

    from nq_baseline.export import hf

    head = load_file(str(out / hf.HEAD_FILE))  # the tiny model has the long-answer head
    np.testing.assert_array_equal(head["long_output_weights"], tiny[1].head.long_output_weights.numpy())
    assert "long-answer head" in (out / "README.md").read_text()
    assert json.loads((out / "nq_export.json").read_text())["step"] == 5
    assert _left_behind(tmp_path) == []


def test_publish_failure_leaves_nothing_and_keeps_the_old_export(tmp_path):
    from nq_baseline.export import publish

    def broken(folder):
        Path(folder, "half.bin").write_bytes(b"x" * 100)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        publish.publish(str(tmp_path / "new"), False, broken)
    assert not (tmp_path / "new").exists() and _left_behind(tmp_path) == []
    old = tmp_path / "old"
    old.mkdir()
    (old / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        publish.publish(str(old), True, broken)
    assert os.listdir(old) == ["a.txt"] and _left_behind(tmp_path) == []
    publish.publish(str(old), True, lambda folder: Path(folder, "b.txt").write_text("new"))
    assert os.listdir(old) == ["b.txt"] and _left_behind(tmp_path) == []


def test_answer_text_refuses_settings_it_cannot_follow(tiny, tmp_path):
    """The graph decides the form from the winning window and has no BM25: a library export
    asked for either is an ExportError, and nothing is written."""
    from nq_baseline.export import exporter, publish
    from nq_baseline.prediction.postprocess import PostprocessConfig

    for settings, named in (({"answer_type_scope": "example"}, "answer_type_scope"),
                            ({"lexical_weight": 0.5}, "lexical weight")):
        with pytest.raises(publish.ExportError, match=named):
            exporter.export(str(tiny[0]), str(tmp_path / "x"), postprocess=PostprocessConfig(**settings))
    assert not (tmp_path / "x").exists()


def test_a_huge_paragraph_limit_keeps_the_marker_table_small(nq_vocab):
    """export_nq --max_paragraphs=2**62 (a valid flag) builds the table of the paragraphs'
    markers only as far as the markers change, as with no limit, instead of 2**62 rows."""
    from nq_baseline.export.text_graph import TextLayout

    every = TextLayout(nq_vocab, True, dataclasses.replace(tiny_features(), max_contexts=0))
    huge = TextLayout(nq_vocab, True, dataclasses.replace(tiny_features(), max_contexts=2**62 + 1))
    assert huge.paragraph_markers == every.paragraph_markers
    assert huge.paragraph_limit == 2**62 and len(huge.paragraph_markers) < 1000
    two = TextLayout(nq_vocab, True, dataclasses.replace(tiny_features(), max_contexts=3))
    assert two.paragraph_markers == every.paragraph_markers[:2]
