"""nq_baseline.nq_eval: parity with the official NQ scorer, real NQ files, predictions, the command line."""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from absl import flags

from conftest import (NQ_REAL, NULL, ROOT, gold_example, prediction, small_gold, span, write_gold,
                      write_preds)
from nq_baseline import nq_eval as nq_eval_program
from nq_baseline.evaluation import scorer as nq_eval
from nq_baseline.evaluation.scorer import GoldDataError, NqEvalError, PredictionError

try:  # the reference of the parity tests; the fault cases below need no official scorer
    from natural_questions import eval_utils as official_utils
    from natural_questions import nq_eval as official
except ImportError:
    official = official_utils = None


def require_official() -> None:
    if official is None:
        pytest.skip("natural-questions is not installed (pip install -e '.[test]'): no official scorer to match")

DEV_FULL = NQ_REAL / "nq-dev-full-1.jsonl.gz"
SIMPLIFIED = NQ_REAL / "nq-simplified-4.jsonl.gz"


# --------------------------------------------------------------------------- helpers

@pytest.fixture
def official_flags():
    """The official scorer reads its thresholds from absl flags: parse them, restore afterwards."""
    require_official()
    fv = flags.FLAGS
    if not fv.is_parsed():
        fv(["test_nq_eval"])
    saved = (fv.long_non_null_threshold, fv.short_non_null_threshold)

    def set_thresholds(long_t, short_t):
        fv.long_non_null_threshold = long_t
        fv.short_non_null_threshold = short_t

    yield set_thresholds
    set_thresholds(*saved)


def official_metrics(gold_path, pred_path):
    gold = official_utils.read_annotation_from_one_split(str(gold_path))
    preds = official_utils.read_prediction_json(str(pred_path))
    return official.get_metrics_with_answer_stats(*official.score_answers(gold, preds))


def assert_same_metrics(ours: dict, theirs: dict, context=""):
    assert list(ours) == list(theirs), context
    for key, value in theirs.items():
        assert math.isclose(ours[key], value, rel_tol=0, abs_tol=1e-9), f"{context} {key}: {ours[key]} != {value}"


# --------------------------------------------------------------------------- random sets

class Coverage(dict):
    def hit(self, name):
        self[name] = self.get(name, 0) + 1


def _candidate_pool(rng):
    """Candidate spans: byte and token offsets, a few sharing bytes or tokens with another."""
    pool = []
    tok = rng.randint(0, 20)
    byte = rng.randint(0, 200)
    for _ in range(rng.randint(2, 5)):
        nt, nb = rng.randint(1, 6), rng.randint(3, 40)
        pool.append(span(byte, byte + nb, tok, tok + nt))
        tok += nt + rng.randint(0, 2)
        byte += nb + rng.randint(0, 5)
    if rng.random() < 0.3:  # same tokens, other bytes
        s = rng.choice(pool)
        pool.append(span(s["start_byte"] + 1, s["end_byte"] + 7, s["start_token"], s["end_token"]))
    if rng.random() < 0.3:  # same bytes, other tokens
        s = rng.choice(pool)
        pool.append(span(s["start_byte"], s["end_byte"], s["start_token"] + 50, s["end_token"] + 51))
    return pool


def _restyle(s, rng, cov):
    """The same span as bytes+tokens, tokens only, bytes only, or with one side perturbed."""
    r = rng.random()
    if r < 0.5:
        return dict(s)
    if r < 0.65:
        cov.hit("pred tokens only")
        return span(-1, -1, s["start_token"], s["end_token"])
    if r < 0.8:
        cov.hit("pred bytes only")
        return span(s["start_byte"], s["end_byte"], -1, -1)
    if r < 0.9:
        cov.hit("pred bytes differ")
        return span(s["start_byte"] + 2, s["end_byte"] + 3, s["start_token"], s["end_token"])
    cov.hit("pred tokens differ")
    return span(s["start_byte"], s["end_byte"], s["start_token"] + 1, s["end_token"] + 1)


def random_set(rng: random.Random, cov: Coverage):
    """(gold examples, predictions for ours, predictions for the official, thresholds)."""
    tokens_only_gold = rng.random() < 0.2
    score_pool = rng.choice([[0.0, 0.5, 1.0], [1, 2, 3, 2.5], None])  # small pools make ties
    if score_pool is None:
        cov.hit("distinct scores")
    gold, ours, theirs = [], [], []
    for i in range(rng.randint(1, 16)):
        eid = rng.randint(-2**63, 2**63 - 1)
        pool = _candidate_pool(rng)
        if tokens_only_gold:
            pool = [span(-1, -1, s["start_token"], s["end_token"]) for s in pool]
        n_ann = rng.randint(1, 5)
        cov.hit(f"{n_ann} annotators")
        null_gold = rng.random() < 0.2
        anns = []
        for _ in range(n_ann):
            if null_gold or rng.random() < 0.3:
                anns.append((NULL, [], "NONE"))
                continue
            long_a = rng.choice(pool)
            r = rng.random()
            if r < 0.2:
                anns.append((long_a, [], rng.choice(["YES", "NO"])))
            elif r < 0.35:
                anns.append((long_a, [], "NONE"))
            else:
                shorts = rng.sample(pool, rng.randint(1, min(3, len(pool))))
                if rng.random() < 0.1:
                    shorts.append(NULL)
                anns.append((long_a, shorts, "NONE"))
        if null_gold:
            cov.hit("null gold")
        gold.append(gold_example(eid, anns))

        def score():
            return rng.choice(score_pool) if score_pool else round(rng.uniform(-5, 5), 6)

        # What the system says.
        if rng.random() < 0.15:
            cov.hit("missing prediction")
            theirs.append(prediction(eid, long_score=score(), short_score=score()))
            continue
        ann_long = [a[0] for a in anns if a[0] is not NULL]
        if ann_long and rng.random() < 0.6:
            long_a = _restyle(rng.choice(ann_long), rng, cov)
        elif rng.random() < 0.5:
            long_a = rng.choice(pool)
        else:
            long_a = NULL
        shorts, yes_no = [], rng.choice(["NONE", "none"])
        r = rng.random()
        ann_short = [a[1] for a in anns if a[1]]
        if r < 0.15:
            yes_no = rng.choice(["YES", "NO", "yes", "No"])
            cov.hit("yes/no prediction")
            if rng.random() < 0.3:
                shorts = [NULL]
        elif r < 0.65 and ann_short:
            chosen = [s for s in rng.choice(ann_short) if s is not NULL]
            shorts = [_restyle(s, rng, cov) for s in chosen]
            rng.shuffle(shorts)
            if len(shorts) > 1:
                cov.hit("several short spans")
                if rng.random() < 0.2:
                    shorts.pop()
            if rng.random() < 0.1:
                shorts.append(NULL)
        elif r < 0.8:
            shorts = rng.sample(pool, rng.randint(1, 2))
        p = prediction(eid, long_a, shorts, yes_no, score(), score())
        ours.append(p)
        theirs.append(p)
    rng.shuffle(ours)
    thresholds = (rng.choice([1, 2, 2, 3]), rng.choice([1, 2, 2, 3]))
    return gold, ours, theirs, thresholds


def test_parity_with_official_on_random_sets(tmp_path, official_flags):
    require_official()
    rng = random.Random(20240607)
    cov = Coverage()
    n_sets = 1200
    nonzero = 0
    for n in range(n_sets):
        # Fresh names: rewriting a file in place costs a disk flush on ext4 (auto_da_alloc),
        # which was most of this test's time.
        gold_path, ours_path, theirs_path = (tmp_path / f"{kind}{n}{ext}" for kind, ext in
                                             (("g", ".jsonl.gz"), ("o", ".json"), ("t", ".json")))
        gold, ours, theirs, (long_t, short_t) = random_set(rng, cov)
        write_gold(gold_path, gold)
        write_preds(ours_path, ours)
        write_preds(theirs_path, theirs)
        official_flags(long_t, short_t)
        expected = official_metrics(gold_path, theirs_path)
        got = nq_eval.evaluate(str(gold_path), str(ours_path), long_t, short_t)
        assert_same_metrics(got, expected, f"set #{n}")
        # The in-memory route must agree with the file route.
        if n % 10 == 0:
            assert nq_eval.evaluate(gold, {"predictions": ours}, long_t, short_t) == got
        nonzero += got["long-best-threshold-f1"] > 0 and got["short-best-threshold-f1"] > 0
    for case in ("1 annotators", "5 annotators", "null gold", "missing prediction", "yes/no prediction",
                 "several short spans", "pred tokens only", "pred bytes only", "pred bytes differ",
                 "pred tokens differ", "distinct scores"):
        assert cov.get(case, 0) > 20, (case, cov)
    assert nonzero > n_sets // 3


def test_sweep_ties_and_thresholds_by_hand():
    # Scores 3 (right), 2 (wrong), 2 (right), 1 (wrong); 4 gold answers.
    stats = [nq_eval.AnswerStat(True, True, True, 3), nq_eval.AnswerStat(True, True, False, 2),
             nq_eval.AnswerStat(True, True, True, 2), nq_eval.AnswerStat(True, True, False, 1),
             nq_eval.AnswerStat(False, False, False, None)]
    curve = nq_eval.pr_curve(stats)
    assert curve == [(3, 1.0, 0.25), (2, 2 / 3, 0.5), (1, 0.5, 0.5)]
    m = nq_eval.metrics_from_stats(stats, stats)
    assert m["long-best-threshold"] == 2 and m["long-best-threshold-f1"] == pytest.approx(4 / 7)
    assert m["long-recall-at-precision>=0.9"] == 0.25 and m["long-recall-at-precision>=0.5"] == 0.5
    # The official --pretty_print crashes when a target precision is never reached; ours says n/a.
    table = nq_eval.format_tables(nq_eval.evaluate_report(GOLD, []))
    assert "Optimal threshold: 0.0" in table and "score threshold=n/a" in table


# --------------------------------------------------------------------------- real NQ files

def _gold_as_predictions(path, annotator, perturb=None):
    preds = []
    for line in gzip.open(path):
        ex = orjson.loads(line)
        anns = ex.get("annotations") or []
        if not anns:
            continue
        a = anns[min(annotator, len(anns) - 1)]
        long_a = {k: a["long_answer"].get(k, -1) for k in ("start_byte", "end_byte", "start_token", "end_token")}
        shorts = [{k: s.get(k, -1) for k in ("start_byte", "end_byte", "start_token", "end_token")}
                  for s in a["short_answers"]]
        p = prediction(ex["example_id"], long_a, shorts, a["yes_no_answer"], 1.5, 0.5)
        preds.append(perturb(p) if perturb else p)
    return preds


def _shift_tokens(p):
    la = p["long_answer"]
    if la["start_token"] >= 0:
        p["long_answer"] = span(-1, -1, la["start_token"] + 1, la["end_token"] + 1)
    return p


def _tokens_only(p):
    p["long_answer"] = dict(p["long_answer"], start_byte=-1, end_byte=-1)
    p["short_answers"] = [dict(s, start_byte=-1, end_byte=-1) for s in p["short_answers"]]
    return p


def _yes(p):
    return dict(p, short_answers=[], yes_no_answer="YES")


@pytest.mark.parametrize("perturb", [None, _shift_tokens, _tokens_only, _yes], ids=["as-is", "shift", "tokens", "yes"])
def test_real_original_format_matches_official(tmp_path, official_flags, perturb):
    require_official()
    for annotator in range(5):
        preds = write_preds(tmp_path / "p.json", _gold_as_predictions(DEV_FULL, annotator, perturb))
        for thresholds in ((2, 2), (1, 1)):
            official_flags(*thresholds)
            expected = official_metrics(DEV_FULL, preds)
            got = nq_eval.evaluate(str(DEV_FULL), str(preds), *thresholds)
            assert_same_metrics(got, expected, f"annotator {annotator} {thresholds}")


def test_real_original_gold_as_prediction_scores_full_marks(tmp_path):
    # Annotator 3 gave the long answer that 2 of the 5 annotators agree on.
    preds = write_preds(tmp_path / "p.json", _gold_as_predictions(DEV_FULL, 3))
    m = nq_eval.evaluate(str(DEV_FULL), str(preds))
    assert m["long-best-threshold-f1"] == 1.0 and m["long-best-threshold"] == 1.5
    assert m["short-best-threshold-f1"] == 0.0  # a single short annotator: below the threshold of 2
    assert nq_eval.evaluate(str(DEV_FULL), str(preds), 2, 1)["short-best-threshold-f1"] == 1.0


def test_real_simplified_format(tmp_path):
    require_official()
    gold = nq_eval.load_gold(str(SIMPLIFIED))
    assert len(gold) == 4  # the test example (string id, no annotations) counts as unanswered
    assert gold.examples[-1220107454853145579] == ()
    preds = write_preds(tmp_path / "p.json", _gold_as_predictions(SIMPLIFIED, 0))
    m = nq_eval.evaluate(str(SIMPLIFIED), str(preds), 1, 1)
    assert m["long-best-threshold-f1"] == 1.0 and m["short-best-threshold-f1"] == 1.0
    shifted = write_preds(tmp_path / "s.json", _gold_as_predictions(SIMPLIFIED, 0, _shift_tokens))
    m = nq_eval.evaluate(str(SIMPLIFIED), str(shifted), 1, 1)
    assert m["long-best-threshold-f1"] == 0.0 and m["short-best-threshold-f1"] == 1.0
    # The official reader cannot read this format at all.
    with pytest.raises(KeyError, match="start_byte"):
        official_utils.read_annotation_from_one_split(str(SIMPLIFIED))


# --------------------------------------------------------------------------- bad predictions

GOLD = {11: [{"long_answer": span(0, 5, 0, 2), "short_answers": [span(0, 2, 0, 1)], "yes_no_answer": "NONE"}] * 2,
        22: [{"long_answer": NULL, "short_answers": [], "yes_no_answer": "NONE"}] * 3}


@pytest.mark.parametrize("pred, message", [
    (prediction(33), r"example_id 33 is not in the gold data"),
    (prediction(11, shorts=[span(0, 2, 0, 1)], yes_no="YES"), r"example_id 11\).*YES.*together with non-null short"),
    (prediction(11, long_a={"start_byte": 0, "end_byte": 5, "start_token": 0}), r"example_id 11\).*lacks the key 'end_token'"),
    (prediction(11, shorts=[{"start_byte": 0, "end_byte": 2, "end_token": 1}]), r"short_answers\[0\] lacks the key 'start_token'"),
    ({k: v for k, v in prediction(11).items() if k != "long_answer_score"}, r"example_id 11\).*lacks 'long_answer_score'"),
    ({k: v for k, v in prediction(11).items() if k != "short_answers_score"}, r"lacks 'short_answers_score'"),
    (prediction(11, long_score=float("nan")), r"long_answer_score is NaN"),
    (prediction(11, short_score="high"), r"short_answers_score 'high' is not a number"),
    (prediction(11, yes_no="MAYBE"), r"yes_no_answer 'MAYBE'"),
    (prediction(11, long_a=span(0, -1, 0, 2)), r"only one of them is null"),
    ({"long_answer_score": 1, "short_answers_score": 1}, r"predictions\[0\] lacks 'example_id'"),
    ({k: v for k, v in prediction(11).items() if k != "long_answer"}, r"example_id 11\).*lacks 'long_answer'"),
    (prediction(2**63), r"predictions\[0\]: example_id 9223372036854775808 is outside the signed 64-bit range"),
    (prediction(-2**63 - 1), r"predictions\[0\]: example_id \S+ (\(an integer beyond 64 bits\) )?is outside"),
    (prediction(2**64), r"predictions\[0\]: example_id \S+ (\(an integer beyond 64 bits\) )?is outside"),
])
def test_bad_predictions_name_the_example(tmp_path, pred, message):
    path = write_preds(tmp_path / "bad.json", [pred])
    with pytest.raises(PredictionError, match=message) as info:
        nq_eval.evaluate(GOLD, str(path))
    assert "bad.json" in str(info.value)
    with pytest.raises(ValueError, match=message):  # the in-memory route too
        nq_eval.evaluate(GOLD, [pred])


def test_more_prediction_errors_and_leniency(tmp_path):
    with pytest.raises(PredictionError, match="predicted twice"):
        nq_eval.evaluate(GOLD, [prediction(11), prediction(11)])
    (tmp_path / "broken.json").write_text('{"predictions": [\n  {"example_id": 11,}\n]}')
    with pytest.raises(PredictionError, match=r"broken.json:2: not valid JSON"):
        nq_eval.evaluate(GOLD, str(tmp_path / "broken.json"))
    with pytest.raises(PredictionError, match="cannot read"):
        nq_eval.evaluate(GOLD, str(tmp_path / "absent.json"))
    # Missing predictions are null answers; string ids and null spans within a yes/no are accepted.
    m = nq_eval.evaluate(GOLD, [prediction("11", span(0, 5, -1, -1), [NULL], "yes")], 2, 2)
    assert m["long-best-threshold-f1"] == 1.0 and m["short-best-threshold-precision"] == 0.0
    assert nq_eval.evaluate(GOLD, []) == nq_eval.evaluate(GOLD, [prediction(22, long_score=7)])
    assert issubclass(PredictionError, NqEvalError) and issubclass(GoldDataError, NqEvalError)


# --------------------------------------------------------------------------- command line

def run_cli(*args, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "nq_baseline.nq_eval", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)


@pytest.fixture
def cli_files(tmp_path):
    gold = small_gold(tmp_path)
    preds = write_preds(tmp_path / "p.json", [prediction(1, span(0, 5, 0, 2), [span(0, 2, 0, 1)], long_score=2),
                                              prediction(2, span(7, 9, 3, 4), long_score=1)])
    return gold, preds


def test_cli_json_output_keys_match_official(tmp_path, cli_files, official_flags):
    require_official()
    gold, preds = cli_files
    out = tmp_path / "metrics" / "m.json"
    res = run_cli(f"--gold_path={gold}", f"--predictions_path={preds}", f"--output_path={out}",
                  "--cache_gold_data", f"--cache_dir={tmp_path / 'cache'}")
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == printed
    official_flags(2, 2)
    # The official wants a prediction for every example.
    full = write_preds(tmp_path / "full.json", json.loads(preds.read_text())["predictions"] + [prediction(3)])
    expected = official_metrics(gold, full)
    assert set(printed) == set(expected)
    assert_same_metrics(printed, expected)
    # Second run reads the cache, same answer.
    res2 = run_cli(f"--gold_path={gold}", f"--predictions_path={preds}", "--cache_gold_data",
                   f"--cache_dir={tmp_path / 'cache'}")
    assert json.loads(res2.stdout.strip().splitlines()[-1]) == printed


def test_cli_errors_exit_2_and_write_nothing(tmp_path, cli_files):
    gold, _ = cli_files
    bad = write_preds(tmp_path / "bad.json", [prediction(1, shorts=[span(0, 2, 0, 1)], yes_no="NO")])
    out = tmp_path / "m.json"
    res = run_cli(f"--gold_path={gold}", f"--predictions_path={bad}", f"--output_path={out}")
    assert res.returncode == 2 and not out.exists() and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.json" in lines[0] and "example_id 1" in lines[0], res.stderr
    (tmp_path / "g.jsonl").write_text("not json\n")
    res = run_cli(f"--gold_path={tmp_path / 'g.jsonl'}", f"--predictions_path={bad}", f"--output_path={out}")
    assert res.returncode == 2 and "g.jsonl:1: not valid JSON" in res.stderr and not out.exists()
    res = run_cli(f"--predictions_path={bad}")
    assert res.returncode == 2 and "--gold_path is required" in res.stderr


def test_cli_pretty_print_and_helpfull(cli_files):
    gold, preds = cli_files
    res = run_cli(f"--gold_path={gold}", f"--predictions_path={preds}", "--pretty_print")
    assert res.returncode == 0, res.stderr
    for text in ("LONG ANSWER R@P TABLE:", "SHORT ANSWER R@P TABLE:", "Optimal threshold: 2.0",
                 "R@P=0.9: ", "METRICS IGNORING SCORES (n=3):", "Long answer   40.00% /  50.00% /  33.33%"):
        assert text in res.stdout, res.stdout
    res = run_cli("--helpfull")  # absl ends every help request with status 1
    assert res.returncode in (0, 1) and "Traceback" not in res.stderr and "--gold_path" in res.stdout and "--long_non_null_threshold" in res.stdout


def test_cli_plot(tmp_path, cli_files):
    pytest.importorskip("matplotlib")
    gold, preds = cli_files
    png = tmp_path / "pr.png"
    res = run_cli(f"--gold_path={gold}", f"--predictions_path={preds}", f"--plot_path={png}")
    assert res.returncode == 0, res.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_plot_without_matplotlib(tmp_path, cli_files):
    gold, preds = cli_files
    fake = tmp_path / "fake" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('matplotlib blocked for this test')\n")
    out, png = tmp_path / "m.json", tmp_path / "pr.png"
    res = run_cli(f"--gold_path={gold}", f"--predictions_path={preds}", f"--plot_path={png}",
                  f"--output_path={out}", env_extra={"PYTHONPATH": f"{fake.parent}{os.pathsep}{ROOT}"})
    assert res.returncode == 2 and "needs matplotlib" in res.stderr and "nq-baseline[plot]" in res.stderr
    assert not out.exists() and not png.exists()


def test_import_defines_no_flags_and_coexists_with_official():
    require_official()
    # The official module is imported at the top of this file; ours adds no flags at import.
    code = ("import natural_questions.nq_eval, nq_baseline.nq_eval as o; from absl import flags; "
            "assert 'output_path' not in flags.FLAGS; o._define_flags(); assert 'output_path' in flags.FLAGS")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert res.returncode == 0, res.stderr


def test_null_long_answer_and_int64_extremes_are_accepted():
    gold = {2**63 - 1: GOLD[11], -2**63: GOLD[22]}
    preds = [dict(prediction(2**63 - 1), long_answer=None), prediction(-2**63, span(0, 5, 0, 2))]
    m = nq_eval.evaluate(gold, preds)
    assert m["long-best-threshold-f1"] == 0.0 and m["long-best-threshold-precision"] == 0.0


# --------------------------------------------------------------------------- command-line faults

def one_error_line(res, *needles):
    """Exit status 2, nothing on stdout, one line on stderr holding every needle, no traceback."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and res.stdout == "" and len(lines) == 1, (res.returncode, res.stdout, res.stderr)
    assert lines[0].startswith("nq_eval: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("flag, needle", [
    ("--num_threads=0", "--num_threads=0: must be at least 1"),
    ("--long_non_null_threshold=0", "--long_non_null_threshold=0: must be at least 1"),
    ("--short_non_null_threshold=-2", "--short_non_null_threshold=-2: must be at least 1"),
    ("--num_threads=many", "--num_threads=many"),  # absl's parse error, as one line and status 2
])
def test_cli_bad_flag_values_exit_2(tmp_path, cli_files, flag, needle):
    gold, preds = cli_files
    out = tmp_path / "m.json"
    res = run_cli(f"--gold_path={gold}", f"--predictions_path={preds}", f"--output_path={out}", flag)
    one_error_line(res, needle)
    assert not out.exists()


def _unwritable_dir(tmp_path):
    """A folder this process cannot create files in (root ignores permission bits: /proc)."""
    if os.geteuid() == 0:
        return Path("/proc")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked


def test_cli_faults_are_one_line_and_write_nothing(tmp_path, cli_files):
    gold, preds = cli_files
    out, png = tmp_path / "m.json", tmp_path / "pr.png"
    (tmp_path / "a_file").write_text("x")
    blob = gzip.compress(b"".join(orjson.dumps(gold_example(i, [(NULL, [], "NONE")])) + b"\n" for i in range(300)))
    (tmp_path / "trunc.jsonl.gz").write_bytes(blob[:-30])
    cases = [  # (flags, needles)
        ([f"--gold_path={tmp_path}"], [str(tmp_path), "is a directory"]),
        ([f"--gold_path={tmp_path / 'trunc.jsonl.gz'}"], ["trunc.jsonl.gz:", "truncated gzip"]),
        ([f"--predictions_path={tmp_path}"], [str(tmp_path), "cannot read the predictions"]),
        ([f"--output_path={_unwritable_dir(tmp_path) / 'm.json'}"], ["--output_path=", "cannot write"]),
        ([f"--output_path={tmp_path / 'a_file' / 'm.json'}"],
         ["--output_path=", "a part of its folder path is a file"]),
        ([f"--output_path={tmp_path}"], [f"--output_path={tmp_path}", "is a directory"]),
    ]
    for extra, needles in cases:
        args = {"gold_path": f"--gold_path={gold}", "predictions_path": f"--predictions_path={preds}"}
        for flag in extra:
            args[flag[2:].split("=")[0]] = flag
        res = run_cli(*args.values(), *([] if "output_path" in args else [f"--output_path={out}"]))
        one_error_line(res, *needles)
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []


def test_outputs_are_written_together_or_not_at_all(tmp_path):
    out = tmp_path / "m.json"
    with pytest.raises(NqEvalError, match=rf"--plot_path={tmp_path}: cannot write \(.*is a directory\)"):
        nq_eval_program._write_outputs({"output_path": (str(out), b"{}"), "plot_path": (str(tmp_path), b"png")})
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    nq_eval_program._write_outputs({"output_path": (str(out), b"{}"), "plot_path": (str(tmp_path / "pr.png"), b"png")})
    assert out.read_bytes() == b"{}" and (tmp_path / "pr.png").read_bytes() == b"png"


def test_cli_prediction_without_long_answer_exits_2(tmp_path, cli_files):
    gold, _ = cli_files
    bad = write_preds(tmp_path / "bad.json", [{k: v for k, v in prediction(1).items() if k != "long_answer"}])
    one_error_line(run_cli(f"--gold_path={gold}", f"--predictions_path={bad}"), "bad.json", "lacks 'long_answer'")
