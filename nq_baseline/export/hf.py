"""A trained model folder as a Hugging Face folder (`export_hf`): `config.json` + `model.safetensors` of a
`BertForQuestionAnswering` (the start/end projection is its `qa_outputs`), the tokenizer
files (`tokenizer.json` with the same normalizer and pre-tokenizer, `vocab.txt`,
`tokenizer_config.json`), and the answer-type head with the pooler it needs in
`nq_answer_type_head.safetensors`, described in the folder's README.md. The names come
from `checkpoints.hf_to_google_name`, the table the HF loader uses.
"""

from __future__ import annotations

import os
import re

import numpy as np

from nq_baseline.common import fileio
from nq_baseline.export.publish import EXPORT_INFO_FILE, HF, ExportError, TrainedModel, check_destination, export_info, publish
from nq_baseline.export.text_graph import MAX_CHARS_PER_WORD
from nq_baseline.features.tokenization import load_vocab

HEAD_FILE = "nq_answer_type_head.safetensors"

_GOOGLE_LEAF_TO_HF = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
_HF_HEAD_MODULES = ("qa_outputs",)  # BertForQuestionAnswering's own head, outside `bert.`


def _hf_candidates(google_name: str) -> list[str]:
    """HF names that may denote `google_name`; `hf_to_google_name` decides which one does."""
    parts = google_name.split("/")
    if parts[0] == "bert":
        parts = parts[1:]
    parts = [re.sub(r"^layer_(\d+)$", r"layer.\1", p) for p in parts]
    if parts[-1] in _GOOGLE_LEAF_TO_HF:
        parts[-1] = _GOOGLE_LEAF_TO_HF[parts[-1]]
    else:
        parts.append("weight")
    names = ["bert." + ".".join(parts)]
    names += [f"{m}.{leaf}" for m in _HF_HEAD_MODULES for leaf in ("weight", "bias")]
    return names


def hf_name(google_name: str) -> tuple[str, bool]:
    """Google name -> (HF BertForQuestionAnswering name, transpose?), the inverse of
    `checkpoints.hf_to_google_name` (ExportError when it has none)."""
    from nq_baseline.model.checkpoints import hf_to_google_name

    for candidate in _hf_candidates(google_name):
        mapped = hf_to_google_name(candidate)
        if mapped is not None and mapped[0] == google_name:
            return candidate, mapped[1]
    raise ExportError(f"no Hugging Face name maps to {google_name}")


def hf_tensors(model) -> tuple[dict, dict]:
    """(BertForQuestionAnswering state dict, answer-type head dict) as numpy float32 arrays:
    the model's weights in Google's names (`checkpoints.google_tensors`), renamed."""
    from nq_baseline.model.checkpoints import google_tensors

    qa, head = {}, {}
    for google, value in google_tensors(model).items():
        if google.startswith("answer_type_output"):
            head[google] = value
            continue
        name, transpose = hf_name(google)
        value = np.ascontiguousarray(value.T if transpose else value)
        (head if name.startswith("bert.pooler.") else qa)[name] = value
    if getattr(model.head, "long_answer_head", False):  # no loader name: the variables' own
        head["long_output_weights"] = np.asarray(model.head.long_output_weights.numpy(), np.float32)
        head["long_output_bias"] = np.asarray(model.head.long_output_bias.numpy(), np.float32)
    return qa, head


_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "swish": "silu", "silu": "silu", "tanh": "tanh"}


def hf_config(config, max_seq_length: int) -> dict:
    """transformers' BertConfig of a BertForQuestionAnswering with our encoder's shape."""
    act = (config.hidden_act or "").lower()
    hidden_act = _HF_ACTIVATIONS.get(act, "gelu_new" if act.startswith("gelu") else None)
    if hidden_act is None:
        raise ExportError(f"hidden_act {config.hidden_act!r} has no transformers equivalent")
    return {"architectures": ["BertForQuestionAnswering"], "model_type": "bert",
            "vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
            "num_hidden_layers": config.num_hidden_layers, "num_attention_heads": config.num_attention_heads,
            "intermediate_size": config.intermediate_size, "hidden_act": hidden_act,
            "hidden_dropout_prob": config.hidden_dropout_prob,
            "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
            "max_position_embeddings": config.max_position_embeddings,
            "type_vocab_size": config.type_vocab_size, "initializer_range": config.initializer_range,
            "layer_norm_eps": config.layer_norm_eps, "pad_token_id": 0,
            "position_embedding_type": "absolute", "num_labels": 2, "max_seq_length": max_seq_length,
            "torch_dtype": "float32"}


def _hf_tokenizer(vocab_file: str, do_lower_case: bool):
    """tokenizers' BERT pipeline (NqTokenizer's normalizer, pre-tokenizer and WordPiece) with
    the [CLS] A [SEP] B [SEP] template a question-answering pipeline needs."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = load_vocab(vocab_file)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_CHARS_PER_WORD))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=do_lower_case)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok, vocab


HF_README = """# Natural Questions model, Hugging Face layout

Exported by `export_nq --format=hf` from `{model_dir}` (training step {step}).

- `config.json`, `model.safetensors`: a `transformers.BertForQuestionAnswering`; its
  `qa_outputs` is bert_joint's start/end projection (row 0 start, row 1 end).
- `vocab.txt`, `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`: the
  WordPiece tokenizer the model was trained with (lower case: {do_lower_case}).
- `{head_file}`: the answer-type head, which `BertForQuestionAnswering` has no place for:
  `bert.pooler.dense.weight` `[hidden, hidden]`, `bert.pooler.dense.bias` (torch layout),
  `answer_type_output_weights` `[5, hidden]`, `answer_type_output_bias` `[5]`:

      pooled = tanh(last_hidden_state[:, 0] @ pooler.weight.T + pooler.bias)
      answer_type_logits = pooled @ answer_type_output_weights.T + answer_type_output_bias

  classes UNKNOWN, YES, NO, SHORT, LONG.{long_head}
- `nq_export.json`: the feature settings of training.

The model was trained on bert_joint's layout: the question is `[Q]` + its pieces, the
context `[ContextId=-1] [NoLongAnswer] [ContextId=0] [Paragraph=1] ...`
(max_seq_length {max_seq_length}, doc_stride {doc_stride}, max_query_length
{max_query_length}). `pipeline("question-answering")` feeds the plain question and
context without those markers, so its answers can differ from the Reader's.
"""


def export_hf(trained: TrainedModel, export_dir: str, overwrite: bool = False) -> str:
    """Writes the Hugging Face folder (BertForQuestionAnswering + tokenizer + answer-type head)."""
    from safetensors.numpy import save_file

    check_destination(export_dir, overwrite, trained.spec.model_dir)
    spec = trained.spec
    qa, head = hf_tensors(trained.model)
    config = hf_config(trained.config, spec.features.max_seq_length)
    tokenizer, vocab = _hf_tokenizer(spec.vocab_file, spec.do_lower_case)
    features = spec.features
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer", "do_lower_case": spec.do_lower_case,
        "model_max_length": features.max_seq_length, "unk_token": "[UNK]", "sep_token": "[SEP]",
        "pad_token": "[PAD]" if "[PAD]" in vocab else "[UNK]", "cls_token": "[CLS]",
        "mask_token": "[MASK]" if "[MASK]" in vocab else "[UNK]", "tokenize_chinese_chars": True,
        "strip_accents": None, "clean_up_tokenization_spaces": False}
    special = {k: tokenizer_config[k] for k in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")}
    long_head = ("\n- In the same file, the long-answer head: `long_output_weights` `[1, hidden]`, "
                 "`long_output_bias` `[1]`,\n  a score per position (`last_hidden_state @ long_output_weights.T "
                 "+ long_output_bias`)\n  read at each paragraph's `[ContextId=i]` marker, minus the score of "
                 "`[CLS]`." if "long_output_weights" in head else "")
    readme = HF_README.format(model_dir=spec.model_dir, step=trained.step, do_lower_case=spec.do_lower_case,
                              long_head=long_head,
                              head_file=HEAD_FILE, max_seq_length=features.max_seq_length,
                              doc_stride=features.doc_stride, max_query_length=features.max_query_length)
    info = export_info(trained, HF, head_file=HEAD_FILE)

    def build(folder):
        fileio.write_json_atomic(os.path.join(folder, "config.json"), config)
        save_file(qa, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        save_file(head, os.path.join(folder, HEAD_FILE), metadata={"format": "pt"})
        tokenizer.save(os.path.join(folder, "tokenizer.json"))
        with open(spec.vocab_file, "rb") as src, open(os.path.join(folder, "vocab.txt"), "wb") as dst:
            dst.write(src.read())
        fileio.write_json_atomic(os.path.join(folder, "tokenizer_config.json"), tokenizer_config)
        fileio.write_json_atomic(os.path.join(folder, "special_tokens_map.json"), special)
        fileio.write_json_atomic(os.path.join(folder, EXPORT_INFO_FILE), info)
        fileio.atomic_write(os.path.join(folder, "README.md"), readme)

    return publish(export_dir, overwrite, build, trained.spec.model_dir)
