"""File helpers every stage shares: atomic outputs, gzip detection, path patterns, int64 ids,
and the one-line error exit of the command-line programs.

Atomic outputs. Every output is written under a temporary name in its own directory,
`.<name>.tmp-<pid>-<random>`, and renamed over the final name only when complete, so a
reader never sees half a file. The temporaries of this process are removed when it ends
on an error, on SIGTERM, SIGINT or SIGHUP (see `install_signal_cleanup`); the pid in the
name lets a later run remove those of a process that was killed outright
(`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import signal
import sys
import threading
import zlib
from typing import IO, Iterator, Optional, Union

from nq_baseline.common.errors import NqInputError

GZIP_MAGIC = b"\x1f\x8b\x08"
_TMP_MARK = ".tmp-"

# --------------------------------------------------------------------------- temporaries

_LIVE: set[str] = set()  # temporary files and folders of this process, removed on a signal
_LIVE_LOCK = threading.RLock()  # re-entrant: the signal handler may interrupt its holder


def temporary_name(path: str) -> str:
    """A temporary name beside `path`: hidden, carrying this process's pid. The temporaries
    of `path` left by killed processes go first, so no program's outputs pile them up."""
    directory, base = os.path.split(os.path.abspath(path))
    remove_stale_temporaries(directory, base)
    return os.path.join(directory, f".{base}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def register_temporary(path: str) -> None:
    with _LIVE_LOCK:
        _LIVE.add(path)


def release_temporary(path: str) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(path)


def remove_path(path: str) -> None:
    """Removes a file or a folder tree; missing is fine."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass


def remove_live_temporaries() -> None:
    """Removes every temporary this process still holds (its outputs stay unwritten)."""
    with _LIVE_LOCK:
        paths = list(_LIVE)
        _LIVE.clear()
    for path in paths:
        remove_path(path)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory: str, base: Optional[str] = None) -> list[str]:
    """Removes the temporaries `.<base>.tmp-<pid>-*` (any base when None) in `directory`
    whose process is gone (killed before it could clean up); returns what it removed."""
    removed = []
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return removed
    for name in names:
        if not name.startswith(".") or _TMP_MARK not in name:
            continue
        head, _, tail = name[1:].rpartition(_TMP_MARK)
        if base is not None and head != base:
            continue
        pid_text = tail.split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        full = os.path.join(directory, name)
        remove_path(full)
        removed.append(full)
    return removed


_SIGNALS_INSTALLED = False


def install_signal_cleanup() -> None:
    """On SIGTERM, SIGINT or SIGHUP: remove this process's temporaries, then die of the
    signal as usual (exit status 128 + signal number). Main thread only; idempotent."""
    global _SIGNALS_INSTALLED
    if _SIGNALS_INSTALLED or threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        remove_live_temporaries()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, handler)
    _SIGNALS_INSTALLED = True


# --------------------------------------------------------------------------- atomic outputs


def _prepare_parent(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory")
    os.makedirs(directory, exist_ok=True)


@contextlib.contextmanager
def atomic_output(path: str, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """`with atomic_output(path) as f: f.write(...)`: `path` appears, complete, when the block
    ends without an error; on an error (or a signal) nothing is left behind."""
    _prepare_parent(path)
    tmp = temporary_name(path)
    register_temporary(tmp)
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise
    finally:
        release_temporary(tmp)


def atomic_write(path: str, data: Union[bytes, str]) -> None:
    """Writes `data` (bytes, or text as UTF-8) to `path` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(path, "wb") as handle:
        handle.write(payload)


def json_text(obj, indent: Optional[int] = 2, sort_keys: bool = True) -> str:
    """The project's JSON file layout: indented, keys sorted, a final newline."""
    return json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n"


def write_json_atomic(path: str, obj, indent: Optional[int] = 2, sort_keys: bool = True) -> None:
    atomic_write(path, json_text(obj, indent, sort_keys))


@contextlib.contextmanager
def temporary_directory(near: str, prefix: str) -> Iterator[str]:
    """A temporary folder beside `near` (same file system), named with this pid, removed
    at the end, on an error and on a signal."""
    directory = os.path.dirname(os.path.abspath(near))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(directory, prefix)
    path = os.path.join(directory, f".{prefix}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    os.mkdir(path)
    register_temporary(path)
    try:
        yield path
    finally:
        remove_path(path)
        release_temporary(path)


# --------------------------------------------------------------------------- inputs


def is_gzip(path: str) -> bool:
    """True when `path` holds a gzip stream: the gzip header (1f 8b 08) AND a deflate
    stream that starts validly (a plain TFRecord whose length happens to begin 1f 8b 08
    is not gzip). An empty or short file is not gzip."""
    with open(path, "rb") as handle:
        return is_gzip_head(handle.read(64))


def is_gzip_head(head: bytes) -> bool:
    """`is_gzip` of a file's first bytes (64 of them tell)."""
    if head[:3] != GZIP_MAGIC:
        return False
    try:
        zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
    except zlib.error:
        return False
    return True


def expand_paths(pattern: Union[str, list, tuple]) -> list[str]:
    """A path, a glob, or a comma-separated list of those (or a list) -> the existing files,
    each glob sorted, duplicates dropped, in the order given.

    Raises NqInputError naming the part that matches nothing, or that is a directory."""
    parts = pattern if isinstance(pattern, (list, tuple)) else str(pattern).split(",")
    paths: list[str] = []
    for part in (str(p).strip() for p in parts):
        if not part:
            continue
        if any(c in part for c in "*?["):
            matches = sorted(p for p in glob.glob(part) if not os.path.isdir(p))
        else:
            if os.path.isdir(part):
                raise NqInputError(part, None, "is a directory, not a file (give a file, a glob or a list)")
            matches = [part] if os.path.exists(part) else []
        if not matches:
            raise NqInputError(part, None, "no such file (or the glob matched nothing)")
        paths.extend(m for m in matches if m not in paths)
    if not paths:
        raise NqInputError(str(pattern), None, "no input file given")
    return paths


# --------------------------------------------------------------------------- numbers

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def wrap_int64(value: int) -> int:
    """`value` wrapped into the signed 64-bit range (two's complement)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= (1 << 63) else value


def in_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


# --------------------------------------------------------------------------- command lines


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
