"""benchmarks/quality.py's SQuAD input: the official dev file or the 39-article copy, the same
39 articles by title; one line and exit 2 when the file is absent or lacks one."""

import hashlib
import subprocess
import sys

import pytest

from conftest import ROOT, squad_slice, write_json

QUALITY = ROOT / "benchmarks" / "quality.py"




def run_quality(*args):
    return subprocess.run([sys.executable, str(QUALITY), *args], capture_output=True, text=True, cwd=ROOT)


def refusal(proc) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_no_file_names_the_official_download(quality, capsys):
    with pytest.raises(SystemExit) as stop:
        quality.check_squad(None)
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and quality.SQUAD_COPY in line
    assert "https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json" in line
    assert "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9" in line


def test_absent_file_and_missing_article_exit_2(tmp_path):
    line = refusal(run_quality(f"--squad={tmp_path / 'dev-v1.1.json'}", f"--output_dir={tmp_path / 'out'}"))
    assert str(tmp_path / "dev-v1.1.json") in line and "dev-v1.1.json" in line
    short = write_json(tmp_path / "38.json", {"data": squad_slice()[:-1], "version": "1.1"})
    line = refusal(run_quality(f"--squad={short}", f"--output_dir={tmp_path / 'out'}"))
    assert str(short) in line and "lacks 1 of the 39 articles" in line and "'Force'" in line
    assert not (tmp_path / "out").exists()


def test_another_file_is_named_by_its_sha256(quality, tmp_path, capsys):
    """A file with the 39 articles among others is taken; its digest is not the official one's."""
    articles = squad_slice()
    other = write_json(tmp_path / "dev-v1.1.json", {"data": articles[20:] + [
        dict(articles[0], title="Another_article")] + articles[:20], "version": "1.1"})
    digest = quality.check_squad(str(other))
    assert digest == hashlib.sha256(other.read_bytes()).hexdigest() != quality.OFFICIAL_SHA256
    err = capsys.readouterr().err
    assert f"sha256 {digest} differs" in err and quality.OFFICIAL_SHA256 in err and str(other) in err
