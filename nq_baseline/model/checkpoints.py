"""Loading pre-trained / fine-tuned weights into :class:`nq_baseline.model.modeling.BertNqModel`.

Sources understood by :func:`load_init_checkpoint`:

* a Google TF1 BERT checkpoint (``.../bert_model.ckpt`` prefix, or a directory holding
  one), variable names ``bert/embeddings/word_embeddings``,
  ``bert/encoder/layer_0/attention/self/query/kernel``, ... ; a bert_joint fine-tuned
  checkpoint additionally has ``cls/nq/output_weights`` / ``cls/nq/output_bias`` /
  ``answer_type_output_weights`` / ``answer_type_output_bias`` and its head is loaded
  too (otherwise the head keeps its fresh initialisation, and a log line says so);
* a checkpoint written by this package's own training (object-based
  ``tf.train.Checkpoint``: ``model/encoder/...``): restored as is;
* a Hugging Face BERT folder (``config.json`` + ``model.safetensors``), names like
  ``embeddings.word_embeddings.weight``, optionally prefixed ``bert.``; read with
  ``safetensors.numpy`` (no torch needed).  A ``BertForQuestionAnswering`` ``qa_outputs``
  layer maps to the start/end head;
* a Hugging Face hub name (only when the string is not a local path): fetched with
  ``huggingface_hub.snapshot_download`` (fails with a clear error when offline).

Everything is translated to Google's names and layout (kernels ``[in, out]``), then
assigned through one table of (model variable <- source tensors).  Shape mismatches
raise a ``ValueError`` naming both sides.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from nq_baseline.model.errors import CheckpointError, DamagedCheckpointError  # noqa: F401 (re-exported)
from nq_baseline.model.modeling import BertConfig, BertEncoder, BertNqModel

_CONFIG_NAMES = ("bert_config.json", "config.json")
_SAFETENSORS_NAMES = ("model.safetensors",)




@dataclasses.dataclass
class LoadReport:
    """What :func:`load_init_checkpoint` did."""

    source: str
    kind: str  # "tf1", "object", "hf"
    loaded: List[str]  # Google-style names assigned
    missing: List[str]  # Google-style names the model wanted but the source lacks
    unused: List[str]  # source names not used (optimizer slots, MLM heads, ...)
    head_loaded: bool


# ------------------------------------------------------------------- target table

# One entry per model variable: (variable, source names, combine(list of arrays)->array)
_Slot = Tuple[object, Tuple[str, ...], Callable[[Sequence[np.ndarray]], np.ndarray]]


def _single(arrays):
    return arrays[0]


def _concat_last(arrays):
    return np.concatenate(arrays, axis=-1)


def _encoder_slots(encoder: BertEncoder) -> List[_Slot]:
    e = encoder.embeddings
    slots: List[_Slot] = [
        (e.word_embeddings, ("bert/embeddings/word_embeddings",), _single),
        (e.position_embeddings, ("bert/embeddings/position_embeddings",), _single),
        (e.token_type_embeddings, ("bert/embeddings/token_type_embeddings",), _single),
        (e.layer_norm.gamma, ("bert/embeddings/LayerNorm/gamma",), _single),
        (e.layer_norm.beta, ("bert/embeddings/LayerNorm/beta",), _single),
    ]
    for i, layer in enumerate(encoder.encoder_layers):
        p = f"bert/encoder/layer_{i}"
        qkv = tuple(f"{p}/attention/self/{n}" for n in ("query", "key", "value"))
        slots += [
            (layer.qkv.kernel, tuple(f"{n}/kernel" for n in qkv), _concat_last),
            (layer.qkv.bias, tuple(f"{n}/bias" for n in qkv), _concat_last),
            (layer.attention_output.kernel, (f"{p}/attention/output/dense/kernel",), _single),
            (layer.attention_output.bias, (f"{p}/attention/output/dense/bias",), _single),
            (layer.attention_layer_norm.gamma, (f"{p}/attention/output/LayerNorm/gamma",), _single),
            (layer.attention_layer_norm.beta, (f"{p}/attention/output/LayerNorm/beta",), _single),
            (layer.intermediate.kernel, (f"{p}/intermediate/dense/kernel",), _single),
            (layer.intermediate.bias, (f"{p}/intermediate/dense/bias",), _single),
            (layer.output_dense.kernel, (f"{p}/output/dense/kernel",), _single),
            (layer.output_dense.bias, (f"{p}/output/dense/bias",), _single),
            (layer.output_layer_norm.gamma, (f"{p}/output/LayerNorm/gamma",), _single),
            (layer.output_layer_norm.beta, (f"{p}/output/LayerNorm/beta",), _single),
        ]
    slots += [
        (encoder.pooler.kernel, ("bert/pooler/dense/kernel",), _single),
        (encoder.pooler.bias, ("bert/pooler/dense/bias",), _single),
    ]
    return slots


def _head_slots(model: BertNqModel) -> List[_Slot]:
    h = model.head
    return [
        (h.output_weights, ("cls/nq/output_weights",), _single),
        (h.output_bias, ("cls/nq/output_bias",), _single),
        (h.answer_type_output_weights, ("answer_type_output_weights",), _single),
        (h.answer_type_output_bias, ("answer_type_output_bias",), _single),
    ]


def google_tensors(model) -> Dict[str, np.ndarray]:
    """Google name -> float32 array of every encoder and bert_joint head weight of `model`: the
    loading table run backwards, i.e. what a Google / bert_joint checkpoint of this model holds
    (the fused query/key/value kernel split back into three)."""
    encoder, nq_model = _model_parts(model)
    slots = _encoder_slots(encoder) + (_head_slots(nq_model) if nq_model is not None else [])
    out: Dict[str, np.ndarray] = {}
    for variable, names, combine in slots:
        value = np.asarray(variable.numpy(), np.float32)
        parts = [value] if combine is _single else np.split(value, len(names), axis=-1)
        out.update((name, np.ascontiguousarray(part)) for name, part in zip(names, parts))
    return out


def _model_parts(model) -> Tuple[BertEncoder, Optional[BertNqModel]]:
    if isinstance(model, BertNqModel):
        return model.encoder, model
    if isinstance(model, BertEncoder):
        return model, None
    raise TypeError(f"expected a BertNqModel or BertEncoder, got {type(model).__name__}")


# ------------------------------------------------------------------- sources


class _Source:
    """Name -> numpy array lookup over a checkpoint, in Google's names and layout."""

    def __init__(self, names: Mapping[str, Tuple[int, ...]], get: Callable[[str], np.ndarray]):
        self.shapes = dict(names)
        self._get = get

    def __contains__(self, name):
        return name in self.shapes

    def get(self, name: str) -> np.ndarray:
        return self._get(name)


def _tf1_source(prefix: str) -> _Source:
    reader = tf.train.load_checkpoint(prefix)
    shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    return _Source(shapes, reader.get_tensor)


_HF_LAYER_RE = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
_HF_MODULES = {
    "attention.self.query": "attention/self/query",
    "attention.self.key": "attention/self/key",
    "attention.self.value": "attention/self/value",
    "attention.output.dense": "attention/output/dense",
    "attention.output.LayerNorm": "attention/output/LayerNorm",
    "intermediate.dense": "intermediate/dense",
    "output.dense": "output/dense",
    "output.LayerNorm": "output/LayerNorm",
}


def hf_to_google_name(name: str) -> Optional[Tuple[str, bool]]:
    """HF BERT parameter name -> (Google name, transpose?) or None if not a BERT weight."""
    if name.startswith("bert."):
        name = name[len("bert."):]
    if name in ("qa_outputs.weight", "qa_outputs.bias"):
        return ("cls/nq/output_weights" if name.endswith("weight") else "cls/nq/output_bias", False)
    module, _, leaf = name.rpartition(".")
    if module.endswith("LayerNorm"):
        leaf = {"weight": "gamma", "bias": "beta", "gamma": "gamma", "beta": "beta"}.get(leaf)
        if leaf is None:
            return None
    if module.startswith("embeddings.") and module.endswith("_embeddings") and leaf == "weight":
        return ("bert/embeddings/" + module.split(".", 1)[1], False)
    if module == "embeddings.LayerNorm":
        return (f"bert/embeddings/LayerNorm/{leaf}", False)
    if module == "pooler.dense":
        google_module = "bert/pooler/dense"
    else:
        m = _HF_LAYER_RE.match(module)
        if not m or m.group(2) not in _HF_MODULES:
            return None
        google_module = f"bert/encoder/layer_{m.group(1)}/{_HF_MODULES[m.group(2)]}"
    if google_module.endswith("LayerNorm"):
        return (f"{google_module}/{leaf}", False)
    if leaf == "weight":
        return (f"{google_module}/kernel", True)  # torch Linear is [out, in]
    if leaf == "bias":
        return (f"{google_module}/bias", False)
    return None


def _hf_source(folder: str) -> Tuple[_Source, List[str]]:
    from safetensors.numpy import load_file  # lazy: only HF loads need it

    files = [os.path.join(folder, n) for n in _SAFETENSORS_NAMES if os.path.exists(os.path.join(folder, n))]
    if not files:
        files = sorted(tf.io.gfile.glob(os.path.join(folder, "model-*-of-*.safetensors")))
    if not files:
        raise CheckpointError(
            f"{folder}: no model.safetensors (or sharded model-*.safetensors) found; "
            "only safetensors HF checkpoints are supported"
        )
    arrays: Dict[str, np.ndarray] = {}
    ignored: List[str] = []
    for path in files:
        for hf_name, value in load_file(path).items():
            mapped = hf_to_google_name(hf_name)
            if mapped is None:
                ignored.append(hf_name)
                continue
            name, transpose = mapped
            arrays[name] = np.ascontiguousarray(value.T) if transpose else value
    shapes = {k: tuple(v.shape) for k, v in arrays.items()}
    return _Source(shapes, arrays.__getitem__), ignored


def _is_hf_folder(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "config.json")) and (
        any(os.path.exists(os.path.join(path, n)) for n in _SAFETENSORS_NAMES)
        or bool(tf.io.gfile.glob(os.path.join(path, "model-*-of-*.safetensors")))
    )


def _tf_checkpoint_prefix(path: str) -> Optional[str]:
    """The TF checkpoint prefix ``path`` names (prefix, or directory holding one)."""
    if tf.io.gfile.exists(path + ".index"):
        return path
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        for name in ("bert_model.ckpt", "model.ckpt"):
            candidate = os.path.join(path, name)
            if tf.io.gfile.exists(candidate + ".index"):
                return candidate
        indexes = sorted(tf.io.gfile.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return indexes[0][: -len(".index")]
    return None


def _looks_like_hub_name(path: str) -> bool:
    # bert_joint's "bert_model.ckpt" or "bert-joint/bert_joint.ckpt" are missing files, not hub models
    return (bool(re.fullmatch(r"[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?", path)) and "://" not in path
            and ".ckpt" not in path)


def _download_hub(name: str) -> str:
    try:
        import huggingface_hub
    except ImportError:  # pragma: no cover - depends on the environment
        raise CheckpointError(
            f"{name!r} is not a local path and huggingface_hub is not installed to fetch it"
        ) from None
    try:
        return huggingface_hub.snapshot_download(
            name, allow_patterns=["config.json", "*.safetensors", "vocab.txt", "*.json"]
        )
    except Exception as e:  # offline, unknown repo, auth ...
        raise CheckpointError(
            f"{name!r} is not a local path and could not be fetched from the Hugging Face hub "
            f"({type(e).__name__}: {e}). Offline? Download it beforehand and pass the folder."
        ) from None


def resolve_checkpoint_path(path: str) -> Tuple[str, str]:
    """-> (kind, location): ("tf", prefix) or ("hf", folder).  Downloads hub names."""
    if not path:
        raise CheckpointError("empty checkpoint path")
    if _is_hf_folder(path):
        return "hf", path
    prefix = _tf_checkpoint_prefix(path)
    if prefix:
        return "tf", prefix
    if os.path.exists(path) or tf.io.gfile.exists(path) or "://" in path:
        raise CheckpointError(
            f"{path}: neither a TF checkpoint (prefix with .index, or a directory holding one) "
            "nor a Hugging Face folder (config.json + model.safetensors)"
        )
    if not _looks_like_hub_name(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    folder = _download_hub(path)
    if not _is_hf_folder(folder):
        raise CheckpointError(f"{path}: downloaded snapshot {folder} has no config.json + safetensors")
    return "hf", folder


def config_from_checkpoint_path(path: str) -> Optional[BertConfig]:
    """The BERT config stored next to a checkpoint (``bert_config.json`` or HF
    ``config.json`` in the folder, or in the prefix's directory), else None."""
    candidates = []
    if tf.io.gfile.isdir(path):
        candidates.append(path)
    parent = os.path.dirname(path.rstrip("/"))
    if parent:
        candidates.append(parent)
    for folder in candidates:
        for name in _CONFIG_NAMES:
            cfg = os.path.join(folder, name)
            if tf.io.gfile.exists(cfg):
                return BertConfig.from_json_file(cfg)
    return None


# ------------------------------------------------------------------- loading


def _assign_from(source: _Source, slots: List[_Slot], origin: str):
    loaded, missing = [], []
    values = []
    for variable, names, combine in slots:
        absent = [n for n in names if n not in source]
        if absent:
            missing.extend(absent)
            continue
        parts = [np.asarray(source.get(n)) for n in names]
        value = combine(parts)
        want = tuple(variable.shape)
        if tuple(value.shape) != want:
            shapes = ", ".join(f"{n} {tuple(p.shape)}" for n, p in zip(names, parts))
            raise CheckpointError(
                f"{origin}: shape mismatch for model variable {variable.path} {want}: "
                f"checkpoint has {shapes}"
            )
        values.append((variable, value))
        loaded.extend(names)
    for variable, value in values:  # assign only after every shape checked
        variable.assign(value.astype(variable.dtype))
    return loaded, missing


def _load_object_based(model, prefix: str) -> LoadReport:
    ckpt = tf.train.Checkpoint(model=model)
    status = ckpt.restore(prefix)
    status.expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise CheckpointError(f"{prefix}: does not match this model: {e}") from None
    names = [n for n, _ in tf.train.list_variables(prefix) if n.startswith("model/")]
    head = any(n.startswith("model/head/") for n in names)
    return LoadReport(prefix, "object", names, [], [], head)


def load_init_checkpoint(model, path: str) -> LoadReport:
    """Load BERT (and, when present, bert_joint head) weights from ``path`` into ``model``.

    ``model`` is a built :class:`BertNqModel` or :class:`BertEncoder`.  Every encoder
    weight must be found (else :class:`CheckpointError` listing the missing names); head
    weights are optional.  Returns a :class:`LoadReport`; a summary is logged.
    """
    kind, location = resolve_checkpoint_path(path)
    encoder, nq_model = _model_parts(model)
    ignored: List[str] = []
    if kind == "hf":
        source, ignored = _hf_source(location)
    else:
        source = _tf1_source(location)
        if "bert/embeddings/word_embeddings" not in source and any(
            n.startswith("model/") for n in source.shapes
        ):
            report = _load_object_based(model, location)
            logging.info("Restored %d variables from training checkpoint %s", len(report.loaded), location)
            return report

    loaded, missing = _assign_from(source, _encoder_slots(encoder), location)
    if missing:
        raise CheckpointError(
            f"{location}: {len(missing)} BERT variables not found, e.g. {missing[:5]}; "
            f"checkpoint names look like {sorted(source.shapes)[:5]}"
        )
    head_loaded = False
    if nq_model is not None:
        head_slots = _head_slots(nq_model)
        present = [s for s in head_slots if all(n in source for n in s[1])]
        if present:
            head_loaded_names, _ = _assign_from(source, present, location)
            loaded += head_loaded_names
            missing += [n for s in head_slots for n in s[1] if n not in source]
            head_loaded = len(present) == len(head_slots)
            if head_loaded:
                logging.info("Loaded the bert_joint NQ head from %s", location)
            else:
                logging.warning("NQ head only partly in %s; missing %s", location, missing)
        else:
            missing += [n for s in head_slots for n in s[1]]
            logging.info("No NQ head in %s: the head keeps its fresh initialisation", location)
    used = set(loaded)
    unused = sorted(n for n in source.shapes if n not in used) + sorted(ignored)
    logging.info(
        "Loaded %d tensors from %s (%s); %d model tensors not found%s; %d checkpoint "
        "tensors unused%s",
        len(loaded), location, kind, len(missing),
        f" {missing}" if missing else "",
        len(unused),
        f" (e.g. {unused[:5]})" if unused else "",
    )
    return LoadReport(location, "tf1" if kind == "tf" else kind, loaded, missing, unused, head_loaded)


# ------------------------------------------------------------------- training checkpoints

# What reading a damaged checkpoint raises: DataLossError / OpError (a checksum that does not
# match), IndexError ("Read less bytes than requested": a cut .data file), ValueError or
# AssertionError from a cut or foreign .index file.
_READ_FAILURES = (tf.errors.OpError, IndexError, ValueError, AssertionError)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    if not text:
        return type(err).__name__
    line = text.splitlines()[0]
    # TensorFlow prefixes the op's wrapper name: "{{function_node ...}} TensorBundle at ..."
    return re.sub(r"^\{\{[^}]*\}\}\s*", "", line).replace(" [Op:RestoreV2]", "")


def checkpoint_is_intact(prefix: str) -> bool:
    """Whether every tensor of the checkpoint at `prefix` reads back with its checksum."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except _READ_FAILURES:
        return False
    return True


def _damaged(prefix: str, folder: str, err) -> DamagedCheckpointError:
    """The one-line error for a damaged `prefix`, naming an intact older checkpoint of `folder`."""
    state = tf.train.get_checkpoint_state(folder)
    older = [p for p in (list(state.all_model_checkpoint_paths) if state else []) if p != prefix]
    intact = next((p for p in reversed(older) if checkpoint_is_intact(p)), None)
    advice = (f"the folder has an intact older checkpoint, {intact}: remove the damaged one's files "
              f"({os.path.basename(prefix)}.*) to use it" if intact else "the folder has no intact older checkpoint")
    reason = err if isinstance(err, str) else _first_line(err)
    return DamagedCheckpointError(f"{prefix}: the checkpoint is damaged ({reason}); {advice}")


def saved_values(prefix: str, folder: str) -> dict:
    """name -> a function reading that value, of the checkpoint at `prefix` (of `folder`);
    DamagedCheckpointError when its index cannot be read (and at a damaged value's read)."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = list(reader.get_variable_to_shape_map())
    except _READ_FAILURES as err:
        raise _damaged(prefix, folder, err) from None

    def read(name):
        try:
            return reader.get_tensor(name)
        except _READ_FAILURES as err:
            raise _damaged(prefix, folder, err) from None

    return {name: (lambda n=name: read(n)) for name in names}


def restore_checkpoint(checkpoint: tf.train.Checkpoint, prefix: str, folder: str, partial: bool = False) -> None:
    """Restores `checkpoint` from `prefix` (a checkpoint of `folder`): DamagedCheckpointError when its
    files are damaged, CheckpointError when it does not fit the objects (another model)."""
    failure = None
    with _tensorflow_warnings_off():  # a failed restore warns of its unrestored values as it goes
        try:
            status = checkpoint.restore(prefix)
            if partial:
                status.expect_partial()
            status.assert_existing_objects_matched()
        except _READ_FAILURES as err:
            failure = _first_line(err)  # not the exception: its traceback holds the half-restored objects
        if failure is None:
            return
        del checkpoint
        gc.collect()
    if checkpoint_is_intact(prefix):  # whole files, other shapes or names: another model's
        raise CheckpointError(f"{prefix}: the checkpoint does not fit this model ({failure})")
    raise _damaged(prefix, folder, failure)


@contextlib.contextmanager
def _tensorflow_warnings_off():
    """TensorFlow's Python warnings held back (its logger and absl's), e.g. a half-restored
    model's "deleted with unrestored values" when it is collected."""
    tf_logger = tf.get_logger()
    level, verbosity = tf_logger.level, logging.get_verbosity()
    tf_logger.setLevel("ERROR")
    logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        tf_logger.setLevel(level)
        logging.set_verbosity(verbosity)


def latest_checkpoint(folder: str) -> Optional[str]:
    """The newest training checkpoint of `folder` (its prefix), or None."""
    if not folder or not tf.io.gfile.isdir(folder):
        return None
    try:
        return tf.train.latest_checkpoint(folder)
    except _READ_FAILURES as err:  # a damaged `checkpoint` state file
        raise DamagedCheckpointError(f"{os.path.join(folder, 'checkpoint')}: unreadable checkpoint list "
                                     f"({_first_line(err)})") from None


def restore_latest(model, folder: str) -> Optional[int]:
    """Restores the model weights of `folder`'s newest training checkpoint; returns its global
    step, or None when the folder holds none. Damage and misfit raise CheckpointError naming
    the checkpoint (see `restore_checkpoint`)."""
    prefix = latest_checkpoint(folder)
    if not prefix:
        return None
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    restore_checkpoint(tf.train.Checkpoint(model=model, step=step), prefix, folder, partial=True)
    return int(step.numpy())


def restored_model(build: Callable[[], object], folder: str, init_checkpoint: Optional[str] = None):
    """(model, step): `build()`'s model with `folder`'s newest checkpoint restored (step None and
    `init_checkpoint`'s weights when the folder holds none). On a CheckpointError the model is
    dropped first: a half-restored model warns when it is collected, after the error line."""
    model = build()
    try:
        step = restore_latest(model, folder)
        if step is None and init_checkpoint:
            load_init_checkpoint(model, init_checkpoint)
    except CheckpointError:
        with _tensorflow_warnings_off():
            del model
            gc.collect()
        raise
    return model, step
