"""benchmarks/quality_seeds.py: the spread of several quality.py runs (one a seed), each run's
own choices kept, and runs that differ in more than their seed refused."""

import copy
import json
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "quality_seeds.py"


def row(long, short=0.0, top1=None):
    return {"long-best-threshold-f1": long, "short-best-threshold-f1": short,
            "long-top1-paragraph": long if top1 is None else top1, "long-answerable-f1": long,
            "long-null-rejection": 0.9}


def split(variants, floor):
    return {"variants": variants, "idf_floor": row(floor, 0.0), "bm25_floor": row(floor, 0.0)}


def run(seed, dev, test, chosen, dev_floor=0.70, test_floor=0.60):
    """A quality.json with the fields the summary reads; `dev` and `test` map variant -> long F1."""
    return {"headline": {"variant": chosen, "chosen_on": "development"},
            "development": split({name: row(f) for name, f in dev.items()}, dev_floor),
            "test": split({name: row(f, f / 2) for name, f in test.items()}, test_floor),
            "max_answer_length": 8, "lexical_weight": 3.0, "predict_precision": "bf16",
            "training": {"seconds": 100.0 + seed},
            "settings": {"random_seed": seed, "steps": 1200, "negatives_per_positive": 0.5},
            "squad": {"path": "x.json", "sha256": "abc"}}


def summarise(tmp_path, *runs):
    paths = []
    for k, r in enumerate(runs):
        paths.append(tmp_path / f"q{k}.json")
        paths[-1].write_text(json.dumps(r))
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, paths)], capture_output=True, text=True)


RUNS = [
    # seed 0: on development "span" beats "span+null_type" among the variants without BM25
    run(0, {"span": 0.75, "span+null_type": 0.74, "span+lexical": 0.84},
        {"span": 0.70, "span+null_type": 0.90, "span+lexical": 0.80}, "span+lexical"),
    # seed 1: "span+null_type" is the better one without BM25 on development
    run(1, {"span": 0.72, "span+null_type": 0.76, "span+lexical": 0.83},
        {"span": 0.90, "span+null_type": 0.66, "span+lexical": 0.70}, "span+lexical", test_floor=0.64),
    run(2, {"span": 0.70, "span+null_type": 0.71, "span+lexical": 0.85},
        {"span": 0.50, "span+null_type": 0.68, "span+lexical": 0.77}, "span+lexical", test_floor=0.62),
]


def test_the_spread_of_each_split_follows_each_runs_own_choices(tmp_path):
    proc = summarise(tmp_path, *RUNS)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["runs"] == 3
    assert [c["reader_alone"] for c in out["choices"]] == ["span", "span+null_type", "span+null_type"]
    assert [c["random_seed"] for c in out["choices"]] == [0, 1, 2]
    test = out["test"]
    # the headline: span+lexical's test figures 0.80, 0.70, 0.77
    assert test["headline"]["long-best-threshold-f1"] == {"median": 0.77, "min": 0.70, "max": 0.80, "runs": 3}
    assert test["headline"]["short-best-threshold-f1"]["median"] == pytest.approx(0.385)
    # the reader alone: span (0.70) for seed 0, span+null_type (0.66, 0.68) for seeds 1 and 2,
    # never the test split's own best variant
    assert test["reader_alone"]["long-best-threshold-f1"] == {"median": 0.68, "min": 0.66, "max": 0.70, "runs": 3}
    assert test["idf_floor"]["long-best-threshold-f1"]["median"] == 0.62
    # run by run minus its own floor: 0.80-0.60, 0.70-0.64, 0.77-0.62
    gap = test["headline_minus_idf_floor"]["long-best-threshold-f1"]
    assert gap == {"median": 0.15, "min": 0.06, "max": 0.2, "runs": 3}
    assert test["reader_alone_minus_idf_floor"]["long-top1-paragraph"]["min"] == pytest.approx(0.02)
    assert out["development"]["headline"]["long-best-threshold-f1"]["max"] == 0.85


@pytest.mark.parametrize("change, named", [
    (lambda r: r["settings"].update(negatives_per_positive=1.0), "settings.negatives_per_positive"),
    (lambda r: r["settings"].update(random_seed=0), "settings.random_seed 0"),
    (lambda r: r["squad"].update(sha256="def"), "squad.sha256"),
    (lambda r: r.update(predict_precision="fp32"), "predict_precision"),
    (lambda r: r.pop("test"), "no 'test' field"),
])
def test_runs_that_differ_in_more_than_the_seed_are_refused(tmp_path, change, named):
    second = copy.deepcopy(RUNS[1])
    change(second)
    proc = summarise(tmp_path, RUNS[0], second)
    assert proc.returncode == 2
    assert named in proc.stderr and "q1.json" in proc.stderr
    assert proc.stdout == ""


def test_one_run_or_an_unreadable_file_is_refused(tmp_path):
    proc = summarise(tmp_path, RUNS[0])
    assert proc.returncode == 2 and "at least two" in proc.stderr
    (tmp_path / "bad.json").write_text("{not json")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "bad.json"), str(tmp_path / "q0.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "bad.json" in proc.stderr
