"""The model stage's errors, importable without TensorFlow (the programs catch them around it)."""

from typing import Optional


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into the model (missing, unreadable, mismatched)."""


class DamagedCheckpointError(CheckpointError):
    """A checkpoint whose files are cut short or overwritten (their checksums say so)."""


class NoTrainingDataError(ValueError):
    """The input ended before the first step: nothing to train on."""


class TrainingStopped(RuntimeError):
    """Training stopped on a state it must not save or go on from."""


class NonFiniteLossError(TrainingStopped):
    """The loss became NaN or infinite: training stopped before saving that state."""

    def __init__(self, step: int, loss: float, last_checkpoint: Optional[str]):
        kept = (f"the last finite checkpoint is {last_checkpoint}" if last_checkpoint
                else "no checkpoint was saved")
        super().__init__(f"the training loss is {loss} at step {step} (or its gradient is not finite: a learning "
                         f"rate too high, or bad records?); stopped without applying or saving that step: {kept}")
        self.step, self.loss, self.last_checkpoint = step, loss, last_checkpoint


class WorkersDisagreeError(TrainingStopped):
    """The workers of one multi-worker run do not start from the same state."""


class WorkerLostError(TrainingStopped):
    """A peer of a multi-worker run died or cannot be reached: the run cannot go on."""
