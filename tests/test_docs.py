"""The documentation runs as written: every page of docs/ opens with a bash example, and each
page's first ```bash block runs from the repository root with `bash -euo pipefail`, the
environment's console scripts first on PATH, within a time bound, and leaves nothing new in
the checkout. The README links every page and, like the pages, speaks of the project, not of
how it was made.

The examples run side by side in threads (each is a shell with its own processes), so the
whole check takes about as long as the slowest page.
"""

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"

# A page of figures, whose commands are benchmarks (minutes each): not run.
OTHERS_PAGES = {"performance.md"}
# Every page the README must link, written yet or not.
PAGES = {"preparing.md", "training.md", "predicting.md", "answering.md", "exporting.md", "reliability.md",
         "differences.md", "tools.md", "architecture.md"} | OTHERS_PAGES
SECONDS_PER_PAGE = 600  # a bound: a page's example takes a minute or two on two idle cores
PARALLEL = 4  # examples at once: each runs a TensorFlow process or two
FIRST_BASH = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)
FIRST_FENCE = re.compile(r"^```(\w*)\n", re.M)


def first_bash_block(page: Path):
    match = FIRST_BASH.search(page.read_text(encoding="utf-8"))
    return match.group(1) if match else None


def checkout_state() -> set:
    """What git sees in the checkout (changes, untracked and ignored files), __pycache__ aside;
    None outside a git checkout."""
    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return {line for line in proc.stdout.splitlines()
            if "__pycache__" not in line and not line.endswith(".pyc") and ".pytest_cache" not in line}


def run_example(page: Path, script: str) -> tuple:
    """(exit status, or None when it ran past the bound; seconds; the output's last lines). The
    example runs in a process group of its own, all of it stopped at the bound."""
    bin_dir = os.path.dirname(sys.executable)  # the environment's python and console scripts
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.time()
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script, page.name], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=SECONDS_PER_PAGE)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        status = None
    tail = "\n".join(output.strip().splitlines()[-25:])
    return status, time.time() - started, tail


def pages_to_run() -> dict:
    """page name -> its first bash block, for the pages whose example runs here."""
    chosen = {}
    for page in sorted(DOCS.glob("*.md")):
        script = first_bash_block(page)
        if script is None:
            continue  # performance.md: its commands are benchmarks (checked below for the others)
        chosen[page.name] = script
    return chosen


def test_every_page_opens_with_a_bash_example():
    for page in sorted(DOCS.glob("*.md")):
        if page.name in OTHERS_PAGES:
            continue
        fence = FIRST_FENCE.search(page.read_text(encoding="utf-8"))
        assert fence and fence.group(1) == "bash", f"{page.name}: its first code block is not a bash example"
        assert first_bash_block(page).strip(), f"{page.name}: an empty example"
    for name in PAGES - OTHERS_PAGES:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"


def test_readme_links_every_page_and_is_a_front_page():
    text = README.read_text(encoding="utf-8")
    pages = PAGES | {page.name for page in DOCS.glob("*.md")}
    assert not [name for name in sorted(pages) if f"(docs/{name})" not in text], "pages the README does not link"
    assert len(text.encode("utf-8")) <= 15_000


def test_texts_speak_of_the_project_not_of_its_history():
    history = re.compile(r"\bissues? \d+|\bthis stop\b|\bearlier sessions?\b|\bstop \d+\b", re.I)
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        found = history.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name}: {found}"


def test_first_examples_run_as_written():
    chosen = pages_to_run()
    assert set(PAGES - OTHERS_PAGES) <= set(chosen), "a page of ours has no example to run"
    before = checkout_state()
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        results = dict(zip(chosen, pool.map(lambda name: run_example(DOCS / name, chosen[name]), chosen)))
    failures = []
    for name, (status, seconds, tail) in results.items():
        if status != 0:
            why = f"ran past {SECONDS_PER_PAGE} s" if status is None else f"exit status {status} after {seconds:.0f} s"
            failures.append(f"docs/{name}: {why}; its output ends:\n{tail}")
    assert not failures, "\n\n".join(failures)
    after = checkout_state()
    if before is not None and after is not None:
        assert after == before, f"the examples left files in the checkout: {sorted(after - before)}"

