"""The command-line programs' conventions: a bad flag or input is ONE line
`program: error: message` and exit status 2; Ctrl-C is one line and exit 130; TensorFlow's
start-up noise (CUDA probing on a machine with no GPU, CPU-feature notices) is kept off the
terminal, and anything else it prints is passed through.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Callable, Optional

def fail(program: str, message: str, status: int = 2):
    """The command-line programs' one-line error: `program: error: message`, exit 2."""
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(status)


def absl_flags_parser(program: str):
    """A `flags_parser` for `absl.app.run` that turns a bad flag (a bound, an enum, a type,
    a NaN or an infinity) into the one-line error with exit 2, instead of absl's "FATAL
    Flags parsing error" and exit 1."""

    def parse(argv):
        from absl import flags

        try:
            rest = flags.FLAGS(argv)
        except flags.Error as err:
            fail(program, " ".join(str(err).split()))
        problem = _non_finite_float_flag(flags.FLAGS)
        if problem:
            fail(program, problem)
        return rest

    return parse


def _non_finite_float_flag(flag_values) -> Optional[str]:
    """absl's float bounds let NaN through (every comparison with it is false), and an open
    bound lets infinity through: no float flag of these programs means anything as either."""
    import math

    for name in flag_values:
        flag = flag_values[name]
        if not (isinstance(flag.value, float) and not math.isfinite(flag.value)):
            continue
        got = "nan" if math.isnan(flag.value) else repr(flag.value)
        low, high = getattr(flag.parser, "lower_bound", None), getattr(flag.parser, "upper_bound", None)
        if low is not None and high is not None:
            return f"--{name} must be within [{low:g}, {high:g}], got {got}"
        if low is not None:
            return f"--{name} must be a finite number >= {low:g}, got {got}"
        return f"--{name} must be a finite number, got {got}"
    return None


# --------------------------------------------------------------------------- Ctrl-C


def run_program(program: str, main: Callable, flags_parser: Optional[Callable] = None) -> None:
    """`absl.app.run(main)` with this project's conventions: flag errors through
    `absl_flags_parser`, and Ctrl-C as one line with exit status 130 (128 + SIGINT), no
    traceback. (Temporaries are removed by `fileio.install_signal_cleanup`'s handler, which
    the programs install before they write anything.)"""
    from absl import app

    try:
        app.run(main, flags_parser=flags_parser or absl_flags_parser(program))
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        sys.exit(130)


# --------------------------------------------------------------------------- TensorFlow's start


# What TensorFlow prints on every start that says nothing to a user of these programs (the
# C++ libraries log it before TF_CPP_MIN_LOG_LEVEL is read): CUDA probing where no GPU is,
# oneDNN and CPU-feature notices, plug-in registrations.
_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
    r"Could not find cuda drivers|failed call to cuInit|cpu_feature_guard|"
    r"To enable the following instructions|rebuild TensorFlow with the appropriate compiler|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|computation_placer|TF-TRT Warning|"
    r"Attempting to register factory for plugin|This TensorFlow binary is optimized")


def _has_gpu_device() -> bool:
    return any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/dxg"))


@contextlib.contextmanager
def _stderr_filtered(keep: Callable[[str], bool]):
    """Runs the block with file descriptor 2 captured, then writes back the lines `keep` accepts."""
    stream = sys.stderr
    fd = stream.fileno()
    stream.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            stream.flush()
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", errors="replace").splitlines(keepends=True):
                if keep(line):
                    stream.write(line)
            stream.flush()


_TF_STARTED = False


def start_tensorflow() -> None:
    """Imports TensorFlow and lets it find its devices with its start-up notices kept off the
    terminal (every other line it prints is passed through); on a machine with a GPU, or
    with TF_CPP_MIN_LOG_LEVEL set to 0, TensorFlow speaks for itself. Call it before the
    first use of TensorFlow; later calls do nothing."""
    global _TF_STARTED
    if _TF_STARTED:
        return
    _TF_STARTED = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _has_gpu_device() or os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" or "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (captured by a test harness)
        return
    with _stderr_filtered(lambda line: not _NOISE.search(line)):
        import tensorflow as tf

        tf.config.list_physical_devices()
