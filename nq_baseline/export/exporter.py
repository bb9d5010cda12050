"""The exports' entry point: a model folder written in the asked format (`export`)."""

from __future__ import annotations

import os

from nq_baseline.common.errors import NqInputError
from nq_baseline.export.hf import export_hf
from nq_baseline.export.publish import FORMATS, HF, SAVED_MODEL, ExportError, check_destination, load_trained_model
from nq_baseline.export.saved_model import answer_config, export_saved_model
from nq_baseline.model.folder import ModelSpec


def export(model_dir: str, export_dir: str, fmt: str = SAVED_MODEL, overwrite: bool = False,
           postprocess=None, max_paragraphs: int = 0) -> str:
    """Loads `model_dir` and writes it to `export_dir` in format `fmt` (saved_model or hf).
    SavedModel only: `postprocess`, the prediction.postprocess.PostprocessConfig `answer_text`
    follows (default: the Reader's for this model), and `max_paragraphs`, the most paragraphs
    it reads (0: every one, as a Reader)."""
    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    check_destination(export_dir, overwrite, model_dir)
    if not os.path.isdir(model_dir):
        raise NqInputError(f"--model_dir {model_dir}", None, "no such model folder")
    if fmt == HF:
        return export_hf(load_trained_model(model_dir), export_dir, overwrite)
    config = answer_config(ModelSpec.load(model_dir), postprocess)
    return export_saved_model(load_trained_model(model_dir), export_dir, overwrite, config,
                              max_paragraphs + 1 if max_paragraphs else 0)
