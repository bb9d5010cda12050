"""WordNet 3.0 for NLTK, offline: finding it, loading it, installing it from Debian's packages
(the synonym augmentation's source; the program that sets it up is `nq_baseline.wordnet_setup`).

NLTK reads WordNet from `<nltk data dir>/corpora/wordnet/`.  Where `nltk.download` cannot
reach the internet, the Debian packages `wordnet-base` (data.*, index.*, *.exc) and
`wordnet-sense-index` (index.sense, cntlist) hold the same WordNet 3.0 database under
/usr/share/wordnet.  NLTK does not follow symlinks into its data roots, so the files are
COPIED, and NLTK's reader also needs a `lexnames` file that Debian does not ship: it is
written from the lexnames(5WN) table below.

Target data dir: `--nltk_data`, else the first entry of $NLTK_DATA, else
`<sys.prefix>/nltk_data` (the virtual environment's own, one of NLTK's default search
paths).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from typing import Optional

from nq_baseline.common.fileio import atomic_output, atomic_write

EXIT_MISSING = 2

#: lexnames(5WN): file number, lexicographer file name, syntactic category
#: (1 noun, 2 verb, 3 adjective, 4 adverb).  NLTK asserts the numbers run 0..44 in order.
LEXNAMES = (
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1), ("noun.act", 1),
    ("noun.animal", 1), ("noun.artifact", 1), ("noun.attribute", 1), ("noun.body", 1),
    ("noun.cognition", 1), ("noun.communication", 1), ("noun.event", 1), ("noun.feeling", 1),
    ("noun.food", 1), ("noun.group", 1), ("noun.location", 1), ("noun.motive", 1),
    ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1), ("noun.plant", 1),
    ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1), ("noun.relation", 1),
    ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1), ("noun.time", 1),
    ("verb.body", 2), ("verb.change", 2), ("verb.cognition", 2), ("verb.communication", 2),
    ("verb.competition", 2), ("verb.consumption", 2), ("verb.contact", 2), ("verb.creation", 2),
    ("verb.emotion", 2), ("verb.motion", 2), ("verb.perception", 2), ("verb.possession", 2),
    ("verb.social", 2), ("verb.stative", 2), ("verb.weather", 2), ("adj.ppl", 3),
)

#: Files NLTK's WordNetCorpusReader opens (besides lexnames), all in the Debian packages.
WORDNET_FILES = (
    "cntlist.rev", "index.sense",
    "index.adj", "index.adv", "index.noun", "index.verb",
    "data.adj", "data.adv", "data.noun", "data.verb",
    "adj.exc", "adv.exc", "noun.exc", "verb.exc",
)
DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
DEBIAN_DIRS = ("/usr/share/wordnet",)

REMEDY = (
    "Remedies: (a) offline, from Debian's WordNet 3.0 packages: "
    "`apt-get install wordnet-base wordnet-sense-index` then "
    "`python -m nq_baseline.wordnet_setup --install` (does both when run as root); "
    "(b) where the internet is open: `python -c \"import nltk; nltk.download('wordnet')\"`."
)


class WordNetMissingError(ValueError):
    """WordNet cannot be loaded through NLTK; the message names both remedies.

    A ValueError: callers that turn bad settings into a clean CLI error catch it too."""


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in enumerate(LEXNAMES))


def default_nltk_data_dir() -> str:
    env = os.environ.get("NLTK_DATA", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return os.path.abspath(os.path.expanduser(first)) if first else os.path.join(sys.prefix, "nltk_data")


def find_debian_dir() -> Optional[str]:
    """The folder holding the Debian WordNet files (all of WORDNET_FILES), or None."""
    candidates = list(DEBIAN_DIRS)
    try:  # where dpkg says the package put data.noun, in case it ever moves
        out = subprocess.run(["dpkg", "-L", "wordnet-base"], capture_output=True, text=True, timeout=30)
        candidates += [os.path.dirname(p) for p in out.stdout.splitlines() if p.endswith("/data.noun")]
    except (OSError, subprocess.SubprocessError):
        pass
    for d in candidates:
        if all(os.path.isfile(os.path.join(d, f)) for f in WORDNET_FILES):
            return d
    return None


_LOCK = threading.Lock()
_READER = None


def _try_load(nltk_data: Optional[str] = None):
    """Loads the NLTK WordNet reader (searching `nltk_data` first when given); raises LookupError/OSError."""
    import nltk
    from nltk.corpus import wordnet

    if nltk_data and nltk_data not in nltk.data.path:
        nltk.data.path.insert(0, nltk_data)
    wordnet.ensure_loaded()
    if not wordnet.synsets("car"):
        raise LookupError("WordNet loaded but has no synset for 'car'")
    return wordnet


def load_wordnet(nltk_data: Optional[str] = None):
    """Returns NLTK's WordNet reader (loaded, cached per process) or raises WordNetMissingError."""
    global _READER
    with _LOCK:
        if _READER is None:
            try:
                _READER = _try_load(nltk_data)
            except (LookupError, OSError, ValueError, AssertionError, ImportError) as err:
                first = str(err).strip().splitlines()
                why = next((line.strip() for line in first if line.strip() and "*" not in line),
                           type(err).__name__)
                raise WordNetMissingError(
                    f"WordNet is not available to NLTK ({why.rstrip('.')}). {REMEDY}") from None
        return _READER


def wordnet_dir_complete(target: str) -> bool:
    lex = os.path.join(target, "lexnames")
    if not os.path.isfile(lex):
        return False
    with open(lex, encoding="utf-8") as fh:
        if fh.read() != lexnames_text():
            return False
    return all(os.path.isfile(os.path.join(target, f)) for f in WORDNET_FILES)


def copy_wordnet(src: str, nltk_data: str) -> str:
    """Copies the Debian WordNet files to <nltk_data>/corpora/wordnet (+ lexnames); returns that dir."""
    target = os.path.join(nltk_data, "corpora", "wordnet")
    os.makedirs(target, exist_ok=True)
    for name in WORDNET_FILES:
        s, d = os.path.join(src, name), os.path.join(target, name)
        if os.path.islink(d):
            os.unlink(d)
        if os.path.isfile(d) and os.path.getsize(d) == os.path.getsize(s):
            continue
        with open(s, "rb") as source, atomic_output(d) as copy:
            shutil.copyfileobj(source, copy)  # a real copy: NLTK refuses symlinks (and hard links)
    atomic_write(os.path.join(target, "lexnames"), lexnames_text())
    return target


def apt_install(log) -> bool:
    """apt-get install the Debian packages (apt-get update first if they cannot be found)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log("cannot install the Debian packages: " +
            ("not root" if os.geteuid() != 0 else "apt-get is not available"))
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES]
    log("running: " + " ".join(cmd))
    if subprocess.run(cmd, env=env).returncode == 0:
        return True
    log("install failed; running: apt-get update")
    subprocess.run(["apt-get", "update"], env=env)
    return subprocess.run(cmd, env=env).returncode == 0


_LOAD_CODE = ("import sys; from nq_baseline.wordnet_setup import load_wordnet; "
              "wn = load_wordnet(sys.argv[1]); s = wn.synsets('car')[0]; "
              "print(f'WordNet {wn.get_version()} from {wn.root.path}: car -> {s.name()}, {s.lexname()}', flush=True); ")
_TABLE_CODE = ("from nq_baseline.features.augment import SynonymSource; "
               "print(len(SynonymSource(load_wordnet(sys.argv[1]))._table))")


def _python(code: str, nltk_data: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter: NLTK caches a failed load in-process."""
    return subprocess.run([sys.executable, "-c", code, nltk_data], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _last_error(proc: subprocess.CompletedProcess) -> str:
    return (proc.stderr.strip().splitlines() or ["no output"])[-1]


def _table_line(proc: subprocess.CompletedProcess, count: Optional[str]) -> str:
    if proc.returncode == 0 and count is not None:
        return f"synonym table ready ({count} words with synonyms)"
    return "synonym table not built: " + _last_error(proc)


def check_and_build_in_subprocess(nltk_data: str) -> tuple[bool, str, str]:
    """Loads WordNet in a fresh interpreter and builds augmentation's synonym table there (one
    load for both): (loaded, WordNet's line or the error, the table's line to print)."""
    proc = _python(_LOAD_CODE + _TABLE_CODE, nltk_data)
    lines = proc.stdout.strip().splitlines()
    if not lines:
        return False, _last_error(proc), ""
    return True, lines[0], _table_line(proc, lines[1] if len(lines) > 1 else None)


def build_synonym_table(nltk_data: str) -> str:
    """Builds (or finds) augmentation's precomputed synonym table in a fresh interpreter; a line to print."""
    proc = _python("import sys; from nq_baseline.wordnet_setup import load_wordnet; " + _TABLE_CODE, nltk_data)
    lines = proc.stdout.strip().splitlines()
    return _table_line(proc, lines[-1] if lines else None)


STAMP_NAME = ".nq_baseline_verified"


def signature(wordnet_dir: str) -> str:
    import nltk

    parts = [f"nltk {nltk.__version__}"]
    for name in ("lexnames",) + WORDNET_FILES:
        st = os.stat(os.path.join(wordnet_dir, name))
        parts.append(f"{name} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(parts) + "\n"


def _found_wordnet_dir(nltk_data: str) -> Optional[str]:
    import nltk

    if nltk_data not in nltk.data.path:
        nltk.data.path.insert(0, nltk_data)
    try:
        found = nltk.data.find("corpora/wordnet")
    except LookupError:
        return None
    path = getattr(found, "path", None)  # None for a zipped corpus: no fast path there
    return path if path and os.path.isdir(path) else None


def fast_check(nltk_data: str) -> Optional[str]:
    """The WordNet dir NLTK finds, when a full load of it was verified earlier and nothing changed."""
    wordnet_dir = _found_wordnet_dir(nltk_data)
    if wordnet_dir is None:
        return None
    try:
        with open(os.path.join(wordnet_dir, STAMP_NAME), encoding="utf-8") as fh:
            return wordnet_dir if fh.read() == signature(wordnet_dir) else None
    except OSError:
        return None


def write_stamp(nltk_data: str) -> None:
    """Records that WordNet loaded fully from the dir NLTK finds (best effort)."""
    wordnet_dir = _found_wordnet_dir(nltk_data)
    if wordnet_dir is None:
        return
    try:
        atomic_write(os.path.join(wordnet_dir, STAMP_NAME), signature(wordnet_dir))
    except OSError:
        pass


def nltk_search_path() -> list[str]:
    import nltk

    return [str(p) for p in nltk.data.path]

