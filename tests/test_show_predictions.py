"""tools/show_predictions.py: texts, right/wrong by nq_eval's rule, thresholds, HTML, command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import show_predictions  # noqa: E402
from conftest import SQUAD2, squad_to_nq_cli, write_json  # noqa: E402
from nq_baseline.reading import nq_data  # noqa: E402

# The tool imports nq_baseline as installed; this checkout's copy comes first.
TOOL_ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _gold_and_predictions(tmp_path):
    src = write_json(tmp_path / "tiny.json", SQUAD2)
    assert squad_to_nq_cli(f"--input={src}", f"--output_dir={tmp_path}").returncode == 0
    gold = tmp_path / "all-full.jsonl.gz"
    docs = {d.question_text: d for d in nq_data.read_documents(str(gold))}
    q1, q2, q3 = (docs[q] for q in ("Who founded Alpha & Omega?", "Who founded Beta?", "How many staff?"))

    def span(s, e):
        return {"start_token": s, "end_token": e, "start_byte": -1, "end_byte": -1}

    null = span(-1, -1)
    a1, a3 = q1.annotations[0], q3.annotations[0]
    s1 = a1.short_answers[0]
    preds = [
        # q1: right long, wrong short (one token too few)
        {"example_id": q1.example_id, "long_answer": span(a1.long_start_token, a1.long_end_token),
         "long_answer_score": 3.5, "short_answers": [span(s1.start_token, s1.end_token - 1)],
         "short_answers_score": 1.0, "yes_no_answer": "NONE"},
        # q2 (gold null): a long answer -> wrong long; no short -> right short
        {"example_id": q2.example_id, "long_answer": span(a1.long_start_token, a1.long_end_token),
         "long_answer_score": 2.0, "short_answers": [], "short_answers_score": 0.0, "yes_no_answer": "NONE"},
        # q3: wrong long (the other paragraph), right short
        {"example_id": q3.example_id, "long_answer": span(a1.long_start_token, a1.long_end_token),
         "long_answer_score": 1.0, "short_answers": [span(a3.short_answers[0].start_token,
                                                          a3.short_answers[0].end_token)],
         "short_answers_score": 1.0, "yes_no_answer": "NONE"},
    ]
    pred_path = tmp_path / "predictions.json"
    pred_path.write_text(json.dumps({"predictions": preds}), encoding="utf-8")
    return gold, pred_path, (q1, q2, q3)


def test_show_predictions_flags_and_html(tmp_path):
    gold, pred_path, (q1, q2, q3) = _gold_and_predictions(tmp_path)
    rows = show_predictions.render_examples(nq_data.read_documents(str(gold)), str(pred_path), num=10)
    by_q = {r["question"]: r for r in rows}
    assert len(rows) == 3
    r1, r2, r3 = by_q[q1.question_text], by_q[q2.question_text], by_q[q3.question_text]
    assert (r1["long_correct"], r1["short_correct"]) == (True, False)
    assert (r2["long_correct"], r2["short_correct"]) == (False, True)
    assert (r3["long_correct"], r3["short_correct"]) == (False, True)
    assert r1["pred_short"] == "Zoë" and r1["gold_short"] == "Zoë Smith-Jones"
    assert r1["pred_long"].startswith("Alpha & Omega") and "<P>" not in r1["pred_long"]
    assert r2["gold_long"] == "no answer" and r2["gold_short"] == "no answer"
    assert r3["pred_short"] == "13,000"
    # the first N by default, a seeded sample otherwise (deterministic)
    assert len(show_predictions.render_examples(nq_data.read_documents(str(gold)), str(pred_path), 2)) == 2
    a = show_predictions.render_examples(nq_data.read_documents(str(gold)), str(pred_path), 2, seed=7)
    b = show_predictions.render_examples(nq_data.read_documents(str(gold)), str(pred_path), 2, seed=7)
    assert a == b and len(a) == 2
    page = show_predictions.to_html(rows)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "Alpha &amp; Omega" in page and "Alpha & Omega" not in page
    assert "<script" not in page.lower() and "http" not in page
    from html.parser import HTMLParser
    HTMLParser().feed(page)
    # long answers are shortened to ~40 words
    long_doc = nq_data.NqDocument(1, "q", "", [f"w{i}" for i in range(100)], [False] * 100, [], [])
    assert show_predictions.span_text(long_doc, (0, 100)).endswith(" ...")
    assert len(show_predictions.span_text(long_doc, (0, 100)).split()) == 41


def test_show_predictions_cli(tmp_path):
    gold, pred_path, _ = _gold_and_predictions(tmp_path)
    report = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "show_predictions.py"),
                           f"--gold_path={gold}", f"--predictions_path={pred_path}", "--num=5",
                           f"--html_out={report}"], capture_output=True, text=True, cwd=ROOT, env=TOOL_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "long right 1/3, short right 2/3" in proc.stdout
    assert "[WRONG]" in proc.stdout and "[RIGHT]" in proc.stdout
    assert "&lt;" not in proc.stdout and report.read_text(encoding="utf-8").count('class="ex"') == 3
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "show_predictions.py"),
                           f"--gold_path={tmp_path / 'missing.jsonl'}", f"--predictions_path={pred_path}"],
                          capture_output=True, text=True, cwd=ROOT, env=TOOL_ENV)
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr


def test_show_predictions_official_two_of_five_rule():
    """5 annotators: one answer alone is a null gold (the official rule); 2 or more are a gold answer."""
    from nq_baseline.reading import nq_writer
    from nq_baseline.reading.nq_writer import GoldAnswer
    blocks = [("p", "Alpha was founded in 1901 ."), ("p", "Beta is a river ."), ("ul", ["one", "two"])]
    a = GoldAnswer(0, span=(4, 5))
    yes = GoldAnswer(1, yes_no="YES")
    cases = [  # annotations, (pred long block, nested), pred short words, pred yes/no, (long right, short right)
        ([a, None, None, None, None], None, None, "NONE", (True, True)),
        ([a, None, None, None, None], 0, (4, 5), "NONE", (False, False)),
        ([None, a, None, GoldAnswer(0), None], 0, None, "NONE", (True, True)),  # 2 long, 1 short: short is null
        ([None, a, None, GoldAnswer(0), None], 0, (4, 5), "NONE", (True, False)),
        ([None, a, None, a, None], 0, (4, 5), "NONE", (True, True)),
        ([None, a, None, a, None], 0, (3, 5), "NONE", (True, False)),
        ([a, a, GoldAnswer(2, nested=1)], (2, 1), None, "NONE", (True, False)),  # any annotator's span, nested too
        ([yes, yes, None], 1, None, "YES", (True, True)),
        ([yes, yes, None], 1, None, "NO", (True, False)),
        ([a], None, None, "NONE", (False, False)),  # one annotation (NQ train): it is the gold
        ([None], None, None, "NONE", (True, True)),
    ]
    for k, (anns, pred_block, pred_words, yes_no, expected) in enumerate(cases):
        doc = nq_writer.build_document("T", blocks)
        original, _ = doc.example(k + 1, "q", anns)
        gold = nq_data.document_from_json(original)
        if pred_block is None:
            long = {"start_token": -1, "end_token": -1, "start_byte": -1, "end_byte": -1}
        else:
            block, nested = pred_block if isinstance(pred_block, tuple) else (pred_block, None)
            c = original["long_answer_candidates"][doc.candidate_index(block, nested)]
            long = {k2: c[k2] for k2 in ("start_token", "end_token", "start_byte", "end_byte")}
        shorts = []
        if pred_words is not None:
            _, ((s, e),) = doc.resolve(GoldAnswer(0, span=pred_words))
            shorts = [{"start_token": s, "end_token": e, "start_byte": -1, "end_byte": -1}]
        pred = {"example_id": k + 1, "long_answer": long, "long_answer_score": 1.0, "short_answers": shorts,
                "short_answers_score": 1.0, "yes_no_answer": yes_no}
        (row,) = show_predictions.render_examples([gold], {"predictions": [pred]}, num=1)
        assert (row["long_correct"], row["short_correct"]) == expected, (k, row)


def test_show_predictions_applies_thresholds_like_the_metrics(tmp_path):
    """Below its threshold an answer is shown and judged as no answer; at nq_eval's best
    thresholds the rows give nq_eval's precision and recall."""
    from nq_baseline.evaluation import scorer as nq_eval
    gold, pred_path, (q1, q2, q3) = _gold_and_predictions(tmp_path)
    docs = list(nq_data.read_documents(str(gold)))
    rows = {r["question"]: r for r in show_predictions.render_examples(docs, str(pred_path), 10, None, 2.5, 2.0)}
    r1, r2, r3 = rows[q1.question_text], rows[q2.question_text], rows[q3.question_text]
    assert (r1["long_correct"], r2["long_correct"], r3["long_correct"]) == (True, True, False)
    assert r2["pred_long"].startswith("no answer (below the threshold 2.5")
    assert not r1["short_correct"] and not r3["short_correct"] and r3["pred_short"].startswith("no answer (below")
    metrics = nq_eval.evaluate(str(gold), str(pred_path), long_non_null_threshold=1, short_non_null_threshold=1)
    rows = show_predictions.render_examples(docs, str(pred_path), 10, None, metrics["long-best-threshold"],
                                            metrics["short-best-threshold"])
    for kind in ("long", "short"):
        answered = [r for r in rows if not r[f"pred_{kind}"].startswith("no answer")]
        right = sum(r[f"{kind}_correct"] for r in answered)
        gold_answers = sum(r[f"gold_{kind}"] != "no answer" for r in rows)
        assert right / max(1, len(answered)) == pytest.approx(metrics[f"{kind}-best-threshold-precision"])
        assert right / gold_answers == pytest.approx(metrics[f"{kind}-best-threshold-recall"])
    # the CLI reads the thresholds from nq_eval's metrics JSON; a bad one exits 2
    metrics_path = tmp_path / "metrics.json"
    metrics_path.write_text(json.dumps({"long-best-threshold": 2.5, "short-best-threshold": 2.0}))
    tool = [sys.executable, str(ROOT / "tools" / "show_predictions.py"), f"--gold_path={gold}",
            f"--predictions_path={pred_path}"]
    proc = subprocess.run(tool + [f"--metrics_path={metrics_path}"], capture_output=True, text=True, cwd=ROOT,
                          env=TOOL_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "long right 2/3, short right 1/3" in proc.stdout
    metrics_path.write_text("{}")
    proc = subprocess.run(tool + [f"--metrics_path={metrics_path}"], capture_output=True, text=True, cwd=ROOT,
                          env=TOOL_ENV)
    assert proc.returncode == 2 and "metrics.json" in proc.stderr


# --------------------------------------------------------------------------- bad flags and faults
# In-process (main() exits through cli.fail): the CLI subprocess is tested above.

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(folder, gold, predictions) of the tiny SQuAD file, converted once for these tests."""
    folder = tmp_path_factory.mktemp("show_faults")
    gold, pred_path, _ = _gold_and_predictions(folder)
    return folder, gold, pred_path


def one_error_line(capsys, argv, *needles):
    """main(argv) exits with status 2, prints nothing on stdout and one line on stderr
    holding every needle."""
    with pytest.raises(SystemExit) as info:
        show_predictions.main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert info.value.code == 2 and out == "" and len(lines) == 1, (info.value.code, out, err)
    assert lines[0].startswith("show_predictions: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_bad_flag_values_exit_2(capsys):
    files = ["--gold_path=absent.jsonl", "--predictions_path=absent.json"]  # the flags fail first
    for flag, needle in [
        ("--num=0", "argument --num: 0 is not at least 1"),
        ("--num=-3", "argument --num: -3 is not at least 1"),
        ("--num=five", "argument --num: 'five' is not an integer"),
        ("--long_threshold=nan", "argument --long_threshold: 'nan' is not a number"),
        ("--short_threshold=high", "argument --short_threshold: 'high' is not a number"),
        ("--seed=1.5", "argument --seed"),
    ]:
        one_error_line(capsys, files + [flag], needle)
    one_error_line(capsys, files[1:], "required: --gold_path")


def _unwritable_dir(tmp_path):
    """A folder this process cannot create files in (root ignores permission bits: /proc)."""
    if os.geteuid() == 0:
        return Path("/proc")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked


def test_faults_are_one_line_and_write_nothing(tiny, tmp_path, capsys):
    _, gold, pred_path = tiny
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "trunc.jsonl.gz").write_bytes(gold.read_bytes()[:-40])
    (tmp_path / "nan.json").write_text('{"long-best-threshold": NaN, "short-best-threshold": 1}')
    report = tmp_path / "report.html"
    cases = [  # (flags replacing the defaults, needles)
        ([f"--gold_path={tmp_path}"], [str(tmp_path), "is a directory"]),
        ([f"--gold_path={tmp_path / 'trunc.jsonl.gz'}"], ["trunc.jsonl.gz:", "unreadable input"]),
        ([f"--predictions_path={tmp_path}"], [str(tmp_path), "cannot read the predictions"]),
        ([f"--metrics_path={tmp_path}"], [f"--metrics_path={tmp_path}", "cannot read"]),
        ([f"--metrics_path={tmp_path / 'nan.json'}"], ["nan.json", "NaN is not a threshold"]),
        ([f"--html_out={_unwritable_dir(tmp_path) / 'r.html'}"], ["--html_out=", "cannot write"]),
        ([f"--html_out={tmp_path / 'a_file' / 'r.html'}"], ["--html_out=", "a part of its folder path is a file"]),
        ([f"--html_out={tmp_path}"], [f"--html_out={tmp_path}", "is a directory"]),
    ]
    for extra, needles in cases:
        args = {"gold_path": f"--gold_path={gold}", "predictions_path": f"--predictions_path={pred_path}",
                "html_out": f"--html_out={report}"}
        for flag in extra:
            args[flag[2:].split("=")[0]] = flag
        one_error_line(capsys, list(args.values()), *needles)
        assert not report.exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_prediction_without_long_answer_exits_2(tiny, tmp_path, capsys):
    _, gold, pred_path = tiny
    preds = json.loads(pred_path.read_text())
    del preds["predictions"][1]["long_answer"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(preds))
    one_error_line(capsys, [f"--gold_path={gold}", f"--predictions_path={bad}"], "predictions[1]",
                   "lacks 'long_answer'")
