"""A model folder that describes itself: `nq_model.json` beside the checkpoints.

`run_nq --do_train` writes into its `--output_dir`, next to the checkpoints:
- `bert_config.json`: the encoder's configuration;
- `vocab.txt`: a copy of the vocabulary the features were built with;
- `nq_model.json`: the feature settings of training (`max_seq_length`, `doc_stride`,
  `max_query_length`, `do_lower_case`, `max_contexts`, `max_position`, ...), the names of
  the two files above, and the training settings, for the record.

Everything that uses a trained model (`run_nq --do_predict`, the `Reader`, `answer_nq`,
`export_nq`, `serve_nq`) reads it through this one loader: `ModelSpec.load(model_dir)` for the
description, then `spec.tokenizer()` and `spec.load_model()` (the Keras model with the newest
checkpoint's weights), so no flag has to be repeated and every program reports a missing,
damaged or misfit folder in the same words.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from typing import Any, Mapping, Optional

from nq_baseline.common import fileio
from nq_baseline.common.errors import NqInputError
from nq_baseline.features.windows import FeatureConfig

SPEC_FILE = "nq_model.json"
CONFIG_FILE = "bert_config.json"
VOCAB_FILE = "vocab.txt"
FORMAT = "nq-baseline-model/1"

# Feature settings a model folder records (the FeatureConfig fields that shape windows).
FEATURE_KEYS = tuple(f.name for f in dataclasses.fields(FeatureConfig))


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a trained model folder says about itself."""

    model_dir: str
    bert_config_file: str  # absolute paths
    vocab_file: str
    do_lower_case: bool
    features: FeatureConfig
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    long_answer_head: bool = False  # the model has the long-answer head (modeling.NqHead)

    @classmethod
    def load(cls, model_dir: str) -> "ModelSpec":
        """Reads `<model_dir>/nq_model.json`; NqInputError naming the file when it is
        missing or malformed."""
        path = os.path.join(model_dir, SPEC_FILE)
        if not os.path.isfile(path):
            raise NqInputError(path, None, "no such file: is this a model folder written by "
                               "run_nq --do_train (or give --bert_config_file and --vocab_file)?")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as err:
            raise NqInputError(path, None, f"unreadable model description ({err})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise NqInputError(path, None, f"not a model description of format {FORMAT!r}")
        try:
            features = FeatureConfig(**{k: v for k, v in data["features"].items() if k in FEATURE_KEYS})
            spec = cls(model_dir=os.path.abspath(model_dir),
                       bert_config_file=os.path.join(os.path.abspath(model_dir), data["bert_config_file"]),
                       vocab_file=os.path.join(os.path.abspath(model_dir), data["vocab_file"]),
                       do_lower_case=bool(data["do_lower_case"]), features=features,
                       train=dict(data.get("train", {})),
                       long_answer_head=bool(data.get("model", {}).get("long_answer_head", False)))
        except (KeyError, TypeError, ValueError) as err:
            raise NqInputError(path, None, f"malformed model description ({err})") from None
        for name in (spec.bert_config_file, spec.vocab_file):
            if not os.path.isfile(name):
                raise NqInputError(path, None, f"names {name}, which does not exist")
        return spec

    @staticmethod
    def exists(model_dir: Optional[str]) -> bool:
        return bool(model_dir) and os.path.isfile(os.path.join(model_dir, SPEC_FILE))

    def feature_settings(self) -> dict:
        return dataclasses.asdict(self.features)

    def bert_config(self):
        from nq_baseline.model.modeling import BertConfig

        # written by this project: "gelu" is erf, also in folders written before files said so
        return BertConfig.from_json_file(self.bert_config_file, google=False)

    def tokenizer(self):
        """The WordPiece tokenizer of the folder's vocabulary (bert_joint's tokenization)."""
        from nq_baseline.features.tokenization import NqTokenizer

        try:
            return NqTokenizer(self.vocab_file, self.do_lower_case)
        except ValueError as err:
            raise NqInputError(self.vocab_file, None, f"unusable vocabulary ({err})") from None

    def build_model(self, max_seq_length: Optional[int] = None):
        """The Keras model this folder's checkpoints belong to (weights not restored)."""
        from nq_baseline.model.modeling import build_nq_model

        try:
            config = self.bert_config()
            return build_nq_model(config, max_seq_length or self.features.max_seq_length,
                                  long_answer_head=self.long_answer_head)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise NqInputError(self.bert_config_file, None, f"unusable encoder config ({err})") from None

    def load_model(self, max_seq_length: Optional[int] = None, init_checkpoint: Optional[str] = None):
        """(Keras model, step): the folder's model with its newest checkpoint's weights, or, in a
        folder without checkpoints, with `init_checkpoint`'s (step None). CheckpointError names a
        damaged or misfit checkpoint; NqInputError a folder with nothing to load."""
        from nq_baseline.model import checkpoints

        model, step = checkpoints.restored_model(lambda: self.build_model(max_seq_length), self.model_dir,
                                                 init_checkpoint)
        if step is None and not init_checkpoint:
            raise NqInputError(self.model_dir, None, "holds no checkpoint to answer with (train it with "
                               "run_nq --do_train)")
        return model, step


def write_model_dir(model_dir: str, *, bert_config_json: str, vocab_file: str, do_lower_case: bool,
                    features: FeatureConfig, train: Optional[Mapping[str, Any]] = None,
                    long_answer_head: bool = False) -> ModelSpec:
    """Writes the encoder config, a copy of the vocabulary and nq_model.json (atomically,
    each) into `model_dir`; returns the spec as `ModelSpec.load` will read it."""
    os.makedirs(model_dir, exist_ok=True)
    fileio.atomic_write(os.path.join(model_dir, CONFIG_FILE), bert_config_json)
    vocab_copy = os.path.join(model_dir, VOCAB_FILE)
    if os.path.abspath(vocab_file) != os.path.abspath(vocab_copy):
        with open(vocab_file, "rb") as src, fileio.atomic_output(vocab_copy) as dst:
            shutil.copyfileobj(src, dst)
    spec = {"format": FORMAT, "bert_config_file": CONFIG_FILE, "vocab_file": VOCAB_FILE,
            "do_lower_case": bool(do_lower_case), "features": dataclasses.asdict(features),
            "model": {"long_answer_head": bool(long_answer_head)}, "train": dict(train or {})}
    fileio.write_json_atomic(os.path.join(model_dir, SPEC_FILE), spec)
    return ModelSpec.load(model_dir)


@contextlib.contextmanager
def new_files_removed_on_failure(model_dir: str):
    """Training into `model_dir`: when the block fails before the folder holds a checkpoint, the
    files and folders it added are removed again (the folder too, if it made it), so a failed
    run leaves no model folder without weights; one with a checkpoint is kept (it resumes)."""
    existed = os.path.isdir(model_dir)
    before = set(os.listdir(model_dir)) if existed else set()
    try:
        yield
    except BaseException:
        if not any(name == "checkpoint" or name.endswith(".index") for name in _listing(model_dir)):
            if not existed:
                shutil.rmtree(model_dir, ignore_errors=True)
            else:
                for name in set(_listing(model_dir)) - before:
                    fileio.remove_path(os.path.join(model_dir, name))
        raise


def _listing(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []
