"""Publishing an export: the trained model it is made from, the destination's checks (never the
model folder itself, nor a folder holding it or inside it), the folder built aside and put in
place whole, and the description file every export carries."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

from nq_baseline.common import fileio
from nq_baseline.common.errors import NqInputError
from nq_baseline.model.folder import ModelSpec

SAVED_MODEL, HF = "saved_model", "hf"
FORMATS = (SAVED_MODEL, HF)
EXPORT_INFO_FILE = "nq_export.json"


class ExportError(ValueError):
    """An export that cannot be made (destination, model folder); one line."""


@dataclasses.dataclass
class TrainedModel:
    spec: ModelSpec
    model: object  # modeling.BertNqModel, weights restored
    step: int

    @property
    def config(self):  # modeling.BertConfig
        return self.model.config


def load_trained_model(model_dir: str) -> TrainedModel:
    """The model folder's description and model with its newest checkpoint restored, through
    the one model-folder loader (NqInputError / CheckpointError name what is missing or damaged)."""
    if not os.path.isdir(model_dir):
        raise NqInputError(f"--model_dir {model_dir}", None, "no such model folder")
    spec = ModelSpec.load(model_dir)
    model, step = spec.load_model()
    return TrainedModel(spec, model, step)


def check_destination(export_dir: str, overwrite: bool, model_dir: Optional[str] = None) -> None:
    """ExportError unless `export_dir` is absent, an empty folder, or `overwrite`; never the model
    folder, a folder holding it, or one inside it (links resolved), whatever `overwrite` says."""
    if not export_dir:
        raise ExportError("--export_dir is required")
    if os.path.lexists(export_dir) and not os.path.isdir(export_dir):
        raise ExportError(f"--export_dir {export_dir}: exists and is not a folder")
    if os.path.isdir(export_dir) and os.listdir(export_dir) and not overwrite:
        raise ExportError(f"--export_dir {export_dir}: exists and is not empty (--overwrite replaces it)")
    try:
        fileio.check_output_folder(export_dir, "--export_dir")
        if model_dir:
            fileio.refuse_outputs_over_inputs({"--export_dir": export_dir}, {"--model_dir": model_dir})
    except (fileio.OutputPathError, fileio.OutputOverInputError) as err:
        raise ExportError(str(err)) from None


def publish(export_dir: str, overwrite: bool, build: Callable[[str], None], model_dir: Optional[str] = None) -> str:
    """Runs `build(folder)` in a temporary folder beside `export_dir`, then puts it in place
    (an existing folder is replaced only once the new one is complete)."""
    check_destination(export_dir, overwrite, model_dir)
    try:
        with fileio.atomic_folder(export_dir, replace=overwrite) as work:
            build(work)
    except OSError as err:  # no space, no permission, a folder that vanished
        where = f": {err.filename}" if err.filename else ""
        raise ExportError(f"--export_dir {export_dir}: cannot write the export ({err.strerror or err}{where})") from None
    return os.path.abspath(export_dir)


def export_info(trained: TrainedModel, fmt: str, **extra) -> dict:
    spec = trained.spec
    return {"format": fmt, "model_dir": spec.model_dir, "step": trained.step,
            "do_lower_case": spec.do_lower_case, "features": spec.feature_settings(), **extra}
