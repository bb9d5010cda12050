"""export_nq: the SavedModel (serving_default, answer_text in the graph) and the Hugging Face folder.

References nobody here wrote: `tokenizers` (NqTokenizer, BertPreTokenizer) for the in-graph
tokenization, PyTorch `transformers.BertForQuestionAnswering` for the HF folder, real SQuAD
and NQ text. The Python path answer_text must equal is built below from features.py +
the Keras model + postprocess.py, following the Reader's plain-text rules (the Reader is not
on main yet; once `nq_baseline.reader.Reader` lands, `python_answer` should call it).

In-graph vs Python tokenization, differences found (test_word_pieces_*):
- none on real text: every word of the NQ files in ../shared/data/nq-real and of the 39 SQuAD
  articles (about 30k distinct words) gives the same pieces;
- over every code point 0..U+1FFFF, alone and inside a word, about 570 code points differ,
  all characters added to Unicode or given another category after the tables `tokenizers`
  was built with (its Rust crate knows Unicode 8/9; TensorFlow's ICU and RE2 know 15): for
  example U+0890 ARABIC POUND MARK ABOVE (Cf since Unicode 14) is dropped in the graph and
  [UNK] in Python, U+2E4F CORNISH VERSE DIVIDER (Po, Unicode 13) is its own word in the
  graph only. The test asserts that every difference is such a character (unassigned in
  Unicode 3.2, or of another category there).
"""

import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from conftest import NQ_REAL, SHARED, minilm_dir, require_nq_real, run_module

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SQUAD = SHARED / "squad" / "dev-v1.1-train39.json"
TINY = dict(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=128, max_position_embeddings=128)


def require_squad() -> Path:
    if not SQUAD.is_file():
        pytest.skip(f"{SQUAD} absent: the real SQuAD file lives in ../shared/data (not in the repo)")
    return SQUAD


def squad_articles():
    return json.loads(require_squad().read_text(encoding="utf-8"))["data"]


def tiny_features():
    from nq_baseline.features import FeatureConfig

    # Short windows (several per SQuAD paragraph), 3 paragraphs at most, [Paragraph=k] capped at 2.
    return FeatureConfig(max_seq_length=96, doc_stride=32, max_query_length=24, max_contexts=4, max_position=2)


def make_model_dir(path: Path, config, features, vocab, seed: int, init=None, step: int = 5):
    """A model folder as run_nq --do_train leaves it: checkpoint (CheckpointManager) + nq_model.json."""
    import keras
    import tensorflow as tf

    from nq_baseline import checkpoints, model_dir, modeling

    keras.utils.set_random_seed(seed)
    model = modeling.build_nq_model(config, features.max_seq_length)
    if init is not None:
        checkpoints.load_init_checkpoint(model, str(init))
        rng = np.random.default_rng(seed)  # a head with large enough logits to tell apart
        for variable in model.head.weights:
            variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))
    ckpt = tf.train.Checkpoint(model=model, step=tf.Variable(step, dtype=tf.int64))
    tf.train.CheckpointManager(ckpt, str(path), max_to_keep=1).save(checkpoint_number=step)
    model_dir.write_model_dir(str(path), bert_config_json=config.to_json_string(), vocab_file=str(vocab),
                              do_lower_case=True, features=features)
    return model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, nq_vocab):
    """(model folder, its Keras model) of a tiny random BERT over the NQ vocabulary."""
    from nq_baseline.modeling import BertConfig

    folder = tmp_path_factory.mktemp("tiny") / "model"
    model = make_model_dir(folder, BertConfig(**TINY), tiny_features(), nq_vocab, seed=7)
    return folder, model


@pytest.fixture(scope="module")
def saved_export(tiny, tmp_path_factory):
    """The SavedModel, written by the CLI."""
    out = tmp_path_factory.mktemp("export") / "saved"
    proc = run_module("nq_baseline.export_nq", f"--model_dir={tiny[0]}", f"--export_dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert "wrote the saved_model export" in proc.stdout
    assert not [n for n in os.listdir(out.parent) if ".tmp-" in n]
    return out


@pytest.fixture(scope="module")
def loaded(saved_export):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops of the graph)

    return tf.saved_model.load(str(saved_export))


# ----------------------------------------------------------------------------- the Python path


def text_paragraphs(context: str):
    """The Reader's plain-text rule, restated with `tokenizers`: paragraphs are runs of lines
    that hold a BertPreTokenizer word (a line of only white space is blank); each paragraph
    -> its words with character offsets into the context."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    pre = BertPreTokenizer()
    paragraphs, current, pos = [], [], 0
    for line in context.split("\n"):
        words = pre.pre_tokenize_str(line)
        if words:
            current.extend((w, (pos + a, pos + b)) for w, (a, b) in words)
        elif current:
            paragraphs.append(current)
            current = []
        pos += len(line) + 1
    if current:
        paragraphs.append(current)
    return paragraphs


def text_document(question: str, context: str):
    """(NqDocument of <P> candidates, character span of each NQ token, paragraph of each token)."""
    from nq_baseline.nq_data import Candidate, NqDocument

    tokens, is_html, spans, paragraph_of, candidates = [], [], [], [], []
    for i, words in enumerate(text_paragraphs(context)):
        first = len(tokens)
        for token, html, span in [("<P>", True, None), *((w, False, s) for w, s in words), ("</P>", True, None)]:
            tokens.append(token)
            is_html.append(html)
            spans.append(span)
            paragraph_of.append(i)
        candidates.append(Candidate(first, len(tokens), True))
    doc = NqDocument(example_id=1, question_text=question, title="", tokens=tokens, is_html=is_html,
                     candidates=candidates, annotations=[])
    return doc, spans, paragraph_of


def python_answer(model, tokenizer, cfg, question, context, n_best_size=20, max_answer_length=30):
    """features.build_example / make_features + the Keras model + postprocess -> (best span
    dict or None, the windows)."""
    from nq_baseline import features, postprocess
    from nq_baseline.modeling import MODEL_INPUT_KEYS

    doc, spans, paragraph_of = text_document(question, context)
    windows = features.make_features(features.build_example(doc, cfg), tokenizer, cfg, is_training=False)
    batch = {k: np.stack([getattr(w, k) for w in windows]).astype(np.int32) for k in MODEL_INPUT_KEYS}
    out = {k: v.numpy() for k, v in model(batch, training=False).items()}
    candidates = []
    for i, w in enumerate(windows):
        result = postprocess.RawResult(0, out["start_logits"][i], out["end_logits"][i],
                                       out["answer_type_logits"][i], w.token_map)
        candidates.extend(postprocess.window_candidates(result, n_best_size, max_answer_length))
    if not candidates:
        return None, windows
    best = max(candidates, key=lambda c: c.score)  # the first of equal scores, as predict_example
    start, end = spans[best.start_token][0], spans[best.end_token - 1][1]
    return {"start_char": start, "end_char": end, "answer": context[start:end], "score": best.score,
            "answer_type": features.ANSWER_TYPE_NAMES[int(np.argmax(best.answer_type_logits))],
            "paragraph": paragraph_of[best.start_token]}, windows


def graph_answers(loaded, pairs):
    import tensorflow as tf

    out = loaded.signatures["answer_text"](question=tf.constant([q for q, _ in pairs]),
                                           context=tf.constant([c for _, c in pairs]))
    out = {k: v.numpy() for k, v in out.items()}
    return [{k: (v[i].decode("utf-8") if isinstance(v[i], bytes) else v[i].item()) for k, v in out.items()}
            for i in range(len(pairs))]


def assert_same_answer(got, ref, context, where):
    if ref is None:
        assert (got["start_char"], got["end_char"], got["answer"], got["paragraph"]) == (-1, -1, "", -1), where
        return
    for key in ("start_char", "end_char", "answer", "answer_type", "paragraph"):
        assert got[key] == ref[key], (where, key, got, ref)
    assert got["score"] == pytest.approx(ref["score"], abs=1e-4), where
    encoded = context.encode("utf-8")
    assert encoded[got["start_byte"]:got["end_byte"]].decode("utf-8") == got["answer"], where


def multi_paragraph_contexts(articles):
    """Real paragraphs joined with every kind of blank line (spaces, tabs, CRLF, NBSP,
    ideographic space), a single line break inside a paragraph and leading blank lines;
    more paragraphs than max_contexts keeps."""
    separators = ["\n\n", "\n \n", "\r\n\r\n", "\n\n\n", "\n\t\u00a0\n", "\n\u3000\n\n"]
    out = []
    for n, article in enumerate(articles[3:9]):
        paragraphs = [p["context"] for p in article["paragraphs"][:5]]
        text = "  \n" + "".join(p + separators[(n + j) % len(separators)] for j, p in enumerate(paragraphs))
        out.append((article["paragraphs"][1]["qas"][0]["question"], text.replace(". ", ".\n", 1)))
    return out


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
    equals the Keras model to 1e-5 on a random batch with padding; answer_text equals the
    Python path."""
    from nq_baseline.tokenization import NqTokenizer

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
    for key in ("start_logits", "end_logits", "answer_type_logits"):
        np.testing.assert_allclose(out[key], keras_out[key].numpy(), atol=1e-5, err_msg=key)
    tokenizer = NqTokenizer(str(folder / "vocab.txt"))
    for i, (question, context) in enumerate(pairs):
        ref, _ = python_answer(model, tokenizer, tiny_features(), question, context)
        got = {k[len("text_"):]: out[k][i] for k in out.files if k.startswith("text_")}
        got = {k: (v.decode("utf-8") if isinstance(v, bytes) else v.item()) for k, v in got.items()}
        assert ref is not None
        assert_same_answer(got, ref, context, question)


def test_answer_text_equals_python_path_on_squad(tiny, loaded):
    """>= 50 real SQuAD questions over their own paragraph, plus multi-paragraph contexts and
    edge cases: the same windows (input ids) and the same best span as the Python path."""
    import tensorflow as tf

    from nq_baseline.tokenization import NqTokenizer

    folder, model = tiny
    tokenizer = NqTokenizer(str(folder / "vocab.txt"))
    articles = squad_articles()
    pairs = [(p["qas"][0]["question"], p["context"]) for a in articles for p in a["paragraphs"][:2]][:60]
    pairs += multi_paragraph_contexts(articles)
    pairs += [("who?", ""), ("", "  \n\n \t\n"), ("Was ist das?", "Über die Brücke: Café, naïve façade — 東京 is big."),
              ("[Q] [ContextId=0]  two  spaces", "One.\n\nTwo, with \u00ad soft hyphen and \u200b zero width."),
              ("nul?", "A NUL\x00byte inside a word, then\n\nmore words after it\x00.")]
    got = graph_answers(loaded, pairs)
    answered = 0
    for (question, context), answer in zip(pairs, got):
        ref, windows = python_answer(model, tokenizer, tiny_features(), question, context)
        encoded = loaded.encode(tf.constant(question), tf.constant(context))
        np.testing.assert_array_equal(encoded["input_ids"].numpy(), np.stack([w.input_ids for w in windows]))
        np.testing.assert_array_equal(encoded["segment_ids"].numpy(), np.stack([w.segment_ids for w in windows]))
        np.testing.assert_array_equal(encoded["input_mask"].numpy(), np.stack([w.input_mask for w in windows]))
        assert_same_answer(answer, ref, context, question)
        answered += ref is not None
    assert answered >= 60, answered  # the comparison is over real spans, not over "no answer"
    assert {a["paragraph"] for a in got[60:66]} - {-1} <= {0, 1, 2}  # max_contexts 4: 3 paragraphs


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

    require_nq_real()
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
    from nq_baseline.tokenization import NqTokenizer

    tokenizer = NqTokenizer(str(tiny[0] / "vocab.txt"))
    words = real_words()
    assert len(words) > 20000
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
    from nq_baseline.tokenization import NqTokenizer

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

    from nq_baseline import export

    pre = BertPreTokenizer()
    points = [c for c in range(0x20000) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"ab{chr(c)}cd e" for c in points]
    words, begin, end = export.split_words(texts)
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
    from nq_baseline import export
    from nq_baseline.features import FeatureConfig
    from nq_baseline.modeling import BertConfig

    root = tmp_path_factory.mktemp("minilm")
    config = BertConfig.from_json_file(str(minilm_dir() / "config.json"))
    features = FeatureConfig(max_seq_length=128, doc_stride=64, max_query_length=32)
    model = make_model_dir(root / "model", config, features, nq_vocab, seed=3, init=minilm_dir())
    trained = export.load_trained_model(str(root / "model"))
    out = export.export_hf(trained, str(root / "hf"))
    return Path(out), model, features


def squad_windows(features, vocab_file):
    """Real windows: a SQuAD question over its paragraph, several windows, the last padded."""
    from nq_baseline import features as feature_lib
    from nq_baseline.modeling import MODEL_INPUT_KEYS
    from nq_baseline.tokenization import NqTokenizer

    paragraph = squad_articles()[1]["paragraphs"][0]
    doc, _, _ = text_document(paragraph["qas"][0]["question"], paragraph["context"])
    windows = feature_lib.make_features(feature_lib.build_example(doc, features), NqTokenizer(str(vocab_file)),
                                        features, is_training=False)
    assert len(windows) >= 2 and windows[-1].input_mask.min() == 0
    return {k: np.stack([getattr(w, k) for w in windows]).astype(np.int32) for k in MODEL_INPUT_KEYS}


def test_hf_logits_equal_pytorch(minilm_hf):
    """transformers' BertForQuestionAnswering loads the folder with no missing or unexpected
    weight; its start/end logits equal ours to 1e-4; the saved answer-type head (with its
    pooler) reproduces our answer-type logits from torch's last hidden state."""
    import torch
    from safetensors.numpy import load_file
    from transformers import BertForQuestionAnswering

    from nq_baseline import export

    folder, model, features = minilm_hf
    batch = squad_windows(features, folder / "vocab.txt")
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
    head = load_file(str(folder / export.HEAD_FILE))
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

    from nq_baseline import checkpoints, modeling

    from safetensors.numpy import load_file, save_file

    from nq_baseline import export

    folder, model, features = minilm_hf
    # The loader wants the pooler, which BertForQuestionAnswering has no place for: it is in
    # the head file, under its HF name.
    both = tmp_path / "both"
    both.mkdir()
    shutil.copy(folder / "config.json", both / "config.json")
    tensors = load_file(str(folder / "model.safetensors"))
    tensors.update({k: v for k, v in load_file(str(folder / export.HEAD_FILE)).items() if k.startswith("bert.")})
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

    from nq_baseline.tokenization import NqTokenizer

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


def _question_answering_pipeline_available() -> bool:
    from transformers.pipelines import SUPPORTED_TASKS

    return "question-answering" in SUPPORTED_TASKS


def test_hf_pipeline_question_answering_offline(minilm_hf, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import transformers

    if not _question_answering_pipeline_available():
        pytest.skip(f"transformers {transformers.__version__} has no question-answering pipeline (removed in "
                    "5.x); test_hf_extractive_answer_offline decodes the same way by hand")
    folder = str(minilm_hf[0])
    paragraph = squad_articles()[0]["paragraphs"][0]
    qa = transformers.pipeline("question-answering", model=folder, tokenizer=folder)
    answer = qa(question=paragraph["qas"][0]["question"], context=paragraph["context"], max_seq_len=128,
                doc_stride=64)
    assert answer["answer"] and paragraph["context"][answer["start"]:answer["end"]] == answer["answer"]


def test_hf_extractive_answer_offline(minilm_hf, monkeypatch):
    """What the question-answering pipeline does, with the Auto classes, offline: overflowing
    windows with offsets, the best start/end over context tokens, its text in the context."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = str(minilm_hf[0])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    paragraph = squad_articles()[0]["paragraphs"][0]
    context = paragraph["context"]
    enc = tokenizer(paragraph["qas"][0]["question"], context, truncation="only_second", max_length=128, stride=64,
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
    assert 0 <= start < end <= len(context) and context[start:end].strip()


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


def test_cli_errors_exit_2_one_line_nothing_left(tmp_path):
    out = tmp_path / "out"
    proc = run_module("nq_baseline.export_nq", f"--export_dir={out}")
    assert _one_error_line(proc, "--model_dir") and proc.stderr.count("\n") == 1
    proc = run_module("nq_baseline.export_nq", f"--model_dir={tmp_path / 'nope'}", f"--export_dir={out}")
    _one_error_line(proc, "--model_dir", "nope")
    (tmp_path / "empty").mkdir()
    proc = run_module("nq_baseline.export_nq", f"--model_dir={tmp_path / 'empty'}", f"--export_dir={out}")
    _one_error_line(proc, "nq_model.json")
    for flag in ("--format=onnx", "--n_best_size=0", "--max_answer_length=-1", "--n_best_size=many"):
        proc = run_module("nq_baseline.export_nq", f"--model_dir={tmp_path / 'empty'}", f"--export_dir={out}", flag)
        _one_error_line(proc, flag.split("=")[0])
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
    assert json.loads((out / "nq_export.json").read_text())["step"] == 5
    assert _left_behind(tmp_path) == []


def test_publish_failure_leaves_nothing_and_keeps_the_old_export(tmp_path):
    from nq_baseline import export

    def broken(folder):
        Path(folder, "half.bin").write_bytes(b"x" * 100)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        export.publish(str(tmp_path / "new"), False, broken)
    assert not (tmp_path / "new").exists() and _left_behind(tmp_path) == []
    old = tmp_path / "old"
    old.mkdir()
    (old / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        export.publish(str(old), True, broken)
    assert os.listdir(old) == ["a.txt"] and _left_behind(tmp_path) == []
    export.publish(str(old), True, lambda folder: Path(folder, "b.txt").write_text("new"))
    assert os.listdir(old) == ["b.txt"] and _left_behind(tmp_path) == []
