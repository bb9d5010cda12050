"""Outputs, the one place for writing them: atomic files and folders, temporaries that no
crash leaves behind, and the check that an output never is, holds or lies inside an input.

Atomic outputs. Every output is written under a temporary name in its own directory,
`.<name>.tmp-<pid>-<random>`, and renamed over the final name only when complete, so a
reader never sees half a file. The temporaries of this process are removed when it ends
on an error, on SIGTERM, SIGINT or SIGHUP (see `install_signal_cleanup`); the pid in the
name lets a later run remove those of a process that was killed outright
(`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import signal
import threading
from typing import IO, Iterator, Mapping, Optional, Union


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


def install_signal_cleanup(program: Optional[str] = None) -> None:
    """On SIGTERM, SIGINT or SIGHUP: remove this process's temporaries, say so in one line
    (`program: interrupted (SIGINT)`) when `program` is given, then die of the signal as usual
    (exit status 128 + signal number). Main thread only; idempotent."""
    global _SIGNALS_INSTALLED
    if _SIGNALS_INSTALLED or threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        remove_live_temporaries()
        if program:
            try:
                os.write(2, f"{program}: interrupted ({signal.Signals(signum).name})\n".encode())
            except OSError:
                pass
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


@contextlib.contextmanager
def atomic_folder(path: str, replace: bool = False) -> Iterator[str]:
    """`with atomic_folder(path) as work: <write files in work>`: the folder appears at `path`,
    complete, when the block ends without an error; an existing folder is replaced only with
    `replace`, and only once the new one is complete (an error while putting it in place puts
    the old one back). Made beside `path` (same file system); nothing is left on an error."""
    final = os.path.abspath(path)
    base = os.path.basename(final.rstrip(os.sep)) or "output"
    with temporary_directory(final, base) as work:
        yield work
        if not os.path.isdir(final):
            os.rename(work, final)
            return
        if not replace:
            raise FileExistsError(errno.EEXIST, "exists", final)
        with temporary_directory(final, base) as old:
            previous = os.path.join(old, "previous")
            os.rename(final, previous)
            try:
                os.rename(work, final)
            except OSError:
                os.rename(previous, final)
                raise


# --------------------------------------------------------------------------- outputs checked first


class OutputPathError(ValueError):
    """An output path that cannot be written (a folder in the way, a file where a folder must be)."""


def _first_existing_parent(path: str) -> str:
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    return parent


def _check_parent(path: str, flag: str) -> None:
    parent = _first_existing_parent(path)
    if not os.path.isdir(parent):
        raise OutputPathError(f"{flag} {path}: {parent} is a file, not a folder: the output cannot go there")
    if not os.access(parent, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
        raise OutputPathError(f"{flag} {path}: cannot write in {parent} "
                              f"({'Read-only file system' if read_only else 'permission denied'})")


def check_output_file(path: str, flag: str) -> None:
    """OutputPathError naming `flag` unless a file can be written at `path` (checked before the
    work, not found out after it): not a folder, under folders that exist or can be made."""
    if os.path.isdir(path):
        raise OutputPathError(f"{flag} {path}: is a folder; give a file name")
    _check_parent(path, flag)


def check_output_folder(path: str, flag: str) -> None:
    """OutputPathError naming `flag` unless `path` is a folder, or one can be made there."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise OutputPathError(f"{flag} {path}: exists and is not a folder")
    if not os.path.isdir(path):
        _check_parent(path, flag)


# --------------------------------------------------------------------------- outputs vs inputs


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _inside(path: str, folder: str) -> bool:
    return path != folder and path.startswith(folder.rstrip(os.sep) + os.sep)


def overlap(output: str, source: str) -> Optional[str]:
    """How output path `output` would touch input path `source` ('is', 'holds', 'lies inside'),
    links resolved; None when it would not."""
    out, src = _real(output), _real(source)
    if out == src:
        return "is"
    if _inside(src, out):
        return "holds"
    if _inside(out, src):
        return "lies inside"
    return None


def refuse_outputs_over_inputs(outputs: Mapping[str, Optional[str]], inputs: Mapping[str, object]) -> None:
    """Raises OutputOverInputError when an output (flag -> path) is, holds or lies inside an input
    (flag -> a path or a list of paths, files or folders), or two outputs are one path: no failed
    or finished run may change a file it reads. Empty paths are left out."""
    given_outputs = [(flag, path) for flag, path in outputs.items() if path]
    sources = [(flag, p) for flag, paths in inputs.items() if paths
               for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths) if p]
    for flag, path in given_outputs:
        for source_flag, source in sources:
            how = overlap(path, source)
            if how is not None:
                raise OutputOverInputError(f"{flag} {path} {how} the input {source_flag} {source}: "
                                           "refusing to write over what this run reads (choose another output)")
    for i, (flag, path) in enumerate(given_outputs):
        for other_flag, other in given_outputs[i + 1:]:
            if _real(path) == _real(other):
                raise OutputOverInputError(f"{flag} and {other_flag} are the same file {path}: give two paths")


class OutputOverInputError(ValueError):
    """An output that would overwrite, replace or sit inside one of the run's inputs."""
